"""Stripe balance reports, as a specification: one settlement line a row (gateway-formats.md 7.2).

The reports are built here from the columns and the 3-row example of the formats document (the
itemized "Balance change from activity" CSV): money in major units, signed from the merchant's
balance, the currency in lower case, dates ``YYYY-MM-DD HH:MM:SS`` in UTC.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paycli import gateways
from paycli.config import Config, Secret
from paycli.gateways.base import (
    HEAD_BYTES,
    Notice,
    Origin,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    SettlementRecord,
    Source,
    SourceError,
)
from paycli.gateways.stripe import StripeProvider
from paycli.gateways.stripe_balance import BalanceReport, is_balance_report, kind_of
from paycli.ingest import Ingest
from paycli.queries import show_request
from paycli.store import Store
from tests.conftest import REQUEST_HEADER, make_config, request_csv

SAMPLES = Path(__file__).parent / "samples"
DEMO = Path(__file__).parents[2] / "demo" / "data"
SCENARIO = SAMPLES / "stripe" / "settlement"

PI = "pi_3PGqJ2Hc8vLmR4Tz1aB2cD3e"
CH = "ch_3PGqJ2Hc8vLmR4Tz1yX8wV7u"
HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,"
    "source_id,description,payment_intent_id,charge_id,payment_metadata[txn_id]"
)
# gateway-formats.md 7.2, the example's three rows, with the shop's txn_id as the metadata column
CHARGE = (
    "txn_3PGqJ2Hc8vLmR4Tz1hG4jK5l,2024-05-14 09:59:21,2024-05-21 00:00:00,eur,49.90,1.00,48.90,charge,"
    f"{CH},Ordine ORD-STR-1001,{PI},{CH},ORD-STR-1001-1"
)
CHARGE_2 = (
    "txn_3PGqNaHc8vLmR4Tz3kJ1hG2f,2024-05-14 10:04:19,2024-05-21 00:00:00,eur,18.00,0.52,17.48,charge,"
    "ch_3PGqNaHc8vLmR4Tz3aQ2wE4r,Ordine ORD-STR-1004,pi_3PGqNaHc8vLmR4Tz3bN5mQ7w,"
    "ch_3PGqNaHc8vLmR4Tz3aQ2wE4r,ORD-STR-1004-1"
)
REFUND = (
    "txn_3PGqSjHc8vLmR4Tz6rZ5xC7v,2024-05-14 11:02:13,2024-05-14 11:02:13,eur,-64.00,0.00,-64.00,refund,"
    "re_3PGqSjHc8vLmR4Tz6qW8eR0t,REFUND FOR CHARGE (Ordine ORD-STR-1006),pi_3PGqSjHc8vLmR4Tz6fG9hJ2k,"
    "ch_3PGqSjHc8vLmR4Tz6gH0jK3l,ORD-STR-1006-1"
)
EXAMPLE = f"{HEADER}\n{CHARGE}\n{CHARGE_2}\n{REFUND}\n".encode()


@pytest.fixture
def provider(config: Config) -> StripeProvider:
    return StripeProvider("stripe", {"reference_key": "txn_id"}, config)


def src(raw: bytes, name: str = "balance.csv") -> Source:
    return Source.from_stream(name, io.BytesIO(raw))


def records(p: StripeProvider, raw: bytes) -> list[Record]:
    """Every record of a report; each one reads the same again from its stored line and header."""
    found = list(p.extract(src(raw)))
    for record in found:
        if isinstance(record, QuarantinedRecord) and "a quote opened on this line" in record.reason:
            # the first line of a runaway quote, read again alone: quarantined for what it alone lacks
            assert isinstance(p.reinterpret(record.origin), QuarantinedRecord)
        elif not isinstance(record, Notice):
            assert p.reinterpret(record.origin) == record
    return found


def lines(p: StripeProvider, raw: bytes) -> list[SettlementRecord | QuarantinedRecord]:
    return [r for r in records(p, raw) if isinstance(r, SettlementRecord | QuarantinedRecord)]


def one(p: StripeProvider, row: str, header: str = HEADER) -> SettlementRecord:
    (record,) = lines(p, f"{header}\n{row}\n".encode())
    assert isinstance(record, SettlementRecord), record
    return record


def quarantined(p: StripeProvider, row: str, header: str = HEADER) -> str:
    (record,) = lines(p, f"{header}\n{row}\n".encode())
    assert isinstance(record, QuarantinedRecord), record
    assert record.reason.startswith("stripe: ")
    return record.reason


def row(ref: str | None = None, **cells: str) -> str:
    """The example's charge row with some cells changed, by column name (``ref``: the metadata cell)."""
    names = HEADER.split(",")
    values = dict(zip(names, CHARGE.split(","), strict=True))
    values.update(cells)
    if ref is not None:
        values["payment_metadata[txn_id]"] = ref
    return ",".join(values[n] for n in names)


