"""Reading a text export one line at a time, keeping each record's bytes and line number.

Shared by every provider that reads a CSV-like file (the shop's requests, bank exports, settlement
reports): a file of any size streams through, and each record is stored verbatim with where it was.
A line longer than any record can be (``LINE_LIMIT``: a 50 MB line, a binary file forced on a provider,
a file with old Mac line ends) is never held whole: its first ``LINE_LIMIT`` bytes are kept, the rest
is skipped to the next line end, and the provider quarantines it (``overlong``).
"""

from __future__ import annotations

import codecs
import csv
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Any

from paycli.config import SettingProblem
from paycli.errors import RecordError
from paycli.gateways.base import Notice, Origin, QuarantinedRecord

FALLBACK_ENCODING = "cp1252"  # what spreadsheet exports on Italian Windows machines write
LINE_LIMIT = 1 << 20  # bytes: eight times the csv module's limit on one field


class Overlong(csv.Error):
    """Raised to the csv reader for a line cut at ``LINE_LIMIT``: the record is quarantined."""


def decode_line(raw: bytes, encoding: str) -> tuple[str, bool]:
    """The text of one line, and whether the fallback encoding was used."""
    if encoding != "auto":
        try:
            return raw.decode(encoding), False
        except (UnicodeDecodeError, LookupError) as exc:
            raise RecordError(f"not valid {encoding} ({exc})") from exc
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode(FALLBACK_ENCODING, errors="replace"), True


def read_line(raw: bytes, encoding: str) -> tuple[str, bool]:
    """The text of one line as ``Lines`` reads it, a line not in ``encoding`` as Windows-1252; and
    whether it was. ``reinterpret`` reads a stored line with it, so reprocess reads what ingest read."""
    try:
        return decode_line(raw, encoding)
    except RecordError:
        return raw.decode(FALLBACK_ENCODING, errors="replace"), True


class Lines:
    """The lines of a binary stream, decoded one by one, remembering the bytes of each record."""

    def __init__(self, stream: IO[bytes], name: str, encoding: str) -> None:
        self._stream = stream
        self._name = name
        self._encoding = encoding
        self.line_number = 0
        self._raw: list[bytes] = []
        self._text: list[str] = []
        self._fallback_lines: list[int] = []
        self._pending: tuple[int, str, bytes] | None = None
        self._replay: deque[tuple[int, str, bytes]] = deque()  # lines to read again, on their own
        self._overlong: dict[int, tuple[int, str]] = {}  # line -> its length, and what it looks like

    def _next(self) -> tuple[int, str, bytes] | None:
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        if self._replay:
            item = self._replay.popleft()
            self.line_number = item[0]
            return item
        raw = self._stream.readline(LINE_LIMIT + 1)
        if not raw:
            return None
        self.line_number += 1
        if len(raw) > LINE_LIMIT and not raw.endswith(b"\n"):
            raw = raw[:LINE_LIMIT]
            size = len(raw) + 1
            while chunk := self._stream.readline(LINE_LIMIT):  # the rest of it, a bounded piece at a time
                size += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            if b"\x00" in raw:
                looks = ": binary data, not a text export?"
            elif b"\r" in raw:
                looks = ": old Mac line ends (CR only)? save the file with LF or CRLF line ends"
            else:
                looks = ""
            self._overlong[self.line_number] = (size, looks)
        if self.line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        text, fallback = read_line(raw, self._encoding)
        if fallback:
            self._fallback_lines.append(self.line_number)
        return self.line_number, text, raw

    def peek_first(self) -> tuple[int, str, bytes] | None:
        while (item := self._next()) is not None:
            if item[1].strip():
                self._pending = item
                return item
        return None

    def find(self, wanted: Callable[[str], bool], limit: int) -> tuple[int, str, bytes] | None:
        """Skips lines up to the first whose text ``wanted`` accepts, looking at ``limit`` lines at
        most; that line is the next one read. None, and the lines looked at consumed, if none is."""
        for _ in range(limit):
            item = self._next()
            if item is None:
                return None
            if wanted(item[1]):
                self._pending = item
                return item
        return None

    def __iter__(self) -> Iterator[tuple[int, str, bytes]]:
        while (item := self._next()) is not None:
            yield item

    def text(self) -> Iterator[str]:
        """Decoded lines for the csv module, recording the bytes consumed for each record. Not a
        generator: once the end of the file is read it can still give the lines ``rows`` puts back."""
        return _Text(self)

    def overlong(self, number: int) -> str | None:
        """Why line ``number`` was cut at ``LINE_LIMIT``, or None when it was read whole."""
        if number not in self._overlong:
            return None
        size, looks = self._overlong[number]
        return (
            f"line {number} is {size:,} bytes, longer than a record can be ({LINE_LIMIT >> 20} MiB): "
            f"its first MiB kept{looks}"
        )

    def _next_text(self) -> str:
        item = self._next()
        if item is None:
            raise StopIteration
        number, text, raw = item
        self._raw.append(raw)
        self._text.append(text)
        if (why := self.overlong(number)) is not None:
            raise Overlong(why)
        return text

    def rows(
        self,
        reader: Iterator[list[str]],
        context: str | None,
        *,
        prefix: str = "",
        width: int | None = None,
        trailing: bool = False,
    ) -> Iterator[tuple[Origin, list[str]] | QuarantinedRecord]:
        """Each row of a csv reader over ``text()`` with its origin (first line, bytes, context); a
        record the csv module cannot read (a field past its size limit, a 50 MB line) is quarantined,
        and the reader goes on with the next one. Blank lines are skipped.

        A quote that is never closed makes the csv module read on, over the lines after it, into one
        record. When such a record cannot be read, or has other than ``width`` fields, only its first
        line is quarantined and the lines after it are read again on their own: one stray quote must
        not take the rest of the file with it. With ``trailing``, a record may have one empty field
        more than ``width`` (a delimiter at the end of every row)."""
        start = self.line_number + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield self._runaway(start, context, f"{prefix}not a CSV record ({csv_problem(exc)})")
            else:
                # one line whose quote is still open at its end: the file's last, read as if it closed
                several = self.line_number > start
                if (several or self._text[-1].count('"') % 2) and (
                    problem := self._unclosed(reader, row, width, several=several, trailing=trailing)
                ):
                    yield self._runaway(start, context, prefix + problem)
                else:
                    origin = Origin(start, self.take_raw(), context)
                    if row and (len(row) > 1 or row[0].strip()):
                        yield origin, row
            start = self.line_number + 1

    def _unclosed(
        self, reader: Any, row: list[str], width: int | None, *, several: bool, trailing: bool = False
    ) -> str | None:
        """Why a record over several lines is a quote run away, or None: it has other than ``width``
        fields, or its quote is still open at the end of the file (the csv module then gives what it
        read as a record: read strictly, it is an error); of one line, only the latter."""
        if not several:
            return quote_left_open(self._text, reader.dialect)
        if (
            width is not None
            and len(row) != width
            and not (trailing and len(row) == width + 1 and not row[-1])
        ):
            return f"expected {width} fields, found {len(row)}"
        try:
            for _ in csv.reader(self._text, reader.dialect, strict=True):
                pass
        except csv.Error as exc:
            return f"not a CSV record ({csv_problem(exc)})"
        return None

    def _runaway(self, start: int, context: str | None, reason: str) -> QuarantinedRecord:
        """A record that cannot be read: quarantined whole when it is one line; else its first line,
        with the others put back to be read again."""
        if len(self._raw) <= 1:
            return QuarantinedRecord(Origin(start, self.take_raw(), context), reason)
        end = self.line_number
        first = self._raw[0]
        self._replay.extendleft(
            reversed(list(zip(range(start + 1, end + 1), self._text[1:], self._raw[1:], strict=True)))
        )
        self.line_number = start
        self.take_raw()
        return QuarantinedRecord(
            Origin(start, first, context),
            f"{reason}: a quote opened on this line runs on to line {end}; the lines after it are read on their own",
        )

    def take_raw(self) -> bytes:
        raw = b"".join(self._raw)
        self._raw.clear()
        self._text.clear()
        return raw

    def consumed_text(self) -> str:
        return "".join(self._text).rstrip("\r\n")

    def notices(self) -> Iterator[Notice]:
        if self._fallback_lines:
            n = len(self._fallback_lines)
            where = f"line {self._fallback_lines[0]}" + (f" and {n - 1} more" if n > 1 else "")
            expected = "UTF-8" if self._encoding == "auto" else self._encoding
            yield Notice(f"{self._name}: {where} not {expected}; read as Windows-1252")


