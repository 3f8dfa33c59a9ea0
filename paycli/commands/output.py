"""Writing results: one ``--format`` choice shared by every listing command.

Data goes to stdout, messages to stderr (design.md 8). JSON is an array (``[]`` when empty), NDJSON
one object a line, CSV the same fields as columns, a table the columns chosen for people.

Text for people (a table, ``show``'s panels, every message) is written through ``visible``: a value
from outside (a forged callback's reference, a customer's name, a file name, an operator's note) may
hold an ESC sequence, a carriage return or a bidi override that a terminal would obey (retitle the
window, clear the screen, overwrite or reverse what is shown). JSON keeps the data exact; CSV writes
such a character as its escape too, save a line break or a tab (paycli.cells).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import typer

from paycli.cells import neutralise
from paycli.gateways.base import one_line, shown_as_is
from paycli.rows import Reread


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"


def err(message: str) -> None:
    """A message for the person at the terminal (stderr): one line, whatever text it quotes."""
    typer.echo(visible(message), err=True)


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` as a terminal shows it, never as it obeys it: a control character (ESC, a carriage
    return, a backspace, NUL), a Unicode format character (the bidi override U+202E, a zero-width
    space) or a line break is written as its escape (``\\x1b``, ``\\r``, ``\\u202e``), as a quarantine
    reason is (``one_line``). ``lines``: line breaks and tabs stay, for a message body printed as it
    was stored (``show --raw``)."""
    if lines:
        return one_line(text.replace("\r\n", "\n"), keep="\n\t")  # an HTTP dump's line ends: a lone \r shows
    return one_line(text)


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON of the exact data, readable (UTF-8, not ``\\u`` escapes) but safe on a terminal: JSON
    escapes the ASCII control characters, and this the others a terminal would obey (DEL, the C1
    controls, a bidi override, a zero-width or line separator) as ``\\u202e``, which a reader parses back
    to the same text."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if all(line.isprintable() for line in text.split("\n")):
        return text
    return "".join(
        c if shown_as_is(c) or c == "\n" else json.dumps(c)[1:-1]  # only inside a string: JSON's own
        for c in text
    )


def _visible(value: Any, verbatim: frozenset[str] = frozenset(), key: str = "") -> Any:
    """Every text of a row or an object as ``visible`` writes it; the values of ``verbatim`` keys keep
    their line breaks."""
    if isinstance(value, str):
        return visible(value, lines=key in verbatim)
    if isinstance(value, dict):
        return {k: _visible(v, verbatim, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_visible(v, verbatim) for v in value]
    return value


@dataclass(frozen=True)
class Columns:
    """A table written a row at a time (``emit``): its headers, and the cells of a row (a row as
    ``visible`` writes it) under them."""

    headers: Sequence[str]
    cells: Callable[[dict[str, Any]], Sequence[Any]]


# rows of a table held to align it in one read; past them, the table is read twice (write_table)
HELD_ROWS = 1000


def emit(
    rows: Iterable[dict[str, Any]],
    fmt: Format,
    *,
    table: Callable[[Sequence[dict[str, Any]]], str] | Columns,
    empty: str,
    fields: Sequence[str] = (),
) -> None:
    """``fields``: the columns of a CSV when there is no row to take them from. JSON, NDJSON and CSV
    are written a row at a time, as ``rows`` yields them; a table of ``Columns`` too, in bounded memory
    (``write_table``), any other table is aligned over all its rows, held."""
    if fmt is Format.json:
        _json_array(rows, indent=2)
        typer.echo()
    elif fmt is Format.ndjson:
        for row in rows:
            typer.echo(json_text(row))
    elif fmt is Format.csv:
        write_csv(rows, fields)
    elif isinstance(table, Columns):
        write_table(rows, table, empty)
    elif not (shown := list(rows)):
        err(empty)
    else:
        typer.echo(table(_visible(shown)))


def emit_one(
    obj: dict[str, Any],
    fmt: Format,
    *,
    text: Callable[[dict[str, Any]], str | None],
    verbatim: Sequence[str] = (),
) -> None:
    """``verbatim``: the keys whose text keeps its line breaks in ``text`` (a stored message's body).
    A value of ``obj`` may be rows read from the store as they are written (a ``Reread``: the
    deliveries of a request a gateway retried 100,000 times): JSON writes them an element at a time,
    CSV leaves them out as it does a list, ``text`` writes them itself (and returns None)."""
    if fmt in (Format.json, Format.ndjson):
        write_json(obj, indent=2 if fmt is Format.json else None)
    elif fmt is Format.csv:
        write_csv([{k: v for k, v in obj.items() if not isinstance(v, list | dict | Reread)}])
    elif (written := text(_visible(obj, frozenset(verbatim)))) is not None:
        typer.echo(written)


def write_json(obj: dict[str, Any], *, indent: int | None) -> None:
    """``json_text(obj, indent=indent)`` and its line end, to the byte, the elements of a ``Reread``
    value written as they are read."""
    if not any(isinstance(v, Reread) for v in obj.values()):
        typer.echo(json_text(obj, indent=indent))
        return
    if not obj:
        typer.echo("{}")
        return
    # json.dumps' separators: an item a line, nested values indented one level more, or one line
    inner, item, close = ("\n  ", ",\n  ", "\n}") if indent is not None else ("", ", ", "}")
    nested = "\n" + " " * (indent or 0)
    typer.echo("{" + inner, nl=False)
    for n, (key, value) in enumerate(obj.items()):
        typer.echo((item if n else "") + json_text(key) + ": ", nl=False)
        if isinstance(value, Reread):
            _json_array(value, indent=indent, margin=nested)
        else:
            typer.echo(json_text(value, indent=indent).replace("\n", nested), nl=False)
    typer.echo(close)


def _json_array(rows: Iterable[Any], *, indent: int | None, margin: str = "\n") -> None:
    """The array ``json_text(list(rows), indent=indent)`` writes, an element at a time, without its line
    end; nested in a value whose lines begin with ``margin`` (a line break and the value's indent)."""
    step = margin + " " * (indent or 0)
    opened = False
    for row in rows:
        if indent is None:
            typer.echo(f"{', ' if opened else '['}{json_text(row)}", nl=False)
        else:
            text = json_text(row, indent=indent).replace("\n", step)
            typer.echo(f"{',' if opened else '['}{step}{text}", nl=False)
        opened = True
    typer.echo(("]" if indent is None else margin + "]") if opened else "[]", nl=False)


_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _cell(value: Any) -> Any:
    """A CSV cell an operator may open in a spreadsheet or read on a terminal: text goes through
    ``paycli.cells.neutralise``, as the report's CSV does; a number paycli wrote (an amount, -12.50)
    stays a number."""
    if value is None:
        return ""
    if isinstance(value, str) and not (value[:1] == "-" and _NUMBER.fullmatch(value)):
        return neutralise(value)  # the number test only where neutralise would touch one: -12.50
    return value


def write_csv(rows: Iterable[dict[str, Any]], fields: Sequence[str] = ()) -> None:
    """The rows under a header row; with no row, the header of ``fields`` alone (a script reading the
    columns by name finds them on a quiet day too), or nothing when there are none."""
    rows = iter(rows)
    first = next(rows, None)
    names = list(first) if first is not None else list(fields)
    if not names:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=names, lineterminator="\r\n")
    writer.writeheader()
    if first is None:
        return
    for row in itertools.chain((first,), rows):
        writer.writerow({k: _cell(v) for k, v in row.items()})


