"""Rendering a report: HTML and CSV from Jinja templates that a user can override.

The built-in templates are ``paycli/reports/templates/report.html.j2`` and ``report.csv.j2``; a folder
given with ``--template DIR`` (or ``report.templates`` in the configuration) is searched first, so it may
override one template and keep the other, or ``{% extends "paycli/report.html.j2" %}`` the built-in one.

HTML is autoescaped: a customer called ``<script>`` is text. CSV rows are written by the ``row()``
global of the CSV template through the ``csv`` module (RFC 4180: minimal quoting, CRLF line ends), and
every text cell goes through ``paycli.cells.neutralise``: one that a spreadsheet would read as a formula
(it begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, maybe after blanks) is prefixed
with ``'``, and a control or format character a terminal would obey is written as its escape. Numbers paycli writes itself (amounts, counts) are
not text and stay numbers, so a refund of -12.50 remains a negative number a spreadsheet can add up.
The ``excel-it`` dialect writes ``;`` between cells, a decimal comma and a UTF-8 byte-order mark.

Output streams: templates are rendered with ``generate()`` into the file, and the large sections are
iterators over database cursors.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from paycli.cells import cell_text, neutralise
from paycli.dates import format_local_short
from paycli.errors import UsageError
from paycli.money import format_amount
from paycli.queries import human_detail
from paycli.reports.build import OUTCOMES, Report

TEMPLATES = Path(__file__).resolve().parent / "templates"
HTML_TEMPLATE = "report.html.j2"
CSV_TEMPLATE = "report.csv.j2"
# The columns of the built-in CSV report (README: "CSV layout")
CSV_COLUMNS = (
    "section", "at", "txn_id", "order_id", "customer", "email", "gateway", "kind", "status", "outcome", "reason",
    "detail", "gateway_txn_id", "count", "amount", "fee", "net", "currency", "age_hours", "by", "note",
)  # fmt: skip
COLOURS = {"POSITIVO": "#2e7d32", "NEGATIVO": "#c62828", "VERIFICARE": "#ef8f00"}


@dataclass(frozen=True)
class Dialect:
    name: str
    delimiter: str
    decimal_mark: str
    bom: bool


DIALECTS = {
    "standard": Dialect("standard", ",", ".", False),
    "excel-it": Dialect("excel-it", ";", ",", True),
}


class Figure(str):
    """A number paycli wrote (an amount, a count): never neutralised as a formula."""

    __slots__ = ()


# -- formatting shared by both formats ---------------------------------------------------------------


def age_text(age: timedelta | None) -> str:
    """How long ago: ``3d 4h``, ``5h 12m``, ``12m``."""
    if age is None:
        return ""
    minutes = max(0, int(age.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _local(report: Report) -> Callable[[datetime | None], str]:
    """An aware time as the wall clock of the report's zone shows it, to the minute: ``2026-11-26 10:15``
    (with the offset in the hour a DST change repeats)."""
    tz = report.tz

    def local(value: datetime | None) -> str:
        return "" if value is None else format_local_short(value, tz)

    return local


def _money(
    decimal_mark: str, wrap: Callable[[str], str] | None = None
) -> Callable[[int | None, str | None], str]:
    """Minor units as a major-unit decimal, exactly as ``money.format_amount`` writes it (integers only),
    with the currency's exponent looked up once: a report formats hundreds of thousands of amounts."""
    exponents: dict[str, int] = {}

    def money(minor: int | None, currency: str | None) -> str:
        if minor is None or currency is None:
            return ""
        places = exponents.get(currency)
        if places is None:
            try:
                places = exponents[currency] = len(format_amount(1, currency).partition(".")[2])
            except (KeyError, ValueError):  # a currency the store should never hold: the minor units
                places = exponents[currency] = 0
        if places == 0:
            text = str(minor)
        elif minor >= 0:
            whole, rest = divmod(minor, 10**places)
            text = f"{whole}{decimal_mark}{rest:0{places}d}"
        else:
            whole, rest = divmod(-minor, 10**places)
            text = f"-{whole}{decimal_mark}{rest:0{places}d}"
        return text if wrap is None else wrap(text)

    return money


