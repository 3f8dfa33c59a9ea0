"""Maintenance commands beside a running receiver and a cron ingest, as real processes.

Operators run ``resolve`` (and ``--undo``), ``recompute``, ``reprocess`` (and ``--all``), ``dismiss``,
``messages``, ``report`` and ``db upgrade`` while ``paycli serve`` takes gateways' callbacks and cron
runs ``paycli ingest`` on new files. Each command is a process of its own (``python -m paycli``), the
receiver too, and the order in which they start is drawn from a seed, so that each run interleaves
them otherwise. Whatever the interleaving:

- every command ends with its documented exit code and at most a line or two, never a traceback nor
  70 (a bug), never a lock error where the command could have waited;
- every callback acknowledged with 200 is stored, and every resolution a ``resolve`` said it made;
- no outcome is lost to another writer: ``paycli recompute`` afterwards changes nothing (an outcome
  computed from a trail without a response committed meanwhile, or a resolution written over by a
  recompute that read before it, would be changed back);
- each report reads one moment: its totals count the requests its lists show.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from paycli.store import Store
from tests.conftest import ON_POSTGRES, REQUEST_HEADER, postgresql_schema
from tests.reports.test_report import csv_rows
from tests.serve.conftest import Client, free_port, spawn_serve, stop_process
from tests.serve.traffic import CONFIG, FORM, digest, nexi_callback, requests_csv

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    """The environment of a paycli process: the test's own (``isolated``: its HOME, so that the
    report lock and the default store are the test's, not the machine's)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


DAY = "2026-11-26"
# paid through the receiver: enough that a recompute reads for a while (one chunk of them) while
# callbacks keep coming, as a writer that read before a commit and wrote after it would need
REQUESTS = 1200
SEEDS = [int(s) for s in os.environ.get("PAYCLI_CONCURRENCY_SEEDS", "11,29").split(",")]
# what each command may exit with: 1 is documented for ingest and reprocess (records quarantined), 2 for
# a usage error (a message another operator dismissed first), 3 for resolve --undo of nothing in force
ALLOWED = {
    "ingest": {0, 1},
    "resolve": {0},
    "undo": {0, 3},
    "recompute": {0},
    "reprocess": {0, 1},
    "dismiss": {0, 2},
    "messages": {0},
    "report": {0},
    "list": {0},
    "upgrade": {0},
}


@dataclass
class Ran:
    kind: str
    args: list[str]
    code: int
    stdout: str
    stderr: str
    started: float
    ended: float


@dataclass
class Floor:
    """The shop's night: where the files are, what every process did."""

    folder: Path
    config: Path
    db_url: str
    ran: list[Ran] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paycli(self, kind: str, *args: str, timeout: float = 240) -> Ran:
        command = [sys.executable, "-m", "paycli", "--config", str(self.config), "--db", self.db_url, *args]
        started = time.monotonic()
        done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=timeout)
        ran = Ran(kind, list(args), done.returncode, done.stdout, done.stderr, started, time.monotonic())
        with self.lock:
            self.ran.append(ran)
        return ran


def bad_callback(n: int) -> bytes:
    """A notification for ``LOAD-<n>-1`` that another key signed: stored, flagged, never deciding."""
    body = nexi_callback(n, "KO").decode()
    return body.rsplit("mac=", 1)[0].encode() + b"mac=" + b"0" * 40


