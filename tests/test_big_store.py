"""What keeps the everyday commands fast, and their memory bounded, on a store of a million requests.

SQLite's query plans: paycli never runs ANALYZE, so SQLite plans every query with its default estimates, whatever the store
holds: the plans of an empty store are those of a store of a million requests. A plan that reads a whole
table, or a large part of one for each row of another, is a command that a big store makes slow; these
tests keep the everyday commands on their indexes (``bench/bench_everyday.py`` measures them). And
listings written as they are read, not held whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from paycli.commands.output import Format, emit
from paycli.reports.period import Period
from paycli.reports.settlement import SettlementMatch
from paycli.store import Store
from tests.conftest import ON_POSTGRES

sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's query plans")


def plan(store: Store, sql: str, params: dict[str, Any]) -> list[str]:
    return [str(row[3]) for row in store.connection.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def day() -> Period:
    return Period(
        date(2026, 11, 26),
        date(2026, 11, 26),
        datetime(2026, 11, 25, 23, tzinfo=UTC),
        datetime(2026, 11, 26, 23, tzinfo=UTC),
        "2026-11-26",
    )


@sqlite_only
def test_the_settlement_match_looks_a_charge_up_by_its_transaction_not_through_every_line_of_its_gateway(
    store: Store,
):
    """Whether a request's charge was settled is looked up from its responses, each by the gateway
    transaction it names: joined the other way round, SQLite read every settlement line of the gateway
    for each request (a month's report on a million requests ran for hours)."""
    match = SettlementMatch(store, day(), ())
    match.covered = ["paypal", "stripe"]
    lines, params = match._lines_sql()
    not_settled, more = match._not_settled_sql("COUNT(*) AS n")
    for sql, p in ((lines, params), (not_settled, more)):
        steps = plan(store, sql, p)
        settlement = [s for s in steps if s.startswith(("SEARCH c ", "SCAN c", "SEARCH s ", "SCAN s"))]
        assert settlement, steps
        for step in settlement:
            assert "(provider=?)" not in step and "SCAN" not in step, steps


@sqlite_only
def test_messages_of_a_state_come_newest_first_from_an_index_without_a_sort(store: Store):
    """``paycli messages --state response --limit 50`` read and sorted every response message of the
    store (1,500,000 on a big one) to print 50."""
    for state in ("quarantined", "response"):
        sql = (  # list_messages' query
            "SELECT id, provider, source, line, received_at, state, error, note, reference FROM message "
            "WHERE state = :state ORDER BY received_at DESC, id DESC LIMIT 50"
        )
        steps = plan(store, sql, {"state": state})
        assert steps == ["SEARCH message USING INDEX ix_message_state_received (state=?)"], steps


@pytest.mark.parametrize("fmt", [Format.json, Format.ndjson, Format.csv])
def test_a_listing_is_written_as_its_rows_come_not_once_all_are_read(
    fmt: Format, capsys: pytest.CaptureFixture[str]
):
    """``paycli list --format csv`` of a million requests held them all (and their dictionaries) before
    writing the first: each row is now written before the next is read."""
    written: list[str] = []

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(3):
            written.append(capsys.readouterr().out)
            yield {"txn_id": f"ORD-{n}", "amount": "1.00"}

    emit(rows(), fmt, table=lambda r: "", empty="none")
    written.append(capsys.readouterr().out)
    assert "ORD-0" not in written[0]
    assert "ORD-0" in written[1] and "ORD-1" not in written[1]
    assert "ORD-1" in written[2] and "ORD-2" not in written[2]
    assert "ORD-2" in written[3]
    out = "".join(written)
    if fmt is Format.json:  # the same array as before, to the byte
        assert (
            out == json.dumps([{"txn_id": f"ORD-{n}", "amount": "1.00"} for n in range(3)], indent=2) + "\n"
        )


@pytest.mark.parametrize("fmt", [Format.json, Format.csv, Format.table])
def test_an_empty_listing_is_written_as_before(fmt: Format, capsys: pytest.CaptureFixture[str]):
    emit(iter(()), fmt, table=lambda r: "", empty="No payment request matches.", fields=("txn_id", "amount"))
    out, err = capsys.readouterr()
    assert (out, err) == {
        Format.json: ("[]\n", ""),
        Format.csv: ("txn_id,amount\r\n", ""),
        Format.table: ("", "No payment request matches.\n"),
    }[fmt]


def test_paycli_list_reads_the_store_a_row_at_a_time(store: Store, monkeypatch: pytest.MonkeyPatch):
    """The rows come from the store as they are written, in the list's order; on PostgreSQL through a
    server-side cursor, a batch at a time (its driver would otherwise hold the whole result)."""
    from paycli import store as store_module
    from paycli.queries import Filters, list_requests

    monkeypatch.setattr(store_module, "SERVER_SIDE_ROWS", 2)

    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    with store.transaction():
        store.executemany(
            "INSERT INTO payment_request (txn_id, order_id, kind, created_at, customer, email, search_text, "
            "amount_minor, currency, gateway, source, registered_at, outcome, response_count) "
            "VALUES (?, NULL, 'other', ?, 'Anna Rossi', NULL, 'anna rossi', 1250, 'EUR', 'nexi', 'x', ?, "
            "'VERIFICARE', 0)",
            [(f"PAY-{n}", store.time(now.replace(minute=n)), store.time(now)) for n in range(3)],
        )
    with store.snapshot():
        rows = list_requests(store, Filters(outcomes=["VERIFICARE"]), UTC)
        assert isinstance(rows, Iterator)
        first = next(rows)
        if ON_POSTGRES:
            cursors = [r["name"] for r in store.query("SELECT name FROM pg_cursors")]
            assert len(cursors) == 1 and cursors[0].startswith("paycli_rows_"), cursors
        assert [first["txn_id"], *(r["txn_id"] for r in rows)] == ["PAY-2", "PAY-1", "PAY-0"]
    if ON_POSTGRES:
        assert store.query("SELECT name FROM pg_cursors") == []
