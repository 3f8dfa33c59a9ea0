"""The PayPal Settlement Report (STL) reader, read as a specification (gateway-formats.md section 7.1).

Reports are built from the formats document's 3-row example: ``report()`` wraps SB rows in the structure
rows (RH, FH, SH, CH, SF, SC, RF, RC, FF) and ``sb()`` builds one SB row from the example's cells.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paycli import gateways
from paycli.config import Config
from paycli.gateways.base import (
    Notice,
    Origin,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    SettlementRecord,
    Source,
    SourceError,
)
from paycli.gateways.paypal import PayPalProvider
from paycli.gateways.paypal_stl import SettlementReport, identify
from paycli.ingest import Ingest
from paycli.store import Store
from tests.conftest import REQUEST_HEADER
from tests.gateways.test_paypal import ipn

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "gateways" / "samples"
OUR_SAMPLE = SAMPLES / "paypal" / "settlement" / "STL-20240515.01.009.CSV"

COLUMNS = [
    "Transaction ID",
    "Invoice ID",
    "PayPal Reference ID",
    "PayPal Reference ID Type",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Completion Date",
    "Transaction  Debit or Credit",  # two spaces, as Magento 2 spells it
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Fee Debit or Credit",
    "Fee Amount",
    "Fee Currency",
    "Custom Field",
    "Consumer ID",
    "Payment Tracking ID",
    "Store ID",
    "Bank Reference ID",
    "Credit Transactional Fee",
    "Credit Promotional Fee",
    "Credit Term",
]
DEBIT_CREDIT = "Transaction  Debit or Credit"
CH = ",".join(f'"{c}"' for c in ["CH", *COLUMNS])
DATE = "2024/05/14 03:12:45 -0700"
CHARGE = {
    "Transaction ID": "8HX51634YV2873511",
    "Invoice ID": "ORD-PP-2001",
    "PayPal Reference ID": "",
    "PayPal Reference ID Type": "",
    "Transaction Event Code": "T0007",
    "Transaction Initiation Date": DATE,
    "Transaction Completion Date": DATE,
    DEBIT_CREDIT: "CR",
    "Gross Transaction Amount": "3500",
    "Gross Transaction Currency": "EUR",
    "Fee Debit or Credit": "DR",
    "Fee Amount": "154",
    "Fee Currency": "EUR",
    "Custom Field": "cliente=1042",
    "Consumer ID": "sara.greco@example.com",
}
REFUND = {
    **CHARGE,
    "Transaction ID": "3KM91188QW5507263",
    "PayPal Reference ID": "8HX51634YV2873511",
    "PayPal Reference ID Type": "TXN",
    "Transaction Event Code": "T1107",
    DEBIT_CREDIT: "DR",
    "Fee Debit or Credit": "CR",
    "Fee Amount": "92",
}
UNQUOTED = {
    "Transaction Initiation Date",
    "Transaction Completion Date",
    "Gross Transaction Amount",
    "Fee Amount",
}


def line(values: Mapping[str, str]) -> str:
    """An SB row with these values by column (missing columns empty), quoted as PayPal quotes text."""
    cells = [
        v if c in UNQUOTED and v and "," not in v else f'"{v}"' for c in COLUMNS for v in [values.get(c, "")]
    ]
    return ",".join(['"SB"', *cells])


def sb(**changes: str) -> str:
    """The example's charge with ``changes`` (underscores for blanks; Debit_or_Credit for the gross's)."""
    named = {DEBIT_CREDIT if k == "Debit_or_Credit" else k.replace("_", " "): v for k, v in changes.items()}
    return line({**CHARGE, **named})


def report(
    *rows: str, header: str = CH, count: int | None = None, bom: bool = False, eol: str = "\r\n"
) -> bytes:
    n = len(rows) if count is None else count
    lines = [
        '"RH",2024/05/15 03:02:13 -0700,"A","ZQ9XK2L7M4N5P",009',
        '"FH",01',
        '"SH",2024/05/14 00:00:00 -0700,2024/05/14 23:59:59 -0700,"ZQ9XK2L7M4N5P",""',
        header,
        *rows,
        '"SF","EUR","CR",3500,"DR",0',
        f'"SC",{n}',
        '"RF","EUR","CR",3500,"DR",0',
        f'"RC",{n}',
        '"FF",01',
    ]
    return (b"\xef\xbb\xbf" if bom else b"") + eol.join(lines).encode() + eol.encode()


@pytest.fixture
def paypal(config: Config) -> PayPalProvider:
    return PayPalProvider("paypal", {"reference_field": "invoice"}, config)


def source(data: bytes, name: str = "STL-20240515.01.009.CSV") -> Source:
    return Source.from_stream(name, io.BytesIO(data))


def extract(provider: PayPalProvider, data: bytes) -> list[Record]:
    return list(provider.extract(source(data)))


def lines_of(provider: PayPalProvider, data: bytes) -> list[SettlementRecord | QuarantinedRecord]:
    records = [r for r in extract(provider, data) if not isinstance(r, Notice)]
    assert all(isinstance(r, SettlementRecord | QuarantinedRecord) for r in records), records
    return records  # type: ignore[return-value]


def one(provider: PayPalProvider, *rows: str) -> SettlementRecord | QuarantinedRecord:
    (record,) = lines_of(provider, report(*rows))
    assert isinstance(record, SettlementRecord | QuarantinedRecord), record
    return record


def settled(provider: PayPalProvider, *rows: str) -> SettlementRecord:
    record = one(provider, *rows)
    assert isinstance(record, SettlementRecord), record
    return record


def quarantined(provider: PayPalProvider, *rows: str) -> str:
    record = one(provider, *rows)
    assert isinstance(record, QuarantinedRecord), record
    return record.reason


def notices(provider: PayPalProvider, data: bytes) -> list[str]:
    return [r.message for r in extract(provider, data) if isinstance(r, Notice)]


# -- identify ----------------------------------------------------------------------------------------
def test_it_claims_a_settlement_report(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(report(sb())))


def test_it_claims_a_report_with_a_byte_order_mark(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(report(sb(), bom=True)))


def test_it_claims_a_report_with_unix_line_ends(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(report(sb(), eol="\n")))


def test_it_claims_a_report_without_transactions(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(report()))


@pytest.mark.parametrize("spelling", ["Transaction Debit or Credit", "TransactionDebitOrCredit"])
def test_it_claims_the_other_spellings_of_the_debit_credit_column(
    paypal: PayPalProvider, spelling: str
) -> None:
    header = CH.replace("Transaction  Debit or Credit", spelling)
    assert paypal.identify(source(report(sb(), header=header)))


def test_it_still_claims_ipn_bodies(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(ipn(), name="ipn.txt"))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            (
                REQUEST_HEADER
                + "ORD-PP-2001-1,ORD-PP-2001,order,2024-05-14T12:05:00+02:00,Rossi,,35.00,EUR,paypal\n"
            ).encode(),
            id="shop request CSV",
        ),
        pytest.param(
            b"balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category\n"
            b"txn_3PGq,2024-05-14 09:59:21,2024-05-21 00:00:00,eur,49.90,1.00,48.90,charge\n",
            id="stripe balance report",
        ),
        pytest.param(report(sb()).replace(b'"RH"', b'"XX"'), id="a first row that is no STL row"),
        pytest.param(
            b'"RH",2024/05/15 03:02:13 -0700,"A","ZQ9XK2L7M4N5P",009\r\n"FH",01\r\n', id="no CH row"
        ),
        pytest.param(
            report(sb(), header=CH.replace('"Gross Transaction Amount",', "")),
            id="CH without the gross amount",
        ),
        pytest.param(
            report(sb() + ',""', header=CH + ',"Transactional Status"'),
            id="a transaction detail report (TRR)",
        ),
        pytest.param(
            b'"RH",2024\r\n' + b'"FH",01\r\n' * 12 + CH.encode() + b"\r\n", id="CH too far from the top"
        ),
        pytest.param(bytes(range(256)) * 4, id="binary file"),
        pytest.param(report(sb()).decode().encode("utf-16"), id="UTF-16"),
        pytest.param(b"", id="empty file"),
    ],
)
def test_it_refuses_what_is_not_a_settlement_report(paypal: PayPalProvider, data: bytes) -> None:
    assert not identify(data)
    assert not paypal.identify(source(data, name="x.csv"))


def every_sample_file() -> Iterator[Path]:
    for folder in (SAMPLES, ROOT / "demo" / "data"):
        yield from (p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".py", ".db"))


def test_of_every_sample_and_demo_file_it_claims_only_the_settlement_report() -> None:
    claimed = sorted(p for p in every_sample_file() if identify(Source.from_path(p).head))
    overlap = SAMPLES / "paypal" / "settlement-overlap"
    assert claimed == sorted(
        [OUR_SAMPLE, overlap / "STL-20240515.01.009.CSV", overlap / "STL-20240516.01.009.CSV"]
    )


# -- what a line means --------------------------------------------------------------------------------
def test_only_sb_rows_become_records(paypal: PayPalProvider) -> None:
    records = lines_of(paypal, report(sb(), line(REFUND)))
    assert [type(r) for r in records] == [SettlementRecord, SettlementRecord]
    assert [r.origin.line for r in records] == [5, 6]


def test_a_payment_received_is_a_charge_positive_with_its_fee(paypal: PayPalProvider) -> None:
    record = settled(paypal, sb())
    assert (record.kind, record.gross_minor, record.fee_minor, record.net_minor) == (
        "charge",
        3500,
        154,
        3346,
    )
    assert (record.currency, record.gateway_txn_id, record.reference) == (
        "EUR",
        "8HX51634YV2873511",
        "ORD-PP-2001",
    )
    assert record.parent_txn_id is None


def test_a_refund_is_negative_with_the_fee_given_back_and_names_its_payment(paypal: PayPalProvider) -> None:
    record = settled(paypal, line(REFUND))
    assert (record.kind, record.gross_minor, record.fee_minor, record.net_minor) == (
        "refund",
        -3500,
        -92,
        -3408,
    )
    assert (record.gateway_txn_id, record.parent_txn_id) == ("3KM91188QW5507263", "8HX51634YV2873511")
    assert record.reference == "ORD-PP-2001"


@pytest.mark.parametrize(
    ("code", "direction", "kind"),
    [
        ("T0006", "CR", "charge"),  # Express Checkout
        ("T0007", "CR", "charge"),  # Website Payments Standard
        ("T0000", "DR", "other"),  # the shop paid someone: not a charge it collected
        ("T0106", "DR", "fee"),  # chargeback processing fee
        ("T0400", "DR", "payout"),  # withdrawal to the bank
        ("T0300", "CR", "payout"),  # funding from the bank
        ("T1101", "CR", "payout"),  # a withdrawal that came back
        ("T1106", "DR", "chargeback"),  # payment reversal initiated by PayPal
        ("T1107", "DR", "refund"),
        ("T1108", "CR", "fee"),  # fee reversal
        ("T1201", "DR", "chargeback"),
        ("T1202", "CR", "chargeback"),  # chargeback reversal
        ("T1200", "DR", "adjustment"),
        ("T1503", "DR", "adjustment"),  # a hold on the balance
        ("T2104", "CR", "adjustment"),  # a reserve released
        ("T0200", "DR", "other"),  # currency conversion
        ("T9900", "CR", "other"),
        ("t1107", "DR", "refund"),
    ],
)
def test_every_event_code_maps_to_a_kind(
    paypal: PayPalProvider, code: str, direction: str, kind: str
) -> None:
    record = settled(paypal, sb(Transaction_Event_Code=code, Debit_or_Credit=direction))
    assert record.kind == kind
    assert (record.gross_minor > 0) == (direction == "CR")


def test_a_chargeback_names_the_payment_it_reverses(paypal: PayPalProvider) -> None:
    record = settled(
        paypal,
        sb(
            Transaction_Event_Code="T1201",
            Debit_or_Credit="DR",
            PayPal_Reference_ID="8HX51634YV2873511",
            PayPal_Reference_ID_Type="TXN",
            Fee_Debit_or_Credit="",
            Fee_Amount="",
        ),
    )
    assert (record.kind, record.gross_minor, record.fee_minor, record.parent_txn_id) == (
        "chargeback",
        -3500,
        0,
        "8HX51634YV2873511",
    )


def test_a_reference_of_another_type_is_no_parent(paypal: PayPalProvider) -> None:
    values = {**REFUND, "PayPal Reference ID Type": "ODR", "PayPal Reference ID": "O-1AB23456CD789012E"}
    assert settled(paypal, line(values)).parent_txn_id is None


def test_a_payment_referencing_a_transaction_has_no_parent(paypal: PayPalProvider) -> None:
    # a capture names its authorization: it reverses nothing
    record = settled(paypal, sb(PayPal_Reference_ID="0AB12345CD6789012", PayPal_Reference_ID_Type="TXN"))
    assert record.parent_txn_id is None


# -- amounts and currencies ----------------------------------------------------------------------------
def test_amounts_are_hundredths_of_the_major_unit_in_every_currency(paypal: PayPalProvider) -> None:
    # the specification: "100,00 yen and $100.00 USD are both represented as 10000"
    yen = settled(
        paypal,
        sb(
            Gross_Transaction_Amount="10000",
            Gross_Transaction_Currency="JPY",
            Fee_Amount="400",
            Fee_Currency="JPY",
        ),
    )
    dollars = settled(
        paypal, sb(Gross_Transaction_Amount="10000", Gross_Transaction_Currency="USD", Fee_Currency="USD")
    )
    assert (yen.gross_minor, yen.fee_minor, yen.currency) == (100, 4, "JPY")
    assert (dollars.gross_minor, dollars.currency) == (10000, "USD")


def test_a_yen_amount_with_hundredths_is_quarantined(paypal: PayPalProvider) -> None:
    reason = quarantined(
        paypal, sb(Gross_Transaction_Amount="10050", Gross_Transaction_Currency="JPY", Fee_Currency="JPY")
    )
    assert reason.startswith("paypal STL: Gross Transaction Amount '10050' (100.50 JPY)")


def test_a_small_amount_keeps_its_hundredths(paypal: PayPalProvider) -> None:
    assert settled(paypal, sb(Gross_Transaction_Amount="7", Fee_Amount="0")).gross_minor == 7


def test_a_lower_case_currency_is_normalised(paypal: PayPalProvider) -> None:
    assert settled(paypal, sb(Gross_Transaction_Currency="eur", Fee_Currency="eur")).currency == "EUR"


def test_a_fee_without_a_currency_is_in_the_gross_currency(paypal: PayPalProvider) -> None:
    assert settled(paypal, sb(Fee_Currency="")).fee_minor == 154


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"Gross_Transaction_Amount": "-3500"},
            "Gross Transaction Amount '-3500' is not an unsigned whole number",
        ),
        (
            {"Gross_Transaction_Amount": "35.00"},
            "Gross Transaction Amount '35.00' is not an unsigned whole number",
        ),
        (
            {"Gross_Transaction_Amount": "3,500"},
            "Gross Transaction Amount '3,500' is not an unsigned whole number",
        ),
        ({"Gross_Transaction_Amount": ""}, "Gross Transaction Amount empty an unsigned whole number"),
        ({"Gross_Transaction_Amount": "9" * 40}, "Gross Transaction Amount '"),
        ({"Gross_Transaction_Currency": "XYZ"}, "Gross Transaction Currency: unknown currency 'XYZ'"),
        ({"Gross_Transaction_Currency": ""}, "Gross Transaction Currency: currency is empty"),
        ({"Fee_Currency": "USD"}, "the fee is in USD, the gross amount in EUR"),
        ({"Fee_Amount": "1.54"}, "Fee Amount '1.54' is not an unsigned whole number"),
        ({"Debit_or_Credit": "XX"}, "Transaction Debit or Credit 'XX' is neither CR nor DR"),
        ({"Debit_or_Credit": ""}, "Transaction Debit or Credit is empty"),
        ({"Fee_Debit_or_Credit": ""}, "Fee Debit or Credit is empty"),
        ({"Fee_Debit_or_Credit": "+"}, "Fee Debit or Credit '+' is neither CR nor DR"),
        ({"Fee_Amount": ""}, "Fee Amount empty"),
        ({"Transaction_ID": ""}, "Transaction ID is empty"),
        ({"Transaction_Event_Code": ""}, "Transaction Event Code '' is not a T-code"),
        ({"Transaction_Event_Code": "PAYMENT"}, "Transaction Event Code 'PAYMENT' is not a T-code"),
    ],
)
def test_a_line_that_cannot_be_read_is_quarantined_with_its_reason(
    paypal: PayPalProvider, changes: dict[str, str], reason: str
) -> None:
    assert quarantined(paypal, sb(**changes)).startswith(f"paypal STL: {reason}")


def test_a_zero_fee_needs_no_direction(paypal: PayPalProvider) -> None:
    record = settled(paypal, sb(Fee_Debit_or_Credit="", Fee_Amount="0"))
    assert (record.fee_minor, record.net_minor) == (0, 3500)


# -- dates ---------------------------------------------------------------------------------------------
def test_the_completion_date_is_read_in_utc(paypal: PayPalProvider) -> None:
    record = settled(paypal, sb(Transaction_Completion_Date="2024/05/14 11:48:02 -0700"))
    assert record.occurred_at == datetime(2024, 5, 14, 18, 48, 2, tzinfo=UTC)
    assert record.available_on is None


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-14T03:12:45-07:00",
        "2024-05-14 10:12:45Z",
        "2024-05-14T03:12:45-0700",
        "2024/05/14 03:12:45-07:00",
    ],
)
def test_iso_dates_with_an_offset_are_accepted_too(paypal: PayPalProvider, text: str) -> None:
    record = settled(paypal, sb(Transaction_Completion_Date=text))
    assert record.occurred_at == datetime(2024, 5, 14, 10, 12, 45, tzinfo=UTC)


def test_without_a_completion_date_the_initiation_date_is_used(paypal: PayPalProvider) -> None:
    record = settled(
        paypal, sb(Transaction_Completion_Date="", Transaction_Initiation_Date="2024/05/13 23:00:00 +0200")
    )
    assert record.occurred_at == datetime(2024, 5, 13, 21, 0, tzinfo=UTC)


def test_without_any_date_the_line_has_no_time(paypal: PayPalProvider) -> None:
    assert (
        settled(paypal, sb(Transaction_Completion_Date="", Transaction_Initiation_Date="")).occurred_at
        is None
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("14/05/2024 03:12", "is not a date-time with an offset"),
        ("2024/13/14 03:12:45 -0700", "is not a date-time with an offset"),
        ("2024/05/14 25:12:45 -0700", "is not a date-time with an offset"),
        ("2024/05/14 03:12:45 -9900", "is not a date-time with an offset"),
        ("2024/05/14 03:12:45", "is not a date-time with an offset"),
        ("2024-05-14T03:12:45", "has no UTC offset"),
        ("2024-05-14", "has no UTC offset"),
        ("0001-01-01T00:00:00+01:00", "is not a date-time with an offset"),
    ],
)
def test_an_unreadable_date_quarantines_the_line(paypal: PayPalProvider, text: str, reason: str) -> None:
    assert reason in quarantined(paypal, sb(Transaction_Initiation_Date=text))


# -- the reference -------------------------------------------------------------------------------------
def test_the_reference_is_the_invoice_id(paypal: PayPalProvider) -> None:
    assert settled(paypal, sb(Invoice_ID=" ORD-PP-2001-1 ")).reference == "ORD-PP-2001-1"


def test_a_line_without_an_invoice_has_no_reference(paypal: PayPalProvider) -> None:
    assert (
        settled(paypal, sb(Invoice_ID="", Transaction_Event_Code="T0400", Debit_or_Credit="DR")).reference
        is None
    )


def test_the_reference_follows_the_configured_field(config: Config) -> None:
    provider = PayPalProvider("paypal", {"reference_field": "custom"}, config)
    assert settled(provider, sb()).reference == "cliente=1042"


def test_item_number_has_no_column_so_lines_carry_no_reference(config: Config) -> None:
    provider = PayPalProvider("paypal", {"reference_field": "item_number"}, config)
    data = report(sb())
    (record,) = lines_of(provider, data)
    assert isinstance(record, SettlementRecord) and record.reference is None
    assert any("reference_field item_number has no column" in n for n in notices(provider, data))


# -- the header ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "column", ["Fee Amount", "Invoice ID", "Gross Transaction Currency", "Fee Debit or Credit"]
)
def test_a_header_without_a_needed_column_refuses_the_file_naming_it(
    paypal: PayPalProvider, column: str
) -> None:
    header = CH.replace(f'"{column}",', "")
    with pytest.raises(SourceError, match=f"lacks column {column}"):
        extract(paypal, report(header=header))


def test_a_later_header_that_cannot_be_read_keeps_the_rows_under_it_quarantined(
    paypal: PayPalProvider,
) -> None:
    """The first CH row decides whether the file can be read at all; a later broken one (a second
    section) costs only its own rows, kept with it as their context, and not the rows before it."""
    broken = CH.replace('"Fee Amount",', "")
    data = report(sb(), broken, sb(Invoice_ID="ORD-PP-2002"))  # a second CH row, lacking a column
    found = [r for r in extract(paypal, data) if not isinstance(r, Notice)]
    assert [type(r).__name__ for r in found] == ["SettlementRecord", "QuarantinedRecord"]
    assert found[1].reason.startswith("paypal STL: under the CH row of line 6, which")  # type: ignore[union-attr]
    assert "lacks column Fee Amount" in found[1].reason  # type: ignore[union-attr]
    assert found[1].origin.context == broken
    assert isinstance(
        paypal.reinterpret(found[1].origin), QuarantinedRecord
    )  # and again, for the same reason


def test_a_column_named_twice_refuses_the_file(paypal: PayPalProvider) -> None:
    with pytest.raises(SourceError, match="column Fee  Amount appears twice in the CH row"):
        extract(paypal, report(header=CH + ',"Fee  Amount"'))


def test_a_transaction_detail_report_forced_on_the_reader_is_refused() -> None:
    data = report(header=CH + ',"Transactional Status"')
    with pytest.raises(SourceError, match="Transaction Detail Report"):
        list(SettlementReport("invoice").extract(source(data)))


def test_columns_are_found_by_name_in_any_order(paypal: PayPalProvider) -> None:
    order = list(reversed(COLUMNS))
    header = ",".join(f'"{c}"' for c in ["CH", *order])
    values = {**CHARGE}
    line = ",".join(['"SB"'] + [f'"{values.get(c, "")}"' for c in order])
    (record,) = lines_of(paypal, report(line, header=header))
    assert isinstance(record, SettlementRecord)
    assert (record.gross_minor, record.fee_minor, record.reference) == (3500, 154, "ORD-PP-2001")


def test_a_later_section_may_have_its_own_columns(paypal: PayPalProvider) -> None:
    short = [
        "Transaction ID",
        "Invoice ID",
        "Transaction Event Code",
        "Transaction Debit or Credit",
        "Gross Transaction Amount",
        "Gross Transaction Currency",
        "Fee Debit or Credit",
        "Fee Amount",
    ]
    second = "\r\n".join(
        [
            '"SH",2024/05/14 00:00:00 -0700,2024/05/14 23:59:59 -0700,"ZQ9XK2L7M4N5P",""',
            ",".join(f'"{c}"' for c in ["CH", *short]),
            '"SB","5TU44021VW6678123","ORD-PP-2011","T0007","CR",1200,"USD","DR",65',
            '"SC",1',
        ]
    )
    data = report(sb()).replace(b'"RF"', second.encode() + b'\r\n"RF"').replace(b'"RC",1', b'"RC",2')
    first, later = lines_of(paypal, data)
    assert isinstance(later, SettlementRecord)
    assert (later.gross_minor, later.currency, later.reference) == (1200, "USD", "ORD-PP-2011")
    assert later.origin.context == ",".join(f'"{c}"' for c in ["CH", *short])
    assert first.origin.context == CH
    assert notices(paypal, data) == []


def test_an_sb_row_before_any_column_header_is_quarantined() -> None:
    # identify claims no such file (the CH row comes before any SB row); forced on the reader:
    data = (
        b'"RH",2024/05/15 03:02:13 -0700,"A","ZQ9XK2L7M4N5P",009\r\n' + sb().encode() + b"\r\n" + report(sb())
    )
    assert not identify(data)
    first, second = [
        r for r in SettlementReport("invoice").extract(source(data)) if not isinstance(r, Notice)
    ]
    assert isinstance(first, QuarantinedRecord)
    assert first.reason == "paypal STL: SB row before any CH column header row"
    assert isinstance(second, SettlementRecord)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (sb() + ',"extra"', "expected 22 cells as in the CH row, found 23"),
        (sb().rsplit(",", 1)[0], "expected 22 cells as in the CH row, found 21"),
        (sb().replace('"cliente=1042"', '"cliente "1042"'), "not a well-formed CSV row"),
        (sb().replace('"cliente=1042"', '"cliente=1042'), "not a well-formed CSV row"),
        ('"ZZ","something"', "row type ZZ is not an STL row type"),
        (',"no row type"', "the row has no row type"),
    ],
)
def test_a_malformed_line_is_quarantined_and_the_rest_goes_on(
    paypal: PayPalProvider, line: str, reason: str
) -> None:
    bad, good = lines_of(paypal, report(line, sb()))
    assert isinstance(bad, QuarantinedRecord) and bad.reason.startswith(f"paypal STL: {reason}")
    assert isinstance(good, SettlementRecord)


def test_blank_lines_are_skipped(paypal: PayPalProvider) -> None:
    assert len(lines_of(paypal, report(sb(), "", "  ", line(REFUND)))) == 2


# -- record counts ---------------------------------------------------------------------------------------
def test_agreeing_record_counts_say_nothing(paypal: PayPalProvider) -> None:
    assert notices(paypal, report(sb(), line(REFUND))) == []


def test_a_record_count_that_disagrees_is_said_in_a_notice(paypal: PayPalProvider) -> None:
    said = notices(paypal, report(sb(), line(REFUND), count=3))
    assert said == [
        "STL-20240515.01.009.CSV:8: paypal STL: the section record count (SC) says 3, but 2 SB rows came before it",
        "STL-20240515.01.009.CSV:10: paypal STL: the report record count (RC) says 3, but 2 SB rows came before it",
    ]


def test_the_report_count_is_not_checked_in_a_file_where_the_report_did_not_start(
    paypal: PayPalProvider,
) -> None:
    # a report split over several files: the last one holds the report footer, not the header
    data = report(sb(), count=7).replace(b'"RH",', b'"FH",', 1)
    said = notices(paypal, data)
    assert len(said) == 1 and "(SC) says 7" in said[0]


def test_a_count_that_is_no_number_is_not_judged(paypal: PayPalProvider) -> None:
    assert notices(paypal, report(sb()).replace(b'"SC",1', b'"SC","EUR"')) == []


def test_a_report_without_transactions_says_so(paypal: PayPalProvider) -> None:
    assert lines_of(paypal, report()) == []
    assert notices(paypal, report()) == [
        "STL-20240515.01.009.CSV: paypal STL: no SB rows: no transaction in this report"
    ]


# -- encoding and bytes ----------------------------------------------------------------------------------
def test_a_line_that_is_not_utf8_is_read_as_windows_1252_with_a_notice(paypal: PayPalProvider) -> None:
    data = report(sb(Custom_Field="caffè")).replace("caffè".encode(), "caffè".encode("cp1252"))
    (record,) = lines_of(paypal, data)
    assert isinstance(record, SettlementRecord)
    assert notices(paypal, data) == ["STL-20240515.01.009.CSV: line 5 not UTF-8; read as Windows-1252"]


def test_the_origin_keeps_the_line_bytes_its_number_and_the_header(paypal: PayPalProvider) -> None:
    record = settled(paypal, sb())
    assert record.origin == Origin(5, sb().encode() + b"\r\n", CH)


def test_a_byte_order_mark_is_not_part_of_any_line(paypal: PayPalProvider) -> None:
    data = report(sb(), bom=True)
    assert [r.origin.raw for r in lines_of(paypal, data)] == [sb().encode() + b"\r\n"]


# -- reading a stored line again -------------------------------------------------------------------------
def test_reinterpret_reads_every_stored_line_as_extract_did(paypal: PayPalProvider) -> None:
    data = OUR_SAMPLE.read_bytes()
    records = lines_of(paypal, data)
    assert len(records) == 10
    for record in records:
        assert isinstance(record, SettlementRecord | QuarantinedRecord)
        assert paypal.reinterpret(record.origin) == record


def test_reinterpret_of_an_ipn_still_reads_the_ipn(paypal: PayPalProvider) -> None:
    assert isinstance(paypal.reinterpret(Origin(None, ipn(), None, None)), ResponseRecord)


def test_reinterpret_without_a_header_stays_quarantined(paypal: PayPalProvider) -> None:
    record = paypal.reinterpret(Origin(2, sb().encode(), None))
    assert isinstance(record, QuarantinedRecord) and "before any CH" in record.reason


def test_reprocess_reads_a_line_again_with_the_fixed_reference_field(config: Config) -> None:
    item = PayPalProvider("paypal", {"reference_field": "item_number"}, config)
    (record,) = lines_of(item, report(sb()))
    custom = PayPalProvider("paypal", {"reference_field": "custom"}, config)
    again = custom.reinterpret(record.origin)
    assert isinstance(again, SettlementRecord) and again.reference == "cliente=1042"


# -- streaming and storing -------------------------------------------------------------------------------
def test_a_large_report_streams_a_line_at_a_time(paypal: PayPalProvider, tmp_path: Path) -> None:
    path = tmp_path / "STL-20240515.01.009.CSV"
    rows = [sb(Transaction_ID=f"TX{i:015d}", Invoice_ID=f"ORD-{i}") for i in range(20_000)]
    path.write_bytes(report(*rows))
    src = Source.from_path(path)
    assert paypal.identify(src)
    records = paypal.extract(src)
    first = next(records)
    assert isinstance(first, SettlementRecord) and first.reference == "ORD-0"
    assert src.position < path.stat().st_size // 2, "the whole file was read before the first line came out"
    assert sum(1 for r in records if isinstance(r, SettlementRecord)) == 19_999


def test_a_line_whose_net_is_past_64_bits_is_quarantined_and_the_rest_is_stored(
    store: Store, config: Config, tmp_path: Path
) -> None:
    # each figure fits the store's BIGINT, but gross - fee does not: PostgreSQL refused the batch
    # (bigint out of range), SQLite's driver too, so every run of the file failed with exit 70
    most = str(2**63 - 1)
    huge = line({**REFUND, "Transaction ID": "9ZZ00000000000001", "Gross Transaction Amount": most, "Fee Debit or Credit": "DR", "Fee Amount": most})  # fmt: skip
    path = tmp_path / "STL-20240515.01.009.CSV"
    path.write_bytes(report(sb(), huge))
    run = Ingest(store, config, gateways.instances(config, gateways.installed())).run([str(path)])
    assert (run.tallies["paypal"].settlement_lines, run.tallies["paypal"].quarantined) == (1, 1)
    [error] = [r["error"] for r in store.query("SELECT error FROM message WHERE state = 'quarantined'")]
    assert error == "its net amount is past what the store holds (64-bit minor units)"
    assert [r["net_minor"] for r in store.query("SELECT net_minor FROM settlement")] == [3346]


def test_ingesting_the_same_report_twice_adds_nothing(store: Store, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "STL-20240515.01.009.CSV"
    path.write_bytes(report(sb(Invoice_ID="ORD-PP-2001-1"), line({**REFUND, "Invoice ID": "ORD-PP-2001-1"})))
    requests = tmp_path / "requests.csv"
    requests.write_text(
        REQUEST_HEADER
        + "ORD-PP-2001-1,ORD-PP-2001,order,2024-05-14T12:05:00+02:00,Rossi Mario,,35.00,EUR,paypal\n"
    )
    providers = gateways.instances(config, gateways.installed())
    first = Ingest(store, config, providers).run([str(requests), str(path)])
    assert first.tallies["paypal"].settlement_lines == 2
    again = Ingest(store, config, providers).run([str(path)])
    assert again.tallies["paypal"].already_stored == 2
    lines = store.query(
        "SELECT kind, gross_minor, fee_minor, net_minor, parent_txn_id FROM settlement ORDER BY id"
    )
    columns = ("kind", "gross_minor", "fee_minor", "net_minor", "parent_txn_id")
    assert [tuple(r[c] for c in columns) for r in lines] == [
        ("charge", 3500, 154, 3346, None),
        ("refund", -3500, -92, -3408, "8HX51634YV2873511"),
    ]
    linked = store.query(
        "SELECT COUNT(*) AS n FROM message WHERE state = 'settlement' AND request_id IS NOT NULL"
    )
    assert linked[0]["n"] == 2


def test_the_lines_of_a_conversion_under_one_id_are_each_kept_and_another_report_repeats_none(
    store: Store, config: Config, tmp_path: Path
) -> None:
    # a currency conversion: money out of EUR and into USD under one Transaction ID
    conversion = [
        sb(
            Transaction_Event_Code="T0200",
            Debit_or_Credit="DR",
            Invoice_ID="",
            Fee_Debit_or_Credit="",
            Fee_Amount="",
        ),
        sb(
            Transaction_Event_Code="T0200",
            Gross_Transaction_Currency="USD",
            Gross_Transaction_Amount="3790",
            Fee_Currency="USD",
            Fee_Debit_or_Credit="",
            Fee_Amount="",
            Invoice_ID="",
        ),
    ]
    daily, weekly = tmp_path / "STL-20240515.01.009.CSV", tmp_path / "STL-20240520.01.009.CSV"
    daily.write_bytes(report(*conversion))
    # another report (other bytes around them) repeating both lines, and a third line of its own
    weekly.write_bytes(report(*conversion, sb(Transaction_ID="9ZZ00000AA0000001"), eol="\n"))
    providers = gateways.instances(config, gateways.installed())
    Ingest(store, config, providers).run([str(daily), str(weekly)])
    rows = store.query("SELECT line_id, gross_minor, currency FROM settlement ORDER BY id")
    assert [(r["line_id"], r["gross_minor"], r["currency"]) for r in rows] == [
        ("8HX51634YV2873511:other:EUR:DR", -3500, "EUR"),
        ("8HX51634YV2873511:other:USD:CR", 3790, "USD"),
        ("9ZZ00000AA0000001:charge:EUR:CR", 3500, "EUR"),
    ]


def test_a_line_repeated_with_another_reference_is_stored_alike_whatever_the_order(
    store: Store, config: Config, tmp_path: Path
) -> None:
    first, corrected = tmp_path / "STL-20240515.01.009.CSV", tmp_path / "STL-20240515.02.009.CSV"
    first.write_bytes(report(sb(Invoice_ID="ORD-PP-2001")))
    corrected.write_bytes(report(sb(Invoice_ID="ORD-PP-2001-1")))
    providers = gateways.instances(config, gateways.installed())
    stored = []
    for order in ((first, corrected), (corrected, first)):
        with store.transaction():
            store.execute("DELETE FROM settlement")
            store.execute("DELETE FROM message")
        for path in order:
            Ingest(store, config, providers).run([str(path)])
        stored.append(
            [
                (r["reference"], r["fee_minor"])
                for r in store.query("SELECT reference, fee_minor FROM settlement")
            ]
        )
    assert stored[0] == stored[1] and len(stored[0]) == 1


def test_reprocess_all_reads_again_a_line_an_older_paycli_took_for_a_repeat(
    store: Store, config: Config, tmp_path: Path
) -> None:
    path = tmp_path / "STL-20240515.01.009.CSV"
    usd = {"Gross_Transaction_Currency": "USD", "Gross_Transaction_Amount": "3790", "Fee_Currency": "USD"}
    path.write_bytes(report(sb(Transaction_Event_Code="T0200"), sb(Transaction_Event_Code="T0200", **usd)))
    providers = gateways.instances(config, gateways.installed())
    Ingest(store, config, providers).run([str(path)])
    lines = "SELECT line_id, message_id FROM settlement ORDER BY line_id"
    kept = [(r["line_id"], r["message_id"]) for r in store.query(lines)]
    assert len(kept) == 2
    with store.transaction():  # as a paycli before schema 0006 left it: one line per Transaction ID
        store.execute("DELETE FROM settlement WHERE currency = 'USD'")
    run = Ingest(store, config, providers)
    run.reprocess(read=True)
    assert [r["line_id"] for r in store.query(lines)] == [line for line, _ in kept]
    assert run.report.tallies["paypal"].settlement_lines == 1
    # read again, nothing to do: the other line holds its own row
    again = Ingest(store, config, providers)
    again.reprocess(read=True)
    assert again.report.tallies == {} and store.query("SELECT COUNT(*) AS n FROM settlement")[0]["n"] == 2


def test_a_line_met_again_with_other_figures_counts_once_whatever_the_order_and_the_other_is_noted(
    store: Store, config: Config, tmp_path: Path
) -> None:
    first, corrected = tmp_path / "STL-20240515.01.009.CSV", tmp_path / "STL-20240515.02.009.CSV"
    first.write_bytes(report(sb()))
    corrected.write_bytes(report(sb(Fee_Amount="160")))
    providers = gateways.instances(config, gateways.installed())

    def ingest_in(*order: Path) -> tuple[object, ...]:
        with store.transaction():
            store.execute("DELETE FROM settlement")
            store.execute("DELETE FROM message")
        said: list[str] = []
        for path in order:
            Ingest(store, config, providers, say=said.append).run([str(path)])
        [kept] = store.query(
            "SELECT s.fee_minor, m.source FROM settlement s JOIN message m ON m.id = s.message_id"
        )
        notes = store.query(
            "SELECT source, note FROM message WHERE state = 'settlement' AND note IS NOT NULL"
        )
        return kept["fee_minor"], kept["source"], [(n["source"], n["note"]) for n in notes], said

    fee, source, notes, said = ingest_in(first, corrected)
    assert ingest_in(corrected, first)[:3] == (fee, source, notes)  # the same store, whichever came first
    other = str(corrected if source == str(first) else first)
    figures = {154: "charge 35.00 EUR (fee 1.54)", 160: "charge 35.00 EUR (fee 1.60)"}
    [(noted, note)] = notes
    assert noted == other and fee in figures
    assert note == (
        f"not counted: settlement line 8HX51634YV2873511:charge:EUR:CR says {figures[314 - fee]} here; a line "
        "of the same id with other figures in another report is counted (of such lines, the one that says most, "
        "then the least digest's)"
    )
    [line] = said
    assert line.startswith(
        f"{corrected}:5: settlement line 8HX51634YV2873511:charge:EUR:CR read from two reports"
    )
    assert (
        "(of two such lines, the one that says most, then the one of the least digest, counts, whatever their order)"
        in line
    )


def test_a_line_longer_than_any_record_is_cut_quarantined_and_the_rest_read(paypal: PayPalProvider) -> None:
    from paycli.gateways.lines import LINE_LIMIT

    huge = sb(Custom_Field="x" * (2 * LINE_LIMIT))
    first, cut, last = lines_of(paypal, report(sb(), huge, sb(Transaction_ID="9ZZ00000AA0000001")))
    assert isinstance(first, SettlementRecord) and isinstance(last, SettlementRecord)
    assert isinstance(cut, QuarantinedRecord)
    assert cut.reason == (
        f"paypal STL: line 6 is {len(huge) + 2:,} bytes, longer than a record can be (1 MiB): its first MiB kept"
    )
    assert len(cut.origin.raw) == LINE_LIMIT
