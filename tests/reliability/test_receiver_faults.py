"""The receiver while its PostgreSQL server restarts: gateways get 503 while it is down (so that they
retry), and no acknowledged callback is lost.

It needs a server this machine runs and may restart: the throw-away cluster of ``pg_virtualenv``
(``make test-pg`` under it, as CI runs it, as root). Elsewhere it is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from paycli.store import Store
from tests.conftest import ON_POSTGRES
from tests.serve.conftest import Client, count, free_port, spawn_serve, stop_process
from tests.serve.test_load import prepare
from tests.serve.traffic import digest, nexi_callback, send_all

pytestmark = pytest.mark.slow


def local_cluster(store: Store) -> tuple[str, str] | None:
    """(version, name) of the local cluster serving this store, when pg_ctlcluster can restart it."""
    if os.geteuid() != 0 or not shutil.which("pg_lsclusters"):
        return None
    port = str(store.query("SELECT current_setting('port') AS p")[0]["p"])
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
    for line in listing.stdout.splitlines():
        version, name, cluster_port, status, *_ = line.split()
        if cluster_port == port and status == "online":
            return version, name
    return None


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL restart: run under make test-pg")
def test_postgresql_restarted_under_load_is_503_while_down_and_nothing_acknowledged_is_lost(
    store, db_url, isolated, tmp_path
):
    cluster = local_cluster(store)
    if cluster is None:
        pytest.skip(
            "the PostgreSQL server is not a local cluster this user may restart (pg_virtualenv as root)"
        )
    distinct = 3000
    bodies = [nexi_callback(n) for n in range(distinct)]
    config_file = prepare(isolated, store, distinct)
    store.close()
    port = free_port()
    log = tmp_path / "serve.log"
    server = spawn_serve(db_url, config_file, port, log)
    down_health: list[int] = []

    def restart_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and log.read_text().count("/callbacks/nexi 200") < 400:
            time.sleep(0.01)
        subprocess.run(["pg_ctlcluster", *cluster, "stop", "-m", "fast"], check=True)
        try:
            time.sleep(1.5)  # gateways keep calling while it is down
            client = Client(port, timeout=10)
            try:
                down_health.append(client.get("/healthz").status)
            finally:
                client.close()
        finally:
            subprocess.run(["pg_ctlcluster", *cluster, "start"], check=True)

    restarter = threading.Thread(target=restart_when_busy)
    restarter.start()
    try:
        load = send_all(port, list(range(distinct)), bodies, clients=8)
    finally:
        restarter.join()
    try:
        statuses = {status for _, status, _ in load.sends}
        assert down_health == [503], "healthz says the store is gone"
        assert 503 in statuses, (
            "a callback that cannot be committed is answered 503, for the gateway to retry"
        )
        assert statuses <= {200, 503}, statuses
        acknowledged = load.acknowledged()
        with Store.open(db_url) as after:
            stored = {r["digest"] for r in after.query("SELECT digest FROM message")}
            assert {digest(bodies[n]) for n in acknowledged} <= stored, "an acknowledged callback was lost"
        # the gateways retry what got 503; the receiver, reconnected, takes each once
        retry = send_all(port, [n for n in range(distinct) if n not in acknowledged], bodies, clients=8)
        assert {status for _, status, _ in retry.sends} == {200}
    finally:
        stop_process(server)
    with Store.open(db_url) as after:
        assert count(after, "SELECT COUNT(*) AS n FROM message") == distinct
        assert count(after, "SELECT COUNT(*) AS n FROM response WHERE deliveries <> 1") == 0
        assert (
            count(after, "SELECT COUNT(*) AS n FROM payment_request WHERE outcome = 'POSITIVO'") == distinct
        )


@pytest.mark.skipif(not os.environ.get("PAYCLI_REQUIRE_PG_RESTART"), reason="only where CI asks for it")
def test_ci_has_a_server_it_may_restart(store):
    """A guard: .ci/run sets PAYCLI_REQUIRE_PG_RESTART, so that the restart test runs there, not skips."""
    assert ON_POSTGRES and local_cluster(store) is not None
