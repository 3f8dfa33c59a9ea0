"""What keeps the everyday commands fast, and their memory bounded, on a store of a million requests.

SQLite's query plans: paycli never runs ANALYZE, so SQLite plans every query with its default estimates, whatever the store
holds: the plans of an empty store are those of a store of a million requests. A plan that reads a whole
table, or a large part of one for each row of another, is a command that a big store makes slow; these
tests keep the everyday commands on their indexes (``bench/bench_everyday.py`` measures them). And
listings written as they are read, not held whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def table_text(rows: Any, columns: Any) -> str:
    """What ``emit`` writes to stdout for a table of ``columns``."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        emit(rows, Format.table, table=columns, empty="none")
    return out.getvalue()


def held_table(rows: list[dict[str, Any]], columns: Any) -> str:
    """The table as ``grid`` (tabulate) aligns it over all its rows, held."""
    from paycli.commands.output import _visible, grid

    return grid([columns.cells(_visible(r)) for r in rows], columns.headers) + "\n"


class Marker:
    """A cell value whose copies alive are counted (the rows a table holds)."""

    alive: Any = None  # a WeakSet, per test

    def __init__(self, n: int) -> None:
        self.n = n
        Marker.alive.add(self)

    def __str__(self) -> str:
        return str(self.n)


def test_a_long_table_is_written_a_row_at_a_time_aligned_as_a_held_one(monkeypatch: pytest.MonkeyPatch):
    """``paycli list --outcome VERIFICARE`` as a table held every row to align its columns (72,500 rows:
    367 MB): past ``HELD_ROWS`` rows it now reads them twice, widths then lines, holding a row at a
    time, and writes the same bytes tabulate did over all of them."""
    import weakref

    from paycli.commands import output
    from paycli.commands.output import Columns
    from paycli.rows import Reread

    monkeypatch.setattr(output, "HELD_ROWS", 3)
    Marker.alive = weakref.WeakSet()
    most = 0
    reads = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal most, reads
        reads += 1
        for n in range(40):
            most = max(most, len(Marker.alive))
            # the widest cell of a column anywhere: first, last, in the middle
            name = "王小明\u3000Müller" if n == 17 else ("x" * (n % 7) + " ")
            yield {"id": Marker(n), "name": name, "note": None if n % 3 else "ok" * (n == 39) + "\x1b[2J"}

    columns = Columns(
        headers=("id", "customer name", "note"), cells=lambda r: (r["id"], r["name"], r["note"])
    )
    out = table_text(Reread(rows), columns)
    assert reads == 2 and most <= 4 + 1  # HELD_ROWS, the row being read, and the one made at the yield
    assert out == held_table(list(rows()), columns)
    assert "\\x1b[2J" in out and "\x1b" not in out
    with pytest.raises(TypeError, match="reads its rows twice"):
        table_text(iter(list(rows())), columns)  # a one-shot iterator cannot be read again


@pytest.mark.parametrize("count", [0, 1, 3, 4, 9])
def test_a_table_of_any_length_is_the_one_tabulate_aligns(monkeypatch: pytest.MonkeyPatch, count: int):
    from paycli.commands import output
    from paycli.commands.output import Columns

    monkeypatch.setattr(output, "HELD_ROWS", 3)
    rows = [
        {"a": f"  é\u0301{n}  ", "b": n * 100, "c": "全角" * (n % 3), "d": True, "e": ""}
        for n in range(count)
    ]
    columns = Columns(headers=("a", "b", "widest header", "d", "e"), cells=lambda r: tuple(r.values()))
    if count:
        assert table_text(rows, columns) == held_table(rows, columns)
    else:
        assert table_text(rows, columns) == ""


cell_text = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6),
    st.sampled_from(["True", "False", "-12.50", "1e5", " ", "\u3000", "\u00a0x\u00a0", "…"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(cell_text, cell_text, cell_text), min_size=1, max_size=8), st.integers(0, 8))
