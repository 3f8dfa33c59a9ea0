"""paycli serve under load, killed, and raced: every acknowledged callback is stored, once.

These run ``paycli serve`` as a process of its own on a loopback port, on the test store (SQLite, or
PostgreSQL under ``make test-pg``), and send signed Nexi notifications from 8 client threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from paycli import gateways
from paycli.ingest import Ingest
from paycli.store import Store
from tests.conftest import ON_POSTGRES, make_config, snapshot
from tests.serve.conftest import count, free_port, spawn_serve, stop_process
from tests.serve.traffic import CONFIG, FORM, digest, nexi_callback, requests_csv, schedule, send_all

pytestmark = pytest.mark.slow


def prepare(folder: Path, store: Store, distinct: int) -> Path:
    """The receiver's configuration file, and the shop's requests already in the store."""
    config_file = folder / "serve.yaml"
    config_file.write_text(CONFIG)
    config = make_config(folder, CONFIG)
    requests = folder / "requests.csv"
    requests.write_text(requests_csv(distinct))
    Ingest(store, config, gateways.instances(config, gateways.installed())).run([str(requests)])
    return config_file


def test_8_clients_send_10000_callbacks_with_20_percent_redeliveries_and_each_is_stored_once(
    store, db_url, isolated, tmp_path
):
    distinct = 8000
    order = schedule(distinct, 0.20)
    assert len(order) == 10_000
    bodies = [nexi_callback(n) for n in range(distinct)]
    config_file = prepare(isolated, store, distinct)
    port = free_port()
    server = spawn_serve(db_url, config_file, port, tmp_path / "serve.log")
    try:
        load = send_all(port, order, bodies, clients=8)
    finally:
        stop_process(server)
    assert len(load.sends) == 10_000
    assert Counter(status for _, status, _ in load.sends) == {200: 10_000}
    stored = {r["digest"] for r in store.query("SELECT digest FROM message WHERE state = 'response'")}
    assert stored == {digest(b) for b in bodies}
    assert count(store, "SELECT COUNT(*) AS n FROM message") == distinct
    assert count(store, "SELECT COUNT(*) AS n FROM response") == distinct
    assert count(store, "SELECT COUNT(*) AS n FROM response WHERE deliveries <> 1") == 0
    # every delivery recorded, each redelivery as a duplicate of its message
    per_message = {
        r["message_digest"]: r["n"]
        for r in store.query("SELECT message_digest, COUNT(*) AS n FROM delivery GROUP BY message_digest")
    }
    assert per_message == {digest(bodies[n]): k for n, k in Counter(order).items()}
    assert count(store, "SELECT COUNT(*) AS n FROM delivery WHERE duplicate = :t", {"t": True}) == 2000
    assert count(store, "SELECT COUNT(*) AS n FROM payment_request WHERE outcome = 'POSITIVO'") == distinct
    rate = len(load.sends) / load.seconds
    print(f"\n{rate:.0f} callbacks/s over {load.seconds:.1f} s")


def test_killed_with_9_in_the_middle_of_the_load_and_restarted_everything_acknowledged_is_there(
    store, db_url, isolated, tmp_path
):
    distinct = 3000
    bodies = [nexi_callback(n) for n in range(distinct)]
    config_file = prepare(isolated, store, distinct)
    port = free_port()
    log = tmp_path / "serve.log"
    server = spawn_serve(db_url, config_file, port, log)

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and log.read_text().count("/callbacks/nexi 200") < 400:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    try:
        load = send_all(port, list(range(distinct)), bodies, clients=8)
    finally:
        killer.join()
        server.wait()
    assert server.returncode == -signal.SIGKILL
    acknowledged = load.acknowledged()
    assert 300 <= len(acknowledged) < distinct, "the kill must fall in the middle of the load"

    server = spawn_serve(db_url, config_file, port, log)  # restarted on the same store
    try:
        with Store.connect(db_url) as after:
            stored = {r["digest"] for r in after.query("SELECT digest FROM message")}
            assert {digest(bodies[n]) for n in acknowledged} <= stored
            assert count(after, "SELECT COUNT(*) AS n FROM response WHERE deliveries <> 1") == 0
        # the gateways retry whatever got no answer: in the end each is there once
        retry = send_all(port, [n for n in range(distinct) if n not in acknowledged], bodies, clients=8)
        assert all(status == 200 for _, status, _ in retry.sends)
    finally:
        stop_process(server)
    assert count(store, "SELECT COUNT(*) AS n FROM message") == distinct
    assert count(store, "SELECT COUNT(*) AS n FROM response") == distinct
    assert count(store, "SELECT COUNT(*) AS n FROM payment_request WHERE outcome = 'POSITIVO'") == distinct


def variant(n: int, v: int) -> bytes:
    """Notification n as sent the v-th time: other bytes (a field the MAC does not cover), the same
    response."""
    return nexi_callback(n) + f"&languageId=V{v}".encode()


def test_the_same_notifications_at_once_from_every_side_lose_nothing_and_double_nothing(
    store, db_url, other_db_url, isolated, tmp_path
):
    """Each notification arrives 3 times with other bytes, and each of those 4 times, all at once:
    on SQLite through a receiver and two cron ingests of the same files; on PostgreSQL through two
    receivers. The store ends as one sequential ingest of the files makes it."""
    distinct, variants = 60, 3
    config_file = prepare(isolated, store, distinct)
    folder = tmp_path / "callbacks"
    folder.mkdir()
    bodies = []
    for n in range(distinct):
        for v in range(variants):
            body = variant(n, v)
            bodies.append(body)
            (folder / f"{n:03d}-{v}.txt").write_bytes(body)
            (folder / f"{n:03d}-{v}.txt.headers").write_text(f"Content-Type: {FORM}\n")
    order = [i for i in range(len(bodies)) for _ in range(4)]
    receivers = 2 if ON_POSTGRES else 1
    ports = [free_port() for _ in range(receivers)]
    servers = [spawn_serve(db_url, config_file, p, tmp_path / f"serve{p}.log") for p in ports]
    env = {**os.environ, "PAYCLI_CONFIG": str(config_file), "PAYCLI_DB": db_url}
    try:
        ingests = []
        if not ON_POSTGRES:  # a receiver and cron ingests share one SQLite file
            ingests = [
                subprocess.Popen(
                    [sys.executable, "-m", "paycli", "ingest", str(folder)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for _ in range(2)
            ]
        loads: list = []
        senders = [
            threading.Thread(target=lambda p=p: loads.append(send_all(p, order, bodies, clients=4)))
            for p in ports
        ]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        for process in ingests:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()
    finally:
        for server in servers:
            stop_process(server)
    assert all(status == 200 for load in loads for _, status, _ in load.sends)
    assert count(store, "SELECT COUNT(*) AS n FROM delivery") == len(order) * receivers
    assert count(store, "SELECT COUNT(*) AS n FROM message") == distinct * variants
    assert count(store, "SELECT COUNT(*) AS n FROM response") == distinct
    assert count(store, "SELECT COUNT(*) AS n FROM response WHERE deliveries <> :k", {"k": variants}) == 0
    # the same as one sequential ingest of the same files
    with Store.open(other_db_url) as sequential:
        config = make_config(isolated, CONFIG)
        providers = gateways.instances(config, gateways.installed())
        Ingest(sequential, config, providers).run([str(isolated / "requests.csv"), str(folder)])
        assert snapshot(sequential) == snapshot(store)
