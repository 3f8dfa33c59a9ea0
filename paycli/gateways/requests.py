"""The shop's payment request files: CSV with a header row, or JSON lines (design.md 5.1).

A file streams through one line at a time, whatever its size. Each line is decoded on its own: UTF-8
(a byte-order mark is dropped), and a line that is not UTF-8 is read as Windows-1252, the encoding
that spreadsheet exports on Italian Windows machines produce, with a notice, unless the configuration
names the encoding. A record that cannot be read is quarantined with its line and reason; the rest of
the file goes on.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from paycli.config import Setting
from paycli.dates import parse_timestamp
from paycli.errors import RecordError
from paycli.gateways.base import (
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    RequestData,
    RequestRecord,
    Source,
    SourceError,
    parse_json,
)
from paycli.gateways.lines import Lines, check_encoding, csv_problem, quote_left_open, read_line, split_lines
from paycli.money import normalise_currency, parse_amount

COLUMNS = ("txn_id", "order_id", "kind", "created_at", "customer", "email", "amount", "currency", "gateway")
REQUIRED = ("txn_id", "created_at", "customer", "amount", "currency", "gateway")
KINDS = ("order", "deposit", "other")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RequestFileProvider(Provider):
    name = "requests"
    description = "the shop's payment requests (design.md 5.1)"
    reads = ("CSV with a header row", "JSON lines")
    settings: ClassVar[Mapping[str, Setting]] = {
        "encoding": Setting(
            str,
            default="auto",
            check=lambda value: "auto" if value.strip().lower() == "auto" else check_encoding(value),
            help="auto: UTF-8, a line that is not UTF-8 read as Windows-1252; or a Python codec name",
        ),
    }

    @property
    def _encoding(self) -> str:
        return str(self.options.get("encoding") or "auto")

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        first = _first_line(source.head)
        if first.startswith("{"):
            # A first line with a mistake (a trailing comma, a key given twice, a field missing) is
            # still the shop's: claimed, its line is quarantined with the reason and the others read.
            # A gateway's JSON names its object ("object": "event"), which no request line does.
            try:
                obj = parse_json(first)
            except ValueError:
                return '"txn_id"' in first and '"object"' not in first
            return isinstance(obj, dict) and "txn_id" in obj and ("customer" in obj or "object" not in obj)
        header = _header_names(first)
        # A request file with a column missing is still a request file: claiming it lets ingest say
        # which column is missing instead of "no provider recognises it".
        return "txn_id" in header and len(header & set(COLUMNS)) >= 4

    def near_miss(self, source: Source) -> str | None:
        """A request file saved as a spreadsheet saves it in Italy: semicolons, or UTF-16 text."""
        head = source.head
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                first = head.decode("utf-16", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
            except UnicodeDecodeError:
                return None
            if "txn_id" in first.lower():
                return "requests: a request file in UTF-16: save it as CSV UTF-8"
            return None
        first = _first_line(head)
        if first.startswith("[") and '"txn_id"' in head.decode("utf-8", "replace"):
            return "requests: a JSON array of requests: write one request object a line (JSON lines)"
        for delimiter, called in ((";", "semicolons"), ("\t", "tabs")):
            cells = {c.strip().lower() for c in first.split(delimiter)}
            if "txn_id" in cells and len(cells & set(COLUMNS)) >= 4:
                return f"requests: a request file separated by {called}: save it as CSV with commas"
        return None

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        stream = source.open()
        try:
            lines = Lines(stream, source.name, self._encoding)
            first = lines.peek_first()
            if first is None:
                yield Notice(f"{source.name}: empty file, nothing to ingest")
                return
            if first[1].lstrip().startswith("{"):
                yield from self._json_lines(lines)
            else:
                yield from self._csv(lines, source.name)
            yield from lines.notices()
        finally:
            stream.close()

    def _csv(self, lines: Lines, name: str) -> Iterator[Record]:
        reader = csv.reader(lines.text())
        try:
            header_row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a stray carriage return or NUL in the header line
            raise SourceError(f"the header line is not readable CSV ({csv_problem(exc)})") from None
        header = [h.strip().lower() for h in header_row]
        context = lines.consumed_text()
        lines.take_raw()
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise SourceError(
                f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(the header has: {', '.join(header)})"
            )
        # a spreadsheet saves the empty columns right of the table as cells without a name: ignored
        dupes = sorted({h for h in header if h and header.count(h) > 1})
        if dupes:
            raise SourceError(f"column {', '.join(dupes)} appears twice in the header")
        unknown = [h for h in header if h and h not in COLUMNS]
        if unknown:
            yield Notice(f"{name}: column {', '.join(unknown)} is not a request column; ignored")
        for item in lines.rows(reader, context, width=len(header)):
            if isinstance(item, QuarantinedRecord):
                yield item
                continue
            origin, row = item
            if not any(cell.strip() for cell in row):
                continue  # a row left empty in a spreadsheet (its values deleted, not the row): no request
            if len(row) != len(header):
                yield QuarantinedRecord(origin, f"expected {len(header)} fields, found {len(row)}")
                continue
            yield self._record(origin, dict(zip(header, row, strict=True)))

    def _json_lines(self, lines: Lines) -> Iterator[Record]:
        for number, text, raw in lines:
            if not text.strip():
                continue
            origin = Origin(number, raw)
            if (why := lines.overlong(number)) is not None:
                yield QuarantinedRecord(origin, why)
                continue
            try:
                obj = parse_json(text)
            except ValueError as exc:
                yield QuarantinedRecord(origin, f"not valid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                yield QuarantinedRecord(origin, "a JSON line must be an object")
                continue
            yield self._record(origin, obj)

    def reinterpret(self, origin: Origin) -> Record:
        text = read_line(origin.raw, self._encoding)[0]
        if origin.context is None:
            try:
                obj = parse_json(text)
            except ValueError as exc:
                return QuarantinedRecord(origin, f"not valid JSON ({exc})")
            if not isinstance(obj, dict):
                return QuarantinedRecord(origin, "a JSON line must be an object")
            return self._record(origin, obj)
        header = [h.strip().lower() for h in next(csv.reader([origin.context]))]
        lines = split_lines(text)
        try:
            rows = list(csv.reader(lines))
        except csv.Error as exc:
            return QuarantinedRecord(origin, f"not a CSV record ({csv_problem(exc)})")
        if why := quote_left_open(lines):
            return QuarantinedRecord(origin, why)
        if len(rows) != 1 or len(rows[0]) != len(header):
            found = len(rows[0]) if len(rows) == 1 else f"{len(rows)} records"
            return QuarantinedRecord(origin, f"expected {len(header)} fields, found {found}")
        return self._record(origin, dict(zip(header, rows[0], strict=True)))

    # -- one record ----------------------------------------------------------------------------
    def _record(self, origin: Origin, fields: Mapping[str, Any]) -> Record:
        try:
            return RequestRecord(origin, self.parse(fields))
        except RecordError as exc:
            return QuarantinedRecord(origin, str(exc))

    def parse(self, fields: Mapping[str, Any]) -> RequestData:
        """Validate one request's fields (CSV strings, or JSON values); RecordError names the field."""
        get = fields.get
        txn_id = _text(get("txn_id"), "txn_id", 128, required=True)
        order_id = _text(get("order_id"), "order_id", 128)
        customer = _text(get("customer"), "customer", 255, required=True)
        email = _text(get("email"), "email", 320)
        gateway = (_text(get("gateway"), "gateway", 64, required=True) or "").lower()
        kind = (_text(get("kind"), "kind", 16) or ("order" if order_id else "other")).lower()
        assert txn_id is not None and customer is not None
        if kind not in KINDS:
            raise RecordError(f"kind '{kind}' is not one of {', '.join(KINDS)}")
        if kind == "order" and not order_id:
            raise RecordError("kind 'order' needs an order_id")
        if email is not None and not _EMAIL.match(email):
            raise RecordError(f"email '{email}' is not an e-mail address")
        if not _NAME.match(gateway):
            raise RecordError(f"gateway '{gateway}' is not a gateway name (letters, digits, '_', '-', '.')")
        currency = normalise_currency(_text(get("currency"), "currency", 8, required=True) or "")
        amount_value = get("amount")
        if amount_value is None or amount_value == "":
            raise RecordError("amount is empty")
        if isinstance(amount_value, (float, bool)):
            raise RecordError("amount must be a decimal string or number")
        amount = parse_amount(amount_value, currency)
        if amount <= 0:
            raise RecordError(f"amount '{amount_value}' must be greater than zero")
        created = get("created_at")
        if created is None or (created.__class__ is str and not created.strip()):
            raise RecordError("created_at is empty")
        if created.__class__ is not str:
            raise RecordError(
                f"created_at must be an ISO 8601 date-time as text, got {type(created).__name__}"
            )
        created_at = parse_timestamp(created, self.config.timezone)
        if created_at > datetime.now(UTC) + FUTURE_TOLERANCE:
            # a wrong year or zone: such a request would never be old enough for list --older-than
            raise RecordError(
                f"created_at '{created}' is in the future (more than a day past this machine's clock)"
            )
        return RequestData(txn_id, order_id, kind, created_at, customer, email, amount, currency, gateway)


FUTURE_TOLERANCE = timedelta(days=1)  # the shop's clock, or a zone a few hours off


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    """A text field, stripped; None when empty. JSON may give a number for an id: it is taken as text."""
    if value.__class__ is not str:
        if value is None:
            value = ""
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        else:
            raise RecordError(f"{name} must be text, got {type(value).__name__}")
    value = value.strip()
    if not value:
        if required:
            raise RecordError(f"{name} is empty")
        return None
    if len(value) > limit:
        raise RecordError(f"{name} is longer than {limit} characters")
    return value


# -- reading lines ---------------------------------------------------------------------------------
def _first_line(head: bytes) -> str:
    text = head.decode("utf-8-sig", errors="replace").lstrip("\ufeff")
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _header_names(line: str) -> set[str]:
    try:
        row = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return set()
    return {c.strip().lower() for c in row}
