"""paycli serve over real HTTP on loopback: each route, each gateway's acknowledgement, the refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paycli.ingest import Ingest
from paycli.migrations import HEAD
from paycli.store import Store
from tests.conftest import ON_POSTGRES, make_config
from tests.serve.conftest import FakePayPal, count

SAMPLES = Path(__file__).resolve().parents[1] / "gateways" / "samples"
STRIPE_SECRET = "whsec_paycliTestSecret_NotReal_4f7d2a9c81e6b035"
STRIPE_CONFIG = f"timezone: Europe/Rome\ngateways:\n  stripe:\n    webhook_secret: {STRIPE_SECRET}\n"
NEXI_CONFIG = (SAMPLES / "nexi/approved/paycli.yaml").read_text()
TOKEN = "tok-3f9a1c77e2b04d5a"
REQUEST = {
    "txn_id": "ORD-9001-1",
    "order_id": "ORD-9001",
    "created_at": "2026-11-26T10:15:00+01:00",
    "customer": "Rossi Mario",
    "email": "mario.rossi@example.com",
    "amount": "129.90",
    "currency": "EUR",
    "gateway": "nexi",
}


def sample(path: str) -> tuple[bytes, dict[str, str]]:
    """A sample's body and the headers of its sidecar."""
    file = SAMPLES / path
    headers: dict[str, str] = {}
    sidecar = file.with_name(file.name + ".headers")
    if sidecar.exists():
        for line in sidecar.read_text().splitlines():
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return file.read_bytes(), headers


def stripe_signed(body: bytes, at: int | None = None, secret: str = STRIPE_SECRET) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": f"t={t},v1={v1}"}


def stripe_event(
    txn: str = "S1001-1", pi: str = "pi_3QTest0001", kind: str = "payment_intent.succeeded"
) -> bytes:
    event = {
        "id": f"evt_{pi}",
        "object": "event",
        "type": kind,
        "created": 1795684563,
        "livemode": True,
        "data": {
            "object": {
                "id": pi,
                "object": "payment_intent",
                "amount": 4990,
                "amount_received": 4990,
                "currency": "eur",
                "status": "succeeded",
                "metadata": {"txn_id": txn},
            }
        },
    }
    return json.dumps(event, indent=2).encode()


def rows(store: Store, sql: str) -> list[dict]:
    return [dict(r) for r in store.query(sql)]


# -- /healthz and routing --------------------------------------------------------------------------
def test_healthz_answers_200_when_the_store_takes_a_write(receiver):
    reply = receiver().get("/healthz")
    assert reply.status == 200
    assert json.loads(reply.body) == {"status": "ok", "schema": HEAD}


def test_head_healthz_has_no_body_so_the_next_answer_on_its_connection_is_read_whole(receiver):
    # RFC 9110 9.3.2: a monitor that asks HEAD on a kept-alive connection reads the body of the HEAD
    # answer as the start of the next answer
    r = receiver()
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as conn:
        conn.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while received.count(b"HTTP/1.1 200 OK") < 2 or not received.endswith(b"}\n"):
            chunk = conn.recv(65536)
            assert chunk, received
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 200 OK"), received
    get, _, body = rest.partition(b"\r\n\r\n")
    assert json.loads(body)["status"] == "ok"
    length = f"Content-Length: {len(body)}\r\n".encode()
    assert length in head + b"\r\n" and length in get + b"\r\n"  # the length a GET gets


def test_unknown_routes_and_gateways_that_are_not_configured_are_404(receiver, store):
    r = receiver(NEXI_CONFIG)
    body, headers = sample("stripe/approved/03-payment-intent-succeeded.json")
    assert r.post("/callbacks/stripe", body, headers).status == 404  # stripe is installed, not configured
    assert r.post("/callbacks/../requests", b"x").status == 404
    assert r.get("/").status == 404
    assert r.get("/callbacks/").status == 404
    assert count(store, "SELECT COUNT(*) AS n FROM delivery") == 0
    assert count(store, "SELECT COUNT(*) AS n FROM message") == 0


def test_a_file_only_gateway_takes_no_callback(receiver):
    text = (SAMPLES / "csv/approved/paycli.yaml").read_text()
    assert receiver(text).post("/callbacks/mybank", b"a,b\n1,2\n").status == 404


def test_a_wrong_method_is_405(receiver):
    r = receiver(NEXI_CONFIG)
    assert r.app is not None
    client = r.client()
    try:
        put = client.request("PUT", "/callbacks/nexi", b"x")
        assert (put.status, put.headers["allow"]) == (405, "POST, GET")  # RFC 9110: a 405 says what is
        assert client.request("DELETE", "/healthz").headers["allow"] == "GET, HEAD"
        assert client.get("/requests").headers["allow"] == "POST"
    finally:
        client.close()