# -- identify --------------------------------------------------------------------------------------
def test_it_claims_the_balance_report_of_the_formats_document(provider: StripeProvider) -> None:
    assert is_balance_report(EXAMPLE)
    assert provider.identify(src(EXAMPLE))


@pytest.mark.parametrize(
    "head",
    [
        b"\xef\xbb\xbf" + EXAMPLE,  # a byte-order mark
        b"\r\n\r\n" + EXAMPLE.replace(b"\n", b"\r\n"),  # blank lines first, CRLF line ends
        b'"balance_transaction_id","reporting_category","currency","gross","fee","net"\n',  # quoted
        b"Balance_Transaction_ID,Reporting_Category\n",  # the two columns that mark it, any case
        HEADER.encode(),  # a header alone, without even its line end
    ],
    ids=["bom", "blank-lines-crlf", "quoted-header", "only-the-mark", "header-alone"],
)
def test_it_claims_any_header_with_balance_transaction_id_and_reporting_category(
    provider: StripeProvider, head: bytes
) -> None:
    assert provider.identify(src(head))


@pytest.mark.parametrize(
    "raw",
    [
        REQUEST_HEADER.encode() + b"T1,O1,order,2026-01-01T10:00:00,Rossi,,49.90,EUR,stripe\n",
        b'"SB","8HX51634YV2873511","ORD-PP-2001","","","T0007",2024/05/14 03:12:45 -0700,'
        b'2024/05/14 03:12:45 -0700,"CR",3500,"EUR","DR",154,"EUR","cliente=1042","","","","","","",""\n',
        b'"RH",2024/05/15 01:00:00 -0700,"A","ABC123",009\n',
        b'{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {}}}',
        b"balance_transaction_id,currency,gross,fee,net\ntxn_1,eur,1.00,0.00,1.00\n",
        b"id,Created date (UTC),Amount,Currency,Status,PaymentIntent ID\n",
        b"reporting_category\nbalance_transaction_id\n",  # the words on separate lines
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        b"",
    ],
    ids=[
        "request-csv",
        "paypal-stl-row",
        "paypal-stl-header",
        "stripe-event",
        "no-reporting-category",
        "dashboard-payments-export",
        "not-one-header",
        "png",
        "empty",
    ],
)
def test_it_refuses_what_is_not_a_balance_report(raw: bytes) -> None:
    assert not is_balance_report(raw)


def _files(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)


def test_no_other_sample_or_demo_file_is_taken_for_a_balance_report() -> None:
    checked = 0
    for path in _files(SAMPLES, DEMO):
        # the sample scenarios', and the demo's day
        balance_reports = (SCENARIO, SCENARIO.with_name("settlement-overlap"), DEMO / "settlement")
        if path.parent in balance_reports and path.suffix == ".csv" and path.name != "requests.csv":
            assert is_balance_report(path.read_bytes()[:HEAD_BYTES]), path
            continue
        assert not is_balance_report(path.read_bytes()[:HEAD_BYTES]), path
        checked += 1
    assert checked > 100


def test_no_other_provider_claims_a_balance_report(config: Config) -> None:
    classes = gateways.installed()
    providers = gateways.instances(config, classes)
    claims = [name for name, p in providers.items() if p.identify(src(EXAMPLE))]
    assert claims == ["stripe"]


def test_the_webhooks_are_still_read_as_before(provider: StripeProvider) -> None:
    folder = SAMPLES / "stripe" / "approved"
    body = (folder / "03-payment-intent-succeeded.json").read_bytes()
    headers = (folder / "03-payment-intent-succeeded.json.headers").read_text()
    source = Source(name="evt.json", path=None, head=body, headers=headers)
    assert provider.identify(source)
    (record,) = provider.extract(source)
    assert isinstance(record, ResponseRecord) and record.origin.context is None
    assert provider.reinterpret(record.origin) == record


# -- the header ------------------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["currency", "gross", "fee", "net"])
def test_a_report_without_a_needed_column_is_refused_naming_it(provider: StripeProvider, column: str) -> None:
    header = ",".join(n for n in HEADER.split(",") if n != column)
    raw = f"{header}\n{CHARGE}\n".encode()
    assert provider.identify(src(raw))
    with pytest.raises(SourceError, match=rf"no column {column} \(the header has: balance_transaction_id,"):
        list(provider.extract(src(raw)))


