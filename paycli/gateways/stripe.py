"""Stripe webhook Events: one JSON ``Event`` a file, signed in its ``Stripe-Signature`` header.

Stripe POSTs an Event object (``{"id": "evt_...", "object": "event", "type": ..., "created": <unix s>,
"livemode": ..., "data": {"object": <the resource>}}``) and signs it with the endpoint's secret
(gateway-formats.md section 2, from stripe/stripe-python ``stripe/_event.py``, ``_payment_intent.py``,
``_charge.py``, ``checkout/_session.py`` and ``_webhook.py`` @6c6e3736). A file holds the body, with its
headers in a ``.headers`` sidecar or as a raw HTTP request dump (design.md 5.2).

What it maps (design.md 3.1; the resource is ``data.object``):

- approved: ``payment_intent.succeeded``, ``charge.succeeded`` (captured), ``charge.captured``,
  ``checkout.session.completed`` with ``payment_status=paid``, ``checkout.session.async_payment_succeeded``;
- refused: ``payment_intent.payment_failed``, ``payment_intent.canceled``, ``charge.failed``,
  ``charge.expired``, ``checkout.session.async_payment_failed``, ``checkout.session.expired``;
- pending: ``payment_intent.processing``, ``payment_intent.amount_capturable_updated`` and a
  ``charge.succeeded`` that is only authorised (``captured: false``), ``charge.pending``,
  ``checkout.session.completed`` with ``payment_status=unpaid``;
- refunded: ``charge.refunded``, ``charge.refund.updated``, ``refund.created``, ``refund.updated`` (unless
  the refund failed or was cancelled; ``refund.failed`` is informational, and so is ``charge.refunded``
  of an authorisation cancelled before capture, or of the rest of a partial capture released: no money
  was taken);
- reversed: ``charge.dispute.*`` (unless the dispute was won, or is an inquiry, see ``_dispute``);
- informational: every other event (``payment_intent.created``, ``charge.updated``, ``customer.*``...).

One payment sends a PaymentIntent, a Charge and maybe a Checkout Session event; they are one response
whatever their order, so every field of the response identity is taken so that they agree: the dedupe
key and the gateway transaction id are the PaymentIntent id (``pi_...``), the amount is what was
collected (equal on all three for a payment taken in full), the currency is upper-cased. Amounts are
turned from Stripe's unit into ISO 4217 minor units where the two differ (ISK, MGA: ``_iso_minor``).
A response also names the charges of its PaymentIntent (``_charges_of``), which ingest keeps as aliases
of it: a balance report without ``payment_intent_id`` names the payment only by its charge.

The signature (``check_signature``) is HMAC-SHA256 of ``"<t>.<raw body>"`` with the whole endpoint
secret (``whsec_...``) as key, any of the header's ``v1`` values matching; it is the check of
``stripe.WebhookSignature.verify_header``. Files of the past are checked without a time limit; a
response kept in a file without its header is quarantined when a secret is configured (neither trusted
nor taken as forged) and unverifiable when none is; the callback receiver passes ``now`` to apply
``tolerance_seconds``, and an unsigned post (or a raw HTTP dump of one) is invalid. An event of test
mode (``livemode`` false) is invalid unless ``accept_test_mode`` is set: test money is not money.

The provider also reads Stripe's balance report CSVs (a header with ``balance_transaction_id`` and
``reporting_category``): ``identify``, ``extract`` and ``reinterpret`` hand them to
``paycli/gateways/stripe_balance.py``, which turns each row into a settlement line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Any, ClassVar

from paycli.config import Secret, Setting, SettingProblem
from paycli.errors import RecordError
from paycli.gateways.base import (
    HEAD_BYTES,
    RAW_STATUS_LIMIT,
    InfoRecord,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    RefusedRecord,
    ResponseRecord,
    Source,
    parse_json,
)
from paycli.gateways.callback import Callback, callback_origin, from_origin
from paycli.gateways.stripe_balance import BalanceReport, is_balance_report
from paycli.money import CURRENCY_EXPONENTS, MAX_MINOR_UNITS, normalise_currency
from paycli.outcome import Authenticity, Status

__all__ = ["SignatureCheck", "StripeProvider", "check_signature", "verify_signature"]

DEFAULT_TOLERANCE = 300  # seconds; the value of the official SDKs (Webhook.DEFAULT_TOLERANCE)
SIGNATURE_HEADER = "stripe-signature"
_ID_LIMIT = 128  # the width of the store's reference and gateway_txn_id columns (and of a txn_id)

# Cheap and specific: a JSON object that says it is a Stripe event (v1 snapshot or v2 thin event).
_EVENT_MARK = re.compile(rb'"object"\s*:\s*"(?:v2\.core\.)?event"')
_DIGITS = re.compile(r"[0-9]+")


# -- the signature ---------------------------------------------------------------------------------
class SignatureCheck(Enum):
    """The result of checking a ``Stripe-Signature`` header; only VALID is true in a boolean context."""

    VALID = "valid"
    INVALID = "invalid"  # missing or malformed header, no v1 value, or no v1 value matches
    EXPIRED = "expired"  # a matching signature older than the tolerance (live callbacks only)

    def __bool__(self) -> bool:
        return self is SignatureCheck.VALID


def _not_negative(value: int) -> int:
    if value < 0:  # every live event would be a replay
        raise SettingProblem("", f"must be 0 or more seconds, got {value}")
    return value


def check_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    now: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> SignatureCheck:
    """Check a webhook body against its ``Stripe-Signature`` header (``t=<unix>,v1=<hex>[,v1=...]``).

    As stripe-python's ``WebhookSignature.verify_header``: the items are split on ``,`` then on the first
    ``=``; the first ``t`` is the timestamp; every ``v1`` is a candidate and ``v0`` or other schemes are
    ignored; the expected value is HMAC-SHA256(secret, f"{t}.{body}") in lower-case hex, compared in
    constant time. The age is checked only when ``now`` is given (a live callback) and ``tolerance`` is
    positive, after the signature, and only against the past, as the SDK does. The body is signed as
    the bytes received: for Stripe's UTF-8 JSON that is the SDK's decoded text, encoded again.
    """
    if not header or not secret:
        return SignatureCheck.INVALID
    timestamp: str | None = None
    candidates: list[str] = []
    for item in header.split(","):
        scheme, sep, value = item.partition("=")
        if not sep:
            continue
        if scheme == "t" and timestamp is None:
            timestamp = value
        elif scheme == "v1":
            candidates.append(value)
    if timestamp is None or not _DIGITS.fullmatch(timestamp) or not candidates:
        return SignatureCheck.INVALID
    signed = timestamp.encode("ascii") + b"." + payload
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest().encode("ascii")
    # Every candidate is compared (no early exit), each in constant time; bytes, because
    # compare_digest refuses a str that is not ASCII and a header may hold anything.
    matches = [hmac.compare_digest(expected, c.encode("utf-8", "replace")) for c in candidates]
    if not any(matches):
        return SignatureCheck.INVALID
    if now is not None and tolerance > 0 and int(timestamp) < now - tolerance:
        return SignatureCheck.EXPIRED
    return SignatureCheck.VALID


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    now: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> bool:
    """True when ``check_signature`` says VALID."""
    return check_signature(payload, header, secret, now=now, tolerance=tolerance) is SignatureCheck.VALID


# -- reading an event ------------------------------------------------------------------------------
class _Unreadable(Exception):
    """The message cannot be interpreted; the text says why, for a person."""


@dataclass(frozen=True)
class _Reading:
    """What one event says: a status, or None for an informational event (``note`` says why)."""

    status: Status | None
    amount_field: str | None = None  # which field of the resource holds the amount of the response
    qualifier: str | None = None  # what besides the type decided the status, shown in raw_status
    note: str | None = None


def _load_event(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _Unreadable("empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"body is not UTF-8 (byte {exc.start}); Stripe sends UTF-8 JSON") from None
    try:
        # Decimal, so that a malformed amount such as 49.9 is seen as not an integer, never a float
        event = parse_json(text)
    except ValueError as exc:  # nested past any parser's depth too
        raise _Unreadable(f"not valid JSON, truncated or damaged ({exc})") from None
    if not isinstance(event, dict):
        raise _Unreadable("not a Stripe Event: the JSON is not an object")
    kind = event.get("object")
    if kind == "v2.core.event":
        raise _Unreadable("a thin event (v2) carries no payment: fetch it from the Stripe API")
    if kind != "event":
        raise _Unreadable(f"not a Stripe Event: 'object' is {_show(kind)}, not 'event'")
    if not isinstance(event.get("type"), str) or not event["type"]:
        raise _Unreadable("the event has no type")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise _Unreadable(f"event {event['type']} has no data.object")
    return event


def _show(value: object) -> str:
    """A JSON value quoted for a reason: strings in quotes, numbers as written, never too long."""
    text = str(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected_object(event_type: str) -> str | None:
    """The resource an event type carries, or None for types that are not read."""
    if event_type.startswith("payment_intent."):
        return "payment_intent"
    if event_type.startswith("charge.dispute."):
        return "dispute"
    if event_type.startswith(("charge.refund.", "refund.")):
        return "refund"
    if event_type.startswith("charge."):
        return "charge"
    if event_type.startswith("checkout.session."):
        return "checkout.session"
    return None


def _read(event_type: str, obj: Mapping[str, Any], released: int) -> _Reading:
    """The status an event type (and its resource, where the type is not enough) stands for;
    ``released``: what a partial capture released of the Charge's authorisation (``_released``)."""
    info = _Reading(None, note=f"{event_type}: no outcome")
    if event_type.startswith("payment_intent."):
        return {
            "payment_intent.succeeded": _Reading(Status.APPROVED, "amount_received"),
            "payment_intent.payment_failed": _Reading(Status.REFUSED, "amount"),
            "payment_intent.canceled": _Reading(Status.REFUSED, "amount"),
            "payment_intent.processing": _Reading(Status.PENDING, "amount"),
            # authorised, to be captured: not yet money received (manual capture)
            "payment_intent.amount_capturable_updated": _Reading(Status.PENDING, "amount"),
        }.get(event_type, info)
    if event_type.startswith("charge.dispute."):
        return _dispute(event_type, obj)
    if event_type.startswith(("charge.refund.", "refund.")):
        # charge.refund.updated, and the refund.* events an endpoint may be subscribed to instead
        if event_type not in ("charge.refund.updated", "refund.created", "refund.updated", "refund.failed"):
            return info
        refund_status = "failed" if event_type == "refund.failed" else obj.get("status")
        if refund_status in ("failed", "canceled"):
            # the money did not go back: the approval stands, the trail shows the attempt
            return _Reading(None, note=f"{event_type}: refund {refund_status}, no money returned")
        return _Reading(Status.REFUNDED, "amount", _word(refund_status))
    if event_type.startswith("charge."):
        if event_type == "charge.succeeded":
            # With manual capture, charge.succeeded means authorised: the money is taken only on
            # capture (charge.captured, payment_intent.succeeded). Only an explicit false is read so.
            if obj.get("captured") is False:
                return _Reading(Status.PENDING, "amount", "not captured")
            return _Reading(Status.APPROVED, "amount_captured")
        if event_type == "charge.refunded" and obj.get("captured") is False:
            # Cancelling an authorisation refunds what was held: no money was taken, none goes back
            # (the PaymentIntent's canceled event is the refusal).
            return _Reading(
                None, note=f"{event_type}: an authorisation released before capture, no money taken"
            )
        if event_type == "charge.refunded" and 0 < _minor(obj, "amount_refunded") <= released:
            # Before API 2025-03-31.basil a partial capture refunded the rest of the authorisation:
            # the customer was never charged it, so nothing went back
            return _Reading(
                None,
                note=f"{event_type}: the uncaptured rest of a partial capture released, no money returned",
            )
        return {
            "charge.captured": _Reading(Status.APPROVED, "amount_captured"),
            "charge.failed": _Reading(Status.REFUSED, "amount"),
            "charge.expired": _Reading(Status.REFUSED, "amount"),
            "charge.pending": _Reading(Status.PENDING, "amount"),
            # the cumulative refunded amount: what the operator needs to see (full or partial)
            "charge.refunded": _Reading(Status.REFUNDED, "amount_refunded"),
        }.get(event_type, info)
    if event_type.startswith("checkout.session."):
        if event_type == "checkout.session.completed":
            payment_status = obj.get("payment_status")
            if payment_status == "paid":
                return _Reading(Status.APPROVED, "amount_total", "paid")
            if payment_status == "unpaid":
                # a delayed method: async_payment_succeeded or _failed follows
                return _Reading(Status.PENDING, "amount_total", "unpaid")
            if payment_status == "no_payment_required":
                return _Reading(None, note=f"{event_type}: no payment required")
            return _Reading(Status.UNKNOWN, "amount_total", f"payment_status={_word(payment_status)}")
        return {
            "checkout.session.async_payment_succeeded": _Reading(Status.APPROVED, "amount_total"),
            "checkout.session.async_payment_failed": _Reading(Status.REFUSED, "amount_total"),
            "checkout.session.expired": _Reading(Status.REFUSED, "amount_total"),
        }.get(event_type, info)
    return _Reading(None, note=f"event type {event_type} is not a payment outcome")


