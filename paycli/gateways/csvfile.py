"""A provider described entirely in the configuration: any bank or gateway CSV export (design.md 5.2, 6.1).

Many sources have no provider of their own: a bank's account export, a smaller gateway's transaction
report. Each is described under ``gateways:`` with ``provider: csv``, with the primitives of hledger's
CSV rules (https://hledger.org/dev/hledger.html#csv: ``skip``, ``separator``, ``fields``,
``date-format``, ``timezone``, ``decimal-mark``, ``encoding``), written as YAML::

    gateways:
      mybank:
        provider: csv
        encoding: cp1252
        delimiter: ";"
        decimal_mark: ","
        thousands_separator: "."
        date_format: "%d/%m/%Y %H:%M"
        columns: {reference: Causale, amount: Importo, status: Esito, date: Data operazione}
        currency: EUR
        status_map: {approved: [ESEGUITO], refused: [RIFIUTATO], pending: [IN CORSO]}

Real Italian exports (CBI and home-banking lists, files saved again by Excel) need more, each an
optional setting that leaves a configuration without it as it was: ``columns.debit`` and
``columns.credit`` for money in Dare/Avere columns; ``columns.status_detail`` for an outcome in two
columns, mapped as pairs ``"KO + 05"``; ``columns.time`` and ``time_format`` for the time in a column
of its own; ``header_pattern`` for a preamble whose length varies; ``id_columns`` to refuse an id a
spreadsheet rewrote (1,23457E+15, leading zeros dropped); ``trailing_delimiter`` for a delimiter at
the end of every row. An amount such as 12.500 with no ``thousands_separator`` set is refused as
ambiguous (12.5 or 12500?), not guessed.

Every setting is checked when the configuration is loaded, and an error names its key
(``gateways.mybank.status_map.aproved: not a paycli status (did you mean 'approved'?)``). A file
is claimed when its header row holds the configured cells (``match``; by default every mapped
column) and, if ``match.filename`` is given, its name matches; a claimed file whose header lacks a
mapped column is refused as a whole, naming the column.

The file streams through one line at a time with the request reader's ``Lines`` (paycli/gateways/
requests.py), so a million-row export keeps memory flat. Each row is one message: its bytes exactly,
its line number, and the header row as context, so that ``reinterpret`` (``paycli reprocess``, after a
configuration fix) can read it again. A row that cannot be read (a wrong field count, a bad amount or
date, no currency) is quarantined with the reason and the rest of the file goes on; a status word
nobody mapped is ``Status.UNKNOWN`` with the word. Rows without a merchant reference (in a bank export,
most rows are not the shop's payments) are kept as informational messages, or quarantined with
``without_reference: quarantine``.

A CSV export carries no signature, so every response is ``unverifiable`` (design.md 3.4).

Identical bytes are one message: a row repeated in a file, or a file ingested again, is stored once
(the pipeline's message digest is over the bytes and the header). Two messages with the same dedupe key
that agree on status, amount, currency and reference are one response delivered twice. The key is the
``dedupe_key`` columns' values and the status when configured, else a hash of the normalised row: the mapped fields
as paycli reads them (amount in minor units, the date as an instant, the status word in any case) and
every other column by its header name, so that a re-export with other quoting, line endings, number
grouping or column order is still the same response.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import PurePath
from typing import Any, ClassVar

from paycli.config import Config, Setting, SettingProblem, SettingsSpec, zone_hint
from paycli.dates import local_day_bounds, parse_timestamp
from paycli.errors import ConfigError, RecordError
from paycli.gateways.base import (
    InfoRecord,
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
    SourceError,
)
from paycli.gateways.datenames import ENGLISH, LANGUAGES, Names, fold, names_of
from paycli.gateways.lines import Lines, check_encoding, csv_problem, quote_left_open, read_line, split_lines
from paycli.gateways.requests import REQUIRED as REQUEST_COLUMNS
from paycli.money import CURRENCY_EXPONENTS, normalise_currency, parse_amount
from paycli.outcome import Authenticity, Status

FIELDS = (
    "reference",
    "amount",
    "debit",
    "credit",
    "status",
    "status_detail",
    "currency",
    "date",
    "time",
    "gateway_txn_id",
)
REQUIRED_FIELDS = ("reference", "status")  # and amount, or debit and credit
STATUSES = tuple(s.value for s in Status if s is not Status.UNKNOWN)
# Statuses that say money moved: a row without an amount cannot be checked against the request.
_MONEY_STATUSES = frozenset({Status.APPROVED, Status.REFUNDED, Status.REVERSED})
# A refund or chargeback may be written as a negative amount; its size is what concerns the payment.
_NEGATIVE_OK = frozenset({Status.REFUNDED, Status.REVERSED})
_MAX_SKIP = 1000
_DATE_CACHE = 10_000  # exports repeat their timestamps (a date-only column: every row of the day)


# -- settings and their checks ---------------------------------------------------------------------
# Each check receives the value after the loader's type check and returns it normalised; a problem is
# a SettingProblem naming the key inside the setting, which the loader prefixes with the file and
# `gateways.<name>.<setting>`. The checks are idempotent: the provider runs them again on what it is
# given, so that one built directly (in a test) is as safe as one built from a file.


def _suggest(word: str, candidates: tuple[str, ...]) -> str:
    import difflib  # only on the error path

    lowered = word.lower()
    starts = [c for c in candidates if c.startswith(lowered)] if len(lowered) >= 3 else []
    close = starts or difflib.get_close_matches(lowered, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _word(value: object, key: str) -> str:
    """A cell value written in YAML: text, or a number YAML read as one (status code 0, column 2)."""
    if isinstance(value, bool):
        # `approved: [yes]` or `[OK, on]`: YAML 1.1 reads these as booleans.
        raise SettingProblem(key, "YAML reads this as true or false; put the word in quotes")
    if isinstance(value, int):
        return getattr(value, "source", str(value))
    if not isinstance(value, str):
        raise SettingProblem(key, "expected text")
    text = value.strip()
    if not text:
        raise SettingProblem(key, "is empty")
    return text


def _words(value: object, key: str) -> list[str]:
    """One word or a list of words."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise SettingProblem(key, "is an empty list")
    if isinstance(value, list):
        return [_word(item, f"{key}[{i}]" if key else f"[{i}]") for i, item in enumerate(items)]
    return [_word(value, key)]


