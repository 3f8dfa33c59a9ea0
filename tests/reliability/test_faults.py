"""Faults during an ingest: killed at random points, the disk filling up, the store locked by another
writer. Each time the store stays consistent, and what a rerun leaves equals a clean run.

The workload is one ``paycli ingest`` of three kinds of input, as a night's cron sees them: the shop's
request file, a bank's CSV export read through a ``csv`` provider, and a folder of Nexi callbacks
(some delivered twice). Each runs as a real process, so that a kill is a real ``kill -9``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paycli.store import Store
from tests.conftest import ON_POSTGRES, REQUEST_HEADER, empty_store, snapshot
from tests.gateways.test_guarantees import nexi_callback

ROOT = Path(__file__).resolve().parents[2]
NEXI_KEY = "K7QX2M9PLR4TB8WZ6NDA3HVC1YJ5EUSG"  # made up: signs the synthetic callbacks only
KILL_POINTS = 20
SEED = 20261127


@dataclass
class Workload:
    folder: Path
    config: Path
    inputs: list[str]
    units: int  # requests plus messages a clean run stores

    def command(self, db_url: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "paycli", "--config", str(self.config), "--db", db_url, *args]

    def ingest(self, db_url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(db_url, "ingest", *self.inputs), env=ENV, capture_output=True, text=True, timeout=300
        )


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def write_workload(folder: Path, payments: int = 900, batch_size: int = 40) -> Workload:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    requests, export, callbacks = (
        [],
        ["Data operazione;ID operazione;Importo;Divisa;Causale;Esito"],
        folder / "cb",
    )
    callbacks.mkdir()
    messages = 0
    for i in range(payments):
        if i % 2:
            requests.append(f"B{i},OB{i},order,2026-11-26T10:15:00+01:00,Cliente {i},,12.50,EUR,mybank")
            word = rng.choice(["ESEGUITO", "ESEGUITO", "RIFIUTATO", "IN CORSO"])
            export.append(f"26/11/2026 10:{i % 60:02d};{8_000_000 + i};12,50;EUR;Ordine B{i};{word}")
            messages += 1
        else:
            requests.append(f"N{i},ON{i},order,2026-11-26T10:15:00+01:00,Cliente {i},,19.90,EUR,nexi")
            body = nexi_callback(f"N{i}", rng.choice(["OK", "OK", "KO"]), NEXI_KEY)
            (callbacks / f"{i:05d}.txt").write_bytes(body)
            messages += 1
            if i % 5 == 0:  # delivered again with other bytes: the same response, two deliveries
                (callbacks / f"{i:05d}-again.txt").write_bytes(body + b"&languageId=ITA")
                messages += 1
    (folder / "requests.csv").write_text(REQUEST_HEADER + "\n".join(requests) + "\n", encoding="utf-8")
    (folder / "export.csv").write_text("\n".join(export) + "\n", encoding="utf-8")
    config = folder / "paycli.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            timezone: Europe/Rome
            batch_size: {batch_size}
            gateways:
              nexi:
                mac_key: {NEXI_KEY}
              mybank:
                provider: csv
                delimiter: ";"
                decimal_mark: ","
                date_format: "%d/%m/%Y %H:%M"
                columns:
                  reference: Causale
                  amount: Importo
                  currency: Divisa
                  status: Esito
                  date: Data operazione
                  gateway_txn_id: ID operazione
                status_map:
                  approved: [ESEGUITO]
                  refused: [RIFIUTATO]
                  pending: [IN CORSO]
                reference_pattern: "[BN][0-9]+"
                dedupe_key: [ID operazione]
            """
        )
    )
    inputs = [str(folder / "requests.csv"), str(folder / "export.csv"), str(callbacks)]
    return Workload(folder, config, inputs, payments + messages)


def stored(store: Store) -> int:
    return store.query("SELECT (SELECT COUNT(*) FROM payment_request) + (SELECT COUNT(*) FROM message) AS n")[
        0
    ]["n"]


