"""SQLite: the receiver's writer thread commits the waiting callbacks together, each in a savepoint."""

from __future__ import annotations

import threading
import time

import pytest

from paycli import gateways
from paycli.serve import App, Unavailable
from tests.conftest import ON_POSTGRES, make_config

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="on PostgreSQL each callback is its own transaction")

ROW = (
    "INSERT INTO delivery (received_at, provider, method, path, headers, body_bytes, result, duplicate, "
    "status) VALUES ('2026-11-27 10:00:00.000000', :p, 'POST', '/', '', 0, 'response', 0, 200)"
)


def test_jobs_that_wait_share_one_commit_and_a_failing_one_is_rolled_back_alone(store, db_url, isolated):
    app = App(db_url, make_config(isolated), gateways.installed(), log=lambda line: None)
    assert app._group is not None
    release, inside = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def blocker(s):
        inside.set()
        release.wait(10)
        s.execute(ROW, {"p": "first"})
        return "first"

    def good(name):
        def apply(s):
            s.execute(ROW, {"p": name})
            return name

        return apply

    def bad(s):
        s.execute(ROW, {"p": "bad"})
        raise RuntimeError("a bug in one callback")

    def submit(name, apply):
        try:
            results[name] = app._group.run(apply)
        except Exception as exc:
            results[name] = exc

    threads = [threading.Thread(target=submit, args=("first", blocker))]
    threads[0].start()
    assert inside.wait(10)  # the writer took the first job and waits inside it
    for name, apply in (("second", good("second")), ("bad", bad), ("third", good("third"))):
        t = threading.Thread(target=submit, args=(name, apply))
        t.start()
        threads.append(t)
    while app._group.jobs.qsize() < 3:
        threading.Event().wait(0.01)
    commits_before = store.query("PRAGMA data_version")[0][0]
    release.set()
    for t in threads:
        t.join(10)
    app.close()
    assert results["first"] == "first" and results["second"] == "second" and results["third"] == "third"
    assert isinstance(results["bad"], RuntimeError)
    stored = sorted(r["provider"] for r in store.query("SELECT provider FROM delivery"))
    assert stored == ["first", "second", "third"]
    assert store.query("PRAGMA data_version")[0][0] == commits_before + 1, "one commit for the four"


def test_a_store_that_cannot_commit_fails_the_whole_batch(store, db_url, isolated):
    app = App(
        db_url, make_config(isolated, "serve:\n  store_timeout_seconds: 1\n"), {}, log=lambda line: None
    )
    assert app._group is not None
    store.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Unavailable):
            app._group.run(lambda s: s.execute(ROW, {"p": "x"}))
    finally:
        store.execute("ROLLBACK")
    assert app._group.run(lambda s: s.execute(ROW, {"p": "y"}) and "ok") == "ok"
    app.close()
    assert [r["provider"] for r in store.query("SELECT provider FROM delivery")] == ["y"]


def test_callbacks_queued_behind_a_locked_store_each_wait_store_timeout_not_one_more_for_each_ahead(
    store, db_url, isolated
):
    # A cron ingest holds the lock: the writer tried the callbacks one after the other, each for the
    # whole busy timeout, so the fifth of five answered 503 after five timeouts (past nginx's and the
    # gateway's own time-out for a 5 s setting and a few callbacks a second)
    app = App(
        db_url, make_config(isolated, "serve:\n  store_timeout_seconds: 1\n"), {}, log=lambda line: None
    )
    assert app._group is not None
    waited: dict[int, tuple[str, float]] = {}

    def submit(n: int) -> None:
        started = time.monotonic()
        try:
            app._group.run(lambda s: s.execute(ROW, {"p": str(n)}))
            waited[n] = ("ok", time.monotonic() - started)
        except Unavailable:
            waited[n] = ("503", time.monotonic() - started)

    store.execute("BEGIN IMMEDIATE")
    try:
        threads = [threading.Thread(target=submit, args=(n,)) for n in range(5)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(30)
    finally:
        store.execute("ROLLBACK")
    assert sorted(waited) == list(range(5))
    assert all(result == "503" and seconds < 1.6 for result, seconds in waited.values()), waited
    assert app._group.run(lambda s: s.execute(ROW, {"p": "after"}) and "ok") == "ok"
    app.close()