@pytest.mark.parametrize("column", ["balance_transaction_id", "reporting_category"])
def test_the_reader_refuses_a_header_without_either_column_of_the_mark(
    provider: StripeProvider, column: str
) -> None:
    header = ",".join(n for n in HEADER.split(",") if n != column)
    with pytest.raises(SourceError, match=f"no column {column} "):
        list(provider.balance_report.extract(src(f"{header}\n".encode())))


def test_a_report_without_gross_and_net_names_both(provider: StripeProvider) -> None:
    raw = b"balance_transaction_id,reporting_category,currency,fee\ntxn_1,charge,eur,0.10\n"
    with pytest.raises(SourceError, match="no column gross, net"):
        list(provider.extract(src(raw)))


def test_a_column_it_reads_twice_in_the_header_is_refused(provider: StripeProvider) -> None:
    raw = f"{HEADER},gross\n".encode()
    with pytest.raises(SourceError, match="column gross appears twice"):
        list(provider.extract(src(raw)))


def test_only_seven_columns_are_needed(provider: StripeProvider) -> None:
    header = "reporting_category,balance_transaction_id,net,fee,gross,currency,created_utc"
    record = one(provider, "charge,txn_1,48.90,1.00,49.90,eur,2024-05-14 09:59:21", header)
    assert (record.kind, record.gross_minor, record.fee_minor, record.net_minor) == (
        "charge",
        4990,
        100,
        4890,
    )
    assert record.gateway_txn_id == "txn_1"  # nothing else names it
    assert record.occurred_at == datetime(2024, 5, 14, 9, 59, 21, tzinfo=UTC)
    assert (record.reference, record.available_on, record.parent_txn_id) == (None, None, None)


def test_a_report_without_a_created_column_is_refused_its_lines_would_fall_in_no_period(
    provider: StripeProvider,
) -> None:
    header = "reporting_category,balance_transaction_id,net,fee,gross,currency,available_on_utc"
    with pytest.raises(SourceError) as raised:
        lines(provider, f"{header}\ncharge,txn_1,48.90,1.00,49.90,eur,2024-05-21\n".encode())
    assert str(raised.value).startswith(
        "stripe: the balance report has no column created_utc or created: without it no line falls in a "
        "report's period (add it to the report's columns; the header has: reporting_category,"
    )


def test_columns_it_does_not_read_are_ignored(provider: StripeProvider) -> None:
    header = HEADER + ",customer_facing_amount,customer_facing_currency,card_brand,refund_metadata[txn_id]"
    record = one(provider, CHARGE + ",49.90,eur,visa,SOMETHING-ELSE", header)
    assert record.reference == "ORD-STR-1001-1"


def test_column_names_are_read_in_any_case_but_the_metadata_key_exactly(provider: StripeProvider) -> None:
    header = HEADER.upper().replace("PAYMENT_METADATA[TXN_ID]", "Payment_Metadata[txn_id]")
    assert one(provider, CHARGE, header).reference == "ORD-STR-1001-1"
    other_key = HEADER.replace("payment_metadata[txn_id]", "payment_metadata[TXN_ID]")
    assert one(provider, CHARGE, other_key).reference is None


def test_the_reference_is_the_metadata_column_of_the_reference_key_setting(config: Config) -> None:
    p = StripeProvider("stripe", {"reference_key": "order_ref"}, config)
    header = HEADER.replace("payment_metadata[txn_id]", "payment_metadata[order_ref]")
    assert one(p, CHARGE, header).reference == "ORD-STR-1001-1"
    # the default key is txn_id
    assert one(StripeProvider("stripe", {}, config), CHARGE).reference == "ORD-STR-1001-1"


def test_a_report_without_the_metadata_column_says_so_and_reads_on(provider: StripeProvider) -> None:
    header = HEADER.replace(",payment_metadata[txn_id]", "")
    raw = f"{header}\n{CHARGE.rsplit(',', 1)[0]}\n".encode()
    found = records(provider, raw)
    notices = [r.message for r in found if isinstance(r, Notice)]
    assert any("no payment_metadata[txn_id] column" in n for n in notices)
    (record,) = [r for r in found if isinstance(r, SettlementRecord)]
    assert record.reference is None and record.gateway_txn_id == PI


