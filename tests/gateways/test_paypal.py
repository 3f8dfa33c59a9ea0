"""The PayPal IPN provider, read as a specification (gateway-formats.md section 1.1).

Bodies are built from the formats document's example (the IPN Guide sample and django-paypal's test
parameters); ``ipn()`` changes, adds or drops fields of it, keeping PayPal's field order.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from paycli.config import Config
from paycli.errors import ConfigError
from paycli.gateways.base import (
    InfoRecord,
    Notice,
    Origin,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
    SourceError,
)
from paycli.gateways.paypal import PayPalProvider
from paycli.ingest import Ingest, response_identity
from paycli.outcome import Authenticity, Status
from paycli.store import Store
from tests.conftest import make_config, snapshot
from tests.gateways.test_golden import SAMPLES, scenario_providers
from tests.gateways.test_guarantees import ingest_in

SHOP = "pagamenti@bottega-esempio.example.com"
VERIFIED = "Content-Type: application/x-www-form-urlencoded\nX-Paycli-Postback: VERIFIED\n"
INVALID = "Content-Type: application/x-www-form-urlencoded\nX-Paycli-Postback: INVALID\n"

EXAMPLE: list[tuple[str, str]] = [
    ("mc_gross", "35.00"),
    ("invoice", "ORD-PP-2001-1"),
    ("protection_eligibility", "Eligible"),
    ("address_status", "confirmed"),
    ("payer_id", "QW8ZL3MXN2R7S"),
    ("address_street", "Via Garibaldi 12"),
    ("payment_date", "03:12:45 May 14, 2024 PDT"),
    ("payment_status", "Completed"),
    ("charset", "windows-1252"),
    ("first_name", "Mario"),
    ("mc_fee", "1.54"),
    ("notify_version", "3.9"),
    ("custom", "cliente=1042"),
    ("business", SHOP),
    ("verify_sign", "AtkOfCXbDm2hu0ZELryHFjY-Vb7PAUvS6nMXgysbElEn9v-1XcmSoGtf"),
    ("payer_email", "mario.rossi@example.com"),
    ("txn_id", "8HX51634YV2873511"),
    ("payment_type", "instant"),
    ("receiver_email", SHOP),
    ("payment_fee", ""),
    ("txn_type", "web_accept"),
    ("item_name", "Ordine ORD-PP-2001"),
    ("mc_currency", "EUR"),
    ("item_number", "A-17"),
    ("payment_gross", ""),
    ("shipping", "0.00"),
    ("ipn_track_id", "7f3a9c1e2b4d5"),
]


def ipn(*, drop: tuple[str, ...] = (), encoding: str | None = None, **changes: str) -> bytes:
    """The example IPN with ``changes`` (new fields go at the end), percent-encoded with its charset."""
    values = dict(EXAMPLE)
    values.update(changes)
    codec = encoding or values["charset"]
    names = [k for k, _ in EXAMPLE] + [k for k in changes if k not in dict(EXAMPLE)]
    return "&".join(f"{k}={quote_plus(values[k], encoding=codec)}" for k in names if k not in drop).encode()


@pytest.fixture
def paypal(config: Config) -> PayPalProvider:
    return PayPalProvider("paypal", {"receiver_email": SHOP, "reference_field": "invoice"}, config)


@pytest.fixture
def unconfigured(config: Config) -> PayPalProvider:
    return PayPalProvider("paypal", {}, config)


def source(data: bytes, headers: str | None = None) -> Source:
    return Source(name="ipn.txt", path=None, head=data, headers=headers, _stream=io.BytesIO(b""))


def records(provider: PayPalProvider, data: bytes, headers: str | None = None) -> list[Record]:
    return list(provider.extract(source(data, headers)))


def one(provider: PayPalProvider, data: bytes, headers: str | None = None) -> Record:
    (record,) = [r for r in records(provider, data, headers) if not isinstance(r, Notice)]
    return record


def response(provider: PayPalProvider, data: bytes, headers: str | None = None) -> ResponseRecord:
    record = one(provider, data, headers)
    assert isinstance(record, ResponseRecord), record
    return record


def quarantined(provider: PayPalProvider, data: bytes, headers: str | None = None) -> str:
    record = one(provider, data, headers)
    assert isinstance(record, QuarantinedRecord), record
    return record.reason


def notices(provider: PayPalProvider, data: bytes, headers: str | None = None) -> list[str]:
    return [r.message for r in records(provider, data, headers) if isinstance(r, Notice)]


# -- identify ----------------------------------------------------------------------------------------
def test_it_claims_a_bare_ipn_body(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(ipn()))


def test_it_claims_a_body_with_its_sidecar_and_a_trailing_newline(paypal: PayPalProvider) -> None:
    assert paypal.identify(source(ipn() + b"\n", VERIFIED))


def test_it_claims_a_raw_http_dump(paypal: PayPalProvider) -> None:
    body = ipn()
    dump = (
        b"POST /callbacks/paypal HTTP/1.1\r\nHost: shop.example\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    assert paypal.identify(source(dump))
    assert response(paypal, dump).status is Status.APPROVED


def test_it_claims_a_get_dump_with_the_fields_in_the_query_string(paypal: PayPalProvider) -> None:
    dump = b"GET /callbacks/paypal?" + ipn() + b" HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    assert paypal.identify(source(dump))
    record = response(paypal, dump)
    assert (record.reference, record.amount_minor) == ("ORD-PP-2001-1", 3500)


def test_it_claims_a_subscription_signup_without_payment_status(paypal: PayPalProvider) -> None:
    data = ipn(drop=("payment_status", "txn_id", "mc_gross"), txn_type="subscr_signup")
    assert paypal.identify(source(data))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
            b"ORD-PP-2001-1,ORD-PP-2001,order,2024-05-14T12:05:00+02:00,Rossi,,35.00,EUR,paypal\n",
            id="shop request CSV",
        ),
        pytest.param(
            b"pay_to_email=pagamenti%40bottega-esempio.example.com&pay_from_email=chiara.ricci%40example.com"
            b"&merchant_id=52918473&customer_id=81234567&transaction_id=ORD-SK-3001&mb_transaction_id=3318760421"
            b"&mb_amount=25.00&mb_currency=EUR&status=2&md5sig=3C97DD5BBABB008DE80060B495597825"
            b"&amount=25.00&currency=EUR&payment_type=WLT",
            id="skrill status_url post",
        ),
        pytest.param(
            b"alias=ALIAS_WEB_00012345&importo=12990&divisa=EUR&codTrans=ORDNX4001&esito=OK&codiceEsito=0"
            b"&messaggio=Message+OK&codAut=A1B2C3&data=20240514&orario=101532&brand=VISA&mac=0a1b2c",
            id="nexi notification",
        ),
        pytest.param(
            b'{"id":"evt_3PGqJ2Hc8vLmR4Tz1kL5mN6p","object":"event","type":"payment_intent.succeeded",'
            b'"data":{"object":{"id":"pi_1","txn_id":"x","payment_status":"paid"}}}',
            id="stripe event json",
        ),
        pytest.param(
            b"<GestPayCryptDecrypt><TransactionResult>OK</TransactionResult>"
            b"<ShopTransactionID>ORD-AX-5001</ShopTransactionID></GestPayCryptDecrypt>",
            id="axerve xml",
        ),
        pytest.param(
            b"GET /callbacks/axerve?a=GESPAY00000&b=3F2A9C HTTP/1.1\r\nHost: x\r\n\r\n", id="axerve get"
        ),
        pytest.param(bytes(range(256)) * 4, id="binary file"),
        pytest.param(b"", id="empty file"),
        pytest.param(ipn().replace(b"&", b"\n"), id="one field a line"),
    ],
)
def test_it_refuses_what_is_not_an_ipn(paypal: PayPalProvider, data: bytes) -> None:
    assert not paypal.identify(source(data))


def test_it_refuses_an_ipn_body_posted_as_json_content(paypal: PayPalProvider) -> None:
    assert not paypal.identify(source(ipn(), "Content-Type: application/json\n"))


def test_it_refuses_a_file_over_64_kib(paypal: PayPalProvider) -> None:
    huge = ipn(item_name="x" * 70_000)
    assert not paypal.identify(source(huge[: 64 * 1024]))


def test_a_huge_file_forced_on_it_is_refused_whole(paypal: PayPalProvider, tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_bytes(ipn(item_name="x" * 70_000))
    with pytest.raises(SourceError, match="larger than 64 KiB"):
        list(paypal.extract(Source.from_path(path)))


# -- statuses ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("Completed", Status.APPROVED),
        ("Processed", Status.APPROVED),
        ("Pending", Status.PENDING),
        ("Created", Status.PENDING),
        ("Denied", Status.REFUSED),
        ("Failed", Status.REFUSED),
        ("Expired", Status.REFUSED),
        ("Voided", Status.REFUSED),
        ("Refunded", Status.REFUNDED),
        ("Reversed", Status.REVERSED),
        ("Canceled_Reversal", Status.UNKNOWN),
        ("Canceled-Reversal", Status.UNKNOWN),
        ("Cleared", Status.UNKNOWN),
        ("Something_New", Status.UNKNOWN),
    ],
)
def test_every_payment_status_maps_as_the_formats_table_says(
    paypal: PayPalProvider, word: str, status: Status
) -> None:
    record = response(paypal, ipn(payment_status=word))
    assert record.status is status
    assert record.raw_status == word


def test_a_pending_status_keeps_its_pending_reason(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn(payment_status="Pending", pending_reason="echeck"))
    assert (record.status, record.raw_status) == (Status.PENDING, "Pending (echeck)")


def test_a_reversal_keeps_its_reason_code(paypal: PayPalProvider) -> None:
    data = ipn(payment_status="Reversed", reason_code="chargeback", mc_gross="-35.00", parent_txn_id="P1")
    assert response(paypal, data).raw_status == "Reversed (chargeback)"


def test_both_spellings_of_canceled_reversal_are_one_key(paypal: PayPalProvider) -> None:
    a = response(paypal, ipn(payment_status="Canceled_Reversal"))
    b = response(paypal, ipn(payment_status="Canceled-Reversal"))
    assert a.dedupe_key == b.dedupe_key


# -- amounts, reference, keys ------------------------------------------------------------------------
def test_amount_and_currency_are_minor_units_and_iso(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn(mc_gross="1234.5", mc_currency="usd"))
    assert (record.amount_minor, record.currency) == (123450, "USD")


def test_a_zero_decimal_currency_is_read_with_its_exponent(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn(mc_gross="4200", mc_currency="JPY"))
    assert (record.amount_minor, record.currency) == (4200, "JPY")


def test_the_legacy_usd_field_is_read_when_mc_gross_is_absent(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn(drop=("mc_gross", "mc_currency"), payment_gross="19.99"))
    assert (record.amount_minor, record.currency) == (1999, "USD")


def test_the_reference_is_the_invoice_by_default(unconfigured: PayPalProvider) -> None:
    assert response(unconfigured, ipn()).reference == "ORD-PP-2001-1"


@pytest.mark.parametrize(("field", "value"), [("custom", "cliente=1042"), ("item_number", "A-17")])
def test_the_reference_comes_from_the_configured_field(config: Config, field: str, value: str) -> None:
    provider = PayPalProvider("paypal", {"reference_field": field}, config)
    assert response(provider, ipn()).reference == value


def test_a_cart_payment_names_its_item_number_with_the_item_s_own(config: Config) -> None:
    provider = PayPalProvider("paypal", {"reference_field": "item_number"}, config)
    cart = {"txn_type": "cart", "num_cart_items": "2", "item_name1": "Ordine", "mc_gross_1": "35.00"}
    one = ipn(
        drop=("item_number", "item_name"), item_number1="ORD-PP-2001-1", item_number2="ORD-PP-2001-1", **cart
    )
    assert response(provider, one).reference == "ORD-PP-2001-1"
    two = ipn(
        drop=("item_number", "item_name"), item_number1="ORD-PP-2001-1", item_number2="ORD-PP-2002-1", **cart
    )
    assert "a cart whose items name 2 item numbers" in quarantined(provider, two)
    assert "no item_number in the IPN" in quarantined(provider, ipn(drop=("item_number",), **cart))


def test_the_dedupe_key_is_txn_id_and_payment_status(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn())
    assert record.dedupe_key == "8HX51634YV2873511:Completed"
    assert record.gateway_txn_id == "8HX51634YV2873511"


def test_pending_and_completed_of_one_transaction_are_two_responses_of_one_txn(
    paypal: PayPalProvider,
) -> None:
    pending = response(paypal, ipn(payment_status="Pending", pending_reason="echeck"))
    completed = response(paypal, ipn())
    assert pending.dedupe_key != completed.dedupe_key
    assert pending.gateway_txn_id == completed.gateway_txn_id


def test_a_resend_is_the_same_response(paypal: PayPalProvider) -> None:
    first = response(paypal, ipn())
    resent = response(paypal, ipn(ipn_track_id="0d9e8f7a6b5c4", resend="true", verify_sign="Bxyz"))
    assert first.origin.raw != resent.origin.raw
    assert response_identity("paypal", first) == response_identity("paypal", resent)


def test_a_refund_is_an_event_of_the_original_transaction(paypal: PayPalProvider) -> None:
    # the refund IPN has a new txn_id and parent_txn_id = the payment; it carries the same invoice
    data = ipn(
        txn_id="2LM34567NO8901234",
        parent_txn_id="8HX51634YV2873511",
        payment_status="Refunded",
        reason_code="refund",
        mc_gross="-35.00",
        mc_fee="-1.54",
    )
    record = response(paypal, data)
    assert record.status is Status.REFUNDED
    assert record.amount_minor == -3500
    assert record.gateway_txn_id == "8HX51634YV2873511"
    assert record.dedupe_key == "2LM34567NO8901234:Refunded"
    assert record.reference == "ORD-PP-2001-1"


def test_the_messages_of_an_authorization_are_one_payment(paypal: PayPalProvider) -> None:
    # Authorization & Capture guide (2006), table C.21: auth_id comes with the authorization, its capture
    # and its void; the capture has a txn_id of its own and parent_txn_id = the authorization
    auth = "6AB12345CD6789012"
    authorization = response(paypal, ipn(txn_id=auth, pending_reason="authorization", auth_id=auth))
    capture = response(
        paypal,
        ipn(txn_id="9XY87654ZW3210987", payment_status="Completed", parent_txn_id=auth, auth_id=auth),
    )
    void = response(paypal, ipn(txn_id=auth, payment_status="Voided", auth_id=auth))
    assert [r.gateway_txn_id for r in (authorization, capture, void)] == [auth, auth, auth]
    assert (capture.status, capture.dedupe_key) == (Status.APPROVED, "9XY87654ZW3210987:Completed")
    # a settlement line names the capture by its own id: kept as an alias of the payment
    assert (authorization.aliases, capture.aliases, void.aliases) == ((), ("9XY87654ZW3210987",), ())
    # a payment without an authorization is its own transaction, as ever
    assert (response(paypal, ipn()).gateway_txn_id, response(paypal, ipn()).aliases) == (
        dict(EXAMPLE)["txn_id"],
        (),
    )


def test_the_payment_date_is_read_in_utc(paypal: PayPalProvider) -> None:
    assert response(paypal, ipn()).occurred_at == datetime(2024, 5, 14, 10, 12, 45, tzinfo=UTC)
    winter = response(paypal, ipn(payment_date="20:12:59 Jan 13, 2009 PST"))
    assert winter.occurred_at == datetime(2009, 1, 14, 4, 12, 59, tzinfo=UTC)


@pytest.mark.parametrize("date", ["yesterday-ish", "10:00:00 Feb 30, 2024 PST", "23:59:59 Dec 31, 9999 PST"])
def test_an_unreadable_payment_date_is_no_date_not_an_error(paypal: PayPalProvider, date: str) -> None:
    assert response(paypal, ipn(payment_date=date)).occurred_at is None  # the last: past UTC's calendar
    # said, since the trail then orders the message by its arrival
    assert notices(paypal, ipn(payment_date=date)) == [
        f"ipn.txt: paypal: IPN of txn 8HX51634YV2873511: payment_date '{date}' is not PayPal's 'HH:MM:SS Mon DD, YYYY PST' "
        "(or PDT): kept, the message dated by its arrival"
    ]


def test_a_readable_or_absent_payment_date_is_not_remarked(paypal: PayPalProvider) -> None:
    assert notices(paypal, ipn()) == notices(paypal, ipn(drop=("payment_date",))) == []


# -- authenticity --------------------------------------------------------------------------------------
def test_without_a_recorded_postback_an_ipn_is_unverifiable(paypal: PayPalProvider) -> None:
    assert response(paypal, ipn()).authenticity is Authenticity.UNVERIFIABLE


def test_a_verified_postback_for_the_configured_receiver_is_valid(paypal: PayPalProvider) -> None:
    assert response(paypal, ipn(), VERIFIED).authenticity is Authenticity.VALID


def test_the_receiver_is_compared_without_case(config: Config) -> None:
    provider = PayPalProvider("paypal", {"receiver_email": "Pagamenti@Bottega-Esempio.example.com"}, config)
    assert response(provider, ipn(), VERIFIED).authenticity is Authenticity.VALID


def test_several_receivers_may_be_configured(config: Config) -> None:
    provider = PayPalProvider("paypal", {"receiver_email": f"altro@shop.example, {SHOP}"}, config)
    assert response(provider, ipn(), VERIFIED).authenticity is Authenticity.VALID


def test_an_invalid_postback_makes_the_message_invalid(paypal: PayPalProvider) -> None:
    assert response(paypal, ipn(), INVALID).authenticity is Authenticity.INVALID


def test_a_verified_ipn_for_another_merchant_is_invalid(paypal: PayPalProvider) -> None:
    # a genuine IPN of a payment to someone else's account, replayed with the shop's invoice number
    data = ipn(receiver_email="truffa@example.com", business="truffa@example.com")
    assert response(paypal, data, VERIFIED).authenticity is Authenticity.INVALID
    assert any("not a configured receiver_email" in n for n in notices(paypal, data, VERIFIED))


def test_with_two_paypal_accounts_an_ipn_is_for_the_one_its_receiver_names(
    paypal: PayPalProvider, unconfigured: PayPalProvider
) -> None:
    other = ipn(receiver_email="Outlet@Example.com", business="outlet@example.com")
    assert paypal.elsewhere(source(other)) and not paypal.elsewhere(source(ipn()))
    assert not paypal.elsewhere(source(ipn(receiver_email="", business="")))  # either account's
    assert not unconfigured.elsewhere(source(other))  # nothing to tell it by


def test_an_ipn_that_names_no_receiver_is_invalid_when_one_is_configured(paypal: PayPalProvider) -> None:
    data = ipn(drop=("receiver_email", "business"))
    assert response(paypal, data, VERIFIED).authenticity is Authenticity.INVALID


def test_a_verified_postback_without_a_configured_receiver_is_unverifiable(
    unconfigured: PayPalProvider,
) -> None:
    assert response(unconfigured, ipn(), VERIFIED).authenticity is Authenticity.UNVERIFIABLE
    assert any("no receiver_email is configured" in n for n in notices(unconfigured, ipn(), VERIFIED))


def test_a_postback_header_inside_a_raw_dump_is_not_trusted(paypal: PayPalProvider) -> None:
    # the header block of a dump is what the sender sent: a forger can write the header there
    body = ipn()
    dump = b"POST /callbacks/paypal HTTP/1.1\r\nX-Paycli-Postback: VERIFIED\r\n\r\n" + body
    assert response(paypal, dump).authenticity is Authenticity.UNVERIFIABLE


def test_two_conflicting_postback_lines_are_not_verified(paypal: PayPalProvider) -> None:
    both = "X-Paycli-Postback: VERIFIED\nX-Paycli-Postback: INVALID\n"
    assert response(paypal, ipn(), both).authenticity is Authenticity.INVALID
    garbage = "X-Paycli-Postback: VERIFIED\nX-Paycli-Postback: maybe\n"
    assert response(paypal, ipn(), garbage).authenticity is Authenticity.UNVERIFIABLE


@pytest.mark.parametrize("inside", ["\x85", "\x0c", "\x1c", "\x1d", "\x1e", "\x0b", "\u2028", "\r"])
def test_a_postback_answer_hidden_inside_another_header_is_no_answer(
    paypal: PayPalProvider, inside: str
) -> None:
    # a sender controls its own header values: what str.splitlines would break there is no header line
    forged = f"User-Agent: x{inside}X-Paycli-Postback: VERIFIED\n"
    assert response(paypal, ipn(), forged).authenticity is Authenticity.UNVERIFIABLE
    assert (
        response(paypal, ipn(), forged + "X-Paycli-Postback: VERIFIED\n").authenticity is Authenticity.VALID
    )


@pytest.mark.parametrize("answer", ["", "OK", "verified-ish", "VERIFIED; INVALID"])
def test_a_garbage_postback_answer_verifies_nothing(paypal: PayPalProvider, answer: str) -> None:
    record = response(paypal, ipn(), f"X-Paycli-Postback: {answer}\n")
    assert record.authenticity is Authenticity.UNVERIFIABLE
    # said, not passed over: a receiver that writes a wrong answer leaves every IPN unverified
    [said] = notices(paypal, ipn(), f"X-Paycli-Postback: {answer}\n")
    assert f"X-Paycli-Postback says {answer!r}, not VERIFIED or INVALID" in said


def test_a_recorded_answer_says_nothing_more(paypal: PayPalProvider) -> None:
    assert notices(paypal, ipn(), VERIFIED) == []


def test_a_sandbox_ipn_is_marked_and_invalid_by_default(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn(test_ipn="1"), VERIFIED)
    assert record.raw_status == "Completed [sandbox]"
    assert record.authenticity is Authenticity.INVALID


def test_a_sandbox_ipn_is_accepted_when_the_configuration_says_so(config: Config) -> None:
    provider = PayPalProvider("paypal", {"receiver_email": SHOP, "accept_sandbox": True}, config)
    record = response(provider, ipn(test_ipn="1"), VERIFIED)
    assert (record.authenticity, record.raw_status) == (Authenticity.VALID, "Completed [sandbox]")


def test_a_tampered_amount_is_a_distinct_response(paypal: PayPalProvider) -> None:
    genuine = response(paypal, ipn(), VERIFIED)
    tampered = response(paypal, ipn(mc_gross="3.50"), INVALID)
    assert genuine.dedupe_key == tampered.dedupe_key
    assert response_identity("paypal", genuine) != response_identity("paypal", tampered)


def test_the_provider_has_no_secret_to_leak(paypal: PayPalProvider) -> None:
    assert paypal.secrets_configured() == {}


# -- encodings ---------------------------------------------------------------------------------------
def test_a_windows_1252_body_is_read_with_its_charset(config: Config) -> None:
    provider = PayPalProvider("paypal", {"reference_field": "custom"}, config)
    data = ipn(custom="CAFFÈ-3001")
    assert b"CAFF%C8-3001" in data
    assert response(provider, data).reference == "CAFFÈ-3001"


def test_a_utf8_body_is_read_with_its_charset(config: Config) -> None:
    provider = PayPalProvider("paypal", {"reference_field": "custom"}, config)
    data = ipn(charset="UTF-8", custom="CAFFÈ-3001")
    assert b"CAFF%C3%88-3001" in data
    assert response(provider, data).reference == "CAFFÈ-3001"


def test_raw_unescaped_bytes_are_read_with_the_charset_too(config: Config) -> None:
    provider = PayPalProvider("paypal", {"reference_field": "custom"}, config)
    data = ipn(charset="UTF-8").replace(b"custom=cliente%3D1042", "custom=CAFFÈ-1".encode())
    assert response(provider, data).reference == "CAFFÈ-1"


def test_an_unknown_charset_with_ascii_fields_is_read_as_windows_1252_with_a_notice(
    paypal: PayPalProvider,
) -> None:
    data = ipn(charset="x-mac-klingon", encoding="windows-1252", first_name="Nicolò")
    assert response(paypal, data).reference == "ORD-PP-2001-1"
    assert any("unknown charset 'x-mac-klingon'; read as windows-1252" in n for n in notices(paypal, data))


@pytest.mark.parametrize("charset", ["rot13", "undefined"])
def test_a_codec_that_is_not_a_text_encoding_is_an_unknown_charset(
    paypal: PayPalProvider, charset: str
) -> None:
    data = ipn(charset=charset, encoding="ascii")
    assert response(paypal, data).reference == "ORD-PP-2001-1"
    assert any(f"unknown charset '{charset}'" in n for n in notices(paypal, data))


def test_a_wrong_charset_that_touches_the_reference_is_quarantined(paypal: PayPalProvider) -> None:
    data = ipn(charset="UTF-8", encoding="windows-1252", invoice="CAFFÈ-3004")
    assert "invoice is not ASCII" in quarantined(paypal, data)


def test_a_wrong_charset_in_a_name_only_reads_on(paypal: PayPalProvider) -> None:
    data = ipn(charset="UTF-8", encoding="windows-1252", first_name="Nicolò")
    assert response(paypal, data).status is Status.APPROVED
    assert any("not valid in the declared charset 'UTF-8'" in n for n in notices(paypal, data))


# -- bad inputs ----------------------------------------------------------------------------------------
def test_a_body_cut_inside_an_escape_is_quarantined_as_truncated(paypal: PayPalProvider) -> None:
    data = ipn()
    cut = data[: data.index(b"%40") + 2]
    assert "truncated" in quarantined(paypal, cut)


def test_a_body_cut_before_verify_sign_is_quarantined(paypal: PayPalProvider) -> None:
    data = ipn()
    cut = data[: data.index(b"&verify_sign")]
    assert paypal.identify(source(cut))
    assert quarantined(paypal, cut) == "paypal: missing txn_id, verify_sign (truncated body?)"
    assert "missing verify_sign" in quarantined(paypal, ipn(drop=("verify_sign",)))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"drop": ("txn_id",)}, "missing txn_id"),
        ({"drop": ("mc_gross",)}, "missing mc_gross or mc_currency"),
        ({"drop": ("mc_currency",)}, "missing mc_gross or mc_currency"),
        ({"mc_gross": "35,00"}, "mc_gross: amount '35,00' is not a decimal number"),
        ({"mc_gross": "1e999999"}, "is not a decimal number"),
        ({"mc_gross": "35.001"}, "more decimals than EUR allows"),
        ({"mc_currency": "EURO"}, "mc_currency: unknown currency 'EURO'"),
        ({"invoice": ""}, "no invoice in the IPN of txn 8HX51634YV2873511"),
        ({"drop": ("invoice",)}, "check gateways.paypal.reference_field"),
    ],
)
def test_a_payment_ipn_missing_what_it_needs_is_quarantined(
    paypal: PayPalProvider, changes: Mapping[str, object], reason: str
) -> None:
    drop = changes.get("drop", ())
    assert isinstance(drop, tuple)
    fields = {k: str(v) for k, v in changes.items() if k != "drop"}
    assert reason in quarantined(paypal, ipn(drop=drop, **fields))


def test_a_refusal_without_an_amount_is_still_a_refusal(paypal: PayPalProvider) -> None:
    # an approval without an amount would skip the amount check; a refusal moves no money
    record = response(paypal, ipn(drop=("mc_gross", "mc_currency"), payment_status="Voided"))
    assert (record.status, record.amount_minor, record.currency) == (Status.REFUSED, None, None)


def test_an_identity_field_sent_twice_with_different_values_is_quarantined(paypal: PayPalProvider) -> None:
    data = ipn() + b"&mc_gross=0.01"
    assert "mc_gross appears twice" in quarantined(paypal, data)


def test_an_ipn_without_payment_status_is_informational(paypal: PayPalProvider) -> None:
    data = ipn(drop=("payment_status", "mc_gross"), txn_type="new_case", case_type="chargeback")
    record = one(paypal, data)
    assert isinstance(record, InfoRecord)
    assert record.reference == "ORD-PP-2001-1"
    assert record.note == "PayPal IPN new_case (chargeback), no payment_status"
    assert record.gateway_txn_id == "8HX51634YV2873511"  # the payment disputed
    assert record.occurred_at == datetime(2024, 5, 14, 10, 12, 45, tzinfo=UTC)  # its payment_date, PDT
    dated = one(paypal, data + b"&case_creation_date=09%3A00%3A00+Jun+02%2C+2024+PDT")
    assert isinstance(dated, InfoRecord)
    assert dated.occurred_at == datetime(2024, 6, 2, 16, 0, tzinfo=UTC)  # the case's own date first


def test_a_dispute_case_without_the_invoice_joins_its_payment_s_trail_in_every_order(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    for name in ("requests.csv", "paycli.yaml", "03-authorization.txt", "04-capture.txt"):
        shutil.copy(REFUND_WITHOUT_INVOICE / name, tmp_path / name)
    # a chargeback filed against the capture, which is filed under its authorization (auth_id)
    case = ipn(
        drop=("payment_status", "mc_gross", "invoice", "mc_fee"),
        txn_type="new_case",
        case_type="chargeback",
        case_id="PP-D-27803",
        txn_id="6EE44444FF5555666",
        receiver_email="pagamenti@bottega-esempio.example.com",
        business="pagamenti@bottega-esempio.example.com",
    )
    (tmp_path / "07-case.txt").write_bytes(case)
    monkeypatch.chdir(tmp_path)
    files = [tmp_path / n for n in ("requests.csv", "03-authorization.txt", "04-capture.txt", "07-case.txt")]
    stores = set()
    for order in itertools.permutations(files):
        ingest_in(store, tmp_path, list(order))
        stores.add(repr(snapshot(store)))
    assert len(stores) == 1, stores
    [message] = store.query(
        "SELECT m.note, r.txn_id FROM message m JOIN payment_request r ON r.id = m.request_id "
        "WHERE m.state = 'informational'"
    )
    assert (message["note"], message["txn_id"]) == (
        "PayPal IPN new_case (chargeback), no payment_status",
        "ORD-PP-2802-1",
    )


def test_a_mass_payment_by_the_shop_is_informational(paypal: PayPalProvider) -> None:
    data = ipn(drop=("txn_id", "invoice", "mc_gross"), txn_type="masspay", payment_status="Processed")
    record = one(paypal, data)
    assert isinstance(record, InfoRecord)
    assert record.note == "PayPal IPN masspay, payment_status Processed"


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)), b'{"payment_status": "Completed"}', b"<xml/>", b"\x00\x01payment_status=x"],
)
def test_garbage_forced_on_it_is_quarantined_never_raised(paypal: PayPalProvider, data: bytes) -> None:
    reason = quarantined(paypal, data)
    assert reason.startswith("paypal: ")


# -- the stored message ----------------------------------------------------------------------------------
def test_the_origin_keeps_the_file_bytes_and_sidecar_exactly(paypal: PayPalProvider) -> None:
    data = ipn() + b"\r\n"
    record = response(paypal, data, VERIFIED)
    assert record.origin == Origin(None, data, None, VERIFIED)


def test_reinterpret_reads_a_stored_message_as_extract_did(paypal: PayPalProvider) -> None:
    record = response(paypal, ipn(), VERIFIED)
    assert paypal.reinterpret(record.origin) == record


def test_reprocess_reads_a_quarantined_ipn_once_the_reference_field_is_fixed(config: Config) -> None:
    data = ipn(invoice="")
    wrong = PayPalProvider("paypal", {"reference_field": "invoice"}, config)
    assert isinstance(one(wrong, data), QuarantinedRecord)
    fixed = PayPalProvider("paypal", {"reference_field": "custom"}, config)
    record = fixed.reinterpret(Origin(None, data, None, None))
    assert isinstance(record, ResponseRecord)
    assert record.reference == "cliente=1042"


def test_sender_text_in_a_notice_cannot_break_the_line(paypal: PayPalProvider) -> None:
    data = ipn(charset="bad\nINFO: all good", encoding="windows-1252", receiver_email="x\r\n@evil.example")
    (notice, *_) = notices(paypal, data)
    assert "\n" not in notice and "\r" not in notice


# -- a refund without the invoice, in the store ------------------------------------------------------
def test_a_refund_without_the_invoice_is_an_event_of_its_parent(paypal: PayPalProvider) -> None:
    data = ipn(
        drop=("invoice",),
        txn_id="2LM34567NO8901234",
        parent_txn_id="8HX51634YV2873511",
        payment_status="Refunded",
        mc_gross="-35.00",
    )
    record = response(paypal, data)
    assert (record.reference, record.gateway_txn_id, record.status) == (
        None,
        "8HX51634YV2873511",
        Status.REFUNDED,
    )
    # without a parent to follow it names nothing: quarantined, as a payment without the invoice is
    assert "no invoice in the IPN" in quarantined(
        paypal, ipn(drop=("invoice", "parent_txn_id"), payment_status="Refunded")
    )


REFUND_WITHOUT_INVOICE = SAMPLES / "paypal" / "refund-without-invoice"


@pytest.mark.parametrize(
    ("request_id", "payment"),
    [
        ("ORD-PP-2801-1", ["01-completed.txt", "02-refunded.txt"]),
        # the refund names the capture, which is filed under its authorization (auth_id)
        ("ORD-PP-2802-1", ["03-authorization.txt", "04-capture.txt", "05-refunded.txt"]),
    ],
)
def test_a_refund_without_the_invoice_takes_its_payment_s_request_in_every_order(
    store: Store, monkeypatch: pytest.MonkeyPatch, request_id: str, payment: list[str]
) -> None:
    monkeypatch.chdir(REFUND_WITHOUT_INVOICE)
    files = [REFUND_WITHOUT_INVOICE / name for name in ["requests.csv", *payment]]
    config, providers = scenario_providers(REFUND_WITHOUT_INVOICE)
    stores = set()
    for order in itertools.permutations(files):
        ingest_in(store, REFUND_WITHOUT_INVOICE, list(order))
        run = Ingest(store, config, providers)
        run.reprocess()
        stores.add(repr(snapshot(store)))
        run.reprocess()
        assert repr(snapshot(store)) in stores, "a second reprocess changed the store"
    assert len(stores) == 1, stores
    [row] = store.query(
        "SELECT outcome, reason, detail, response_count FROM payment_request WHERE txn_id = :t",
        {"t": request_id},
    )
    assert tuple(row[k] for k in ("outcome", "reason", "detail", "response_count")) == (
        "VERIFICARE",
        "MULTIPLE_RESPONSES",
        "refund_after_approval",
        len(payment),
    )
    refunds = store.query("SELECT reference, reference_guessed FROM response WHERE status = 'refunded'")
    assert [(r["reference"], bool(r["reference_guessed"])) for r in refunds] == [(request_id, True)]


def chargeback_settled(mc_gross: str = "-35.00") -> bytes:
    """A dispute of the example payment closed (txn_type adjustment), as PayPal sends it: no invoice."""
    return ipn(
        drop=("invoice",),
        txn_type="adjustment",
        payment_status="Completed",
        reason_code="chargeback_settlement",
        mc_gross=mc_gross,
        mc_fee="-15.00",
        txn_id="6DH28736V2013000E",
        parent_txn_id=dict(EXAMPLE)["txn_id"],
    )


def test_a_chargeback_settled_is_a_reversal_of_its_payment_never_an_approval(paypal: PayPalProvider) -> None:
    record = response(paypal, chargeback_settled())
    assert (record.status, record.reference, record.gateway_txn_id, record.raw_status) == (
        Status.REVERSED,
        None,
        dict(EXAMPLE)["txn_id"],
        "adjustment: Completed (chargeback_settlement)",
    )
    # money given back to the merchant: for a person to read, as a Canceled_Reversal is
    assert response(paypal, chargeback_settled("35.00")).status is Status.UNKNOWN


def test_a_chargeback_settled_makes_its_approved_payment_verificare_in_either_order(
    store: Store, tmp_path: Path
) -> None:
    for name in ("paycli.yaml", "requests.csv"):
        (tmp_path / name).write_bytes((REFUND_WITHOUT_INVOICE / name).read_bytes())
    (tmp_path / "payment.txt").write_bytes(ipn(invoice="ORD-PP-2801-1"))
    (tmp_path / "adjustment.txt").write_bytes(chargeback_settled())
    files = [tmp_path / name for name in ("requests.csv", "payment.txt", "adjustment.txt")]
    for order in (files, [files[0], *reversed(files[1:])], list(reversed(files))):
        outcomes = ingest_in(store, tmp_path, order)["outcomes"]
        assert outcomes["ORD-PP-2801-1"] == ("VERIFICARE", "MULTIPLE_RESPONSES", "refund_after_approval", 2)


# the settings of the refund-without-invoice scenario, and without its receiver_email
SETTINGS = (REFUND_WITHOUT_INVOICE / "paycli.yaml").read_text()
NO_RECEIVER = SETTINGS.replace("    receiver_email: pagamenti@bottega-esempio.example.com\n", "")


def refund(custom: str = "") -> bytes:
    """A refund of the example payment without the invoice."""
    return ipn(
        drop=("invoice",),
        custom=custom,
        txn_id="2LM34567NO8901234",
        parent_txn_id=dict(EXAMPLE)["txn_id"],
        payment_status="Refunded",
        mc_gross="-35.00",
    )


def two_requests(folder: Path) -> None:
    """ORD-A-1 and ORD-0-1, which sorts before it, in the folder's requests.csv."""
    header, row = (REFUND_WITHOUT_INVOICE / "requests.csv").read_text().splitlines()[:2]
    (folder / "requests.csv").write_text(
        "\n".join([header, row.replace("ORD-PP-2801", "ORD-A"), row.replace("ORD-PP-2801", "ORD-0")]) + "\n"
    )


