"""The Stripe provider, as a specification: webhook Events in, one record each (gateway-formats.md 2).

The events are built here from the fields the formats document lists (stripe-python's resource
classes @6c6e3736) and signed with the official ``stripe`` package, so the signature check is
cross-checked against Stripe's own code on every run.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
import stripe

from paycli.config import Config, Secret
from paycli.errors import ConfigError
from paycli.gateways.base import (
    HEAD_BYTES,
    InfoRecord,
    Origin,
    QuarantinedRecord,
    Record,
    RefusedRecord,
    ResponseRecord,
    Source,
    SourceError,
)
from paycli.gateways.stripe import (
    SignatureCheck,
    StripeProvider,
    check_signature,
    stored_aliases,
    verify_signature,
)
from paycli.ingest import Ingest, response_identity
from paycli.outcome import Authenticity, Status
from paycli.store import Store
from tests.conftest import make_config

SECRET = "whsec_paycliTestSecret_NotReal_4f7d2a9c81e6b035"  # gateway-formats.md 2, example
ROLLED = "whsec_paycliTestSecret_Rolled_9b1e0c7a25d4f386"  # the secret that replaced SECRET
T = 1715680800
PI = "pi_3PGqJ2Hc8vLmR4Tz1aB2cD3e"
CH = "ch_3PGqJ2Hc8vLmR4Tz1yX8wV7u"
CS = "cs_test_a1B2c3D4e5F6g7H8i9J0"


# -- building events -------------------------------------------------------------------------------
def payment_intent(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": PI,
        "object": "payment_intent",
        "amount": 4990,
        "amount_received": 4990,
        "currency": "eur",
        "latest_charge": CH,
        "metadata": {"txn_id": "ORD-STR-1001-1", "order_id": "ORD-STR-1001"},
        "status": "succeeded",
    }
    obj.update(changes)
    return obj


def charge(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": CH,
        "object": "charge",
        "amount": 4990,
        "amount_captured": 4990,
        "amount_refunded": 0,
        "captured": True,
        "currency": "eur",
        "metadata": {"txn_id": "ORD-STR-1001-1"},
        "paid": True,
        "payment_intent": PI,
        "refunded": False,
        "status": "succeeded",
    }
    obj.update(changes)
    return obj


def session(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": CS,
        "object": "checkout.session",
        "amount_total": 4990,
        "client_reference_id": "ORD-STR-1001-1",
        "currency": "eur",
        "metadata": {},
        "mode": "payment",
        "payment_intent": PI,
        "payment_status": "paid",
        "status": "complete",
    }
    obj.update(changes)
    return obj


def refund(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "re_3PGqJ2Hc8vLmR4Tz1rF1dA1",
        "object": "refund",
        "amount": 4990,
        "charge": CH,
        "currency": "eur",
        "metadata": {},
        "payment_intent": PI,
        "status": "succeeded",
    }
    obj.update(changes)
    return obj


def dispute(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "du_3PGqJ2Hc8vLmR4Tz1dS9pT2",
        "object": "dispute",
        "amount": 4990,
        "charge": CH,
        "currency": "eur",
        "metadata": {},
        "payment_intent": PI,
        "reason": "fraudulent",
        "status": "needs_response",
    }
    obj.update(changes)
    return obj


def event(event_type: str, obj: dict[str, Any], **changes: Any) -> bytes:
    ev: dict[str, Any] = {
        "id": "evt_3PGqJ2Hc8vLmR4Tz1kL5mN6p",
        "object": "event",
        "api_version": "2024-04-10",
        "created": 1715680762,
        "data": {"object": obj},
        "livemode": True,
        "pending_webhooks": 1,
        "request": {"id": "req_Qb7nV2xL9pRt4s", "idempotency_key": None},
        "type": event_type,
    }
    ev.update(changes)
    # Stripe posts pretty-printed JSON; the exact bytes matter only to the signature
    return json.dumps(ev, indent=2).encode()


def sign(body: bytes, secret: str = SECRET, t: int = T) -> str:
    """The header Stripe would send, made by the official SDK."""
    return str(stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=t))


def sidecar(body: bytes, secret: str = SECRET, t: int = T) -> str:
    return f"Content-Type: application/json; charset=utf-8\nStripe-Signature: {sign(body, secret, t)}\n"


def http_dump(body: bytes, header: str, method: str = "POST") -> bytes:
    head = (
        f"{method} /callbacks/stripe HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Stripe/1.0 "
        f"(+https://stripe.com/docs/webhooks)\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nStripe-Signature: {header}\r\n\r\n"
    )
    return head.encode() + body


@pytest.fixture
def provider(config: Config) -> StripeProvider:
    return StripeProvider("stripe", {"webhook_secret": Secret(SECRET), "reference_key": "txn_id"}, config)


@pytest.fixture
def unconfigured(config: Config) -> StripeProvider:
    return StripeProvider("stripe", {}, config)


def src(raw: bytes, headers: str | None = None, name: str = "evt.json") -> Source:
    return Source(name=name, path=None, head=raw, headers=headers)


def read(p: StripeProvider, raw: bytes, headers: str | None = None) -> Record:
    records = list(p.extract(src(raw, headers)))
    assert len(records) == 1
    # reinterpret reads the stored message the same way
    assert p.reinterpret(records[0].origin) == records[0]  # type: ignore[union-attr]
    return records[0]


def response(p: StripeProvider, body: bytes, headers: str | None = "") -> ResponseRecord:
    record = read(p, body, sidecar(body) if headers == "" else headers)
    assert isinstance(record, ResponseRecord), record
    return record


def quarantined(p: StripeProvider, raw: bytes, headers: str | None = None) -> str:
    record = read(p, raw, headers)
    assert isinstance(record, QuarantinedRecord), record
    assert record.reason.startswith("stripe: ")
    assert SECRET not in record.reason
    return record.reason


# -- identify --------------------------------------------------------------------------------------
def test_it_claims_an_event_body_with_its_signature_sidecar(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    assert provider.identify(src(body, sidecar(body)))


def test_it_claims_a_bare_event_body_without_headers(provider: StripeProvider) -> None:
    assert provider.identify(src(event("charge.succeeded", charge())))


def test_it_claims_a_raw_http_dump_of_a_webhook_post(provider: StripeProvider) -> None:
    body = event("charge.succeeded", charge())
    assert provider.identify(src(http_dump(body, sign(body))))


def test_it_claims_a_damaged_body_that_travelled_with_a_stripe_signature(provider: StripeProvider) -> None:
    assert provider.identify(src(b"\x00\x01garbage", "Stripe-Signature: t=1,v1=00\n"))


@pytest.mark.parametrize(
    "raw",
    [
        b"txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
        b"T1,O1,order,2026-01-01T10:00:00,Rossi,,49.90,EUR,stripe\n",
        b'{"txn_id": "T1", "customer": "Rossi", "amount": "49.90", "currency": "EUR", "gateway": "stripe"}\n',
        b"mc_gross=49.90&invoice=T1&payment_status=Completed&txn_id=9XA&receiver_email=a%40b.example",
        b'{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_type":"PAYMENT.CAPTURE.COMPLETED",'
        b'"resource_type":"capture","resource":{"id":"42311647XV020574X","status":"COMPLETED"}}',
        b"alias=ALIAS_WEB_00000&importo=4990&divisa=EUR&codTrans=T1&esito=OK&mac=abc",
        b'{"id": "cus_123", "object": "customer"}',
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        b"",
    ],
    ids=[
        "request-csv",
        "request-jsonl",
        "paypal-ipn",
        "paypal-rest",
        "nexi",
        "stripe-customer",
        "png",
        "empty",
    ],
)
def test_it_refuses_what_is_not_a_stripe_event(provider: StripeProvider, raw: bytes) -> None:
    assert not provider.identify(src(raw))


# -- statuses --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_type", "obj", "status"),
    [
        ("payment_intent.succeeded", payment_intent(), Status.APPROVED),
        ("charge.succeeded", charge(), Status.APPROVED),
        ("charge.captured", charge(), Status.APPROVED),
        ("checkout.session.completed", session(), Status.APPROVED),
        ("checkout.session.async_payment_succeeded", session(), Status.APPROVED),
        ("payment_intent.payment_failed", payment_intent(status="requires_payment_method", amount_received=0), Status.REFUSED),
        ("charge.failed", charge(status="failed", paid=False, captured=False, amount_captured=0), Status.REFUSED),
        ("checkout.session.async_payment_failed", session(payment_status="unpaid"), Status.REFUSED),
        ("payment_intent.canceled", payment_intent(status="canceled", amount_received=0), Status.REFUSED),
        ("checkout.session.expired", session(status="expired", payment_status="unpaid", payment_intent=None), Status.REFUSED),
        ("charge.expired", charge(captured=False, amount_captured=0), Status.REFUSED),
        ("payment_intent.processing", payment_intent(status="processing", amount_received=0), Status.PENDING),
        ("payment_intent.amount_capturable_updated", payment_intent(status="requires_capture", amount_received=0), Status.PENDING),
        ("charge.pending", charge(status="pending", amount_captured=0), Status.PENDING),
        ("checkout.session.completed", session(payment_status="unpaid"), Status.PENDING),
        ("charge.refunded", charge(refunded=True, amount_refunded=4990), Status.REFUNDED),
        ("charge.refund.updated", refund(), Status.REFUNDED),
        ("refund.created", refund(), Status.REFUNDED),
        ("refund.created", refund(status="pending"), Status.REFUNDED),
        ("refund.updated", refund(), Status.REFUNDED),
        ("charge.dispute.created", dispute(), Status.REVERSED),
        ("charge.dispute.funds_withdrawn", dispute(status="needs_response"), Status.REVERSED),
        ("charge.dispute.updated", dispute(status="under_review"), Status.REVERSED),
        ("charge.dispute.closed", dispute(status="lost"), Status.REVERSED),
    ],
)  # fmt: skip
def test_each_event_type_maps_to_its_status(
    provider: StripeProvider, event_type: str, obj: dict[str, Any], status: Status
) -> None:
    r = response(provider, event(event_type, obj))
    assert r.status is status
    assert r.raw_status is not None and r.raw_status.startswith(event_type)
    assert r.authenticity is Authenticity.VALID


def test_an_authorised_but_uncaptured_charge_is_pending_not_approved(provider: StripeProvider) -> None:
    r = response(provider, event("charge.succeeded", charge(captured=False, amount_captured=0)))
    assert (r.status, r.raw_status, r.amount_minor) == (
        Status.PENDING,
        "charge.succeeded (not captured)",
        4990,
    )


def test_a_session_with_a_payment_status_nobody_mapped_is_unknown(provider: StripeProvider) -> None:
    r = response(provider, event("checkout.session.completed", session(payment_status="on_hold")))
    assert r.status is Status.UNKNOWN
    assert r.raw_status == "checkout.session.completed (payment_status=on_hold)"


@pytest.mark.parametrize(
    ("event_type", "obj", "words"),
    [
        ("payment_intent.created", payment_intent(status="requires_payment_method", amount_received=0), "payment_intent.created"),
        ("payment_intent.requires_action", payment_intent(status="requires_action", amount_received=0), "requires_action"),
        ("charge.updated", charge(), "charge.updated"),
        ("checkout.session.completed", session(payment_status="no_payment_required"), "no payment required"),
        ("charge.refund.updated", refund(status="failed"), "refund failed"),
        ("refund.updated", refund(status="canceled"), "refund canceled"),
        ("refund.failed", refund(status="failed"), "refund failed"),
        ("refund.failed", refund(status="succeeded"), "refund failed"),
        # an uncaptured authorisation cancelled: Stripe "refunds" the amount it held
        ("charge.refunded", charge(captured=False, amount_captured=0, refunded=True, amount_refunded=4990), "before capture"),  # the type says it, whatever the object
        ("charge.dispute.closed", dispute(status="won"), "dispute won"),
        ("charge.dispute.closed", dispute(status="warning_closed"), "dispute warning_closed"),
        ("charge.dispute.funds_reinstated", dispute(status="won"), "funds_reinstated"),
        ("customer.created", {"id": "cus_1", "object": "customer", "metadata": {}}, "event type customer.created"),
        ("invoice.paid", {"id": "in_1", "object": "invoice", "amount_paid": 4990}, "event type invoice.paid"),
    ],
)  # fmt: skip
def test_events_without_an_outcome_are_informational_and_say_their_type(
    provider: StripeProvider, event_type: str, obj: dict[str, Any], words: str
) -> None:
    body = event(event_type, obj)
    record = read(provider, body, sidecar(body))
    assert isinstance(record, InfoRecord), record
    assert words in record.note
    assert "evt_3PGqJ2Hc8vLmR4Tz1kL5mN6p" in record.note


def test_an_informational_event_keeps_its_reference_for_the_trail(provider: StripeProvider) -> None:
    record = read(provider, event("payment_intent.created", payment_intent(status="requires_payment_method")))
    assert isinstance(record, InfoRecord)
    assert record.reference == "ORD-STR-1001-1"


def test_a_test_mode_event_is_kept_says_so_and_is_no_genuine_payment(
    provider: StripeProvider, config: Config
) -> None:
    # test-mode money is not money, as PayPal's sandbox: invalid, unless the configuration accepts it
    r = response(provider, event("payment_intent.succeeded", payment_intent(), livemode=False))
    assert (r.status, r.authenticity) == (Status.APPROVED, Authenticity.INVALID)
    assert r.raw_status == "payment_intent.succeeded (test mode, not accepted)"
    info = read(provider, event("payment_intent.created", payment_intent(), livemode=False))
    assert isinstance(info, InfoRecord) and "test mode" in info.note
    accepting = StripeProvider(
        "stripe",
        {"webhook_secret": Secret(SECRET), "reference_key": "txn_id", "accept_test_mode": True},
        config,
    )
    r = response(accepting, event("payment_intent.succeeded", payment_intent(), livemode=False))
    assert (r.authenticity, r.raw_status) == (Authenticity.VALID, "payment_intent.succeeded (test mode)")


# -- one payment, one response ---------------------------------------------------------------------
def test_the_three_events_of_one_payment_are_one_response_in_any_order(provider: StripeProvider) -> None:
    records = [
        response(provider, event("checkout.session.completed", session(), id="evt_c")),
        response(provider, event("charge.succeeded", charge(), id="evt_b")),
        response(provider, event("payment_intent.succeeded", payment_intent(), id="evt_a")),
    ]
    assert {response_identity("stripe", r) for r in records} == {response_identity("stripe", records[0])}
    for r in records:
        assert (r.dedupe_key, r.gateway_txn_id) == (f"{PI}:approved", PI)
        assert (r.amount_minor, r.currency, r.reference) == (4990, "EUR", "ORD-STR-1001-1")


def test_pending_then_approved_of_one_payment_are_two_responses_of_one_transaction(
    provider: StripeProvider,
) -> None:
    pending = response(provider, event("payment_intent.processing", payment_intent(status="processing")))
    approved = response(provider, event("charge.succeeded", charge()))
    assert pending.dedupe_key == f"{PI}:pending" and approved.dedupe_key == f"{PI}:approved"
    assert pending.gateway_txn_id == approved.gateway_txn_id == PI  # a progression, not two charges


def test_a_charge_without_a_payment_intent_is_keyed_by_its_own_id(provider: StripeProvider) -> None:
    r = response(provider, event("charge.succeeded", charge(payment_intent=None)))
    assert (r.dedupe_key, r.gateway_txn_id) == (f"{CH}:approved", CH)


def test_a_session_without_a_payment_intent_is_keyed_by_its_own_id(provider: StripeProvider) -> None:
    r = response(provider, event("checkout.session.expired", session(payment_intent=None, status="expired")))
    assert r.dedupe_key == f"{CS}:refused"


def test_an_expanded_payment_intent_gives_its_id(provider: StripeProvider) -> None:
    r = response(provider, event("charge.succeeded", charge(payment_intent=payment_intent())))
    assert r.dedupe_key == f"{PI}:approved"


def test_a_dispute_or_refund_is_keyed_by_the_payment_intent_of_the_charge(provider: StripeProvider) -> None:
    assert response(provider, event("charge.dispute.created", dispute())).dedupe_key == f"{PI}:reversed"
    legacy = response(provider, event("charge.refund.updated", refund(payment_intent=None)))
    assert legacy.dedupe_key == f"{CH}:refunded"


def test_the_charge_of_a_payment_intent_is_kept_as_an_alias_of_it(provider: StripeProvider) -> None:
    # what a balance report without a payment_intent_id column names the payment by
    for body in (
        event("payment_intent.succeeded", payment_intent()),
        event("payment_intent.succeeded", payment_intent(latest_charge=charge())),  # expanded
        event("charge.succeeded", charge()),
        event("charge.refunded", charge(amount_refunded=4990, refunded=True)),
        event("charge.refund.updated", refund()),
        event("charge.dispute.created", dispute()),
    ):
        r = response(provider, body)
        assert (r.gateway_txn_id, r.aliases) == (PI, (CH,)), body[:200]
    # before API 2022-11-15 a PaymentIntent lists its charges, a failed attempt's too
    older = payment_intent(
        latest_charge=None, charges={"object": "list", "data": [charge(), charge(id="ch_2")]}
    )
    assert response(provider, event("payment_intent.succeeded", older)).aliases == ("ch_2", CH)  # sorted
    # nothing to alias: a charge without a PaymentIntent is its own payment; a session names no charge
    assert response(provider, event("charge.succeeded", charge(payment_intent=None))).aliases == ()
    assert response(provider, event("checkout.session.completed", session())).aliases == ()
    no_charge = payment_intent(status="processing", latest_charge=None)
    assert response(provider, event("payment_intent.processing", no_charge)).aliases == ()


def test_the_aliases_of_a_stored_message_are_found_only_in_a_stripe_event() -> None:
    # migration 0005 reads every stored message of a response keyed by a PaymentIntent with it
    body = event("payment_intent.succeeded", payment_intent())
    assert stored_aliases(Origin(None, body, None, sidecar(body)), PI) == (CH,)
    assert stored_aliases(Origin(None, http_dump(body, sign(body)), None, None), PI) == (CH,)
    for raw in (b"", b"not json", b"\xff\xfe", b'{"object": "event"}', b"[1]", b"mc_gross=1&txn_id=pi_x"):
        assert stored_aliases(Origin(None, raw, None, None), PI) == ()
    odd = payment_intent(latest_charge=5, charges={"data": "not a list"})
    assert stored_aliases(Origin(None, event("payment_intent.succeeded", odd), None, None), PI) == ()


def test_the_event_time_is_when_it_occurred(provider: StripeProvider) -> None:
    r = response(provider, event("payment_intent.succeeded", payment_intent()))
    assert r.occurred_at is not None and r.occurred_at.isoformat() == "2024-05-14T09:59:22+00:00"


# -- amounts and currency --------------------------------------------------------------------------
def test_amounts_are_integer_minor_units_and_the_currency_is_upper_case(provider: StripeProvider) -> None:
    r = response(
        provider,
        event("payment_intent.succeeded", payment_intent(amount=1200, amount_received=1200, currency="jpy")),
    )
    assert (r.amount_minor, r.currency) == (1200, "JPY")


@pytest.mark.parametrize(
    ("currency", "stripe_amount", "minor"),
    [
        ("eur", 4990, 4990),  # two decimals in both
        ("jpy", 5000, 5000),  # zero-decimal in both
        ("kwd", 5120, 5120),  # three decimals in both
        ("isk", 50000, 500),  # Stripe keeps two decimals (100 is 1 krona); ISO 4217 has none
        ("mga", 5000, 500000),  # zero-decimal at Stripe; ISO 4217 gives the ariary two
    ],
)
def test_an_amount_in_stripes_unit_is_stored_in_iso_minor_units(
    provider: StripeProvider, currency: str, stripe_amount: int, minor: int
) -> None:
    obj = payment_intent(amount=stripe_amount, amount_received=stripe_amount, currency=currency)
    r = response(provider, event("payment_intent.succeeded", obj))
    assert (r.amount_minor, r.currency) == (minor, currency.upper())


@pytest.mark.parametrize(
    ("currency", "amount", "reason"),
    [
        ("eur", 2**63, f"amount_received {2**63} is too large"),  # past the store's BIGINT: was a crash
        ("mga", 10**18, f"amount {10**18} MGA is too large"),  # fits as Stripe's, not as ISO minor units
    ],
)
def test_an_amount_the_store_cannot_hold_is_quarantined(
    provider: StripeProvider, currency: str, amount: int, reason: str
) -> None:
    body = event(
        "payment_intent.succeeded", payment_intent(amount=amount, amount_received=amount, currency=currency)
    )
    assert reason in quarantined(provider, body, sidecar(body))


def test_a_fraction_of_a_krona_is_quarantined_not_rounded(provider: StripeProvider) -> None:
    # a charge of before April 2023, when Stripe still took fractional ISK
    body = event("charge.refunded", charge(amount=4010, amount_refunded=4010, currency="isk", refunded=True))
    assert "amount 4010 is not a whole number of ISK minor units" in quarantined(
        provider, body, sidecar(body)
    )


def test_an_approval_carries_what_was_collected_so_a_partial_capture_shows(provider: StripeProvider) -> None:
    pi = response(provider, event("payment_intent.succeeded", payment_intent(amount_received=3000)))
    ch = response(provider, event("charge.captured", charge(amount_captured=3000, amount_refunded=1990)))
    assert pi.amount_minor == ch.amount_minor == 3000


def test_the_rest_of_a_partial_capture_released_is_not_a_refund(provider: StripeProvider) -> None:
    # Before API 2025-03-31.basil, capturing 30.00 of 49.90 refunded the other 19.90 of the hold: the
    # customer was never charged it. A refund after that is a refund of what was captured.
    partial = charge(amount_captured=3000, amount_refunded=1990, refunded=False)
    released = read(provider, event("charge.refunded", partial), sidecar(event("charge.refunded", partial)))
    assert isinstance(released, InfoRecord) and "partial capture" in released.note
    refunded = charge(amount_captured=3000, amount_refunded=1990 + 1000)
    r = response(provider, event("charge.refunded", refunded))
    assert (r.status, r.amount_minor) == (Status.REFUNDED, 1000)
    whole = response(provider, event("charge.refunded", charge(amount_refunded=4990, refunded=True)))
    assert (whole.status, whole.amount_minor) == (Status.REFUNDED, 4990)


@pytest.mark.parametrize("api_version", ["2025-03-31.basil", "2025-09-30.clover", None, "latest"])
def test_from_basil_on_every_cent_refunded_after_a_partial_capture_went_back(
    provider: StripeProvider, api_version: str | None
) -> None:
    # From 2025-03-31.basil a partial capture releases the rest of the hold without a Refund:
    # amount_refunded is money returned. An event that names no version it could be is read so too: a
    # release taken for a refund has an operator look, a refund taken for a release would hide money gone.
    partial = charge(amount_captured=3000, amount_refunded=1000, refunded=False)
    r = response(provider, event("charge.refunded", partial, api_version=api_version))
    assert (r.status, r.amount_minor) == (Status.REFUNDED, 1000)
    whole = charge(amount_captured=3000, amount_refunded=3000, refunded=True)
    r = response(provider, event("charge.refunded", whole, api_version=api_version))
    assert (r.status, r.amount_minor) == (Status.REFUNDED, 3000)


def test_a_failure_carries_the_amount_asked_for(provider: StripeProvider) -> None:
    r = response(provider, event("payment_intent.payment_failed", payment_intent(amount_received=0)))
    assert r.amount_minor == 4990


def test_an_old_charge_without_amount_captured_falls_back_to_amount(provider: StripeProvider) -> None:
    obj = charge()
    del obj["amount_captured"]
    assert response(provider, event("charge.succeeded", obj)).amount_minor == 4990


def test_a_refund_carries_the_amount_refunded(provider: StripeProvider) -> None:
    partial = response(provider, event("charge.refunded", charge(amount_refunded=1000)))
    assert (partial.status, partial.amount_minor) == (Status.REFUNDED, 1000)
    one = response(provider, event("charge.refund.updated", refund(amount=1000, status="pending")))
    assert (one.amount_minor, one.raw_status) == (1000, "charge.refund.updated (pending)")


@pytest.mark.parametrize("status", ["warning_needs_response", "warning_under_review"])
def test_an_inquiry_is_no_chargeback_but_for_a_person_to_answer(
    provider: StripeProvider, status: str
) -> None:
    # an inquiry takes no money (it becomes a chargeback, needs_response, if nobody answers it)
    r = response(provider, event("charge.dispute.created", dispute(status=status)))
    assert (r.status, r.raw_status) == (
        Status.UNKNOWN,
        f"charge.dispute.created ({status}, inquiry)",
    )
    assert r.dedupe_key == f"{PI}:unknown"


def test_a_dispute_carries_the_disputed_amount(provider: StripeProvider) -> None:
    r = response(provider, event("charge.dispute.created", dispute(amount=2500)))
    assert (r.amount_minor, r.raw_status) == (2500, "charge.dispute.created (needs_response)")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"amount_received": "49.90"}, "amount_received '49.90' is not an integer"),
        ({"amount_received": 49.9}, "amount_received 49.9 is not an integer"),
        ({"amount_received": True}, "amount_received True is not an integer"),
        ({"amount_received": -4990}, "amount_received -4990 is negative"),
        ({"amount_received": None, "amount": None}, "payment_intent has no amount"),
        ({"currency": "xyz"}, "unknown currency 'xyz'"),
        ({"currency": None}, "currency is empty"),
        ({"id": None}, "the payment_intent has no id"),
        ({"id": "pi_" + "x" * 200}, "an id longer than 128 characters"),
        ({"metadata": {"txn_id": "T" * 129}}, "the reference is longer than 128 characters"),
    ],
)
def test_a_bad_amount_currency_or_id_is_quarantined(
    provider: StripeProvider, changes: dict[str, Any], words: str
) -> None:
    assert words in quarantined(provider, event("payment_intent.succeeded", payment_intent(**changes)))


# -- reference -------------------------------------------------------------------------------------
def test_the_reference_is_the_metadata_key_of_the_settings(config: Config) -> None:
    p = StripeProvider("stripe", {"webhook_secret": Secret(SECRET), "reference_key": "order_ref"}, config)
    body = event("payment_intent.succeeded", payment_intent(metadata={"order_ref": " ORD-9 ", "txn_id": "X"}))
    assert response(p, body).reference == "ORD-9"


def test_a_session_is_referenced_by_client_reference_id(provider: StripeProvider) -> None:
    r = response(provider, event("checkout.session.completed", session(client_reference_id="ORD-77-1")))
    assert r.reference == "ORD-77-1"


def test_metadata_wins_over_client_reference_id_to_agree_with_the_payment_intent(
    provider: StripeProvider,
) -> None:
    obj = session(client_reference_id="cart-1234", metadata={"txn_id": "ORD-STR-1001-1"})
    assert response(provider, event("checkout.session.completed", obj)).reference == "ORD-STR-1001-1"


def test_a_charge_without_the_payment_intents_metadata_has_no_reference(provider: StripeProvider) -> None:
    # gateway-formats.md 2: whether a Charge copies the PaymentIntent's metadata is UNCONFIRMED
    r = response(provider, event("charge.succeeded", charge(metadata={})))
    assert r.reference is None
    assert r.dedupe_key == f"{PI}:approved"  # the key still names the payment, for the operator


# -- authenticity ----------------------------------------------------------------------------------
def test_a_signature_made_with_the_secret_is_valid(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    assert response(provider, body, sidecar(body)).authenticity is Authenticity.VALID


def test_a_tampered_amount_fails_the_signature_check(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    tampered = body.replace(b'"amount_received": 4990', b'"amount_received": 499')
    assert tampered != body
    r = response(provider, tampered, sidecar(body))
    assert (r.authenticity, r.amount_minor) == (Authenticity.INVALID, 499)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_a_file_that_gained_a_line_end_is_still_valid_but_a_live_post_is_not(
    provider: StripeProvider, line_end: bytes
) -> None:
    # an editor, or ``echo "$BODY" > file``, adds a line end Stripe never sent nor signed
    body = event("payment_intent.succeeded", payment_intent())
    assert not body.endswith(b"\n")
    assert response(provider, body + line_end, sidecar(body)).authenticity is Authenticity.VALID
    tampered = body.replace(b'"amount_received": 4990', b'"amount_received": 499') + line_end
    assert response(provider, tampered, sidecar(body)).authenticity is Authenticity.INVALID
    # what arrives over HTTP is checked as the bytes received, and a received message read again too
    headers = sidecar(body)
    live = provider.interpret(Origin(None, body + line_end, None, headers), now=T + 10)
    assert isinstance(live, ResponseRecord) and live.authenticity is Authenticity.INVALID
    kept = provider.reinterpret(Origin(None, body + line_end, None, headers, live=True))
    assert isinstance(kept, ResponseRecord) and kept.authenticity is Authenticity.INVALID


def test_a_signature_made_with_another_secret_is_invalid(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    assert response(provider, body, sidecar(body, "whsec_someone_else")).authenticity is Authenticity.INVALID


# A secret rolled in the Dashboard: the new one first, the earlier one still accepted meanwhile
def rotated(config: Config, *secrets: str, **settings: Any) -> StripeProvider:
    return StripeProvider("stripe", {"webhook_secret": Secret(*secrets), **settings}, config)


def test_an_event_signed_with_the_earlier_secret_is_valid_while_it_is_listed(config: Config) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    earlier = sidecar(body)  # signed with SECRET, the earlier one
    assert response(rotated(config, ROLLED, SECRET), body, earlier).authenticity is Authenticity.VALID
    assert response(rotated(config, ROLLED), body, earlier).authenticity is Authenticity.INVALID
    assert response(rotated(config, ROLLED, SECRET), body, sidecar(body, ROLLED)).authenticity is (
        Authenticity.VALID
    )


def test_while_a_secret_is_rolled_stripe_signs_with_both_and_either_listed_verifies(config: Config) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    both = f"Stripe-Signature: {sign(body, ROLLED)},{sign(body).split(',')[1]}\n"  # t=..,v1=new,v1=old
    for secrets in ((ROLLED, SECRET), (ROLLED,), (SECRET,)):
        assert response(rotated(config, *secrets), body, both).authenticity is Authenticity.VALID


def test_a_forged_event_is_invalid_under_every_secret_listed(config: Config) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    tampered = body.replace(b'"amount_received": 4990', b'"amount_received": 499')
    for secrets in ((ROLLED, SECRET), (ROLLED,)):
        p = rotated(config, *secrets)
        assert response(p, body, sidecar(body, "whsec_someone_else")).authenticity is Authenticity.INVALID
        assert response(p, tampered, sidecar(body)).authenticity is Authenticity.INVALID
        assert response(p, tampered, sidecar(body, ROLLED)).authenticity is Authenticity.INVALID


def test_a_live_event_signed_with_the_earlier_secret_is_in_flight_then_a_replay(config: Config) -> None:
    # an event Stripe sent before the roll, delivered during the switch, is genuine; one replayed past
    # the tolerance is refused as it would be with the current secret
    p = rotated(config, ROLLED, SECRET, tolerance_seconds=60)
    body = event("payment_intent.succeeded", payment_intent())
    origin = Origin(None, body, None, sidecar(body, t=T))
    fresh = p.interpret(origin, now=T + 60)
    assert isinstance(fresh, ResponseRecord) and fresh.authenticity is Authenticity.VALID
    late = p.interpret(origin, now=T + 61)
    assert isinstance(late, RefusedRecord) and "a replay, refused" in late.reason


def test_a_file_kept_without_its_signature_is_set_aside_when_a_secret_could_check_it(
    provider: StripeProvider, unconfigured: StripeProvider
) -> None:
    # design.md 3.4: unverifiable is for no secret or a check that needs the network. Trusted, an unsigned
    # file dropped in the inbox would mark a request paid; judged forged, a genuine copy would look forged.
    body = event("payment_intent.succeeded", payment_intent())
    for headers in (None, "Content-Type: application/json\n"):
        assert "no Stripe-Signature, though a webhook_secret is configured" in quarantined(
            provider, body, headers
        )
    assert response(provider, body).authenticity is Authenticity.VALID  # the signed copy
    assert (
        response(unconfigured, body, None).authenticity is Authenticity.UNVERIFIABLE
    )  # nothing to check with
    # an event that says nothing about money is kept as it was
    info = read(provider, event("payment_intent.created", payment_intent()), None)
    assert isinstance(info, InfoRecord) and info.authenticity is Authenticity.UNVERIFIABLE


def test_a_live_callback_without_a_signature_is_invalid(provider: StripeProvider) -> None:
    # anybody can post an unsigned body to the public endpoint
    body = event("payment_intent.succeeded", payment_intent())
    for headers in (None, "Content-Type: application/json\n"):
        r = provider.interpret(Origin(None, body, None, headers), now=T + 10)
        assert isinstance(r, ResponseRecord) and r.authenticity is Authenticity.INVALID
    info = provider.interpret(Origin(None, event("payment_intent.created", payment_intent())), now=T + 10)
    assert isinstance(info, InfoRecord) and info.authenticity is Authenticity.INVALID


@pytest.mark.parametrize("kept_first", [False, True])
def test_a_copy_kept_without_its_signature_leaves_the_signed_response_alone(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider, kept_first: bool
) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    signed, kept = tmp_path / "signed.json", tmp_path / "kept.json"
    signed.write_bytes(body)
    signed.with_name("signed.json.headers").write_text(sidecar(body))
    kept.write_bytes(body)  # its sidecar lost
    paths = [kept, signed] if kept_first else [signed, kept]
    Ingest(store, config, {"stripe": provider}).run([str(path) for path in paths])
    rows = store.query("SELECT authenticity, deliveries FROM response")
    assert [(r["authenticity"], r["deliveries"]) for r in rows] == [("valid", 1)]  # not a forgery beside it
    assert [r["state"] for r in store.query("SELECT state FROM message ORDER BY source")] == [
        "quarantined",  # kept.json, set aside with its reason
        "response",
    ]


def test_a_raw_http_dump_of_an_unsigned_post_is_invalid(provider: StripeProvider) -> None:
    # a dump records the request as it arrived: without the header, it was posted unsigned
    body = event("payment_intent.succeeded", payment_intent())
    dump = http_dump(body, "").replace(b"Stripe-Signature: \r\n", b"")
    assert b"Stripe-Signature" not in dump
    assert response(provider, dump, None).authenticity is Authenticity.INVALID


@pytest.mark.parametrize("header", ["", "garbage", f"t={T},v1=" + "0" * 64])
def test_a_present_but_wrong_signature_is_invalid_from_a_file_or_live(
    provider: StripeProvider, header: str
) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    headers = f"Stripe-Signature: {header}\n"
    assert response(provider, body, headers).authenticity is Authenticity.INVALID
    live = provider.interpret(Origin(None, body, None, headers), now=T + 10)
    assert isinstance(live, ResponseRecord) and live.authenticity is Authenticity.INVALID


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=,v1=",
        "t=abc,v1=00",
        "v1=" + "0" * 64,
        f"t={T}",
        f"t={T},v0=" + "0" * 64,
        "t=1,v1=\u00e9",
    ],
)
def test_a_garbage_signature_header_is_invalid_never_an_error(provider: StripeProvider, header: str) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    assert response(provider, body, f"Stripe-Signature: {header}\n").authenticity is Authenticity.INVALID


def test_without_a_secret_the_event_is_unverifiable(unconfigured: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    assert response(unconfigured, body, sidecar(body)).authenticity is Authenticity.UNVERIFIABLE
    assert response(unconfigured, body, None).authenticity is Authenticity.UNVERIFIABLE


def test_a_file_of_the_past_is_checked_without_a_time_limit(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    old = sidecar(body, t=1_000_000_000)  # 2001
    assert response(provider, body, old).authenticity is Authenticity.VALID


def test_a_live_callback_older_than_the_tolerance_is_a_replay_refused(config: Config) -> None:
    p = StripeProvider("stripe", {"webhook_secret": Secret(SECRET), "tolerance_seconds": 60}, config)
    body = event("payment_intent.succeeded", payment_intent())
    origin = Origin(None, body, None, sidecar(body, t=T))
    late = p.interpret(origin, now=T + 61)
    fresh = p.interpret(origin, now=T + 60)
    assert isinstance(late, RefusedRecord) and "a replay, refused" in late.reason
    assert isinstance(fresh, ResponseRecord) and fresh.authenticity is Authenticity.VALID
    # a late event that is not genuine either is a forgery, not a replay: stored as invalid
    forged = Origin(None, body, None, sidecar(body, t=T).replace("v1=", "v1=0"))
    late_forged = p.interpret(forged, now=T + 61)
    assert isinstance(late_forged, ResponseRecord) and late_forged.authenticity is Authenticity.INVALID
    # a file of the past is read without the time limit
    assert isinstance(p.reinterpret(origin), ResponseRecord)


def test_a_redelivery_is_signed_anew_and_is_the_same_response(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    first = response(provider, body, sidecar(body, t=T))
    again = response(provider, body, sidecar(body, t=T + 3600))
    assert first.origin != again.origin
    assert response_identity("stripe", first) == response_identity("stripe", again)


def test_the_fixed_vector_of_the_formats_document_verifies() -> None:
    payload = (
        b'{\n  "id": "evt_test_webhook",\n  "object": "event",\n'
        b'  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }\n}'
    )
    header = "t=12345,v1=07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda"
    assert verify_signature(payload, header, "whsec_test_secret")
    assert not verify_signature(payload + b" ", header, "whsec_test_secret")


def test_the_check_result_is_true_only_when_valid() -> None:
    assert SignatureCheck.VALID and not SignatureCheck.INVALID and not SignatureCheck.EXPIRED


# -- cross-check with the official stripe package --------------------------------------------------
def _sdk(payload: bytes, header: str, secret: str, tolerance: int | None) -> SignatureCheck:
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        return SignatureCheck.EXPIRED if "tolerance" in str(exc) else SignatureCheck.INVALID
    return SignatureCheck.VALID


BODY = event("payment_intent.succeeded", payment_intent())


def _cases() -> list[tuple[str, bytes, str, str, int | None]]:
    now = int(time.time())
    good = sign(BODY, t=now)
    good_sig = good.split("v1=")[1]
    old = sign(BODY, t=now - 600)
    return [
        ("valid", BODY, good, SECRET, None),
        ("valid-with-tolerance", BODY, good, SECRET, 300),
        ("tampered-body", BODY.replace(b"4990", b"4999"), good, SECRET, None),
        ("wrong-secret", BODY, good, "whsec_other", None),
        ("expired", BODY, old, SECRET, 300),
        ("old-without-tolerance", BODY, old, SECRET, None),
        ("expired-and-tampered", BODY + b"\n", old, SECRET, 300),
        ("several-v1-one-good", BODY, f"t={now},v1={'0' * 64},v1={good_sig}", SECRET, None),
        ("several-v1-none-good", BODY, f"t={now},v1={'0' * 64},v1={'f' * 64}", SECRET, None),
        ("v0-only", BODY, f"t={now},v0={good_sig}", SECRET, None),
        ("v0-and-good-v1", BODY, f"t={now},v0={'0' * 64},v1={good_sig}", SECRET, None),
        ("upper-case-hex", BODY, f"t={now},v1={good_sig.upper()}", SECRET, None),
        ("timestamp-changed", BODY, f"t={now + 1},v1={good_sig}", SECRET, None),
        ("no-timestamp", BODY, f"v1={good_sig}", SECRET, None),
        ("malformed", BODY, "i am not a header", SECRET, None),
        ("empty", BODY, "", SECRET, None),
    ]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_the_check_agrees_with_the_official_stripe_package(
    case: tuple[str, bytes, str, str, int | None],
) -> None:
    _, payload, header, secret, tolerance = case
    now = int(time.time()) if tolerance is not None else None
    ours = check_signature(payload, header, secret, now=now, tolerance=tolerance or 0)
    assert ours == _sdk(payload, header, secret, tolerance)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
@pytest.mark.parametrize(
    "listed", [(ROLLED, SECRET), (SECRET, ROLLED), (ROLLED,)], ids=["new-old", "old-new", "new"]
)
def test_a_rotated_secret_accepts_what_the_official_package_verifies_with_any_listed(
    config: Config, case: tuple[str, bytes, str, str, int | None], listed: tuple[str, ...]
) -> None:
    # the cases' secret is the earlier one (SECRET, or another): the SDK takes one secret, so the
    # expected result is its best over each listed
    _, payload, header, secret, tolerance = case
    listed = tuple(secret if s == SECRET else s for s in listed)
    now = int(time.time()) if tolerance is not None else None
    p = rotated(config, *listed, tolerance_seconds=tolerance or 0)
    sdk = [_sdk(payload, header, s, tolerance) for s in listed]
    expected = next(
        (r for r in (SignatureCheck.VALID, SignatureCheck.EXPIRED) if r in sdk), SignatureCheck.INVALID
    )
    assert p._check(payload, header, now=now) == expected


# -- shapes ----------------------------------------------------------------------------------------
def test_a_chunked_dump_is_decoded_before_its_signature_is_checked(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    dump = http_dump(body, sign(body)).replace(
        f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked"
    )
    head, _, _ = dump.partition(b"\r\n\r\n")
    chunked = head + b"\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    assert response(provider, chunked, None).authenticity is Authenticity.VALID


def test_a_dump_cut_shorter_than_its_content_length_is_quarantined(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    cut = http_dump(body, sign(body))[:-10]
    reason = quarantined(provider, cut)
    assert (
        reason == f"stripe: truncated: Content-Length says {len(body)} bytes, the body has {len(body) - 10}"
    )


def test_a_raw_http_dump_is_read_with_its_signature(provider: StripeProvider) -> None:
    body = event("charge.succeeded", charge())
    r = response(provider, http_dump(body, sign(body)), None)
    assert (r.status, r.authenticity, r.reference) == (Status.APPROVED, Authenticity.VALID, "ORD-STR-1001-1")


def test_a_get_request_is_not_a_stripe_event(provider: StripeProvider) -> None:
    reason = quarantined(
        provider, b"GET /callbacks/stripe?id=evt_1 HTTP/1.1\r\nStripe-Signature: t=1,v1=0\r\n\r\n"
    )
    assert "a GET request" in reason


def test_the_stored_message_is_the_files_bytes_and_headers(provider: StripeProvider) -> None:
    body = event("charge.succeeded", charge())
    headers = sidecar(body)
    record = read(provider, body, headers)
    assert record.origin == Origin(None, body, None, headers)  # type: ignore[union-attr]


# -- bad inputs ------------------------------------------------------------------------------------
def test_a_truncated_body_is_quarantined(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    assert "not valid JSON, truncated or damaged" in quarantined(provider, body[:200], sidecar(body))


def test_invalid_json_is_quarantined(provider: StripeProvider) -> None:
    assert "not valid JSON" in quarantined(provider, b'{"object": "event", "type": }')
    deep = b'{"object": "event", "type": "payment_intent.succeeded", "data": ' + b"[" * 20_000
    assert (
        quarantined(provider, deep, sidecar(deep))
        == "stripe: not valid JSON, truncated or damaged (nested too deeply)"
    )


def test_a_body_that_is_not_utf8_is_quarantined(provider: StripeProvider) -> None:
    body = json.loads(event("payment_intent.succeeded", payment_intent(description="Caff\u00e8")))
    latin1 = json.dumps(body, ensure_ascii=False).encode("latin-1")  # a proxy that re-encoded it
    assert "body is not UTF-8 (byte " in quarantined(provider, latin1, "Stripe-Signature: t=1,v1=00\n")


def test_an_event_with_a_non_ascii_description_is_read_as_utf8(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent(description="Caff\u00e8 \u20ac"))
    assert b"\\u20ac" in body  # json.dumps escapes; Stripe may not: check raw UTF-8 too
    raw = json.dumps(json.loads(body), ensure_ascii=False, indent=2).encode()
    assert response(provider, raw, sidecar(raw)).authenticity is Authenticity.VALID


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty body"),
        (b"[1, 2]", "the JSON is not an object"),
        (b'{"id": "cus_1", "object": "customer"}', "'object' is 'customer', not 'event'"),
        (b'{"object": "event", "data": {"object": {}}}', "the event has no type"),
        (b'{"object": "event", "type": "charge.succeeded"}', "event charge.succeeded has no data.object"),
        (b'{"object": "event", "type": "charge.succeeded", "data": {"object": []}}', "has no data.object"),
        (
            b'{"id": "evt_1", "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered"}',
            "thin event",
        ),
        (
            event("charge.succeeded", payment_intent()),
            "charge.succeeded carries 'payment_intent', not a charge",
        ),
        (event("charge.dispute.created", charge()), "carries 'charge', not a dispute"),
    ],
)
def test_a_message_that_is_not_a_readable_event_is_quarantined(
    provider: StripeProvider, raw: bytes, words: str
) -> None:
    assert words in quarantined(provider, raw, "Stripe-Signature: t=1,v1=00\n")


def test_a_binary_file_is_not_claimed(provider: StripeProvider) -> None:
    assert not provider.identify(src(bytes(range(256)) * 4))


def test_a_binary_file_with_a_stripe_header_is_quarantined(provider: StripeProvider) -> None:
    assert "body is not UTF-8" in quarantined(provider, bytes(range(256)), "Stripe-Signature: t=1,v1=00\n")


def test_a_file_over_64_kib_is_refused_with_a_reason(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent(description="x" * HEAD_BYTES))
    source = src(body[:HEAD_BYTES])
    assert provider.identify(source)
    with pytest.raises(SourceError, match="too large for one webhook event"):
        list(provider.extract(source))


def test_a_huge_file_is_refused_by_ingest_and_nothing_is_stored(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    path = tmp_path / "huge.json"
    path.write_bytes(event("payment_intent.succeeded", payment_intent(description="x" * 100_000)))
    p = StripeProvider("stripe", {}, config)
    report = Ingest(store, config, {"stripe": p}).run([str(path)])
    assert report.refused and "too large" in report.refused[0][1]
    assert store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] == 0


def test_no_record_or_reason_ever_shows_the_secret(provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    for raw, headers in ((body, sidecar(body, "whsec_x")), (b"{", None), (body, None)):
        record = read(provider, raw, headers)
        assert SECRET not in repr(record)
    assert SECRET not in repr(provider.options)


def test_the_records_are_the_same_when_read_again(provider: StripeProvider) -> None:
    body = event("checkout.session.completed", session())
    first = read(provider, body, sidecar(body))
    assert provider.reinterpret(copy.deepcopy(first.origin)) == first  # type: ignore[union-attr]


def test_a_negative_tolerance_is_a_configuration_error(tmp_path: Path) -> None:
    # every live event would be older than it: a replay
    with pytest.raises(ConfigError, match=r"gateways\.stripe\.tolerance_seconds: must be 0 or more seconds"):
        make_config(tmp_path, "gateways:\n  stripe:\n    tolerance_seconds: -5\n")
    assert make_config(tmp_path, "gateways:\n  stripe:\n    tolerance_seconds: 0\n").gateways["stripe"]


# -- a Session's client_reference_id: a guessed reference --------------------------------------------
def checkout_of(tmp_path: Path, client_reference_id: str) -> dict[str, Path]:
    """A request and the events of its Checkout payment, each with its signature sidecar; the Session
    names the shop by ``client_reference_id`` (Stripe: "a customer ID, a cart ID, or similar")."""
    (tmp_path / "requests.csv").write_text(
        "txn_id,order_id,kind,created_at,customer,amount,currency,gateway\n"
        "ORD-STR-1001-1,ORD-STR-1001,order,2024-05-14T12:00:00+02:00,Rossi Mario,49.90,EUR,stripe\n"
    )
    files = {"requests": tmp_path / "requests.csv"}
    for name, body in (
        ("intent", event("payment_intent.succeeded", payment_intent())),
        ("session", event("checkout.session.completed", session(client_reference_id=client_reference_id))),
    ):
        path = tmp_path / f"{name}.json"
        path.write_bytes(body)
        path.with_name(f"{name}.json.headers").write_text(sidecar(body))
        files[name] = path
    return files


def stripe_providers(config: Config, provider: StripeProvider) -> dict[str, Any]:
    from paycli.gateways.requests import RequestFileProvider

    return {"requests": RequestFileProvider("requests", {}, config), "stripe": provider}


@pytest.mark.parametrize("session_first", [False, True])
@pytest.mark.parametrize("client_reference_id", ["ORD-STR-1001", "cus_Q2w3E4r5T6y7U8"])
def test_a_session_naming_the_order_or_the_customer_is_the_same_response_as_its_payment_intent(
    tmp_path: Path,
    store: Store,
    config: Config,
    provider: StripeProvider,
    session_first: bool,
    client_reference_id: str,
) -> None:
    files = checkout_of(tmp_path, client_reference_id)
    order = [files["session"], files["intent"]] if session_first else [files["intent"], files["session"]]
    runs = [Ingest(store, config, stripe_providers(config, provider)) for _ in range(3)]
    for run, path in zip(runs, [files["requests"], *order], strict=True):
        run.run([str(path)])  # one input a run, as files arriving over a day
    [request] = store.query("SELECT outcome, reason, response_count FROM payment_request")
    assert (request["outcome"], request["reason"], request["response_count"]) == ("POSITIVO", None, 1)
    [held] = store.query("SELECT reference, reference_guessed, deliveries FROM response")
    assert (held["reference"], bool(held["reference_guessed"]), held["deliveries"]) == (
        "ORD-STR-1001-1",
        False,
        2,
    )
    references = store.query("SELECT DISTINCT reference FROM message WHERE state = 'response'")
    assert [r["reference"] for r in references] == ["ORD-STR-1001-1"]  # no orphan of the customer


def test_a_session_alone_names_its_request_by_client_reference_id(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    files = checkout_of(tmp_path, "ORD-STR-1001-1")
    Ingest(store, config, stripe_providers(config, provider)).run(
        [str(files["requests"]), str(files["session"])]
    )
    [request] = store.query("SELECT outcome FROM payment_request")
    assert request["outcome"] == "POSITIVO"
    [held] = store.query("SELECT reference, reference_guessed FROM response")
    assert (held["reference"], bool(held["reference_guessed"])) == ("ORD-STR-1001-1", True)


def test_reprocess_all_marks_a_session_stored_before_0007_and_gives_it_its_payment_s_reference(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    files = checkout_of(tmp_path, "ORD-STR-1001")
    Ingest(store, config, stripe_providers(config, provider)).run([str(p) for p in files.values()])
    with store.transaction():  # as a paycli before 0007 stored it: the session's own reference, told apart
        store.execute("UPDATE response SET reference_guessed = :no", {"no": False})
        [held] = store.query("SELECT * FROM response")
        store.execute(
            "INSERT INTO response (identity, request_id, reference, reference_guessed, provider, dedupe_key, "
            "status, raw_status, amount_minor, currency, gateway_txn_id, authenticity, occurred_at, "
            "received_at, deliveries) SELECT :i, NULL, 'ORD-STR-1001', :no, provider, dedupe_key, status, "
            "'checkout.session.completed', amount_minor, currency, gateway_txn_id, authenticity, occurred_at, "
            "received_at, 1 FROM response WHERE id = :id",
            {"i": "0" * 64, "no": False, "id": held["id"]},
        )
        store.execute(
            "UPDATE message SET response_id = (SELECT id FROM response WHERE identity = :i), "
            "reference = 'ORD-STR-1001', request_id = NULL WHERE source LIKE :s",
            {"i": "0" * 64, "s": "%session.json"},
        )
        store.execute("UPDATE response SET deliveries = 1 WHERE id = :id", {"id": held["id"]})
    run = Ingest(store, config, stripe_providers(config, provider))
    run.reprocess(read=True)
    assert run.report.renamed == 1
    [response] = store.query("SELECT reference, reference_guessed, deliveries FROM response")
    assert (response["reference"], bool(response["reference_guessed"]), response["deliveries"]) == (
        "ORD-STR-1001-1",
        False,
        2,
    )
    again = Ingest(store, config, stripe_providers(config, provider))
    again.reprocess(read=True)
    assert (again.report.renamed, again.report.unchanged) == (0, 2)


def test_reprocess_all_reads_a_refund_that_took_its_reference_from_its_payment_as_before(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    from paycli.resolutions import resolve

    files = checkout_of(tmp_path, "ORD-STR-1001-1")
    body = event("refund.created", refund(), id="evt_3PGqJ2Hc8vLmR4Tz1rE2fG3")
    (tmp_path / "refund.json").write_bytes(body)
    (tmp_path / "refund.json.headers").write_text(sidecar(body))
    paths = [files["requests"], files["intent"], tmp_path / "refund.json"]
    Ingest(store, config, stripe_providers(config, provider)).run([str(p) for p in paths])
    resolve(store, config, "ORD-STR-1001-1", "NEGATIVO", "refunded to the customer", "anna")
    run = Ingest(store, config, stripe_providers(config, provider))
    run.reprocess(read=True)
    assert run.report.unchanged == 2
    [request] = store.query("SELECT outcome, reason FROM payment_request")
    assert (request["outcome"], request["reason"]) == ("NEGATIVO", "RESOLVED")  # not reopened by itself


@pytest.mark.parametrize("refund_first", [False, True])
def test_a_refund_filed_under_the_shop_s_own_id_belongs_to_its_payment(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider, refund_first: bool
) -> None:
    files = checkout_of(tmp_path, "ORD-STR-1001-1")
    # the shop's refund module tags the Refund with its own record, under the same metadata key
    body = event("refund.created", refund(metadata={"txn_id": "RF-77"}), id="evt_3PGqJ2Hc8vLmR4Tz1rE2fG3")
    (tmp_path / "refund.json").write_bytes(body)
    (tmp_path / "refund.json.headers").write_text(sidecar(body))
    order = [tmp_path / "refund.json", files["intent"]]
    for path in [files["requests"], *(order if refund_first else reversed(order))]:
        Ingest(store, config, stripe_providers(config, provider)).run([str(path)])
    [request] = store.query("SELECT outcome, reason, detail, response_count FROM payment_request")
    assert (request["reason"], request["detail"], request["response_count"]) == (
        "MULTIPLE_RESPONSES",
        "refund_after_approval",
        2,
    )
    assert {r["reference"] for r in store.query("SELECT reference FROM response")} == {"ORD-STR-1001-1"}


def stripe_state(store: Store) -> tuple[object, ...]:
    requests = store.query(
        "SELECT txn_id, outcome, reason, detail, response_count FROM payment_request ORDER BY txn_id"
    )
    responses = store.query(
        "SELECT reference, reference_guessed, status, deliveries FROM response ORDER BY status, reference"
    )
    return (
        [tuple(r[k] for k in ("txn_id", "outcome", "reason", "detail", "response_count")) for r in requests],
        [(r["reference"], bool(r["reference_guessed"]), r["status"], r["deliveries"]) for r in responses],
    )


def every_order(
    tmp_path: Path,
    store: Store,
    config: Config,
    provider: StripeProvider,
    requests: str,
    bodies: dict[str, bytes],
    forged: tuple[str, ...] = (),
) -> Any:
    """The store every order of these events gives (one event a run, the requests first), asserted to
    be one; ``forged``: the events signed with another secret than the shop's."""
    (tmp_path / "requests.csv").write_text(
        "txn_id,order_id,kind,created_at,customer,amount,currency,gateway\n" + requests
    )
    for name, body in bodies.items():
        (tmp_path / f"{name}.json").write_bytes(body)
        secret = "whsec_not_the_shop_s_secret_at_all" if name in forged else SECRET
        (tmp_path / f"{name}.json.headers").write_text(sidecar(body, secret))
    stores = set()
    for order in itertools.permutations(bodies):
        with store.transaction():
            for table in ("message", "gateway_alias", "response", "payment_request"):
                store.execute(f"DELETE FROM {table}")
        for path in ["requests.csv", *(f"{name}.json" for name in order)]:
            Ingest(store, config, stripe_providers(config, provider)).run([str(tmp_path / path)])
        stores.add(repr(stripe_state(store)))
    assert len(stores) == 1, stores
    return stripe_state(store)


