"""Ctrl-C and SIGTERM inside a long statement: the command stops at once, as it does between two.

Python runs a signal's handler between two steps of Python code; a SQLite statement that ran for minutes
(a report's aggregate over a large store) held a stop off until it returned. Each test makes one of the
command's own statements slow (a driver runs a long one just before it) and stops the command inside it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paycli.store import Store, sqlite_path
from tests.conftest import ON_POSTGRES, request_csv

# paycli's command line, where the first statement that holds NEEDLE is preceded by a long one; a
# marker file says when the long one starts
DRIVER = """
import sys
from pathlib import Path
import paycli.store

marker, needle, slow = Path(sys.argv.pop(1)), sys.argv.pop(1), sys.argv.pop(1)
execute = paycli.store.Store.execute

def slowed(self, sql, params=()):
    if needle in sql and not marker.exists():
        marker.touch()
        execute(self, slow)
    return execute(self, sql, params)

def streamed(self, sql, params=(), **options):
    if needle in sql and not marker.exists():
        marker.touch()
        execute(self, slow)
    return stream(self, sql, params, **options)

stream = paycli.store.Store.stream_tuples
paycli.store.Store.execute = slowed
paycli.store.Store.stream_tuples = streamed
from paycli.cli import main
main()
"""

# minutes, either way
SLOW = (
    "SELECT pg_sleep(600)"
    if ON_POSTGRES
    else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000000) SELECT count(*) FROM c"
)
SAID = {130: "paycli: interrupted\n", 143: "paycli: terminated\n"}


def _running_elsewhere(db_url: str) -> list[str]:
    """PostgreSQL: the long statement, where a backend still runs it."""
    import psycopg

    with psycopg.connect("postgresql://", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE state = 'active' AND query = %s AND pid <> pg_backend_pid()",
            (SLOW,),
        ).fetchall()
    return [row[0] for row in rows]


def _stop_inside(
    isolated: Path, db_url: str, needle: str, signal_name: str, *args: str
) -> tuple[int, str, float]:
    """Run ``paycli ARGS`` with the statement holding ``needle`` made slow, send ``signal_name`` once it
    runs; the exit code, stderr, and the seconds from the signal to the end."""
    marker = isolated / "slow-statement"
    command = [sys.executable, "-c", DRIVER, str(marker), needle, SLOW, "--db", db_url, *args]
    # SIGINT as a terminal's Ctrl-C sends it, whatever the test runner's own disposition
    run = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), f"the statement was never run: {run.poll()}"
        time.sleep(0.3)  # inside it (a stop just before it is taken as well)
        sent = time.monotonic()
        run.send_signal(getattr(signal, signal_name))
        code = run.wait(timeout=60)
        took = time.monotonic() - sent
        assert run.stderr is not None
        return code, run.stderr.read(), took
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if run.stderr is not None:
            run.stderr.close()


def _no_statement_left(db_url: str) -> None:
    if ON_POSTGRES:  # cancelled on the server, not left running for minutes after its client
        deadline = time.monotonic() + 10
        while _running_elsewhere(db_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _running_elsewhere(db_url)
        if left:  # ended here, so that the test fails rather than wait for it (its locks) to drop its schema
            import psycopg

            with psycopg.connect("postgresql://", autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s AND state = 'active'",
                    (SLOW,),
                )
        assert left == []


@pytest.mark.parametrize(("signal_name", "code"), [("SIGTERM", 143), ("SIGINT", 130)], ids=["term", "int"])
def test_a_report_stopped_inside_a_long_statement_stops_at_once_and_writes_nothing(
    cli, isolated, db_url, signal_name, code
):
    path = request_csv(isolated, ["R-1-1,R-1,order,2026-11-26T10:00:00+01:00,Rossi,,10.00,EUR,nexi"])
    assert cli("ingest", str(path)).code == 0
    out = isolated / "out"
    args = ["report", "--now", "2026-11-27T07:30:00+01:00", "--date", "2026-11-26", "--out", f"{out}/"]
    result = _stop_inside(isolated, db_url, "FROM payment_request", signal_name, *args)
    assert result[:2] == (code, SAID[code]), result
    assert result[2] < 10, result  # not when the statement ends, minutes later
    assert not out.exists() or list(out.iterdir()) == []
    _no_statement_left(db_url)


@pytest.mark.parametrize("args", [["list", "--customer", "rossi"], ["order", "R-1"]], ids=["list", "order"])
def test_ctrl_c_inside_a_long_statement_of_a_listing_stops_at_once(cli, isolated, db_url, args):
    path = request_csv(isolated, ["R-1-1,R-1,order,2026-11-26T10:00:00+01:00,Rossi,,10.00,EUR,nexi"])
    assert cli("ingest", str(path)).code == 0
    result = _stop_inside(isolated, db_url, "FROM payment_request", "SIGINT", *args)
    assert result[:2] == (130, SAID[130]), result
    assert result[2] < 10, result
    _no_statement_left(db_url)


def test_an_ingest_stopped_inside_a_long_lookup_keeps_the_store_whole_and_the_rerun_completes(
    cli, isolated, db_url
):
    path = request_csv(
        isolated, [f"S-{i}-1,S-{i},order,2026-11-26T10:00:00+01:00,Rossi,,10.00,EUR,nexi" for i in range(30)]
    )
    result = _stop_inside(
        isolated, db_url, "FROM payment_request WHERE txn_id IN", "SIGINT", "ingest", str(path)
    )
    assert result[:2] == (130, SAID[130]), result
    assert result[2] < 10, result
    _no_statement_left(db_url)
    with Store.open(db_url) as store:
        # the batch under way was rolled back: nothing of it, nothing half of it
        assert store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"] == 0
        assert store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] == 0
    sqlite = sqlite_path(db_url)
    if sqlite is not None:
        with sqlite3.connect(sqlite) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    again = cli("ingest", str(path))
    assert again.code == 0, again
    with Store.open(db_url) as store:
        assert store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"] == 30


def test_a_stop_abandons_a_statement_inside_a_transaction_which_is_rolled_back(db_url):
    """In the store itself: the statement abandoned raises the stop, not SQLite's 'interrupted' (an
    'unexpected error', exit 70, or a plugin's failure where a boundary catches errors)."""
    import threading

    from paycli import stopping

    with Store.open(db_url) as store, stopping.noted():
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt), store.transaction():
                store.execute("INSERT INTO store_setting (name, value) VALUES ('test', 'x')")
                store.query(SLOW)
        finally:
            timer.cancel()
        assert time.monotonic() - started < 10
        assert stopping.asked()
    with Store.open(db_url) as store:
        assert store.query("SELECT name FROM store_setting WHERE name = 'test'") == []