def grid(
    rows: Sequence[Sequence[Any]], headers: Sequence[str], widths: Sequence[int | None] | None = None
) -> str:
    """A plain table; ``widths`` wraps long columns so the table fits a terminal."""
    from tabulate import tabulate

    return tabulate(
        [["" if v is None else v for v in row] for row in rows],
        headers=list(headers),
        tablefmt="simple",
        disable_numparse=True,
        maxcolwidths=list(widths) if widths else None,
    )


def write_table(
    rows: Iterable[dict[str, Any]],
    columns: Columns,
    empty: str | None,
    *,
    heading: Callable[[int], str] | None = None,
) -> None:
    """The table ``grid`` makes of ``rows``, to the byte, in bounded memory whatever their number.

    Up to ``HELD_ROWS`` rows are held and written by ``grid`` itself. A longer table is read twice:
    once for the width of each column, then again to write each line as it is read (``rows`` must be
    a ``Reread`` or a sequence, not a one-shot iterator: a list of the whole store is not held to align
    it). Its lines are those of tabulate's "simple" format as ``grid`` asks for it (every cell text,
    left-aligned, without number parsing, its width measured as tabulate measures it: wide characters
    take two cells, a combining mark none); the cells are ``visible`` text, which has no line break
    nor escape sequence for tabulate to treat otherwise. ``heading``: the text written above the
    table, given its number of rows; ``empty``: what is said (on stderr) when there is none."""
    if iter(rows) is rows:
        raise TypeError("a table written in bounded memory reads its rows twice: pass a Reread or a sequence")
    held: list[Sequence[Any]] = []
    read = iter(rows)
    for row in read:
        held.append(columns.cells(_visible(row)))
        if len(held) > HELD_ROWS:
            break
    else:
        if held:
            if heading is not None:
                typer.echo(heading(len(held)))
            typer.echo(grid(held, columns.headers))
        elif empty is not None:
            err(empty)
        return
    width = _width_function()
    widths = [width(h) + _MIN_PADDING for h in columns.headers]
    count = 0
    for cells in itertools.chain(held, (columns.cells(_visible(row)) for row in read)):
        count += 1
        for i, text in enumerate(_texts(cells)):
            if "\x1b" in text or "\n" in text or "\r" in text:  # tabulate would measure it otherwise
                raise ValueError(f"a table cell not written through visible(): {text!r}")
            widths[i] = max(widths[i], width(text))
    del held
    if heading is not None:
        typer.echo(heading(count))

    def line(texts: Sequence[str]) -> str:  # each text padded to its column's width in terminal cells
        return "  ".join(t.ljust(w - width(t) + len(t)) for t, w in zip(texts, widths, strict=True)).rstrip()

    typer.echo(line(columns.headers))
    typer.echo(line(["-" * w for w in widths]))
    for row in rows:
        typer.echo(line(_texts(columns.cells(_visible(row)))))


_MIN_PADDING = 2  # tabulate's: a header's column is two cells wider than the header


def _width_function() -> Callable[[str], int]:
    """The width tabulate gives a cell: in terminal cells where it measures wide characters."""
    import tabulate

    if tabulate.WIDE_CHARS_MODE:
        from wcwidth import wcswidth

        return wcswidth
    return len


def _texts(cells: Sequence[Any]) -> list[str]:
    """A row's cells as tabulate writes them, before padding: the text of each, stripped of blanks."""
    return ["" if v is None else f"{v}".strip() for v in cells]


def shorten(text: str | None, width: int) -> str:
    """``text`` in at most ``width`` terminal cells (a CJK character takes two, a combining mark none),
    cut with an ellipsis: a column of names stays aligned whatever script they are in."""
    from wcwidth import wcwidth

    if not text:
        return ""
    cells = [max(wcwidth(c), 0) for c in text]
    if sum(cells) <= width:
        return text
    kept, used = 0, 0
    while used + cells[kept] <= width - 1:
        used += cells[kept]
        kept += 1
    return text[:kept] + "…"