def test_whatever_its_cells_hold_a_table_written_a_row_at_a_time_is_tabulate_s(
    cells: list[tuple[Any, Any, Any]], held: int
):
    """Wide and combining characters, blanks tabulate strips, controls ``visible`` escapes, numbers
    tabulate must not parse: the lines are those of ``grid``, whether held or read twice."""
    from paycli.commands import output
    from paycli.commands.output import Columns

    rows = [{"a": a, "b": b, "c": c} for a, b, c in cells]
    columns = Columns(headers=("a", "amount", "détail 全"), cells=lambda r: (r["a"], r["b"], r["c"]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(output, "HELD_ROWS", held)
        assert table_text(rows, columns) == held_table(rows, columns)


def test_paycli_list_reads_its_two_passes_in_one_moment_of_the_store(
    cli: Any, isolated: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
):
    """A table read twice (widths, then lines) is read in one snapshot: a request ingested between the
    two reads (a receiver's callback, a cron ingest) is in neither, and the columns stay aligned."""
    from paycli import queries
    from paycli.commands import output
    from tests.conftest import request_csv

    rows = [f"PAY-{n},,other,2026-11-2{n}T09:00:00+01:00,Cliente {n},,{n}.50,EUR,nexi" for n in range(1, 7)]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    held = cli("list", "--outcome", "VERIFICARE")
    assert held.code == 0 and len(held.stdout.splitlines()) == 8

    monkeypatch.setattr(output, "HELD_ROWS", 2)
    read = queries.list_requests
    reads = 0

    def then_a_writer(store: Store, filters: Any, tz: Any) -> Iterator[dict[str, Any]]:
        nonlocal reads
        reads += 1
        yield from read(store, filters, tz)
        if reads == 1:  # between the two reads, another process commits a request newer and wider
            now = datetime.now(UTC)
            with Store.open(db_url) as other, other.transaction():
                other.execute(
                    "INSERT INTO payment_request (txn_id, order_id, kind, created_at, customer, email, "
                    "search_text, amount_minor, currency, gateway, source, registered_at, outcome, "
                    "response_count) VALUES ('PAY-LATE-AND-LONG', NULL, 'other', :t, 'A much longer name', "
                    "NULL, 'x', 123456789, 'EUR', 'nexi', 'x', :t, 'VERIFICARE', 0)",
                    {"t": other.time(now)},
                )

    monkeypatch.setattr(queries, "list_requests", then_a_writer)
    streamed = cli("list", "--outcome", "VERIFICARE")
    assert reads == 2
    assert (streamed.code, streamed.stdout, streamed.stderr) == (0, held.stdout, held.stderr)
    assert "PAY-LATE-AND-LONG" in cli("list", "--outcome", "VERIFICARE").stdout  # committed, read after


def assert_streamed(
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
    command: list[str],
    held: dict[str, Any],
    read: Callable[[], Any],
    kind: type,
    count: int,
) -> None:
    """``command`` writes, in each format of ``held``, what it wrote with its table held whole (no more
    than two rows held now), and ``read()``, its rows, come from one server-side cursor on PostgreSQL."""
    from paycli import store as store_module
    from paycli.commands import output

    monkeypatch.setattr(output, "HELD_ROWS", 2)
    for fmt, before in held.items():
        after = cli(*command, "--format", fmt)
        assert (after.code, after.stdout, after.stderr) == (before.code, before.stdout, before.stderr)

    monkeypatch.setattr(store_module, "SERVER_SIDE_ROWS", 2)
    with store.snapshot():
        shown = read()
        assert isinstance(shown, kind)
        rows = iter(shown)
        first = next(rows)
        if ON_POSTGRES:
            cursors = [r["name"] for r in store.query("SELECT name FROM pg_cursors")]
            assert len(cursors) == 1 and cursors[0].startswith("paycli_rows_"), cursors
        assert len([first, *rows]) == count


def test_paycli_messages_reads_the_store_a_row_at_a_time(
    cli: Any, isolated: Any, store: Store, monkeypatch: pytest.MonkeyPatch
):
    """``paycli messages --state response`` held every message of the state, in every format, and after
    the store was closed (350,000 on a store of 200,000 requests: 736 MB as a table, 372 MB as JSON): its
    rows now come from the store as they are written, a long table read twice as ``list``'s."""
    from paycli.queries import list_messages
    from tests.conftest import request_csv

    lines = [
        f"PAY-{n},,other,2026-11-2{n}T09:00:00+01:00,Cliente {n},,{'x' * n},EUR,nexi" for n in range(1, 7)
    ]
    assert cli("ingest", str(request_csv(isolated, lines))).code == 1  # six amounts quarantined
    held = {fmt: cli("messages", "--format", fmt) for fmt in ("table", "json")}
    assert len(held["table"].stdout.splitlines()) == 8 and len(json.loads(held["json"].stdout)) == 6

    assert_streamed(
        cli, monkeypatch, store, ["messages"], held, lambda: list_messages(store, UTC), Iterator, 6
    )


@pytest.mark.parametrize("indent", [2, None])
def test_an_object_with_rows_read_as_they_are_written_is_the_json_of_it_whole(indent: int | None):
    import contextlib
    import io

    from paycli.commands.output import json_text, write_json
    from paycli.rows import Reread

    whole = {
        "txn_id": "T1\u202e",
        "trail": [{"at": "x", "sources": ["a", "b"]}],
        "deliveries": [{"n": 1, "to": {"k": [1, 2]}}, {"n": 2, "note": "a\nb"}],
        "none": [],
        "resolutions": [],
    }
    for lazy in ("deliveries", "none"):
        shown = {**whole, lazy: Reread(lambda rows=whole[lazy]: iter(rows))}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            write_json(shown, indent=indent)
        assert out.getvalue() == json_text(whole, indent=indent) + "\n"


def test_paycli_show_writes_a_request_s_http_deliveries_as_it_reads_them(
    cli: Any, isolated: Any, store: Store, monkeypatch: pytest.MonkeyPatch
):
    """A gateway that retried a callback for months (every retry one more delivery row): ``show`` held
    them all, in every format (100,000: 256 MB as text, 298 MB as JSON). They are now read as they are
    written, the table read twice in the command's snapshot, and the output is the same."""
    from paycli.queries import show_request
    from paycli.rows import Reread
    from tests.conftest import request_csv

    assert (
        cli(
            "ingest",
            str(request_csv(isolated, ["PAY-1,,other,2026-11-20T09:00:00+01:00,Anna,,1.50,EUR,nexi"])),
        ).code
        == 0
    )
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    with store.transaction():
        [request] = store.query("SELECT id FROM payment_request")
        store.execute(
            "INSERT INTO message (digest, provider, source, received_at, raw, state, note, reference, request_id) "
            "VALUES ('d1', 'nexi', 'http', :t, :raw, 'informational', 'seen', 'PAY-1', :r)",
            {"t": store.time(now), "raw": b"esito=OK", "r": request["id"]},
        )
        store.executemany(
            "INSERT INTO delivery (received_at, provider, method, path, remote_addr, headers, body_bytes, "
            "message_digest, result, duplicate, status, postback) VALUES (?, 'nexi', 'POST', '/callbacks/nexi', ?, "
            "'', 8, 'd1', 'informational', ?, 200, NULL)",
            [(store.time(now.replace(minute=n)), f"10.0.0.{n}" * (n % 3), n > 0) for n in range(7)],
        )
    held = {fmt: cli("show", "PAY-1", "--format", fmt) for fmt in ("table", "json", "ndjson", "csv")}
    assert "Received over HTTP (paycli serve): 7" in held["table"].stdout
    assert len(json.loads(held["json"].stdout)["deliveries"]) == 7
    assert "deliveries" not in held["csv"].stdout

    def deliveries() -> Any:
        return show_request(store, "PAY-1", UTC)["deliveries"]

    assert_streamed(cli, monkeypatch, store, ["show", "PAY-1"], held, deliveries, Reread, 7)


def test_paycli_order_writes_its_requests_as_it_reads_them(
    cli: Any, isolated: Any, store: Store, monkeypatch: pytest.MonkeyPatch
):
    """An order id an ERP gives every payment it has no order for ("0"): ``paycli order 0`` held its
    every request (73,000: 346 MB). They are now read as they are written, in the command's snapshot,
    with the same verdict (two POSITIVO among five are PAID_TWICE) and each request's last status."""
    from paycli.queries import show_order
    from paycli.rows import Reread
    from tests.conftest import request_csv

    lines = [f"PAY-{n},0,other,2026-11-2{n}T09:00:00+01:00,Anna,,1.50,EUR,nexi" for n in range(1, 6)]
    assert cli("ingest", str(request_csv(isolated, lines))).code == 0
    for txn in ("PAY-2", "PAY-4"):
        assert cli("resolve", txn, "--as", "POSITIVO", "--note", "paid", "--by", "anna").code == 0
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    with store.transaction():
        ids = {r["txn_id"]: r["id"] for r in store.query("SELECT id, txn_id FROM payment_request")}
        store.executemany(  # the last by the gateway's time, else by when received, then by id
            "INSERT INTO response (identity, request_id, provider, dedupe_key, status, raw_status, "
            "authenticity, occurred_at, received_at, deliveries) VALUES (?, ?, 'nexi', ?, ?, ?, 'valid', ?, ?, 1)",
            [
                (
                    "i1",
                    ids["PAY-1"],
                    "k1",
                    "PENDING",
                    "IN CORSO",
                    store.time(now.replace(hour=12)),
                    store.time(now),
                ),
                ("i2", ids["PAY-1"], "k2", "APPROVED", "OK", None, store.time(now.replace(hour=11))),
                ("i3", ids["PAY-3"], "k3", "APPROVED", None, None, store.time(now)),
                ("i4", ids["PAY-3"], "k4", "REFUSED", "", None, store.time(now)),  # no word: the status
            ],
        )
    held = {fmt: cli("order", "0", "--format", fmt) for fmt in ("table", "json", "ndjson", "csv")}
    data = json.loads(held["json"].stdout)
    assert data["verdict"] == "PAID_TWICE"
    assert [r["last_status"] for r in data["requests"]] == ["IN CORSO", None, "REFUSED", None, None]

    def requests() -> Any:
        return show_order(store, "0", UTC)["requests"]

    assert_streamed(cli, monkeypatch, store, ["order", "0"], held, requests, Reread, 5)