@pytest.mark.parametrize(
    ("signal_name", "args"),
    [("SIGTERM", ["list", "--customer", "rossi"]), ("SIGKILL", ["ingest", "more.csv"])],
    ids=["list-term", "ingest-kill"],
)
def test_a_command_killed_inside_a_long_statement_leaves_no_statement_running(
    cli, isolated, db_url, signal_name, args
):
    # a command that does not take SIGTERM as Ctrl-C ends at once; on PostgreSQL its statement went on
    # on the server for minutes (an ingest's writer lock held all along)
    path = request_csv(isolated, ["R-1-1,R-1,order,2026-11-26T10:00:00+01:00,Rossi,,10.00,EUR,nexi"])
    assert cli("ingest", str(path)).code == 0
    request_csv(
        isolated, ["R-2-1,R-2,order,2026-11-26T10:00:00+01:00,Rossi,,10.00,EUR,nexi"], name="more.csv"
    )
    result = _stop_inside(isolated, db_url, "FROM payment_request", signal_name, *args)
    assert result[0] == -getattr(signal, signal_name), result
    _no_statement_left(db_url)
    again = cli("ingest", "more.csv")  # no lock left behind either
    assert again.code == 0, again


def test_a_stop_lost_in_a_finaliser_while_rendering_still_stops_the_report(cli, isolated, monkeypatch):
    """A signal whose handler runs inside a finaliser (``__del__``, a generator the collector closes) is
    printed as "Exception ignored" and lost to the code around it: the run went on and put its report
    in place, exit 0. The stop is noted, and no file is put in place after one."""
    import paycli.reports as reports

    path = request_csv(isolated, ["R-1-1,R-1,order,2026-11-26T10:00:00+01:00,Rossi,,10.00,EUR,nexi"])
    assert cli("ingest", str(path)).code == 0

    class Finalised:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)  # taken in here, at the next step of Python code
            time.sleep(0.01)

    render_csv = reports.render_csv

    def rendering(*args, **kwargs):
        Finalised()  # collected at once: its __del__ runs, and the stop's exception is lost there
        render_csv(*args, **kwargs)

    monkeypatch.setattr(reports, "render_csv", rendering)
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)  # pytest's would fail the test
    out = isolated / "out"
    result = cli(
        "report",
        "--now",
        "2026-11-27T07:30:00+01:00",
        "--date",
        "2026-11-26",
        "-f",
        "csv",
        "--out",
        f"{out}/",
    )
    assert (result.code, result.stderr) == (143, SAID[143]), result
    assert list(out.iterdir()) == []