def test_a_body_past_the_limit_is_413_and_nothing_is_stored(receiver, store):
    # the server's own limit set far above, so that the application's check is what answers
    r = receiver(NEXI_CONFIG + "serve:\n  max_body_bytes: 2048\n", max_body=10**7)
    reply = r.post(
        "/callbacks/nexi", b"a=" + b"x" * 3000, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 413
    assert count(store, "SELECT COUNT(*) AS n FROM delivery") == 0
    # just under the limit: taken (and quarantined: it is no Nexi notification)
    assert r.post("/callbacks/nexi", b"a=" + b"x" * 2000).status == 200


def test_a_query_string_past_what_a_callback_is_is_414_and_its_delivery_keeps_its_start(receiver, store):
    # waitress takes a request line of up to 256 KiB: stored whole, anybody could grow the store by
    # that much a GET; a query string is kept to the 64 KiB a refused body is
    r = receiver(NEXI_CONFIG)
    query = "alias=ALIAS_WEB_00012345&importo=12990&" + "x=" + "y" * 100_000
    reply = r.get(f"/callbacks/nexi?{query}")
    assert reply.status == 414 and b"at most 64 KiB" in reply.body
    delivery = rows(store, "SELECT query, result, status FROM delivery")
    assert len(delivery) == 1 and delivery[0]["result"] == "refused" and delivery[0]["status"] == 414
    assert delivery[0]["query"] == query[: 64 * 1024]
    assert count(store, "SELECT COUNT(*) AS n FROM message") == 0
    # a POST's query string alike: what it posts is not read
    assert r.post(f"/callbacks/nexi?{query}", b"a=b").status == 414
    assert count(store, "SELECT COUNT(*) AS n FROM message") == 0


def test_a_route_with_a_trailing_slash_is_the_route(receiver):
    # a monitor configured with /healthz/, nginx's location /paycli/ and a URL ending in /
    r = receiver(NEXI_CONFIG)
    assert r.get("/healthz/").status == 200
    assert json.loads(r.get("/healthz/").body)["status"] == "ok"
    assert r.get("/requests/").headers["allow"] == "POST"
    assert r.get("//").status == 404


def test_the_server_itself_refuses_a_body_past_the_limit(receiver):
    r = receiver(NEXI_CONFIG + "serve:\n  max_body_bytes: 2048\n")
    assert r.post("/callbacks/nexi", b"x" * 5000).status == 413


# -- acknowledgements ------------------------------------------------------------------------------
ACKS = [
    ("paypal", "paypal/approved/01-completed.txt", "text/plain", b""),
    ("skrill", "skrill/approved/01-approved.txt", "text/plain", b"OK\n"),
    ("nexi", "nexi/approved/01-approved.txt", "text/plain", b"OK\n"),
    ("axerve", "axerve/approved/02-approved.xml", "text/html", b"<html></html>\n"),
]


@pytest.mark.parametrize(("gateway", "path", "content_type", "ack"), ACKS, ids=[a[0] for a in ACKS])
def test_each_gateway_gets_the_acknowledgement_it_expects_duplicates_included(
    receiver, store, gateway, path, content_type, ack
):
    config = (SAMPLES / path).parent.joinpath("paycli.yaml").read_text()
    r = receiver(config + f"serve:\n  paypal_postback: false\n  token: {TOKEN}\n")
    body, headers = sample(path)
    headers.pop("X-Paycli-Postback", None)
    if gateway == "axerve":  # a decrypted result: the shop's integration posts it, with its token
        headers["Authorization"] = f"Bearer {TOKEN}"
    for _ in range(2):
        reply = r.post(f"/callbacks/{gateway}", body, headers)
        assert (reply.status, reply.body) == (200, ack)
        assert reply.headers["content-type"].startswith(content_type)
    deliveries = rows(store, "SELECT result, duplicate, status, message_digest FROM delivery ORDER BY id")
    assert [(d["result"], bool(d["duplicate"]), d["status"]) for d in deliveries] == [
        ("response", False, 200),
        ("response", True, 200),
    ]
    assert deliveries[0]["message_digest"] == deliveries[1]["message_digest"] is not None
    assert count(store, "SELECT COUNT(*) AS n FROM message") == 1
    assert count(store, "SELECT COUNT(*) AS n FROM response") == 1


def test_stripe_gets_its_json_acknowledgement_and_a_fresh_signature_is_valid(receiver, store):
    r = receiver(STRIPE_CONFIG)
    body = stripe_event()
    reply = r.post("/callbacks/stripe", body, stripe_signed(body))
    assert (reply.status, json.loads(reply.body)) == (200, {"received": True})
    assert reply.headers["content-type"] == "application/json"
    assert rows(store, "SELECT authenticity, deliveries FROM response") == [
        {"authenticity": "valid", "deliveries": 1}
    ]
    # Stripe's retry is signed anew: another message, the same response delivered twice
    time.sleep(1.1)
    assert r.post("/callbacks/stripe", body, stripe_signed(body)).status == 200
    assert rows(store, "SELECT authenticity, deliveries FROM response") == [
        {"authenticity": "valid", "deliveries": 2}
    ]


def test_a_get_callback_is_stored_with_its_query_string_and_read(receiver, store):
    r = receiver(NEXI_CONFIG)
    query = (SAMPLES / "nexi/approved/01-approved.txt").read_text().strip()
    reply = r.get(f"/callbacks/nexi?{query}", {"User-Agent": "Mozilla/5.0"})
    assert (reply.status, reply.body) == (200, b"OK\n")
    message = rows(store, "SELECT raw, headers, state, reference FROM message")[0]
    assert bytes(message["raw"]) == f"GET /callbacks/nexi?{query} HTTP/1.1\r\n\r\n".encode()
    assert message["headers"] == "User-Agent: Mozilla/5.0\n"
    assert (message["state"], message["reference"]) == ("response", "ORDNX4001-1")
    delivery = rows(store, "SELECT method, path, query FROM delivery")[0]
    assert delivery == {"method": "GET", "path": "/callbacks/nexi", "query": query}


# -- authenticity ----------------------------------------------------------------------------------
def test_a_tampered_notification_is_stored_flagged_and_answered_with_an_error(receiver, store):
    r = receiver((SAMPLES / "nexi/tampered/paycli.yaml").read_text())
    body, headers = sample("nexi/tampered/01-tampered-amount.txt")
    reply = r.post("/callbacks/nexi", body, headers)
    assert reply.status == 400
    assert rows(store, "SELECT state FROM message") == [{"state": "response"}]
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "invalid"}]
    assert rows(store, "SELECT result, status FROM delivery") == [{"result": "invalid", "status": 400}]
    # the same forged bytes again: still refused, one message, two deliveries
    assert r.post("/callbacks/nexi", body, headers).status == 400
    assert count(store, "SELECT COUNT(*) AS n FROM delivery WHERE status = 400") == 2


