"""The store: schema creation and upgrade, the models/migrations agreement, opening errors."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paycli.errors import StoreError
from paycli.migrations import HEAD
from paycli.store import Store, _to_pyformat, describe
from tests.conftest import ON_POSTGRES, collated_like_a_language, request_csv


def test_head_constant_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "paycli:migrations")
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_a_new_store_is_created_at_head(store):
    assert store.schema_version() == HEAD
    assert {"payment_request", "message", "response", "resolution"} <= store.table_names()


def test_the_migrations_build_exactly_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from paycli.models import Base

    Store.open(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_tuples_are_the_rows_of_query_in_the_order_of_the_select_list(store):
    # recompute reads its rows so (Store.tuples): the values of query's rows, on either backend
    store.execute(
        "INSERT INTO store_setting (name, value) VALUES (:a, :x), (:b, :y)",
        {"a": "a", "b": "b", "x": "1", "y": "2"},
    )
    sql = "SELECT value, name FROM store_setting WHERE name IN (:a, :b) ORDER BY name"
    params = {"a": "a", "b": "b"}
    rows = store.tuples(sql, params)
    assert rows == [("1", "a"), ("2", "b")]
    assert rows == [(r["value"], r["name"]) for r in store.query(sql, params)]
    assert all(type(row) is tuple for row in rows)


def test_a_store_behind_the_code_asks_for_db_upgrade(cli, db_url, isolated):
    Store.open(db_url).close()
    with Store.connect(db_url) as store:
        store.execute("UPDATE alembic_version SET version_num = '0000'")
    result = cli("list")
    assert result.code == 2
    assert (
        f"is at schema 0000, this paycli needs {HEAD}: back it up, then run 'paycli db upgrade'"
        in result.stderr
    )


def test_a_store_newer_than_the_code_is_refused(db_url):
    Store.open(db_url).close()
    with Store.connect(db_url) as store:
        store.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer than this paycli"):
        Store.open(db_url)


def test_db_upgrade_and_status(cli, tmp_path):
    path = tmp_path / "fresh.db"
    result = cli("--db", str(path), "db", "status", db=False)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"paycli: no store at {path} (paycli ingest creates one;")
    assert not path.exists()  # status looks, never creates: a mistyped path leaves nothing behind
    result = cli("--db", str(path), "db", "upgrade", db=False)
    assert result.code == 0 and f"upgraded from schema none to {HEAD}" in result.stderr
    assert f"already at schema {HEAD}" in cli("--db", str(path), "db", "upgrade", db=False).stderr
    assert "(current)" in cli("--db", str(path), "db", "status", db=False).stdout


# paycli opening a store; "first" stops in the middle of its migration until "second" has begun
OPENER = """
import sys, time
from pathlib import Path
from paycli.store import Store

url, marker, role = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
if role == "first":
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute")
    def pause(conn, cursor, statement, *args):
        if "CREATE TABLE payment_request" in statement and not marker.exists():
            marker.touch()
            time.sleep(1.5)  # the second's turn: it finds no version row yet, and migrates too
else:
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
with Store.open(url, create=True) as store:
    print(store.schema_version())
"""


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's: PostgreSQL takes an advisory lock (Store.migrate)")
def test_two_processes_opening_a_new_sqlite_store_at_once_both_find_it_at_head(tmp_path):
    """The second waits for the first's migration, then finds the tables there (it failed, exit 70, on
    'table payment_request already exists', or the first did)."""
    url, marker = f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "first-is-migrating"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, url, str(marker), role],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("first", "second")
    ]
    results = [(p.communicate(timeout=120), p.returncode) for p in processes]
    assert marker.exists()
    assert [(code, out.strip()) for (out, _), code in results] == [(0, HEAD), (0, HEAD)], results


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a PostgreSQL schema of its own, a SQLite file with no table."""
    if not ON_POSTGRES:
        with sqlite3.connect(tmp_path / "empty.db") as conn:
            conn.execute("PRAGMA journal_mode = WAL")
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    import psycopg

    with psycopg.connect("postgresql://", autocommit=True) as conn:
        conn.execute("CREATE SCHEMA t_empty")
    try:
        yield "postgresql+psycopg:///?options=-csearch_path%3Dt_empty"
    finally:
        with psycopg.connect("postgresql://", autocommit=True) as conn:
            conn.execute("DROP SCHEMA t_empty CASCADE")


def test_an_empty_database_is_no_store_to_a_command_that_reads_and_is_left_empty(empty_database_url, cli):
    """A server database made for paycli but never filled (or the wrong one): the nightly report
    created paycli's tables in it and reported an empty period."""
    result = cli(
        "--db",
        empty_database_url,
        "report",
        "--format",
        "csv",
        "--out",
        "-",
        "--fail-on",
        "VERIFICARE",
        db=False,
    )
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"paycli: no store in {describe(empty_database_url)}: the database is empty (paycli ingest creates "
        "one; check --db, PAYCLI_DB or database: in the configuration)\n"
    )
    with Store.connect(empty_database_url) as store:
        assert store.table_names() == set()
    assert cli("--db", empty_database_url, "db", "upgrade", db=False).code == 0  # which makes it
    assert "(current)" in cli("--db", empty_database_url, "db", "status", db=False).stdout


