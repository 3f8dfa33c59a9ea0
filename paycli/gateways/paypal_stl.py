"""PayPal Settlement Report (STL) files: what really moved on the shop's PayPal balance, day by day.

What PayPal delivers (gateway-formats.md section 7.1; sources: developer.paypal.com settlement report page,
the Settlement Report Specification's revision history, OpenMage/magento-lts
``app/code/core/Mage/Paypal/Model/Report/Settlement.php`` ``parseCsv()`` @cf43f51a and ``Settlement/Row.php``):

- a CSV file, UTF-8 (possibly with a byte-order mark), ``STL-yyyymmdd.sequenceNumber.version.format``;
- every row starts with its type: ``RH`` report header, ``FH`` file header, ``SH`` section header, ``CH``
  column header (the names of the columns of the rows that follow), ``SB`` section body (one transaction),
  ``SF`` section footer, ``SC`` section record count, ``RF`` report footer, ``RC`` report record count,
  ``FF`` file footer;
- an SB row's ``Transaction ID``, ``Invoice ID`` (the merchant's invoice: the request's ``txn_id``), ``PayPal
  Reference ID`` and its type (``TXN`` names the payment a refund or chargeback reverses), ``Transaction
  Event Code`` (the T-code), initiation and completion dates, ``Transaction Debit or Credit`` (``CR``/``DR``),
  ``Gross Transaction Amount`` and currency, ``Fee Debit or Credit``, ``Fee Amount`` and currency,
  ``Custom Field``, ... Amounts are unsigned whole numbers with no separator: the direction is the
  Debit/Credit column.

What paycli makes of it: each SB row is one settlement line (``SettlementRecord``), kept verbatim with the
CH row's text as its context, so that ``reinterpret`` reads a stored line again exactly as ``extract`` did.
The other rows are structure and make no record; the SC and RC record counts are compared with the SB rows
seen, and a disagreement is said in a notice. Columns are found by name in the CH row, loosely: blanks and
case do not count, so ``Transaction  Debit or Credit`` (two spaces, Magento 2 and older OpenMage),
``Transaction Debit or Credit`` and the old ``TransactionDebitOrCredit`` are one column. The file streams
one line at a time (an STL row is one line: a row cut by a line break inside quotes is quarantined rather
than allowed to swallow the lines after it).

- Signs, from the merchant's side (UNCONFIRMED in the formats document; the careful reading): ``CR`` is money
  into the PayPal account, so a payment received is positive, and ``DR`` money out (a refund, a chargeback, a
  withdrawal) negative. The fee is what PayPal kept: a ``DR`` fee is positive, a ``CR`` fee (a fee returned on
  a refund) negative; net = gross - fee.
- Amounts: the specification's own example reads "100,00 yen and $100.00 USD are both represented as 10000",
  and OpenMage divides every amount by 100 whatever the currency; so a value is hundredths of the currency's
  major unit and is converted to its ISO minor units (EUR 3500 -> 3500 cents, JPY 10000 -> 100 yen). A value
  that is not a whole number of the currency's minor units (JPY 10050) is quarantined.
- Dates: ``YYYY/MM/DD HH:MM:SS ±ZZZZ`` (UNCONFIRMED), or ISO 8601 with an offset; a date without an offset
  cannot be placed in time (PayPal writes the account's zone, not the shop's) and, like an unreadable date,
  quarantines the line. ``occurred_at`` is the completion date, else the initiation date.
- Kinds, from the event code (PayPal's T-code list; group T00 payments, T01 fees, T03/T04 bank transfers,
  T11 reversals and refunds, T12 adjustments and chargebacks, T15/T19/T21 holds and corrections): see
  ``_KINDS``. A payment code on a ``DR`` line is the shop paying someone, not a charge it collected: ``other``.
- ``reference``: the column of the configured ``reference_field`` (``invoice`` -> Invoice ID, ``custom`` ->
  Custom Field); ``item_number`` has no column in the report, so lines then carry no reference (a notice
  says so). ``gateway_txn_id`` = Transaction ID; ``parent_txn_id`` = PayPal Reference ID when its type is
  ``TXN``, for every line that is not itself a payment or a bank transfer.
- ``line_id`` (what tells a line met again in another report from a line of its own): the Transaction ID
  with the kind, the currency and the direction (``line_id()``). One Transaction ID can have several lines:
  a currency conversion moves money out of one currency and into another under one id.

The Transaction Detail Report (TRR) shares the row structure but lists transactions that did not move money
(its ``Transactional Status`` column): it is not claimed, and refused when forced on this reader.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

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
from paycli.gateways.callback import shown
from paycli.gateways.lines import Lines, decode_line
from paycli.money import normalise_currency, parse_amount

PREFIX = "paypal STL: "
ENCODING = "auto"  # UTF-8; a line that is not is read as Windows-1252 with a notice (requests.Lines)

TRANSACTION_ID = "Transaction ID"
INVOICE_ID = "Invoice ID"
REFERENCE_ID = "PayPal Reference ID"
REFERENCE_TYPE = "PayPal Reference ID Type"
EVENT_CODE = "Transaction Event Code"
INITIATED = "Transaction Initiation Date"
COMPLETED = "Transaction Completion Date"
DEBIT_CREDIT = "Transaction Debit or Credit"
GROSS = "Gross Transaction Amount"
GROSS_CURRENCY = "Gross Transaction Currency"
FEE_DEBIT_CREDIT = "Fee Debit or Credit"
FEE = "Fee Amount"
FEE_CURRENCY = "Fee Currency"
CUSTOM = "Custom Field"

# Without these a line cannot say what moved or in which direction; the reference column is added to them.
REQUIRED = (TRANSACTION_ID, EVENT_CODE, DEBIT_CREDIT, GROSS, GROSS_CURRENCY, FEE_DEBIT_CREDIT, FEE)
# The configured reference_field of the paypal provider, and the report column that carries it.
REFERENCE_COLUMNS: Mapping[str, str | None] = {"invoice": INVOICE_ID, "custom": CUSTOM, "item_number": None}
# The Transaction Detail Report's column: a file with it is a TRR, not a settlement report.
_TRR_COLUMN = "transactionalstatus"

STRUCTURE = frozenset({"RH", "FH", "SH", "SF", "SC", "RF", "RC", "FF"})

# Event code -> kind. A full code first, else its group (the first three characters), else "other".
# [src: PayPal "Transaction event codes" list; T1107/T1201/T1106 also OpenMage Row.php]
_KINDS: Mapping[str, str] = {
    # T00xx: a payment received (Express Checkout T0006, Website Payments Standard T0007, ...)
    "T00": "charge",
    # T01xx: fees not tied to a payment (T0106 chargeback processing fee, ...)
    "T01": "fee",
    # T03xx deposits from and T04xx withdrawals to the merchant's bank: money between its own accounts
    "T03": "payout",
    "T04": "payout",
    "T1101": "payout",  # reversal of a withdrawal to the bank: the payout came back
    "T1105": "adjustment",  # reversal of an account hold
    "T1106": "chargeback",  # payment reversal initiated by PayPal
    "T1107": "refund",  # payment refund initiated by the merchant
    "T1108": "fee",  # fee reversal
    "T1109": "fee",  # fee refund
    "T1110": "adjustment",  # hold for a dispute investigation
    "T1111": "adjustment",  # cancellation of that hold
    "T1200": "adjustment",  # general account adjustment
    "T1201": "chargeback",
    "T1202": "chargeback",  # chargeback reversal: the money comes back (CR, positive)
    "T1203": "adjustment",  # charge-off adjustment
    "T1204": "adjustment",  # incentive adjustment
    "T1205": "chargeback",  # reimbursement of a chargeback
    "T1207": "chargeback",  # chargeback re-presentment rejection
    "T1208": "chargeback",  # chargeback cancellation
    "T15": "adjustment",  # temporary holds and their releases
    "T19": "adjustment",  # account corrections
    "T21": "adjustment",  # reserves, payment reviews, holds and releases
}
_NO_PARENT = frozenset({"charge", "payout"})

_EVENT_CODE = re.compile(r"T[0-9]{4}")
_DIGITS = re.compile(r"[0-9]+")
# [0-9], not \d: \d would let other scripts' digits through
_STL_DATE = re.compile(
    r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ?([+-])([0-9]{2}):?([0-9]{2})"
)
_IDENTIFY_LINES = 10  # RH, FH, SH, CH come first; the CH row must be among the first lines


def identify(head: bytes) -> bool:
    """A settlement report: its first row is RH (or FH), and a CH row near the top names the STL columns."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    seen = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        seen += 1
        if seen > _IDENTIFY_LINES:
            return False
        try:
            row = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            return False
        row_type = row[0].strip().upper() if row else ""
        if seen == 1 and row_type not in ("RH", "FH"):
            return False
        if row_type == "CH":
            names = {_norm(c) for c in row[1:]}
            wanted = {_norm(c) for c in (TRANSACTION_ID, EVENT_CODE, DEBIT_CREDIT, GROSS)}
            return wanted <= names and _TRR_COLUMN not in names
        if row_type not in STRUCTURE:
            return False
    return False