def test_a_stripe_event_with_a_bad_signature_is_stored_flagged_and_refused(receiver, store):
    r = receiver(STRIPE_CONFIG)
    body = stripe_event()
    reply = r.post("/callbacks/stripe", body, stripe_signed(body, secret="whsec_someone_else"))
    assert reply.status == 400 and "authenticity" in json.loads(reply.body)["error"]
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "invalid"}]


def test_while_a_stripe_secret_is_rolled_an_event_signed_with_the_earlier_one_is_taken(receiver, store):
    # an event in flight when the configuration changed: signed before the roll, with the earlier secret
    r = receiver(STRIPE_CONFIG.replace(STRIPE_SECRET, f"[whsec_rolled_5e1c9a, {STRIPE_SECRET}]"))
    earlier, forged = stripe_event(), stripe_event(txn="S1002-1", pi="pi_3QTest0002")
    assert r.post("/callbacks/stripe", earlier, stripe_signed(earlier)).status == 200
    assert (
        r.post("/callbacks/stripe", forged, stripe_signed(forged, secret="whsec_someone_else")).status == 400
    )
    new = stripe_event(txn="S1003-1", pi="pi_3QTest0003")
    assert r.post("/callbacks/stripe", new, stripe_signed(new, secret="whsec_rolled_5e1c9a")).status == 200
    assert rows(store, "SELECT reference, authenticity FROM response ORDER BY reference") == [
        {"reference": "S1001-1", "authenticity": "valid"},
        {"reference": "S1002-1", "authenticity": "invalid"},
        {"reference": "S1003-1", "authenticity": "valid"},
    ]


def test_a_stripe_event_posted_without_a_signature_is_stored_flagged_and_refused(receiver, store):
    # anybody can post to the endpoint: unsigned is forged here, unlike a file kept without its sidecar
    r = receiver(STRIPE_CONFIG)
    body = stripe_event()
    reply = r.post("/callbacks/stripe", body, {"Content-Type": "application/json"})
    assert reply.status == 400 and "authenticity" in json.loads(reply.body)["error"]
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "invalid"}]


def test_an_unsigned_post_read_again_by_reprocess_stays_forged(receiver, store, cli):
    # reprocess reads a stored message as a file; one that came over HTTP unsigned is still a forgery
    r = receiver(STRIPE_CONFIG)
    body = stripe_event()
    assert r.post("/callbacks/stripe", body, {"Content-Type": "application/json"}).status == 400
    (Path.cwd() / "paycli.yaml").write_text(STRIPE_CONFIG)
    assert cli("reprocess", "--all").stderr.startswith("read 1 message again: 1 as before")
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "invalid"}]


def test_a_forged_informational_stripe_event_is_kept_and_refused_as_a_forged_response_is(receiver, store):
    r = receiver(STRIPE_CONFIG)
    body = stripe_event(kind="payment_intent.created")
    reply = r.post("/callbacks/stripe", body, stripe_signed(body, secret="whsec_someone_else"))
    assert reply.status == 400 and "authenticity" in json.loads(reply.body)["error"]
    (message,) = rows(store, "SELECT state, note FROM message")
    assert message["state"] == "informational" and "signature check failed" in message["note"]
    assert rows(store, "SELECT result, status FROM delivery") == [{"result": "invalid", "status": 400}]
    # the genuine one is taken
    assert r.post("/callbacks/stripe", body, stripe_signed(body)).status == 200
    assert rows(store, "SELECT result, status FROM delivery ORDER BY id")[1] == {
        "result": "informational",
        "status": 200,
    }


