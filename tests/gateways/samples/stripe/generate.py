"""Writes the Stripe golden scenarios: ``.venv/bin/python tests/gateways/samples/stripe/generate.py``.

The events follow gateway-formats.md section 2 (the Event, PaymentIntent, Charge, Checkout Session,
Refund and Dispute fields of stripe-python @6c6e3736); every ``Stripe-Signature`` header is made by the
official ``stripe`` package with the secret of each scenario's ``paycli.yaml``. Run it, then regenerate
``expected.json`` (``PAYCLI_REGEN=1 .venv/bin/pytest tests/gateways/test_golden.py -k stripe``) and read
the difference. Event times are fixed, so the files come out byte for byte the same every time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import stripe

HERE = Path(__file__).parent
SECRET = "whsec_paycliTestSecret_NotReal_4f7d2a9c81e6b035"  # gateway-formats.md 2, example
YAML = (
    f"timezone: Europe/Rome\ngateways:\n  stripe:\n    webhook_secret: {SECRET}\n    reference_key: txn_id\n"
)
HEADER = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
T0 = 1795684500  # 2026-11-26T09:15:00Z, 10:15 in Rome: the requests below were made then


def request(txn: str, amount: str = "49.90", currency: str = "EUR", minute: int = 0) -> str:
    order = txn.rsplit("-", 1)[0]
    return f"{txn},{order},order,2026-11-26T10:{15 + minute:02d}:00+01:00,Rossi Mario S.r.l.,mario.rossi@example.com,{amount},{currency},stripe\n"


def ids(n: int) -> dict[str, str]:
    tail = f"{n:02d}PGqJ2Hc8vLmR4Tz"
    return {"pi": f"pi_3Q{tail}1aB2", "ch": f"ch_3Q{tail}1yX8", "cs": f"cs_live_a1{tail}9J0", "n": str(n)}


def pi(
    p: dict[str, str], txn: str | None, status: str = "succeeded", amount: int = 4990, **more: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": p["pi"],
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "capture_method": "automatic_async",
        "created": T0 + 60,
        "currency": "eur",
        "description": f"Ordine {txn}" if txn else None,
        "last_payment_error": None,
        "latest_charge": p["ch"],
        "livemode": True,
        "metadata": {"txn_id": txn} if txn else {},
        "payment_method_types": ["card"],
        "status": status,
    }
    obj.update(more)
    return obj


def ch(
    p: dict[str, str], txn: str | None, status: str = "succeeded", amount: int = 4990, **more: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": p["ch"],
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if status == "succeeded" else 0,
        "amount_refunded": 0,
        "balance_transaction": f"txn_3Q{p['n']}PGqJ2Hc8vLmR4Tz1bT0",
        "captured": status == "succeeded",
        "created": T0 + 62,
        "currency": "eur",
        "failure_code": None,
        "livemode": True,
        "metadata": {"txn_id": txn} if txn else {},
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "paid": status == "succeeded",
        "payment_intent": p["pi"],
        "refunded": False,
        "status": status,
    }
    obj.update(more)
    return obj


def cs(
    p: dict[str, str], txn: str | None, payment_status: str = "paid", amount: int = 4990, **more: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": p["cs"],
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "client_reference_id": txn,
        "created": T0 + 30,
        "currency": "eur",
        "livemode": True,
        "metadata": {},
        "mode": "payment",
        "payment_intent": p["pi"],
        "payment_status": payment_status,
        "status": "complete",
    }
    obj.update(more)
    return obj


def event(
    p: dict[str, str], suffix: str, event_type: str, obj: dict[str, Any], at: int, **more: Any
) -> bytes:
    ev: dict[str, Any] = {
        "id": f"evt_3Q{p['n']}PGqJ2Hc8vLmR4Tz{suffix}",
        "object": "event",
        "api_version": "2024-04-10",
        "created": at,
        "data": {"object": obj},
        "livemode": True,
        "pending_webhooks": 1,
        "request": {"id": f"req_Qb7nV2xL9pRt{p['n']}", "idempotency_key": None},
        "type": event_type,
    }
    ev.update(more)
    return json.dumps(ev, indent=2, ensure_ascii=False).encode() + b"\n"


def headers(body: bytes, t: int, secret: str = SECRET) -> str:
    sig = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=t)
    return (
        "Content-Type: application/json; charset=utf-8\n"
        "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\n"
        f"Stripe-Signature: {sig}\n"
    )


class Scenario:
    def __init__(self, name: str, requests: list[str], yaml: str = YAML) -> None:
        self.folder = HERE / name
        if self.folder.exists():
            for f in self.folder.iterdir():
                if f.name != "expected.json":
                    f.unlink()
        self.folder.mkdir(exist_ok=True)
        (self.folder / "requests.csv").write_text(HEADER + "".join(requests))
        (self.folder / "paycli.yaml").write_text(yaml)

    def add(self, name: str, body: bytes, header: str | None = None, t: int | None = None) -> None:
        (self.folder / name).write_bytes(body)
        if header is None and t is not None:
            header = headers(body, t)
        if header is not None:
            (self.folder / f"{name}.headers").write_text(header)


def main() -> None:
    # approved: a Checkout payment sends three events of one payment, in any order: one response,
    # delivered three times; payment_intent.created is informational
    p = ids(1)
    s = Scenario("approved", [request("S1001-1")])
    s.add(
        "01-payment-intent-created.json",
        event(p, "0c", "payment_intent.created", pi(p, "S1001-1", "requires_payment_method"), T0 + 60),
        t=T0 + 61,
    )
    s.add(
        "02-charge-succeeded.json", event(p, "1c", "charge.succeeded", ch(p, "S1001-1"), T0 + 63), t=T0 + 64
    )
    s.add(
        "03-payment-intent-succeeded.json",
        event(p, "2p", "payment_intent.succeeded", pi(p, "S1001-1"), T0 + 63),
        t=T0 + 64,
    )
    s.add(
        "04-checkout-session-completed.json",
        event(p, "3s", "checkout.session.completed", cs(p, "S1001-1"), T0 + 64),
        t=T0 + 65,
    )

    # refused: a declined card (PaymentIntent and Charge events: one response), a Checkout Session
    # left to expire, a PaymentIntent cancelled by the shop
    p1, p2, p3 = ids(2), ids(3), ids(4)
    s = Scenario(
        "refused", [request("S2001-1"), request("S2002-1", minute=1), request("S2003-1", "120.00", minute=2)]
    )
    error = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "type": "card_error",
        "charge": p1["ch"],
    }
    s.add(
        "01-charge-failed.json",
        event(
            p1,
            "1f",
            "charge.failed",
            ch(
                p1,
                "S2001-1",
                "failed",
                failure_code="card_declined",
                outcome={"network_status": "declined_by_network", "type": "issuer_declined"},
            ),
            T0 + 70,
        ),
        t=T0 + 71,
    )
    s.add(
        "02-payment-failed.json",
        event(
            p1,
            "2f",
            "payment_intent.payment_failed",
            pi(p1, "S2001-1", "requires_payment_method", last_payment_error=error),
            T0 + 70,
        ),
        t=T0 + 71,
    )
    s.add(
        "03-session-expired.json",
        event(
            p2,
            "3e",
            "checkout.session.expired",
            cs(p2, "S2002-1", "unpaid", status="expired", payment_intent=None),
            T0 + 86460,
        ),
        t=T0 + 86461,
    )
    s.add(
        "04-canceled.json",
        event(
            p3,
            "4c",
            "payment_intent.canceled",
            pi(p3, "S2003-1", "canceled", 12000, cancellation_reason="abandoned"),
            T0 + 3600,
        ),
        t=T0 + 3601,
    )

    # pending then final: a delayed method (SEPA debit) in Checkout: completed unpaid, then
    # async_payment_succeeded; a PaymentIntent processing then succeeded; one still processing
    p1, p2, p3 = ids(5), ids(6), ids(7)
    s = Scenario(
        "pending-then-final", [request("S3001-1"), request("S3002-1", minute=1), request("S3003-1", minute=2)]
    )
    s.add(
        "01-session-completed-unpaid.json",
        event(p1, "1u", "checkout.session.completed", cs(p1, "S3001-1", "unpaid"), T0 + 64),
        t=T0 + 65,
    )
    s.add(
        "02-session-async-succeeded.json",
        event(p1, "2a", "checkout.session.async_payment_succeeded", cs(p1, "S3001-1", "paid"), T0 + 259200),
        t=T0 + 259201,
    )
    s.add(
        "03-processing.json",
        event(p2, "3p", "payment_intent.processing", pi(p2, "S3002-1", "processing"), T0 + 120),
        t=T0 + 121,
    )
    s.add(
        "04-succeeded.json",
        event(p2, "4s", "payment_intent.succeeded", pi(p2, "S3002-1"), T0 + 172800),
        t=T0 + 172801,
    )
    s.add(
        "05-still-processing.json",
        event(p3, "5p", "payment_intent.processing", pi(p3, "S3003-1", "processing"), T0 + 180),
        t=T0 + 181,
    )

    # redelivered: the same delivery saved twice (identical bytes and headers: stored once), a retry
    # Stripe signed anew an hour later (same body, new header: one response, delivered twice)
    p = ids(8)
    s = Scenario("redelivered", [request("S4001-1")])
    body = event(p, "1s", "payment_intent.succeeded", pi(p, "S4001-1"), T0 + 63)
    s.add("01-succeeded.json", body, t=T0 + 64)
    s.add("02-succeeded-same-delivery-saved-again.json", body, t=T0 + 64)
    s.add("03-succeeded-retried-an-hour-later.json", body, t=T0 + 3664)
    # the Charge's event of the same payment: other bytes, the same meaning (design.md 3.1)
    s.add(
        "04-charge-succeeded.json", event(p, "2c", "charge.succeeded", ch(p, "S4001-1"), T0 + 63), t=T0 + 64
    )

    # forged: a copy of an approval with the amount lowered; an approval kept without its signature (in a
    # file, unverifiable: a lost sidecar looks the same); a forged approval beside the genuine one (never
    # folded into it)
    p1, p2, p3 = ids(9), ids(10), ids(11)
    s = Scenario("forged", [request("S5001-1"), request("S5002-1", minute=1), request("S5003-1", minute=2)])
    genuine = event(p1, "1s", "payment_intent.succeeded", pi(p1, "S5001-1", amount=4990), T0 + 63)
    tampered = genuine.replace(b'"amount": 4990', b'"amount": 4900').replace(
        b'"amount_received": 4990', b'"amount_received": 4900'
    )
    assert tampered != genuine
    s.add("01-tampered-amount.json", tampered, headers(genuine, T0 + 64))
    s.add(
        "02-no-signature.json",
        event(p2, "2s", "payment_intent.succeeded", pi(p2, "S5002-1"), T0 + 63),
        "Content-Type: application/json; charset=utf-8\n",
    )
    real = event(p3, "3s", "payment_intent.succeeded", pi(p3, "S5003-1"), T0 + 63)
    s.add("03-genuine.json", real, t=T0 + 64)
    s.add("04-forged-with-another-secret.json", real, headers(real, T0 + 64, "whsec_attacker_guess"))

    # refund after approval: a full refund (charge.refunded); a partial refund; a full refund told by the
    # refund.* events an endpoint may be subscribed to instead, whose Refund carries no reference (it is
    # taken from the PaymentIntent's response) and goes from pending to succeeded: one response
    p1, p2, p3 = ids(12), ids(13), ids(24)
    s = Scenario(
        "refund-after-approval",
        [request("S6001-1"), request("S6002-1", "80.00", minute=1), request("S6003-1", minute=2)],
    )
    s.add(
        "05-succeeded.json",
        event(p3, "5s", "payment_intent.succeeded", pi(p3, "S6003-1"), T0 + 183),
        t=T0 + 184,
    )
    for name, suffix, kind, status, at in (
        ("06-refund-created.json", "6r", "refund.created", "pending", T0 + 86500),
        ("07-refund-updated.json", "7r", "refund.updated", "succeeded", T0 + 86560),
    ):
        refund = {
            "id": f"re_3Q{p3['n']}PGqJ2Hc8vLmR4Tz1rF1",
            "object": "refund",
            "amount": 4990,
            "charge": p3["ch"],
            "created": T0 + 86500,
            "currency": "eur",
            "metadata": {},
            "payment_intent": p3["pi"],
            "reason": "requested_by_customer",
            "status": status,
        }
        s.add(name, event(p3, suffix, kind, refund, at), t=at + 1)
    s.add(
        "01-succeeded.json",
        event(p1, "1s", "payment_intent.succeeded", pi(p1, "S6001-1"), T0 + 63),
        t=T0 + 64,
    )
    s.add(
        "02-refunded.json",
        event(
            p1, "2r", "charge.refunded", ch(p1, "S6001-1", amount_refunded=4990, refunded=True), T0 + 86400
        ),
        t=T0 + 86401,
    )
    s.add(
        "03-partial-approved.json",
        event(p2, "3s", "charge.succeeded", ch(p2, "S6002-1", amount=8000), T0 + 120),
        t=T0 + 121,
    )
    s.add(
        "04-partial-refunded.json",
        event(p2, "4r", "charge.refunded", ch(p2, "S6002-1", amount=8000, amount_refunded=2000), T0 + 90000),
        t=T0 + 90001,
    )
    # a second partial refund of it failed (the card expired): informational, and its Refund names only
    # the PaymentIntent and the charge; it joins the trail of the request its payment answers
    failed = {
        "id": f"re_3Q{p2['n']}PGqJ2Hc8vLmR4Tz1rF2",
        "object": "refund",
        "amount": 3000,
        "charge": p2["ch"],
        "created": T0 + 90100,
        "currency": "eur",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {},
        "payment_intent": p2["pi"],
        "reason": "requested_by_customer",
        "status": "failed",
    }
    s.add("08-refund-failed.json", event(p2, "8f", "refund.failed", failed, T0 + 90200), t=T0 + 90201)

    # amount mismatch: 49.00 paid for 49.90 asked; dollars for euros
    p1, p2 = ids(14), ids(15)
    s = Scenario("amount-mismatch", [request("S7001-1"), request("S7002-1", minute=1)])
    s.add(
        "01-less.json",
        event(p1, "1s", "payment_intent.succeeded", pi(p1, "S7001-1", amount=4900), T0 + 63),
        t=T0 + 64,
    )
    s.add(
        "02-usd.json",
        event(p2, "2s", "payment_intent.succeeded", pi(p2, "S7002-1", currency="usd"), T0 + 63),
        t=T0 + 64,
    )

    # orphans: an approval whose request is not exported yet; a charge without the PaymentIntent's
    # metadata and a dispute, which carry no reference (gateway-formats.md 2: UNCONFIRMED) and never link
    p1, p2 = ids(16), ids(17)
    s = Scenario("orphan", [request("S8001-1")])
    s.add(
        "01-unknown-request.json",
        event(p1, "1s", "payment_intent.succeeded", pi(p1, "S8099-1"), T0 + 63),
        t=T0 + 64,
    )
    s.add(
        "02-payment-intent-succeeded.json",
        event(p2, "2s", "payment_intent.succeeded", pi(p2, "S8001-1"), T0 + 63),
        t=T0 + 64,
    )
    s.add(
        "03-charge-without-metadata.json",
        event(p2, "3c", "charge.succeeded", ch(p2, None), T0 + 63),
        t=T0 + 64,
    )
    dispute = {
        "id": "du_3Q17PGqJ2Hc8vLmR4Tz1dS9",
        "object": "dispute",
        "amount": 4990,
        "charge": p2["ch"],
        "currency": "eur",
        "metadata": {},
        "payment_intent": p2["pi"],
        "reason": "fraudulent",
        "status": "needs_response",
    }
    s.add(
        "04-dispute-created.json",
        event(p2, "4d", "charge.dispute.created", dispute, T0 + 1209600),
        t=T0 + 1209601,
    )

    # encodings: Stripe posts UTF-8 JSON only; non-ASCII as raw UTF-8 or as \\u escapes reads the same;
    # a body re-encoded as Latin-1 on the way (its signature no longer matches) is quarantined
    p1, p2, p3 = ids(18), ids(19), ids(20)
    s = Scenario(
        "encodings", [request("S9001-1"), request("S9002-1", minute=1), request("S9003-1", minute=2)]
    )
    raw = event(
        p1, "1s", "payment_intent.succeeded", pi(p1, "S9001-1", description="Caffè Niccolò – 1 kg €"), T0 + 63
    )
    s.add("01-utf8.json", raw, t=T0 + 64)
    obj = json.loads(
        event(
            p2,
            "2s",
            "payment_intent.succeeded",
            pi(p2, "S9002-1", description="Caffè Niccolò – 1 kg €"),
            T0 + 63,
        )
    )
    escaped = json.dumps(obj, indent=2).encode() + b"\n"
    s.add("02-escaped.json", escaped, t=T0 + 64)
    latin = event(
        p3, "3s", "payment_intent.succeeded", pi(p3, "S9003-1", description="Caffè Niccolò"), T0 + 63
    )
    s.add("03-latin1.json", latin.decode().encode("latin-1"), headers(latin, T0 + 64))

    # shapes and bad inputs: a raw HTTP dump; informational events (test mode, an unknown type); a
    # truncated body, an event that is not one, a float amount
    p1, p2 = ids(21), ids(22)
    s = Scenario("shapes-and-bad-inputs", [request("SA001-1"), request("SA002-1", minute=1)])
    body = event(p1, "1s", "charge.succeeded", ch(p1, "SA001-1"), T0 + 63)
    sig = headers(body, T0 + 64).splitlines()[-1]
    dump = (
        "POST /callbacks/stripe HTTP/1.1\r\nHost: shop.example\r\n"
        "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n{sig}\r\n\r\n"
    ).encode() + body
    s.add("01-http-dump.http", dump)
    s.add(
        "02-customer-created-test-mode.json",
        event(
            p2,
            "2x",
            "customer.created",
            {"id": "cus_Q1", "object": "customer", "livemode": False, "metadata": {}},
            T0,
            livemode=False,
        ),
        t=T0 + 1,
    )
    full = event(p2, "3s", "payment_intent.succeeded", pi(p2, "SA002-1"), T0 + 63)
    s.add("03-truncated.json", full[:300], headers(full, T0 + 64))
    s.add("04-not-an-event.json", json.dumps(pi(p2, "SA002-1"), indent=2).encode(), headers(full, T0 + 64))
    floaty = event(p2, "5s", "payment_intent.succeeded", pi(p2, "SA002-1"), T0 + 63).replace(
        b'"amount_received": 4990', b'"amount_received": 49.9'
    )
    s.add("05-float-amount.json", floaty, t=T0 + 64)

    # unverifiable: no webhook secret configured, so nothing can be verified but everything is read
    p = ids(23)
    s = Scenario("unverifiable", [request("SB001-1")], "timezone: Europe/Rome\n")
    s.add(
        "01-succeeded.json", event(p, "1s", "payment_intent.succeeded", pi(p, "SB001-1"), T0 + 63), t=T0 + 64
    )


if __name__ == "__main__":
    shutil.rmtree(HERE / "__pycache__", ignore_errors=True)
    main()