def test_an_empty_metadata_cell_is_no_reference(provider: StripeProvider) -> None:
    assert one(provider, CHARGE.rsplit(",", 1)[0] + ",").reference is None


# -- kinds, signs, money ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("category", "kind"),
    [
        ("charge", "charge"),
        ("refund", "refund"),
        ("dispute", "chargeback"),
        ("fee", "fee"),
        ("payout", "payout"),
        ("dispute_reversal", "adjustment"),
        ("refund_failure", "adjustment"),
        ("partial_capture_reversal", "adjustment"),
        ("other_adjustment", "adjustment"),
        ("transfer", "other"),
        ("topup", "other"),
        ("a_category_stripe_adds_later", "other"),
        ("CHARGE", "charge"),
    ],
)
def test_each_reporting_category_maps_to_its_kind(category: str, kind: str) -> None:
    assert kind_of(category) == kind


def test_a_charge_is_positive_with_what_stripe_kept_and_what_reached_the_balance(
    provider: StripeProvider,
) -> None:
    record = one(provider, CHARGE)
    assert record.kind == "charge"
    assert (record.gross_minor, record.fee_minor, record.net_minor, record.currency) == (
        4990,
        100,
        4890,
        "EUR",
    )
    assert record.gateway_txn_id == PI  # as the webhooks key their responses
    assert record.reference == "ORD-STR-1001-1"
    assert record.parent_txn_id is None


FACING = HEADER + ",customer_facing_amount,customer_facing_currency"


def test_a_charge_in_another_currency_keeps_what_the_customer_was_charged(provider: StripeProvider) -> None:
    # 49.90 USD charged, settled as 45.10 EUR in the balance
    record = one(provider, row(gross="45.10", fee="1.20", net="43.90") + ",49.90,usd", FACING)
    assert (record.gross_minor, record.currency) == (4510, "EUR")
    assert (record.charged_minor, record.charged_currency) == (4990, "USD")
    # no such columns, or empty cells: the gross is what was charged
    assert (one(provider, CHARGE).charged_minor, one(provider, CHARGE + ",,", FACING).charged_currency) == (
        None,
        None,
    )
    # read in the charge's own currency: JPY has no decimals
    assert (
        one(provider, row(gross="45.10", fee="1.20", net="43.90") + ",8800,jpy", FACING).charged_minor == 8800
    )


def test_an_unreadable_customer_facing_amount_is_quarantined_naming_it(provider: StripeProvider) -> None:
    assert "customer_facing_amount" in quarantined(provider, CHARGE + ",49.9.0,usd", FACING)
    assert (
        quarantined(provider, CHARGE + ",49.90,usx", FACING)
        == "stripe: customer_facing_currency: unknown currency 'usx'"
    )


def test_a_refund_is_negative_and_names_the_payment_it_refunds(provider: StripeProvider) -> None:
    record = one(provider, REFUND)
    assert (record.kind, record.gross_minor, record.fee_minor, record.net_minor) == (
        "refund",
        -6400,
        0,
        -6400,
    )
    assert record.gateway_txn_id == record.parent_txn_id == "pi_3PGqSjHc8vLmR4Tz6fG9hJ2k"
    assert record.reference == "ORD-STR-1006-1"


def test_a_dispute_is_a_negative_chargeback_with_its_fee(provider: StripeProvider) -> None:
    record = one(
        provider,
        row(gross="-49.90", fee="15.00", net="-64.90", reporting_category="dispute", source_id="dp_1"),
    )
    assert (record.kind, record.gross_minor, record.fee_minor, record.net_minor) == (
        "chargeback",
        -4990,
        1500,
        -6490,
    )
    assert record.parent_txn_id == PI


def test_a_won_dispute_is_an_adjustment_of_the_payment(provider: StripeProvider) -> None:
    record = one(
        provider, row(gross="49.90", fee="-15.00", net="64.90", reporting_category="dispute_reversal")
    )
    assert (record.kind, record.gross_minor, record.fee_minor, record.net_minor) == (
        "adjustment",
        4990,
        -1500,
        6490,
    )
    assert record.parent_txn_id == PI


