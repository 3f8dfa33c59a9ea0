"""A fixed shop for the report tests: requests, gateway responses, a Stripe balance report, a resolution.

Everything goes through the real pipeline (``paycli ingest``, ``paycli resolve``); the times that the
pipeline takes from the clock (when a message was received, when a resolution was made) are then pinned
to fixed instants of the report day, so that the golden reports do not depend on when the tests run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from paycli.store import Store
from tests.conftest import request_csv

DAY = "2026-11-26"
NOW = "2026-11-27T07:30:00+01:00"  # the morning after: when cron runs the report
XSS = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x")'

CONFIG = """timezone: Europe/Rome
report:
  title: Bottega Test
gateways:
  bank:
    provider: csv
    match:
      header_contains: [ref, esito]
    columns:
      reference: ref
      amount: amount
      currency: currency
      status: esito
      gateway_txn_id: id
    status_map:
      approved: [OK]
      refused: [KO]
    dedupe_key: [id]
  stripe: {}
"""

REQUESTS = [
    "R-1001-1,R-1001,order,2026-11-26T09:00:00+01:00,Rossi Mario S.r.l.,mario@example.com,129.90,EUR,bank",
    f"R-1002-1,R-1002,order,2026-11-26T10:00:00+01:00,{XSS},xss@example.com,35.00,EUR,bank",
    f"R-1002-2,R-1002,order,2026-11-26T10:05:00+01:00,{XSS},xss@example.com,35.00,EUR,bank",
    '"R-1003-1",R-1003,order,2026-11-26T12:00:00+01:00,"=HYPERLINK(""http://x"")",f@example.com,50.00,EUR,bank',
    "R-1004-1,R-1004,order,2026-11-26T13:00:00+01:00,Niccolò Fabbri,n@example.com,1234.56,EUR,bank",
    "R-1004-2,R-1004,order,2026-11-26T13:10:00+01:00,Niccolò Fabbri,n@example.com,1234.56,EUR,bank",
    "R-1005-1,R-1005,order,2026-11-26T14:00:00+01:00,Anna Villa,anna@example.com,25.00,EUR,bank",
    "R-1006-1,,deposit,2026-11-26T15:00:00+01:00,Impresa Conti,conti@example.com,500.00,EUR,bank",
    "S-2001-1,S-2001,order,2026-11-26T16:00:00+01:00,Sara Greco,sara@example.com,49.90,EUR,stripe",
    "S-2002-1,S-2002,order,2026-11-26T16:10:00+01:00,Paolo Santoro,paolo@example.com,80.00,EUR,stripe",
    "S-2003-1,S-2003,order,2026-11-26T16:20:00+01:00,Tanaka Hiroshi,tanaka@example.com,8800,JPY,stripe",
    "S-2004-1,S-2004,order,2026-11-26T16:30:00+01:00,Ivan Petrov,ivan@example.com,18.00,EUR,stripe",
    "O-0001-1,O-0001,order,2026-11-25T18:00:00+01:00,Before The Period,b@example.com,10.00,EUR,bank",
    "A-0001-1,A-0001,order,2026-11-27T00:00:00+01:00,After The Period,a@example.com,11.00,EUR,bank",
]

BANK = """id,ref,amount,currency,esito
B1,R-1001-1,129.90,EUR,OK
B2,R-1002-1,35.00,EUR,KO
B3,R-1002-2,35.00,EUR,OK
B4,R-1004-1,1234.56,EUR,OK
B5,R-1004-2,1234.56,EUR,OK
B6,R-1005-1,25.00,EUR,KO
B7,R-7777-1,9.99,EUR,OK
B8,A-0001-1,11.00,EUR,OK
"""

BALANCE = """balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,payment_intent_id,payment_metadata[txn_id]
txn_1,2026-11-26 15:01:00,2026-12-03 00:00:00,eur,49.90,1.00,48.90,charge,pi_2001,S-2001-1
txn_2,2026-11-26 15:11:00,2026-12-03 00:00:00,eur,79.00,1.45,77.55,charge,pi_2002,S-2002-1
txn_3,2026-11-26 15:31:00,2026-12-03 00:00:00,eur,18.00,0.52,17.48,charge,pi_2004,S-2004-1
txn_4,2026-11-26 17:00:00,2026-12-03 00:00:00,eur,30.00,0.70,29.30,charge,pi_9999,S-9999-1
txn_5,2026-11-26 18:00:00,2026-11-26 18:00:00,eur,-10.00,0.00,-10.00,refund,pi_2002,S-2002-1
txn_6,2026-11-26 22:59:59,2026-11-26 22:59:59,eur,-2.00,0.00,-2.00,fee,,
txn_7,2026-11-25 12:00:00,2026-12-02 00:00:00,eur,99.00,1.00,98.00,charge,pi_0000,O-0000-1
"""


def stripe_event(txn_id: str, pi: str, amount: int, currency: str, created: int) -> str:
    """A payment_intent.succeeded event, unsigned (no secret configured: unverifiable, still decides)."""
    return json.dumps(
        {
            "id": f"evt_{pi}",
            "object": "event",
            "api_version": "2024-04-10",
            "created": created,
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": pi,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "currency": currency,
                    "status": "succeeded",
                    "metadata": {"txn_id": txn_id},
                }
            },
        },
        indent=2,
    )


def build_shop(cli: Any, folder: Path, db_url: str) -> None:
    (folder / "paycli.yaml").write_text(CONFIG)
    inputs = folder / "inputs"
    inputs.mkdir()
    request_csv(inputs, REQUESTS)
    (inputs / "bank.csv").write_text(BANK)
    (inputs / "balance.csv").write_text(BALANCE)
    events = inputs / "stripe"
    events.mkdir()
    (events / "2001.json").write_text(stripe_event("S-2001-1", "pi_2001", 4990, "eur", 1795705260))
    (events / "2002.json").write_text(stripe_event("S-2002-1", "pi_2002", 8000, "eur", 1795705860))
    (events / "2003.json").write_text(stripe_event("S-2003-1", "pi_2003", 8800, "jpy", 1795706460))
    result = cli(
        "ingest",
        str(inputs / "requests.csv"),
        str(inputs / "bank.csv"),
        str(events),
        str(inputs / "balance.csv"),
    )
    assert result.code == 0, result
    result = cli(
        "resolve",
        "R-1006-1",
        "--as",
        "POSITIVO",
        "--by",
        "anna",
        "--note",
        "=cmd|' /C calc'!A0 seen in the bank",
    )
    assert result.code == 0, result
    with Store.open(db_url) as store:
        received = store.time(_utc("2026-11-26T20:00:00+01:00"))
        store.execute("UPDATE message SET received_at = :t", {"t": received})
        store.execute("UPDATE response SET received_at = :t", {"t": received})
        store.execute(
            "UPDATE resolution SET created_at = :t", {"t": store.time(_utc("2026-11-26T21:00:00+01:00"))}
        )


def _utc(text: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def shop(cli: Any, isolated: Path, db_url: str) -> Any:
    """The fixed shop in the test store; returns the cli runner."""
    build_shop(cli, isolated, db_url)
    return cli