def _dispute(event_type: str, obj: Mapping[str, Any]) -> _Reading:
    """A dispute (chargeback) takes the money back: reversed, except when it ends in the merchant's favour.

    A dispute closed as ``won`` (or an inquiry closed as ``warning_closed``), and
    ``charge.dispute.funds_reinstated``, return the money: they are informational. They do not undo
    the reversed response of the dispute's opening, if that was ingested: the request stays VERIFICARE
    (refund_after_approval) until an operator resolves it, who is the one to confirm the win on the
    dashboard. Mapping them to ``approved`` would fold them into the payment's approval and hide them.

    An inquiry (``warning_needs_response``, ``warning_under_review``) takes no money: it becomes a
    chargeback only if it is not answered. Not reversed, then, but a response of unknown status: the
    request is VERIFICARE, for a person to answer it, and its trail does not say the money went back.
    """
    status = obj.get("status")
    if event_type == "charge.dispute.funds_reinstated" or status in ("won", "warning_closed"):
        return _Reading(None, note=f"{event_type}: dispute {_word(status)}, the funds stay with the merchant")
    if status in _INQUIRY:
        return _Reading(Status.UNKNOWN, "amount", f"{status}, inquiry")  # 64 characters in all
    return _Reading(Status.REVERSED, "amount", _word(status))


