"""How many callbacks per second ``paycli serve`` takes, and how long each waits for its answer.

The issue's target, on a 2-core machine: at least 500 callbacks/s on SQLite with a p99 latency under
100 ms, for 8 concurrent clients over loopback. The benchmark runs ``paycli serve`` (8 threads) as a
process of its own on a fresh store that already holds the requests the callbacks answer, and sends
signed Nexi XPay notifications (form posts, as Nexi's urlpost) from 8 client threads of this process,
each over one keep-alive connection; 20% of the sends are redeliveries of an earlier notification (the
same bytes). Every send is timed from the request to the last byte of the answer; every answer must be
200, and the store is checked afterwards (one message and one response per notification, one delivery
row per send). A warm-up of 200 callbacks is not counted.

It runs on SQLite, then on PostgreSQL when one is reachable through the libpq environment (``PGHOST``,
``PGDATABASE``, ...; ``pg_virtualenv`` sets them), in a schema of its own, dropped afterwards.
Every figure is marked ``ok`` or ``OVER``; the benchmark never fails on a time (exit 0 unless a step
crashes, then 1). The client threads share the machine with the server: on 2 cores, they take part of
the CPU the server could use.

    .venv/bin/python bench/bench_serve.py                       # SQLite, and PostgreSQL if reachable
    pg_virtualenv -v 15 .venv/bin/python bench/bench_serve.py   # with a throw-away PostgreSQL
    .venv/bin/python bench/bench_serve.py --callbacks 2000      # a quick run
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
NEXI_KEY = "K7QX2M9PLR4TB8WZ6NDA3HVC1YJ5EUSG"
CONFIG = f"timezone: Europe/Rome\ngateways:\n  nexi:\n    mac_key: {NEXI_KEY}\n    mac_algorithm: sha1\n"
FORM = "application/x-www-form-urlencoded"
TARGET_RATE = 500
TARGET_P99_MS = 100.0


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- traffic ---------------------------------------------------------------------------------------
def callback(n: int) -> bytes:
    fields = {
        "alias": "ALIAS_WEB_00012345",
        "importo": str(1234 + n),
        "divisa": "EUR",
        "codTrans": f"BENCH-{n}-1",
        "esito": "OK",
        "codiceEsito": "0",
        "codAut": f"A{n:06d}",
        "data": "20261126",
        "orario": f"{10 + n % 10:02d}{n % 60:02d}00",
        "nome": "Mario",
        "cognome": "Rossi",
    }
    keys = ("codTrans", "esito", "importo", "divisa", "data", "orario", "codAut")
    fields["mac"] = hashlib.sha1(("".join(f"{k}={fields[k]}" for k in keys) + NEXI_KEY).encode()).hexdigest()
    return urlencode(fields).encode()


def requests_csv(count: int) -> str:
    head = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
    return head + "".join(
        f"BENCH-{n}-1,BENCH-{n},order,2026-11-26T10:15:00+01:00,Cliente {n},c{n}@example.com,"
        f"{(1234 + n) // 100}.{(1234 + n) % 100:02d},EUR,nexi\n"
        for n in range(count)
    )


def schedule(first: int, distinct: int, redeliveries: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    order = list(range(first, first + distinct))
    for _ in range(int(distinct * redeliveries / (1 - redeliveries))):
        n = rng.randrange(first, first + distinct)
        at = order.index(n) + rng.randint(1, 50)
        order.insert(min(at, len(order)), n)
    return order


def send(port: int, order: Sequence[int], clients: int) -> tuple[float, list[float], list[int]]:
    """(seconds, latencies in ms, statuses) of sending ``callback(n)`` for each n from ``clients`` threads."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def work(queue: Sequence[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, codes = [], []
        try:
            for n in queue:
                body = callback(n)
                started = time.perf_counter()
                conn.request("POST", "/callbacks/nexi", body, {"Content-Type": FORM})
                reply = conn.getresponse()
                reply.read()
                mine.append((time.perf_counter() - started) * 1000)
                codes.append(reply.status)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                statuses.extend(codes)

    threads = [threading.Thread(target=work, args=(order[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, sorted(latencies), statuses


def percentile(values: Sequence[float], p: float) -> float:
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


# -- one backend -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def paycli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "paycli", *args], env=env, check=True, capture_output=True)


def run(backend: str, url: str, work: Path, args: argparse.Namespace) -> dict[str, float]:
    config = work / "paycli.yaml"
    config.write_text(CONFIG)
    warm, distinct = 200, int(args.callbacks * (1 - args.redeliveries))
    (work / "requests.csv").write_text(requests_csv(warm + distinct))
    env = {**os.environ, "PAYCLI_CONFIG": str(config), "PAYCLI_DB": url}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    paycli(env, "ingest", str(work / "requests.csv"))
    port = free_port()
    log = (work / f"serve-{backend}.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "paycli", "serve", "--port", str(port), "--threads", str(args.threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        send(port, list(range(warm)), args.clients)
        order = schedule(warm, distinct, args.redeliveries, args.seed)
        say(f"{backend}: {len(order):,} callbacks ({distinct:,} distinct) from {args.clients} clients")
        seconds, latencies, statuses = send(port, order, args.clients)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    bad = [s for s in statuses if s != 200]
    if bad or len(statuses) != len(order):
        raise SystemExit(f"{backend}: {len(bad)} answers were not 200, {len(order) - len(statuses)} missing")
    check(url, warm + distinct, warm + len(order))
    return {
        "rate": len(order) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "seconds": seconds,
        "sends": len(order),
    }


def check(url: str, messages: int, deliveries: int) -> None:
    sys.path.insert(0, str(ROOT))
    from paycli.store import Store

    with Store.connect(url) as store:
        found = {
            t: store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
            for t in ("message", "response", "delivery")
        }
    expected = {"message": messages, "response": messages, "delivery": deliveries}
    if found != expected:
        raise SystemExit(f"the store holds {found}, expected {expected}")


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://", connect_timeout=3):
            return True
    except Exception:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=10_000, help="sends timed (default 10,000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="paycli serve --threads (default 8)")
    parser.add_argument("--redeliveries", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    figures: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        figures.append(("SQLite", run("sqlite", f"sqlite:///{work}/paycli.db", work, args)))
        if postgres_reachable():
            import psycopg

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect("postgresql://", autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            try:
                url = f"postgresql+psycopg:///?options=-csearch_path%3D{schema}"
                figures.append(("PostgreSQL", run("postgresql", url, work, args)))
            finally:
                with psycopg.connect("postgresql://", autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
        else:
            figures.append(("PostgreSQL", {}))

    print(
        f"\npaycli serve: {args.clients} clients over loopback, {args.callbacks:,} callbacks "
        f"({args.redeliveries:.0%} redeliveries), {os.cpu_count()} CPUs"
    )
    for name, f in figures:
        if not f:
            print(
                f"  {name:<11} skipped: no PostgreSQL reachable (run: pg_virtualenv -v 15 "
                ".venv/bin/python bench/bench_serve.py)"
            )
            continue
        rate_ok = f["rate"] >= TARGET_RATE
        p99_ok = f["p99"] < TARGET_P99_MS
        target = name == "SQLite"
        print(
            f"  {name:<11} {f['rate']:>6,.0f} callbacks/s"
            + (f"  (target >= {TARGET_RATE}: {'ok' if rate_ok else 'OVER'})" if target else "")
            + f"   p50 {f['p50']:.1f} ms   p99 {f['p99']:.1f} ms"
            + (f"  (target < {TARGET_P99_MS:.0f} ms: {'ok' if p99_ok else 'OVER'})" if target else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