def write_cron_file(folder: Path, round_: int, rng: random.Random) -> Path:
    """One cron run's inbox: new requests (one line of them broken: quarantined) and refusals of some of
    the receiver's requests, which make them MULTIPLE_RESPONSES."""
    inbox = folder / f"inbox-{round_}"
    inbox.mkdir()
    lines = [
        f"CRON-{round_}-{i},CRON-{round_},order,{DAY}T11:00:00+01:00,Cliente {i},,5.00,EUR,nexi"
        for i in range(3)
    ]
    lines.append(f"CRON-{round_}-bad,CRON-{round_},order,{DAY}T11:00:00+01:00,Cliente,,cinque,EUR,nexi")
    (inbox / "requests.csv").write_text(REQUEST_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    for n in rng.sample(range(REQUESTS), 3):
        (inbox / f"nexi-{n}.txt").write_bytes(nexi_callback(n, "KO"))
    return inbox


def send(port: int, bodies: list[bytes], answers: list[tuple[bytes, int]], pause: float = 0) -> None:
    """Post each body, keeping what the receiver answered (list.append is atomic)."""
    client = Client(port, timeout=120)
    try:
        for body in bodies:
            answers.append((body, client.post("/callbacks/nexi", body, {"Content-Type": FORM}).status))
            time.sleep(pause)
    finally:
        client.close()


# What holds in every committed state of the store, whatever runs: each writer changes a request's
# responses or resolutions and stores its outcome in one transaction. A writer that computed an outcome
# from what it read before another's commit, and wrote it after, breaks one of them until the next
# writer of that request happens to mend it, which the final recompute would then never see.
INVARIANTS = {
    "a response count that is not its responses'": (
        "SELECT r.txn_id FROM payment_request r WHERE r.response_count <> "
        "(SELECT COUNT(*) FROM response s WHERE s.request_id = r.id)"
    ),
    "a resolution in force, no response after it, and another outcome": (
        "SELECT r.txn_id FROM payment_request r JOIN resolution z ON z.request_id = r.id "
        "AND z.undone_at IS NULL WHERE z.created_at = (SELECT MAX(y.created_at) FROM resolution y "
        "WHERE y.request_id = r.id AND y.undone_at IS NULL) AND NOT EXISTS (SELECT 1 FROM response s "
        "WHERE s.request_id = r.id AND s.received_at > z.created_at) "
        "AND (r.outcome <> z.outcome OR r.reason IS NULL OR r.reason <> 'RESOLVED')"
    ),
}


def witness(db_url: str, stop: threading.Event, seen: list[str]) -> None:
    """Look at the store every few milliseconds, each time at one moment (a snapshot), for a broken
    invariant."""
    with Store.open(db_url) as store:
        while not stop.is_set():
            with store.snapshot():
                for what, sql in INVARIANTS.items():
                    seen.extend(f"{what}: {row['txn_id']}" for row in store.query(sql))
            time.sleep(0.02)


def operator(floor: Floor, rng: random.Random, steps: int, reports: Path) -> None:
    """One operator's commands, chosen and spaced by ``rng``."""
    for step in range(steps):
        time.sleep(rng.uniform(0, 0.3))
        what = rng.choice(
            [
                *("resolve", "resolve", "undo", "recompute", "recompute", "reprocess", "reprocess-all"),
                "dismiss",
                *("report", "messages", "list", "upgrade"),
            ]
        )
        n = rng.randrange(REQUESTS)
        if what == "resolve":
            outcome = rng.choice(["POSITIVO", "NEGATIVO"])
            floor.paycli("resolve", "resolve", f"LOAD-{n}-1", "--as", outcome, "--note", f"step {step}")
        elif what == "undo":
            floor.paycli("undo", "resolve", f"LOAD-{n}-1", "--undo", "--note", f"step {step}")
        elif what == "recompute":
            floor.paycli("recompute", "recompute")
        elif what == "reprocess":
            floor.paycli("reprocess", "reprocess")
        elif what == "reprocess-all":
            floor.paycli("reprocess", "reprocess", "--all")
        elif what == "dismiss":
            listed = floor.paycli("messages", "messages", "--format", "json")
            ids = [str(m["id"]) for m in json.loads(listed.stdout or "[]")]
            if ids:
                floor.paycli("dismiss", "dismiss", rng.choice(ids), "--note", f"step {step}")
        elif what == "report":
            out = reports / f"r{threading.get_ident()}-{step}"
            out.mkdir(parents=True)
            floor.paycli(
                "report", "report", "--date", DAY, "--format", "csv", "--out", str(out), "--wait", "120"
            )
        elif what == "messages":
            floor.paycli("messages", "messages", "--state", "orphan")
        elif what == "list":
            floor.paycli("list", "list", "--outcome", "VERIFICARE", "--format", "json")
        else:
            floor.paycli("upgrade", "db", "upgrade")


def cron(floor: Floor, rng: random.Random, rounds: int) -> None:
    for round_ in range(rounds):
        time.sleep(rng.uniform(0, 0.5))
        inbox = write_cron_file(floor.folder, round_, rng)
        floor.paycli("ingest", "ingest", "--quiet", str(inbox))


@pytest.mark.parametrize("seed", SEEDS)
def test_maintenance_commands_beside_a_receiver_and_a_cron_ingest_lose_nothing(seed, db_url, tmp_path):
    rng = random.Random(seed)
    config = tmp_path / "paycli.yaml"
    # the receiver waits for the store as long as a command may hold it: a 503 here would be a lock
    # held too long, not the interleaving under test
    config.write_text(CONFIG + "serve:\n  store_timeout_seconds: 60\n")
    floor = Floor(tmp_path, config, db_url)
    requests = tmp_path / "requests.csv"
    requests.write_text(
        REQUEST_HEADER
        + "".join(
            f"LOAD-{n}-1,LOAD-{n},order,{DAY}T10:15:00+01:00,Cliente {n},,{(1234 + n) // 100}."
            f"{(1234 + n) % 100:02d},EUR,nexi\n"
            for n in range(REQUESTS)
        ),
        encoding="utf-8",
    )
    assert floor.paycli("ingest", "ingest", str(requests)).code == 0
    # some callbacks come before the night's work, so that operators have something to resolve
    bodies = [nexi_callback(n) for n in range(REQUESTS)]
    later = [bad_callback(n) for n in rng.sample(range(REQUESTS), 8)] + [
        nexi_callback(n, "KO") for n in rng.sample(range(REQUESTS), 8)
    ]
    rng.shuffle(later)
    port = free_port()
    server = spawn_serve(db_url, config, port, tmp_path / "serve.log")
    answers: list[tuple[bytes, int]] = []
    try:
        send(port, bodies[:100], answers)
        rest = bodies[100:] + later + bodies[:5]  # and some redeliveries
        rng.shuffle(rest)
        # spread over the operators' work
        threads = [threading.Thread(target=send, args=(port, rest[i::3], answers, 0.02)) for i in range(3)]
        threads += [
            threading.Thread(
                target=operator, args=(floor, random.Random(rng.random()), 7, tmp_path / "reports")
            )
            for _ in range(3)
        ]
        threads.append(threading.Thread(target=cron, args=(floor, random.Random(rng.random()), 4)))
        stop, broken = threading.Event(), []
        watcher = threading.Thread(target=witness, args=(db_url, stop, broken))
        watcher.start()
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            stop.set()
            watcher.join()
    finally:
        stop_process(server)
    assert not broken, sorted(set(broken))[:20]
    log = (tmp_path / "serve.log").read_text()

    # every command: its documented exit code, a line or two, no traceback
    problems = [
        f"{r.kind} {' '.join(r.args)}: exit {r.code}: {r.stderr.strip()[-600:]}"
        for r in floor.ran
        if r.code not in ALLOWED[r.kind] or "Traceback" in r.stderr or "unexpected" in r.stderr
    ]
    assert not problems, "\n".join(problems)
    # a forged callback is refused (400), every other one acknowledged: never a 503 for a lock
    forged = {b for b in later if b.endswith(b"0" * 40)}
    wrong = [(status, body[:60]) for body, status in answers if status != (400 if body in forged else 200)]
    assert not wrong, (wrong, log[-2000:])

    with Store.open(db_url) as store:
        stored = {r["digest"] for r in store.query("SELECT digest FROM message")}
        # stored, the forged ones too (flagged, as evidence)
        missing = [body for body, status in answers if digest(body) not in stored]
        assert not missing, f"{len(missing)} acknowledged callbacks not stored"
        resolved = [r for r in floor.ran if r.kind == "resolve" and r.code == 0]
        notes = Counter(r["note"] for r in store.query("SELECT note FROM resolution"))
        for r in resolved:
            assert notes[r.args[-1]] >= 1, f"{' '.join(r.args)} said done, and its resolution is not stored"

    # each report read one moment: its totals count what its lists show
    for path in sorted((tmp_path / "reports").glob("*/*.csv")):
        rows = csv_rows(path.read_text(encoding="utf-8"))
        totals: Counter[str] = Counter()
        for row in rows:
            if row["section"] == "total":
                totals[row["outcome"]] += int(row["count"])
        listed = Counter(row["section"] for row in rows)
        assert totals["VERIFICARE"] == listed["verificare"], path
        assert totals["NEGATIVO"] == listed["negativo"], path

    # no outcome lost to another writer: what is stored is what the rule says of what is stored
    again = floor.paycli("recompute", "recompute")
    assert again.code == 0 and again.stderr.rstrip().endswith(": 0 changed"), again.stderr


# -- paycli db upgrade while an older paycli serve takes callbacks ------------------------------------
OLD_SCHEMA = "0009"
# the paycli before this one, as far as the store can tell: the same code, whose newest schema is 0009
OLD_PAYCLI = (
    "import paycli.migrations, paycli.store; "
    f"paycli.migrations.HEAD = paycli.store.HEAD = {OLD_SCHEMA!r}; "
    "from paycli.cli import main; main()"
)


@pytest.fixture
def old_store_url(tmp_path: Path) -> Any:
    """A store at schema 0009, as the paycli before this one left it."""
    if not ON_POSTGRES:
        url = f"sqlite:///{tmp_path / 'old.db'}"
        with Store.connect(url, create=True) as store:
            store.migrate(OLD_SCHEMA)
        yield url
        return
    with postgresql_schema() as url:
        with Store.connect(url) as store:
            store.migrate(OLD_SCHEMA)
        yield url


def old_paycli(db_url: str, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", OLD_PAYCLI, "--config", str(config), "--db", db_url, *args]


def test_db_upgrade_while_an_older_receiver_takes_callbacks_never_lets_it_write_into_the_new_schema(
    old_store_url, tmp_path
):
    db_url = old_store_url
    config = tmp_path / "paycli.yaml"
    config.write_text(CONFIG)
    distinct = 1000
    requests = tmp_path / "requests.csv"
    requests.write_text(requests_csv(distinct), encoding="utf-8")
    ingest = subprocess.run(
        old_paycli(db_url, config, "ingest", str(requests)), env=env(), capture_output=True, text=True
    )
    assert ingest.returncode == 0, ingest.stderr
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("ab") as err:
        server = subprocess.Popen(
            old_paycli(db_url, config, "serve", "--port", str(port), "--threads", "8"),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    bodies = [nexi_callback(n) for n in range(distinct)]
    answers: list[tuple[int, int, float]] = []  # callback, status, when it was answered
    upgrade: list[Ran] = []

    def clients(numbers: list[int]) -> None:
        client = Client(port, timeout=120)
        try:
            for n in numbers:
                # until a second after the upgrade: what the older receiver does with the new schema
                if upgrade and time.monotonic() > upgrade[0].ended + 1:
                    break
                status = client.post("/callbacks/nexi", bodies[n], {"Content-Type": FORM}).status
                answers.append((n, status, time.monotonic()))
                time.sleep(0.02)
        finally:
            client.close()

    def upgrader() -> None:
        while len(answers) < 40:
            time.sleep(0.01)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "paycli", "--config", str(config), "--db", db_url, "db", "upgrade"],
            env=env(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        upgrade.append(
            Ran("upgrade", [], done.returncode, done.stdout, done.stderr, started, time.monotonic())
        )

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                probe = Client(port, timeout=5)
                try:
                    if probe.get("/healthz").status == 200:
                        break
                finally:
                    probe.close()
            time.sleep(0.05)
        threads = [threading.Thread(target=clients, args=(list(range(distinct))[i::4],)) for i in range(4)]
        threads.append(threading.Thread(target=upgrader))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        probe = Client(port, timeout=30)
        try:
            health = probe.get("/healthz").status
        finally:
            probe.close()
    finally:
        stop_process(server)
    said = log.read_text()
    [ran] = upgrade
    assert ran.code == 0, ran.stderr
    assert f"upgraded from schema {OLD_SCHEMA} to" in ran.stderr
    assert "Traceback" not in said
    # a callback the old receiver could not store is 503 (the gateway retries), never a 500
    assert {status for _, status, _ in answers} <= {200, 503}, Counter(s for _, s, _ in answers)
    # once the store is upgraded, the older receiver stores nothing more: it refuses, and says why
    after = [n for n, status, at in answers if status == 200 and at > ran.ended + 0.5]
    assert not after, f"{len(after)} callbacks taken by the older receiver after the upgrade"
    assert health == 503
    assert "restart" in said and "upgraded" in said, said[-1500:]
    with Store.open(db_url) as store:
        stored = {r["digest"] for r in store.query("SELECT digest FROM message")}
        acknowledged = {n for n, status, _ in answers if status == 200}
        assert {digest(bodies[n]) for n in acknowledged} <= stored
        assert acknowledged, "the receiver took callbacks before the upgrade"
    # the receiver of this paycli takes the retries, and the store is whole
    server = spawn_serve(db_url, config, port, log)
    try:
        retry = Client(port, timeout=60)
        try:
            for n in sorted({n for n, _, _ in answers} - acknowledged):
                assert retry.post("/callbacks/nexi", bodies[n], {"Content-Type": FORM}).status == 200
        finally:
            retry.close()
    finally:
        stop_process(server)
    sent = len({n for n, _, _ in answers})
    with Store.open(db_url) as store:
        assert store.query("SELECT COUNT(*) AS n FROM response")[0]["n"] == sent
        positivo = "SELECT COUNT(*) AS n FROM payment_request WHERE outcome = 'POSITIVO'"
        assert store.query(positivo)[0]["n"] == sent


# -- a report made while a recompute runs --------------------------------------------------------------
def test_a_report_made_between_two_chunks_of_a_recompute_reads_one_moment_and_says_the_rule_is_changing(
    store, db_url, tmp_path, monkeypatch
):
    """A recompute after a policy change commits a chunk of requests at a time (receivers wait for one
    chunk, not for the whole store), and records the new rule only once the last is done. A report made
    in between reads one moment, in which some outcomes are the old rule's: it says so on top (the
    warning row), and its totals count what its lists show."""
    from typer.testing import CliRunner

    from paycli import recompute, rule
    from paycli.cli import app
    from tests.conftest import make_config, request_csv
    from tests.test_ingest import ingest, message, write_messages

    strict = make_config(tmp_path, "timezone: Europe/Rome\n")
    lines = [f"T{i},O{i},order,{DAY}T10:15:00+01:00,Cliente {i},,129.90,EUR,fake" for i in range(6)]
    ingest(store, strict, request_csv(tmp_path, lines))
    # pending, then approved: MULTIPLE_RESPONSES (progression) under strict, POSITIVO under lifecycle
    said = [message(f"T{i}", f"k{i}", status) for i in range(6) for status in ("pending", "approved")]
    ingest(store, strict, write_messages(tmp_path, *said))
    rule.record(store, strict, replace=False)  # as the first command to open the store keeps it
    (tmp_path / "lifecycle").mkdir()
    lifecycle_file = tmp_path / "lifecycle" / "paycli.yaml"
    lifecycle = make_config(tmp_path / "lifecycle", "timezone: Europe/Rome\npolicy: lifecycle\n")
    monkeypatch.setattr(recompute, "CHUNK", 2)
    reports: list[Path] = []
    chunks = recompute._id_chunks

    def report_between_chunks(store: Store) -> Any:
        for number, ids in enumerate(chunks(store)):
            if number == 1:  # the first chunk committed, the others not yet
                out = tmp_path / "out"
                out.mkdir()
                argv = ["--config", str(lifecycle_file), "--db", db_url, "report", "--date", DAY]
                result = CliRunner().invoke(app, [*argv, "--format", "csv", "--out", str(out)])
                assert result.exit_code == 0, result.output
                reports.extend(out.glob("*.csv"))
            yield ids

    monkeypatch.setattr(recompute, "_id_chunks", report_between_chunks)
    done = recompute.refresh_all(store, lifecycle)
    assert sum(done.transitions.values()) == 6
    [path] = reports
    rows = csv_rows(path.read_text(encoding="utf-8"))
    assert [r["section"] for r in rows].count("warning") == 1
    totals: Counter[str] = Counter()
    for row in rows:
        if row["section"] == "total":
            totals[row["outcome"]] += int(row["count"])
    assert totals == {"POSITIVO": 2, "VERIFICARE": 4}  # the first chunk's two by the new rule
    assert [r["section"] for r in rows].count("verificare") == 4