def test_a_fee_or_payout_line_without_a_payment_is_keyed_by_its_source(provider: StripeProvider) -> None:
    fee = one(
        provider,
        row(
            gross="-2.00",
            fee="0.00",
            net="-2.00",
            reporting_category="fee",
            payment_intent_id="",
            charge_id="",
            source_id="",
            ref="",
        ),
    )
    assert (fee.kind, fee.gross_minor, fee.gateway_txn_id) == ("fee", -200, "txn_3PGqJ2Hc8vLmR4Tz1hG4jK5l")
    assert fee.parent_txn_id is None and fee.reference is None
    payout = one(
        provider,
        row(
            gross="-500.00",
            fee="0.00",
            net="-500.00",
            reporting_category="payout",
            payment_intent_id="",
            charge_id="",
            source_id="po_1Q",
            ref="",
        ),
    )
    assert (payout.kind, payout.gross_minor, payout.gateway_txn_id, payout.parent_txn_id) == (
        "payout",
        -50000,
        "po_1Q",
        None,
    )


def test_without_a_payment_intent_the_charge_id_is_the_transaction(provider: StripeProvider) -> None:
    assert one(provider, row(payment_intent_id="")).gateway_txn_id == CH
    refund = one(
        provider,
        row(
            payment_intent_id="",
            gross="-5.00",
            fee="0.00",
            net="-5.00",
            reporting_category="refund",
            source_id="re_1",
        ),
    )
    assert refund.gateway_txn_id == refund.parent_txn_id == CH
    alone = one(provider, row(payment_intent_id="", charge_id="", source_id="py_1"))
    assert alone.gateway_txn_id == "py_1"


@pytest.mark.parametrize(
    ("currency", "gross", "fee", "net", "minor"),
    [
        ("eur", "49.90", "1.00", "48.90", (4990, 100, 4890)),
        ("EUR", "49.9", "1", "48.9", (4990, 100, 4890)),
        ("jpy", "1200", "43", "1157", (1200, 43, 1157)),
        ("kwd", "1.250", "0.050", "1.200", (1250, 50, 1200)),
        ("eur", "49,90", "1,00", "48,90", (4990, 100, 4890)),  # run with decimal_separator=","
        ("eur", "1234.56", "0.00", "1234.56", (123456, 0, 123456)),
    ],
)
def test_amounts_are_major_units_read_exactly(
    provider: StripeProvider, currency: str, gross: str, fee: str, net: str, minor: tuple[int, int, int]
) -> None:
    cells = [f'"{v}"' if "," in v else v for v in (gross, fee, net)]
    record = one(provider, row(currency=currency, gross=cells[0], fee=cells[1], net=cells[2]))
    assert (record.gross_minor, record.fee_minor, record.net_minor) == minor
    assert record.currency == currency.upper()


# -- dates -----------------------------------------------------------------------------------------
def test_the_utc_columns_are_utc(provider: StripeProvider) -> None:
    record = one(provider, CHARGE)
    assert record.occurred_at == datetime(2024, 5, 14, 9, 59, 21, tzinfo=UTC)
    assert record.available_on == datetime(2024, 5, 21, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-14T09:59:21", datetime(2024, 5, 14, 9, 59, 21, tzinfo=UTC)),
        ("2024-05-14T09:59:21Z", datetime(2024, 5, 14, 9, 59, 21, tzinfo=UTC)),
        ("2024-05-14 11:59:21+02:00", datetime(2024, 5, 14, 9, 59, 21, tzinfo=UTC)),
        ("2024-05-14", datetime(2024, 5, 14, tzinfo=UTC)),
    ],
)
def test_iso_dates_are_read_too(provider: StripeProvider, text: str, expected: datetime) -> None:
    assert one(provider, row(created_utc=text)).occurred_at == expected


def test_an_empty_available_date_is_no_date_and_an_empty_created_quarantines_the_line(
    provider: StripeProvider,
) -> None:
    assert one(provider, row(available_on_utc="")).available_on is None
    assert quarantined(provider, row(created_utc="")) == (
        "stripe: created_utc is empty: the line would fall in no report's period"
    )


def test_local_created_is_read_in_the_configured_timezone_when_there_is_no_utc_column(
    provider: StripeProvider,
) -> None:
    header = HEADER.replace("created_utc", "created").replace("available_on_utc", "available_on")
    record = one(provider, CHARGE, header)
    assert record.occurred_at == datetime(2024, 5, 14, 7, 59, 21, tzinfo=UTC)  # Europe/Rome, summer time
    assert record.available_on == datetime(2024, 5, 20, 22, tzinfo=UTC)


def test_local_created_is_read_in_the_zone_of_a_timezone_column(provider: StripeProvider) -> None:
    header = HEADER.replace("created_utc", "created") + ",timezone"
    assert one(provider, CHARGE + ",America/New_York", header).occurred_at == datetime(
        2024, 5, 14, 13, 59, 21, tzinfo=UTC
    )
    assert "timezone 'Mars/Olympus' is not a time zone" in quarantined(
        provider, CHARGE + ",Mars/Olympus", header
    )