def test_a_stripe_event_signed_outside_the_tolerance_is_a_replay_refused(receiver, store, cli):
    r = receiver(STRIPE_CONFIG)
    body = stripe_event()
    old = int(time.time()) - 301  # tolerance_seconds defaults to 300
    reply = r.post("/callbacks/stripe", body, stripe_signed(body, at=old))
    assert reply.status == 400 and "replay" in json.loads(reply.body)["error"]
    assert count(store, "SELECT COUNT(*) AS n FROM response") == 0
    assert rows(store, "SELECT state FROM message") == [{"state": "quarantined"}]
    assert rows(store, "SELECT result, status FROM delivery") == [{"result": "replay", "status": 400}]
    # kept, not lost: an operator who decides it is genuine reads it again, without the time limit
    (Path.cwd() / "paycli.yaml").write_text(STRIPE_CONFIG)
    assert cli("reprocess").code == 0
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "valid"}]


def test_a_stripe_signature_within_the_tolerance_is_taken(receiver, store):
    r = receiver(STRIPE_CONFIG)
    body = stripe_event()
    assert r.post("/callbacks/stripe", body, stripe_signed(body, at=int(time.time()) - 250)).status == 200
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "valid"}]


# -- PayPal's IPN postback -------------------------------------------------------------------------
@pytest.fixture
def paypal() -> Iterator[FakePayPal]:
    genuine, _ = sample("paypal/forged/04-genuine.txt")
    fake = FakePayPal({genuine: "VERIFIED", sample("paypal/approved/01-completed.txt")[0]: "VERIFIED"})
    yield fake
    fake.close()


def paypal_config(url: str, extra: str = "") -> str:
    return (
        SAMPLES / "paypal/forged/paycli.yaml"
    ).read_text() + f"serve:\n  paypal_postback_url: {url}\n{extra}"


def test_the_ipn_postback_is_made_at_receive_time_and_its_answer_recorded(receiver, store, paypal):
    r = receiver(paypal_config(paypal.url))
    body, _ = sample("paypal/forged/04-genuine.txt")
    reply = r.post(
        "/callbacks/paypal", body, {"Content-Type": "application/x-www-form-urlencoded; charset=windows-1252"}
    )
    assert (reply.status, reply.body) == (200, b"")
    assert paypal.received == [b"cmd=_notify-validate&" + body]  # the message unaltered, in its order
    assert rows(store, "SELECT headers FROM message") == [
        {
            "headers": "Content-Type: application/x-www-form-urlencoded; charset=windows-1252\nX-Paycli-Postback: VERIFIED\n"
        }
    ]
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "valid"}]
    assert rows(store, "SELECT postback FROM delivery") == [{"postback": "VERIFIED"}]


def test_an_ipn_paypal_does_not_verify_is_stored_flagged_and_refused(receiver, store, paypal):
    r = receiver(paypal_config(paypal.url))
    body, _ = sample("paypal/forged/05-forged-copy.txt")
    assert (
        r.post("/callbacks/paypal", body, {"Content-Type": "application/x-www-form-urlencoded"}).status == 400
    )
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "invalid"}]
    assert rows(store, "SELECT postback, result FROM delivery") == [
        {"postback": "INVALID", "result": "invalid"}
    ]


def test_a_forged_postback_header_from_the_client_is_never_believed(receiver, store, paypal):
    r = receiver(paypal_config(paypal.url, "  paypal_postback: false\n"))
    body, _ = sample("paypal/forged/05-forged-copy.txt")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Paycli-Postback": "VERIFIED"}
    assert r.post("/callbacks/paypal", body, headers).status == 200
    assert rows(store, "SELECT headers FROM message") == [
        {"headers": "Content-Type: application/x-www-form-urlencoded\n"}
    ]
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "unverifiable"}]
    assert paypal.received == []


def test_a_postback_answer_smuggled_inside_another_header_is_never_believed(receiver, store, paypal):
    # \x85 is a line break to str.splitlines: the stored "User-Agent: x\x85X-Paycli-Postback: VERIFIED"
    # once read as two header lines, so a forged IPN was valid with the postback off
    r = receiver(paypal_config(paypal.url, "  paypal_postback: false\n"))
    body, _ = sample("paypal/forged/05-forged-copy.txt")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "x\x85X-Paycli-Postback: VERIFIED",
    }
    assert r.post("/callbacks/paypal", body, headers).status == 200
    assert rows(store, "SELECT authenticity FROM response") == [{"authenticity": "unverifiable"}]


def test_a_get_cannot_go_round_the_postback(receiver, store, paypal):
    # PayPal only POSTs an IPN; a GET carrying one skipped the postback and was taken, unverifiable
    config = paypal_config(paypal.url).replace(
        "gateways:\n", f"gateways:\n  stripe:\n    webhook_secret: {STRIPE_SECRET}\n"
    )
    r = receiver(config)
    body, _ = sample("paypal/forged/05-forged-copy.txt")
    reply = r.get("/callbacks/paypal?" + body.decode("latin-1").strip())
    assert (reply.status, reply.text, reply.headers["allow"]) == (405, "use POST\n", "POST")
    assert r.get("/callbacks/stripe?id=evt_1").status == 405  # Stripe and Skrill POST too
    assert rows(store, "SELECT COUNT(*) AS n FROM message") == [{"n": 0}] and paypal.received == []