@dataclass(frozen=True)
class _Header:
    """The columns of a CH row: each name (normalised) and its cell index in the rows that follow it."""

    text: str
    index: Mapping[str, int]
    width: int

    @classmethod
    def parse(cls, text: str, required: tuple[str, ...]) -> _Header:
        row = _row(text)
        if not row or row[0].strip().upper() != "CH":
            raise RecordError("the context is not a CH column header row")
        index: dict[str, int] = {}
        for i, name in enumerate(row[1:], start=1):
            key = _norm(name)
            if not key:
                continue
            if key in index:
                raise RecordError(f"column {_shown(name.strip())} appears twice in the CH row")
            index[key] = i
        if _TRR_COLUMN in index:
            raise RecordError(
                "a Transaction Detail Report (TRR, it has a Transactional Status column), not a settlement "
                "report: its rows include transactions that did not move money"
            )
        missing = [c for c in required if _norm(c) not in index]
        if missing:
            raise RecordError(
                f"the CH column header lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            )
        return cls(text, index, len(row))


class SettlementReport:
    """Reads STL files for the paypal provider, with the column that carries the request's txn_id."""

    def __init__(self, reference_field: str) -> None:
        self.reference_field = reference_field
        self.reference_column = REFERENCE_COLUMNS.get(reference_field, INVOICE_ID)
        self.required = REQUIRED + ((self.reference_column,) if self.reference_column else ())

    def extract(self, source: Source) -> Iterator[Record]:
        stream = source.open()
        try:
            yield from self._lines(Lines(stream, source.name, ENCODING), source.name)
        finally:
            stream.close()

    def _lines(self, lines: Lines, name: str) -> Iterator[Record]:
        if self.reference_column is None:
            yield Notice(
                f"{name}: {PREFIX}reference_field {self.reference_field} has no column in a settlement "
                "report: its lines are stored without a reference"
            )
        header: _Header | None = None
        # a CH row after the first that cannot be read: its text (the context of the rows under it, so
        # that reprocess reads them once it can) and why
        broken: tuple[str, str] | None = None
        in_section = in_report = 0  # SB rows since the section header, and since the report header
        report_here = False  # the report starts in this file (a report may span several)
        for number, text, raw in lines:
            if not text.strip():
                continue
            context = broken[0] if broken is not None else header.text if header is not None else None
            origin = Origin(number, raw, context)
            if (why := lines.overlong(number)) is not None:
                yield QuarantinedRecord(origin, PREFIX + why)
                continue
            try:
                row = _row(text)
            except RecordError as exc:
                yield QuarantinedRecord(origin, PREFIX + str(exc))
                continue
            row_type = row[0].strip().upper()
            if row_type == "SB":
                in_section += 1
                in_report += 1
                if broken is not None:
                    yield QuarantinedRecord(origin, f"{PREFIX}{broken[1]}")
                else:
                    yield self._body(origin, header, row)
            elif row_type == "CH":
                try:
                    header, broken = _Header.parse(text.rstrip("\r\n"), self.required), None
                except RecordError as exc:
                    if header is None and broken is None:  # the first: nothing in the file can be read
                        raise SourceError(f"{PREFIX}line {number}: {exc}") from exc
                    # a later one: the rows before it are read; the ones under it are kept quarantined,
                    # each naming it, with it as their context (reprocess reads them once it can)
                    broken = (
                        text.rstrip("\r\n"),
                        f"under the CH row of line {number}, which cannot be read: {exc}",
                    )
            elif row_type == "RH":
                report_here, in_report, in_section = True, 0, 0
            elif row_type == "SH":
                in_section = 0
            elif row_type == "SC":
                yield from _count_notice(name, number, "section record count (SC)", row, in_section)
                in_section = 0
            elif row_type == "RC" and report_here:
                yield from _count_notice(name, number, "report record count (RC)", row, in_report)
            elif row_type not in STRUCTURE:
                yield QuarantinedRecord(origin, f"{PREFIX}row type {_shown(row[0])} is not an STL row type")
        if header is None:
            yield Notice(f"{name}: {PREFIX}no CH column header row: no transaction could be read")
        elif not in_report:
            yield Notice(f"{name}: {PREFIX}no SB rows: no transaction in this report")
        yield from lines.notices()

    def reinterpret(self, origin: Origin) -> Record:
        text = decode_line(origin.raw, ENCODING)[0]
        try:
            row = _row(text)
        except RecordError as exc:
            return QuarantinedRecord(origin, PREFIX + str(exc))
        row_type = row[0].strip().upper()
        if row_type != "SB":
            return QuarantinedRecord(origin, f"{PREFIX}row type {_shown(row[0])} is not an STL row type")
        header = None
        if origin.context is not None:
            try:
                header = _Header.parse(origin.context, self.required)
            except RecordError as exc:
                return QuarantinedRecord(origin, PREFIX + str(exc))
        return self._body(origin, header, row)

    # -- one SB row ----------------------------------------------------------------------------
    def _body(self, origin: Origin, header: _Header | None, row: list[str]) -> Record:
        if header is None:
            return QuarantinedRecord(origin, f"{PREFIX}SB row before any CH column header row")
        try:
            return self._settlement(origin, header, row)
        except RecordError as exc:
            return QuarantinedRecord(origin, PREFIX + str(exc))

    def _settlement(self, origin: Origin, header: _Header, row: list[str]) -> SettlementRecord:
        if len(row) != header.width:
            raise RecordError(f"expected {header.width} cells as in the CH row, found {len(row)}")

        def cell(column: str) -> str:
            i = header.index.get(_norm(column))
            return row[i].strip() if i is not None else ""

        txn_id = cell(TRANSACTION_ID)
        if not txn_id:
            raise RecordError(f"{TRANSACTION_ID} is empty")
        code = cell(EVENT_CODE).upper()
        if not _EVENT_CODE.fullmatch(code):
            raise RecordError(f"{EVENT_CODE} '{_shown(code)}' is not a T-code (T and four digits)")
        direction = _direction(cell(DEBIT_CREDIT), DEBIT_CREDIT)
        currency = _currency(cell(GROSS_CURRENCY), GROSS_CURRENCY)
        gross = direction * _amount(cell(GROSS), GROSS, currency)

        fee_currency = cell(FEE_CURRENCY)
        if fee_currency and _currency(fee_currency, FEE_CURRENCY) != currency:
            # one settlement line holds one currency: a fee in another could not be netted
            raise RecordError(f"the fee is in {_shown(fee_currency.upper())}, the gross amount in {currency}")
        fee_text, fee_direction = cell(FEE), cell(FEE_DEBIT_CREDIT)
        fee = _amount(fee_text, FEE, currency) if fee_text or fee_direction else 0
        if fee or fee_direction:
            # what PayPal kept: a fee debited from the merchant (DR) is positive, one returned (CR) negative
            fee *= -_direction(fee_direction, FEE_DEBIT_CREDIT)

        occurred = _date(cell(COMPLETED), COMPLETED)
        initiated = _date(cell(INITIATED), INITIATED)
        kind = _kind(code, direction)
        parent = None
        if kind not in _NO_PARENT and cell(REFERENCE_TYPE).upper() == "TXN":
            parent = cell(REFERENCE_ID) or None
        reference = (cell(self.reference_column) or None) if self.reference_column else None
        return SettlementRecord(
            origin,
            kind=kind,
            gateway_txn_id=txn_id,
            reference=reference,
            gross_minor=gross,
            fee_minor=fee,
            net_minor=gross - fee,
            currency=currency,
            occurred_at=occurred or initiated,
            parent_txn_id=parent,
            line_id=line_id(txn_id, kind, currency, gross),
        )


def line_id(txn_id: str, kind: str, currency: str, gross_minor: int) -> str:
    """What identifies an STL line across reports (also how migration 0006 rewrote stored ones)."""
    return f"{txn_id}:{kind}:{currency}:{'DR' if gross_minor < 0 else 'CR'}"


# -- cells -----------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    """A column name compared loosely: no blanks (one space or two, or none), no case."""
    return "".join(name.split()).casefold()


def _row(text: str) -> list[str]:
    """The cells of one line; strict, so that a stray quote is an error, not a silently merged cell."""
    try:
        row = next(csv.reader([text], strict=True), [])
    except csv.Error as exc:
        raise RecordError(f"not a well-formed CSV row ({exc})") from None
    if not row or not row[0].strip():
        raise RecordError("the row has no row type in its first cell")
    return row


def _kind(code: str, direction: int) -> str:
    kind = _KINDS.get(code) or _KINDS.get(code[:3]) or "other"
    if kind == "charge" and direction < 0:
        return "other"  # the shop paid someone from its PayPal balance: not money it collected
    return kind


def _direction(text: str, column: str) -> int:
    """+1 for CR (money into the merchant's account), -1 for DR (money out)."""
    word = text.upper()
    if word == "CR":
        return 1
    if word == "DR":
        return -1
    if not word:
        raise RecordError(f"{column} is empty")
    raise RecordError(f"{column} '{_shown(text)}' is neither CR nor DR")


def _currency(text: str, column: str) -> str:
    try:
        return normalise_currency(text)
    except RecordError as exc:
        raise RecordError(f"{column}: {exc}") from None


def _amount(text: str, column: str, currency: str) -> int:
    """An unsigned count of hundredths of the major unit (any currency) as the currency's minor units."""
    if not _DIGITS.fullmatch(text):
        what = "empty" if not text else f"'{_shown(text)}' is not"
        raise RecordError(f"{column} {what} an unsigned whole number (hundredths, no separator)")
    whole, hundredths = text[:-2] or "0", text[-2:].rjust(2, "0")
    try:
        return parse_amount(f"{whole}.{hundredths}", currency)
    except RecordError as exc:
        raise RecordError(f"{column} '{_shown(text)}' ({whole}.{hundredths} {currency}): {exc}") from None


def _date(text: str, column: str) -> datetime | None:
    """``YYYY/MM/DD HH:MM:SS ±ZZZZ`` or ISO 8601 with an offset, as aware UTC; None when empty."""
    if not text:
        return None
    bad = RecordError(
        f"{column} '{_shown(text)}' is not a date-time with an offset "
        "(YYYY/MM/DD HH:MM:SS ±ZZZZ, or ISO 8601)"
    )
    try:
        m = _STL_DATE.fullmatch(text)
        if m is not None:
            year, month, day, hour, minute, second, sign, oh, om = m.groups()
            offset = timedelta(hours=int(oh), minutes=int(om))
            zone = timezone(-offset if sign == "-" else offset)
            values = (int(year), int(month), int(day), int(hour), int(minute), int(second))
            return datetime(*values, tzinfo=zone).astimezone(UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise bad from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise RecordError(f"{column} '{_shown(text)}' has no UTC offset: the time cannot be placed")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise bad from None


def _count_notice(name: str, number: int, what: str, row: list[str], seen: int) -> Iterator[Notice]:
    # The footer cell layouts are UNCONFIRMED: a count that is not a number is not ours to judge.
    stated = row[1].strip() if len(row) > 1 else ""
    if _DIGITS.fullmatch(stated) and int(stated) != seen:
        yield Notice(
            f"{name}:{number}: {PREFIX}the {what} says {int(stated)}, but {seen} SB "
            f"row{'' if seen == 1 else 's'} came before it"
        )


def _shown(text: str) -> str:
    return shown(text, 60)