def chart(report: Report, *, width: int = 640, height: int = 180) -> dict[str, Any]:
    """The geometry of the stacked bars of outcomes per day, for the template to draw as inline SVG."""
    buckets = report.buckets
    top = max((b.total for b in buckets), default=0) or 1
    plot_h = height - 34
    n = max(1, len(buckets))
    slot = (width - 40) / n
    bar_w = max(2.0, min(48.0, slot * 0.7))
    every = max(1, round(n / 12))  # at most about a dozen labels
    bars = []
    for i, b in enumerate(buckets):
        x = 40 + i * slot + (slot - bar_w) / 2
        y = float(8 + plot_h)
        segments = []
        for outcome in OUTCOMES:
            count = b.counts.get(outcome, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            segments.append(
                {
                    "outcome": outcome,
                    "count": count,
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": round(bar_w, 1),
                    "h": round(h, 1),
                    "colour": COLOURS[outcome],
                    "opacity": 1 if b.in_period else 0.35,
                }
            )
        bars.append(
            {
                "label": b.label[5:] if len(b.label) == 10 else b.label,
                "show_label": i % every == 0,
                "cx": round(x + bar_w / 2, 1),
                "total": b.total,
                "segments": segments,
            }
        )
    return {
        "width": width,
        "height": height,
        "top": top,
        "base": 8 + plot_h,
        "bars": bars,
        "colours": COLOURS,
    }


# -- the environments ---------------------------------------------------------------------------------


def _loader(template_dir: Path | None) -> Any:
    from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader

    builtin = FileSystemLoader(str(TEMPLATES))
    loaders: list[Any] = []
    if template_dir is not None:
        if not template_dir.is_dir():
            raise UsageError(f"--template: '{template_dir}' is not a folder")
        loaders.append(FileSystemLoader(str(template_dir)))
    loaders.append(builtin)
    # "paycli/report.html.j2" always names the built-in one, for a user template that extends it
    return ChoiceLoader([PrefixLoader({"paycli": builtin}), *loaders])


def _bytecode_cache() -> Any:
    """Compiled templates kept in the user's cache folder: compiling the HTML template costs 0.2 s of
    every run. Jinja keys each entry by the template's name and the checksum of its source, so an
    edited or overriding template is compiled anew. None (no cache) when the folder cannot be made."""
    import platformdirs
    from jinja2 import FileSystemBytecodeCache

    folder = platformdirs.user_cache_path("paycli") / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):  # a read-only home: compile every time, say nothing
        return None
    # Jinja's key leaves out the Environment's options (finalize, autoescape), which compile into the
    # code: the file name carries them, as _COMPILED_AS, so a paycli that changes them compiles anew
    return FileSystemBytecodeCache(str(folder), f"__jinja2_%s.{_COMPILED_AS}.cache")


# bumped when the options of render_html's or render_csv's Environment change (2: finalize=_finalize)
_COMPILED_AS = 2


def _template(env: Any, name: str) -> Any:
    from jinja2 import TemplateError

    try:
        return env.get_template(name)
    except TemplateError as exc:
        raise UsageError(f"template {_where(exc, name)}: {_said(exc)}") from None


# the names Jinja gives the frames of template code in a traceback it rewrites (jinja2/debug.py)
_TEMPLATE_FRAMES = ("top-level template code", "template")


def _where(exc: BaseException, name: str) -> str:
    """The template file and line an error comes from, as ``FILE:LINE``: a syntax error says them; an
    error while rendering has them in its traceback, where Jinja puts a frame for each template line
    (the innermost one is where it failed, in an included or extended template too)."""
    import traceback

    from jinja2 import TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError) and exc.lineno:
        return f"{exc.filename or exc.name or name}:{exc.lineno}"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.name in _TEMPLATE_FRAMES or frame.name.startswith("block '")
    ]
    if frames:
        return f"{frames[-1].filename}:{frames[-1].lineno}"
    return name


def _said(exc: BaseException) -> str:
    from jinja2 import TemplateNotFound, TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError):
        return exc.message or "syntax error"  # its str() may add the file and line, said before it
    if isinstance(exc, TemplateNotFound):  # its str() is the name alone
        return f"no template '{exc.name}' to include or extend"
    return str(exc)