def test_the_utc_column_wins_over_the_local_one(provider: StripeProvider) -> None:
    header = HEADER + ",created"
    assert one(provider, CHARGE + ",2024-05-14 11:59:21", header).occurred_at == datetime(
        2024, 5, 14, 9, 59, 21, tzinfo=UTC
    )


def test_a_bad_timezone_cell_beside_the_utc_columns_harms_nothing(provider: StripeProvider) -> None:
    assert one(provider, CHARGE + ",Mars/Olympus", HEADER + ",timezone").occurred_at == datetime(
        2024, 5, 14, 9, 59, 21, tzinfo=UTC
    )


# -- lines that cannot be read ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"gross": "49.9O"}, "gross '49.9O' is not a decimal number"),
        ({"gross": "49.901", "net": "48.901"}, "gross '49.901' has more decimals than EUR allows (2)"),
        ({"gross": '"1,000"', "net": "999.00"}, "gross '1,000' is not a decimal number"),
        ({"fee": ""}, "fee is empty"),
        ({"currency": ""}, "currency is empty"),
        ({"currency": "eru"}, "unknown currency 'eru'"),
        ({"net": "48.80"}, "net 48.80 is not gross 49.90 minus fee 1.00"),
        ({"gross": "-49.90", "net": "-50.90"}, "a charge with a negative gross -49.90"),
        ({"reporting_category": "refund"}, "a refund with a positive gross 49.90"),
        ({"reporting_category": "dispute"}, "a dispute with a positive gross 49.90"),
        ({"balance_transaction_id": ""}, "balance_transaction_id is empty"),
        ({"reporting_category": " "}, "reporting_category is empty"),
        ({"created_utc": "2024-05-32 09:59:21"}, "created_utc '2024-05-32 09:59:21' is not an ISO 8601"),
        ({"available_on_utc": "21/05/2024"}, "available_on_utc '21/05/2024' is not an ISO 8601"),
        ({"payment_intent_id": "pi_" + "x" * 200}, "longer than 128 characters"),
        ({"ref": "T" * 129}, "txn_id 'TTTTTTTTTTTTTTTTTTTT...' is longer than 128"),
    ],
)
def test_a_line_that_cannot_be_read_is_quarantined_with_the_reason(
    provider: StripeProvider, cells: dict[str, str], reason: str
) -> None:
    assert reason in quarantined(provider, row(**cells))


def test_a_line_with_too_few_or_too_many_fields_is_quarantined(provider: StripeProvider) -> None:
    assert quarantined(provider, CHARGE + ",extra") == "stripe: expected 13 fields, found 14"
    assert quarantined(provider, CHARGE.rsplit(",", 2)[0]) == "stripe: expected 13 fields, found 11"


def test_the_rest_of_the_file_goes_on_after_a_bad_line(provider: StripeProvider) -> None:
    raw = f"{HEADER}\n{CHARGE}\n{row(gross='x')}\n\n{CHARGE_2}\n{REFUND}\n".encode()
    found = lines(provider, raw)
    assert [type(r).__name__ for r in found] == [
        "SettlementRecord",
        "QuarantinedRecord",
        "SettlementRecord",
        "SettlementRecord",
    ]
    assert [r.origin.line for r in found] == [2, 3, 5, 6]  # the blank line 4 is skipped


def test_a_runaway_quote_is_quarantined_and_what_came_before_and_after_is_read(
    provider: StripeProvider,
) -> None:
    broken = row(description='"Ordine ORD-STR-1001, a quote never closed')
    filler = "".join(f"{CHARGE_2}\n" for _ in range(3000))  # past the csv module's field size limit
    raw = f"{HEADER}\n{CHARGE}\n{broken}\n{filler}".encode()
    found = lines(provider, raw)
    assert isinstance(found[0], SettlementRecord)
    # only the broken line is lost to the quote: the 3,000 after it are read
    assert isinstance(found[1], QuarantinedRecord) and found[1].origin.line == 3
    assert len(found) == 3002 and all(isinstance(r, SettlementRecord) for r in found[2:])


def test_a_line_that_is_not_utf8_is_read_as_windows_1252_with_a_notice(provider: StripeProvider) -> None:
    raw = f"{HEADER}\n".encode() + row(description="Caffè").encode("cp1252") + b"\n"
    found = records(provider, raw)
    (record,) = [r for r in found if isinstance(r, SettlementRecord)]
    assert record.gross_minor == 4990
    assert any("line 2 not UTF-8" in r.message for r in found if isinstance(r, Notice))