_INQUIRY = ("warning_needs_response", "warning_under_review")  # a dispute before it is a chargeback


def _word(value: object) -> str:
    return value if isinstance(value, str) and value else "?"


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _id_of(value: object) -> str | None:
    """An id field, which an expanded event carries as the whole object."""
    if isinstance(value, dict):
        value = value.get("id")
    return _text(value)


def _charges_of(event_type: str, obj: Mapping[str, Any], payment: str) -> tuple[str, ...]:
    """The charges an event names for its PaymentIntent ``payment``: what a balance report without a
    ``payment_intent_id`` column names the payment by.

    A Charge is one itself; a Refund or a Dispute names its ``charge``; a PaymentIntent its
    ``latest_charge`` (API 2022-11-15 on) or, before, every charge in ``charges.data``. A charge made
    without a PaymentIntent is its own payment and needs no alias.
    """
    if event_type.startswith("payment_intent."):
        found = [_id_of(obj.get("latest_charge"))]
        charges = obj.get("charges")
        data = charges.get("data") if isinstance(charges, dict) else None
        if isinstance(data, list):
            found += [_id_of(charge) for charge in data]
    elif obj.get("object") == "charge":
        found = [_id_of(obj.get("id"))]
    elif obj.get("object") in ("refund", "dispute"):
        found = [_id_of(obj.get("charge"))]
    else:
        return ()
    return tuple(sorted({c for c in found if c is not None and c != payment and len(c) <= _ID_LIMIT}))