def test_a_postback_that_fails_is_503_and_only_the_delivery_says_why(receiver, store):
    # taken unverifiable, a forged IPN decided its request whenever PayPal could not be reached
    fake = FakePayPal({}, status=502)
    try:
        r = receiver(paypal_config(fake.url))
        body, _ = sample("paypal/forged/04-genuine.txt")
        assert r.post("/callbacks/paypal", body).status == 503
    finally:
        fake.close()
    assert rows(store, "SELECT COUNT(*) AS n FROM response") == [{"n": 0}]
    assert rows(store, "SELECT postback, status FROM delivery") == [
        {"postback": "error: HTTP 502", "status": 503}
    ]


def test_show_lists_each_http_delivery_of_the_requests_messages(receiver, store, cli):
    r = receiver(requests_config())
    request = {**REQUEST, "txn_id": "ORDNX4001-1", "order_id": "ORDNX4001"}
    assert r.post("/requests", json.dumps(request).encode(), bearer()).status == 201
    body, headers = sample("nexi/approved/01-approved.txt")
    for _ in range(2):  # Nexi retries: one message, two deliveries
        assert r.post("/callbacks/nexi", body, headers).status == 200
    (Path.cwd() / "paycli.yaml").write_text(requests_config())
    shown = json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)
    assert [
        (d["method"], d["path"], d["status"], d["result"], d["duplicate"]) for d in shown["deliveries"]
    ] == [
        ("POST", "/callbacks/nexi", 200, "response", False),
        ("POST", "/callbacks/nexi", 200, "response", True),
    ]
    assert {d["remote_addr"] for d in shown["deliveries"]} == {"127.0.0.1"}
    text = cli("show", "ORDNX4001-1").stdout
    assert "Received over HTTP (paycli serve): 2" in text
    assert "response (again)" in text


# -- POST /requests --------------------------------------------------------------------------------
def requests_config(token_line: str = f"  token: {TOKEN}\n") -> str:
    return NEXI_CONFIG + "serve:\n" + token_line


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_the_shop_registers_a_request_created_unchanged_or_conflicting(receiver, store):
    r = receiver(requests_config())
    body = json.dumps(REQUEST).encode()
    reply = r.post("/requests", body, bearer())
    assert (reply.status, json.loads(reply.body)) == (201, {"txn_id": "ORD-9001-1", "result": "created"})
    reply = r.post("/requests", json.dumps(REQUEST, indent=2).encode(), bearer())
    assert (reply.status, json.loads(reply.body)["result"]) == (200, "unchanged")
    reply = r.post("/requests", json.dumps({**REQUEST, "amount": "12.90"}).encode(), bearer())
    assert reply.status == 409
    assert json.loads(reply.body)[
        "error"
    ] == "txn_id ORD-9001-1 is already stored with another amount (129.90 EUR stored)" or (
        "already stored with another amount" in json.loads(reply.body)["error"]
    )
    stored = rows(store, "SELECT txn_id, amount_minor, currency, outcome, reason FROM payment_request")
    assert stored == [
        {
            "txn_id": "ORD-9001-1",
            "amount_minor": 12990,
            "currency": "EUR",
            "outcome": "VERIFICARE",
            "reason": "NO_RESPONSE",
        }
    ]


def test_a_registered_request_links_the_callback_that_came_first(receiver, store):
    r = receiver(requests_config())
    body, headers = sample("nexi/approved/01-approved.txt")
    assert r.post("/callbacks/nexi", body, headers).status == 200
    request = {**REQUEST, "txn_id": "ORDNX4001-1", "order_id": "ORDNX4001"}
    assert r.post("/requests", json.dumps(request).encode(), bearer()).status == 201
    assert rows(store, "SELECT outcome FROM payment_request") == [{"outcome": "POSITIVO"}]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "not JSON"),
        (b'{"txn_id": ' + b"[" * 100_000, "not JSON (nested too deeply)"),  # not a 500
        (b"[1, 2]", "one JSON object"),
        (json.dumps({**REQUEST, "amount": "12,90"}).encode(), "amount"),
        (json.dumps({**REQUEST, "customer": ""}).encode(), "customer is empty"),
        (
            json.dumps({**REQUEST, "created_at": 1764061200}).encode(),
            "created_at must be an ISO 8601 date-time as text",
        ),
        (json.dumps({k: v for k, v in REQUEST.items() if k != "created_at"}).encode(), "created_at is empty"),
        # which txn_id is meant cannot be told: Python keeps the last, another reader the first
        (json.dumps(REQUEST).encode()[:-1] + b', "txn_id": "ORD-9002-1"}', "key 'txn_id' given twice"),
    ],
)
def test_an_invalid_request_is_400_with_the_reason_and_not_stored(receiver, store, body, error):
    reply = receiver(requests_config()).post("/requests", body, bearer())
    assert reply.status == 400 and error in json.loads(reply.body)["error"]
    assert count(store, "SELECT COUNT(*) AS n FROM payment_request") == 0