REQUEST_ROW = "{txn},ORD-STR-1001,order,2024-05-14T12:00:00+02:00,Rossi Mario,49.90,EUR,stripe\n"
# a PaymentIntent declined for the shop's first attempt, then confirmed again for its second
TWO_ATTEMPTS = REQUEST_ROW.format(txn="ORD-STR-1001-1") + REQUEST_ROW.format(txn="ORD-STR-1001-2")
FIRST_ATTEMPT_FAILED = event(
    "payment_intent.payment_failed",
    payment_intent(metadata={"txn_id": "ORD-STR-1001-1"}, status="requires_payment_method"),
    id="evt_1",
)
SECOND_ATTEMPT_PAID = event(
    "payment_intent.succeeded", payment_intent(metadata={"txn_id": "ORD-STR-1001-2"}), id="evt_4"
)
# a refund of the PaymentIntent's charge, which carries none of the shop's metadata
REFUNDED_WITHOUT_METADATA = event(
    "charge.refunded", charge(metadata={}, amount_refunded=4990, refunded=True), id="evt_3"
)


@pytest.mark.parametrize("metadata", [{}, {"txn_id": "ORD-STR-1001-1"}])
def test_a_checkout_payment_and_its_refund_give_one_store_in_any_order(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider, metadata: dict[str, str]
) -> None:
    # a shop that names the request in client_reference_id only ({}), or in both places
    bodies = {
        "intent": event("payment_intent.succeeded", payment_intent(metadata=metadata), id="evt_1"),
        "session": event("checkout.session.completed", session(), id="evt_2"),
        "refund": REFUNDED_WITHOUT_METADATA,
    }
    requests, _ = every_order(
        tmp_path, store, config, provider, REQUEST_ROW.format(txn="ORD-STR-1001-1"), bodies
    )
    assert requests == [("ORD-STR-1001-1", "VERIFICARE", "MULTIPLE_RESPONSES", "refund_after_approval", 2)]