def stored_aliases(origin: Origin, payment: str) -> tuple[str, ...]:
    """The charges a stored message names for the PaymentIntent ``payment`` when it is a Stripe event,
    else nothing: how migration 0005 finds the aliases of the responses a store already holds."""
    try:
        event = _load_event(from_origin(origin).body)
    except (_Unreadable, RecordError, ValueError):
        return ()
    return _charges_of(event["type"], event["data"]["object"], payment)


# Stripe's integer amounts are in its own unit of each currency, which is not always ISO 4217's minor unit
# (docs.stripe.com/currencies): these are zero-decimal in the API although ISO gives MGA two decimals;
# ISK stays two-decimal in the API (100 is 1 krona) although ISO gives it none; the three-decimal ones
# agree with ISO; every other currency is two-decimal.
# fmt: off
_STRIPE_ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
})
# fmt: on
_STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def _iso_minor(amount: int, currency: str) -> int:
    """A Stripe amount of ``currency`` in the ISO 4217 minor units paycli stores and compares."""
    stripe_exponent = 0 if currency in _STRIPE_ZERO_DECIMAL else 3 if currency in _STRIPE_THREE_DECIMAL else 2
    shift = CURRENCY_EXPONENTS[currency] - stripe_exponent
    if shift >= 0:
        if amount * 10**shift > MAX_MINOR_UNITS:
            raise _Unreadable(f"amount {amount} {currency} is too large")
        return amount * 10**shift
    whole, fraction = divmod(amount, 10**-shift)
    if fraction:
        raise _Unreadable(
            f"amount {amount} is not a whole number of {currency} minor units "
            f"(Stripe counts {currency} in 1/{10**stripe_exponent}, ISO 4217 in 1/{10 ** CURRENCY_EXPONENTS[currency]})"
        )
    return whole