def test_a_request_for_a_gateway_nobody_reads_is_registered_with_a_warning(receiver, store):
    reply = receiver(requests_config()).post(
        "/requests", json.dumps({**REQUEST, "gateway": "nexl"}).encode(), bearer()
    )
    assert reply.status == 201
    assert json.loads(reply.body)["warning"].startswith(
        "gateway 'nexl' is not a gateway of this configuration"
    )
    assert count(store, "SELECT COUNT(*) AS n FROM payment_request") == 1


def test_requests_need_the_configured_bearer_token(receiver, store):
    r = receiver(requests_config())
    body = json.dumps(REQUEST).encode()
    assert r.post("/requests", body).status == 401
    assert r.post("/requests", body, bearer("wrong")).status == 401
    assert r.post("/requests", body, {"Authorization": TOKEN}).status == 401  # no scheme
    reply = r.post("/requests", body, bearer(TOKEN + "x"))
    assert reply.status == 401 and reply.headers["www-authenticate"].startswith("Bearer")
    assert count(store, "SELECT COUNT(*) AS n FROM payment_request") == 0


def test_the_token_can_come_from_a_file_and_without_one_the_route_is_off(receiver, isolated):
    (isolated / "token.txt").write_text(TOKEN + "\n")
    r = receiver(requests_config("  token_file: token.txt\n"))
    assert r.post("/requests", json.dumps(REQUEST).encode(), bearer()).status == 201
    off = receiver(NEXI_CONFIG)
    assert off.post("/requests", json.dumps(REQUEST).encode(), bearer()).status == 404


# -- the store cannot commit -----------------------------------------------------------------------
def hold_write_lock(db_url: str) -> Store:
    """Another connection that holds the store's write lock (and, on PostgreSQL, its tables)."""
    other = Store.connect(db_url)
    other.execute("BEGIN IMMEDIATE" if other.backend == "sqlite" else "BEGIN")
    if other.backend == "postgresql":
        other.execute("LOCK TABLE message, alembic_version IN ACCESS EXCLUSIVE MODE")
    else:
        other.execute(
            "INSERT INTO delivery (received_at, provider, method, path, headers, body_bytes, result, "
            "duplicate, status) VALUES ('2026-01-01', 'x', 'GET', '/', '', 0, 'x', 0, 0)"
        )
    return other


def test_503_when_the_store_cannot_commit_then_the_retry_is_taken(receiver, store, db_url):
    r = receiver(NEXI_CONFIG + "serve:\n  store_timeout_seconds: 1\n")
    body, headers = sample("nexi/approved/01-approved.txt")
    other = hold_write_lock(db_url)
    try:
        started = time.monotonic()
        reply = r.post("/callbacks/nexi", body, headers)
        assert reply.status == 503 and reply.headers["retry-after"] == "30"
        assert time.monotonic() - started < 5
        assert r.get("/healthz").status == 503
    finally:
        other.execute("ROLLBACK")
        other.close()
    if not ON_POSTGRES:  # the log says why: the lock, not a ROLLBACK that had nothing to undo
        said = [line for line in r.log if " 503 " in line]
        # for what was left of its store_timeout_seconds when its turn came (a few ms went in the queue)
        locked = re.compile(r"stayed locked by another writer for (1|0\.9\d*) s$")
        assert said and all(locked.search(line) for line in said), said
    assert count(store, "SELECT COUNT(*) AS n FROM message") == 0
    assert r.post("/callbacks/nexi", body, headers).status == 200  # the gateway's retry
    assert r.get("/healthz").status == 200
    assert count(store, "SELECT COUNT(*) AS n FROM message") == 1


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL restarted under the receiver")
def test_after_postgresql_restarted_no_thread_answers_503_for_its_stale_connection(receiver, store, db_url):
    """A restart of PostgreSQL (a failover) ends every connection of every receiver thread: the first
    callback of each thread failed on its stale connection, 503 after 503."""
    threads = 4
    r = receiver(NEXI_CONFIG + "serve:\n  store_timeout_seconds: 10\n", threads=threads)
    other = hold_write_lock(db_url)  # every thread waits at once, so that each has its connection
    try:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            waiting = [pool.submit(r.get, "/healthz") for _ in range(threads)]
            while len(r.app._stores) < threads:
                time.sleep(0.05)
            other.execute("ROLLBACK")
            assert [w.result().status for w in waiting] == [200] * threads
    finally:
        other.close()
    pids = [s.connection.info.backend_pid for s in r.app._stores]
    assert len(pids) == threads
    for pid in pids:
        store.execute("SELECT pg_terminate_backend(:pid)", {"pid": pid})
    body, headers = sample("nexi/approved/01-approved.txt")
    statuses = [r.get("/healthz").status for _ in range(3 * threads)]
    statuses.append(r.post("/callbacks/nexi", body, headers).status)
    assert statuses == [200] * (3 * threads + 1), r.log


