"""Gateway traffic for the load tests and ``bench/bench_serve.py``: signed Nexi notifications, their
requests, and clients that send them over keep-alive connections, timing each answer."""

from __future__ import annotations

import hashlib
import http.client
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from paycli.gateways.base import Origin
from paycli.ingest import message_digest

NEXI_KEY = "K7QX2M9PLR4TB8WZ6NDA3HVC1YJ5EUSG"
CONFIG = f"timezone: Europe/Rome\ngateways:\n  nexi:\n    mac_key: {NEXI_KEY}\n    mac_algorithm: sha1\n"
FORM = "application/x-www-form-urlencoded"
REQUEST_HEADER = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"


def nexi_callback(n: int, esito: str = "OK") -> bytes:
    """A signed XPay notification for request ``LOAD-<n>-1`` (12.34 EUR plus n cents)."""
    fields = {
        "alias": "ALIAS_WEB_00012345",
        "importo": str(1234 + n),
        "divisa": "EUR",
        "codTrans": f"LOAD-{n}-1",
        "esito": esito,
        "codiceEsito": "0",
        "codAut": f"A{n:06d}" if esito == "OK" else "",
        "data": "20261126",
        "orario": f"{10 + n % 10:02d}{n % 60:02d}00",
        "nome": "Mario",
        "cognome": "Rossi",
    }
    signed = "".join(
        f"{k}={fields[k]}" for k in ("codTrans", "esito", "importo", "divisa", "data", "orario", "codAut")
    )
    fields["mac"] = hashlib.sha1((signed + NEXI_KEY).encode()).hexdigest()
    return urlencode(fields).encode()


def requests_csv(count: int) -> str:
    lines = [
        f"LOAD-{n}-1,LOAD-{n},order,2026-11-26T10:15:00+01:00,Cliente {n},c{n}@example.com,"
        f"{(1234 + n) // 100}.{(1234 + n) % 100:02d},EUR,nexi\n"
        for n in range(count)
    ]
    return REQUEST_HEADER + "".join(lines)


def digest(body: bytes) -> str:
    """The digest paycli serve stores a Nexi notification under, sent with Content-Type only."""
    return message_digest(Origin(None, body, None, f"Content-Type: {FORM}\n"))


def schedule(distinct: int, redeliveries: float, seed: int = 7) -> list[int]:
    """The order of sends: every callback once, and ``redeliveries`` of them again, a little later."""
    rng = random.Random(seed)
    order = list(range(distinct))
    extra = int(distinct * redeliveries / (1 - redeliveries))
    for _ in range(extra):
        n = rng.randrange(distinct)
        order.insert(min(len(order), order.index(n) + rng.randint(1, 50)), n)
    return order


@dataclass
class Load:
    """What the clients saw: each send's callback number, HTTP status (0: no answer) and latency."""

    sends: list[tuple[int, int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seconds: float = 0.0

    def acknowledged(self) -> set[int]:
        return {n for n, status, _ in self.sends if status == 200}

    def latencies(self) -> list[float]:
        return sorted(ms for _, status, ms in self.sends if status == 200)


def send_all(
    port: int,
    order: Sequence[int],
    bodies: Sequence[bytes],
    clients: int = 8,
    stop: threading.Event | None = None,
    path: str = "/callbacks/nexi",
) -> Load:
    """Send ``bodies[n]`` for each n of ``order`` from ``clients`` threads, each over one keep-alive
    connection; a thread stops at the first send with no answer (the server is gone) or at ``stop``."""
    from tests.serve.conftest import Client

    load = Load()
    queues = [order[i::clients] for i in range(clients)]

    def work(queue: Sequence[int]) -> None:
        client = Client(port, timeout=30)
        mine = []
        try:
            for n in queue:
                if stop is not None and stop.is_set():
                    break
                started = time.perf_counter()
                try:
                    status = client.post(path, bodies[n], {"Content-Type": FORM}).status
                except (OSError, http.client.HTTPException):  # killed mid-answer: no acknowledgement
                    mine.append((n, 0, 0.0))
                    break
                mine.append((n, status, (time.perf_counter() - started) * 1000))
        finally:
            client.close()
            with load.lock:
                load.sends.extend(mine)

    threads = [threading.Thread(target=work, args=(q,)) for q in queues]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.seconds = time.perf_counter() - started
    return load


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[index]
