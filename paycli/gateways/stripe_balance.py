"""Stripe balance reports: the itemized "Balance change from activity" CSV, one settlement line a row.

Stripe's balance report (``balance_change_from_activity.itemized.1``, ``.2`` and ``.3``, run from the
Dashboard or the Reports API) is a CSV with a header row of column ids that the merchant chooses
(the ``columns`` run parameter); every row is one balance transaction: money that really moved
(gateway-formats.md section 7.2, from https://docs.stripe.com/reports/report-types/balance and
https://docs.stripe.com/reports/reporting-categories; the column definitions are secondary sources
quoting Stripe, as the formats document says). The other itemized reports built on balance
transactions (``payouts.itemized.*``, ``ending_balance_reconciliation.itemized.*``) have the same
columns and are read the same way.

What it needs, and what it uses when present:

- needed (a header without one of them is refused, naming it): ``balance_transaction_id``,
  ``currency``, ``gross``, ``fee``, ``net``, ``reporting_category``, and ``created_utc`` or ``created``:
  a line without a time falls in no report's period, so it would be stored and never seen (a row whose
  time is empty is quarantined for the same reason). Which columns a report has by default is
  UNCONFIRMED, so nothing else is required;
- used when present: ``available_on_utc`` (else ``available_on``), ``payment_intent_id``, ``charge_id``, ``source_id`` and
  ``payment_metadata[<key>]``, where ``<key>`` is the provider's ``reference_key`` setting (default
  ``txn_id``): the metadata key that holds the shop's txn_id, the one the webhooks are read with.

How it maps a row to a ``SettlementRecord``:

- kind, from ``reporting_category``: ``charge`` -> charge, ``refund`` -> refund, ``dispute`` ->
  chargeback, ``fee`` -> fee, ``payout`` -> payout; the categories that correct an earlier line
  (``dispute_reversal``, ``refund_failure``, ``partial_capture_reversal``, ``charge_failure``,
  ``payout_reversal``, ``other_adjustment``) -> adjustment; every other category (``transfer``,
  ``topup``, ``tax``, categories Stripe adds later...) -> other, never an error;
- money: the report writes MAJOR units as decimals ("Expressed in major units of the currency"; the
  API's integer minor units are not used here), already signed from the merchant's balance: a charge
  positive, a refund or a dispute negative, the fee what Stripe kept, ``net = gross - fee``. The values
  are taken as they are, and a row that contradicts that convention (a negative charge, a positive
  refund, a net that is not gross minus fee) is quarantined rather than stored with a wrong sign. A
  report run with ``decimal_separator=","`` is read too, where a comma cannot be anything else (exactly
  the currency's decimals after it, no dot);
- currency: lower-case in the report (UNCONFIRMED: any case is accepted), upper-cased;
- gateway_txn_id: the PaymentIntent id when the row has one (the webhook reader keys every response
  by it, so settled lines and responses match), else the charge id, else ``source_id``, else the
  balance transaction id itself (a charge id finds its PaymentIntent in reports through the aliases
  the webhooks name: ``gateway_alias``); parent_txn_id, for a refund, a chargeback or an adjustment: the
  PaymentIntent (else the charge) it reverses;
- dates: the ``*_utc`` columns are UTC, written ``YYYY-MM-DD HH:MM:SS`` (UNCONFIRMED: ISO 8601 with a
  ``T``, an offset or only a date is accepted too). ``created``/``available_on`` are in the report's
  time zone, which the file does not say: they are read only when the ``*_utc`` column is absent, in the
  zone of a ``timezone`` column when the row has one, else in the configured timezone (the zone the
  shop's Dashboard most likely shows). An unreadable date quarantines the row.

The file streams through one line at a time with ``paycli.gateways.lines.Lines``
(paycli/gateways/requests.py), so a report of any size keeps memory flat. Each row is stored verbatim
with its line number and the header row as context, so that ``reinterpret`` (``paycli reprocess``)
reads it again through the same code. A row that cannot be read is quarantined with the reason and
the rest of the file goes on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from paycli.dates import UTC, get_zone, parse_timestamp
from paycli.errors import RecordError
from paycli.gateways.base import (
    Notice,
    Origin,
    QuarantinedRecord,
    Record,
    SettlementRecord,
    Source,
    SourceError,
)
from paycli.gateways.lines import Lines, csv_problem, decode_line, split_lines
from paycli.money import exponent, normalise_currency, parse_amount

__all__ = ["REQUIRED", "BalanceReport", "is_balance_report", "kind_of"]

REQUIRED = ("balance_transaction_id", "currency", "gross", "fee", "net", "reporting_category")
OPTIONAL = (
    "created_utc",
    "created",
    "available_on_utc",
    "available_on",
    "payment_intent_id",
    "charge_id",
    "source_id",
    "timezone",
    "customer_facing_amount",
    "customer_facing_currency",
)
# What identify looks for: only Stripe's balance-transaction reports have both columns.
_MARK = frozenset({"balance_transaction_id", "reporting_category"})
_METADATA = "payment_metadata["
_ID_LIMIT = 128  # the width of the store's gateway_txn_id, parent_txn_id and reference columns
_ENCODING = "auto"  # Stripe writes UTF-8; a line re-saved as Windows-1252 is read so, with a notice

_KINDS = {"charge": "charge", "refund": "refund", "dispute": "chargeback", "fee": "fee", "payout": "payout"}
# Categories that correct an earlier line (https://docs.stripe.com/reports/reporting-categories).
_ADJUSTMENTS = frozenset(
    {
        "dispute_reversal",
        "refund_failure",
        "partial_capture_reversal",
        "charge_failure",
        "payout_reversal",
        "other_adjustment",
    }
)
_REVERSING = frozenset({"refund", "chargeback", "adjustment"})  # kinds that name the payment they reverse
_COMMA_DECIMAL = re.compile(r"-?[0-9]+,([0-9]+)")


def is_balance_report(head: bytes) -> bool:
    """True when the first line of ``head`` is the header of a Stripe balance-transaction report."""
    cells = _cells(_first_line(head))
    return {c.lower() for c in cells} >= _MARK


def kind_of(category: str) -> str:
    """The settlement kind of a ``reporting_category``."""
    category = category.strip().lower()
    if category in _KINDS:
        return _KINDS[category]
    return "adjustment" if category in _ADJUSTMENTS else "other"


class _HeaderError(Exception):
    """The header row cannot be read as a balance report; the text says why."""


@dataclass(frozen=True)
class _Layout:
    """Where each column of one header row is."""

    width: int
    index: Mapping[str, int]  # column id (lower case) -> position, for the columns read
    reference: int | None  # the payment_metadata[<reference_key>] column, when the report has it


class BalanceReport:
    """Reads Stripe balance reports for the ``stripe`` provider (see the module docstring)."""

    def __init__(self, reference_key: str, timezone: tzinfo) -> None:
        self.reference_key = reference_key
        self.timezone = timezone  # for created/available_on, which carry no zone
        self._layouts: dict[str, _Layout] = {}

    # -- a whole file --------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        stream = source.open()
        try:
            lines = Lines(stream, source.name, _ENCODING)
            if lines.peek_first() is None:
                yield Notice(f"{source.name}: empty file, nothing to ingest")
                return
            reader = csv.reader(lines.text())
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise SourceError(f"stripe: the header row is not CSV ({exc})") from None
            if header is None:
                return
            context = lines.consumed_text()
            lines.take_raw()
            try:
                layout = self._layout(header)
            except _HeaderError as exc:
                raise SourceError(str(exc)) from None
            self._layouts[context] = layout
            if layout.reference is None:
                yield Notice(
                    f"{source.name}: no {_METADATA}{self.reference_key}] column, so its lines carry no "
                    "txn_id of the shop (add the column to the report, or set gateways.stripe.reference_key)"
                )
            yield from self._rows(lines, reader, layout, context)
            yield from lines.notices()
        finally:
            stream.close()

    def _rows(
        self, lines: Lines, reader: Iterator[list[str]], layout: _Layout, context: str
    ) -> Iterator[Record]:
        for item in lines.rows(reader, context, prefix="stripe: "):
            if isinstance(item, QuarantinedRecord):
                yield item
            else:
                yield self._interpret(layout, item[0], item[1])

    # -- one stored line -----------------------------------------------------------------------
    def reinterpret(self, origin: Origin) -> Record:
        if origin.context is None:
            return QuarantinedRecord(origin, "stripe: a report line stored without its header row")
        layout = self._layouts.get(origin.context)
        if layout is None:
            try:
                layout = self._layout(_cells(origin.context))
            except _HeaderError as exc:
                return QuarantinedRecord(origin, str(exc))
            if len(self._layouts) > 100:
                self._layouts.clear()
            self._layouts[origin.context] = layout
        text = decode_line(origin.raw, _ENCODING)[0]  # as Lines decoded it; "auto" never fails
        try:
            rows = list(csv.reader(split_lines(text)))
        except csv.Error as exc:
            return QuarantinedRecord(origin, f"stripe: not a CSV record ({csv_problem(exc)})")
        if len(rows) != 1:
            return QuarantinedRecord(origin, f"stripe: expected one CSV record, found {len(rows)}")
        return self._interpret(layout, origin, rows[0])

    # -- the header ----------------------------------------------------------------------------
    def _layout(self, header: Sequence[str]) -> _Layout:
        names = [cell.strip() for cell in header]
        wanted = set(REQUIRED) | set(OPTIONAL)
        reference_column = f"{_METADATA}{self.reference_key}]"
        index: dict[str, int] = {}
        reference: int | None = None
        twice: list[str] = []
        for i, name in enumerate(names):
            lowered = name.lower()
            # metadata keys are case-sensitive at Stripe: only the column's prefix is compared loosely
            if lowered.startswith(_METADATA) and name[len(_METADATA) :] == reference_column[len(_METADATA) :]:
                if reference is not None:
                    twice.append(name)
                reference = i
            elif lowered in wanted:
                if lowered in index:
                    twice.append(lowered)
                index[lowered] = i
        missing = [c for c in REQUIRED if c not in index]
        if missing:
            raise _HeaderError(
                f"stripe: the balance report has no column {', '.join(missing)} "
                f"(the header has: {', '.join(names)})"
            )
        if "created_utc" not in index and "created" not in index:
            raise _HeaderError(
                "stripe: the balance report has no column created_utc or created: without it no line "
                f"falls in a report's period (add it to the report's columns; the header has: {', '.join(names)})"
            )
        if twice:
            raise _HeaderError(f"stripe: column {', '.join(sorted(set(twice)))} appears twice in the header")
        return _Layout(len(names), index, reference)

    # -- one row -------------------------------------------------------------------------------
    def _interpret(self, layout: _Layout, origin: Origin, row: Sequence[str]) -> Record:
        if len(row) != layout.width:
            return QuarantinedRecord(origin, f"stripe: expected {layout.width} fields, found {len(row)}")
        try:
            return self._settlement(layout, origin, row)
        except RecordError as exc:
            return QuarantinedRecord(origin, f"stripe: {exc}")

    def _settlement(self, layout: _Layout, origin: Origin, row: Sequence[str]) -> SettlementRecord:
        def cell(column: str) -> str:
            i = layout.index.get(column)
            return row[i].strip() if i is not None else ""

        balance_txn = _required(cell("balance_transaction_id"), "balance_transaction_id")
        category = _required(cell("reporting_category"), "reporting_category")
        currency = normalise_currency(cell("currency"))
        gross = _money(cell("gross"), "gross", currency)
        fee = _money(cell("fee"), "fee", currency)
        net = _money(cell("net"), "net", currency)
        if net != gross - fee:
            raise RecordError(
                f"net {cell('net')} is not gross {cell('gross')} minus fee {cell('fee')}: "
                "a damaged or shifted line"
            )
        kind = kind_of(category)
        # Stripe reports a charge as money in and a refund or dispute as money out: a row that says
        # otherwise was re-signed on its way here, and storing it would count it the wrong way round.
        if kind == "charge" and gross < 0:
            raise RecordError(f"a charge with a negative gross {cell('gross')}")
        if kind in ("refund", "chargeback") and gross > 0:
            raise RecordError(
                f"a {category} with a positive gross {cell('gross')}: Stripe reports it negative"
            )
        # a charge in another currency than the balance's: gross is what was settled, after conversion;
        # the request is compared with what the customer was charged
        charged_minor = charged_currency = None
        if cell("customer_facing_amount") and cell("customer_facing_currency"):
            try:
                charged_currency = normalise_currency(cell("customer_facing_currency"))
            except RecordError as exc:
                raise RecordError(f"customer_facing_currency: {exc}") from None
            charged_minor = _money(cell("customer_facing_amount"), "customer_facing_amount", charged_currency)
        payment = cell("payment_intent_id") or cell("charge_id") or None
        gateway_txn_id = payment or cell("source_id") or balance_txn
        parent = payment if kind in _REVERSING else None
        reference = (row[layout.reference].strip() or None) if layout.reference is not None else None
        for what, value in (("id", gateway_txn_id), ("id", parent), (self.reference_key, reference)):
            if value is not None and len(value) > _ID_LIMIT:
                raise RecordError(f"{what} '{value[:20]}...' is longer than {_ID_LIMIT} characters")

        def zone() -> tzinfo:
            # asked only for a local column: a bad timezone cell beside the UTC columns harms nothing
            return self._zone(cell("timezone"))

        return SettlementRecord(
            origin,
            kind=kind,
            gateway_txn_id=gateway_txn_id,
            reference=reference,
            gross_minor=gross,
            fee_minor=fee,
            net_minor=net,
            currency=currency,
            occurred_at=_created(layout, cell, zone),
            available_on=_when(layout, cell, "available_on", zone),
            parent_txn_id=parent,
            line_id=balance_txn,
            charged_minor=charged_minor,
            charged_currency=charged_currency,
        )

    def _zone(self, name: str) -> tzinfo:
        if not name:
            return self.timezone
        try:
            return get_zone(name)
        except ValueError:
            raise RecordError(f"timezone '{name}' is not a time zone") from None


# -- small pieces ----------------------------------------------------------------------------------
def _required(value: str, column: str) -> str:
    if not value:
        raise RecordError(f"{column} is empty")
    return value


def _money(text: str, column: str, currency: str) -> int:
    """Major units as the report writes them ("49.90", "-64.00"), as signed minor units."""
    if not text:
        raise RecordError(f"{column} is empty")
    mark = "."
    comma = _COMMA_DECIMAL.fullmatch(text)
    if comma is not None and len(comma[1]) == exponent(currency):
        mark = ","  # a report run with decimal_separator="," and nothing else it could mean
    try:
        return parse_amount(text, currency, decimal_mark=mark, allow_negative=True)
    except RecordError as exc:
        reason = str(exc)
        # parse_amount speaks of "amount '...'": name the column instead
        raise RecordError(
            column + reason[len("amount") :] if reason.startswith("amount ") else reason
        ) from None


def _created(layout: _Layout, cell: Callable[[str], str], zone: Callable[[], tzinfo]) -> datetime:
    """When the balance transaction was created: what places the line in a report's period."""
    when = _when(layout, cell, "created", zone)
    if when is None:
        name = "created_utc" if "created_utc" in layout.index else "created"
        raise RecordError(f"{name} is empty: the line would fall in no report's period")
    return when


def _when(
    layout: _Layout, cell: Callable[[str], str], column: str, zone: Callable[[], tzinfo]
) -> datetime | None:
    """The instant of ``<column>_utc``, else of ``<column>`` in ``zone()``; None when the row has neither."""
    utc = f"{column}_utc"
    name = utc if utc in layout.index else column if column in layout.index else None
    if name is None:
        return None
    text = cell(name)
    if not text:
        return None
    # parse_timestamp: ISO 8601 (the report's "YYYY-MM-DD HH:MM:SS" is one), a date alone is the start of
    # that day, a time without an offset is a wall time in the zone given
    return parse_timestamp(text, UTC if name == utc else zone(), field=name)


def _first_line(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _cells(text: str) -> list[str]:
    """The cells of one CSV record (a header row), stripped; none when it is not CSV."""
    try:
        row = next(csv.reader(split_lines(text)), None)
    except csv.Error:
        return []
    return [c.strip() for c in row] if row else []