class _Text:
    def __init__(self, lines: Lines) -> None:
        self._lines = lines

    def __iter__(self) -> _Text:
        return self

    def __next__(self) -> str:
        return self._lines._next_text()


def csv_problem(exc: csv.Error) -> str:
    """What the csv module's error means for the person who exported the file."""
    text = str(exc)
    if isinstance(exc, Overlong):
        return text
    if "new-line character seen in unquoted field" in text:
        return "a carriage return inside a field: old Mac line ends (CR only)? save the file with LF or CRLF line ends"
    return text


def quote_left_open(lines: list[str], dialect: Any = "excel", delimiter: str | None = None) -> str | None:
    """Why the text of one record ends inside a quoted field, or None. The csv module reads such a
    record as if the quote closed at its end; ingest quarantines it (a quote that ran away), and so must
    a reprocess that reads it again. Other oddities the module reads leniently stay accepted."""
    reader = (
        csv.reader(lines, dialect, strict=True)
        if delimiter is None
        else csv.reader(lines, dialect, strict=True, delimiter=delimiter)
    )
    try:
        for _ in reader:
            pass
    except csv.Error as exc:
        if "end of data" in str(exc):
            return "a quote opened on this line is never closed"
    return None


def split_lines(text: str) -> list[str]:
    """Lines split at \\n only, as ``Lines`` reads them (str.splitlines would split at \\x85 too)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def check_encoding(value: str) -> str:
    """The codec an ``encoding`` setting names, refused unless it keeps ASCII as it is."""
    try:
        name = codecs.lookup(value.strip()).name
    except LookupError:
        raise SettingProblem("", f"unknown encoding '{value}' (e.g. utf-8, cp1252, latin-1)") from None
    # The file is read line by line as bytes: the codec must keep ASCII (digits, separators, newlines)
    # as it is. UTF-16 and UTF-32 exports must be converted first.
    # Every printable character, and what the codecs that only look like text turn into something else:
    # a backslash escape (unicode_escape), "+" and "~" (utf-7, hz), an "xn--" label (idna).
    sample = bytes(range(32, 127)) + b" \\n \\u0041 .xn--ab.\r\n"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unicode_escape warns of the escapes it does not know
            ok = sample.decode(name) == sample.decode("ascii")
    except LookupError:
        # a bytes-to-bytes or text-to-text codec (hex, base64, zlib, rot13): found, but no text encoding
        raise SettingProblem("", f"'{value}' is not a text encoding (e.g. utf-8, cp1252, latin-1)") from None
    except UnicodeError:  # punycode, undefined: a codec that cannot decode plain ASCII
        ok = False
    if not ok:
        raise SettingProblem(
            "", f"'{value}' is not an ASCII-compatible encoding; convert the file to UTF-8 first"
        )
    return name
