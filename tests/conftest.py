"""Shared fixtures: an isolated environment, a fresh store per test on SQLite or PostgreSQL, the CLI.

``PAYCLI_TEST_DB=postgresql+psycopg://`` (set by ``make test-pg`` under ``pg_virtualenv``) runs every
store test on PostgreSQL, each test in a schema of its own; otherwise each test has its own SQLite file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from paycli.cli import app
from paycli.config import Config, load_config
from paycli.store import Store

PG = os.environ.get("PAYCLI_TEST_DB", "")
ON_POSTGRES = PG.startswith("postgres")
REQUEST_HEADER = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the real home, configuration or store."""
    home = tmp_path / "iso-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.delenv("PAYCLI_CONFIG", raising=False)
    monkeypatch.delenv("PAYCLI_DB", raising=False)
    monkeypatch.setenv("TZ", "Europe/Rome")
    monkeypatch.setattr("paycli.config.SYSTEM_CONFIG_FILE", tmp_path / "etc-paycli.yaml")
    work = tmp_path / "iso-work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite store, copied for each test: migrating costs more than copying."""
    path = tmp_path_factory.mktemp("template") / "paycli.db"
    Store.open(f"sqlite:///{path}", create=True).close()
    return path


@contextmanager
def new_store_url(folder: Path, sqlite_template: Path, name: str = "paycli.db") -> Iterator[str]:
    """A store of its own for a test: a copy of the SQLite template, or a PostgreSQL schema at head."""
    if not ON_POSTGRES:
        path = folder / name
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    with postgresql_schema() as url:
        Store.open(url, create=True).close()  # a store, as the SQLite template is: only ingest makes one
        yield url


@contextmanager
def postgresql_schema() -> Iterator[str]:
    """A PostgreSQL schema of its own, dropped afterwards, empty: the URL of a store in it."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql+psycopg:///?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("postgresql://", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    with new_store_url(tmp_path, sqlite_template) as url:
        yield url


@pytest.fixture
def config(isolated: Path) -> Config:
    return make_config(isolated)


def make_config(folder: Path, text: str = "timezone: Europe/Rome\n") -> Config:
    from paycli import gateways

    path = folder / "paycli.yaml"
    path.write_text(text)
    classes = gateways.installed()
    return load_config(path, gateways.settings_specs(classes), requests_spec=classes["requests"].settings)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Run(code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


@pytest.fixture
def cli(db_url: str, isolated: Path) -> Any:
    """Run paycli in-process against the test store, with Europe/Rome as the configured zone."""
    config_file = isolated / "paycli.yaml"
    if not config_file.exists():
        config_file.write_text("timezone: Europe/Rome\n")

    def run(*args: str, input: str | bytes | None = None, db: bool = True) -> Run:
        argv = (["--db", db_url] if db else []) + list(args)
        result = CliRunner().invoke(app, argv, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def request_csv(
    folder: Path, rows: list[str], name: str = "requests.csv", header: str = REQUEST_HEADER
) -> Path:
    path = folder / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def table_counts(store: Store) -> dict[str, int]:
    return {
        t: store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
        for t in ("payment_request", "message", "response", "resolution")
    }


def empty_store(store: Store) -> None:
    """Delete every row, children first: a fresh store for the next example of a property."""
    from paycli.models import Base

    for table in reversed(Base.metadata.sorted_tables):
        store.execute(f"DELETE FROM {table.name}")


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """The store's content without ids and ingest times: equal for equal histories."""
    return {
        "requests": sorted(
            tuple(r[c] for c in r.keys() if c not in ("id", "registered_at", "updated_at", "source"))  # noqa: SIM118 (sqlite3.Row iterates values)
            for r in store.query("SELECT * FROM payment_request")
        ),
        "responses": sorted(
            (
                r["identity"],
                r["reference"],
                r["status"],
                r["amount_minor"],
                r["currency"],
                r["authenticity"],
                r["deliveries"],
                r["request_id"] is not None,
                r["gateway_txn_id"],
            )
            for r in store.query("SELECT * FROM response")
        ),
        "messages": sorted(
            (r["digest"], r["state"], r["error"], r["reference"], r["request_id"] is not None)
            for r in store.query("SELECT * FROM message")
        ),
        # a settlement line held by its message's digest: a report ingested again, or a line of it in
        # another report, must not count its money twice
        "settlements": sorted(
            tuple(r)
            for r in store.query(
                "SELECT m.digest, s.kind, s.gateway_txn_id, s.parent_txn_id, s.reference, s.gross_minor, "
                "s.fee_minor, s.net_minor, s.currency, s.line_id, s.charged_minor, s.charged_currency "
                "FROM settlement s JOIN message m ON m.id = s.message_id"
            )
        ),
        "aliases": sorted(
            (r["provider"], r["alias"], r["gateway_txn_id"])
            for r in store.query("SELECT * FROM gateway_alias")
        ),
    }


def collated_like_a_language(store: Store, table: str, columns: dict[str, int]) -> None:
    """On PostgreSQL, give these varchar columns (name: width) the collation of a real language (ICU
    en-US, a production server's usual), which does not order by bytes as SQLite does; skips the test
    where the server has no ICU. On SQLite, nothing."""
    if not ON_POSTGRES:
        return
    if not store.query("SELECT 1 AS x FROM pg_collation WHERE collname = 'en-US-x-icu'"):
        pytest.skip("this PostgreSQL has no ICU collation")
    with store.transaction():
        for column, width in columns.items():
            store.execute(
                f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({width}) COLLATE "en-US-x-icu"'
            )