BASIL = "2025-03-31"  # the API version from which a partial capture no longer makes a Refund


def _released(obj: Mapping[str, Any], api_version: object) -> int:
    """What a partially captured Charge released of its authorisation (``amount`` - ``amount_captured``),
    which API versions before 2025-03-31.basil count in ``amount_refunded``; 0 for any other Charge, and
    for an event of basil or later (its ``amount_refunded`` is money returned, every cent of it), or of
    no version it says: then a real refund is never taken for a release (an operator looks, at worst)."""
    if not isinstance(api_version, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", api_version):
        return 0
    if api_version[:10] >= BASIL:
        return 0
    amount, captured = obj.get("amount"), obj.get("amount_captured")
    if obj.get("captured") is not True or type(amount) is not int or type(captured) is not int:
        return 0
    return max(amount - captured, 0)


def _minor(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if value is None:
        raise _Unreadable(f"{obj.get('object')} has no {name}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unreadable(f"{name} {_show(value)} is not an integer number of minor units")
    if value < 0:
        raise _Unreadable(f"{name} {value} is negative")
    if value > MAX_MINOR_UNITS:  # what the store's BIGINT holds
        raise _Unreadable(f"{name} {value} is too large")
    return value


# -- the provider ----------------------------------------------------------------------------------
class StripeProvider(Provider):
    name = "stripe"
    callback_methods = ("POST",)  # webhook events are POSTed
    description = "Stripe webhook Events (JSON, signed in the Stripe-Signature header) and balance reports"
    reads = (
        "Stripe Event JSON body, with a .headers sidecar holding Stripe-Signature",
        "raw HTTP request dump of a Stripe webhook POST",
        "Stripe balance report CSV (balance_change_from_activity.itemized)",
    )
    settings: ClassVar[Mapping[str, Setting]] = {
        "webhook_secret": Setting(
            Secret,
            earlier=True,
            help="the endpoint's signing secret (whsec_...); unset: events are kept as unverifiable; a "
            "list: the current secret, then earlier ones still accepted (a secret rolled in the Dashboard)",
        ),
        "reference_key": Setting(
            str,
            default="txn_id",
            help="the metadata key that holds the request's txn_id; a Checkout Session's "
            "client_reference_id also matches, until an event of its PaymentIntent names the request by "
            "this key",
        ),
        "tolerance_seconds": Setting(
            int,
            default=DEFAULT_TOLERANCE,
            check=_not_negative,
            help="live callbacks only: the oldest signature accepted, in seconds (0: no age check, as "
            "Stripe's SDK); files are checked without a time limit",
        ),
        "accept_test_mode": Setting(
            bool,
            default=False,
            help="accept test-mode events (livemode false) as genuine; off in production",
        ),
    }

    # -- settings ------------------------------------------------------------------------------
    @property
    def _secrets(self) -> tuple[str, ...]:
        """The current signing secret, then earlier ones still accepted; empty when none is configured."""
        value = self.options.get("webhook_secret")
        if isinstance(value, Secret):
            return value.reveal_all() if value else ()
        return (value,) if isinstance(value, str) and value else ()

    def _check(self, payload: bytes, header: str | None, *, now: int | None = None) -> SignatureCheck:
        """The header checked with each secret configured: VALID when any verifies it. While a secret is
        rolled Stripe signs with both (two v1 values), and what it signed before with the earlier one
        alone; EXPIRED when a secret verifies it only past the tolerance. Every secret is tried."""
        checks = [
            check_signature(payload, header, s, now=now, tolerance=self.tolerance) for s in self._secrets
        ]
        for result in (SignatureCheck.VALID, SignatureCheck.EXPIRED):
            if result in checks:
                return result
        return SignatureCheck.INVALID

    @property
    def reference_key(self) -> str:
        return str(self.options.get("reference_key") or "txn_id")

    @property
    def tolerance(self) -> int:
        value = self.options.get("tolerance_seconds")
        return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_TOLERANCE

    @cached_property
    def balance_report(self) -> BalanceReport:
        """The reader of balance report CSVs, with this provider's reference key."""
        return BalanceReport(self.reference_key, self.config.timezone)

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        if is_balance_report(source.head):
            return True
        callback = from_origin(Origin(None, source.head, None, source.headers))
        if callback.header(SIGNATURE_HEADER) is not None:
            return True  # only Stripe sends it; a damaged body with it is still Stripe's to quarantine
        body = callback.body.lstrip()
        return body.startswith(b"{") and _EVENT_MARK.search(body) is not None

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        if is_balance_report(source.head):
            yield from self.balance_report.extract(source)
            return
        refusal = (
            f"stripe: larger than {HEAD_BYTES // 1024} KiB, too large for one webhook event; "
            "is it a report or several events in one file?"
        )
        origin = callback_origin(source, refusal)
        if source.received_at is None:
            yield self.reinterpret(origin)
        else:  # a live callback (paycli serve): its signature must be recent
            yield self.interpret(origin, now=int(source.received_at.timestamp()))

    def reinterpret(self, origin: Origin) -> Record:
        if origin.context is not None:  # a report line keeps its header row; a webhook has none
            return self.balance_report.reinterpret(origin)
        return self.interpret(origin)

    def interpret(self, origin: Origin, *, now: int | None = None) -> Record:
        """The record one stored (or just received, with ``now``) callback stands for."""
        callback = from_origin(origin)
        try:
            if callback.damage is not None:
                raise _Unreadable(callback.damage)
            if callback.method != "POST":
                raise _Unreadable(f"a {callback.method} request: Stripe posts its events")
            event = _load_event(callback.body)
            return self._record(origin, callback, event, now)
        except (_Unreadable, RecordError) as exc:
            return QuarantinedRecord(origin, f"stripe: {exc}")

    def authenticate(self, callback: Callback, *, now: int | None = None, live: bool = False) -> Authenticity:
        """valid or invalid; unverifiable when no secret is configured, or for a body kept in a file
        without its ``Stripe-Signature`` (no sidecar, or one without it; ``_record`` quarantines such a
        response when a secret is configured). A live callback (``now`` given, or ``live``: one received, read again by
        reprocess) without one is invalid: anybody can post an unsigned body to the endpoint; so is a raw
        HTTP dump without one, the record of such a post."""
        if not self._secrets:
            return Authenticity.UNVERIFIABLE
        header = callback.header(SIGNATURE_HEADER)
        if header is None and now is None and callback.target is None and not live:
            return Authenticity.UNVERIFIABLE
        check = self._check(callback.body, header, now=now)
        if not check and now is None and not live:
            # a file: an editor, or ``echo "$BODY" >``, may have added a line end Stripe never sent
            # (nor signed); the bytes before it are checked exactly, so nothing unsigned is believed
            unended = callback.body.removesuffix(b"\n").removesuffix(b"\r")
            if unended != callback.body:
                check = self._check(unended, header)
        return Authenticity.VALID if check else Authenticity.INVALID

    def replayed(self, callback: Callback, now: int) -> bool:
        """A genuine signature, but older than ``tolerance_seconds`` at ``now``: a replayed event."""
        if not self._secrets:
            return False
        return (
            self._check(callback.body, callback.header(SIGNATURE_HEADER), now=now) is SignatureCheck.EXPIRED
        )

    def _record(self, origin: Origin, callback: Callback, event: dict[str, Any], now: int | None) -> Record:
        event_type: str = event["type"]
        obj: dict[str, Any] = event["data"]["object"]
        expected = _expected_object(event_type)
        if expected is not None and obj.get("object") != expected:
            raise _Unreadable(f"event {event_type} carries {_show(obj.get('object'))}, not a {expected}")
        authenticity = self.authenticate(callback, now=now, live=origin.live)
        if authenticity is Authenticity.INVALID and now is not None and self.replayed(callback, now):
            return RefusedRecord(
                origin,
                f"stripe: signed more than tolerance_seconds ({self.tolerance}) before it arrived: "
                "a replay, refused (paycli reprocess reads it again without the time limit)",
            )
        reference, guessed = self._reference(obj)
        if reference is not None and len(reference) > _ID_LIMIT:
            raise _Unreadable(f"the reference is longer than {_ID_LIMIT} characters: no txn_id is")
        test_mode = event.get("livemode") is False
        released = _released(obj, event.get("api_version"))
        reading = _read(event_type, obj, released)
        if reading.status is None:
            note = f"{reading.note} ({_text(event.get('id')) or 'no event id'})"
            if test_mode:
                note += ", test mode"
            if authenticity is Authenticity.INVALID:
                note += ", signature check failed"
            # the payment it is about (an event of another resource, a customer's, names none)
            about = self._payment_id(event_type, obj) if expected is not None else None
            return InfoRecord(
                origin,
                reference,
                note,
                authenticity,
                gateway_txn_id=about if about is not None and len(about) <= _ID_LIMIT else None,
                reference_guessed=guessed,
                occurred_at=self._created(event),
            )
        payment = self._payment_id(event_type, obj)
        if payment is None:
            raise _Unreadable(f"event {event_type}: the {expected} has no id")
        if len(payment) > _ID_LIMIT:
            raise _Unreadable(f"event {event_type}: an id longer than {_ID_LIMIT} characters")
        assert reading.amount_field is not None
        currency = normalise_currency(_text(obj.get("currency")) or "")
        amount = _iso_minor(self._amount(obj, reading, released), currency)
        if authenticity is Authenticity.UNVERIFIABLE and self._secrets:
            # a body kept in a file without its signature, though paycli holds the secret to check one:
            # set aside, as a Nexi body without its mac is. Trusted, anybody who can drop a file in the
            # inbox could mark a request paid; taken as forged, a genuine copy beside it would look forged.
            raise _Unreadable(
                "no Stripe-Signature, though a webhook_secret is configured: not trusted (keep the webhook's "
                "headers in a .headers sidecar; a signed copy decides)"
            )
        test: str | None = "test mode" if test_mode else None
        if test_mode and not self.options.get("accept_test_mode"):
            # test-mode money is not money (as PayPal's sandbox): a developer's test events dropped in
            # the inbox, or a test endpoint pointed at production, must not mark real requests paid
            authenticity = Authenticity.INVALID
            test = "test mode, not accepted"
        qualifiers = [q for q in (reading.qualifier, test) if q]
        raw_status = event_type + (f" ({', '.join(qualifiers)})" if qualifiers else "")
        return ResponseRecord(
            origin,
            reference=reference,
            dedupe_key=f"{payment}:{reading.status.value}",
            status=reading.status,
            raw_status=raw_status[:RAW_STATUS_LIMIT],
            authenticity=authenticity,
            amount_minor=amount,
            currency=currency,
            gateway_txn_id=payment,
            occurred_at=self._created(event),
            aliases=_charges_of(event_type, obj, payment),
            reference_guessed=guessed,
        )

    def _reference(self, obj: Mapping[str, Any]) -> tuple[str | None, bool]:
        """The merchant reference, and whether it is only guessed.

        Metadata first: it is what the PaymentIntent (and, when Stripe copies it, the Charge) carries,
        so the events of one payment agree on it. A Refund's or a Dispute's metadata is its own (the
        shop's refund module may file the refund under its own id with the same key): guessed. A
        Session's ``client_reference_id`` next, guessed too: Stripe suggests it for "a customer ID, a
        cart ID, or similar". A guessed reference names the request only while no event of the same
        PaymentIntent names another (ingest then takes that one).
        """
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            found = _text(metadata.get(self.reference_key))
            if found is not None:
                return found, obj.get("object") in ("refund", "dispute")
        found = _text(obj.get("client_reference_id"))
        return found, found is not None

    @staticmethod
    def _payment_id(event_type: str, obj: Mapping[str, Any]) -> str | None:
        """The PaymentIntent of the event; else the charge, session, refund or dispute itself.

        A Charge, a Session, a Refund and a Dispute name their PaymentIntent in ``payment_intent``; a
        charge made without one (the legacy Charges API) is its own payment, and so is a dispute or a
        refund of it, through their ``charge``.
        """
        if event_type.startswith("payment_intent."):
            return _id_of(obj.get("id"))
        found = _id_of(obj.get("payment_intent"))
        if found is None and obj.get("object") in ("refund", "dispute"):
            found = _id_of(obj.get("charge"))
        return found or _id_of(obj.get("id"))

    @staticmethod
    def _amount(obj: Mapping[str, Any], reading: _Reading, released: int) -> int:
        """The amount of the response, in minor units.

        Approved: what was collected, ``amount_received`` of a PaymentIntent or ``amount_captured`` of a
        Charge (the Session's ``amount_total`` is the total it collects): for a payment taken in full the
        three agree with ``amount``, so its three events fold into one response, and a partial capture
        shows as the amount it is. Objects of API versions without those fields fall back to ``amount``.
        Other statuses: the amount asked for. Refunds: the amount refunded (refunds skip the amount check),
        less what a partial capture released (``_released``): that part was never taken.
        """
        assert reading.amount_field is not None
        if reading.amount_field == "amount_refunded":
            return _minor(obj, "amount_refunded") - released
        if (
            reading.amount_field in ("amount_received", "amount_captured")
            and obj.get(reading.amount_field) is None
        ):
            return _minor(obj, "amount")
        return _minor(obj, reading.amount_field)

    @staticmethod
    def _created(event: Mapping[str, Any]) -> datetime | None:
        created = event.get("created")
        if isinstance(created, bool) or not isinstance(created, int):
            return None
        try:
            return datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            return None
