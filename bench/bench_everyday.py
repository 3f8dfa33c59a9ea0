"""How fast the everyday commands are on a big store: what operators and cron run every day.

It builds (once: cached under ``bench/out/``, built anew after a migration) a SQLite store of 1,000,000
payment requests over the past year with about 1,500,000 gateway responses (each with its message),
orders with several attempts, a few % VERIFICARE, orphans, quarantined records, deliveries of
``paycli serve``, resolutions and settlement lines, written with plain SQL into a schema paycli
created; then ``paycli recompute`` gives every request its outcome. Then it runs, as whole processes
timed from outside with their peak memory read by ``/usr/bin/time``:

    paycli list --outcome VERIFICARE --limit 50 (and other filters, --format json/csv, no limit)
    paycli show TXN / paycli order ID / paycli messages / paycli resolve (and --undo)
    paycli report for a day and for a month / paycli recompute / paycli db status
    paycli ingest of a small file into the big store, then 200 callbacks through paycli serve

and prints each with its target (interactive commands under 1 s, any command under 300 MB) and the
load average. It never fails on a time (exit 0 unless a command fails). ``bench/README.md`` says more.

    .venv/bin/python bench/bench_everyday.py                        # 1,000,000 requests
    .venv/bin/python bench/bench_everyday.py --requests 100000      # a quick run
    pg_virtualenv -v 15 .venv/bin/python bench/bench_everyday.py --postgresql --requests 200000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PAYCLI = Path(sys.executable).parent / "paycli"
GATEWAYS = ("nexi", "stripe", "paypal", "skrill", "axerve")
GATEWAY_WEIGHTS = (35, 25, 20, 8, 12)
CURRENCIES = ("EUR", "USD", "GBP", "JPY")
CURRENCY_WEIGHTS = (85, 7, 5, 3)
FIRST = ("Mario", "Giulia", "Luca", "Sara", "Marco", "Anna", "Paolo", "Chiara", "Davide", "Elena", "Niccolò")
LAST = ("Rossi", "Bianchi", "Esposito", "Ricci", "Greco", "Conti", "Galli", "Villa", "Fabbri", "Riva")
# the trail of a request: the statuses of its responses, in order, and how often it happens (per 1,000)
TRAILS = (
    ((), 15),  # no response: VERIFICARE
    (("approved",), 220),
    (("refused",), 100),
    (("pending", "approved"), 460),
    (("pending", "refused"), 160),
    (("pending",), 20),  # VERIFICARE
    (("approved", "refused"), 25),  # conflicting: VERIFICARE
)
INTERACTIVE = 1.0  # seconds: show, order, resolve, list with a limit
MEMORY = 300  # MB of peak resident memory, any command


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def db_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class Builder:
    """Writes the synthetic shop straight into the store's tables (sqlite3, no paycli)."""

    def __init__(self, db: Path, total: int, seed: int, now: datetime) -> None:
        self.total = total
        self.rng = random.Random(seed)
        self.now = now
        self.conn = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA cache_size = -262144")
        self.trails = [t for t, _ in TRAILS]
        self.weights = [w for _, w in TRAILS]
        self.message_id = 0
        self.response_id = 0
        self.picks: dict[str, str] = {}

    def message(
        self, provider: str, raw: bytes, at: str, state: str, reference: str | None, **more: object
    ) -> tuple:
        self.message_id += 1
        return (
            self.message_id,
            hashlib.sha256(raw).hexdigest(),
            provider,
            more.get("source", f"callbacks/{provider}-{self.message_id}.txt"),
            more.get("line"),
            at,
            raw,
            state,
            more.get("error"),
            reference,
            more.get("request_id"),
            more.get("response_id"),
        )

    def build(self) -> dict[str, int]:
        rng = self.rng
        conn = self.conn
        start = self.now - timedelta(days=365)
        span = (self.now - timedelta(minutes=30) - start).total_seconds()
        q_sql = (
            "INSERT INTO payment_request (id, txn_id, order_id, kind, created_at, customer, email, search_text, "
            "amount_minor, currency, gateway, source, registered_at, outcome, response_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'VERIFICARE', 0)"
        )
        r_sql = (
            "INSERT INTO response (id, identity, request_id, reference, provider, dedupe_key, status, raw_status, "
            "amount_minor, currency, gateway_txn_id, authenticity, occurred_at, received_at, deliveries) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?)"
        )
        m_sql = (
            "INSERT INTO message (id, digest, provider, source, line, received_at, raw, state, error, reference, "
            "request_id, response_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        d_sql = (
            "INSERT INTO delivery (received_at, provider, method, path, remote_addr, headers, body_bytes, "
            "message_digest, result, duplicate, status) VALUES (?, ?, 'POST', ?, '10.0.0.7', '{}', ?, ?, "
            "'response', ?, 200)"
        )
        s_sql = (
            "INSERT INTO settlement (message_id, provider, kind, gateway_txn_id, reference, gross_minor, fee_minor, "
            "net_minor, currency, occurred_at, line_id) VALUES (?, ?, 'charge', ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        requests: list[tuple] = []
        responses: list[tuple] = []
        messages: list[tuple] = []
        deliveries: list[tuple] = []
        settlements: list[tuple] = []
        resolutions: list[tuple] = []
        counts = dict.fromkeys(
            ("requests", "responses", "messages", "deliveries", "settlements", "resolutions"), 0
        )
        order = attempts_left = attempt = 0
        customer = email = currency = gateway = kind = ""
        minor = 0
        conn.execute("BEGIN")

        def flush() -> None:
            conn.executemany(q_sql, requests)
            conn.executemany(m_sql, messages)
            conn.executemany(r_sql, responses)
            conn.executemany(d_sql, deliveries)
            conn.executemany(s_sql, settlements)
            conn.executemany(
                "INSERT INTO resolution (request_id, outcome, note, actor, created_at, previous_outcome, previous_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                resolutions,
            )
            for name, rows in (
                ("requests", requests),
                ("responses", responses),
                ("messages", messages),
                ("deliveries", deliveries),
                ("settlements", settlements),
                ("resolutions", resolutions),
            ):
                counts[name] += len(rows)
                rows.clear()

        for n in range(1, self.total + 1):
            at = start + timedelta(seconds=span * n / self.total)
            if attempts_left == 0:
                order += 1
                attempts_left = rng.choices((1, 2, 3), (80, 15, 5))[0]
                attempt = 0
                kind = rng.choices(("order", "deposit", "other"), (90, 7, 3))[0]
                customer = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                email = f"c{rng.randint(1, 50_000)}@example.com"
                currency = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
                gateway = rng.choices(GATEWAYS, GATEWAY_WEIGHTS)[0]
                minor = rng.randint(500, 150_000)
                minor = minor // 100 if currency == "JPY" else minor
            attempt += 1
            attempts_left -= 1
            if kind == "order":
                txn_id, order_id = f"ORD-{order}-{attempt}", f"ORD-{order}"
            else:
                txn_id, order_id = f"{'DEP' if kind == 'deposit' else 'PAY'}-{order}-{attempt}", None
            created = db_text(at)
            requests.append(
                (
                    n,
                    txn_id,
                    order_id,
                    kind,
                    created,
                    customer,
                    email,
                    f"{customer} {email}".casefold(),
                    minor,
                    currency,
                    gateway,
                    f"requests.csv:{n + 1}",
                    created,
                )
            )
            trail = (
                self.trails[0]
                if attempts_left and rng.random() < 0.1
                else rng.choices(self.trails, self.weights)[0]
            )
            if attempts_left and trail and trail[-1] == "approved":
                trail = ("refused",)  # an attempt followed by a retry did not take the money
            for k, status in enumerate(trail):
                self.response_id += 1
                when = db_text(at + timedelta(seconds=20 + 60 * k))
                raw = f"{gateway}&codTrans={txn_id}&esito={status}&importo={minor}&divisa={currency}&n={k}".encode()
                msg = self.message(
                    gateway, raw, when, "response", txn_id, request_id=n, response_id=self.response_id
                )
                messages.append(msg)
                responses.append(
                    (
                        self.response_id,
                        msg[1],
                        n,
                        txn_id,
                        gateway,
                        f"{gateway}-{txn_id}-{k}",
                        status,
                        status.upper(),
                        minor,
                        currency,
                        f"g-{txn_id}",
                        when,
                        when,
                        1,
                    )
                )
                if rng.random() < 0.1:
                    deliveries.append((when, gateway, f"/callback/{gateway}", len(raw), msg[1], 0))
            if trail and trail[-1] == "approved" and gateway in ("stripe", "paypal") and rng.random() < 0.9:
                raw = f"{gateway},{txn_id},charge,{minor}".encode()
                when = db_text(at + timedelta(days=2))
                msg = self.message(
                    gateway, raw, when, "settlement", txn_id, request_id=n, source="stl.csv", line=n
                )
                messages.append(msg)
                fee = max(1, minor // 35)
                settlements.append(
                    (
                        msg[0],
                        gateway,
                        f"g-{txn_id}",
                        txn_id,
                        minor,
                        fee,
                        minor - fee,
                        currency,
                        when,
                        f"l-{txn_id}",
                    )
                )
            if trail == ("pending",) and rng.random() < 0.3:
                resolutions.append(
                    (
                        n,
                        "POSITIVO",
                        "bench: seen in the back office",
                        "anna",
                        db_text(at + timedelta(days=1)),
                        "VERIFICARE",
                        "PENDING",
                    )
                )
            if n % 500 == 0:  # an orphan, and a quarantined record
                when = db_text(at)
                raw = f"{gateway}&codTrans=LOST-{n}&esito=approved".encode()
                self.response_id += 1
                msg = self.message(gateway, raw, when, "response", f"LOST-{n}", response_id=self.response_id)
                messages.append(msg)
                responses.append(
                    (
                        self.response_id,
                        msg[1],
                        None,
                        f"LOST-{n}",
                        gateway,
                        f"lost-{n}",
                        "approved",
                        "OK",
                        1000,
                        "EUR",
                        f"gl-{n}",
                        when,
                        when,
                        1,
                    )
                )
                raw = f"{gateway}&garbage={n}".encode()
                messages.append(
                    self.message(gateway, raw, when, "quarantined", None, error="no codTrans field")
                )
            if (
                n == self.total // 2
                and "order" not in self.picks
                and order_id
                and attempts_left == 0
                and attempt >= 2
            ):
                pass
            if order_id and attempt == 3 and len(trail) == 2:
                self.picks["order"] = order_id
                self.picks["show"] = txn_id
            if trail == ("pending",):
                self.picks["resolve"] = txn_id
            if len(requests) >= 20_000:
                flush()
                if n % 200_000 == 0:
                    progress(f"  {n:,} requests")
        flush()
        conn.execute("COMMIT")
        return counts

    def close(self) -> None:
        # no ANALYZE: paycli never runs it, so the query plans are those of a store ingest made
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


def build(path: Path, total: int, seed: int) -> None:
    from paycli.store import Store

    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    Store.open(f"sqlite:///{tmp}", create=True).close()  # paycli's own schema, at its newest revision
    started = time.perf_counter()
    progress(f"building {path.name}: {total:,} requests")
    builder = Builder(tmp, total, seed, datetime.now(UTC).replace(microsecond=0))
    counts = builder.build()
    builder.close()
    path.with_suffix(".json").write_text(json.dumps({"counts": counts, "picks": builder.picks}))
    os.replace(tmp, path)
    progress(
        f"built in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
    )


# -- PostgreSQL: the SQLite store copied in ------------------------------------------------------------
TABLES = (
    "payment_request",
    "response",
    "message",
    "delivery",
    "settlement",
    "resolution",
)  # referenced first


def copy_to_postgresql(db: Path, url: str) -> None:
    """Every row of the built SQLite store into an empty PostgreSQL store at paycli's schema (COPY)."""
    import psycopg

    from paycli.store import Store

    Store.open(url, create=True).close()
    source = sqlite3.connect(db)
    with psycopg.connect("", autocommit=False) as conn:
        for table in TABLES:
            names = [r[1] for r in source.execute(f"PRAGMA table_info({table})")]
            started = time.perf_counter()
            with conn.cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {', '.join(names)} FROM {table}"):
                    copy.write_row(row)
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
            progress(f"  {table} copied in {time.perf_counter() - started:.0f} s")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a loaded database soon after
    source.close()


# -- the runs --------------------------------------------------------------------------------------------
def day_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def last_month() -> str:
    first = datetime.now(UTC).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def commands(picks: dict[str, str]) -> list[tuple[str, list[str], bool]]:
    """(figure, arguments, interactive) of what is timed, in order; the writes last but for recompute."""
    return [
        ("db status", ["db", "status"], True),
        ("list --outcome VERIFICARE --limit 50", ["list", "--outcome", "VERIFICARE", "--limit", "50"], True),
        (
            "list -o VERIFICARE -o NEGATIVO --limit 50 -f json",
            ["list", "-o", "VERIFICARE", "-o", "NEGATIVO", "--limit", "50", "-f", "json"],
            True,
        ),
        ("list --reason PENDING --limit 50", ["list", "--reason", "PENDING", "--limit", "50"], True),
        (
            "list --gateway nexi --since 7d --limit 50",
            ["list", "--gateway", "nexi", "--since", "7d", "--limit", "50"],
            True,
        ),
        ("list --customer rossi --since 7d", ["list", "--customer", "rossi", "--since", "7d"], True),
        (f"list --order {picks['order']}", ["list", "--order", picks["order"]], True),
        ("show TXN", ["show", picks["show"]], True),
        ("show TXN --raw -f json", ["show", picks["show"], "--raw", "-f", "json"], True),
        ("order ID", ["order", picks["order"]], True),
        ("show of an unknown id (the hints)", ["show", "NO-SUCH-1"], True),
        ("messages", ["messages"], True),
        ("messages --state orphan --limit 50", ["messages", "--state", "orphan", "--limit", "50"], True),
        ("messages --state response --limit 50", ["messages", "--state", "response", "--limit", "50"], True),
        ("list --outcome VERIFICARE (table, all)", ["list", "--outcome", "VERIFICARE"], False),
        ("list --outcome VERIFICARE -f json (all)", ["list", "--outcome", "VERIFICARE", "-f", "json"], False),
        ("list --outcome POSITIVO -f csv (all)", ["list", "--outcome", "POSITIVO", "-f", "csv"], False),
        ("list --since 30d -f ndjson", ["list", "--since", "30d", "-f", "ndjson"], False),
        (f"report --date {day_ago(10)}", ["report", "--date", day_ago(10), "--out", "reports/", "-q"], False),
        (
            f"report --period {last_month()}",
            ["report", "--period", last_month(), "--out", "reports/", "-q"],
            False,
        ),
        ("recompute (every request, nothing changes)", ["recompute"], False),
    ]


def writes(picks: dict[str, str]) -> list[tuple[str, list[str], bool]]:
    note = ["--note", "bench: seen in the back office", "--by", "bench"]
    return [
        ("resolve TXN --as POSITIVO", ["resolve", picks["resolve"], "--as", "POSITIVO", *note], True),
        ("resolve TXN --undo", ["resolve", picks["resolve"], "--undo", *note], True),
        ("ingest requests.csv (200 new requests)", ["ingest", "new-requests.csv"], False),
    ]


def serve_callbacks(work: Path, env: dict[str, str], count: int) -> dict[str, float]:
    """``paycli serve`` on the big store: ``count`` signed Nexi callbacks, one at a time, for the requests
    the small ingest added; latencies, and the server's peak memory (VmHWM)."""
    import http.client
    import socket

    from bench_serve import FORM, callback, free_port

    port = free_port()
    server = subprocess.Popen(
        [str(PAYCLI), "serve", "--port", str(port), "--threads", "4"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "serve.log").open("wb"),
    )
    latencies = []
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for n in range(count):
            started = time.perf_counter()
            conn.request("POST", "/callbacks/nexi", callback(n), {"Content-Type": FORM})
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                raise SystemExit(f"bench: callback {n} answered {reply.status}")
            latencies.append((time.perf_counter() - started) * 1000)
        conn.close()
        status = Path(f"/proc/{server.pid}/status")
        hwm = next(
            (int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM")), 0
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    return {
        "min": latencies[0],
        "p50": latencies[len(latencies) // 2],
        "max": latencies[-1],
        "rss": hwm / 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the everyday commands on a big store (whole processes)."
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each interactive command (median)")
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="copy the store into the PostgreSQL that libpq's PG* variables name (pg_virtualenv) and time that",
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from bench_gateways import StepFailed, run
    from bench_serve import CONFIG, requests_csv

    from paycli.migrations import HEAD

    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    store = out / f"everyday-n{args.requests}-s{args.seed}.db"
    if args.build_only:
        build(store, args.requests, args.seed)
        return 0
    if store.exists():
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        conn.close()
        if found != HEAD:
            progress(f"{store.name} is at schema {found}, paycli at {HEAD}: built anew")
            store.unlink()
    work = out / f"everyday-run-{'pg' if args.postgresql else 'sqlite'}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    fresh = not store.exists()
    if fresh:  # in a child process: the builder's memory is not this one's
        subprocess.run([sys.executable, __file__, "--build-only", *(argv or sys.argv[1:])], check=True)
    picks = json.loads(store.with_suffix(".json").read_text())["picks"]
    if args.postgresql:
        url = "postgresql+psycopg://"
        db = work / "store.db"
        shutil.copyfile(store, db)
        copy_to_postgresql(db, url)
    else:
        db = work / "store.db"
        shutil.copyfile(store, db)  # the writes below (recompute, resolve, ingest) leave the cache as built
        url = f"sqlite:///{db}"
    # lifecycle: a pending response followed by its approval is paid (most trails here)
    # the report's lock in the work folder: not that of another paycli report on the machine
    lock = work / "report.lock"
    (work / "paycli.yaml").write_text(
        f"database: {url}\npolicy: lifecycle\nreport:\n  lock_file: {lock}\n{CONFIG}"
    )
    (work / "new-requests.csv").write_text(requests_csv(200))
    from bench_store import child_env

    env = child_env(work)
    paycli = str(PAYCLI)
    load = os.getloadavg()
    print(
        f"paycli's everyday commands on {args.requests:,} requests ({'PostgreSQL' if args.postgresql else 'SQLite'}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start)",
        flush=True,
    )
    counts = json.loads(store.with_suffix(".json").read_text())["counts"]
    print("  " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    if not args.postgresql:
        print(f"  store {db.stat().st_size / 1e9:.2f} GB")
    failed = 0
    first = run([paycli, "recompute"], work, "recompute")  # every outcome, under the configured rule
    print(
        f"  {'recompute (the first: the outcomes of the build)':<52} {first.seconds:7.2f} s  cpu {first.cpu:6.2f} s  {first.peak_rss / 1e6:5.0f} MB"
    )
    for name, cmd, interactive in [*commands(picks), *writes(picks)]:
        try:
            runs = [
                run([paycli, *cmd], work, name, ok_codes=(0, 1, 3))
                for _ in range(args.repeat if interactive else 1)
            ]
        except StepFailed as exc:
            print(f"  {name:<52} FAILED: {exc}")
            failed += 1
            continue
        seconds = statistics.median(r.seconds for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        peak = max(r.peak_rss for r in runs) / 1e6
        verdict = [f"exit {runs[-1].returncode}"] if runs[-1].returncode else []
        if interactive:
            verdict.append("ok" if seconds < INTERACTIVE else f"OVER {INTERACTIVE:.0f} s")
        verdict.append("ok" if peak < MEMORY else f"OVER {MEMORY} MB")
        print(
            f"  {name:<52} {seconds:7.2f} s  cpu {cpu:6.2f} s  {peak:5.0f} MB  "
            f"out {len(runs[-1].stdout) / 1e6:6.2f} MB  {' '.join(verdict)}",
            flush=True,
        )
    served = serve_callbacks(work, env, 200)
    print(
        f"  {'serve: 200 Nexi callbacks one after another':<52} min {served['min']:6.1f} ms  p50 {served['p50']:6.1f} ms  max {served['max']:6.1f} ms  "
        f"server peak {served['rss']:.0f} MB"
    )
    helps = [run([paycli, "--help"], work, "--help") for _ in range(args.repeat)]
    print(
        f"  {'paycli --help (start-up alone, for scale)':<52} {statistics.median(r.seconds for r in helps):7.2f} s  cpu {statistics.median(r.cpu for r in helps):6.2f} s"
    )
    load = os.getloadavg()
    print(f"  load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
