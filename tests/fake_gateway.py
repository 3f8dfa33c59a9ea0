"""A tiny gateway provider for the tests of the pipeline, before the real gateways exist.

It reads JSON lines such as ``{"fake": 1, "ref": "T1", "key": "k1", "status": "approved",
"amount": "129.90", "currency": "EUR", "auth": "valid", "txn": "g1", "raw": "the gateway's word"}``;
``"info": "..."`` makes an
informational message, anything unreadable is quarantined.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from paycli.gateways.base import (
    InfoRecord,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    SettlementRecord,
    Source,
)
from paycli.money import parse_amount
from paycli.outcome import Authenticity, Status


class FakeGateway(Provider):
    name = "fake"
    description = "test messages"
    reads = ("JSON lines with a 'fake' key",)

    def identify(self, source: Source) -> bool:
        return source.head.lstrip().startswith(b'{"fake"')

    def extract(self, source: Source) -> Iterator[Record]:
        with source.open() as stream:
            for number, raw in enumerate(stream, start=1):
                if raw.strip():
                    yield self.reinterpret(Origin(number, raw.rstrip(b"\n")))

    def reinterpret(self, origin: Origin) -> Record:
        try:
            m = json.loads(origin.raw)
            if "info" in m:
                return InfoRecord(origin, m.get("ref"), m["info"])
            if "settle" in m:
                gross, fee = (
                    parse_amount(m["gross"], "EUR", allow_negative=True),
                    parse_amount(m["fee"], "EUR"),
                )
                return SettlementRecord(
                    origin,
                    m["settle"],
                    m.get("txn"),
                    m.get("ref"),
                    gross,
                    fee,
                    gross - fee,
                    "EUR",
                    line_id=m.get("line"),
                )
            currency = m.get("currency", "EUR")
            return ResponseRecord(
                origin,
                reference=m.get("ref"),
                dedupe_key=m["key"],
                status=Status(m["status"]),
                raw_status=m.get("raw", m["status"]),
                authenticity=Authenticity(m.get("auth", "valid")),
                amount_minor=parse_amount(m["amount"], currency) if "amount" in m else None,
                currency=currency,
                gateway_txn_id=m.get("txn"),
                aliases=tuple(m.get("aliases", ())),
            )
        except (ValueError, KeyError) as exc:
            return QuarantinedRecord(origin, f"not a fake message ({exc})")


def message(ref: str, key: str, status: str, amount: str = "129.90", **extra: str) -> str:
    return json.dumps({"fake": 1, "ref": ref, "key": key, "status": status, "amount": amount, **extra})