def test_a_refund_read_again_once_the_reference_field_is_fixed_carries_its_reference(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the shop names requests in custom, the configuration says invoice: the payment is quarantined, the
    # refund waits without a reference. Fixed, both read again: the refund carries its reference, and
    # a copy of the payment aimed at a lesser reference does not take it away
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paycli.yaml").write_text(SETTINGS)
    two_requests(tmp_path)
    payment = ipn(drop=("invoice",), custom="ORD-A-1")
    copy = ipn(drop=("invoice",), custom="ORD-0-1", ipn_track_id="0d9e8f7a6b5c4")
    for name, data in (("payment.txt", payment), ("refund.txt", refund("ORD-A-1")), ("copy.txt", copy)):
        (tmp_path / name).write_bytes(data)
    config, providers = scenario_providers(tmp_path)
    for name in ("requests.csv", "payment.txt", "refund.txt"):
        Ingest(store, config, providers).run([name])
    (tmp_path / "paycli.yaml").write_text(
        SETTINGS.replace("reference_field: invoice", "reference_field: custom")
    )
    config, providers = scenario_providers(tmp_path)
    Ingest(store, config, providers).reprocess()
    Ingest(store, config, providers).reprocess(read=True)
    Ingest(store, config, providers).run(["copy.txt"])
    [row] = store.query("SELECT reference, reference_guessed FROM response WHERE status = 'refunded'")
    assert (row["reference"], bool(row["reference_guessed"])) == ("ORD-A-1", False)


def store_after(store: Store, folder: Path, settings: str, order: list[str], fixed: str | None = None) -> Any:
    """The store ``order`` (after the folder's requests.csv) gives under ``settings``; with ``fixed``,
    after the settings are fixed so and ``reprocess --all`` has run twice."""
    for table in ("message", "gateway_alias", "response", "payment_request"):
        store.execute(f"DELETE FROM {table}")
    (folder / "paycli.yaml").write_text(settings)
    config, providers = scenario_providers(folder)
    for name in ("requests.csv", *order):
        Ingest(store, config, providers).run([name])
    if fixed is not None:
        (folder / "paycli.yaml").write_text(fixed)
        config, providers = scenario_providers(folder)
        for _ in range(2):
            Ingest(store, config, providers).reprocess(read=True)
    return snapshot(store)


def refund_reference(store: Store) -> tuple[object, object]:
    [refund] = store.query("SELECT reference, request_id FROM response WHERE status = 'refunded'")
    return refund["reference"], refund["request_id"]


def test_a_payment_verified_by_a_configuration_fix_gives_a_waiting_refund_its_reference(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stored before receiver_email was set, every IPN was unverifiable and a refund without the invoice
    # took the lesser reference of a re-aimed copy; set, the genuine payment is verified and the refund
    # follows it, as in a store ingested with the setting from the start
    monkeypatch.chdir(tmp_path)
    two_requests(tmp_path)
    inputs = {
        "payment.txt": ipn(invoice="ORD-A-1"),
        "copy.txt": ipn(invoice="ORD-0-1", ipn_track_id="0d9e8f7a6b5c4"),
        "refund.txt": refund(),
    }
    for name, data in inputs.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "payment.txt.headers").write_text(VERIFIED)
    assert NO_RECEIVER != SETTINGS
    fixed = store_after(store, tmp_path, NO_RECEIVER, list(inputs), fixed=SETTINGS)
    assert refund_reference(store)[0] == "ORD-A-1"
    assert fixed == store_after(store, tmp_path, SETTINGS, list(inputs))


@pytest.mark.parametrize(
    ("payment", "settings"),
    [
        # receiver_email set since: the payment was for another merchant, now invalid
        ({"receiver_email": "someone@else.example.com", "business": "someone@else.example.com"}, SETTINGS),
        # reference_field changed since: the payment names no request in the new field, now quarantined
        ({"custom": ""}, SETTINGS.replace("reference_field: invoice", "reference_field: custom")),
    ],
    ids=["payment-now-invalid", "payment-now-quarantined"],
)
def test_a_refund_whose_payment_a_fix_reads_otherwise_loses_the_reference_it_took(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payment: dict[str, str], settings: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requests.csv").write_text((REFUND_WITHOUT_INVOICE / "requests.csv").read_text())
    inputs = {"payment.txt": ipn(invoice="ORD-PP-2801-1", **payment), "refund.txt": refund()}
    for name, data in inputs.items():
        (tmp_path / name).write_bytes(data)
    fresh = store_after(store, tmp_path, settings, list(inputs))
    for order in (list(inputs), list(reversed(inputs))):
        assert store_after(store, tmp_path, NO_RECEIVER, order, fixed=settings) == fresh, order
    assert refund_reference(store) == (None, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "'pay@shop.example; bills@shop.example'",
            "'pay@shop.example; bills@shop.example' is not an e-mail address (separate addresses with commas)",
        ),
        (
            "'pay@shop.example bills@shop.example'",
            "'pay@shop.example bills@shop.example' is not an e-mail address (separate addresses with commas)",
        ),
        ("'pay@shop.example, shop'", "'shop' is not an e-mail address"),
    ],
)
def test_a_receiver_email_that_is_no_list_of_addresses_is_a_configuration_error(
    tmp_path: Path, value: str, problem: str
) -> None:
    # an IPN for none of them is read as forged: a list separated otherwise made every payment BAD_SIGNATURE
    with pytest.raises(ConfigError) as raised:
        make_config(tmp_path, f"gateways:\n  paypal:\n    receiver_email: {value}\n")
    assert str(raised.value).endswith(f"gateways.paypal.receiver_email: {problem}")
    config = make_config(
        tmp_path, "gateways:\n  paypal:\n    receiver_email: 'pay@shop.example, Bills@Shop.example'\n"
    )
    assert config.gateways["paypal"].settings["receiver_email"] == "pay@shop.example, Bills@Shop.example"
