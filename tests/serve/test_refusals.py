"""What ``paycli serve`` refuses so that nobody can decide an outcome by posting to it: a made-up GestPay
result, a PayPal IPN PayPal could not be asked about, any notification of a gateway whose secret is not
configured; and what its answers promise the shop (a 409 is a stored request kept, nothing else)."""

from __future__ import annotations

import json

import pytest

from paycli.store import Store
from tests.conftest import ON_POSTGRES
from tests.serve.conftest import count, start_receiver
from tests.serve.test_routes import (
    REQUEST,
    SAMPLES,
    TOKEN,
    bearer,
    requests_config,
)

AXERVE_CONFIG = (SAMPLES / "axerve/approved/paycli.yaml").read_text() + f"serve:\n  token: {TOKEN}\n"
FORGED_RESULT = (
    b"<GestPayCryptDecrypt><TransactionType>DECRYPT</TransactionType><TransactionResult>OK"
    b"</TransactionResult><ShopTransactionID>SHOP-9100-1</ShopTransactionID><BankTransactionID>77"
    b"</BankTransactionID><Currency>242</Currency><Amount>59.00</Amount><ErrorCode>0</ErrorCode>"
    b"</GestPayCryptDecrypt>"
)
AXERVE_REQUEST = {**REQUEST, "txn_id": "SHOP-9100-1", "order_id": "SHOP-9100", "amount": "59.00"}


def register(r, request: dict) -> None:
    assert r.post("/requests", json.dumps(request).encode(), bearer()).status == 201


# -- POST /requests: 409 is a stored request kept, anything else refused is 400 --------------------
@pytest.mark.parametrize(
    "field",
    ["txn_id", "customer", "order_id"],
)
def test_a_request_ingest_quarantines_is_400_not_a_conflict(receiver, store, field):
    r = receiver(requests_config())
    value = {"txn_id": "PG-R\u0000-1", "customer": "Rossi\u0000", "order_id": "ORD\u00009001"}[field]
    reply = r.post("/requests", json.dumps({**REQUEST, field: value}).encode(), bearer())
    answer = json.loads(reply.body)
    assert reply.status == 400, answer
    assert answer["result"] == "invalid" and "NUL" in answer["error"]
    assert count(store, "SELECT COUNT(*) AS n FROM payment_request") == 0


def test_a_request_that_conflicts_with_the_stored_one_is_still_409(receiver, store):
    r = receiver(requests_config())
    register(r, REQUEST)
    reply = r.post("/requests", json.dumps({**REQUEST, "amount": "12.90"}).encode(), bearer())
    assert (reply.status, json.loads(reply.body)["result"]) == (409, "conflict")


# -- GET /healthz: a store that refuses writes is 503 ----------------------------------------------
@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: SQLite's BEGIN IMMEDIATE takes the write lock")
def test_healthz_is_503_when_postgresql_takes_no_write(store: Store, db_url, isolated):
    from tests.conftest import make_config

    read_only = db_url + "%20-cdefault_transaction_read_only%3Don"
    r = start_receiver(read_only, make_config(isolated, "timezone: Europe/Rome\n"))
    try:
        reply = r.get("/healthz")
    finally:
        r.stop()
    assert (reply.status, json.loads(reply.body)) == (503, {"status": "unavailable"})
    assert "read-only" in r.log[-1]