def test_crlf_line_ends_and_a_bom_are_read(provider: StripeProvider) -> None:
    raw = b"\xef\xbb\xbf" + EXAMPLE.replace(b"\n", b"\r\n")
    found = lines(provider, raw)
    assert [r.gross_minor for r in found if isinstance(r, SettlementRecord)] == [4990, 1800, -6400]
    assert found[0].origin.context == HEADER and found[0].origin.raw.endswith(b"\r\n")


def test_a_header_only_report_has_no_lines(provider: StripeProvider) -> None:
    assert lines(provider, f"{HEADER}\n".encode()) == []


# -- stored lines, read again ----------------------------------------------------------------------
def test_each_line_is_stored_as_its_bytes_with_the_header_as_context(provider: StripeProvider) -> None:
    found = lines(provider, EXAMPLE)
    assert [r.origin.raw for r in found] == [f"{line}\n".encode() for line in (CHARGE, CHARGE_2, REFUND)]
    assert {r.origin.context for r in found} == {HEADER}
    assert [r.origin.line for r in found] == [2, 3, 4]


def test_a_quoted_line_over_two_physical_lines_is_one_record(provider: StripeProvider) -> None:
    record = one(provider, row(description='"Ordine\nsu due righe"'))
    assert record.origin.raw.count(b"\n") == 2


def test_a_stored_line_is_read_again_by_a_new_provider_with_its_settings(config: Config) -> None:
    (record,) = lines(StripeProvider("stripe", {}, config), f"{HEADER}\n{CHARGE}\n".encode())
    again = StripeProvider("stripe", {"webhook_secret": Secret("whsec_x")}, config).reinterpret(record.origin)
    assert again == record


def test_a_stored_line_whose_header_lacks_a_needed_column_stays_quarantined(provider: StripeProvider) -> None:
    origin = Origin(2, f"{CHARGE}\n".encode(), HEADER.replace(",fee,", ",fees,"))
    record = provider.reinterpret(origin)
    assert isinstance(record, QuarantinedRecord) and "no column fee " in record.reason


def test_a_report_line_without_a_header_cannot_be_read_again() -> None:
    report = BalanceReport("txn_id", UTC)
    record = report.reinterpret(Origin(2, f"{CHARGE}\n".encode(), None))
    assert isinstance(record, QuarantinedRecord) and "without its header row" in record.reason


# -- size ------------------------------------------------------------------------------------------
class _Report(io.RawIOBase):
    """A report of ``n`` charge lines, made while it is read: never whole in memory."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._i = -1
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._buffer) < len(buffer) and self._i < self._n:
            self._i += 1
            if self._i == 0:
                self._buffer += f"{HEADER}\n".encode()
            else:
                self._buffer += row(balance_transaction_id=f"txn_{self._i:08d}").encode() + b"\n"
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _peak_memory(provider: StripeProvider, n: int) -> tuple[int, int]:
    """The peak of memory allocated while extracting a report of ``n`` lines, and the report's size."""
    source = Source.from_stream("big.csv", io.BufferedReader(_Report(n)))
    assert provider.identify(source)
    tracemalloc.start()
    try:
        count = sum(1 for record in provider.extract(source) if isinstance(record, SettlementRecord))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    return peak, source.position


def test_a_large_report_streams_with_flat_memory(provider: StripeProvider) -> None:
    small, _ = _peak_memory(provider, 3_000)  # past the 256 KiB read buffer already
    peak, size = _peak_memory(provider, 12_000)
    assert size > 2_000_000
    # four times the lines, the same memory: the read buffers, never the report
    assert peak < small * 1.2 and peak < size / 1.5, (small, peak, size)


