"""How fast ``paycli report`` is on a big store: the report benchmark of ``make bench``.

It builds (once: the store is cached under ``bench/out/``) a SQLite store of 2,000,000 payment requests
over the past year, 100,000 of them on the report day, 2026-11-26 (Europe/Rome), with the day's
gateway responses, orphans, resolutions, order retries (paid twice, never paid, paid after a failed attempt)
and a day of settlement lines for the stripe and paypal requests (matched, amount differs, settled but
unknown, approved but not settled, refunds, fees). Rows go straight in with ``sqlite3`` into a store
whose schema paycli created: building 2,000,000 requests through ``paycli ingest`` would take minutes
and is ``bench_store.py``'s subject, not this one's.

Then it runs ``paycli report --date 2026-11-26 --format html,csv`` as a whole process (what cron waits
for: start-up, imports, configuration, queries, rendering, writing), once untimed (bytecode and page
cache) and ``--repeat`` times timed, and reads the peak resident memory of those processes from
``resource.getrusage(RUSAGE_CHILDREN)``. Targets (2-core machine): under 5 s, under 500 MB. Each figure
is marked ``ok`` or ``OVER``; the benchmark exits 0 unless a step fails.

    .venv/bin/python bench/bench_report.py                          # 2,000,000 requests, day of 100,000
    .venv/bin/python bench/bench_report.py --requests 200000 --day 10000   # a quick run
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
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
PAYCLI = Path(sys.executable).parent / "paycli"
ROME = ZoneInfo("Europe/Rome")
DAY = date(2026, 11, 26)
NOW = "2026-11-27T07:30:00+01:00"
TIME_TARGET = 5.0  # seconds, HTML and CSV together, whole process
MEMORY_TARGET = 500  # MB of peak resident memory

GATEWAYS = ("nexi", "stripe", "paypal", "skrill", "axerve")
GATEWAY_WEIGHTS = (35, 25, 20, 8, 12)
CURRENCIES = ("EUR", "USD", "GBP", "JPY")
CURRENCY_WEIGHTS = (85, 7, 5, 3)
FIRST = (
    "Mario",
    "Giulia",
    "Luca",
    "Sara",
    "Marco",
    "Anna",
    "Paolo",
    "Chiara",
    "Davide",
    "Elena",
    "Niccolò",
    "Federica",
    "Ivan",
    "Tanaka",
    "James",
)
LAST = (
    "Rossi",
    "Bianchi",
    "Esposito",
    "Ricci",
    "Greco",
    "Conti",
    "Galli",
    "Villa",
    "Fabbri",
    "Riva",
    "Petrov",
    "Hiroshi",
    "O'Neill",
    "Marchetti",
)
# a few customers that a report must escape (HTML) or neutralise (CSV)
HOSTILE = ("<script>alert(1)</script>", '=HYPERLINK("http://x")', "+39 Impresa & Figli", "@home <b>srl</b>")
REASONS = (
    ("NO_RESPONSE", None),
    ("MULTIPLE_RESPONSES", "conflicting"),
    ("MULTIPLE_RESPONSES", "double_charge"),
    ("PENDING", None),
    ("AMOUNT_MISMATCH", "expected=12990 EUR got=1299 EUR"),
    ("BAD_SIGNATURE", None),
)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def db_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=ROME).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=ROME).astimezone(UTC)
    return start, end


def amount(rng: random.Random, currency: str) -> int:
    minor = rng.randint(500, 150_000)
    return minor // 100 if currency == "JPY" else minor


class Builder:
    """Writes the synthetic shop straight into the store's tables."""

    def __init__(self, db: Path, total: int, on_day: int, seed: int) -> None:
        self.db = db
        self.total = total
        self.on_day = on_day
        self.rng = random.Random(seed)
        self.conn = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA cache_size = -262144")
        self.registered = db_text(datetime(2026, 11, 27, 6, 0, tzinfo=UTC))
        self.next_message = 1

    def times(self) -> Iterator[tuple[datetime, bool]]:
        """created_at of every request in time order; True for the report day's."""
        day_start, day_end = day_bounds(DAY)
        year_start = day_start - timedelta(days=365)
        before = self.total - self.on_day
        span = (day_start - year_start).total_seconds()
        for i in range(before):
            yield year_start + timedelta(seconds=span * i / before), False
        span = (day_end - day_start).total_seconds()
        for i in range(self.on_day):
            yield day_start + timedelta(seconds=span * (i + 0.5) / self.on_day), True

    def requests(self) -> list[tuple[int, str, str, int, str, str, str | None, str | None]]:
        """Inserts every request; returns the report day's (id, txn_id, gateway, minor, currency, outcome,
        reason, created) for the responses and settlement lines."""
        rng = self.rng
        day_rows = []
        batch: list[tuple[object, ...]] = []
        order = 0
        attempt_left = 0
        sql = (
            "INSERT INTO payment_request (id, txn_id, order_id, kind, created_at, customer, email, search_text, "
            "amount_minor, currency, gateway, source, registered_at, updated_at, outcome, reason, detail, "
            "response_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)"
        )
        self.conn.execute("BEGIN")
        customer = email = currency = gateway = ""
        minor = 0
        for n, (at, on_day) in enumerate(self.times(), start=1):
            if attempt_left == 0:
                order += 1
                attempt_left = rng.choices((1, 2, 3), (80, 15, 5))[0]
                attempt = 0
                if rng.random() < 0.0005:
                    customer = rng.choice(HOSTILE)
                else:
                    customer = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                email = f"c{rng.randint(1, 50_000)}@example.com"
                currency = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
                gateway = rng.choices(GATEWAYS, GATEWAY_WEIGHTS)[0]
                minor = amount(rng, currency)
            attempt += 1
            attempt_left -= 1
            roll = rng.random()
            if attempt_left > 0:  # an attempt followed by a retry: mostly refused
                outcome = "NEGATIVO" if roll < 0.85 else ("POSITIVO" if roll < 0.95 else "VERIFICARE")
            else:
                outcome = "POSITIVO" if roll < 0.78 else ("NEGATIVO" if roll < 0.90 else "VERIFICARE")
            reason = detail = None
            responses = 1
            if outcome == "VERIFICARE":
                reason, detail = rng.choice(REASONS)
                responses = 0 if reason == "NO_RESPONSE" else (2 if reason == "MULTIPLE_RESPONSES" else 1)
            txn_id = f"ORD-{order}-{attempt}"
            created = db_text(at)
            batch.append(
                (
                    n,
                    txn_id,
                    f"ORD-{order}",
                    "order",
                    created,
                    customer,
                    email,
                    f"{customer} {email}".casefold(),
                    minor,
                    currency,
                    gateway,
                    f"requests.csv:{n}",
                    self.registered,
                    outcome,
                    reason,
                    detail,
                    responses,
                )
            )
            if on_day:
                day_rows.append((n, txn_id, gateway, minor, currency, outcome, reason, created))
            if len(batch) >= 50_000:
                self.conn.executemany(sql, batch)
                batch.clear()
                if n % 500_000 < 50_000:
                    progress(f"  {n:,} requests")
        self.conn.executemany(sql, batch)
        self.conn.execute("COMMIT")
        return day_rows

    def message(
        self, provider: str, raw: bytes, state: str, reference: str | None, request_id: int | None
    ) -> tuple[object, ...]:
        mid = self.next_message
        self.next_message += 1
        return (
            mid,
            hashlib.sha256(raw).hexdigest(),
            provider,
            "bench",
            mid,
            self.registered,
            raw,
            state,
            reference,
            request_id,
        )

    def gateway_traffic(self, day_rows: list[tuple[int, str, str, int, str, str, str | None, str]]) -> int:
        """Responses of the day's requests, orphans, resolutions, and the day's settlement lines."""
        rng = self.rng
        responses: list[tuple[object, ...]] = []
        settlements: list[tuple[object, ...]] = []
        resolutions: list[tuple[object, ...]] = []
        rid = 0
        for n, txn_id, gateway, minor, currency, outcome, reason, created in day_rows:
            count = 0 if reason == "NO_RESPONSE" else (2 if reason == "MULTIPLE_RESPONSES" else 1)
            status = {"POSITIVO": "approved", "NEGATIVO": "refused"}.get(outcome, "pending")
            for k in range(count):
                rid += 1
                responses.append(
                    (
                        rid,
                        f"id-{txn_id}-{k}",
                        n,
                        txn_id,
                        gateway,
                        f"{txn_id}-{k}",
                        status,
                        status,
                        minor,
                        currency,
                        f"g-{txn_id}",
                        "valid",
                        created,
                        created,
                        1,
                    )
                )
            if outcome == "POSITIVO" and gateway in ("stripe", "paypal") and rng.random() > 0.005:
                gross = minor if rng.random() > 0.01 else minor - 1
                fee = max(1, gross // 35)
                raw = f"{gateway},{txn_id},charge,{gross}".encode()
                settlements.append(
                    (
                        self.message(gateway, raw, "settlement", txn_id, n),
                        gateway,
                        "charge",
                        f"g-{txn_id}",
                        None,
                        txn_id,
                        gross,
                        fee,
                        gross - fee,
                        currency,
                        created,
                        f"l-{txn_id}",
                    )
                )
                if rng.random() < 0.01:
                    raw = f"{gateway},{txn_id},refund,{gross}".encode()
                    settlements.append(
                        (
                            self.message(gateway, raw, "settlement", txn_id, n),
                            gateway,
                            "refund",
                            f"r-{txn_id}",
                            f"g-{txn_id}",
                            txn_id,
                            -gross,
                            0,
                            -gross,
                            currency,
                            created,
                            f"lr-{txn_id}",
                        )
                    )
            if outcome != "POSITIVO" and rng.random() < 0.002:
                resolutions.append(
                    (n, "NEGATIVO", "bench: checked on the back office", "anna", created, outcome, reason)
                )
        start, _ = day_bounds(DAY)
        for i in range(500):  # unknown charges and fee lines, orphans
            at = db_text(start + timedelta(minutes=2 * i + 1))
            gateway = ("stripe", "paypal")[i % 2]
            raw = f"{gateway},unknown,{i}".encode()
            settlements.append(
                (
                    self.message(gateway, raw, "settlement", f"ZZ-{i}", None),
                    gateway,
                    "charge" if i % 5 else "fee",
                    f"gz-{i}",
                    None,
                    f"ZZ-{i}" if i % 5 else None,
                    1000,
                    30,
                    970,
                    "EUR",
                    at,
                    f"lz-{i}",
                )
            )
            rid += 1
            responses.append(
                (
                    rid,
                    f"orphan-{i}",
                    None,
                    f"ORPH-{i}",
                    "nexi",
                    f"orphan-{i}",
                    "approved",
                    "OK",
                    1000,
                    "EUR",
                    f"go-{i}",
                    "valid",
                    at,
                    at,
                    1,
                )
            )
        msg_rows = [s[0] for s in settlements]
        self.conn.execute("BEGIN")
        self.conn.executemany(
            "INSERT INTO message (id, digest, provider, source, line, received_at, raw, state, reference, request_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            msg_rows,
        )
        self.conn.executemany(
            "INSERT INTO response (id, identity, request_id, reference, provider, dedupe_key, status, raw_status, "
            "amount_minor, currency, gateway_txn_id, authenticity, occurred_at, received_at, deliveries) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            responses,
        )
        self.conn.executemany(
            "INSERT INTO settlement (message_id, provider, kind, gateway_txn_id, parent_txn_id, reference, "
            "gross_minor, fee_minor, net_minor, currency, occurred_at, line_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(s[0][0], *s[1:]) for s in settlements],
        )
        self.conn.executemany(
            "INSERT INTO resolution (request_id, outcome, note, actor, created_at, previous_outcome, previous_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            resolutions,
        )
        self.conn.execute("COMMIT")
        return len(settlements)

    def close(self) -> None:
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


def _schema(path: Path) -> str | None:
    """The schema revision of a cached store (read only: sqlite3 opens it as a URI with mode=ro)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def build(path: Path, total: int, on_day: int, seed: int) -> None:
    from paycli.store import Store

    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    Store.open(f"sqlite:///{tmp}", create=True).close()  # paycli's own schema, at its newest revision
    started = time.perf_counter()
    builder = Builder(tmp, total, on_day, seed)
    progress(f"building {path.name}: {total:,} requests, {on_day:,} on {DAY}")
    day_rows = builder.requests()
    lines = builder.gateway_traffic(day_rows)
    builder.close()
    os.replace(tmp, path)
    progress(f"built in {time.perf_counter() - started:.0f} s ({lines:,} settlement lines on the day)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time paycli report on a big store (whole processes).")
    parser.add_argument("--requests", type=int, default=2_000_000)
    parser.add_argument("--day", type=int, default=100_000, help="requests on the report day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    store = out / f"report-store-n{args.requests}-d{args.day}-s{args.seed}.db"
    if args.build_only:
        build(store, args.requests, args.day, args.seed)
        return 0
    from paycli.migrations import HEAD

    if store.exists() and (found := _schema(store)) != HEAD:
        # built by an older paycli: a migration came since; the data is synthetic, so built anew
        progress(f"{store.relative_to(BENCH.parent)} is at schema {found}, paycli at {HEAD}: built anew")
        store.unlink()
    if not store.exists():
        # in a child process: the builder's lists must not stay in this process (see the helper below)
        build_argv = [sys.executable, __file__, "--build-only", *(argv or sys.argv[1:])]
        subprocess.run(build_argv, check=True)
    else:
        progress(f"reusing {store.relative_to(BENCH.parent)} (delete it to build anew)")
    work = out / "report-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "paycli.yaml").write_text(f"database: sqlite:///{store}\ntimezone: Europe/Rome\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "PAYCLI_CONFIG", "PAYCLI_DB")
    }
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    argv_report = [
        str(PAYCLI),
        "report",
        "--date",
        DAY.isoformat(),
        "--format",
        "html,csv",
        "--out",
        "reports/",
        "--now",
        NOW,
        "--quiet",
    ]
    # The runs are made by a small helper process, whose children are only the paycli runs: measured from
    # this process, a child's peak memory would include this process's own (fork copies it before exec).
    helper = (
        "import json, resource, subprocess, sys, time\n"
        "argv, cwd, repeat = json.loads(sys.argv[1])\n"
        "seconds = []\n"
        "for n in range(repeat + 1):\n"
        "    started = time.perf_counter()\n"
        "    done = subprocess.run(argv, cwd=cwd, capture_output=True)\n"
        "    if done.returncode:\n"
        "        sys.stderr.write(done.stderr.decode(errors='replace')); sys.exit(done.returncode)\n"
        "    if n: seconds.append(time.perf_counter() - started)\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([seconds, usage.ru_maxrss, (usage.ru_utime + usage.ru_stime) / (repeat + 1)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", helper, json.dumps([argv_report, str(work), args.repeat])],
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace"))
        raise SystemExit(f"bench: paycli report failed with exit code {done.returncode}")
    seconds, peak_kib, cpu = json.loads(done.stdout)
    peak_mb = peak_kib / 1024  # ru_maxrss is in KiB on Linux
    html = work / "reports" / f"paycli-report-{DAY}.html"
    csv_file = work / "reports" / f"paycli-report-{DAY}.csv"
    median = statistics.median(seconds)
    print(
        f"paycli report on {args.requests:,} requests, {args.day:,} on {DAY} ({os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]})"
    )
    print(f"  store                     {store.stat().st_size / 1e9:.2f} GB")
    print(
        f"  report html+csv           min {min(seconds):.2f} s  median {median:.2f} s   target < {TIME_TARGET:.0f} s   "
        f"{'ok' if median < TIME_TARGET else 'OVER'}"
    )
    print(f"  CPU of one run            {cpu:.2f} s (user + system: the wall time also waits for other work)")
    print(
        f"  peak memory (RSS)         {peak_mb:.0f} MB   target < {MEMORY_TARGET} MB   "
        f"{'ok' if peak_mb < MEMORY_TARGET else 'OVER'}"
    )
    print(
        f"  files                     html {html.stat().st_size / 1e6:.1f} MB, csv {csv_file.stat().st_size / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