# -- the large sections, written by Python ------------------------------------------------------------
# Jinja spends about 40 microseconds on a table row of eight cells, and a busy day has 100,000
# requests: the built-in templates hand the rows of the large sections to these helpers, which yield
# them in chunks (a template may still loop over report.verificare() and write its own rows).

_CHUNK = 500


# the bidi controls that open a scope (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI)
_BIDI_SCOPES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FSI, _PDI = "\u2068", "\u2069"


def isolated(text: str) -> str:
    """A value that holds a bidi control (the override U+202E reverses what follows it, to the end of
    its paragraph: the rest of a cell, the e-mail under a name, a detail under a reason) put in an
    isolate of its own, FSI ... PDI (UAX #9), which ends every embedding, override and isolate opened
    inside it: what it reorders stays inside it, in a tag's text or an attribute alike. A PDI of its
    own that would close the isolate early is shown as its escape. Any other text as it is."""
    if text.isprintable() or _BIDI_SCOPES.isdisjoint(text):
        return text
    kept: list[str] = []
    depth = 0  # its own isolates open at this point
    for c in text:
        if c in "\u2066\u2067\u2068":
            depth += 1
        elif c == _PDI:
            if not depth:
                kept.append("\\u2069")
                continue
            depth -= 1
        kept.append(c)
    # its isolates left open closed first: past the 125 levels UAX #9 counts, a PDI closes one of them
    return _FSI + "".join(kept) + _PDI * depth + _PDI


def _finalize(value: Any) -> Any:
    """What an HTML template's ``{{ value }}`` writes: text from the store isolated, then autoescaped
    (markup, numbers as they are)."""
    return isolated(value) if type(value) is str else value


