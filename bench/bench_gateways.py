"""How fast paycli reads gateway messages: a bank's CSV export and a folder of Nexi callbacks.

The issue's targets, on a 2-core machine: a 1,000,000-record gateway CSV export ingested into SQLite
at 50,000 records/s or more, within 3x of a plain ``sqlite3`` ``executemany`` of the same normalised
rows in the same run, and a peak RSS under 300 MB whatever the file size (stream, batch, never load a
file whole). The benchmark writes, seeded:

- ``export.csv``: a bank's export of card payments in the shape ``paycli.yaml`` describes for
  ``gateways: mybank: provider: csv`` (``;`` delimiter, decimal comma with ``.`` grouping, dd/mm/yyyy
  dates in Italian time, the bank's status words, the request's txn_id in ``Rif. esercente``, a few
  fee rows without one), and ``requests.csv``, the shop's requests those rows answer;
- ``callbacks/``: Nexi XPay urlpost bodies in one folder, signed with the configured MAC key, about
  10% of them redeliveries (the same bytes again, or the browser's return to the shop as an HTTP
  dump), and ``callbacks-requests.csv``, the requests they answer.

Each part gets its own store. The request file is ingested first (timed apart: set-up, so that the
responses link and outcomes are computed as in life), then the figure: ``paycli ingest export.csv``
and ``paycli ingest callbacks/``, one whole process each (``subprocess`` from outside: start-up,
imports and configuration included), records per second and the child's peak RSS
(``ru_maxrss``, measured by ``/usr/bin/time`` between the two: see ``run``). The baseline, in the same run,
is this script's own ``--plain`` mode in a fresh process: ``csv`` and ``sqlite3`` only, it normalises
each export row as paycli does (amount in minor units, the date as UTC text, the status word as
paycli's status, paycli's default dedupe key and response identity) and ``executemany``'s them into a
table with the DDL of paycli's ``response`` table (copied from the store), committing every
``batch_size`` rows. The stored responses are then compared column by column, and the outcomes
paycli computed are checked against what was generated.

Every figure is marked ``ok`` or ``OVER``; the benchmark never fails on a time (exit 0 unless a step
crashes, then 1).

    .venv/bin/python bench/bench_gateways.py                                   # the full run
    .venv/bin/python bench/bench_gateways.py --records 20000 --callbacks 5000  # a quick one
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import random
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

# Only the standard library at module level: the ``--plain`` baseline runs this file in a fresh
# process, and its start-up must not pay for paycli's imports.

BENCH = Path(__file__).resolve().parent
PAYCLI = Path(sys.executable).parent / "paycli"
TIMEZONE = "Europe/Rome"
ROME = ZoneInfo(TIMEZONE)

CSV_RATE_TARGET = 50_000  # records/s, paycli ingest of the export on SQLite, 2-core machine
RATIO_TARGET = 3.0  # paycli ingest time / plain executemany time
RSS_TARGET = 300e6  # bytes, peak RSS of any ingest, whatever the file size

# -- the bank export, as paycli.yaml describes it ----------------------------------------------------
GATEWAY = "mybank"
DELIMITER = ";"
DATE_FORMAT = "%d/%m/%Y %H:%M:%S"
HEADER = (
    "Data operazione",
    "ID operazione",
    "Rif. esercente",
    "Importo",
    "Divisa",
    "Esito",
    "Circuito",
    "Carta",
    "Terminale",
)
COLUMNS = {  # paycli field -> export column
    "reference": "Rif. esercente",
    "amount": "Importo",
    "currency": "Divisa",
    "status": "Esito",
    "date": "Data operazione",
    "gateway_txn_id": "ID operazione",
}
STATUS_MAP = {
    "approved": ("ESEGUITO",),
    "refused": ("RIFIUTATO", "ANNULLATO"),
    "pending": ("IN CORSO",),
    "refunded": ("STORNATO",),
}
EXPONENTS = {"JPY": 0}  # every other currency written here has cents
CURRENCIES = ("EUR", "USD", "GBP", "JPY")
CURRENCY_WEIGHTS = tuple(accumulate((90, 5, 4, 1)))
CIRCUITS = ("VISA", "MASTERCARD", "MAESTRO", "AMEX", "PAGOBANCOMAT")
INFO_SHARE = 0.01  # rows without a merchant reference: the bank's fees (informational messages)
# Each payment's rows in the export: (share, the bank's words in order); see _outcome_of
TRAILS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.80, ("ESEGUITO",)),
    (0.08, ("RIFIUTATO",)),
    (0.02, ("ANNULLATO",)),
    (0.05, ("IN CORSO", "ESEGUITO")),  # two responses of one operation: strict wants a look
    (0.03, ("ESEGUITO", "STORNATO")),  # refunded days after the approval
    (0.02, ("IN CORSO",)),  # still pending
)
TRAIL_WEIGHTS = tuple(accumulate(share for share, _ in TRAILS))

# -- Nexi callbacks ----------------------------------------------------------------------------------
NEXI_MAC_KEY = "BENCH0MAC0KEY0NOT0A0REAL0ONE0K4W"  # made up: signs the synthetic callbacks only
NEXI_ALIAS = "ALIAS_WEB_00071234"
MAC_FIELDS = ("codTrans", "esito", "importo", "divisa", "data", "orario", "codAut")
NEXI_RESULTS = (  # (esito, codiceEsito, messaggio, outcome)
    ("OK", "0", "Message OK", "POSITIVO"),
    ("KO", "20", "Autorizzazione negata", "NEGATIVO"),
    ("ANNULLO", "50", "Annullato dall'utente", "NEGATIVO"),
)
NEXI_WEIGHTS = tuple(accumulate((85, 10, 5)))
BRANDS = (("VISA", "453997"), ("MASTERCARD", "535522"), ("MAESTRO", "675964"))

REQUEST_COLUMNS = (
    "txn_id",
    "order_id",
    "kind",
    "created_at",
    "customer",
    "email",
    "amount",
    "currency",
    "gateway",
)


def paycli_yaml(with_csv: bool) -> str:
    """The configuration the commands find in their working directory (the work folder)."""
    lines = [
        "# written by bench/bench_gateways.py; the MAC key is made up for the synthetic callbacks",
        f"timezone: {TIMEZONE}",
        "policy: strict",
        "gateways:",
        "  nexi:",
        f"    mac_key: {NEXI_MAC_KEY}",
        "    mac_algorithm: sha1",
        f"    alias: {NEXI_ALIAS}",
    ]
    if with_csv:
        lines += [
            f"  {GATEWAY}:",
            "    provider: csv",
            f'    delimiter: "{DELIMITER}"',
            '    decimal_mark: ","',
            '    thousands_separator: "."',
            f'    date_format: "{DATE_FORMAT}"',
            "    columns:",
            *(f"      {name}: {column}" for name, column in COLUMNS.items()),
            "    status_map:",
            *(f"      {status}: [{', '.join(words)}]" for status, words in STATUS_MAP.items()),
        ]
    return "\n".join(lines) + "\n"


# -- writing the inputs ------------------------------------------------------------------------------
@dataclass
class Export:
    path: Path
    rows: int = 0
    payments: int = 0
    info_rows: int = 0
    words: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)  # outcome -> requests, as generated


@dataclass
class Callbacks:
    folder: Path
    files: int = 0
    notifications: int = 0
    copies: int = 0  # the same bytes saved again
    browser_returns: int = 0  # the buyer's browser back on the shop: same fields, another shape
    size: int = 0
    expected: Counter[str] = field(default_factory=Counter)


def grouped(minor: int, currency: str) -> str:
    """An amount as the bank writes it: ``-1.234,56``; yen without decimals (``12.500``)."""
    sign, minor = ("-" if minor < 0 else ""), abs(minor)
    if EXPONENTS.get(currency, 2) == 0:
        return sign + f"{minor:,}".replace(",", ".")
    return sign + f"{minor // 100:,}".replace(",", ".") + f",{minor % 100:02d}"


def plain_amount(minor: int, currency: str) -> str:
    """An amount as the shop's request file writes it: ``1234.56``."""
    if EXPONENTS.get(currency, 2) == 0:
        return str(minor)
    return f"{minor // 100}.{minor % 100:02d}"


