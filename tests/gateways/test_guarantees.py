"""The guarantees of design.md 5.3 for every provider: order independence (a property test over the
golden scenarios' inputs), and an ingest of many callbacks killed midway then run again."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycli.ingest import Ingest
from paycli.store import Store
from tests.conftest import REQUEST_HEADER, empty_store, snapshot
from tests.gateways.test_golden import NOT_INPUTS, SCENARIOS, scenario_providers


def inputs_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in NOT_INPUTS and not p.name.endswith(".headers"))


# scenarios whose outcome could depend on the order of their inputs: every one with two inputs or more
# (the requests and one message file already have two orders: the message may come first, an orphan)
ORDERED = [s for s in SCENARIOS if len(inputs_of(s)) >= 2]


def ingest_in(store: Store, folder: Path, order: list[Path]) -> dict[str, object]:
    empty_store(store)  # aliases too: one an earlier order left would link what this order cannot
    config, providers = scenario_providers(folder)
    for path in order:  # one run per input: each its own transactions, as files arriving over a day
        Ingest(store, config, providers).run([str(path)])
    outcomes = {
        r["txn_id"]: (r["outcome"], r["reason"], r["detail"], r["response_count"])
        for r in store.query("SELECT txn_id, outcome, reason, detail, response_count FROM payment_request")
    }
    return {"outcomes": outcomes, "store": snapshot(store)}


@pytest.mark.parametrize("folder", ORDERED, ids=lambda p: f"{p.parent.name}/{p.name}")
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_of_the_same_inputs_gives_the_same_store(folder, store, monkeypatch, data):
    monkeypatch.chdir(folder)
    files = inputs_of(folder)
    reference = ingest_in(store, folder, files)
    shuffled = list(data.draw(st.permutations(files)))
    if shuffled == files:  # Hypothesis starts from the given order: compare another one, never it again
        shuffled.reverse()
    assert ingest_in(store, folder, shuffled) == reference


def nexi_callback(txn: str, esito: str, key: str) -> bytes:
    fields = {
        "codTrans": txn,
        "esito": esito,
        "importo": "1990",
        "divisa": "EUR",
        "data": "20261126",
        "orario": "101500",
        "codAut": "A1" if esito == "OK" else "",
    }
    mac = hashlib.sha1(("".join(f"{k}={v}" for k, v in fields.items()) + key).encode()).hexdigest()
    return "&".join(f"{k}={v}" for k, v in {**fields, "mac": mac}.items()).encode()


@pytest.mark.slow
def test_a_callback_folder_ingest_killed_midway_then_run_again_equals_a_clean_run(db_url, tmp_path):
    key = "K7QX2M9PLR4TB8WZ6NDA3HVC1YJ5EUSG"
    folder = tmp_path / "callbacks"
    folder.mkdir()
    rows = []
    for i in range(3000):
        rows.append(f"N{i},O{i},order,2026-11-26T10:15:00+01:00,Cliente {i},,19.90,EUR,nexi")
        (folder / f"{i:05d}-ok.txt").write_bytes(nexi_callback(f"N{i}", "OK", key))
        if i % 3 == 0:  # a redelivery with other bytes (the browser return), the same response
            (folder / f"{i:05d}-return.txt").write_bytes(
                nexi_callback(f"N{i}", "OK", key) + b"&languageId=ITA"
            )
    (tmp_path / "requests.csv").write_text(REQUEST_HEADER + "\n".join(rows) + "\n")
    cfg = tmp_path / "paycli.yaml"
    cfg.write_text(f"timezone: Europe/Rome\nbatch_size: 100\ngateways:\n  nexi:\n    mac_key: {key}\n")
    base = [sys.executable, "-m", "paycli", "--config", str(cfg), "--db", db_url, "ingest"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with Store.open(db_url) as store:
        subprocess.run([*base, str(tmp_path / "requests.csv")], env=env, check=True, capture_output=True)
        proc = subprocess.Popen(
            [*base, str(folder)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] < 300:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = store.query("SELECT COUNT(*) AS n FROM message")[0]["n"]
        assert 0 < partial < 4000, "the kill should land in the middle"
        subprocess.run([*base, str(folder)], env=env, check=True, capture_output=True)
        after_rerun = snapshot(store)
        for table in ("settlement", "message", "response"):
            store.execute(f"DELETE FROM {table}")
        store.execute(
            "UPDATE payment_request SET outcome = 'VERIFICARE', reason = 'NO_RESPONSE', detail = NULL, response_count = 0"
        )
    subprocess.run([*base, str(folder)], env=env, check=True, capture_output=True)
    with Store.open(db_url) as store:
        assert snapshot(store) == after_rerun
        assert len(after_rerun["responses"]) == 3000
        assert (
            store.query("SELECT COUNT(*) AS n FROM payment_request WHERE outcome = 'POSITIVO'")[0]["n"]
            == 3000
        )
        assert store.query("SELECT SUM(deliveries) AS n FROM response")[0]["n"] == 4000