@pytest.mark.skipif(not ON_POSTGRES, reason="advisory locks are PostgreSQL's")
def test_a_notification_whose_reference_stays_locked_is_503_and_the_log_names_the_lock(
    receiver, store, db_url
):
    """The lock time-out came inside the provider's reading: ingest took it for the provider's failure,
    a callback's log said only 'current transaction is aborted', and a request was answered 400
    invalid, which the shop does not send again."""
    from paycli.store import advisory_key

    r = receiver(requests_config() + "  store_timeout_seconds: 1\n")
    body, headers = sample("nexi/approved/01-approved.txt")
    request = json.dumps({**REQUEST, "txn_id": "ORDNX4001-1", "order_id": "ORDNX4001"}).encode()
    other = Store.connect(db_url)
    try:
        other.execute("BEGIN")
        key = advisory_key(f"{other.lock_space()}:ref:ORDNX4001-1")
        other.execute("SELECT pg_advisory_xact_lock(:k)", {"k": key})
        replies = [r.post("/callbacks/nexi", body, headers), r.post("/requests", request, bearer())]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [reply.status for reply in replies] == [503, 503], replies
    assert all("stayed locked by another writer" in line for line in r.log), r.log
    assert count(store, "SELECT COUNT(*) AS n FROM delivery") == 0
    assert r.post("/callbacks/nexi", body, headers).status == 200
    assert r.post("/requests", request, bearer()).status == 201


# -- the log ---------------------------------------------------------------------------------------
def test_one_log_line_a_request_and_no_secret_in_it_or_in_the_delivery(receiver, store):
    r = receiver(requests_config() + "  paypal_postback: false\n")
    body, headers = sample("nexi/approved/01-approved.txt")
    r.post(
        "/callbacks/nexi",
        body,
        {
            **headers,
            "Cookie": "session=abc123secret",
            "Authorization": "Basic c2VjcmV0",
            "X-Api-Token": "tok-in-a-header-9f2",
        },
    )
    query = body.decode().strip()
    r.get(f"/callbacks/nexi?{query}")
    r.post("/requests", json.dumps(REQUEST).encode(), bearer())
    r.post("/requests", json.dumps(REQUEST).encode(), bearer("guess-" + TOKEN))
    assert len(r.log) == 4
    text = "\n".join(r.log)
    for secret in (TOKEN, "abc123secret", "c2VjcmV0", "mac=", "codTrans", "mario.rossi"):
        assert secret not in text
    assert "POST /callbacks/nexi 200" in r.log[0] and "GET /callbacks/nexi 200" in r.log[1]
    assert "POST /requests 201" in r.log[2] and "POST /requests 401" in r.log[3]
    delivery = rows(store, "SELECT headers FROM delivery ORDER BY id")[0]["headers"]
    assert "Cookie: ***\n" in delivery and "Authorization: ***\n" in delivery
    assert "X-Api-Token: ***\n" in delivery and "Host: 127.0.0.1:" in delivery  # the rest kept
    assert "abc123secret" not in delivery and "c2VjcmV0" not in delivery and "tok-in" not in delivery
    assert count(store, "SELECT COUNT(*) AS n FROM message WHERE headers LIKE '%Cookie%'") == 0


def test_the_log_line_shows_a_method_s_escapes_as_text_on_one_line(db_url, isolated):
    """Waitress refuses a method that is not a token; another WSGI server may hand it on, and the log
    is read on a terminal (journalctl, a tail)."""
    from paycli import gateways
    from paycli.serve import App

    log: list[str] = []
    app = App(db_url, make_config(isolated), gateways.installed(), log=log.append)
    environ = {"REQUEST_METHOD": "G\x1b]0;x\x07\nET", "PATH_INFO": "/healthz", "wsgi.input": None}
    app(environ, lambda status, headers: None)
    assert len(log) == 1 and "G\\x1b]0;X\\x07\\nET /healthz 405" in log[0], log
    app.close()