def random_minor(rng: random.Random, currency: str) -> int:
    if currency == "JPY":
        return int(rng.uniform(500, 300_000)) // 10 * 10
    cents = int(2 ** rng.uniform(8.2, 17.9))  # about 3 to 250,000 cents, most under 100 euro
    return cents // 100 * 100 + rng.choice((0, 50, 90, 99)) if rng.random() < 0.5 else cents


def write_export(export: Path, requests: Path, n: int, seed: int, now: datetime) -> Export:
    """The bank's export of ``n`` rows and the shop's requests they answer, written side by side."""
    from bench_store import customer_pool

    rng = random.Random(f"{seed}/export")
    customers = customer_pool(rng, 50_000)
    info = Export(export)
    start = now - timedelta(days=365)
    step = 365 * 86_400 / n
    operation = 700_000_000_000
    with (
        export.open("w", newline="", encoding="utf-8") as f,
        requests.open("w", newline="", encoding="utf-8") as g,
    ):
        out = csv.writer(f, delimiter=DELIMITER, lineterminator="\r\n")  # a Windows export
        shop = csv.writer(g, lineterminator="\n")
        out.writerow(HEADER)
        shop.writerow(REQUEST_COLUMNS)
        terminal = "T0071234"
        while info.rows < n:
            at = start + timedelta(seconds=(info.rows + rng.random()) * step)
            if rng.random() < INFO_SHARE:
                operation += 1
                fee = -rng.choice((150, 200, 250, 1000))
                local = at.astimezone(ROME)
                out.writerow(
                    (
                        local.strftime(DATE_FORMAT),
                        operation,
                        "",
                        grouped(fee, "EUR"),
                        "EUR",
                        "ESEGUITO",
                        "",
                        "",
                        "",
                    )
                )
                info.rows += 1
                info.info_rows += 1
                continue
            info.payments += 1
            txn_id = f"ORD-{100_000 + info.payments}-1"
            currency = rng.choices(CURRENCIES, cum_weights=CURRENCY_WEIGHTS)[0]
            minor = random_minor(rng, currency)
            customer, email = rng.choice(customers)
            created = at.astimezone(ROME).replace(microsecond=0)
            shop.writerow(
                (
                    txn_id,
                    txn_id[:-2],
                    "order",
                    created.isoformat(),
                    customer,
                    email,
                    plain_amount(minor, currency),
                    currency,
                    GATEWAY,
                )
            )
            _, words = rng.choices(TRAILS, cum_weights=TRAIL_WEIGHTS)[0]
            words = words[: n - info.rows]
            info.expected[_outcome_of(words)] += 1
            brand = rng.choice(CIRCUITS)
            card = f"{rng.randrange(400000, 560000)}******{rng.randrange(10_000):04d}"
            operation += 1
            when = created + timedelta(seconds=rng.uniform(5, 120))
            for word in words:
                amount = minor
                if word == "STORNATO":
                    operation += 1  # a refund is an operation of its own, days later
                    when += timedelta(days=rng.uniform(1, 10))
                    amount = -minor
                elif word == "ESEGUITO" and words[0] == "IN CORSO":
                    when += timedelta(seconds=rng.uniform(60, 3600))
                out.writerow(
                    (
                        when.astimezone(ROME).strftime(DATE_FORMAT),
                        operation,
                        txn_id,
                        grouped(amount, currency),
                        currency,
                        word,
                        brand,
                        card,
                        terminal,
                    )
                )
                info.words[word] += 1
                info.rows += 1
    return info