def check_columns(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SettingProblem("", "expected a mapping of field: column name")
    for field in value:
        if field not in FIELDS:
            raise SettingProblem(
                str(field),
                f"not a field paycli reads{_suggest(str(field), FIELDS)} (fields: {', '.join(FIELDS)})",
            )
    for field in REQUIRED_FIELDS:
        if value.get(field) is None:
            raise SettingProblem(field, "required column mapping is missing")
    # The money: one signed amount column, or a Dare/Avere export's two, money out and money in
    two = [field for field in ("debit", "credit") if value.get(field) is not None]
    if value.get("amount") is None and not two:
        raise SettingProblem(
            "amount",
            "required column mapping is missing (or map debit and credit: the two columns, "
            "money out and money in, of a Dare/Avere export)",
        )
    if value.get("amount") is not None and two:
        raise SettingProblem(
            two[0], "map either amount (one signed column) or debit and credit (two columns), not both"
        )
    if len(two) == 1:
        missing = "credit" if two[0] == "debit" else "debit"
        raise SettingProblem(
            missing, f"required with {two[0]}: a Dare/Avere export's money out and money in columns"
        )
    result = {field: _word(value[field], field) for field in FIELDS if value.get(field) is not None}
    # One column, two fields: every row would read the amount as its status word too. Compared as the
    # header is read (any case), and named at the second one written.
    seen: dict[str, str] = {}
    for field in value:
        if field in result:
            column = result[field]
            if column.casefold() in seen:
                raise SettingProblem(
                    field, f"the column '{column}' is already mapped to {seen[column.casefold()]}"
                )
            seen[column.casefold()] = field
    return result


def check_status_map(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise SettingProblem("", "expected a mapping of paycli status: the file's words")
    seen: dict[str, str] = {}
    result: dict[str, list[str]] = {}
    for status, words in value.items():
        if status not in STATUSES:
            why = (
                "unknown is what an unmapped word already means"
                if status == "unknown"
                else "not a paycli status"
            )
            raise SettingProblem(
                str(status), f"{why}{_suggest(str(status), STATUSES)} (statuses: {', '.join(STATUSES)})"
            )
        if words is None:
            raise SettingProblem(status, "lists no word")
        result[status] = _words(words, status)
        for i, word in enumerate(result[status]):
            folded = _status_word(word)  # as a row's word is looked up: "IN  CORSO" is "in corso"
            if folded in seen and seen[folded] != status:
                key = f"{status}[{i}]" if isinstance(words, list) else status
                raise SettingProblem(key, f"'{word}' is already mapped to {seen[folded]}")
            seen[folded] = status
    if not result:
        raise SettingProblem("", "maps no word (give at least approved and refused)")
    return result


def check_match(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise SettingProblem("", "expected a mapping with header_contains and/or filename")
    known = ("header_contains", "filename")
    for key in value:
        if key not in known:
            raise SettingProblem(
                str(key), f"unknown key{_suggest(str(key), known)} (keys: {', '.join(known)})"
            )
    result: dict[str, list[str]] = {}
    for key in known:
        if value.get(key) is not None:
            result[key] = _words(value[key], key)
    return result


def check_delimiter(value: str) -> str:
    text = "\t" if value.lower() in ("tab", "\\t") else value
    if len(text) != 1 or text in '"\r\n' or text.isalnum():
        raise SettingProblem("", f"expected one character such as ; , | or tab, got '{value}'")
    return text


def check_skip_lines(value: int) -> int:
    if not 0 <= value <= _MAX_SKIP:
        raise SettingProblem("", f"must be between 0 and {_MAX_SKIP}, got {value}")
    return value


def check_decimal_mark(value: str) -> str:
    if len(value) != 1 or value in "0123456789+-" or value.isspace():
        raise SettingProblem(
            "", f"expected one character such as . or , (not a digit, sign or blank), got '{value}'"
        )
    return value


def check_thousands_separator(value: str) -> str:
    if value == "":
        return ""  # written as "" to say "the file groups no digits" (unset: it may, and 12.500 is refused)
    if len(value) != 1 or value in "0123456789+-":
        raise SettingProblem(
            "", f"expected one character such as . , ' or a space (not a digit or sign), got '{value}'"
        )
    return value


def check_currency(value: str) -> str:
    try:
        return normalise_currency(value)
    except RecordError as exc:
        raise SettingProblem("", f"{exc} (an ISO 4217 code such as EUR)") from None


def check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo

    name = value.strip()
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise SettingProblem("", f"unknown time zone '{value}'{zone_hint(name)}") from None
    return name


def check_date_format(value: str) -> str:
    fmt = value.strip()
    if fmt.lower() == "iso":
        return "iso"
    if "%" not in fmt:
        raise SettingProblem("", f"'{value}' is neither iso nor a strptime format such as %d/%m/%Y %H:%M")
    # The format must read back what it writes, and say the day, month and year.
    sample = datetime(2026, 11, 26, 21, 45, 30, 123456, tzinfo=timezone(timedelta(hours=1)))
    try:
        parsed = datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise SettingProblem("", f"'{value}' cannot read the dates it describes ({exc})") from None
    if parsed.date() != sample.date():
        raise SettingProblem(
            "", f"'{value}' must give the day, the month and the year (%d, %m or %b, %Y or %y)"
        )
    if "%I" in fmt and "%p" not in fmt:
        raise SettingProblem(
            "",
            f"'{value}' has a 12-hour %I without %p (AM/PM): every afternoon would read as morning; use %H",
        )
    return fmt


def check_time_format(value: str) -> str:
    fmt = value.strip()
    if not any(f"%{d}" in fmt for d in "HIMSfp"):
        raise SettingProblem("", f"'{value}' is not a strptime time format such as %H:%M:%S")
    if any(f"%{d}" in fmt for d in "dmbBaAYyjUWcxzZ"):
        raise SettingProblem("", f"'{value}' reads more than the time: the date is in columns.date")
    sample = datetime(2026, 11, 26, 21, 45, 30, 123456)
    try:
        parsed = datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise SettingProblem("", f"'{value}' cannot read the times it describes ({exc})") from None
    if parsed.hour != sample.hour:
        raise SettingProblem("", f"'{value}' must give the hour (%H, or %I with %p)")
    return fmt


def check_reference_pattern(value: str) -> str:
    if not value.strip():
        raise SettingProblem("", "is empty")  # it finds an empty reference in every row: all informational
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise SettingProblem("", f"not a regular expression ({exc})") from None
    if pattern.groups > 1 and "reference" not in pattern.groupindex:
        raise SettingProblem(
            "",
            f"has {pattern.groups} groups: keep one, or name the one that holds the reference (?P<reference>...)",
        )
    return value


def check_header_pattern(value: str) -> str:
    if not value.strip():
        raise SettingProblem("", "is empty")  # it finds the first line, a title, whatever it is
    try:
        re.compile(value)
    except re.error as exc:
        raise SettingProblem("", f"not a regular expression ({exc})") from None
    return value


def check_info_pattern(value: str) -> str:
    if not value.strip():
        raise SettingProblem("", "is empty")  # it finds every line: nothing would be read
    try:
        re.compile(value)
    except re.error as exc:
        raise SettingProblem("", f"not a regular expression ({exc})") from None
    return value


def check_dedupe_key(value: list[Any]) -> list[str]:
    names = []
    for i, item in enumerate(value):
        try:
            names.append(_word(item, ""))
        except SettingProblem as problem:
            # the key of a list item would read `dedupe_key.[0]`: say which item in the message
            raise SettingProblem("", f"item {i + 1}: {problem.message}") from None
    seen: set[str] = set()
    for name in names:
        if name.casefold() in seen:
            raise SettingProblem("", f"column '{name}' is named twice")
        seen.add(name.casefold())
    return names


def check_id_columns(value: object) -> dict[str, int]:
    """A mapping of column name: the number of digits of its ids, or any (0)."""
    if not isinstance(value, dict):
        raise SettingProblem("", "expected a mapping of column: the digits of its ids, or any")
    result: dict[str, int] = {}
    for column, digits in value.items():
        name = _word(column, "")
        if name.casefold() in {c.casefold() for c in result}:
            raise SettingProblem("", f"column '{name}' is named twice")
        if digits == "any":
            result[name] = 0
        elif isinstance(digits, int) and not isinstance(digits, bool) and 0 <= digits <= 64:  # 0: any
            result[name] = digits
        else:
            raise SettingProblem(
                name, f"expected the number of digits of its ids (1 to 64) or any, got '{digits}'"
            )
    return result


_SETTINGS: dict[str, Setting] = {
    "match": Setting(
        dict,
        default={},
        check=check_match,
        help="how a file is recognised: header_contains (header cells that must all be present; default: "
        "every column named in columns) and filename (a glob on the file name, e.g. 'movimenti_*.csv')",
    ),
    "encoding": Setting(
        str,
        default="utf-8",
        check=check_encoding,
        help="the file's encoding: utf-8 (a byte-order mark is dropped), cp1252, latin-1, ...; a line that "
        "is not in it is read as Windows-1252, with a notice; a UTF-8 file (its mark, accented letters in "
        "its first lines) is refused under any other",
    ),
    "delimiter": Setting(str, default=",", check=check_delimiter, help="the field separator: , ; | or tab"),
    "skip_lines": Setting(
        int,
        default=0,
        check=check_skip_lines,
        help="lines before the header row (a bank's title, account, period)",
    ),
    "header_pattern": Setting(
        str,
        default=None,
        check=check_header_pattern,
        help="a regular expression that finds the header row, for a preamble whose length varies from "
        f"file to file: the first line (after skip_lines, within {_MAX_SKIP}) whose text it finds, e.g. "
        "^Data operazione;",
    ),
    "columns": Setting(
        dict,
        required=True,
        check=check_columns,
        help="which header column holds each field: reference, amount, status (required), currency, date, "
        "gateway_txn_id, status_detail (a second outcome column, read with status), time (the time of "
        "date, in a column of its own: see time_format); instead of amount, "
        "debit and credit (Dare/Avere: money out, money in)",
    ),
    "status_map": Setting(
        dict,
        required=True,
        check=check_status_map,
        help="the file's status words for each paycli status (approved, refused, pending, refunded, reversed), "
        "in any letter case; a word not listed gives status unknown (UNKNOWN_STATUS); with "
        "columns.status_detail, also pairs 'KO + 05' of the two columns' words",
    ),
    "decimal_mark": Setting(
        str, default=".", check=check_decimal_mark, help="the decimal mark of amounts: . or ,"
    ),
    "thousands_separator": Setting(
        str,
        default=None,
        check=check_thousands_separator,
        help="the digit-group separator of amounts (. , ' or a space, which takes no-break spaces too); "
        "default: unset, grouped amounts are refused and so is 12.500 (a decimal mark and three digits: "
        'maybe 12500); "" says the file groups no digits',
    ),
    "amount_unit": Setting(
        str,
        default="major",
        choices=("major", "minor"),
        help="major: 129,90 is EUR 129.90; minor: 12990 is EUR 129.90 (cents); a refund may be written "
        "-10,00, (10,00) or 10,00-, a payment +10,00",
    ),
    "currency": Setting(
        str,
        default=None,
        check=check_currency,
        help="ISO 4217 currency of rows without one: when there is no currency column, or its cell is empty",
    ),
    "date_format": Setting(
        str,
        default="iso",
        check=check_date_format,
        help="how the date column is written: iso (ISO 8601) or a strptime format such as %d/%m/%Y %H:%M",
    ),
    "time_format": Setting(
        str,
        default=None,
        check=check_time_format,
        help="with columns.time (the time in a column of its own): how it is written, a strptime format "
        "such as %H:%M (default %H:%M:%S); with date_format iso, ISO 8601 (unset)",
    ),
    "date_language": Setting(
        str,
        default=ENGLISH,
        choices=LANGUAGES,
        help="the language of the month and weekday names (%b %B %a %A) in date_format: en (default), it, es, "
        "fr, de, pt or nl; in any letter case, with or without accents or an abbreviation's full stop",
    ),
    "timezone": Setting(
        str,
        default=None,
        check=check_timezone,
        help="the IANA zone of dates written without an offset; default: the configured timezone",
    ),
    "reference_pattern": Setting(
        str,
        default=None,
        check=check_reference_pattern,
        help="a regular expression that finds the merchant reference (the request's txn_id) inside the "
        "reference column, e.g. in a transfer's description: ORD-[0-9]+-[0-9]+; with one group, the group",
    ),
    "info_pattern": Setting(
        str,
        default=None,
        check=check_info_pattern,
        help="a regular expression: a line after the header whose text it finds (a totals or balance line: "
        "^Totale|^Saldo) is kept as an informational message, whatever its fields",
    ),
    "dedupe_key": Setting(
        list,
        default=[],
        check=check_dedupe_key,
        help="the columns whose values identify a transaction (e.g. [ID operazione]); default: a hash of the "
        "whole normalised row",
    ),
    "id_columns": Setting(
        dict,
        default={},
        check=check_id_columns,
        help="columns of ids a spreadsheet may have rewritten (a file opened and saved in Excel): a cell in "
        "scientific notation (1,23457E+15) is quarantined, its id lost; with a number of digits, "
        "{ID operazione: 12}, so is an all-digit cell shorter than that (its leading zeros dropped)",
    ),
    "trailing_delimiter": Setting(
        bool,
        default=False,
        help="true: rows may end with one delimiter more than the header has (an empty last field, as "
        "some banks write every row), which is dropped; default false: such a row has a field too many",
    ),
    "without_reference": Setting(
        str,
        default="info",
        choices=("info", "quarantine"),
        help="a row with no merchant reference: info (kept as an informational message: a bank export is "
        "mostly other movements) or quarantine",
    ),
}


def check_together(settings: Mapping[str, object]) -> None:
    """What no one setting's check can see: a thousands separator that is the decimal mark, a date
    format the date language cannot read (only English has strptime's every directive)."""
    decimal, thousands = settings.get("decimal_mark"), settings.get("thousands_separator")
    if thousands is not None and thousands == decimal:
        raise SettingProblem("thousands_separator", f"must differ from decimal_mark '{decimal}'")
    columns, status_map = settings.get("columns"), settings.get("status_map")
    if isinstance(columns, dict) and isinstance(status_map, dict):
        _check_pairs(status_map, "status_detail" in columns)
    fmt, language = settings.get("date_format"), settings.get("date_language")
    if isinstance(fmt, str) and isinstance(language, str):
        try:
            _date_parser(fmt, UTC, language)
        except ValueError as exc:
            raise SettingProblem("date_format", f"'{fmt}': {exc}") from None
    _check_time(settings)


def _check_time(settings: Mapping[str, object]) -> None:
    """columns.time, the time of a row in a column of its own: with a date column, a date_format of
    the date alone, and a time_format unless the dates are ISO."""
    columns = settings.get("columns")
    columns = columns if isinstance(columns, dict) else {}
    fmt, time_format = settings.get("date_format"), settings.get("time_format")
    if "time" not in columns:
        if time_format is not None:
            raise SettingProblem("time_format", "there is no columns.time to read with it")
        return
    if "date" not in columns:
        raise SettingProblem("columns.time", "needs columns.date: a time alone is no moment")
    if isinstance(fmt, str) and fmt != "iso" and any(f"%{d}" in fmt for d in _TIME_DIRECTIVES):
        raise SettingProblem(
            "date_format",
            f"'{fmt}' reads a time, but columns.time holds it: give the date alone (e.g. %d/%m/%Y)",
        )
    if fmt == "iso" and time_format is not None:
        raise SettingProblem("time_format", "date_format iso reads the time as ISO 8601 too: leave it out")
    language = settings.get("date_language")
    if isinstance(fmt, str) and fmt != "iso" and isinstance(language, str):
        try:
            _date_parser(f"{fmt} {time_format or '%H:%M:%S'}", UTC, language)
        except ValueError as exc:
            raise SettingProblem("time_format", f"'{time_format}': {exc}") from None


def _check_pairs(status_map: Mapping[str, list[str]], detailed: bool) -> None:
    """With columns.status_detail, a status_map word may be a pair, "KO + 05": the status column's word
    and the detail column's. Each side must be a word, and a pair must not be listed twice."""
    if not detailed:
        return  # a "+" is part of a word, as it always was
    seen: dict[str, str] = {}
    for status, words in status_map.items():
        for i, word in enumerate(words):
            key = f"{status}[{i}]" if len(words) > 1 else status
            parts = word.split("+")
            if len(parts) > 2 or (len(parts) == 2 and not all(p.strip() for p in parts)):
                raise SettingProblem(
                    f"status_map.{key}",
                    f"'{word}' is neither a word nor a pair such as 'KO + 05' (status, then status_detail)",
                )
            folded = _status_key(*parts)
            if folded in seen and seen[folded] != status:
                raise SettingProblem(f"status_map.{key}", f"'{word}' is already mapped to {seen[folded]}")
            seen[folded] = status


def _status_key(word: str, detail: str = "") -> str:
    """A status word, or a pair of the status and status_detail columns' words, as it is looked up."""
    return f"{_status_word(word)} + {_status_word(detail)}" if detail else _status_word(word)


SETTINGS = SettingsSpec(_SETTINGS, together=check_together)


# -- reading one export ----------------------------------------------------------------------------
class _HeaderError(ValueError):
    """The header row lacks what the configuration maps."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each field is in rows under one header."""

    width: int
    reference: int
    amount: int | None  # None: debit and credit
    debit: int | None
    credit: int | None
    status: int
    status_detail: int | None
    currency: int | None
    date: int | None
    time: int | None
    txn: int | None
    key: tuple[int, ...]
    ids: tuple[tuple[str, int, int], ...]  # id_columns: name, where, digits (0: any)
    others: tuple[tuple[str, int], ...]  # the unmapped columns by name, for the default dedupe key


class CsvProvider(Provider):
    name = "csv"
    description = (
        "any bank or gateway CSV export, described in the configuration (gateways: NAME: provider: csv)"
    )
    reads = ("CSV exports described in the configuration: columns, formats, status words",)
    needs_config = True
    settings: ClassVar[Mapping[str, Setting]] = SETTINGS

    def __init__(self, instance: str, settings: Mapping[str, object], config: Config) -> None:
        super().__init__(instance, settings, config)
        try:  # on load already; again, defaults filled in, for a provider built without a load
            check_together({name: self._setting(name) for name in _SETTINGS})
        except SettingProblem as problem:
            raise self._config_error(problem.key, problem.message) from None
        get = self._setting
        self._columns: dict[str, str] = get("columns")
        self._encoding: str = get("encoding")
        self._delimiter: str = get("delimiter")
        self._skip: int = get("skip_lines")
        self._trailing: bool = get("trailing_delimiter")
        header_pattern: str | None = get("header_pattern")
        self._header_pattern = re.compile(header_pattern) if header_pattern is not None else None
        self._decimal: str = get("decimal_mark")
        grouping: str | None = get("thousands_separator")
        self._thousands = grouping or None
        # unset, a decimal mark and three digits (12.500) may be a thousands group: refused, not guessed
        self._grouping_known = grouping is not None
        self._minor = get("amount_unit") == "minor"
        self._currency: str | None = get("currency")
        zone_name: str | None = get("timezone")
        if zone_name is None:
            zone: tzinfo = config.timezone
        else:
            from zoneinfo import ZoneInfo

            zone = ZoneInfo(zone_name)
        self._date_format: str = get("date_format")
        language: str = get("date_language")
        self._parse_date = _date_parser(self._date_format, zone, language)  # check_together read it
        self._parse_moment: Callable[[str], datetime] | None = None  # with columns.time: "date time"
        self._time_format: str | None = None
        if "time" in self._columns:
            if self._date_format == "iso":
                self._parse_moment = _date_parser("iso", zone, language)
            else:
                self._time_format = get("time_format") or "%H:%M:%S"
                self._parse_moment = _date_parser(f"{self._date_format} {self._time_format}", zone, language)
        detailed = "status_detail" in self._columns
        self._statuses = {
            (_status_key(*word.split("+")) if detailed else _status_word(word)): Status(status)
            for status, words in get("status_map").items()
            for word in words
        }
        pattern: str | None = get("reference_pattern")
        self._pattern = re.compile(pattern) if pattern is not None else None
        self._group: int | str = 0
        if self._pattern is not None:
            self._group = (
                "reference" if "reference" in self._pattern.groupindex else min(self._pattern.groups, 1)
            )
        info_pattern: str | None = get("info_pattern")
        self._info = re.compile(info_pattern) if info_pattern is not None else None
        self._key_columns: list[str] = get("dedupe_key")
        self._id_columns: dict[str, int] = get("id_columns")
        self._missing_reference_is_info = get("without_reference") == "info"
        match: dict[str, list[str]] = get("match")
        wanted = match.get("header_contains") or [
            *self._columns.values(),
            *self._key_columns,
            *self._id_columns,
        ]
        self._header_names = {c.casefold(): c for c in wanted}  # folded -> as configured, for messages
        self._header_cells = frozenset(self._header_names)
        self._filenames = match.get("filename", [])
        self._currencies: dict[str, str] = {}  # the file's currency cells, normalised once
        # for reinterpret: one header, many stored rows
        self._layouts: dict[str, tuple[_Layout, Callable[[Origin, list[str]], Record]]] = {}

    def _setting(self, name: str) -> Any:
        spec = self.settings[name]
        value = self.options.get(name, spec.default)
        if value is None:
            if spec.required:
                raise self._config_error(name, "required setting is missing")
            return None
        if spec.choices is not None and value not in spec.choices:
            raise self._config_error(name, f"expected one of {', '.join(spec.choices)}, got '{value}'")
        if spec.check is None:
            return value
        try:
            return spec.check(value)
        except SettingProblem as problem:
            key = f"{name}.{problem.key}" if problem.key else name
            raise self._config_error(key, problem.message) from None

    def _config_error(self, key: str, message: str) -> ConfigError:
        where = str(self.config.path) if self.config.path is not None else "configuration"
        return ConfigError(f"{where}: gateways.{self.instance}.{key}: {message}")

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        cells = self._header_of(source)
        if cells is None or not self._header_cells <= cells:
            return False
        # Never the shop's own request file, whatever a configuration names.
        return not set(REQUEST_COLUMNS) <= cells

    def near_miss(self, source: Source) -> str | None:
        if not self._named_for(source):
            # a header it would read, under a name the glob does not take: "Movimenti.CSV"
            cells = self._header_of(source, any_name=True)
            if cells is None or not self._header_cells <= cells or set(REQUEST_COLUMNS) <= cells:
                return None
            globs = ", ".join(self._filenames)
            return (
                f"{self.instance}: its name does not match gateways.{self.instance}.match.filename ({globs})"
            )
        if (hint := self._header_elsewhere(source)) is not None:
            return f"{self.instance}: {hint}"
        # most of the columns it needs, not all: a column the bank renamed, or a typo in the config
        cells = self._header_of(source)
        if cells is None or set(REQUEST_COLUMNS) <= cells:
            return None
        missing = self._header_cells - cells
        if not missing or len(self._header_cells & cells) < max(2, len(self._header_cells) / 2):
            return None
        names = ", ".join(f"'{self._header_names[c]}'" for c in sorted(missing))
        plural = "s" if len(missing) > 1 else ""
        return f"{self.instance}: its header has no column{plural} {names} (gateways.{self.instance})"

    def _header_of(self, source: Source, *, any_name: bool = False) -> frozenset[str] | None:
        """The header cells of a source (folded), read as extract reads them; None when it has none or
        is not a file for this gateway (another file name, unless ``any_name``; binary)."""
        if not any_name and not self._named_for(source):
            return None
        head, encoding = self._head(source)
        parts = head.split(b"\n", self._skip)
        if len(parts) <= self._skip:
            return None
        # the header is the first line with text after skip_lines (or the first header_pattern
        # finds), decoded as extract reads it
        if self._header_pattern is None:
            line = parts[self._skip].lstrip(b"\r\n\t ").split(b"\n", 1)[0]
        else:
            found = self._header_found(parts[self._skip].split(b"\n")[:_MAX_SKIP], encoding)
            if found is None:
                return None
            line = found[1]
        if b"\x00" in line or any(b"\x00" in part for part in parts[: self._skip]):
            # binary, or UTF-16: never a CSV this provider can read. Only up to the header: a NUL in
            # a row quarantines that row, wherever in the file it is.
            return None
        return _cells(read_line(line, encoding)[0], self._delimiter)

    def _header_found(self, lines: list[bytes], encoding: str) -> tuple[int, bytes] | None:
        """The first of ``lines`` that header_pattern finds, and its index; None when none is (or a
        NUL comes first: binary, or UTF-16)."""
        assert self._header_pattern is not None
        search = self._header_pattern.search
        for number, raw in enumerate(lines):
            if b"\x00" in raw:
                return None
            if search(read_line(raw, encoding)[0].rstrip("\r\n")):
                return number, raw
        return None

    def _named_for(self, source: Source) -> bool:
        return not self._filenames or any(
            fnmatch.fnmatch(PurePath(source.name).name, g) for g in self._filenames
        )

    def _head(self, source: Source) -> tuple[bytes, str]:
        """The first bytes of a source and their encoding, as Lines reads a file that starts with a mark."""
        if source.head.startswith(codecs.BOM_UTF8):
            return source.head[3:], "utf-8"
        return source.head, self._encoding

    def _header_elsewhere(self, source: Source) -> str | None:
        """What to write when skip_lines or delimiter miss the header: the line of the file's head that
        holds the configured columns, split by the configured delimiter or another common one. None
        when no line holds them all, or the settings already find it (then a column is missing)."""
        if not self._named_for(source):
            return None
        head, encoding = self._head(source)
        lines = head.split(b"\n")[: _MAX_SKIP + 1]
        for delimiter in (self._delimiter, *(d for d in ";,\t|" if d != self._delimiter)):
            for number, raw in enumerate(lines):
                if b"\x00" in raw:
                    break  # binary, or UTF-16, from here on
                cells = _cells(read_line(raw, encoding)[0], delimiter)
                if cells is None or not self._header_cells <= cells or set(REQUEST_COLUMNS) <= cells:
                    continue
                key = f"gateways.{self.instance}"
                skip = f"{key}.skip_lines: {number}"
                if self._header_pattern is None:
                    # the header is the first line with text after skip_lines
                    placed = self._skip <= number and not any(
                        line.strip(b"\r\n\t ") for line in lines[self._skip : number]
                    )
                else:
                    found = self._header_found(lines[self._skip :], encoding)
                    placed = found is not None and found[0] + self._skip == number
                    where = "none" if found is None else f"line {found[0] + self._skip + 1}"
                    skip = (
                        f"{key}.header_pattern '{self._header_pattern.pattern}' to find it "
                        f"(it finds {where} first)"
                    )
                    if self._skip > number:
                        skip += f" and {key}.skip_lines below {number + 1}"
                separated = "tabs" if delimiter == "\t" else f"'{delimiter}'"
                written = f"{key}.delimiter: " + ("tab" if delimiter == "\t" else f'"{delimiter}"')
                if delimiter == self._delimiter:
                    return None if placed else f"its header row is line {number + 1}: set {skip}"
                if placed:
                    return f"its header is separated by {separated}: set {written}"
                return (
                    f"its header row is line {number + 1}, separated by {separated}: set {skip} and {written}"
                )
        return None

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        if source.head.startswith(codecs.BOM_UTF8) and self._encoding not in ("utf-8", "utf-8-sig"):
            # A UTF-8 file: read as configured, its accented words would turn to garbage unnoticed.
            raise SourceError(
                f"starts with a UTF-8 byte-order mark, but gateways.{self.instance}.encoding is "
                f"{self._encoding}: set encoding: utf-8"
            )
        if (
            self._encoding not in ("utf-8", "utf-8-sig")
            and (found := _utf8_sample(source.head, self._delimiter)) is not None
        ):
            # the same without the mark: read as configured, every accented letter turns to two, unnoticed
            raise SourceError(
                f"is UTF-8 text (line {found[0]}: '{found[1]}'), but gateways.{self.instance}.encoding is "
                f"{self._encoding}: set encoding: utf-8"
            )
        stream = source.open()
        try:
            lines = Lines(stream, source.name, self._encoding)
            for _ in range(self._skip):
                if next(iter(lines), None) is None:
                    break
            if self._header_pattern is not None:
                search = self._header_pattern.search
                if lines.find(lambda text: search(text.rstrip("\r\n")) is not None, _MAX_SKIP) is None:
                    hint = self._header_elsewhere(source)
                    raise SourceError(
                        f"no line of its first {_MAX_SKIP} after skip_lines is found by header_pattern "
                        f"'{self._header_pattern.pattern}' (gateways.{self.instance}.header_pattern)"
                        + (f"; {hint}" if hint else "")
                    )
            if lines.peek_first() is None:
                if self._skip and (hint := self._header_elsewhere(source)) is not None:
                    raise SourceError(f"no header row after the {self._skip} lines of skip_lines; {hint}")
                yield Notice(f"{source.name}: no header row, nothing to ingest")
                return
            reader = csv.reader(lines.text(), delimiter=self._delimiter)
            try:
                header = next(reader)
            except csv.Error as exc:
                raise SourceError(f"the header row is not CSV ({csv_problem(exc)})") from None
            context = lines.consumed_text()
            lines.take_raw()
            try:
                layout = self._layout(header)
            except _HeaderError as exc:
                hint = self._header_elsewhere(source)
                raise SourceError(f"{exc}; {hint}" if hint else str(exc)) from None
            yield from self._rows(lines, reader, layout, context)
            yield from lines.notices()
        finally:
            stream.close()

    def _rows(
        self, lines: Lines, reader: Iterator[list[str]], layout: _Layout, context: str
    ) -> Iterator[Record]:
        width, trailing = layout.width, self._trailing
        interpret = self._reader(layout)
        for item in lines.rows(reader, context, width=width, trailing=trailing):
            if isinstance(item, QuarantinedRecord):
                yield item
                continue
            origin, row = item
            if self._info is not None and (note := self._other_line(origin)):
                yield InfoRecord(origin, None, note)
            elif len(row) == width:
                yield interpret(origin, row)
            elif trailing and len(row) == width + 1 and not row[-1].strip():
                yield interpret(origin, row[:width])  # the empty field after a trailing delimiter
            else:
                yield QuarantinedRecord(origin, f"expected {width} fields, found {len(row)}")

    def _other_line(self, origin: Origin) -> str | None:
        """What a line info_pattern finds is (a totals line a bank writes after its movements, of fewer
        fields than the header: quarantined every night else, and never a payment), or None."""
        if self._info is None or self._info.search(read_line(origin.raw, self._encoding)[0]) is None:
            return None
        return f"a line info_pattern finds (gateways.{self.instance}.info_pattern): not a movement"

    def reinterpret(self, origin: Origin) -> Record:
        if origin.context is None:
            return QuarantinedRecord(origin, "stored without its header row; cannot be read again")
        known = self._layouts.get(origin.context)
        if known is None:
            try:
                layout = self._layout(next(csv.reader([origin.context], delimiter=self._delimiter), []))
            except (_HeaderError, csv.Error) as exc:
                return QuarantinedRecord(origin, f"its header row cannot be read: {exc}")
            if len(self._layouts) > 100:
                self._layouts.clear()
            known = self._layouts[origin.context] = (layout, self._reader(layout))
        layout, interpret = known
        if note := self._other_line(origin):
            return InfoRecord(origin, None, note)
        text = read_line(origin.raw, self._encoding)[0]
        lines = split_lines(text)
        try:
            rows = list(csv.reader(lines, delimiter=self._delimiter))
        except csv.Error as exc:
            return QuarantinedRecord(origin, f"not a CSV record ({csv_problem(exc)})")
        if why := quote_left_open(lines, delimiter=self._delimiter):
            return QuarantinedRecord(origin, why)
        if len(rows) == 1 and self._trailing and len(rows[0]) == layout.width + 1 and not rows[0][-1].strip():
            rows[0].pop()  # the empty field after a trailing delimiter, as extract drops it
        if len(rows) != 1 or len(rows[0]) != layout.width:
            found = len(rows[0]) if len(rows) == 1 else f"{len(rows)} records"
            return QuarantinedRecord(origin, f"expected {layout.width} fields, found {found}")
        return interpret(origin, rows[0])

    def _layout(self, header: list[str]) -> _Layout:
        names = [cell.strip() for cell in header]
        if self._trailing and len(names) > 1 and not names[-1]:
            names.pop()  # the header may end with the delimiter too
        index: dict[str, int] = {}
        twice: set[str] = set()
        for i, name in enumerate(names):
            folded = name.casefold()
            if folded in index:
                twice.add(folded)
            index[folded] = i

        def find(column: str, what: str) -> int:
            folded = column.casefold()
            if folded not in index:
                raise _HeaderError(
                    f"column '{column}' ({what}) is not in the header; the header has: {', '.join(names)}"
                )
            if folded in twice:
                raise _HeaderError(f"column '{column}' ({what}) appears twice in the header")
            return index[folded]

        at = {field: find(column, f"columns.{field}") for field, column in self._columns.items()}
        key = tuple(find(column, "dedupe_key") for column in self._key_columns)
        ids = tuple(
            (column, find(column, "id_columns"), digits) for column, digits in self._id_columns.items()
        )
        mapped = set(at.values())
        others = tuple(sorted((n.casefold(), i) for i, n in enumerate(names) if i not in mapped))
        return _Layout(
            width=len(names),
            reference=at["reference"],
            amount=at.get("amount"),
            debit=at.get("debit"),
            credit=at.get("credit"),
            status=at["status"],
            status_detail=at.get("status_detail"),
            currency=at.get("currency"),
            date=at.get("date"),
            time=at.get("time"),
            txn=at.get("gateway_txn_id"),
            key=key,
            ids=ids,
            others=others,
        )

    # -- one row -------------------------------------------------------------------------------
    def _reader(self, layout: _Layout) -> Callable[[Origin, list[str]], Record]:
        """The interpreter of the rows under one header. It runs for every row of a file of millions:
        everything it needs is bound to a local once, and the slow paths run only on bad input."""
        ref_at, status_at, detail_at = layout.reference, layout.status, layout.status_detail
        currency_at, date_at, txn_at, key_at, others = (
            layout.currency,
            layout.date,
            layout.txn,
            layout.key,
            layout.others,
        )
        pattern, group = self._pattern, self._group
        statuses, unknown = self._statuses, Status.UNKNOWN
        default_currency, currencies = self._currency, self._currencies
        currency_column = self._columns.get("currency", "")
        when_of = self._when_reader(layout)
        info = self._missing_reference_is_info
        no_reference = (
            "reference_pattern finds no merchant reference" if pattern else "no merchant reference"
        ) + f" in column '{self._columns['reference']}'"
        no_currency = (
            f"currency unknown: column '{currency_column}' is empty and no currency is configured (set currency: EUR)"
            if currency_at is not None
            else "currency unknown: no currency column is mapped and no currency is configured (set currency: EUR)"
        )
        key_columns = ", ".join(self._key_columns)
        empty_key = (
            f"the dedupe_key columns {key_columns} are empty"
            if len(key_at) > 1
            else f"the dedupe_key column {key_columns} is empty"
        )
        money = self._money_reader(layout, no_currency)
        unverifiable = Authenticity.UNVERIFIABLE  # an export carries no signature
        sha256 = hashlib.sha256

        ids = layout.ids

        def read(origin: Origin, row: list[str]) -> Record:
            if ids and (lost := _id_lost(row, ids)):
                return QuarantinedRecord(origin, lost)
            cell = row[ref_at].strip()
            if pattern is None:
                reference = cell or None
            else:
                found = pattern.search(cell)
                reference = (found.group(group) or None) if found else None
            if reference is None:
                return (
                    InfoRecord(origin, None, no_reference)
                    if info
                    else QuarantinedRecord(origin, no_reference)
                )
            word = row[status_at].strip()
            status = statuses.get(word.casefold(), unknown)
            if status is unknown and word:
                status = statuses.get(_status_word(word), unknown)  # "IN  CORSO", a no-break space
            if detail_at is not None and (detail := row[detail_at].strip()):
                # the outcome in two columns: the pair first ("KO + 05"), else the status column's
                # word alone, with the detail kept beside it; without one, the detail alone
                if word:
                    status = statuses.get(_status_key(word, detail), status)
                    word = f"{word} + {detail}"
                else:
                    word = detail
                    status = statuses.get(_status_word(detail), unknown)
            currency = default_currency
            try:
                if currency_at is not None:
                    text = row[currency_at].strip()
                    if text:
                        currency = currencies.get(text) or self._currency_code(text)
                amount = money(row, currency, status)
                occurred_at = when_of(row) if date_at is not None else None
            except RecordError as exc:
                return QuarantinedRecord(origin, str(exc))
            txn = (row[txn_at].strip() or None) if txn_at is not None else None
            if key_at:
                values = [row[i].strip() for i in key_at]
                if not any(values):
                    return QuarantinedRecord(origin, empty_key)
                # plus the status, as every gateway's key (design.md 3.1): pending then approved of one
                # transaction are two responses, not one key whose messages disagree (suspicious)
                values.append(status.value if status is not unknown else f"unknown:{word.casefold()}")
                key = "|".join(v.replace("\\", "\\\\").replace("|", "\\|") for v in values)
            else:
                # the normalised row: what paycli read, and every other column by its name
                parts = [
                    cell,
                    word.casefold(),
                    "" if amount is None else str(amount),  # signed: a debit is not a credit
                    currency or "",
                    "" if occurred_at is None else str(occurred_at.timestamp()),
                    txn or "",
                ]
                parts += [f"{name}={row[i].strip()}" for name, i in others]
                key = "row:" + sha256("\x1f".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]
            return ResponseRecord(
                origin,
                reference=reference,
                dedupe_key=key,
                status=status,
                raw_status=word or None,
                authenticity=unverifiable,
                amount_minor=amount if amount is None or amount >= 0 else -amount,
                currency=currency,
                gateway_txn_id=txn,
                occurred_at=occurred_at,
            )

        return read

    def _currency_code(self, text: str) -> str:
        try:
            code = normalise_currency(text)
        except RecordError as exc:
            raise RecordError(f"column '{self._columns['currency']}': {exc}") from None
        if len(self._currencies) < 1000:
            self._currencies[text] = code
        return code

    def _when_reader(self, layout: _Layout) -> Callable[[list[str]], datetime | None]:
        """row -> when it happened: its date column, read with the time column when there is one."""
        date_at, time_at, parse_date = layout.date, layout.time, self._parse_date
        if date_at is None:
            return _no_date

        def date_only(row: list[str]) -> datetime | None:
            when = row[date_at].strip()
            return parse_date(when) if when else None

        if time_at is None or self._parse_moment is None:
            return date_only
        parse_moment = self._parse_moment
        date_column, time_column = self._columns["date"], self._columns["time"]
        unread = (
            "is not an ISO 8601 time, as date_format iso reads"
            if self._time_format is None
            else f"does not match time_format '{self._time_format}' (or is no such time)"
        )
        joint = " " if self._time_format is not None else "T"

        def date_and_time(row: list[str]) -> datetime | None:
            when, clock = row[date_at].strip(), row[time_at].strip()
            if not clock:
                return parse_date(when) if when else None  # no time: the start of the day
            if not when:
                raise RecordError(
                    f"column '{time_column}' has a time, {clock}, but column '{date_column}' no date"
                )
            try:
                return parse_moment(f"{when}{joint}{clock}")
            except RecordError:
                try:
                    parse_date(when)
                except RecordError as exc:
                    raise RecordError(f"column '{date_column}': {exc}") from None
                raise RecordError(f"column '{time_column}': time '{clock}' {unread}") from None

        return date_and_time

    def _money_reader(
        self, layout: _Layout, no_currency: str
    ) -> Callable[[list[str], str | None, Status], int | None]:
        """row, currency, status -> the row's amount in minor units: its amount column (a size), or
        the one of its debit and credit columns (Dare/Avere) that holds money, a debit negative."""
        amount_at, debit_at, credit_at = layout.amount, layout.debit, layout.credit
        if amount_at is not None:
            amount_of = self._amount_reader(self._columns["amount"])

            def money(row: list[str], currency: str | None, status: Status) -> int | None:
                return amount_of(row[amount_at].strip(), currency, status, no_currency)

            return money
        assert debit_at is not None and credit_at is not None  # check_columns: amount, or both
        debit_column, credit_column = self._columns["debit"], self._columns["credit"]
        debit_of = self._amount_reader(debit_column, out=True)
        credit_of = self._amount_reader(credit_column)
        columns = f"columns '{debit_column}' and '{credit_column}' (debit and credit)"

        def debit_or_credit(row: list[str], currency: str | None, status: Status) -> int | None:
            debit, credit = row[debit_at].strip(), row[credit_at].strip()
            if debit and credit:
                # a spreadsheet may write 0,00 in the other column: only one of them may be money
                if debit_of(debit, currency, Status.REFUNDED, no_currency) == 0:
                    return credit_of(credit, currency, status, no_currency)
                if credit_of(credit, currency, status, no_currency) == 0:
                    return -(debit_of(debit, currency, status, no_currency) or 0)
                raise RecordError(f"{columns} both hold an amount: one of them must be empty")
            if debit:
                return -(debit_of(debit, currency, status, no_currency) or 0)
            if credit:
                return credit_of(credit, currency, status, no_currency)
            if status in _MONEY_STATUSES:
                raise RecordError(f"{columns} are both empty")
            return None  # a refused or pending row may carry no amount: no money moved

        return debit_or_credit

    def _amount_reader(
        self, column: str, *, out: bool = False
    ) -> Callable[[str, str | None, Status, str], int | None]:
        """text, currency, status, the reason when there is no currency -> minor units (a size: a
        negative refund is its amount). The common case is read here with one regular expression;
        anything else (too long, extra zero decimals, an error) goes to money.parse_amount, which
        decides and words the error. ``out``: the column of money out (Dare, debit), a refund's or
        chargeback's whatever its sign."""
        decimal, thousands, minor = self._decimal, self._thousands, self._minor
        grouping_known = self._grouping_known
        integer = "[0-9]+"
        if thousands is not None:
            integer = f"(?:[0-9]+|[0-9]{{1,3}}(?:{re.escape(thousands)}[0-9]{{3}})+)"
        fast = re.compile(f"(-?)({integer})(?:{re.escape(decimal)}([0-9]+))?").fullmatch
        grouping = f"'{thousands}'" if thousands else "none"
        formats = f"decimal_mark '{decimal}', thousands_separator {grouping}" + (
            ", amount_unit minor" if minor else ""
        )
        other = "," if decimal == "." else "."

        def ambiguous(text: str, m: re.Match[str] | None) -> None:
            """An amount such as 12.500 when no thousands_separator is set: read with decimal_mark '.'
            it is 12.50, but an Italian export groups thousands with '.' and means 12500. Refused, naming
            the settings that decide, rather than read a thousand times wrong. (Three decimals of a
            currency of three, KWD 1.250, are its own: the caller does not ask.)"""
            if m is None or m[3] is None or len(m[3]) != 3 or len(m[2]) > 3:
                return  # 1234.500 groups nothing
            if m[2].startswith("0"):
                return  # 0.500: no group starts with a zero
            as_decimal = f"{m[2]}{decimal}{m[3].rstrip('0')}".rstrip(decimal)
            raise RecordError(
                f"column '{column}': amount '{text}' is ambiguous: with decimal_mark '{decimal}' it is "
                f"{as_decimal}, but if '{decimal}' groups thousands it is {m[2]}{m[3]}; set "
                f'thousands_separator to the file\'s grouping (e.g. "{decimal}" with decimal_mark: '
                f'"{other}"), or to "" if it groups no digits'
            )

        def amount_of(text: str, currency: str | None, status: Status, no_currency: str) -> int | None:
            if not text:
                if status in _MONEY_STATUSES:
                    raise RecordError(f"column '{column}': amount is empty")
                return None  # a refused or pending row may carry no amount: no money moved
            if currency is None:
                raise RecordError(no_currency)
            m = fast(text)
            places = 0 if minor else CURRENCY_EXPONENTS[currency]
            if not grouping_known and places < 3:
                if m is not None:
                    if m[3] is not None and len(m[3]) == 3:
                        ambiguous(text, m)
                elif decimal in text:
                    ambiguous(text, fast(_sign_outside(text)[0]))  # (12.500), 12.500-, +12.500
            if m is not None and len(m[2]) <= 14 and len(m[3] or "") <= places:
                digits = m[2] if thousands is None else m[2].replace(thousands, "")
                value = int(digits + (m[3] or "").ljust(places, "0"))
                negative = bool(m[1]) and value != 0
            else:
                number, outside = _sign_outside(text)
                if thousands == " ":
                    # a no-break space (narrow or not) groups thousands in French and Italian exports
                    number = number.replace("\u00a0", " ").replace("\u202f", " ")
                try:
                    value = parse_amount(
                        number,
                        currency,
                        decimal_mark=decimal,
                        thousands_separator=thousands,
                        allow_negative=not outside,
                        minor_units=minor,
                    )
                except RecordError as exc:
                    reason = str(exc).replace(f"'{number}'", f"'{text}'", 1)
                    raise RecordError(
                        f"column '{column}': {reason} ({formats}{_currency_sign(text)})"
                    ) from None
                negative, value = value < 0 or (outside and value != 0), abs(value)
            if out and value != 0 and status not in _NEGATIVE_OK:
                raise RecordError(
                    f"column '{column}': amount '{text}' is money out (debit) for status {status}"
                )
            if negative and not out and status not in _NEGATIVE_OK:
                raise RecordError(f"column '{column}': amount '{text}' is negative for status {status}")
            return value

        return amount_of


# -- small pieces ----------------------------------------------------------------------------------
def _no_date(row: list[str]) -> None:
    """When a row happened, read from an export with no date column: unknown."""
    return None


def _sign_outside(text: str) -> tuple[str, bool]:
    """An amount whose minus is written outside the number, as accounting and SAP exports write a
    refund, "(1.234,56)" or "1.234,56-": the number, and whether it was so marked negative. The plus
    of a credit, "+1.234,56", is dropped: only when a digit follows it, so that "+-1,00" is no number."""
    if len(text) > 1 and text[0] == "+" and text[1] in "0123456789":
        return text[1:], False
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        return text[1:-1].strip(), True
    if len(text) > 1 and text[-1] == "-":
        return text[:-1].rstrip(), True
    return text, False


def _currency_sign(text: str) -> str:
    """What to say of an amount that is no number because a sign or code is beside it, as a spreadsheet
    saves a column formatted as currency ("€ 1.234,56", "1.234,56 EUR"); else nothing."""
    import unicodedata  # only on the error path

    if any(unicodedata.category(ch) == "Sc" for ch in text) or re.search(r"\b[A-Za-z]{3}\b", text):
        return "; a currency sign or code in the cell is not read: save the column as a plain number"
    return ""


def _utf8_sample(head: bytes, delimiter: str) -> tuple[int, str] | None:
    """When the first bytes of a file are UTF-8 text with letters beyond ASCII: the first line that has
    one, and its cell. A Windows-1252 or Latin-1 file is never so (an accented letter before a
    separator or a blank is no UTF-8), a file of ASCII alone reads the same in both."""
    if head.isascii():
        return None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # a character the head cuts is no error
    except UnicodeDecodeError:
        return None
    for number, line in enumerate(text.split("\n"), 1):
        if not line.isascii():
            cell = next(c for c in line.split(delimiter) if not c.isascii())
            return number, cell.strip().strip('"').strip()[:40]
    return None


# a number as a spreadsheet shows one too long for its cell: 1.23457E+15, 1,23457E+15, 1E+15
_SCIENTIFIC = re.compile(r"[0-9](?:[.,][0-9]+)?[eE][+-]?[0-9]+")
_LOST = "the id is lost: export the file again, without opening and saving it in a spreadsheet"


def _id_lost(row: list[str], ids: tuple[tuple[str, int, int], ...]) -> str | None:
    """Why an id column of the row holds no id any more (id_columns), or None."""
    for column, at, digits in ids:
        cell = row[at].strip()
        if not cell:
            continue
        if _SCIENTIFIC.fullmatch(cell):
            return f"column '{column}': '{cell}' is an id a spreadsheet wrote in scientific notation; {_LOST}"
        if digits and len(cell) < digits and cell.isascii() and cell.isdigit():
            return (
                f"column '{column}': '{cell}' has {len(cell)} digits, not {digits} (id_columns): a spreadsheet "
                f"dropped its leading zeros; {_LOST}"
            )
    return None


def _status_word(word: str) -> str:
    """A status word as status_map is looked up: any case, any run of blanks (no-break too) one space."""
    return " ".join(word.split()).casefold()


def _cells(line: str, delimiter: str) -> frozenset[str] | None:
    try:
        row = next(csv.reader([line.lstrip("\ufeff")], delimiter=delimiter), None)
    except csv.Error:
        return None
    return frozenset(c.strip().casefold() for c in row) if row else None


# strptime's own patterns for the numeric directives (CPython's _strptime.TimeRE), so that the fast
# reader accepts exactly what strptime accepts; other directives fall back to strptime itself.
_DIRECTIVES = {
    "d": r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "Y": r"(?P<Y>\d\d\d\d)",
    "y": r"(?P<y>\d\d)",
    "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "f": r"(?P<f>[0-9]{1,6})",
}
_TIME_DIRECTIVES = frozenset("HIMSfpXcTRrz")
_LOCAL_DIRECTIVES = "%d %m %b %B %a %A %Y %y %H %M %S %f"  # what a date_language other than en reads


def _fast_pattern(fmt: str, names: Names | None = None) -> re.Pattern[str] | None:
    """A regular expression equivalent to strptime for formats of numeric directives, else None.

    With ``names`` (a date_language other than English), also ``%b`` and ``%B`` (group ``b``: the
    month's name) and ``%a`` and ``%A`` (a weekday's name, which strptime checks but does not use)."""
    out: list[str] = []
    used: set[str] = set()
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            directive = fmt[i + 1 : i + 2]
            if directive == "%":
                out.append("%")
            elif directive in _DIRECTIVES and directive not in used:
                out.append(_DIRECTIVES[directive])
                used.add(directive)
            elif names is not None and directive in "bB" and "b" not in used:
                out.append(f"(?P<b>{names.month_pattern})")
                used.add("b")
            elif names is not None and directive in "aA":
                out.append(names.weekday_pattern)
            else:
                return None
            i += 2
            continue
        out.append(r"\s+" if ch.isspace() else re.escape(ch))
        i += 1
    if not ({"Y", "y"} & used and len({"m", "b"} & used) == 1 and "d" in used):
        return None
    return re.compile("".join(out), re.IGNORECASE)


def _date_parser(fmt: str, zone: tzinfo, language: str = ENGLISH) -> Callable[[str], datetime]:
    """The reader of one date column: text -> aware UTC datetime; RecordError names the format.

    ValueError when the format cannot be read in ``language`` (only English has strptime's every
    directive)."""
    if fmt == "iso":

        def iso(text: str) -> datetime:
            try:
                return parse_timestamp(text, zone, field="date")
            except RecordError as exc:
                if not str(exc).endswith("is not an ISO 8601 date-time"):
                    raise
                # the default: the operator may not know there is a key to set
                raise RecordError(
                    f"{exc}, as date_format iso reads; set date_format to the file's format, e.g. %d/%m/%Y %H:%M"
                ) from None

        return iso
    # a format without names reads the same in every language, strptime's directives and all
    named = any(f"%{d}" in fmt.replace("%%", "") for d in "aAbB")
    names = names_of(language) if language != ENGLISH and named else None
    fast = _fast_pattern(fmt, names)
    if names is not None and fast is None:
        raise ValueError(f"date_language {language} reads only {_LOCAL_DIRECTIVES}")
    has_time = any(f"%{d}" in fmt for d in _TIME_DIRECTIVES)
    cache: dict[str, datetime] = {}

    def slow(text: str) -> datetime:
        parsed = datetime.strptime(text, fmt)
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        if not has_time:
            return local_day_bounds(parsed.date(), zone)[0]
        # fold=0, as paycli.dates reads every naive local time (a DST gap or repeated hour)
        return parsed.replace(tzinfo=zone, fold=0).astimezone(UTC)

    read = slow
    if fast is not None:
        match = fast.fullmatch
        at = fast.groupindex
        two_digit_year = "y" in at
        year_at = at["y"] if two_digit_year else at["Y"]
        month_at, day_at = at.get("m", 0), at["d"]
        month_of = names.month if names is not None else {}
        # group 0 (the whole match) means "not in the format"
        hour_at, minute_at, second_at, fraction_at = (at.get(d, 0) for d in "HMSf")

        def read(text: str) -> datetime:
            m = match(text)
            if m is None:
                raise ValueError("no match")
            year = int(m[year_at])
            if two_digit_year:
                year += 2000 if year < 69 else 1900  # strptime's rule for %y
            month = int(m[month_at]) if month_at else month_of[fold(m["b"])]
            if not has_time:
                return local_day_bounds(date(year, month, int(m[day_at])), zone)[0]
            # tzinfo=zone with fold=0 (the default), as paycli.dates reads every naive local time
            return datetime(
                year,
                month,
                int(m[day_at]),
                int(m[hour_at]) if hour_at else 0,
                int(m[minute_at]) if minute_at else 0,
                int(m[second_at]) if second_at else 0,
                int(m[fraction_at].ljust(6, "0")) if fraction_at else 0,
                zone,
            ).astimezone(UTC)

    def parse(text: str) -> datetime:
        hit = cache.get(text)
        if hit is not None:
            return hit
        try:
            result = read(text)
        except (ValueError, OverflowError) as exc:
            problem = str(exc)
            if problem == "no match" or "does not match format" in problem or "unconverted data" in problem:
                raise RecordError(f"date '{text}' does not match date_format '{fmt}'") from None
            # the shape is right, the calendar says no: 31/02, 30/02, 29/02 of a common year
            raise RecordError(
                f"date '{text}' has the shape of date_format '{fmt}' but is no such day or time"
            ) from None
        if len(cache) >= _DATE_CACHE:
            cache.clear()
        cache[text] = result
        return result

    return parse