def test_a_retried_payment_intent_s_refund_goes_to_the_attempt_that_paid_in_any_order(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    bodies = {
        "failed": FIRST_ATTEMPT_FAILED,
        "paid": SECOND_ATTEMPT_PAID,
        "refund": REFUNDED_WITHOUT_METADATA,
    }
    outcomes, _ = every_order(tmp_path, store, config, provider, TWO_ATTEMPTS, bodies)
    assert [o[1:3] for o in outcomes] == [("NEGATIVO", None), ("VERIFICARE", "MULTIPLE_RESPONSES")]
    assert outcomes[1][3] == "refund_after_approval"  # not SHARED_TRANSACTION: the refused attempt took none


def test_reprocess_all_twice_changes_nothing_and_reopens_no_resolution(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    from paycli.resolutions import resolve

    bodies = {
        "intent": event("payment_intent.succeeded", payment_intent(metadata={}), id="evt_1"),
        "session": event("checkout.session.completed", session(), id="evt_2"),
        "refund": REFUNDED_WITHOUT_METADATA,
    }
    every_order(tmp_path, store, config, provider, REQUEST_ROW.format(txn="ORD-STR-1001-1"), bodies)
    resolve(store, config, "ORD-STR-1001-1", "NEGATIVO", "refunded", "anna")
    before = stripe_state(store)
    for _ in range(2):
        run = Ingest(store, config, stripe_providers(config, provider))
        run.reprocess(read=True)
        assert (run.report.unchanged, run.report.renamed) == (3, 0)
        assert stripe_state(store) == before


def test_a_forged_event_moves_no_genuine_response_in_any_order(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    bodies = {
        "intent": event("payment_intent.succeeded", payment_intent(metadata={}), id="evt_1"),
        "session": event("checkout.session.completed", session(), id="evt_2"),
        # signed with another secret, naming another request as the payment's
        "forged": event(
            "payment_intent.succeeded", payment_intent(metadata={"txn_id": "ORD-STR-0000-1"}), id="evt_3"
        ),
    }
    requests, responses = every_order(
        tmp_path,
        store,
        config,
        provider,
        REQUEST_ROW.format(txn="ORD-STR-1001-1"),
        bodies,
        forged=("forged",),
    )
    assert requests == [("ORD-STR-1001-1", "POSITIVO", None, None, 1)]
    assert ("ORD-STR-1001-1", True, "approved", 2) in responses  # the genuine events stayed together


def test_a_refund_s_own_metadata_never_takes_the_payment_from_a_client_reference_id_shop(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    bodies = {
        "intent": event("payment_intent.succeeded", payment_intent(metadata={}), id="evt_1"),
        "session": event("checkout.session.completed", session(client_reference_id="ord-1001-1"), id="evt_2"),
        "refund": event("refund.created", refund(metadata={"txn_id": "RF-77"}), id="evt_3"),
    }
    requests, _ = every_order(tmp_path, store, config, provider, REQUEST_ROW.format(txn="ord-1001-1"), bodies)
    assert requests == [("ord-1001-1", "VERIFICARE", "MULTIPLE_RESPONSES", "refund_after_approval", 2)]


def test_a_retried_payment_intent_s_failed_charge_stays_with_the_attempt_it_failed_in_any_order(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    bodies = {
        "failed": FIRST_ATTEMPT_FAILED,
        "charge": event(
            "charge.failed", charge(metadata={}, status="failed", paid=False, captured=False), id="evt_2"
        ),
        "paid": SECOND_ATTEMPT_PAID,
    }
    outcomes, _ = every_order(tmp_path, store, config, provider, TWO_ATTEMPTS, bodies)
    assert [o[1:3] for o in outcomes] == [("NEGATIVO", None), ("POSITIVO", None)]


def test_reprocess_after_a_reference_key_fix_is_done_in_one_run(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    requests = REQUEST_ROW.format(txn="ORD-STR-1001") + REQUEST_ROW.format(txn="ORD-STR-1001-1")
    (tmp_path / "requests.csv").write_text(
        "txn_id,order_id,kind,created_at,customer,amount,currency,gateway\n" + requests
    )
    paths = [tmp_path / "requests.csv"]
    for name, body in (
        ("charge", event("charge.succeeded", charge(metadata={}), id="evt_1")),
        ("intent", event("payment_intent.succeeded", payment_intent(), id="evt_2")),
    ):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_bytes(body)
        paths[-1].with_name(f"{name}.json.headers").write_text(sidecar(body))
    by_order = StripeProvider(
        "stripe", {"webhook_secret": Secret(SECRET), "reference_key": "order_id"}, config
    )
    for path in paths:  # set up with the wrong key: the PaymentIntent's order_id names the request
        Ingest(store, config, stripe_providers(config, by_order)).run([str(path)])
    for _ in range(2):  # the key fixed: one run reads it all again, the next changes nothing
        Ingest(store, config, stripe_providers(config, provider)).reprocess(read=True)
        assert stripe_state(store)[0] == [
            ("ORD-STR-1001", "VERIFICARE", "NO_RESPONSE", None, 0),
            ("ORD-STR-1001-1", "POSITIVO", None, None, 1),
        ]


# -- informational events that name the payment only by Stripe's ids ------------------------------------
def test_an_informational_event_names_the_payment_it_is_about(provider: StripeProvider) -> None:
    failed = read(provider, event("refund.failed", refund(status="failed")))
    assert isinstance(failed, InfoRecord)
    assert (failed.reference, failed.gateway_txn_id) == (None, PI)
    won = read(provider, event("charge.dispute.closed", dispute(status="won", metadata={"txn_id": "RF-77"})))
    assert isinstance(won, InfoRecord)  # a Dispute's own metadata may name the shop's case: a guess
    assert (won.reference, won.reference_guessed, won.gateway_txn_id) == ("RF-77", True, PI)
    created = read(
        provider, event("payment_intent.created", payment_intent(status="requires_payment_method"))
    )
    assert isinstance(created, InfoRecord)
    assert (created.reference, created.reference_guessed, created.gateway_txn_id) == (
        "ORD-STR-1001-1",
        False,
        PI,
    )
    other = read(provider, event("customer.created", {"id": "cus_1", "object": "customer", "metadata": {}}))
    assert isinstance(other, InfoRecord) and other.gateway_txn_id is None  # no payment's event


def trail_state(store: Store) -> list[tuple[object, ...]]:
    """Each message's state, note and the request whose trail it is in."""
    rows = store.query(
        "SELECT m.state, m.note, r.txn_id FROM message m LEFT JOIN payment_request r ON r.id = m.request_id "
        "WHERE m.state <> 'request' ORDER BY m.state, m.note"
    )
    return [(m["state"], m["note"], m["txn_id"]) for m in rows]


# a payment refunded, the refund failed; disputed, the dispute won: none of these events carries the
# shop's metadata, only the PaymentIntent does
FAILED_REFUND = event("refund.failed", refund(status="failed"), id="evt_5")
DISPUTE_WON = event("charge.dispute.closed", dispute(status="won", metadata={"txn_id": "RF-77"}), id="evt_6")


@pytest.mark.parametrize("requests_last", [False, True])
def test_a_failed_refund_and_a_dispute_won_join_their_payment_s_trail_in_any_order(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider, requests_last: bool
) -> None:
    bodies = {
        "paid": event("payment_intent.succeeded", payment_intent(), id="evt_1"),
        "refund": event(
            "charge.refunded", charge(metadata={}, amount_refunded=4990, refunded=True), id="evt_3"
        ),
        "failed": FAILED_REFUND,
        "won": DISPUTE_WON,
    }
    (tmp_path / "requests.csv").write_text(
        "txn_id,order_id,kind,created_at,customer,amount,currency,gateway\n"
        + REQUEST_ROW.format(txn="ORD-STR-1001-1")
    )
    for name, body in bodies.items():
        (tmp_path / f"{name}.json").write_bytes(body)
        (tmp_path / f"{name}.json.headers").write_text(sidecar(body))
    trails = set()
    for order in itertools.permutations(bodies):
        with store.transaction():
            for table in ("message", "gateway_alias", "response", "payment_request"):
                store.execute(f"DELETE FROM {table}")
        paths = [f"{name}.json" for name in order]
        for path in [*paths, "requests.csv"] if requests_last else ["requests.csv", *paths]:
            Ingest(store, config, stripe_providers(config, provider)).run([str(tmp_path / path)])
        trails.add(repr(trail_state(store)))
    assert len(trails) == 1, trails
    informational = [m for m in trail_state(store) if m[0] == "informational"]
    assert [(m[1].split(" (")[0], m[2]) for m in informational] == [
        ("charge.dispute.closed: dispute won, the funds stay with the merchant", "ORD-STR-1001-1"),
        ("refund.failed: refund failed, no money returned", "ORD-STR-1001-1"),
    ]
    [message] = store.query(
        "SELECT reference, reference_guessed FROM message WHERE note LIKE 'charge.dispute%'"
    )
    assert (message["reference"], bool(message["reference_guessed"])) == ("ORD-STR-1001-1", True)


def test_an_informational_event_keeps_its_own_guess_while_its_payment_names_none(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    (tmp_path / "won.json").write_bytes(DISPUTE_WON)
    (tmp_path / "won.json.headers").write_text(sidecar(DISPUTE_WON))
    Ingest(store, config, stripe_providers(config, provider)).run([str(tmp_path / "won.json")])
    [message] = store.query("SELECT reference, reference_guessed, gateway_txn_id, request_id FROM message")
    assert (message["reference"], bool(message["reference_guessed"]), message["gateway_txn_id"]) == (
        "RF-77",
        True,
        PI,
    )


def test_reprocess_all_links_an_informational_event_stored_before_0008(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    files = checkout_of(tmp_path, "ORD-STR-1001-1")
    (tmp_path / "failed.json").write_bytes(FAILED_REFUND)
    (tmp_path / "failed.json.headers").write_text(sidecar(FAILED_REFUND))
    paths = [files["requests"], files["intent"], tmp_path / "failed.json"]
    Ingest(store, config, stripe_providers(config, provider)).run([str(p) for p in paths])
    with store.transaction():  # as a paycli before 0008 stored it: no transaction, in no trail
        store.execute(
            "UPDATE message SET gateway_txn_id = NULL, reference = NULL, request_id = NULL "
            "WHERE state = 'informational'"
        )
    run = Ingest(store, config, stripe_providers(config, provider))
    run.reprocess(read=True)
    assert run.report.unchanged == 1  # the PaymentIntent's
    [message] = store.query("SELECT gateway_txn_id, request_id FROM message WHERE state = 'informational'")
    assert message["gateway_txn_id"] == PI and message["request_id"] is not None
    again = Ingest(store, config, stripe_providers(config, provider))
    again.reprocess(read=True)
    assert again.report.unchanged == 2


def test_an_informational_event_leaves_a_payment_that_no_longer_names_the_request(
    tmp_path: Path, store: Store, config: Config, provider: StripeProvider
) -> None:
    """Reprocess after the webhook secret changed: the PaymentIntent's event now fails its check, and a
    forged message names nobody's request, so the failed refund that took its reference from it leaves
    the trail, as an ingest of both with that secret leaves it."""
    files = checkout_of(tmp_path, "ORD-STR-1001-1")
    (tmp_path / "failed.json").write_bytes(FAILED_REFUND)  # kept without its signature: read alike
    # the refund's message first: read again before the PaymentIntent's, it still finds its reference
    for path in (files["requests"], tmp_path / "failed.json", files["intent"]):
        Ingest(store, config, stripe_providers(config, provider)).run([str(path)])
    assert store.query("SELECT request_id FROM message WHERE state = 'informational'")[0]["request_id"]
    other = StripeProvider("stripe", {"webhook_secret": Secret("whsec_another_secret_of_the_shop")}, config)
    Ingest(store, config, stripe_providers(config, other)).reprocess(read=True)
    [message] = store.query("SELECT reference, request_id FROM message WHERE state = 'informational'")
    assert (message["reference"], message["request_id"]) == (None, None)