# -- through the pipeline --------------------------------------------------------------------------
def test_ingest_stores_each_line_once_and_shows_it_in_the_requests_trail(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path)
    request_csv(
        tmp_path,
        ["ORD-STR-1001-1,ORD-STR-1001,order,2024-05-14T11:50:00+02:00,Rossi Mario,,49.90,EUR,stripe"],
    )
    report = tmp_path / "balance.csv"
    report.write_bytes(EXAMPLE)
    providers = gateways.instances(config, gateways.installed())
    first = Ingest(store, config, providers).run([str(tmp_path / "requests.csv"), str(report)])
    assert first.tallies["stripe"].settlement_lines == 3 and first.ok
    second = Ingest(store, config, providers).run([str(report)])
    assert second.tallies["stripe"].already_stored == 3
    columns = ("kind", "gateway_txn_id", "reference", "gross_minor", "fee_minor", "net_minor")
    rows = store.query(f"SELECT {', '.join(columns)} FROM settlement")
    assert sorted(tuple(r[c] for c in columns) for r in rows) == sorted(
        [
            ("charge", PI, "ORD-STR-1001-1", 4990, 100, 4890),
            ("charge", "pi_3PGqNaHc8vLmR4Tz3bN5mQ7w", "ORD-STR-1004-1", 1800, 52, 1748),
            ("refund", "pi_3PGqSjHc8vLmR4Tz6fG9hJ2k", "ORD-STR-1006-1", -6400, 0, -6400),
        ]
    )
    (entry,) = show_request(store, "ORD-STR-1001-1", config.timezone)["trail"]
    assert (entry["type"], entry["status"], entry["amount"], entry["note"]) == (
        "settlement",
        "charge",
        "49.90",
        "fee 1.00, net 48.90",
    )
    assert entry["at"] == "2024-05-14T11:59:21+02:00"


def test_a_quarantined_line_is_read_again_by_reprocess(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    report = tmp_path / "balance.csv"
    report.write_bytes(f"{HEADER}\n{row(currency='eru')}\n".encode())
    providers = gateways.instances(config, gateways.installed())
    assert Ingest(store, config, providers).run([str(report)]).quarantined == 1
    (message,) = store.query("SELECT error, context, line FROM message")
    assert message["context"] == HEADER and message["line"] == 2
    assert "unknown currency 'eru'" in message["error"]
    Ingest(store, config, providers).reprocess()
    assert store.query("SELECT COUNT(*) AS n FROM settlement")[0]["n"] == 0  # still unreadable, still kept


@pytest.mark.parametrize(
    "fewer", ["without the metadata column", "with only the balance transaction's columns"]
)
def test_a_line_met_again_in_a_report_that_says_less_keeps_its_request_whatever_the_order(
    tmp_path: Path, store: Store, fewer: str
) -> None:
    config = make_config(tmp_path)
    request_csv(
        tmp_path,
        [
            "ORD-STR-1001-1,ORD-STR-1001,order,2024-05-14T11:50:00+02:00,Rossi Mario,,49.90,EUR,stripe",
            "ORD-STR-1004-1,ORD-STR-1004,order,2024-05-14T11:55:00+02:00,Rossi Mario,,18.00,EUR,stripe",
        ],
    )
    full = tmp_path / "balance.csv"
    full.write_bytes(EXAMPLE)
    # the same balance transactions downloaded again with other columns chosen (a Dashboard export)
    names = HEADER.split(",")
    kept = names[:-1] if fewer == "without the metadata column" else names[:10]
    again = tmp_path / "balance-again.csv"
    again.write_text(
        "\n".join(
            ",".join(c for n, c in zip(names, line.split(","), strict=True) if n in kept)
            for line in EXAMPLE.decode().splitlines()
        )
        + "\n"
    )
    providers = gateways.instances(config, gateways.installed())

    def ingest_in(*order: Path) -> list[tuple[object, ...]]:
        with store.transaction():
            store.execute("DELETE FROM settlement")
            store.execute("DELETE FROM message")
        for path in (tmp_path / "requests.csv", *order):
            Ingest(store, config, providers).run([str(path)])
        rows = store.query("SELECT reference, gateway_txn_id, gross_minor FROM settlement ORDER BY line_id")
        return [(r["reference"], r["gateway_txn_id"], r["gross_minor"]) for r in rows]

    expected = [
        ("ORD-STR-1001-1", PI, 4990),
        ("ORD-STR-1004-1", "pi_3PGqNaHc8vLmR4Tz3bN5mQ7w", 1800),
        ("ORD-STR-1006-1", "pi_3PGqSjHc8vLmR4Tz6fG9hJ2k", -6400),
    ]
    assert ingest_in(full) == expected
    assert ingest_in(full, again) == expected, "a copy that says less took the line from its request"
    assert ingest_in(again, full) == expected
    for txn_id, amount in (("ORD-STR-1001-1", "49.90"), ("ORD-STR-1004-1", "18.00")):
        trail = show_request(store, txn_id, config.timezone)["trail"]
        assert [(e["type"], e["status"], e["amount"]) for e in trail] == [("settlement", "charge", amount)]