def _escape(text: str | None) -> str:
    """HTML text, as markupsafe escapes it (same entities), at a fifth of the cost per call; a value
    holding a bidi control isolated (``isolated``)."""
    if not text:
        return ""
    if not text.isprintable():
        text = isolated(text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _in_chunks(lines: Iterable[str]) -> Iterator[Any]:
    """Rows of HTML already escaped, handed to the template ``_CHUNK`` at a time as markup."""
    from markupsafe import Markup

    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= _CHUNK:
            yield Markup("".join(chunk))
            chunk.clear()
    if chunk:
        yield Markup("".join(chunk))


def _html_request_rows(local: Callable[..., str], money: Callable[..., str]) -> Callable[..., Iterator[Any]]:
    escape = _escape

    def row(r: Any, with_age: bool) -> str:
        detail = ""
        if r.detail:
            said = human_detail(r.reason, r.detail) or ""
            detail = ("<br>" if r.reason else "") + f'<span class="note">{escape(said)}</span>'
        email = f'<br><span class="note">{escape(r.email)}</span>' if r.email else ""
        last = (
            f'<td class="num">{age_text(r.age)}</td>'
            if with_age
            else f'<td class="wide">{escape(r.order_id or r.kind)}</td>'
        )
        return (
            f'<tr><td class="nowrap">{escape(r.txn_id)}</td><td class="nowrap">{local(r.created_at)}</td>'
            f"<td>{escape(r.customer)}{email}</td>"
            f'<td class="num">{money(r.amount_minor, r.currency)} {escape(r.currency)}</td>'
            f"<td>{escape(r.gateway)}</td><td>{escape(r.reason or '')}{detail}</td>{last}</tr>\n"
        )

    def request_rows(rows: Iterable[Any], with_age: bool = True) -> Iterator[Any]:
        return _in_chunks(row(r, with_age) for r in rows)

    return request_rows


def _html_anomaly_rows(local: Callable[..., str], money: Callable[..., str]) -> Callable[..., Iterator[Any]]:
    escape = _escape

    def row(a: Any) -> str:
        return (
            f'<tr><td class="nowrap">{escape(a.order_id)}</td><td><span class="tag {a.anomaly}">'
            f"{a.anomaly.replace('_', ' ').lower()}</span></td><td>{escape(a.customer)}</td>"
            f'<td class="num">{a.attempts}</td><td class="num">{a.positivo} / {a.negativo} / {a.verificare}</td>'
            f'<td class="num">{paid(a)}</td>'
            f'<td class="nowrap">{local(a.last_attempt)}</td></tr>\n'
        )

    def paid(a: Any) -> str:
        amounts = a.paid or [
            (0, c) for c in a.currencies
        ]  # unpaid: nothing, in each currency it was tried in
        return " + ".join(f"{money(minor, currency)} {escape(currency)}" for minor, currency in amounts)

    def anomaly_rows(rows: Iterable[Any]) -> Iterator[Any]:
        return _in_chunks(row(a) for a in rows)

    return anomaly_rows


def _csv_sections(
    writer_for: Callable[[io.StringIO], Any], local: Callable[..., str], money: Callable[..., str], mark: str
) -> dict[str, Callable[..., Iterator[str]]]:
    """``request_lines``, ``settlement_lines`` and ``not_settled_lines``: CSV rows in the columns of
    ``CSV_COLUMNS``, in chunks."""

    # Each builder wraps in t() the cells whose text comes from outside (a shop's export, a gateway,
    # the configuration); the others are paycli's own words (sections, outcomes, reasons, ISO currency
    # codes, validated kinds) and numbers. None is an empty cell (the csv module writes it so).
    t = cell_text  # paycli.cells: the one rule of every CSV cell

    def chunks(cells: Iterable[tuple[Any, ...]]) -> Iterator[str]:
        buffer = io.StringIO()
        writer = writer_for(buffer)
        batch: list[tuple[Any, ...]] = []
        for row in cells:
            batch.append(row)
            if len(batch) >= _CHUNK:
                writer.writerows(batch)
                batch.clear()
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        writer.writerows(batch)
        yield buffer.getvalue()

    def request_lines(section: str, rows: Iterable[Any]) -> Iterator[str]:
        return chunks(
            (
                section, local(r.created_at), t(r.txn_id), t(r.order_id), t(r.customer), t(r.email),
                t(r.gateway), r.kind, None, r.outcome, r.reason, t(human_detail(r.reason, r.detail, mark)), None,
                r.responses,
                money(r.amount_minor, r.currency), None, None, r.currency, int(r.age.total_seconds() // 3600),
                None, None,
            )
            for r in rows
        )  # fmt: skip

    def settlement_lines(rows: Iterable[Any]) -> Iterator[str]:
        return chunks(
            (
                "settlement", local(l.occurred_at), t(l.txn_id), None, t(l.customer), None, t(l.gateway), l.kind,
                l.match, l.outcome, None,
                f"requested {money(l.request_minor, l.request_currency)} {l.request_currency}"
                if l.match == "amount_differs" else None,
                t(l.gateway_txn_id), None, money(l.gross_minor, l.currency), money(l.fee_minor, l.currency),
                money(l.net_minor, l.currency), l.currency, None, None, None if l.txn_id else t(l.reference),
            )
            for l in rows  # noqa: E741 (l for line, as in the template)
        )  # fmt: skip

    def not_settled_lines(rows: Iterable[Any]) -> Iterator[str]:
        return chunks(
            (
                "not_settled", local(r.created_at), t(r.txn_id), t(r.order_id), t(r.customer), None,
                t(r.gateway), None, "not_settled", "POSITIVO", None, None, None, None,
                money(r.amount_minor, r.currency), None, None, r.currency, None, None, None,
            )
            for r in rows
        )  # fmt: skip

    def order_line(a: Any) -> tuple[Any, ...]:
        counts = f"{a.positivo} approved, {a.negativo} refused, {a.verificare} to verify"
        amounts = a.paid or [
            (0, c) for c in a.currencies
        ]  # unpaid: nothing, in each currency it was tried in
        if len(amounts) == 1:
            (minor, currency), detail = amounts[0], counts
            amount: Any = money(minor, currency)
        else:  # paid (or tried, unpaid) in two currencies: no one amount is the sum; the detail names each
            amount = currency = None
            detail = f"{counts}; paid " + " + ".join(f"{money(m, c)} {c}" for m, c in amounts)
        return (
            "order", local(a.last_attempt), None, t(a.order_id), t(a.customer), None, None, None, None,
            None, a.anomaly, detail, None, a.attempts, amount, None, None, currency, None, None, None,
        )  # fmt: skip

    def order_lines(rows: Iterable[Any]) -> Iterator[str]:
        return chunks(order_line(a) for a in rows)

    return {
        "order_lines": order_lines,
        "request_lines": request_lines,
        "settlement_lines": settlement_lines,
        "not_settled_lines": not_settled_lines,
    }


def render_html(report: Report, out: IO[str], *, template_dir: Path | None = None) -> None:
    """The one self-contained HTML file: inline CSS and SVG, no script, autoescaped."""
    from jinja2 import Environment, select_autoescape

    env = Environment(
        loader=_loader(template_dir),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )
    money, local = _money("."), _local(report)
    env.filters["money"] = money
    env.filters["local"] = local
    env.filters["age"] = age_text
    env.globals["request_rows"] = _html_request_rows(local, money)
    env.globals["anomaly_rows"] = _html_anomaly_rows(local, money)
    template = _template(env, HTML_TEMPLATE)
    _stream(template, out, {"report": report, "chart": chart(report), "s": report.settlement})


def render_csv(
    report: Report, out: IO[str], *, dialect: str = "standard", template_dir: Path | None = None
) -> None:
    """The CSV file: one header row, a ``section`` column first (README: "CSV layout")."""
    from jinja2 import Environment

    spec = DIALECTS[dialect]

    def writer_for(stream: io.StringIO) -> Any:
        return csv.writer(stream, delimiter=spec.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    buffer = io.StringIO()
    # the template ends each row; the writer's own line end is cut off, not left out: the csv module
    # quotes a cell holding a line break only when the break is in its line terminator, and a note of
    # two lines unquoted would start a row of its own, its second line a cell a spreadsheet runs
    writer = writer_for(buffer)

    def row(*cells: Any) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(c) if type(c) is str else _cell(c) for c in cells])
        return buffer.getvalue()[:-2]

    env = Environment(
        loader=_loader(template_dir),
        autoescape=False,  # CSV: row() quotes and neutralises every cell
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        newline_sequence="\r\n",
        bytecode_cache=_bytecode_cache(),
    )
    money, local = _money(spec.decimal_mark, Figure), _local(report)
    env.globals["row"] = row
    env.globals["columns"] = CSV_COLUMNS
    env.globals.update(
        _csv_sections(writer_for, local, _money(spec.decimal_mark), spec.decimal_mark)
    )  # cells of its own: no Figure
    env.filters["money"] = money
    env.filters["local"] = local
    env.filters["age"] = age_text
    env.filters["hours"] = lambda age: (
        Figure(str(int(age.total_seconds() // 3600))) if age is not None else ""
    )
    template = _template(env, CSV_TEMPLATE)
    if spec.bom:
        out.write("\ufeff")
    _stream(template, out, {"report": report, "s": report.settlement, "dialect": spec.name})


def _cell(value: Any) -> str:
    kind = type(value)
    if kind is str:  # text from the store or a template: neutralised (the common case first)
        return neutralise(value)
    if value is None:
        return ""
    if kind is Figure or kind is int:
        return str(value)
    if kind is bool:
        return "yes" if value else "no"
    return neutralise(str(value))


def _stream(template: Any, out: IO[str], context: dict[str, Any]) -> None:
    from jinja2 import TemplateError

    try:
        chunks: Iterator[str] = template.generate(**context)
        _write_all(out, chunks)
    except TemplateError as exc:
        raise UsageError(f"template {_where(exc, template.name)}: {_said(exc)}") from None
    except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as exc:
        if _builtin(template):
            raise  # paycli's own template failing is paycli's bug (exit 70)
        # a user's template that divides by zero or adds a number to a text: its error, in one line
        raise UsageError(f"template {_where(exc, template.name)}: {type(exc).__name__}: {exc}") from None


def _builtin(template: Any) -> bool:
    filename = getattr(template, "filename", None)
    return filename is not None and Path(filename).resolve().is_relative_to(TEMPLATES.resolve())


def _write_all(out: IO[str], chunks: Iterable[str]) -> None:
    pending: list[str] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size > 1 << 16:
            out.write("".join(pending))
            pending.clear()
            size = 0
    out.write("".join(pending))
