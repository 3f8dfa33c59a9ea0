"""The Skrill provider, as a specification: what a status_url post means to paycli.

The posts are built from gateway-formats.md section 3: the field list, the status table and the md5sig
construction (``merchant_id + transaction_id + UPPER(MD5(secret word)) + mb_amount + mb_currency +
status``, upper-case hex). ``test_the_documented_example_is_valid`` pins the document's own example.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest

from paycli.config import Config, Secret
from paycli.errors import ConfigError
from paycli.gateways.base import (
    HEAD_BYTES,
    Notice,
    Origin,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
    SourceError,
)
from paycli.gateways.skrill import SkrillProvider
from paycli.outcome import Authenticity, Status
from tests.conftest import make_config

WORD = "paycliword"
NEW_WORD = "rotatedword"  # the secret word that replaced WORD
MERCHANT = "52918473"
PAY_TO = "pagamenti@bottega-esempio.example.com"
FORM = "application/x-www-form-urlencoded"
SAMPLES = Path(__file__).parent / "samples"

# The example of gateway-formats.md section 3, byte for byte (its sha2sig was elided there with "…";
# this is the SHA-256 of the same string, the formats document's stated assumption).
DOC_EXAMPLE = (
    b"pay_to_email=pagamenti%40bottega-esempio.example.com&pay_from_email=chiara.ricci%40example.com&"
    b"merchant_id=52918473&customer_id=81234567&transaction_id=ORD-SK-3001&mb_transaction_id=3318760421&"
    b"mb_amount=25.00&mb_currency=EUR&status=2&md5sig=3C97DD5BBABB008DE80060B495597825&"
    b"sha2sig=1DE865BA548AF7FA0101ADA7DC2A12C10393B5322D2883DC36F40FF399C82505&amount=25.00&currency=EUR&"
    b"payment_type=WLT&merchant_fields=order_ref&order_ref=ORD-SK-3001"
)


def signature(values: dict[str, bytes], word: str = WORD, algorithm: str = "md5") -> str:
    hashed_word = hashlib.md5(word.encode()).hexdigest().upper().encode()
    signed = b"".join(
        (
            values["merchant_id"],
            values["transaction_id"],
            hashed_word,
            values["mb_amount"],
            values["mb_currency"],
            values["status"],
        )
    )
    return hashlib.new(algorithm, signed).hexdigest().upper()


def post(
    status: str = "2",
    *,
    ref: str | bytes = "ORD-SK-3001",
    mb_id: str = "3318760421",
    mb_amount: str = "25.00",
    mb_currency: str = "EUR",
    amount: str | None = None,
    currency: str | None = None,
    word: str = WORD,
    merchant: str = MERCHANT,
    sha2: bool = False,
    drop: tuple[str, ...] = (),
    **override: str,
) -> bytes:
    """A status_url body signed the documented way; ``override`` changes fields after signing."""
    values: dict[str, bytes] = {
        "pay_to_email": PAY_TO.encode(),
        "pay_from_email": b"chiara.ricci@example.com",
        "merchant_id": merchant.encode(),
        "customer_id": b"81234567",
        "transaction_id": ref if isinstance(ref, bytes) else ref.encode(),
        "mb_transaction_id": mb_id.encode(),
        "mb_amount": mb_amount.encode(),
        "mb_currency": mb_currency.encode(),
        "status": status.encode(),
    }
    values["md5sig"] = signature(values, word).encode()
    if sha2:
        values["sha2sig"] = signature(values, word, "sha256").encode()
    values["amount"] = (amount if amount is not None else mb_amount).encode()
    values["currency"] = (currency or mb_currency).encode()
    values["payment_type"] = b"WLT"
    values.update({k: v.encode() for k, v in override.items()})
    return "&".join(f"{k}={quote_from_bytes(v, safe='')}" for k, v in values.items() if k not in drop).encode(
        "ascii"
    )


def http_dump(body: bytes, content_type: str = FORM) -> bytes:
    return (
        b"POST /callbacks/skrill HTTP/1.1\r\nHost: shop.example\r\n"
        + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@pytest.fixture
def skrill(config: Config) -> SkrillProvider:
    return SkrillProvider(
        "skrill",
        {"merchant_id": MERCHANT, "secret_word": Secret(WORD), "pay_to_email": PAY_TO},
        config,
    )


def rotated(config: Config, *words: str) -> SkrillProvider:
    """Configured with ``words``: the current secret word, then earlier ones still accepted."""
    settings = {"merchant_id": MERCHANT, "secret_word": Secret(*words), "pay_to_email": PAY_TO}
    return SkrillProvider("skrill", settings, config)


@pytest.fixture
def unconfigured(config: Config) -> SkrillProvider:
    return SkrillProvider("skrill", {"merchant_id": None, "secret_word": None, "pay_to_email": None}, config)


def source(data: bytes, headers: str | None = None, name: str = "post.txt") -> Source:
    src = Source.from_stream(name, io.BytesIO(data))
    src.headers = headers
    return src


def _sidecar(path: Path) -> str | None:
    sidecar = path.with_name(path.name + ".headers")
    return sidecar.read_text("utf-8") if sidecar.is_file() else None


def read(provider: SkrillProvider, data: bytes, headers: str | None = None) -> Record:
    records = [r for r in provider.extract(source(data, headers)) if not isinstance(r, Notice)]
    assert len(records) == 1, "a callback file is exactly one record"
    return records[0]


def said(provider: SkrillProvider, data: bytes) -> list[str]:
    return [r.message for r in provider.extract(source(data)) if isinstance(r, Notice)]


def response(provider: SkrillProvider, data: bytes, headers: str | None = None) -> ResponseRecord:
    record = read(provider, data, headers)
    assert isinstance(record, ResponseRecord), record
    return record


def quarantined(provider: SkrillProvider, data: bytes, headers: str | None = None) -> str:
    record = read(provider, data, headers)
    assert isinstance(record, QuarantinedRecord), record
    assert record.reason.startswith("skrill: ")
    return record.reason.removeprefix("skrill: ")


# -- identify ----------------------------------------------------------------------------------------
class TestIdentify:
    def test_it_claims_a_bare_status_url_body(self, skrill: SkrillProvider) -> None:
        assert skrill.identify(source(DOC_EXAMPLE))

    def test_it_claims_a_body_with_a_form_sidecar(self, skrill: SkrillProvider) -> None:
        assert skrill.identify(source(post(), f"Content-Type: {FORM}; charset=UTF-8\n"))

    def test_it_claims_a_raw_http_dump(self, skrill: SkrillProvider) -> None:
        assert skrill.identify(source(http_dump(post())))

    def test_it_claims_a_post_cut_short_so_that_it_is_quarantined_with_a_reason(
        self, skrill: SkrillProvider
    ) -> None:
        body = post()
        assert skrill.identify(source(body[: body.index(b"&mb_amount")]))

    def test_it_refuses_the_shops_request_csv(self, skrill: SkrillProvider) -> None:
        csv = (
            b"txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
            b"ORD-SK-3001,ORD-SK-3001,order,2026-11-26T10:15:00,Chiara Ricci,,25.00,EUR,skrill\n"
        )
        assert not skrill.identify(source(csv, name="requests.csv"))

    def test_it_refuses_a_paypal_ipn(self, skrill: SkrillProvider) -> None:
        ipn = (
            b"mc_gross=19.95&protection_eligibility=Eligible&payer_id=LPLWNMTBWMFAY&payment_status=Completed&"
            b"txn_id=61E67681CH3238416&receiver_email=pagamenti%40shop.example&invoice=ORD-1&charset=windows-1252"
        )
        assert not skrill.identify(source(ipn))

    def test_it_refuses_a_stripe_event(self, skrill: SkrillProvider) -> None:
        event = b'{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {}}'
        assert not skrill.identify(
            source(event, "Content-Type: application/json\nStripe-Signature: t=1,v1=ab\n")
        )

    def test_it_refuses_a_nexi_notification(self, skrill: SkrillProvider) -> None:
        nexi = b"alias=ALIAS_WEB_00000001&importo=2500&divisa=EUR&codTrans=ORD-1&esito=OK&mac=ab12"
        assert not skrill.identify(source(nexi))

    def test_it_refuses_its_own_fields_sent_as_json(self, skrill: SkrillProvider) -> None:
        body = b'{"mb_transaction_id": "3318760421", "status": "2"}'
        assert not skrill.identify(source(body))
        assert not skrill.identify(source(post(), "Content-Type: application/json\n"))

    def test_it_refuses_a_binary_file(self, skrill: SkrillProvider) -> None:
        assert not skrill.identify(source(b"\x89PNG\r\n\x1a\n\x00\x00mb_transaction_id=1&status=2"))

    def test_it_refuses_a_file_larger_than_a_callback(self, skrill: SkrillProvider) -> None:
        huge = post() + b"&padding=" + b"x" * HEAD_BYTES
        assert not skrill.identify(source(huge))

    def test_it_claims_every_message_of_its_golden_scenarios(self, skrill: SkrillProvider) -> None:
        for path in sorted(SAMPLES.glob("skrill/*/0*")):
            if path.suffix != ".headers":
                src = Source.from_path(path)
                src.headers = _sidecar(path)
                assert skrill.identify(src), path

    def test_it_claims_no_file_of_the_other_gateways_scenarios(self, skrill: SkrillProvider) -> None:
        for path in sorted(SAMPLES.glob("*/*/*")):
            if path.parts[-3] != "skrill" and path.is_file() and path.suffix != ".headers":
                src = Source.from_path(path)
                src.headers = _sidecar(path)
                assert not skrill.identify(src), path

    def test_it_refuses_an_empty_file(self, skrill: SkrillProvider) -> None:
        assert not skrill.identify(source(b""))


# -- statuses --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("2", Status.APPROVED),  # processed
        ("0", Status.PENDING),  # pending
        ("-1", Status.REFUSED),  # cancelled
        ("-2", Status.REFUSED),  # failed
        ("-3", Status.REVERSED),  # chargeback
        ("1", Status.UNKNOWN),  # "scheduled" belongs to payouts, not to payments
        ("-4", Status.UNKNOWN),  # "returned by the recipient's bank": payouts too
        ("processed", Status.UNKNOWN),
    ],
)
def test_each_skrill_status_maps_to_a_paycli_status(skrill: SkrillProvider, raw: str, status: Status) -> None:
    record = response(skrill, post(raw))
    assert record.status is status
    assert record.raw_status == raw
    assert record.authenticity is Authenticity.VALID


def test_a_failure_says_its_failed_reason_code_and_keeps_the_bare_status_in_its_key(
    skrill: SkrillProvider,
) -> None:
    record = response(skrill, post("-2", failed_reason_code="06"))
    assert (record.status, record.raw_status) == (Status.REFUSED, "-2 (failed_reason_code 06)")
    assert record.dedupe_key == response(skrill, post("-2")).dedupe_key == "3318760421:-2"


# -- what a post says ------------------------------------------------------------------------------
def test_the_documented_example_is_valid(skrill: SkrillProvider) -> None:
    record = response(skrill, DOC_EXAMPLE)
    assert record.authenticity is Authenticity.VALID
    assert record.status is Status.APPROVED
    assert record.reference == "ORD-SK-3001"
    assert record.gateway_txn_id == "3318760421"
    assert (record.amount_minor, record.currency) == (2500, "EUR")
    assert record.occurred_at is None  # a Skrill post says nothing about when


def test_the_record_keeps_the_files_bytes_and_headers(skrill: SkrillProvider) -> None:
    headers = f"Content-Type: {FORM}\n"
    record = response(skrill, DOC_EXAMPLE, headers)
    assert record.origin == Origin(None, DOC_EXAMPLE, None, headers)


def test_the_dedupe_key_is_the_skrill_transaction_and_its_status(skrill: SkrillProvider) -> None:
    assert response(skrill, post("0")).dedupe_key == "3318760421:0"
    assert response(skrill, post("2")).dedupe_key == "3318760421:2"


def test_the_reference_is_transaction_id_not_mb_transaction_id(skrill: SkrillProvider) -> None:
    record = response(skrill, post(ref="DEP-77", mb_id="900"))
    assert (record.reference, record.gateway_txn_id) == ("DEP-77", "900")


def test_an_amount_posted_without_trailing_zeros_is_read_and_checked_as_posted(
    skrill: SkrillProvider,
) -> None:
    # The payout doc shows 25.46 / 25.4 / 25: the signature is over the text as posted.
    record = response(skrill, post(mb_amount="25", amount="25.00"))
    assert (record.amount_minor, record.authenticity) == (2500, Authenticity.VALID)
    assert response(skrill, post(mb_amount="25.4")).amount_minor == 2540


def test_the_amount_compared_is_the_requests_one_when_skrill_converted(skrill: SkrillProvider) -> None:
    # The shop asked for 20.45 GBP; the merchant's wallet is in EUR and got 23.90 EUR.
    record = response(skrill, post(mb_amount="23.90", mb_currency="EUR", amount="20.45", currency="GBP"))
    assert (record.amount_minor, record.currency) == (2045, "GBP")
    # the signature covers 23.90 EUR, not the 20.45 GBP compared with the request: a post changed to
    # say 100.00 GBP would check as well
    assert record.authenticity is Authenticity.UNVERIFIABLE
    same = response(skrill, post(mb_amount="20.45", mb_currency="GBP", amount="20.45", currency="GBP"))
    assert same.authenticity is Authenticity.VALID


def test_without_amount_and_currency_the_wallet_amount_is_used(skrill: SkrillProvider) -> None:
    record = response(skrill, post(drop=("amount", "currency")))
    assert (record.amount_minor, record.currency) == (2500, "EUR")


def test_a_lower_case_currency_is_normalised(skrill: SkrillProvider) -> None:
    record = response(skrill, post(mb_currency="eur"))
    assert record.currency == "EUR"
    assert record.authenticity is Authenticity.VALID  # hashed as posted, lower case


def test_a_currency_without_decimals_is_read_in_its_own_units(skrill: SkrillProvider) -> None:
    assert response(skrill, post(mb_amount="2500", mb_currency="JPY")).amount_minor == 2500


def test_a_chargeback_posted_with_a_minus_sign_keeps_the_payments_amount(skrill: SkrillProvider) -> None:
    record = response(skrill, post("-3", mb_amount="-25.00", amount="-25.00"))
    assert (record.status, record.amount_minor) == (Status.REVERSED, 2500)


# -- authenticity ---------------------------------------------------------------------------------
class TestAuthenticity:
    def test_a_correct_md5sig_is_valid(self, skrill: SkrillProvider) -> None:
        assert response(skrill, post()).authenticity is Authenticity.VALID
        assert said(skrill, post()) == []

    def test_an_invalid_post_says_why(self, skrill: SkrillProvider, config: Config) -> None:
        # a forgery and a setting to fix look alike in the trail: the run says which it is
        [wrong_word] = said(skrill, post(word="guess"))
        assert wrong_word.endswith(
            "the signature does not match (a wrong secret_word, or not Skrill's): authenticity invalid"
        )
        [other] = said(skrill, post(merchant="11111111"))
        assert f"for merchant_id 11111111, not the configured {MERCHANT}" in other
        [edited] = said(skrill, post(mb_amount="250.00", amount="2.50"))
        assert "amount 2.50 is not the signed mb_amount 250.00" in edited
        assert all(WORD not in message for message in (wrong_word, other, edited))

    def test_a_correct_md5sig_and_sha2sig_are_valid(self, skrill: SkrillProvider) -> None:
        assert response(skrill, post(sha2=True)).authenticity is Authenticity.VALID

    def test_a_sha2sig_alone_is_enough(self, skrill: SkrillProvider) -> None:
        assert response(skrill, post(sha2=True, drop=("md5sig",))).authenticity is Authenticity.VALID

    def test_a_lower_case_signature_is_accepted(self, skrill: SkrillProvider) -> None:
        sig = b"3C97DD5BBABB008DE80060B495597825"
        body = DOC_EXAMPLE.replace(sig, sig.lower())
        assert response(skrill, body).authenticity is Authenticity.VALID

    def test_a_tampered_amount_fails_the_signature_check(self, skrill: SkrillProvider) -> None:
        body = post(mb_amount="250.00").replace(b"mb_amount=250.00", b"mb_amount=2.50")
        assert response(skrill, body).authenticity is Authenticity.INVALID

    def test_a_tampered_status_fails_the_signature_check(self, skrill: SkrillProvider) -> None:
        body = post("-2").replace(b"status=-2", b"status=2")
        record = response(skrill, body)
        assert (record.status, record.authenticity) == (Status.APPROVED, Authenticity.INVALID)

    def test_a_tampered_reference_fails_the_signature_check(self, skrill: SkrillProvider) -> None:
        body = post(ref="ORD-1").replace(b"transaction_id=ORD-1", b"transaction_id=ORD-2")
        assert response(skrill, body).authenticity is Authenticity.INVALID

    def test_an_edited_unsigned_amount_in_the_same_currency_is_invalid(self, skrill: SkrillProvider) -> None:
        # amount/currency are outside md5sig: they must agree with the signed mb_amount.
        record = response(skrill, post(mb_amount="250.00", amount="2.50"))
        assert record.authenticity is Authenticity.INVALID

    def test_a_wrong_sha2sig_is_invalid_even_with_a_right_md5sig(self, skrill: SkrillProvider) -> None:
        assert response(skrill, post(sha2sig="A" * 64)).authenticity is Authenticity.INVALID

    def test_a_post_signed_with_another_secret_word_is_invalid(self, skrill: SkrillProvider) -> None:
        assert response(skrill, post(word="guess")).authenticity is Authenticity.INVALID

    # A secret word changed (after a leak): the new one first, the earlier one still accepted meanwhile
    def test_a_post_signed_with_the_earlier_word_is_valid_while_it_is_listed(self, config: Config) -> None:
        both = rotated(config, NEW_WORD, WORD)
        for signed in (post(), post(sha2=True), post(sha2=True, drop=("md5sig",))):  # with WORD
            assert response(both, signed).authenticity is Authenticity.VALID
            assert response(rotated(config, NEW_WORD), signed).authenticity is Authenticity.INVALID
        assert response(both, post(word=NEW_WORD, sha2=True)).authenticity is Authenticity.VALID

    def test_a_forged_post_is_invalid_under_every_word_listed(self, config: Config) -> None:
        tampered = post(mb_amount="250.00").replace(b"mb_amount=250.00", b"mb_amount=2.50")
        # each signature by another word: no mix of the two words' signatures makes a post genuine
        signed = {"merchant_id": MERCHANT.encode(), "transaction_id": b"ORD-SK-3001", "mb_amount": b"25.00",
                  "mb_currency": b"EUR", "status": b"2"}  # fmt: skip
        mixed = post(sha2=True, sha2sig=signature(signed, NEW_WORD, "sha256"))  # md5sig with WORD
        for forged in (tampered, post(word="guess"), mixed):
            for words in ((NEW_WORD, WORD), (NEW_WORD,)):
                assert response(rotated(config, *words), forged).authenticity is Authenticity.INVALID

    def test_a_post_for_another_merchant_is_invalid_even_when_correctly_signed(
        self, skrill: SkrillProvider
    ) -> None:
        assert response(skrill, post(merchant="11111111")).authenticity is Authenticity.INVALID

    def test_a_post_paying_another_account_is_invalid(self, skrill: SkrillProvider) -> None:
        body = post(pay_to_email="someone@else.example")
        assert response(skrill, body).authenticity is Authenticity.INVALID

    def test_pay_to_email_is_compared_without_case(self, skrill: SkrillProvider) -> None:
        assert response(skrill, post(pay_to_email=PAY_TO.upper())).authenticity is Authenticity.VALID

    def test_a_post_without_any_signature_is_set_aside_not_judged_forged(
        self, skrill: SkrillProvider, unconfigured: SkrillProvider
    ) -> None:
        # Skrill signs every post: without md5sig it is a copy cut short (the signature comes last), or
        # not Skrill's; judged forged, a genuine copy beside it would look forged (as Nexi without mac)
        for provider in (skrill, unconfigured):
            reason = quarantined(provider, post(drop=("md5sig",)))
            assert "no md5sig or sha2sig (Skrill signs every post)" in reason
            assert "no md5sig" in quarantined(provider, post(md5sig=""))

    def test_a_signature_cut_short_or_damaged_is_set_aside(self, skrill: SkrillProvider) -> None:
        for damaged in ("zz%00", "\u00e8" * 32, "3C97DD5B"):
            assert "md5sig is not 32 hex digits" in quarantined(skrill, post(md5sig=damaged)), damaged

    def test_a_well_formed_signature_that_does_not_match_is_invalid(self, skrill: SkrillProvider) -> None:
        # interpretable: the request must show BAD_SIGNATURE
        for forged in ("0" * 32, "3c97dd5b" * 4):
            assert response(skrill, post(md5sig=forged)).authenticity is Authenticity.INVALID, forged

    def test_with_two_skrill_accounts_a_post_is_for_the_one_it_names(
        self, skrill: SkrillProvider, unconfigured: SkrillProvider
    ) -> None:
        assert not skrill.elsewhere(source(post()))
        assert skrill.elsewhere(source(post(merchant="99999")))
        assert skrill.elsewhere(source(post(pay_to_email="Outlet@Example.com")))
        assert not skrill.elsewhere(source(post(pay_to_email=PAY_TO.upper())))
        assert not unconfigured.elsewhere(source(post(merchant="99999")))

    def test_without_a_secret_word_a_post_is_unverifiable(self, unconfigured: SkrillProvider) -> None:
        assert response(unconfigured, post()).authenticity is Authenticity.UNVERIFIABLE
        assert response(unconfigured, post(word="guess")).authenticity is Authenticity.UNVERIFIABLE

    def test_without_a_secret_word_a_post_for_another_merchant_is_still_invalid(self, config: Config) -> None:
        provider = SkrillProvider("skrill", {"merchant_id": MERCHANT, "secret_word": None}, config)
        assert response(provider, post(merchant="11111111")).authenticity is Authenticity.INVALID
        assert response(provider, post()).authenticity is Authenticity.UNVERIFIABLE

    def test_the_secret_is_never_in_the_record(self, skrill: SkrillProvider) -> None:
        for body in (post(), post(word="guess"), post(drop=("status",))):
            record = read(skrill, body)
            assert WORD not in repr(record)
            assert hashlib.md5(WORD.encode()).hexdigest().upper() not in repr(record)

    def test_the_settings_declare_the_secret_word_as_a_secret(self) -> None:
        assert SkrillProvider.settings["secret_word"].kind is Secret
        assert not SkrillProvider.needs_config


# -- shapes ----------------------------------------------------------------------------------------
class TestShapes:
    def test_a_raw_http_dump_reads_like_the_bare_body(self, skrill: SkrillProvider) -> None:
        bare, dumped = response(skrill, post()), response(skrill, http_dump(post()))
        assert dumped.authenticity is Authenticity.VALID
        assert (bare.dedupe_key, bare.status, bare.amount_minor, bare.reference) == (
            dumped.dedupe_key,
            dumped.status,
            dumped.amount_minor,
            dumped.reference,
        )

    def test_a_get_with_the_fields_in_the_query_string_is_read(self, skrill: SkrillProvider) -> None:
        dump = b"GET /callbacks/skrill?" + post() + b" HTTP/1.1\r\nHost: shop.example\r\n\r\n"
        assert skrill.identify(source(dump))
        record = response(skrill, dump)
        assert (record.status, record.authenticity) == (Status.APPROVED, Authenticity.VALID)

    def test_a_trailing_newline_added_by_an_editor_does_not_break_the_signature(
        self, skrill: SkrillProvider
    ) -> None:
        body = post().replace(b"&status=2", b"") + b"&status=2"  # a signed field last
        assert response(skrill, body + b"\n").authenticity is Authenticity.VALID
        assert response(skrill, body + b"\r\n").authenticity is Authenticity.VALID

    def test_reinterpret_reads_a_stored_message_the_same_way(self, skrill: SkrillProvider) -> None:
        headers = f"Content-Type: {FORM}\n"
        record = response(skrill, post(), headers)
        assert skrill.reinterpret(record.origin) == record

    def test_reinterpret_applies_a_secret_configured_later(
        self, unconfigured: SkrillProvider, skrill: SkrillProvider
    ) -> None:
        first = response(unconfigured, post())
        again = skrill.reinterpret(first.origin)
        assert isinstance(again, ResponseRecord)
        assert again.authenticity is Authenticity.VALID


# -- encodings -------------------------------------------------------------------------------------
class TestEncodings:
    def test_a_utf8_reference_is_read_and_its_bytes_are_what_is_signed(self, skrill: SkrillProvider) -> None:
        record = response(skrill, post(ref="ACC-FORLÌ-7001".encode()))
        assert (record.reference, record.authenticity) == ("ACC-FORLÌ-7001", Authenticity.VALID)

    def test_a_windows_1252_reference_is_read_as_windows_1252(self, skrill: SkrillProvider) -> None:
        record = response(skrill, post(ref="ACC-FORLÌ-7002".encode("cp1252")))
        assert (record.reference, record.authenticity) == ("ACC-FORLÌ-7002", Authenticity.VALID)

    def test_a_charset_named_in_content_type_wins(self, skrill: SkrillProvider) -> None:
        # The bytes C3 A8 are "è" in UTF-8 and "Ã¨" in ISO-8859-1: the header decides which.
        body = post(ref="ACC-è".encode())
        assert response(skrill, body).reference == "ACC-è"
        latin = response(skrill, body, f"Content-Type: {FORM}; charset=ISO-8859-1\n")
        assert latin.reference == "ACC-Ã¨"
        assert latin.authenticity is Authenticity.VALID  # the signature is over the bytes

    @pytest.mark.parametrize("charset", ["x-no-such", "undefined"])
    def test_an_unknown_charset_falls_back_rather_than_failing(
        self, skrill: SkrillProvider, charset: str
    ) -> None:
        record = response(skrill, post(), f"Content-Type: {FORM}; charset={charset}\n")
        assert record.reference == "ORD-SK-3001"

    def test_raw_non_ascii_bytes_not_percent_encoded_are_kept_for_the_signature(
        self, skrill: SkrillProvider
    ) -> None:
        body = post(ref="ACC-FORLÌ-7001".encode()).replace(b"FORL%C3%8C", "FORLÌ".encode())
        record = response(skrill, body)
        assert (record.reference, record.authenticity) == ("ACC-FORLÌ-7001", Authenticity.VALID)


# -- bad inputs ------------------------------------------------------------------------------------
class TestBadInputs:
    def test_a_truncated_body_is_quarantined_naming_what_is_missing(self, skrill: SkrillProvider) -> None:
        body = post()
        reason = quarantined(skrill, body[: body.index(b"&mb_amount")])
        assert reason == "not a complete Skrill post: missing fields mb_amount, mb_currency, status"

    def test_a_body_cut_inside_a_percent_escape_is_quarantined(self, skrill: SkrillProvider) -> None:
        body = post()
        cut = body[: body.index(b"%40") + 2]
        assert quarantined(skrill, cut) == "the body ends inside a %-escape: truncated"

    def test_a_dump_shorter_than_its_content_length_is_quarantined(self, skrill: SkrillProvider) -> None:
        body = post()
        reason = quarantined(skrill, http_dump(body)[:-10])
        assert reason == f"truncated: Content-Length says {len(body)} bytes, the body has {len(body) - 10}"

    def test_a_body_shorter_than_its_sidecars_content_length_is_quarantined(
        self, skrill: SkrillProvider
    ) -> None:
        body = post()
        reason = quarantined(skrill, body[:-10], f"Content-Type: {FORM}\nContent-Length: {len(body)}\n")
        assert (
            reason == f"the body has {len(body) - 10} bytes, its Content-Length says {len(body)}: truncated"
        )

    @pytest.mark.parametrize(
        ("chunked", "reason"),
        [
            # a genuine post framed by a chunk size line that no longer matches its bytes
            (lambda b: b"10\r\n" + b + b"\r\n0\r\n\r\n", "is not followed by a line end"),
            # its last chunk (of size 0) lost
            (lambda b: f"{len(b):x}\r\n".encode() + b + b"\r\n", "ends before its last chunk (of size 0)"),
        ],
    )
    def test_a_chunked_dump_that_does_not_decode_is_quarantined_not_judged(
        self, skrill: SkrillProvider, chunked, reason: str
    ) -> None:
        # read as a form, its size line would stick to the first field name and the genuine post be
        # judged forged (pay_to_email missing), or be accepted from what is left of it
        dump = (
            b"POST /callbacks/skrill HTTP/1.1\r\nHost: shop.example\r\n"
            + f"Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + chunked(post())
        )
        assert reason in quarantined(skrill, dump)

    def test_a_chunked_dump_of_a_genuine_post_is_valid(self, skrill: SkrillProvider) -> None:
        body = post()
        dump = (
            b"POST /callbacks/skrill HTTP/1.1\r\nHost: shop.example\r\n"
            + f"Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        assert response(skrill, dump).authenticity is Authenticity.VALID

    def test_a_transfer_coding_paycli_does_not_decode_is_quarantined(self, skrill: SkrillProvider) -> None:
        dump = http_dump(post()).replace(b"Content-Length", b"Transfer-Encoding: identity\r\nX-Length")
        assert quarantined(skrill, dump) == (
            "Transfer-Encoding 'identity' is not one paycli decodes (only chunked)"
        )

    @pytest.mark.parametrize(
        "field", ["merchant_id", "transaction_id", "mb_transaction_id", "mb_amount", "mb_currency", "status"]
    )
    def test_a_post_without_a_signed_field_is_quarantined(self, skrill: SkrillProvider, field: str) -> None:
        assert quarantined(skrill, post(drop=(field,))).endswith(f"missing field {field}")

    def test_an_empty_status_is_quarantined(self, skrill: SkrillProvider) -> None:
        assert quarantined(skrill, post(status="")).endswith("missing field status")

    def test_a_bad_amount_is_quarantined(self, skrill: SkrillProvider) -> None:
        assert (
            quarantined(skrill, post(mb_amount="25,00"))
            == "mb_amount: amount '25,00' is not a decimal number"
        )
        assert quarantined(skrill, post(amount="abc")) == "amount: amount 'abc' is not a decimal number"

    def test_a_negative_amount_on_a_payment_is_quarantined(self, skrill: SkrillProvider) -> None:
        assert quarantined(skrill, post(mb_amount="-25.00")).startswith("mb_amount:")

    def test_too_many_decimals_are_quarantined(self, skrill: SkrillProvider) -> None:
        assert "more decimals" in quarantined(skrill, post(mb_amount="25.001"))

    def test_an_unknown_currency_is_quarantined(self, skrill: SkrillProvider) -> None:
        assert quarantined(skrill, post(mb_currency="EUX")) == "mb_currency: unknown currency 'EUX'"

    def test_a_json_body_forced_onto_skrill_is_quarantined(self, skrill: SkrillProvider) -> None:
        reason = quarantined(skrill, b'{"mb_transaction_id": "1"}')
        assert reason.startswith("not a complete Skrill post: missing fields")

    def test_a_declared_json_or_xml_body_is_quarantined(self, skrill: SkrillProvider) -> None:
        assert "is not a Skrill form post" in quarantined(skrill, post(), "Content-Type: application/json\n")
        assert "is not a Skrill form post" in quarantined(skrill, b"<a/>", "Content-Type: text/xml\n")

    def test_a_binary_file_forced_onto_skrill_is_quarantined(self, skrill: SkrillProvider) -> None:
        reason = quarantined(skrill, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
        assert reason == "binary data, not a Skrill form post"

    def test_an_empty_file_forced_onto_skrill_is_quarantined(self, skrill: SkrillProvider) -> None:
        assert quarantined(skrill, b"").startswith("not a complete Skrill post")

    def test_a_huge_file_forced_onto_skrill_is_refused_without_reading_it_all(
        self, skrill: SkrillProvider, tmp_path: Path
    ) -> None:
        path = tmp_path / "huge.txt"
        path.write_bytes(post() + b"&padding=" + b"x" * (HEAD_BYTES * 4))
        with pytest.raises(SourceError, match="larger than 64 KiB"):
            list(skrill.extract(Source.from_path(path)))

    def test_a_huge_stored_message_reinterpreted_is_quarantined(self, skrill: SkrillProvider) -> None:
        origin = Origin(None, post() + b"&padding=" + b"x" * HEAD_BYTES)
        record = skrill.reinterpret(origin)
        assert isinstance(record, QuarantinedRecord)
        assert record.reason.startswith("skrill: larger than 64 KiB")


@pytest.mark.parametrize("value", ["'abc'", "'5291 8473'", "'-52918473'"])
def test_a_merchant_id_that_is_no_number_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    # a post always names a number: any other would make every post invalid
    with pytest.raises(ConfigError, match=r"gateways\.skrill\.merchant_id: must be the numeric merchant id"):
        make_config(tmp_path, f"gateways:\n  skrill:\n    merchant_id: {value}\n")
    settings = make_config(tmp_path, "gateways:\n  skrill:\n    merchant_id: ' 52918473 '\n").gateways[
        "skrill"
    ]
    assert settings.settings["merchant_id"] == "52918473"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("shop", "'shop' is not an e-mail address"),
        (
            "'a@shop.example, b@shop.example'",
            "'a@shop.example, b@shop.example' is not an e-mail address (give one address)",
        ),
    ],
)
def test_a_pay_to_email_that_is_no_address_is_a_configuration_error(
    tmp_path: Path, value: str, problem: str
) -> None:
    # a post paying another account is invalid: a wrong value would make every post a forgery
    with pytest.raises(ConfigError) as raised:
        make_config(tmp_path, f"gateways:\n  skrill:\n    pay_to_email: {value}\n")
    assert str(raised.value).endswith(f"gateways.skrill.pay_to_email: {problem}")
    config = make_config(tmp_path, "gateways:\n  skrill:\n    pay_to_email: ' pay@shop.example '\n")
    assert config.gateways["skrill"].settings["pay_to_email"] == " pay@shop.example "