def consistent(store: Store, workload: Workload) -> None:
    """What a stored outcome says is what the rule says of what is stored: recompute changes nothing."""
    if store.backend == "sqlite":
        assert store.query("PRAGMA integrity_check")[0][0] == "ok"
    run = subprocess.run(
        [*workload.command(store.url, "recompute")], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.rstrip().endswith(": 0 changed"), run.stderr


def kill_and_rerun(
    store: Store, db_url: str, workload: Workload, points: list[int], reference: Any
) -> list[int]:
    """For each point, on an emptied store: an ingest killed (SIGKILL) once that many units are stored,
    then run again, must equal the clean run's ``reference``; returns how many units each kill left."""
    landed = []
    for point in points:
        empty_store(store)
        proc = subprocess.Popen(
            workload.command(db_url, "ingest", *workload.inputs),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and stored(store) < point and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        landed.append(stored(store))
        rerun = workload.ingest(db_url)
        assert rerun.returncode == 0, rerun.stderr
        assert snapshot(store) == reference, f"killed with {landed[-1]} of {workload.units} stored"
    consistent(store, workload)
    return landed


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    # PostgreSQL pays a round trip a statement: a smaller night keeps 20 kills within a minute
    return write_workload(tmp_path_factory.mktemp("faults"), payments=300 if ON_POSTGRES else 900)


@pytest.mark.slow
def test_an_ingest_killed_at_20_random_points_then_run_again_equals_a_clean_run(db_url, workload):
    with Store.open(db_url) as store:
        clean = workload.ingest(db_url)
        assert clean.returncode == 0, clean.stderr
        reference = snapshot(store)
        assert stored(store) == workload.units
        rng = random.Random(SEED)
        points = sorted(
            rng.randint(workload.units // 20, workload.units * 19 // 20) for _ in range(KILL_POINTS)
        )
        landed = kill_and_rerun(store, db_url, workload, points, reference)
    # most kills must land inside the run, not after it: otherwise the test proves nothing
    inside = [n for n in landed if 0 < n < workload.units]
    assert len(inside) >= KILL_POINTS * 3 // 4, landed


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="the disk of a PostgreSQL server is the server's")
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a small tmpfs needs root"
)
def test_the_disk_filling_up_mid_ingest_gives_one_clear_line_and_a_consistent_store(tmp_path, db_url):
    workload = write_workload(tmp_path / "work", payments=4000, batch_size=200)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(small)], check=True)
    try:
        template = Path(db_url.removeprefix("sqlite:///"))
        shutil.copy(template, small / "paycli.db")
        full_url = f"sqlite:///{small / 'paycli.db'}"
        run = workload.ingest(full_url)
        assert run.returncode == 2, run.stderr
        lines = run.stderr.strip().splitlines()
        assert "Traceback" not in run.stderr
        assert any(
            "disk" in line and "full" in line and str(small / "paycli.db") in line for line in lines
        ), lines
        with Store.open(full_url) as store:
            assert 0 < stored(store) < workload.units  # whole batches, up to the one that did not fit
            consistent(store, workload)
        # with room again, a rerun completes it: the same as a clean run
        shutil.copy(small / "paycli.db", template)
        for suffix in ("-wal", "-shm"):
            if (small / f"paycli.db{suffix}").exists():
                shutil.copy(small / f"paycli.db{suffix}", f"{template}{suffix}")
    finally:
        subprocess.run(["umount", str(small)], check=True)
    rerun = workload.ingest(db_url)
    assert rerun.returncode == 0, rerun.stderr
    with Store.open(db_url) as store:
        after = snapshot(store)
        empty_store(store)
    assert workload.ingest(db_url).returncode == 0
    with Store.open(db_url) as store:
        assert snapshot(store) == after
        assert stored(store) == workload.units


HOLDER = """
import sys, time
url = sys.argv[1]
if url.startswith("sqlite"):
    import sqlite3
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
else:
    import psycopg
    conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql", 1))
    conn.execute("LOCK TABLE payment_request IN EXCLUSIVE MODE")
conn.execute(
    "INSERT INTO payment_request (txn_id, kind, created_at, customer, search_text, amount_minor, currency, "
    "gateway, source, registered_at, outcome, reason, response_count) VALUES ('HELD', 'other', "
    "'2026-11-26 09:00:00.000000', 'Other writer', 'other writer', 100, 'EUR', 'nexi', 'test', "
    "'2026-11-26 09:00:00.000000', 'VERIFICARE', 'NO_RESPONSE', 0)"
)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT") if url.startswith("sqlite") else conn.commit()
"""


@pytest.mark.slow
def test_a_store_locked_by_another_writer_for_10_s_is_waited_for_and_the_ingest_completes(db_url, workload):
    Store.open(db_url).close()  # the schema exists before the other writer takes its lock
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url, "10"], env=ENV, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        run = workload.ingest(db_url)
        waited = time.monotonic() - started
        assert holder.wait(timeout=60) == 0
    assert run.returncode == 0, run.stderr
    assert waited >= 8, f"the ingest finished in {waited:.1f} s: the lock was not held against it"
    with Store.open(db_url) as store:
        assert stored(store) == workload.units + 1  # and the row of the other writer


STL_COLUMNS = (
    '"CH","Transaction ID","Invoice ID","PayPal Reference ID","PayPal Reference ID Type",'
    '"Transaction Event Code","Transaction Initiation Date","Transaction Completion Date",'
    '"Transaction  Debit or Credit","Gross Transaction Amount","Gross Transaction Currency",'
    '"Fee Debit or Credit","Fee Amount","Fee Currency","Custom Field","Consumer ID","Payment Tracking ID",'
    '"Store ID"'
)
BALANCE_COLUMNS = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,"
    "source_id,description,payment_intent_id,charge_id,payment_metadata[txn_id]"
)