def test_a_database_of_another_alembic_application_is_not_a_store_to_upgrade(empty_database_url, cli):
    # a shop's PostgreSQL database given to paycli often holds its web application's tables, which
    # Alembic versions too: that revision is not paycli's, newer or older
    with Store.connect(empty_database_url) as other, other.transaction():
        other.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        other.execute("INSERT INTO alembic_version (version_num) VALUES ('3f2a9c1b7d10')")
        other.execute("CREATE TABLE invoices (id INTEGER)")
    said = [
        cli("--db", empty_database_url, *command, db=False)
        for command in (["db", "status"], ["db", "upgrade"], ["list"])
    ]
    for result in said:
        # not "newer than this paycli: upgrade paycli", nor an upgrade failing (exit 70) on a revision
        # Alembic cannot locate
        assert result.code == 2, result
        assert result.stderr == (
            f"paycli: {describe(empty_database_url)} is a database, but not a paycli store "
            "(its alembic_version, 3f2a9c1b7d10, is another application's)\n"
        )
    with Store.connect(empty_database_url) as other:
        assert other.table_names() == {"alembic_version", "invoices"}


def test_opening_a_store_makes_one_only_when_asked(tmp_path):
    with pytest.raises(StoreError, match=r"^no store at "):
        Store.open(str(tmp_path / "s.db"))
    assert not (tmp_path / "s.db").exists()
    with Store.open(str(tmp_path / "s.db"), create=True) as store:
        assert store.schema_version() == HEAD