def _outcome_of(words: tuple[str, ...]) -> str:
    """paycli's outcome under the strict policy for a payment with these rows (amounts agree)."""
    if len(words) != 1:
        return "VERIFICARE"
    return {"ESEGUITO": "POSITIVO", "RIFIUTATO": "NEGATIVO", "ANNULLATO": "NEGATIVO"}.get(
        words[0], "VERIFICARE"
    )


def write_callbacks(folder: Path, requests: Path, files: int, seed: int, now: datetime) -> Callbacks:
    """``files`` Nexi urlpost bodies in one folder, ~10% of them redeliveries, and their requests."""
    from bench_store import customer_pool

    rng = random.Random(f"{seed}/callbacks")
    customers = customer_pool(rng, 20_000)
    info = Callbacks(folder)
    payments = max(1, files * 10 // 11)
    extra = rng.sample(range(payments), files - payments)
    copies = set(extra[: len(extra) // 2])
    returns = set(extra[len(extra) // 2 :])
    start = now - timedelta(days=90)
    step = 90 * 86_400 / payments
    key = NEXI_MAC_KEY.encode()
    folder.mkdir()

    def save(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        info.files += 1
        info.size += len(data)

    with requests.open("w", newline="", encoding="utf-8") as g:
        shop = csv.writer(g, lineterminator="\n")
        shop.writerow(REQUEST_COLUMNS)
        for k in range(payments):
            txn_id = f"WEB-{500_000 + k}-1"
            minor = random_minor(rng, "EUR")
            customer, email = rng.choice(customers)
            created = (start + timedelta(seconds=(k + rng.random()) * step)).astimezone(ROME)
            created = created.replace(microsecond=0)
            shop.writerow(
                (
                    txn_id,
                    txn_id[:-2],
                    "order",
                    created.isoformat(),
                    customer,
                    email,
                    plain_amount(minor, "EUR"),
                    "EUR",
                    "nexi",
                )
            )
            esito, code, message, outcome = rng.choices(NEXI_RESULTS, cum_weights=NEXI_WEIGHTS)[0]
            info.expected[outcome] += 1
            when = created + timedelta(seconds=rng.uniform(20, 300))
            brand, bin_ = rng.choice(BRANDS)
            fields = {
                "alias": NEXI_ALIAS,
                "importo": str(minor),
                "divisa": "EUR",
                "codTrans": txn_id,
                "esito": esito,
                "codiceEsito": code,
                "messaggio": message,
                "codAut": f"{rng.getrandbits(24):06X}" if esito == "OK" else "",
                "data": when.strftime("%Y%m%d"),
                "orario": when.strftime("%H%M%S"),
                "brand": brand,
                "pan": f"{bin_}******{rng.randrange(10_000):04d}",
                "scadenza_pan": f"20{rng.randrange(27, 32)}{rng.randrange(1, 13):02d}",
                "nazionalita": "ITA",
                "tipoTransazione": "VBV_FULL",
                "languageId": "ITA",
            }
            mac_text = "".join(f"{name}={fields[name]}" for name in MAC_FIELDS)
            fields["mac"] = hashlib.sha1(mac_text.encode() + key).hexdigest()
            body = "&".join(f"{name}={quote(value, safe='')}" for name, value in fields.items())
            stamp = when.strftime("%Y%m%d-%H%M%S")
            save(f"{stamp}_{txn_id}_{esito}.txt", body.encode())
            info.notifications += 1
            if k in copies:  # Nexi posted again (no 200 in time): the receiver saved it again
                later = (when + timedelta(seconds=rng.uniform(60, 900))).strftime("%Y%m%d-%H%M%S")
                save(f"{later}_{txn_id}_{esito}.txt", body.encode())
                info.copies += 1
            elif k in returns:
                dump = (
                    f"GET /pagamento/esito?{body} HTTP/1.1\r\nHost: shop.example.it\r\n"
                    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: text/html\r\n\r\n"
                )
                save(f"{stamp}_{txn_id}_{esito}_browser-return.http", dump.encode())
                info.browser_returns += 1
    return info


# -- running things ----------------------------------------------------------------------------------
@dataclass
class Run:
    argv: list[str]
    seconds: float
    returncode: int
    peak_rss: int  # bytes
    cpu: float  # user + system seconds
    stdout: str
    stderr: str


class StepFailed(Exception):
    """A step crashed: the part is reported as failed and the benchmark exits 1."""


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# The peak RSS must be measured by a small process between the benchmark and the command: a child
# spawned straight from this one (vfork, then exec) starts with this process's memory as its
# high-water mark, and the kernel keeps it through exec, so ru_maxrss would never read below what the
# benchmark itself holds. GNU time is such a process (about 2 MB); else a bare Python (about 10 MB).
TIME = Path("/usr/bin/time")
RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{u.ru_maxrss} {u.ru_utime} {u.ru_stime}')\n"
    "sys.exit(code)\n"
)


def rss_meter() -> str:
    return "/usr/bin/time" if TIME.is_file() else "a Python wrapper (RSS floor ~10 MB)"


def run(argv: Sequence[str], cwd: Path, what: str, ok_codes: tuple[int, ...] = (0,)) -> Run:
    """One whole process, timed from outside; its peak RSS and CPU time measured by a fresh process."""
    from bench_store import child_env

    env = child_env(cwd)
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rusage") as usage,
    ):
        if TIME.is_file():
            meter = [str(TIME), "-f", "%M %U %S", "-o", usage.name]
        else:
            meter = [sys.executable, "-c", RUSAGE_WRAPPER, usage.name]
        started = time.perf_counter()
        code = subprocess.run(
            [*meter, *argv], cwd=cwd, env=env, stdout=out, stderr=err, check=False
        ).returncode
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        # GNU time writes "Command exited with non-zero status N" first, then the format
        max_rss, user, system = usage.read().strip().splitlines()[-1].split()
        done = Run(
            list(argv),
            seconds,
            code,
            int(max_rss) * 1024,  # KiB on Linux
            float(user) + float(system),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if done.returncode not in ok_codes:
        sys.stderr.write(done.stdout + done.stderr[-4000:])
        raise StepFailed(f"{what} failed with exit code {done.returncode}: {shlex.join(argv)}")
    return done


def sqlite_rows(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def scalar(db: Path, sql: str, params: Sequence[object] = ()) -> int:
    value = sqlite_rows(db, sql, params)[0][0]
    return int(value) if isinstance(value, int) else 0


def counts(db: Path, sql: str) -> Counter[str]:
    return Counter({str(k): int(str(v)) for k, v in sqlite_rows(db, sql)})


def said(done: Run) -> str:
    return " / ".join(line.strip() for line in done.stderr.splitlines() if line.strip())


# -- the parts ---------------------------------------------------------------------------------------
@dataclass
class Figure:
    label: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: no target


@dataclass
class Part:
    title: str
    data: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    failed: str | None = None


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def rate(n: int, seconds: float, unit: str = "records/s") -> str:
    return f"{n / seconds:>9,.0f} {unit}"


def timed(label: str, done: Run, n: int, unit: str = "records/s") -> Figure:
    return Figure(
        label,
        f"{done.seconds:7.1f} s  {rate(n, done.seconds, unit)}   cpu {done.cpu:6.1f} s, peak RSS {mb(done.peak_rss):>9}",
    )


def rss_figure(label: str, done: Run) -> Figure:
    ok = done.peak_rss < RSS_TARGET
    return Figure(label, f"{mb(done.peak_rss):>9}", f"target < {mb(RSS_TARGET)}", ok)


def csv_part(workdir: Path, n: int, seed: int, now: datetime) -> Part:
    from paycli.config import DEFAULT_BATCH_SIZE

    part = Part(f"Bank CSV export (provider csv, gateway {GATEWAY}; SQLite; whole processes, one run each)")
    export_csv = workdir / "export.csv"
    requests_csv = workdir / "requests.csv"
    store = workdir / "csv-store.db"
    plain = workdir / "csv-plain.db"
    paycli = [str(PAYCLI), "--db", f"sqlite:///{store}"]

    progress(f"writing {n:,} export rows to {export_csv} and their requests")
    started = time.perf_counter()
    info = write_export(export_csv, requests_csv, n, seed, now)
    generate_seconds = time.perf_counter() - started
    words = ", ".join(f"{w} {c:,}" for w, c in info.words.most_common())
    part.data += [
        f"  export.csv          {info.rows:,} rows, {mb(export_csv.stat().st_size)}: {info.payments:,} payments "
        f"({words}), {info.info_rows:,} fee rows without a reference",
        f"  requests.csv        {info.payments:,} requests, {mb(requests_csv.stat().st_size)}; "
        f"both written in {generate_seconds:.1f} s",
    ]
    try:
        progress("creating the store (paycli db upgrade)")
        run([*paycli, "db", "upgrade"], workdir, "paycli db upgrade")
        progress("paycli ingest requests.csv (set-up, timed apart)")
        requests_run = run([*paycli, "ingest", requests_csv.name], workdir, "paycli ingest requests.csv")
        progress("paycli ingest export.csv")
        ingest = run([*paycli, "ingest", export_csv.name], workdir, "paycli ingest export.csv", (0, 1))
        part.said.append("paycli ingest export.csv said: " + said(ingest))

        ddl = [
            str(row[0])
            for row in sqlite_rows(
                store,
                # the response and message tables and their indexes, and the table their foreign keys
                # name (left empty)
                "SELECT sql FROM sqlite_master WHERE tbl_name IN ('payment_request', 'response', 'message') "
                "AND sql IS NOT NULL ORDER BY rowid",
            )
        ]
        (workdir / "csv-plain-ddl.sql").write_text(";\n".join(ddl) + ";\n", "utf-8")
        plain_insert = [sys.executable, str(Path(__file__).resolve()), "--plain", export_csv.name]
        options = ["--ddl", "csv-plain-ddl.sql", "--batch-size", str(DEFAULT_BATCH_SIZE)]
        progress("plain sqlite3 executemany of the same normalised rows")
        baseline = run([*plain_insert, plain.name, *options], workdir, "the plain insert")
        progress("plain sqlite3 executemany of the same rows and every record verbatim (the floor)")
        floor = run(
            [*plain_insert, "csv-floor.db", *options, "--messages"], workdir, "the plain insert with messages"
        )
    except StepFailed as exc:
        part.failed = str(exc)
        return part
    sql_seconds = float(json.loads(baseline.stdout)["sql_seconds"])

    ratio = ingest.seconds / baseline.seconds
    records_per_second = n / ingest.seconds
    part.figures += [
        timed("paycli ingest requests.csv", requests_run, info.payments, "rows/s   "),
        timed("paycli ingest export.csv", ingest, n),
        Figure(
            "export.csv records per second",
            f"{records_per_second:>9,.0f}",
            f"target >= {CSV_RATE_TARGET:,}",
            records_per_second >= CSV_RATE_TARGET,
        ),
        timed("plain sqlite3 executemany", baseline, n - info.info_rows, "rows/s   "),
        Figure("  of which executemany+commit", f"{sql_seconds:7.1f} s"),
        Figure(
            "ingest / plain insert", f"{ratio:7.2f} x", f"target <= {RATIO_TARGET:g} x", ratio <= RATIO_TARGET
        ),
        rss_figure("peak RSS, paycli ingest export.csv", ingest),
        timed("floor: plain insert + messages", floor, n),
        Figure(
            "  of which executemany+commit",
            f"{float(json.loads(floor.stdout)['sql_seconds']):7.1f} s",
        ),
    ]

    # what was stored
    responses = scalar(store, "SELECT count(*) FROM response WHERE provider = ?", (GATEWAY,))
    messages = counts(store, f"SELECT state, count(*) FROM message WHERE provider = '{GATEWAY}' GROUP BY 1")
    linked = scalar(store, "SELECT count(*) FROM response WHERE request_id IS NOT NULL")
    expected_responses = info.rows - info.info_rows
    part.checks.append(
        f"  stored              {responses:,} responses ({linked:,} linked to their request), messages "
        + ", ".join(f"{s} {c:,}" for s, c in sorted(messages.items()))
        + (
            "   as generated: ok"
            if responses == expected_responses == linked
            and messages == Counter({"response": expected_responses, "informational": info.info_rows})
            else f"   MISMATCH: generated {expected_responses:,} responses, {info.info_rows:,} fee rows"
        )
    )
    outcomes = counts(store, "SELECT outcome, count(*) FROM payment_request GROUP BY 1")
    part.checks.append(
        "  outcomes            "
        + "  ".join(f"{o} {outcomes[o]:,}" for o in ("POSITIVO", "NEGATIVO", "VERIFICARE"))
        + (
            "   as generated: ok"
            if outcomes == info.expected
            else f"   MISMATCH: generated {dict(info.expected)}"
        )
    )
    differing, keys_differing = same_responses(store, plain)
    part.checks.append(
        f"  same rows           paycli's store and the plain insert hold {responses:,} and "
        f"{scalar(plain, 'SELECT count(*) FROM response'):,} responses, "
        + ("identical" if differing == 0 else f"MISMATCH: {differing:,} rows differ")
        + (
            ", dedupe keys too"
            if keys_differing == 0
            else f"; {keys_differing:,} dedupe keys differ (csvfile's key changed? the baseline's "
            "copy of it needs updating)"
        )
    )
    part.checks.append(f"  floor               {same_messages(store, workdir / 'csv-floor.db', n)}")
    return part


def same_messages(store: Path, floor: Path, n: int) -> str:
    """Whether the floor stored the same verbatim messages as paycli: digest, line, bytes, header row."""
    conn = sqlite3.connect(store)
    try:
        conn.execute("ATTACH DATABASE ? AS floor", (str(floor),))
        same = conn.execute(
            "SELECT count(*) FROM message m JOIN floor.message f ON f.digest = m.digest AND f.line = m.line "
            "AND f.raw = m.raw AND f.context = m.context WHERE m.provider = ?",
            (GATEWAY,),
        ).fetchone()[0]
    finally:
        conn.close()
    verdict = "identical" if same == n else f"MISMATCH: {n - same:,} differ"
    return f"the floor's {n:,} verbatim messages beside paycli's (digest, line, bytes, header row): {verdict}"


def same_responses(store: Path, plain: Path) -> tuple[int, int]:
    """Responses whose values differ between paycli's store and the plain insert, without and with
    the dedupe key and identity (which paycli's csv provider may change)."""
    stable = (
        "reference, provider, status, raw_status, amount_minor, currency, gateway_txn_id, authenticity, "
        "occurred_at, deliveries"
    )
    conn = sqlite3.connect(store)
    try:
        conn.execute("ATTACH DATABASE ? AS plain", (str(plain),))
        result = []
        for cols in (stable, stable + ", dedupe_key, identity"):
            n = 0
            for a, b in (("main", "plain"), ("plain", "main")):
                n += conn.execute(
                    f"SELECT count(*) FROM (SELECT {cols} FROM {a}.response "
                    f"EXCEPT SELECT {cols} FROM {b}.response)"
                ).fetchone()[0]
            result.append(int(n))
        return result[0], result[1]
    finally:
        conn.close()


def callbacks_part(workdir: Path, files: int, seed: int, now: datetime) -> Part:
    part = Part("Nexi callbacks (provider nexi, one folder; SQLite; whole processes, one run each)")
    folder = workdir / "callbacks"
    requests_csv = workdir / "callbacks-requests.csv"
    store = workdir / "callbacks-store.db"
    paycli = [str(PAYCLI), "--db", f"sqlite:///{store}"]

    progress(f"writing {files:,} Nexi callback files to {folder} and their requests")
    started = time.perf_counter()
    info = write_callbacks(folder, requests_csv, files, seed, now)
    generate_seconds = time.perf_counter() - started
    part.data += [
        f"  callbacks/          {info.files:,} files, {mb(info.size)}: {info.notifications:,} notifications "
        f"({', '.join(f'{o} {c:,}' for o, c in info.expected.most_common())}), redelivered: "
        f"{info.copies:,} the same bytes again, {info.browser_returns:,} as the browser's return (GET dump)",
        f"  callbacks-requests  {info.notifications:,} requests; both written in {generate_seconds:.1f} s",
    ]
    try:
        progress("creating the store (paycli db upgrade)")
        run([*paycli, "db", "upgrade"], workdir, "paycli db upgrade")
        progress("paycli ingest callbacks-requests.csv (set-up, timed apart)")
        requests_run = run([*paycli, "ingest", requests_csv.name], workdir, "paycli ingest requests")
        progress("paycli ingest callbacks/")
        ingest = run([*paycli, "ingest", folder.name + "/"], workdir, "paycli ingest callbacks/", (0, 1))
        part.said.append("paycli ingest callbacks/ said: " + said(ingest))
    except StepFailed as exc:
        part.failed = str(exc)
        return part
    part.figures += [
        timed("paycli ingest callbacks-requests.csv", requests_run, info.notifications, "rows/s   "),
        timed("paycli ingest callbacks/", ingest, info.files, "files/s  "),
        rss_figure("peak RSS, paycli ingest callbacks/", ingest),
    ]
    responses = scalar(store, "SELECT count(*) FROM response WHERE provider = 'nexi'")
    deliveries = scalar(store, "SELECT coalesce(sum(deliveries), 0) FROM response WHERE provider = 'nexi'")
    valid = scalar(store, "SELECT count(*) FROM response WHERE authenticity = 'valid'")
    linked = scalar(store, "SELECT count(*) FROM response WHERE request_id IS NOT NULL")
    messages = counts(store, "SELECT state, count(*) FROM message WHERE provider = 'nexi' GROUP BY 1")
    good = (
        responses == valid == linked == info.notifications
        and deliveries == info.notifications + info.browser_returns
        and messages == Counter({"response": info.files - info.copies})
    )
    part.checks.append(
        f"  stored              {responses:,} responses ({valid:,} with a valid MAC, {linked:,} linked), "
        f"{deliveries:,} deliveries, messages "
        + ", ".join(f"{s} {c:,}" for s, c in sorted(messages.items()))
        + ("   as generated: ok" if good else "   MISMATCH with what was generated")
    )
    outcomes = counts(store, "SELECT outcome, count(*) FROM payment_request GROUP BY 1")
    part.checks.append(
        "  outcomes            "
        + "  ".join(f"{o} {outcomes[o]:,}" for o in ("POSITIVO", "NEGATIVO", "VERIFICARE"))
        + (
            "   as generated: ok"
            if outcomes == info.expected
            else f"   MISMATCH: generated {dict(info.expected)}"
        )
    )
    return part


def huge_part(workdir: Path, megabytes: int) -> Part:
    """Bad input that must not cost memory: a line of ``megabytes`` MB in a bank export, and a file of
    random bytes that size forced on the csv provider (one line, no line end)."""
    part = Part(f"Bad input, {megabytes} MB in one line (provider csv, gateway {GATEWAY}; SQLite)")
    store = workdir / "huge-store.db"
    paycli = [str(PAYCLI), "--db", f"sqlite:///{store}"]
    size = megabytes * 1_000_000
    line = workdir / "huge-line.csv"
    binary = workdir / "huge-binary.bin"
    progress(f"writing a bank export with a {megabytes} MB line, and {megabytes} MB of random bytes")
    with line.open("w", newline="", encoding="cp1252") as f:
        out = csv.writer(f, delimiter=DELIMITER, lineterminator="\r\n")
        out.writerow(HEADER)
        f.write("x" * size + "\r\n")
    with binary.open("wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(1_000_000).replace(b"\n", b"\x00"))
    try:
        run([*paycli, "db", "upgrade"], workdir, "paycli db upgrade")
        progress(f"paycli ingest huge-line.csv ({megabytes} MB line)")
        in_line = run([*paycli, "ingest", line.name], workdir, "paycli ingest huge-line.csv", (0, 1))
        progress(f"paycli ingest --gateway {GATEWAY} huge-binary.bin")
        forced = run(
            [*paycli, "ingest", "--gateway", GATEWAY, binary.name],
            workdir,
            "paycli ingest huge-binary.bin",
            (0, 1),
        )
        part.said.append("paycli ingest huge-line.csv said: " + said(in_line))
        part.said.append("paycli ingest huge-binary.bin said: " + said(forced))
    except StepFailed as exc:
        part.failed = str(exc)
        return part
    part.figures += [
        rss_figure(f"peak RSS, a {megabytes} MB line", in_line),
        rss_figure(f"peak RSS, {megabytes} MB of bytes forced", forced),
    ]
    stored = scalar(store, "SELECT coalesce(max(length(raw)), 0) FROM message")
    part.checks.append(f"  stored              the longest message kept is {mb(stored)} (a line's first MiB)")
    return part


def csv_provider() -> str | None:
    """The entry point of paycli's ``csv`` provider, when it is installed."""
    from importlib import metadata

    for ep in metadata.entry_points(group="paycli.gateways"):
        if ep.name == "csv":
            return ep.value
    return None


def default_workdir(records: int, callbacks: int) -> Path:
    return BENCH / "out" / f"{datetime.now():%Y%m%d-%H%M%S}-gateways-n{records}-c{callbacks}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time paycli ingesting a bank CSV export and a folder of Nexi callbacks (whole processes)."
    )
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="rows of the CSV export (1,000,000; 0 skips)"
    )
    parser.add_argument(
        "--callbacks", type=int, default=200_000, help="Nexi callback files in one folder (200,000; 0 skips)"
    )
    parser.add_argument(
        "--huge-line", type=int, default=100, help="MB in one line of bad input (100; 0 skips)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (1)")
    parser.add_argument(
        "--workdir", type=Path, help="an empty or new folder (default: bench/out/<time>-gateways-...)"
    )
    args = parser.parse_args(argv)
    if not (args.records == 0 or args.records >= 100) or not (args.callbacks == 0 or args.callbacks >= 100):
        parser.error("--records and --callbacks must be 0 (skip) or at least 100")

    from bench_store import git_state

    from paycli import __version__

    workdir: Path = (args.workdir or default_workdir(args.records, args.callbacks)).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        parser.error(f"--workdir {workdir} is not empty: the benchmark builds fresh stores")
    workdir.mkdir(parents=True, exist_ok=True)
    entry = csv_provider()
    (workdir / "paycli.yaml").write_text(paycli_yaml(entry is not None), "utf-8")
    load_before = os.getloadavg()
    code_state = git_state()
    now = datetime.now(UTC)

    parts: list[Part] = []
    if args.records:
        if entry is None:
            part = Part("Bank CSV export")
            part.failed = "paycli has no 'csv' provider installed (`paycli gateways` lists none): skipped"
            parts.append(part)
        else:
            parts.append(csv_part(workdir, args.records, args.seed, now))
    if args.callbacks:
        parts.append(callbacks_part(workdir, args.callbacks, args.seed, now))
    if args.huge_line and entry is not None:
        parts.append(huge_part(workdir, args.huge_line))
    load_after = os.getloadavg()

    rel = workdir.relative_to(BENCH.parent) if workdir.is_relative_to(BENCH.parent) else workdir
    lines = [
        "",
        f"paycli gateway benchmark: {args.records:,} CSV export rows, {args.callbacks:,} callback files, "
        f"seed {args.seed}, {now:%Y-%m-%d %H:%M} UTC",
        f"  machine  {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"(5 min: {load_before[1]:.2f}, {load_after[1]:.2f}); {platform.python_implementation()} "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        f"  paycli   {__version__} ({code_state}), csv provider {entry or 'not installed'}, {PAYCLI}",
        f"  measure  wall time from outside each process; peak RSS and CPU time by {rss_meter()}",
        f"  workdir  {rel} (stores kept for inspection)",
    ]
    verdicts: list[bool] = []
    for part in parts:
        lines += ["", part.title]
        lines += part.data
        if part.failed is not None:
            lines.append(f"  FAILED: {part.failed}")
            continue
        width = max(len(f.label) for f in part.figures)
        for f in part.figures:
            text = f"  {f.label:<{width}}  {f.value}"
            if f.target:
                text += f"   {f.target}   {'ok' if f.ok else 'OVER'}"
                verdicts.append(bool(f.ok))
            lines.append(text)
        lines += part.checks
    failed = [p for p in parts if p.failed is not None]
    lines += [
        "",
        f"Targets: {sum(verdicts)} of {len(verdicts)} ok"
        + (f", {len(verdicts) - sum(verdicts)} OVER" if not all(verdicts) else "")
        + (f"; {len(failed)} part{'s' if len(failed) > 1 else ''} failed" if failed else ""),
    ]
    for part in parts:
        lines += ["", *part.said] if part.said else []
    print("\n".join(lines), flush=True)
    return 1 if failed else 0


# -- the baseline: this file run with --plain ---------------------------------------------------------
INSERT = (
    "INSERT INTO response (identity, request_id, reference, provider, dedupe_key, status, raw_status, "
    "amount_minor, currency, gateway_txn_id, authenticity, occurred_at, received_at, deliveries) "
    "VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, 'unverifiable', ?, ?, 1)"
)


MESSAGE_INSERT = (
    "INSERT INTO message (digest, provider, source, line, received_at, raw, headers, context, state, "
    "error, note, reference, request_id, response_id) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?, NULL, ?)"
)


def plain_main(argv: Sequence[str]) -> int:
    """The export into ``response`` with csv and sqlite3 only: the least any ingest of it pays.

    Each row is normalised as paycli reads it (the amount in minor units, a refund's as its size; the
    date, Italian time, as UTC text; the status word as paycli's status; paycli's default dedupe key,
    a hash of the normalised row, and the response identity); rows without a merchant reference are
    skipped (paycli keeps them as informational messages). One ``executemany`` and one commit per
    batch, paycli's pragmas. Prints one JSON object: rows inserted, seconds in executemany and commit.

    With ``--messages`` it also keeps every record verbatim, as design.md 5.3 asks and paycli does:
    a ``message`` row each (its bytes, the header row it is read with, the digest of both), the fee
    rows included. That is the floor of any ingest into paycli's schema: no lookup, no outcome, no
    validation, only the rows it must write.
    """
    parser = argparse.ArgumentParser(prog="bench_gateways.py --plain", description=plain_main.__doc__)
    parser.add_argument("export", help="the bank export CSV")
    parser.add_argument("database", type=Path, help="a database file that does not exist yet")
    parser.add_argument("--ddl", type=Path, required=True, help="SQL creating response and its indexes")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--messages", action="store_true", help="also store every record verbatim")
    args = parser.parse_args(argv)

    sha256 = hashlib.sha256
    conn = sqlite3.connect(args.database, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(args.ddl.read_text("utf-8"))
    received = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    status_of = {word.casefold(): status for status, words in STATUS_MAP.items() for word in words}
    exponent = {c: EXPONENTS.get(c, 2) for c in CURRENCIES}

    rows = 0
    sql_seconds = 0.0
    batch: list[tuple[object, ...]] = []
    messages: list[tuple[object, ...]] = []

    def flush() -> None:
        nonlocal sql_seconds
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, batch)
        if messages:
            conn.executemany(MESSAGE_INSERT, messages)
        conn.execute("COMMIT")
        sql_seconds += time.perf_counter() - started
        batch.clear()
        messages.clear()

    line = [""]  # the export has no newline inside a field: each record is the line just read

    def lines(f: Iterable[str]) -> Iterator[str]:
        for text in f:
            line[0] = text
            yield text

    with open(args.export, newline="", encoding="utf-8") as f:
        # the baseline reads the file itself; only the floor needs each record's line as it was
        reader = csv.reader(lines(f) if args.messages else f, delimiter=DELIMITER)
        header = [name.strip() for name in next(reader)]
        context = line[0].rstrip("\r\n")  # the header row each record is read with (floor only)
        encoded = context.encode()
        prefix = sha256(bytes(8) + len(encoded).to_bytes(8, "big") + encoded)  # paycli's message digest
        col = {name.casefold(): i for i, name in enumerate(header)}
        at = {name: col[column.casefold()] for name, column in COLUMNS.items()}
        c_ref, c_amount, c_currency = at["reference"], at["amount"], at["currency"]
        c_status, c_date, c_txn = at["status"], at["date"], at["gateway_txn_id"]
        others = sorted((n.casefold(), i) for i, n in enumerate(header) if i not in at.values())
        for row in reader:
            reference = row[c_ref].strip()
            if args.messages:
                raw = line[0].encode()
                digest = prefix.copy()
                digest.update(raw)
                messages.append(
                    (
                        digest.hexdigest(),
                        GATEWAY,
                        args.export,
                        reader.line_num,
                        received,
                        raw,
                        context,
                        "response" if reference else "informational",
                        None if reference else "no merchant reference",
                        reference or None,
                        rows + 1 if reference else None,  # the response's id: rowids count from 1
                    )
                )
            if not reference:
                continue
            word = row[c_status].strip()
            status = status_of.get(word.casefold(), "unknown")
            currency = row[c_currency].strip().upper()
            amount = row[c_amount].strip().replace(".", "").replace(",", ".")
            minor = abs(int(Decimal(amount).scaleb(exponent.get(currency, 2))))
            d = row[c_date].strip()  # dd/mm/yyyy HH:MM:SS, Italian time
            when = datetime(
                int(d[6:10]),
                int(d[3:5]),
                int(d[0:2]),
                int(d[11:13]),
                int(d[14:16]),
                int(d[17:19]),
                tzinfo=ROME,
            ).astimezone(UTC)
            txn = row[c_txn].strip()
            parts = [reference, word.casefold(), str(minor), currency, str(when.timestamp()), txn]
            parts += [f"{name}={row[i].strip()}" for name, i in others]
            key = "row:" + sha256("\x1f".join(parts).encode()).hexdigest()[:32]
            identity = sha256(
                "\x1f".join((GATEWAY, key, status, str(minor), currency, reference, "unverifiable")).encode()
            ).hexdigest()
            batch.append(
                (
                    identity,
                    reference,
                    GATEWAY,
                    key,
                    status,
                    word or None,
                    minor,
                    currency,
                    txn or None,
                    when.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                    received,
                )
            )
            rows += 1
            if len(batch) >= args.batch_size:
                flush()
    if batch or messages:
        flush()
    conn.close()
    print(json.dumps({"rows": rows, "sql_seconds": round(sql_seconds, 3)}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:
        sys.exit(plain_main(sys.argv[2:]))
    sys.exit(main())