def test_the_receiver_refuses_a_store_behind_the_code(store, db_url, isolated):
    from paycli.errors import StoreError
    from paycli.serve import App

    with Store.connect(db_url) as s:
        s.execute("UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(StoreError, match="paycli db upgrade"):
        App(db_url, make_config(isolated), {})


def test_the_delivery_keeps_the_body_no_provider_could_take_as_far_as_a_notification_goes(receiver, store):
    from paycli.serve import REFUSED_BODY_KEPT

    r = receiver(STRIPE_CONFIG)
    big = b'{"object": "event", "pad": "' + b"x" * 70_000 + b'"}'
    reply = r.post("/callbacks/stripe", big, {"Content-Type": "application/json"})
    assert reply.status == 400
    # anybody may post: a refused megabyte a request kept whole would grow the store without limit
    junk = bytes(range(256)) * 4000  # a megabyte of bytes no provider reads
    assert r.post("/callbacks/stripe", junk, {"Content-Type": "application/json"}).status == 400
    kept = rows(store, "SELECT result, body, body_bytes, message_digest FROM delivery ORDER BY id")
    assert [(d["result"], bytes(d["body"]), d["body_bytes"], d["message_digest"]) for d in kept] == [
        ("refused", big[:REFUSED_BODY_KEPT], len(big), None),
        ("refused", junk[:REFUSED_BODY_KEPT], len(junk), None),
    ]
    assert REFUSED_BODY_KEPT == 64 * 1024 < len(big)  # the largest notification any gateway sends


@pytest.mark.parametrize(
    ("route", "path"),
    [
        ("paypal", "paypal/settlement/STL-20240515.01.009.CSV"),
        ("stripe", "stripe/settlement/04-balance-change-from-activity.csv"),
    ],
)
def test_a_settlement_report_posted_to_a_callback_route_is_refused(receiver, store, route, path):
    # anybody may post to a callback route; a settlement line there would say that money arrived
    config = paypal_config("http://127.0.0.1:9/").replace(
        "gateways:\n", f"gateways:\n  stripe:\n    webhook_secret: {STRIPE_SECRET}\n"
    )
    report, _ = sample(path)
    reply = receiver(config).post(f"/callbacks/{route}", report, {"Content-Type": "text/csv"})
    assert reply.status == 400 and "settlement report is no notification" in reply.text
    assert rows(store, "SELECT COUNT(*) AS n FROM settlement") == [{"n": 0}]
    assert rows(store, "SELECT COUNT(*) AS n FROM message") == [{"n": 0}]
    [delivery] = rows(store, "SELECT result, body FROM delivery")
    assert delivery["result"] == "refused" and bytes(delivery["body"]) == report  # kept, as refused


def test_a_post_without_a_body_is_refused_so_the_gateway_sends_it_again(receiver, store):
    import socket

    r = receiver(NEXI_CONFIG)
    assert r.post("/callbacks/nexi", b"").status == 400  # Content-Length: 0
    # no Content-Length and not chunked: the bytes after the headers are no part of the request
    with socket.create_connection(("127.0.0.1", r.port), timeout=30) as conn:
        conn.sendall(
            b"POST /callbacks/nexi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\ncodTrans=T1&esito=OK"
        )
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 411 ")
    assert rows(store, "SELECT COUNT(*) AS n FROM message") == [{"n": 0}]
    assert rows(store, "SELECT result, status FROM delivery ORDER BY id") == [
        {"result": "refused", "status": 400},
        {"result": "refused", "status": 411},
    ]


def test_a_get_without_a_query_string_is_refused_and_stores_no_message(receiver, store):
    # a crawler or a health probe: acknowledged and read, each added a quarantined message
    r = receiver(NEXI_CONFIG)
    for path in ("/callbacks/nexi", "/callbacks/nexi?", "/callbacks/nexi/"):
        reply = r.get(path, {"User-Agent": "Googlebot/2.1"})
        assert reply.status == 400 and "query string" in reply.text, (path, reply)
    assert rows(store, "SELECT COUNT(*) AS n FROM message") == [{"n": 0}]
    refused = {"method": "GET", "query": None, "result": "refused", "status": 400}
    assert rows(store, "SELECT method, query, result, status FROM delivery ORDER BY id") == [refused] * 3
    query = (SAMPLES / "nexi/approved/01-approved.txt").read_text().strip()
    assert r.get(f"/callbacks/nexi?{query}").status == 200  # Nexi's browser return still read


def test_a_nul_in_the_query_string_is_stored_and_answered_not_a_503_for_ever(receiver, store):
    # PostgreSQL's text columns take no NUL: the delivery row failed, and every retry had 503
    import socket

    r = receiver(NEXI_CONFIG)
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as conn:
        conn.sendall(b"GET /callbacks/nexi?a=\x00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert rows(store, "SELECT query FROM delivery") == [{"query": "a=\ufffdb"}]
    assert rows(store, "SELECT state FROM message") == [{"state": "quarantined"}]


def test_receive_is_the_ingest_code_path(store, config):
    """paycli serve calls Ingest.receive: the same providers and batch code as paycli ingest."""
    from paycli import gateways
    from paycli.gateways.base import Source

    body, _headers = sample("nexi/approved/01-approved.txt")
    cfg = make_config(Path.cwd(), NEXI_CONFIG)
    source = Source("live", None, body, received_at=datetime.now(UTC))
    report = Ingest(store, cfg, gateways.instances(cfg, gateways.installed()), gateway="nexi").receive(source)
    assert report.tallies["nexi"].responses_new == 1


def test_a_sandbox_ipn_is_posted_back_to_the_sandbox(receiver, store, paypal):
    sandbox_body, _ = sample("paypal/forged/03-sandbox.txt")
    sandbox = FakePayPal({sandbox_body: "VERIFIED"})
    try:
        r = receiver(paypal_config(paypal.url, f"  paypal_sandbox_postback_url: {sandbox.url}\n"))
        assert r.post("/callbacks/paypal", sandbox_body).status == 400  # accept_sandbox is off
        assert sandbox.received == [b"cmd=_notify-validate&" + sandbox_body] and paypal.received == []
    finally:
        sandbox.close()
    assert rows(store, "SELECT postback FROM delivery") == [{"postback": "VERIFIED"}]