def test_a_database_of_something_else_is_not_touched(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="is a database, but not a paycli store"):
        Store.open(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["invoices"]


def test_a_folder_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store.open(str(tmp_path))


def test_a_store_where_none_can_be_made_is_a_store_error_not_a_bug(tmp_path, cli):
    (tmp_path / "file").write_text("not a folder\n")
    with pytest.raises(StoreError, match=r"cannot create the store .*file/x\.db \("):
        Store.open(str(tmp_path / "file" / "x.db"), create=True)
    result = cli("--db", str(tmp_path / "file" / "x.db"), "db", "upgrade", db=False)
    assert result.code == 2 and result.stderr.count("\n") == 1, result


def test_an_unknown_url_scheme_is_refused():
    with pytest.raises(StoreError, match="unsupported database URL 'mysql://u:\\*\\*\\*@h/db'"):
        Store.open("mysql://u:secret@h/db")


def test_an_unreachable_postgresql_is_one_line_without_the_password():
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://paycli:s3cret@127.0.0.1:1/paycli?connect_timeout=2")
    assert "s3cret" not in str(info.value)
    assert str(info.value).startswith("cannot connect to postgresql+psycopg://paycli:***@127.0.0.1:1/paycli")


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL role's privileges")
def test_a_postgresql_user_without_the_privileges_paycli_needs_is_told_so_in_one_line(cli, db_url, isolated):
    import uuid

    import psycopg

    role, password = f"paycli_{uuid.uuid4().hex[:10]}", f"Pw-{uuid.uuid4().hex}"
    schema = db_url.rpartition("%3D")[2]
    empty = f"e_{uuid.uuid4().hex[:12]}"
    assert (
        cli(
            "ingest",
            str(request_csv(isolated, ["T1,O1,order,2026-11-20T09:00:00+01:00,Rossi,,10.00,EUR,nexi"])),
        ).code
        == 0
    )
    with psycopg.connect("postgresql://", autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"CREATE SCHEMA {empty}")
        for name in (schema, empty):  # PostgreSQL 15: USAGE, and no CREATE, as for schema public
            admin.execute(f"GRANT USAGE ON SCHEMA {name} TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    try:
        reader = f"postgresql+psycopg://{role}:{password}@/?options=-csearch_path%3D{schema}"
        assert cli("--db", reader, "list", db=False).code == 0  # reading is all it may do
        said = [
            cli("--db", reader, "resolve", "T1", "--as", "NEGATIVO", "--note", "n", "--by", "anna", db=False),
            cli("--db", f"postgresql+psycopg://{role}:{password}@/?options=-csearch_path%3D{empty}", "db", "upgrade", db=False),
        ]  # fmt: skip
        # exit 2 and what the user lacks, not exit 70 ("unexpected error": a bug of paycli's)
        assert [r.code for r in said] == [2, 2], said
        assert "(permission denied for table resolution)" in said[0].stderr
        assert (
            "(permission denied for schema " in said[1].stderr and "GRANT CREATE ON SCHEMA" in said[1].stderr
        )
        for result in said:
            assert result.stderr.count("\n") == 1 and password not in result.stderr
            assert result.stderr.startswith(
                f"paycli: the database user may not use the store postgresql+psycopg://{role}:***@/"
            )
    finally:
        with psycopg.connect("postgresql://", autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {empty} CASCADE")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL schema")
def test_a_search_path_naming_no_schema_is_said_not_an_empty_database_or_a_crash(cli):
    url = "postgresql+psycopg:///?options=-csearch_path%3Dt_no_such_schema"
    said = [
        cli("--db", url, *command, db=False) for command in (["db", "upgrade"], ["ingest", "-"], ["list"])
    ]
    for result in said:  # db upgrade and ingest failed with exit 70, list said "the database is empty"
        assert result.code == 2, result
        assert result.stderr == (
            f"paycli: no schema of the search_path of {url} exists in the database: create it, or name another "
            "(options=-csearch_path%3DSCHEMA in the URL)\n"
        )


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's lock_timeout")
def test_a_writer_lock_held_past_the_server_s_lock_timeout_is_said_with_its_cause(store, db_url):
    # a lock_timeout set for the database or the user: an ingest that waited for another writer's batch
    # failed with exit 70, "unexpected error: LockNotAvailable" (SQLite says "stayed locked")
    with Store.open(db_url) as other, other.transaction():
        other.lock_writers()
        store.execute("SET lock_timeout = 100")
        with pytest.raises(StoreError) as raised, store.transaction():
            store.lock_writers()
    assert str(raised.value).startswith(
        "postgresql+psycopg:///"
    ) and "stayed locked by another writer (" in str(raised.value)
    assert (
        "(a lock_timeout of the database, its user or paycli serve's store_timeout_seconds may be too short)"
        in str(raised.value)
    )


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's statement_timeout")
def test_a_statement_the_server_cancels_is_said_with_its_cause(store):
    # a statement_timeout set for the database or the user (ALTER DATABASE ... SET): recompute and
    # report on a large store failed with exit 70, "unexpected error: QueryCanceled"
    store.execute("SET statement_timeout = 50")
    with pytest.raises(StoreError) as raised:
        store.query("SELECT pg_sleep(2)")
    assert str(raised.value).startswith("the server cancelled a statement on postgresql+psycopg:///")
    assert "(canceling statement due to statement timeout)" in str(raised.value)
    assert (
        "(a statement_timeout of the database, its user or paycli serve's store_timeout_seconds may be too short)"
        in str(raised.value)
    )


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's default_transaction_isolation")
def test_a_writer_that_waited_for_another_reads_what_it_committed_whatever_the_default_isolation(db_url):
    # paycli's writers take turns through the writer lock, then read, decide and write: in READ
    # COMMITTED. A server whose default_transaction_isolation is repeatable read took the second
    # writer's snapshot at its lock statement, before the first committed: it read the store as it was,
    # and wrote outcomes back without that commit (or failed on a row it had not seen)
    url = db_url + "%20-cdefault_transaction_isolation%3Drepeatable%5C%20read"
    seen: list[int] = []
    with Store.open(url) as first, Store.open(url) as second:
        assert (
            first.query("SHOW default_transaction_isolation")[0]["default_transaction_isolation"]
            == "repeatable read"
        )

        def wait_then_read() -> None:
            with second.transaction():
                second.lock_writers()
                seen.append(second.query("SELECT COUNT(*) AS n FROM store_setting WHERE name = 'x'")[0]["n"])

        waiting = threading.Thread(target=wait_then_read)
        with first.transaction():
            first.lock_writers()
            waiting.start()
            time.sleep(0.5)  # the second waits for the lock meanwhile
            first.execute("INSERT INTO store_setting (name, value) VALUES ('x', '1')")
        waiting.join(timeout=30)
    assert seen == [1]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's default_transaction_isolation")
def test_three_writers_opening_a_new_store_at_once_find_it_at_head_whatever_the_default_isolation(
    empty_database_url,
):
    # the second and third wait for the first's migration (an advisory lock), then must read the schema
    # it made: with the server's default at repeatable read they saw none and failed making the
    # tables again ("relation alembic_version already exists", exit 70)
    url = empty_database_url + "%20-cdefault_transaction_isolation%3Drepeatable%5C%20read"
    failed: list[BaseException] = []

    def open_new() -> None:
        try:
            Store.open(url, create=True).close()
        except BaseException as exc:
            failed.append(exc)

    writers = [threading.Thread(target=open_new) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert failed == []
    with Store.open(url) as store:
        assert store.schema_version() == HEAD


@pytest.fixture
def database_encoded(request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """A new PostgreSQL database of an encoding: its URL; dropped after the test."""
    import uuid

    import psycopg

    made: list[str] = []

    def make(encoding: str) -> str:
        name = f"t_{encoding.lower()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://", autocommit=True) as admin:
            admin.execute(
                f"CREATE DATABASE {name} ENCODING '{encoding}' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        made.append(name)
        return f"postgresql+psycopg:///{name}"

    yield make
    with psycopg.connect("postgresql://", autocommit=True) as admin:
        for name in made:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


NOT_LATIN_1 = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\nU-1,,other,2026-11-26T10:00:00+01:00,Łukasz Żółć,,1.00,EUR,nexi\n"  # fmt: skip


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL database's encoding")
def test_a_store_is_not_made_in_a_database_whose_encoding_cannot_hold_every_character(
    database_encoded, cli, isolated
):
    # LATIN1: a customer named in another script failed its whole batch, every run (exit 70), and so
    # did list --customer with such a name
    url = database_encoded("LATIN1")
    (isolated / "requests.csv").write_text(NOT_LATIN_1)
    for command in (["db", "upgrade"], ["ingest", str(isolated / "requests.csv")]):
        result = cli("--db", url, *command, db=False)
        assert result.code == 2 and result.stderr == (
            f"paycli: the database of {url} is encoded LATIN1, which cannot hold every character a payment's "
            "text may have: make the store in a database created with ENCODING 'UTF8'\n"
        ), result
    with Store.connect(url) as store:  # left as it was
        assert store.table_names() == set()
    # one made before paycli said so: what it cannot hold is refused in one line, the rest is read
    with Store.connect(url) as store:
        store.migrate()
    result = cli("--db", url, "ingest", str(isolated / "requests.csv"), db=False)
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith(
        f"paycli: the database of {url} cannot hold a character of what was being written ("
    )
    assert cli("--db", url, "list", db=False).code == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL database's encoding")
def test_a_sql_ascii_database_keeps_text_as_utf_8(database_encoded, cli, isolated):
    # the default of a cluster made in the C locale: psycopg gave its text as bytes, and paycli failed
    # making the store (exit 70, "cannot use a string pattern on a bytes-like object")
    url = database_encoded("SQL_ASCII")
    (isolated / "requests.csv").write_text(NOT_LATIN_1)
    assert cli("--db", url, "ingest", str(isolated / "requests.csv"), db=False).code == 0
    listed = cli("--db", url, "list", "--customer", "łukasz", "--format", "csv", db=False)
    assert listed.code == 0 and "U-1,,other,2026-11-26T10:00:00+01:00,Łukasz Żółć," in listed.stdout, listed


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's advisory locks")
def test_the_writers_of_another_store_in_the_same_database_are_not_waited_for(
    db_url, tmp_path, sqlite_template
):
    # two shops' stores, each in a schema of one database: an ingest batch of one held the other's
    # receivers and ingests too (advisory locks are the database's), which answered 503 meanwhile
    from tests.conftest import new_store_url

    with (
        new_store_url(tmp_path, sqlite_template) as other_url,
        Store.open(db_url) as one,
        Store.open(other_url) as other,
        one.transaction(),
    ):
        one.lock_writers()
        one.lock_keys(["ref:T1"])
        other.execute("SET lock_timeout = 2000")
        with other.transaction():
            other.lock_writers(shared=True)
            other.lock_keys(["ref:T1"])
        with other.transaction():
            other.lock_writers()
        with Store.open(db_url) as same:  # the same store's writers still wait
            same.execute("SET lock_timeout = 200")
            with pytest.raises(StoreError, match="stayed locked by another writer"), same.transaction():
                same.lock_writers(shared=True)


@pytest.mark.skipif(not ON_POSTGRES, reason="a read-only PostgreSQL database")
def test_a_read_only_postgresql_database_is_read_and_a_write_to_it_refused_in_one_line(cli, db_url, isolated):
    # a standby after a failover, or default_transaction_read_only: resolve failed with exit 70
    row = "T1,O1,order,2026-11-20T09:00:00+01:00,Rossi,,10.00,EUR,nexi"
    assert cli("ingest", str(request_csv(isolated, [row]))).code == 0
    url = db_url + "%20-cdefault_transaction_read_only%3Don"
    assert cli("--db", url, "list", db=False).code == 0
    result = cli("--db", url, "resolve", "T1", "--as", "NEGATIVO", "--note", "n", "--by", "anna", db=False)
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith("paycli: cannot write to the store postgresql+psycopg:///"), result
    assert "read-only transaction" in result.stderr


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL connection lost under paycli")
def test_a_postgresql_connection_lost_mid_ingest_is_one_line_and_the_next_run_completes(
    cli, db_url, isolated, monkeypatch
):
    import psycopg

    from paycli import recompute

    real_refresh = recompute.refresh
    cut: list[int] = []

    def refresh(store, ids, config):
        if not cut:  # the batch is written, not committed: the server goes away now
            cut.append(store.connection.info.backend_pid)
            with psycopg.connect("postgresql://", autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (cut[0],))
        return real_refresh(store, ids, config)

    monkeypatch.setattr(recompute, "refresh", refresh)
    rows = [f"T{i},O{i},order,2026-11-20T09:00:00+01:00,Rossi,,10.00,EUR,nexi" for i in range(3)]
    path = request_csv(isolated, rows)
    lost = cli("ingest", str(path))
    assert cut and lost.code == 2, lost  # not 70, "unexpected error": a bug of paycli's
    assert (
        lost.stderr.startswith("paycli: lost the connection to postgresql+psycopg:///")
        and "run the same command again" in lost.stderr
    )
    assert lost.stderr.count("\n") == 1, lost
    again = cli("ingest", str(path))
    assert again.code == 0 and "3 new requests" in again.stderr, again


@pytest.mark.parametrize(
    "dsn",
    [
        "host=db.shop.example dbname=paycli user=shop password=Pw-9f2k1",
        "dbname=paycli password = 'Pw-9f2k1 with spaces' host=localhost",
        "  service=paycli password=Pw-9f2k1",
        # a keyword the first check did not know first: a SQLite file's path again, password printed
        "sslrootcert=/etc/ssl/ca.pem host=db dbname=paycli password=Pw-9f2k1",
        "keepalives=1 host=db password=Pw-9f2k1",
        # the client key's passphrase is a secret too
        "host=db dbname=paycli sslpassword=Pw-9f2k1 password=x",
    ],
)
def test_a_libpq_connection_string_is_refused_not_made_a_sqlite_file_named_with_its_password(
    dsn, cli, isolated, tmp_path
):
    # the key=value form psql and libpq's manual use: it was taken for a SQLite file's path, so every
    # command printed it, password and all ("no store at .../host=... password=..."), and ingest made
    # a SQLite store of that name and stored the night there instead of on the PostgreSQL server
    said = [
        cli("--db", dsn, "list", db=False),
        cli("--db", dsn, "ingest", str(request_csv(tmp_path, ["T1,,other,2026-11-26T10:00:00+01:00,A,,1.00,EUR,nexi"])), db=False),
        cli("--db", dsn, "db", "upgrade", db=False),
    ]  # fmt: skip
    for result in said:
        assert result.code == 2, result
        assert "Pw-9f2k1" not in result.stderr and "***" in result.stderr, result
        assert (
            "a libpq connection string (key=value): write it as a URL, postgresql+psycopg://" in result.stderr
        )
    assert list(isolated.iterdir()) == [isolated / "paycli.yaml"]  # no file made


@pytest.mark.parametrize(
    "url",
    ["paycli:Pw-9f2k1@db.shop.example/paycli", "shop:Pw@9f2k1@db.shop.example:5432/paycli?sslmode=require"],
)
def test_a_server_url_without_its_scheme_is_refused_not_made_a_sqlite_file_named_with_its_password(
    url, cli, isolated, tmp_path
):
    # USER:PASSWORD@HOST/DB, the scheme left out: taken for a SQLite file's path, every command printed
    # it, password and all ("no store at .../paycli:Pw-9f2k1@db.shop.example/paycli"), and ingest made a
    # folder of that name with a SQLite store in it
    said = [
        cli("--db", url, "list", db=False),
        cli("--db", url, "ingest", str(request_csv(tmp_path, ["T1,,other,2026-11-26T10:00:00+01:00,A,,1.00,EUR,nexi"])), db=False),
    ]  # fmt: skip
    for result in said:
        assert result.code == 2, result
        assert "9f2k1" not in result.stderr and ":***@db.shop.example" in result.stderr, result
        assert "lacks '://': write postgresql+psycopg://USER:PASSWORD@HOST/DB" in result.stderr
    assert list(isolated.iterdir()) == [isolated / "paycli.yaml"]  # no file, no folder made


def test_sqlite_store_uses_wal_and_foreign_keys(tmp_path):
    with Store.open(str(tmp_path / "s.db"), create=True) as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        assert store.query("PRAGMA foreign_keys")[0][0] == 1


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "paycli-checkpoint"]


def test_a_bulk_write_keeps_the_log_to_one_transaction_and_loses_nothing(tmp_path):
    # paycli ingest: a thread copies the write-ahead log back after each commit, so the next
    # transaction starts it again from the beginning; SQLite's own checkpoint (every 1,000 pages,
    # about 4 MB) would let it grow past 4 MB, no checkpoint at all to the whole 20 MB written
    path = tmp_path / "s.db"
    with Store.open(str(path), create=True) as store:
        store.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
    for run in range(2):  # two ingests, one after the other: each has a checkpointer of its own
        with Store.open(str(path)) as store:
            store.prepare_bulk()
            assert len(_checkpoint_threads()) == 1
            for batch in range(10):
                with store.transaction():
                    store.executemany(
                        "INSERT INTO filler (data) VALUES (?)", [(os.urandom(1000),) for _ in range(1000)]
                    )
                largest_log = path.with_name("s.db-wal").stat().st_size
                assert largest_log < 2_500_000, (
                    f"the log grew to {largest_log} bytes by batch {batch} of run {run}"
                )
        assert _checkpoint_threads() == []
    with sqlite3.connect(path) as plain:
        assert plain.execute("SELECT COUNT(*) FROM filler").fetchone()[0] == 20_000
        assert plain.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_only_a_bulk_write_on_a_sqlite_file_has_a_checkpoint_thread(tmp_path):
    with Store.open(str(tmp_path / "s.db"), create=True) as store:
        assert _checkpoint_threads() == []  # receivers and queries: SQLite checkpoints on commit
        store.prepare_bulk()
        store.prepare_bulk()  # once is enough
        assert len(_checkpoint_threads()) == 1
        with store.transaction(rollback=True):  # --dry-run: nothing committed, nothing to copy
            store.execute("CREATE TABLE t (x INTEGER)")
        assert "t" not in store.table_names()
    assert _checkpoint_threads() == []


def test_a_failed_transaction_leaves_nothing_behind(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.execute(
            "INSERT INTO payment_request (txn_id, kind, created_at, customer, search_text, amount_minor, currency, "
            "gateway, registered_at, outcome, response_count) VALUES ('X', 'other', :t, 'A', 'a', 1, 'EUR', 'n', :t, "
            "'VERIFICARE', 0)",
            {"t": store.time(datetime.now(UTC))},
        )
        raise RuntimeError("power cut")
    assert store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"] == 0


def test_placeholders_translate_for_psycopg():
    assert (
        _to_pyformat("SELECT :a, ? WHERE x LIKE '%' || :b") == "SELECT %(a)s, %s WHERE x LIKE '%%' || %(b)s"
    )
    assert describe("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("postgresql+psycopg://u:pw@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
        ("postgresql://u@h/db?password=SECRETPW", "postgresql://u@h/db?password=***"),
        (
            "postgresql://h/db?sslmode=require&PassWord=SECRETPW&x=1",
            "postgresql://h/db?sslmode=require&PassWord=***&x=1",
        ),
        ("postgresql://u:SEC@RETPW@h/db", "postgresql://u:***@h/db"),  # an unencoded "@" in the password
        # libpq's other secrets: the SSL key's password, an OAuth client's secret
        ("postgresql://u@h/db?sslpassword=SECRETPW", "postgresql://u@h/db?sslpassword=***"),
        (
            "postgresql://h/db?oauth_client_secret=SECRETPW&x=1",
            "postgresql://h/db?oauth_client_secret=***&x=1",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///store.db", "sqlite:///store.db"),
        ("postgresql:/u:SECRETPW@h/db", "postgresql:..."),  # "://" mistyped
    ],
)
def test_a_database_url_is_described_without_its_password(url, described):
    assert describe(url) == described


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:SECRET%zzPW@127.0.0.1:1/x",  # libpq quotes a bad percent-encoding
        "postgresql://u:SECRET PW@127.0.0.1:1/x",  # ... a space
        "postgresql://u:SECRETPW@[::1]x:1/x",  # ... the whole URL it cannot parse
        "postgresql://u:SEC@RETPW@127.0.0.1:1/x",  # ... the host it read after the first "@"
        "postgresql://u@127.0.0.1:1/x?password=SECRETPW",
        "postgresql://u@127.0.0.1:1/x?sslpassword=SECRETPW",
        "postgresql+psycopg://u:SECRET%50W@127.0.0.1:1/x",  # percent-encoded: SECRETPW
    ],
)
def test_a_connection_error_never_quotes_the_password(url):
    with pytest.raises(StoreError) as raised:
        Store.connect(url)
    text = str(raised.value)
    assert text.startswith("cannot connect to postgresql") and "***" in text
    assert not any(part in text for part in ("SECRET", "RETPW", "%zz")), text
    # nor the traceback --debug prints: the driver's own error, which quotes it, is not chained
    shown = "".join(traceback.format_exception(raised.value))
    assert not any(part in shown for part in ("SECRET", "RETPW", "%zz")), shown


def test_a_postgresql_server_that_never_answers_is_given_up_on_not_waited_for(monkeypatch):
    # a host that takes the connection and says nothing (a firewall, a half-dead server): libpq waited
    # for the TCP stack, minutes; cron's ingest and report, and each receiver's request, hung silently
    import socket

    import paycli.store

    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    monkeypatch.setattr(paycli.store, "CONNECT_TIMEOUT_SECONDS", 2)  # libpq's least
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"postgresql+psycopg://u:SECRETPW@127.0.0.1:{silent.getsockname()[1]}/x"
        raised: list[BaseException] = []

        def connect() -> None:
            try:
                Store.connect(url)
            except BaseException as exc:  # looked at below
                raised.append(exc)

        # in a thread, so that the old behaviour fails this test instead of hanging the suite
        attempt = threading.Thread(target=connect, daemon=True)
        attempt.start()
        attempt.join(60)
        assert not attempt.is_alive(), "still waiting for a server that never answers"
    assert len(raised) == 1 and isinstance(raised[0], StoreError), raised
    text = str(raised[0])
    assert "timeout expired after 2 s (connect_timeout=N in the URL sets another)" in text, text
    assert "SECRETPW" not in text and "\n" not in text


@pytest.mark.parametrize(
    ("url", "environment", "default"),
    [
        ("postgresql://u@db/x", None, True),
        ("postgresql+psycopg://u@db/x?connect_timeout=60", None, False),  # the user's wins
        ("postgres://u@db/x?sslmode=require&connect_timeout=0", None, False),  # 0: wait for ever, asked
        ("postgresql://u@db/x", "45", False),  # as PGCONNECT_TIMEOUT's
        ("postgresql://u@db/x?bad%zz", None, False),  # unparsed: the connection's own error says so
    ],
)
def test_the_default_connect_timeout_yields_to_the_users(monkeypatch, url, environment, default):
    from paycli.store import CONNECT_TIMEOUT_SECONDS, _connect_timeout

    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    if environment is not None:
        monkeypatch.setenv("PGCONNECT_TIMEOUT", environment)
    assert _connect_timeout(url) == ({"connect_timeout": CONNECT_TIMEOUT_SECONDS} if default else {})


def test_a_session_setting_the_server_refuses_is_one_line_without_the_password(monkeypatch):
    # the server's error for the session's settings spans lines (DETAIL, HINT): one line, as a
    # connection error is, and never the URL's password
    import psycopg

    closed = []
    url_password = "SECRET" + "PW"

    class Refusing:
        def execute(self, sql):
            raise psycopg.OperationalError(
                "invalid value for parameter\nDETAIL: " + url_password + "\nHINT: more"
            )

        def close(self):
            closed.append(True)

    monkeypatch.setattr(psycopg, "connect", lambda *args, **kwargs: Refusing())
    url = "postgresql+psycopg://u:" + "SECRET" + "PW@h/db"  # not whole in a line the traceback quotes
    with pytest.raises(StoreError) as raised:
        Store.connect(url)
    assert str(raised.value) == "cannot use postgresql+psycopg://u:***@h/db: invalid value for parameter"
    assert closed == [True] and "SECRETPW" not in "".join(traceback.format_exception(raised.value))


@pytest.mark.parametrize("url", ["postgresql:/u:SECRETPW@h/db", "postgresql+psycopg//u:SECRETPW@h/db"])
def test_a_url_with_a_mistyped_scheme_is_refused_not_made_a_file(url, tmp_path, monkeypatch):
    (here := tmp_path / "here").mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(StoreError) as raised:
        Store.connect(url)
    assert str(raised.value) == (
        "the database URL postgresql:... lacks '://': write postgresql+psycopg://USER:PASSWORD@HOST/DB "
        "or sqlite:///PATH"
    )
    assert list(here.iterdir()) == []


def test_times_are_stored_in_utc(store, config, tmp_path: Path):
    from tests.conftest import request_csv
    from tests.test_ingest import ingest

    ingest(store, config, request_csv(tmp_path, ["T1,,other,2026-07-01T12:00:00+02:00,A,,1.00,EUR,nexi"]))
    value = store.query("SELECT created_at FROM payment_request")[0]["created_at"]
    assert Store.from_time(value).isoformat() == "2026-07-01T10:00:00+00:00"
    if not ON_POSTGRES:
        assert value == "2026-07-01 10:00:00.000000"


def test_a_time_of_year_1_in_utc_is_listed_whatever_the_database_session_zone(cli, isolated, monkeypatch):
    # 0001-01-01 is many an ERP's "no date": in UTC it is a time Python holds, but a PostgreSQL session in
    # a zone west of UTC (PGTZ, or the server's timezone setting) hands it back in year 0, which psycopg
    # cannot load: every list, show and report failed (exit 70) until the request was deleted by hand
    monkeypatch.setenv("PGTZ", "America/New_York")
    rows = [
        "T0,,other,0001-01-01T00:30:00Z,A,,1.00,EUR,nexi",
        "T1,,other,2026-07-01T12:00:00+02:00,B,,1.00,EUR,nexi",
    ]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    listed = cli("list", "--format", "csv")
    assert listed.code == 0, listed
    assert [line.split(",")[0] for line in listed.stdout.splitlines()] == ["txn_id", "T1", "T0"]
    shown = cli("show", "T0", "--format", "json")
    assert shown.code == 0 and '"created_at": "0001-01-01T01:19:56+00:49:56"' in shown.stdout, shown


def test_a_time_of_year_1_in_utc_is_listed_in_a_configured_zone_west_of_utc(cli, isolated):
    # the same "no date" shown in the configured zone: in New York it is in year 0, which Python's
    # datetime cannot hold, and list, show and report failed on it (exit 70) on either backend; it is
    # shown in UTC, said so
    (isolated / "paycli.yaml").write_text("timezone: America/New_York\n")
    rows = ["T0,,other,0001-01-01T00:30:00Z,A,,1.00,EUR,nexi"]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    listed = cli("list")
    assert listed.code == 0 and "0001-01-01 00:30Z" in listed.stdout, listed
    shown = cli("show", "T0", "--format", "json")
    assert shown.code == 0 and '"created_at": "0001-01-01T00:30:00+00:00"' in shown.stdout, shown
    (isolated / "r").mkdir()
    made = cli("report", "--date", "2026-11-26", "--out", str(isolated / "r"))
    assert made.code == 0, made


def test_a_snapshot_reads_one_moment_whatever_another_writer_commits(store, db_url):
    def count() -> int:
        return store.query("SELECT COUNT(*) AS n FROM resolution")[0]["n"]

    def commit_one_elsewhere() -> None:
        with Store.open(db_url) as other, other.transaction():
            other.execute(
                "INSERT INTO payment_request (txn_id, kind, created_at, customer, search_text, amount_minor, "
                "currency, gateway, registered_at, outcome, reason, response_count) VALUES (:t, 'other', "
                ":at, 'c', 'c', 1, 'EUR', 'bank', :at, 'VERIFICARE', 'NO_RESPONSE', 0)",
                {"t": f"T-{count()}-{os.getpid()}", "at": store.time(datetime.now(UTC))},
            )
            other.execute(
                "INSERT INTO resolution (request_id, outcome, note, actor, created_at, previous_outcome) "
                "SELECT MAX(id), 'POSITIVO', 'n', 'a', :at, 'VERIFICARE' FROM payment_request",
                {"at": store.time(datetime.now(UTC))},
            )

    commit_one_elsewhere()
    with store.snapshot():
        seen = count()
        commit_one_elsewhere()
        assert count() == seen  # not the other's commit: the same moment
        with pytest.raises(RuntimeError, match="inside a read snapshot"), store.transaction():
            pass
    assert count() == seen + 1


def test_a_response_keeps_the_least_wording_by_bytes_whatever_the_collation(cli, isolated, db_url):
    # two copies of one response, worded "alpha" and "Zeta": SQLite keeps the least by bytes ("Zeta"),
    # and so must a PostgreSQL database of a real language (ICU en-US puts "alpha" first)
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  bank:\n    provider: csv\n    match:\n      header_contains: [ref, esito]\n"
        "    columns: {reference: ref, amount: amount, currency: currency, status: esito, gateway_txn_id: id}\n"
        "    status_map:\n      approved: [alpha, Zeta]\n    dedupe_key: [id]\n"
    )
    assert cli("db", "upgrade").code == 0
    with Store.connect(db_url) as store:
        collated_like_a_language(store, "response", {"raw_status": 64})
    for name, word in (("one.csv", "alpha"), ("two.csv", "Zeta")):  # one run each: the second folds in SQL
        (isolated / name).write_text(f"id,ref,amount,currency,esito\nK1,R-1,10.00,EUR,{word}\n")
        assert cli("ingest", str(isolated / name)).code == 0
    with Store.connect(db_url) as store:
        [held] = store.query("SELECT raw_status, deliveries FROM response")
    assert (held["raw_status"], held["deliveries"]) == ("Zeta", 2)


def test_an_id_two_transactions_claim_is_the_least_s_by_bytes_whatever_the_collation(store):
    # SQLite keeps "B-AUTH" (0x42 before 0x61), as min() does; a PostgreSQL database of a real language
    # (ICU en-US) would keep "a-auth", and the alias would name another transaction than its responses
    from paycli.gateways.base import Origin, ResponseRecord
    from paycli.ingest import keep_aliases
    from paycli.outcome import Authenticity, Status

    collated_like_a_language(store, "gateway_alias", {"gateway_txn_id": 128})
    for claimant in ("a-auth", "B-AUTH"):
        record = ResponseRecord(
            Origin(None, claimant.encode()), "R-1", "CAP-1:Completed", Status.APPROVED, "Completed",
            Authenticity.UNVERIFIABLE, 3500, "EUR", claimant, aliases=("CAP-1",),
        )  # fmt: skip
        with store.transaction():
            keep_aliases(store, "paypal", [record])
    [row] = store.query("SELECT gateway_txn_id FROM gateway_alias")
    assert row["gateway_txn_id"] == "B-AUTH"


def test_a_store_this_user_may_only_read_is_read_without_its_rule_kept(cli, db_url, monkeypatch):
    from paycli import rule

    with Store.open(db_url) as store, store.transaction():  # no rule kept yet (a store upgraded to 0009)
        store.execute("DELETE FROM store_setting")

    def read_only(*args: object, **kwargs: object) -> None:
        raise StoreError("attempt to write a readonly database")

    monkeypatch.setattr(rule, "record", read_only)
    result = cli("list")
    assert result.code == 0 and result.stderr == "No payment request matches.\n", result


# -- permissions ----------------------------------------------------------------------------------
REQUEST_ROWS = (
    "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
    "T1,O1,order,2026-11-20T09:00:00+01:00,Rossi,r@example.com,10.00,EUR,nexi\n"
)
PERMISSION_HINT = (
    "(paycli needs to read and write the store and its folder, where SQLite keeps the store's -wal and "
    "-shm files)"
)


def as_another_user(*args: str) -> subprocess.CompletedProcess[str]:
    """paycli run by a user who does not own what the test made: root, who may read and write anything,
    from a user namespace of its own, where it is nobody to every file (``unshare -U``)."""
    command = [sys.executable, "-m", "paycli", *args]
    if os.geteuid() == 0:
        if subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode != 0:
            pytest.skip("root reads any file, and this machine has no user namespaces (unshare -U)")
        command = ["unshare", "-U", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def not_ours(path: Path, mode: int) -> None:
    """``path`` as another user's, with permission ``mode`` for everyone but its owner (this user's own
    permission bits stand in where it is not root, which could not give the file away)."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        path.chmod(mode)
    else:
        path.chmod(mode & 0o007 | (mode & 0o007) << 6)


@pytest.mark.skipif(ON_POSTGRES, reason="a SQLite file's permissions")
def test_a_store_of_another_user_is_a_permission_problem_not_a_damaged_database(tmp_path, sqlite_template):
    """It said "is not a usable SQLite database (unable to open database file)": a worried operator
    may restore or delete a healthy store."""
    path = tmp_path / "paycli.db"
    shutil.copy(sqlite_template, path)
    not_ours(path, 0o600)
    try:
        result = as_another_user("--db", str(path), "list")
    finally:
        path.chmod(0o600)
    assert (result.returncode, result.stdout) == (2, ""), result
    assert (
        result.stderr
        == f"paycli: cannot open the store {path}: permission denied on the file {PERMISSION_HINT}\n"
    )


@pytest.mark.skipif(ON_POSTGRES, reason="a SQLite file's permissions")
def test_a_store_this_user_may_only_read_is_read_where_sqlite_can_and_refused_clearly_where_not(
    tmp_path, sqlite_template
):
    """A backup copy, an auditor's account: list, show, report and db status all failed with "... is not
    a usable SQLite database (attempt to write a readonly database)"."""
    folder = tmp_path / "copy"
    folder.mkdir()
    path = folder / "paycli.db"
    shutil.copy(sqlite_template, path)
    not_ours(path, 0o644)
    try:
        # its folder writable: SQLite reads it, keeping its -shm file there; a write is refused, saying why
        assert as_another_user("--db", str(path), "db", "status").returncode == 0
        result = as_another_user("--db", str(path), "list")
        assert (result.returncode, result.stderr) == (0, "No payment request matches.\n"), result
        result = as_another_user("--db", str(path), "resolve", "T1", "--as", "POSITIVO", "--note", "n")
        assert result.returncode == 3, result  # read: there is no such request
        requests = tmp_path / "requests.csv"
        requests.write_text(REQUEST_ROWS)
        result = as_another_user("--db", str(path), "ingest", str(requests))
        assert (result.returncode, result.stderr) == (
            2,
            f"paycli: cannot write to the store {path}: permission denied on the file {PERMISSION_HINT}\n",
        ), result
        # its folder not writable either, and no -wal or -shm file there: SQLite cannot read it
        for side in folder.glob("paycli.db-*"):
            side.unlink()
        not_ours(folder, 0o755)
        for command in (["list"], ["db", "status"], ["report", "--format", "csv", "--out", "-"]):
            result = as_another_user("--db", str(path), *command)
            assert (result.returncode, result.stdout) == (2, ""), result
            assert result.stderr == (
                f"paycli: cannot open the store {path}: permission denied on the file {PERMISSION_HINT}\n"
            )
    finally:
        folder.chmod(0o755)
        path.chmod(0o600)
    with Store.open(str(path)) as store:  # untouched
        assert store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"] == 0


def test_a_store_error_is_told_from_a_permission_one_by_the_permissions(
    tmp_path, sqlite_template, monkeypatch
):
    """Where root stands in for another user: SQLite's own error is a permission problem where this
    user may not read or write the file, and says the file is not usable where it may."""
    import paycli.store

    path = tmp_path / "paycli.db"
    shutil.copy(sqlite_template, path)

    def cannot_open(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(paycli.store.sqlite3, "connect", cannot_open)
    with pytest.raises(StoreError) as raised:
        Store.open(str(path))
    assert str(raised.value) == f"{path} is not a usable SQLite database (unable to open database file)"
    access = os.access
    for denied, on in ((path, "the file"), (tmp_path, f"its folder {tmp_path}")):
        monkeypatch.setattr(
            paycli.store.os,
            "access",
            lambda p, mode, denied=denied: access(p, mode) and not (Path(p) == denied and mode & os.W_OK),
        )
        with pytest.raises(StoreError) as raised:
            Store.open(str(path))
        assert (
            str(raised.value) == f"cannot open the store {path}: permission denied on {on} {PERMISSION_HINT}"
        )