def write_every_provider_workload(folder: Path, payments: int = 60) -> Workload:
    """A night of every provider at once: PayPal IPNs and Stripe webhooks with their sidecar headers,
    Skrill and Nexi posts, Axerve's decrypted results, a bank export through a csv provider, each
    redelivered with other bytes now and then; a PayPal STL and a Stripe balance report of the same
    payments. Half the requests come before the messages and half after them (orphans, linked late)."""
    from tests.reliability.notifications import CONFIG, NOTIFIERS, paypal

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    callbacks = folder / "cb"
    callbacks.mkdir()
    rows, units = [], 0
    stl = ['\ufeff"RH",2026/11/27 03:02:13 -0800,"A","ZQ9XK2L7M4N5P",009', '"FH",01', STL_COLUMNS]
    balance = [BALANCE_COLUMNS]
    for i in range(payments):
        for g, (gateway, build) in enumerate(sorted(NOTIFIERS.items())):
            txn = f"PR-{g}{i:04d}-1"  # what the csv provider's reference_pattern finds
            approved = rng.random() < 0.75
            rows.append(f"{txn},{txn[:-2]},order,2026-11-26T10:15:00+01:00,Cliente {i},,19.90,EUR,{gateway}")
            for variant in range(2 if i % 4 == 0 else 1):  # a redelivery: other bytes, the same response
                raw, headers = build(txn, approved, variant=variant)
                path = callbacks / f"{gateway}-{i:04d}-{variant}.txt"
                path.write_bytes(raw)
                if headers is not None:
                    path.with_name(path.name + ".headers").write_text(headers)
                units += 1
            if approved and gateway == "paypal":
                pp_txn = next(
                    kv.split("=")[1]
                    for kv in paypal(txn, True)[0].decode().split("&")
                    if kv.startswith("txn_id=")
                )
                stl.append(
                    f'"SB","{pp_txn}","{txn}","","","T0007",2026/11/26 01:12:45 -0800,'
                    f'2026/11/26 01:12:45 -0800,"CR",1990,"EUR","DR",88,"EUR","","","",""'
                )
                units += 1
            if approved and gateway == "stripe":
                balance.append(
                    f"txn_sec_{txn},2026-11-26 09:17:02,2026-12-03 00:00:00,eur,19.90,0.53,19.37,charge,"
                    f"ch_sec_{txn},Ordine {txn},pi_sec_{txn},ch_sec_{txn},{txn}"
                )
                units += 1
    stl += [f'"RC",{len(stl) - 3}', '"FF",01']
    (folder / "STL-20261127.01.009.CSV").write_bytes("\r\n".join(stl).encode("utf-8") + b"\r\n")
    (folder / "balance.csv").write_text("\n".join(balance) + "\n", encoding="utf-8")
    half = len(rows) // 2
    (folder / "requests-a.csv").write_text(REQUEST_HEADER + "\n".join(rows[:half]) + "\n", encoding="utf-8")
    (folder / "requests-b.csv").write_text(REQUEST_HEADER + "\n".join(rows[half:]) + "\n", encoding="utf-8")
    config = folder / "paycli.yaml"
    config.write_text(CONFIG.replace("REQUIRE", "false").replace("gateways:", "batch_size: 25\ngateways:", 1))
    inputs = [str(folder / n) for n in ("requests-a.csv", "cb", "STL-20261127.01.009.CSV", "balance.csv")]
    return Workload(folder, config, [*inputs, str(folder / "requests-b.csv")], len(rows) + units)


@pytest.mark.slow
def test_an_ingest_of_every_provider_killed_at_random_points_then_run_again_equals_a_clean_run(
    db_url, tmp_path
):
    from tests.reliability.notifications import NOTIFIERS

    workload = write_every_provider_workload(tmp_path / "night", payments=25 if ON_POSTGRES else 60)
    with Store.open(db_url) as store:
        clean = workload.ingest(db_url)
        assert clean.returncode == 0, clean.stderr
        reference = snapshot(store)
        assert stored(store) == workload.units
        assert store.query("SELECT COUNT(*) AS n FROM message WHERE state = 'quarantined'")[0]["n"] == 0
        assert {r["provider"] for r in store.query("SELECT DISTINCT provider FROM response")} == set(
            NOTIFIERS
        )
        assert {r["provider"] for r in store.query("SELECT DISTINCT provider FROM settlement")} == {
            "paypal",
            "stripe",
        }
        assert store.query("SELECT COUNT(*) AS n FROM response WHERE request_id IS NULL")[0]["n"] == 0
        rng = random.Random(SEED)
        points = sorted(rng.randint(workload.units // 10, workload.units * 9 // 10) for _ in range(8))
        landed = kill_and_rerun(store, db_url, workload, points, reference)
    assert len([n for n in landed if 0 < n < workload.units]) >= 6, landed
