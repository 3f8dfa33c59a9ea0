"""The store: opening the database, its schema version, transactions and portable SQL.

paycli keeps everything in one database: SQLite by default, PostgreSQL through psycopg 3 for shops that
outgrow one machine (design.md 7). The schema is described by the SQLAlchemy models in
``paycli/models.py`` and created and upgraded by the Alembic migrations in ``paycli/migrations``.
Queries at run time go straight to the DB-API driver with SQL that both backends accept: importing
SQLAlchemy alone would spend most of the 0.5 s a query command may take on a 2-core machine. SQL is
written with ``:name`` placeholders; ``Store`` adapts them to the driver.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from paycli import stopping
from paycli.dates import from_db, to_db_text
from paycli.errors import StoreError
from paycli.migrations import HEAD

BUSY_TIMEOUT_SECONDS = 60  # a cron ingest waits for a receiver's write rather than failing
# SQLite virtual-machine steps between two looks at a stop asked (paycli.stopping): well under a
# millisecond of a statement; no cost measured (a recursive count to 5,000,000: 0.90 s with or without)
PROGRESS_STEPS = 20_000
# PostgreSQL: receivers (paycli serve) apply callbacks side by side, each locking what it touches; a
# batch of an ingest touches thousands of keys, too many to lock one by one, so it takes this lock
# alone while receivers share it (Store.lock_writers), and so do recompute and resolve. A request file
# and its first callback arriving at the same instant then never miss each other (the callback stored
# as an orphan of a request it could not see yet). (SQLite needs none: BEGIN IMMEDIATE lets one writer
# in at a time.) Advisory locks are the database's: each lock's key names the store's schema too, so
# that the stores of two shops in one database never wait for each other.
LONG_IN_LIST = 64  # values; past it, an IN list is bound as one JSON array on SQLite
MAX_PARAMETERS = 8000  # bound parameters a statement; SQLite allows 32,766, PostgreSQL 65,535
# SQLite's page cache for a file ingest: the unique indexes of message digests and response identities
# are random keys, and at a million records they outgrow 64 MB: with 128 MB a 1,000,000-row export took
# 185 s instead of 261 s, for 74 MB more peak memory (198 MB). Receivers and queries keep 64 MB.
INGEST_CACHE_MB = 128
Row = Mapping[str, Any]
# store_setting: the schema an upgrade started from, kept with its migrations and dropped when what
# ``paycli db upgrade`` does after them (a recompute) is committed, so that a run stopped in between is
# finished by the next rather than taken for a store at head
UPGRADED_FROM = "upgraded_from"
# Where a command that only reads meets no store: a typo in --db, another user's HOME under cron. Said,
# not answered from an empty store made there (a report of nothing: a false all-clear every night).
NO_STORE_HINT = "paycli ingest creates one; check --db, PAYCLI_DB or database: in the configuration"
# What a PostgreSQL user needs (PostgreSQL 15 no longer lets every user create tables in schema public)
PRIVILEGES_HINT = (
    "it needs to read and write paycli's tables, and to create tables in its schema to make a new store "
    "or upgrade one (GRANT CREATE ON SCHEMA)"
)


def advisory_key(name: str) -> int:
    """The 64-bit PostgreSQL advisory lock key of a name (``ref:T1``), the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# paycli's schema revisions (paycli/migrations/versions): 0001, 0002, ...
_REVISION = re.compile(r"[0-9]{4}")
_CURSORS = itertools.count(1)  # the names of server-side cursors (stream_tuples)
SERVER_SIDE_ROWS = 2000  # rows a round trip of a server-side cursor brings
# A database URL whose "://" was mistyped: not a file path to create a store at (it may hold a password)
_MISTYPED_URL = re.compile(r"(?i)(postgres(?:ql)?|sqlite|mysql|mariadb|oracle|mssql)(?:\+\w+)?:?/")


# A libpq connection string (``host=db dbname=paycli password=...``), the form psql's manual shows: not a
# file path either (it holds a password). Any of libpq's keywords may come first (PostgreSQL 17's list):
# one left out made the string a SQLite file's path again, printed password and all.
_LIBPQ_KEYWORDS = re.compile(
    r"(?i)\s*(host|hostaddr|port|dbname|user|password|passfile|require_auth|channel_binding|"
    r"connect_timeout|client_encoding|options|application_name|fallback_application_name|keepalives|"
    r"keepalives_idle|keepalives_interval|keepalives_count|tcp_user_timeout|replication|gssencmode|"
    r"sslmode|requiressl|sslnegotiation|sslcompression|sslcert|sslkey|sslkeylogfile|sslpassword|"
    r"sslcertmode|sslrootcert|sslcrl|sslcrldir|sslsni|requirepeer|ssl_min_protocol_version|"
    r"ssl_max_protocol_version|krbsrvname|gsslib|gssdelegation|service|target_session_attrs|"
    r"load_balance_hosts|oauth_issuer|oauth_client_id|oauth_client_secret|oauth_scope)\s*="
)
# its secrets: the password, the client key's (sslpassword) and an OAuth client's
_LIBPQ_SECRETS = "password|sslpassword|oauth_client_secret"
_LIBPQ_PASSWORD = re.compile(rf"(?i)(\b(?:{_LIBPQ_SECRETS})\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)")
# the same secrets as a URL's query parameters
_URL_SECRET = re.compile(rf"(?i)([?&](?:{_LIBPQ_SECRETS})=)([^&#]*)")

# A server's URL written without its scheme (``USER:PASSWORD@HOST/DB``, as a URL's tail is copied): not a
# file path either (it holds a password; the host follows the last "@", as a password may hold one)
_SCHEMELESS_URL = re.compile(r"[^/:@\s]+:\S*@[^@/\s]+(?:[/?:]\S*)?")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite:///rel``, ``sqlite:////abs``) or a bare path; None otherwise."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    if (
        "://" not in url
        and not _MISTYPED_URL.match(url)
        and not _LIBPQ_KEYWORDS.match(url)
        and not _SCHEMELESS_URL.fullmatch(url)
    ):
        return Path(url)
    return None


def peek_schema(url: str) -> tuple[bool, str | None]:
    """Whether the store's SQLite file exists (always True for a server's database) and its schema
    version, None where paycli's tables are not there yet: looked at, not made, so a mistyped path
    leaves no stray file behind (``paycli db status``, a dry run)."""
    file = sqlite_path(url)
    if file is not None and not _exists(file):
        return False, None
    with Store.connect(url) as store:
        return True, store.schema_version()


def no_store(url: str) -> StoreError:
    """What a command that needs a store says where there is none: no file, an empty database."""
    file = sqlite_path(url)
    if file is not None and not _exists(file):
        return _no_store_file(file)
    return StoreError(f"no store in {describe(url)}: the database is empty ({NO_STORE_HINT})")


def _exists(path: Path) -> bool:
    """Whether there is a file at ``path``; True where a folder on its way may not be entered: opening
    it says so (not "no store")."""
    try:
        return path.exists()
    except PermissionError:
        return True


def _no_store_file(path: Path) -> StoreError:
    empty = ": the file is empty" if path.exists() else ""
    return StoreError(f"no store at {path.absolute()}{empty} ({NO_STORE_HINT})")


def describe(url: str) -> str:
    """The URL without its password (after the user name, or a ``password=`` parameter) nor libpq's
    other secrets (``sslpassword=``, ``oauth_client_secret=``), for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if _LIBPQ_KEYWORDS.match(url):
            return _LIBPQ_PASSWORD.sub(r"\1***", url.strip())
        mistyped = _MISTYPED_URL.match(url)
        if mistyped:
            return f"{mistyped[1]}:..."
        if _SCHEMELESS_URL.fullmatch(url):
            return url.partition(":")[0] + ":***" + url[url.rfind("@") :]
        return url
    at = rest.rfind("@")  # a password may hold an unencoded "@": the host follows the last one
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = user + (":***" if colon else "") + rest[at:]
    return f"{scheme}://" + _URL_SECRET.sub(r"\1***", rest)


def scrub(text: str, url: str) -> str:
    """A driver's message about ``url`` without the URL's password, in any form it may quote it."""
    from urllib.parse import unquote

    text = text.replace(url, describe(url))
    secrets: set[str] = set()
    rest = url.partition("://")[2]
    if "@" in rest:
        password = rest[: rest.rfind("@")].partition(":")[2]
        # libpq ends the password at its first "@": the rest it takes for the host, and may quote
        secrets |= {password, *(part for part in password.split("@") if len(part) >= 4)}
    secrets.update(value for _, value in _URL_SECRET.findall(rest))
    for secret in sorted(secrets | {unquote(s) for s in secrets}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


class Store:
    """An open connection to a paycli store.

    Use ``Store.open(url)``; it refuses one that is behind (``paycli db upgrade`` moves it on: cron must
    never migrate a production store by surprise), and one that is not there: only ``create=True`` (the
    commands that store what arrives: ``ingest``, ``serve``, ``db upgrade``) makes a new store, at the
    newest schema.
    """

    def __init__(self, url: str, connection: Any, backend: str) -> None:
        self.url = url
        self.connection = connection
        self.backend = backend
        self._in_transaction = False
        self._beside_writers = False  # this transaction shares the writer lock (a receiver's callback)
        self._in_snapshot = False
        self._checkpointer: _Checkpointer | None = None
        self._lock_space: str | None = None

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, upgrade: bool = False, create: bool = False) -> Store:
        store = cls.connect(url, create=create)
        try:
            version = store.schema_version()
            if version is None:
                if not create:  # an empty file, a PostgreSQL database without paycli's tables
                    raise no_store(url)
                store.check_encoding()
                store.migrate()
            elif version != HEAD:
                if not upgrade:
                    raise StoreError(store.version_problem(version))
                store.migrate(since=version)
            elif not upgrade and (since := store.unfinished_upgrade()) is not None:
                raise StoreError(store.version_problem(since, unfinished=True))
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def connect(cls, url: str, *, create: bool = False) -> Store:
        """A connection to the database at ``url``, whatever it holds; ``create``: a SQLite file that is
        not there is made (empty), else it is refused."""
        path = sqlite_path(url)
        if path is not None:
            return cls(url, _connect_sqlite(path, create=create), "sqlite")
        if _LIBPQ_KEYWORDS.match(url):
            raise StoreError(
                f"the database '{describe(url)}' is a libpq connection string (key=value): write it as a URL, "
                "postgresql+psycopg://USER:PASSWORD@HOST/DB (options such as sslmode=require after a '?')"
            )
        if "://" not in url:
            raise StoreError(
                f"the database URL {describe(url)} lacks '://': write postgresql+psycopg://USER:PASSWORD@HOST/DB "
                "or sqlite:///PATH"
            )
        if url.startswith(("postgresql", "postgres")):
            return cls(url, _connect_postgresql(url), "postgresql")
        raise StoreError(
            f"unsupported database URL '{describe(url)}' (use sqlite:///PATH or postgresql+psycopg://...)"
        )

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------------------
    def table_names(self) -> set[str]:
        if self.backend == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            if self.query("SELECT current_schema() AS s")[0]["s"] is None:
                # a search_path (options=-csearch_path=...) naming no schema there is: nowhere to look
                # for paycli's tables, nor to make them
                raise StoreError(
                    f"no schema of the search_path of {describe(self.url)} exists in the database: "
                    "create it, or name another (options=-csearch_path%3DSCHEMA in the URL)"
                )
            rows = self.query(
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        return {r["name"] for r in rows}

    def column_names(self, table: str) -> set[str]:
        if self.backend == "sqlite":
            return {r["name"] for r in self.query(f"SELECT name FROM pragma_table_info('{table}')")}
        rows = self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t",
            {"t": table},
        )
        return {r["column_name"] for r in rows}

    def schema_version(self) -> str | None:
        """The Alembic revision of the store; None for an empty database (a new store)."""
        tables = self.table_names()
        if "alembic_version" not in tables:
            if tables:
                raise StoreError(f"{describe(self.url)} is a database, but not a paycli store")
            return None
        rows = self.query("SELECT version_num FROM alembic_version")
        version = str(rows[0]["version_num"]) if rows else None
        if version is None:
            if tables - {"alembic_version"}:
                raise StoreError(f"{describe(self.url)} is a database, but not a paycli store")
            return None
        if not _REVISION.fullmatch(version) or "payment_request" not in tables:
            # another application's tables, which Alembic versions too (a web shop's database): not a
            # paycli store newer than this paycli, nor one to upgrade
            raise StoreError(
                f"{describe(self.url)} is a database, but not a paycli store (its alembic_version, "
                f"{version}, is another application's)"
            )
        return version

    def check_encoding(self) -> None:
        """Refuse to make a store in a PostgreSQL database whose encoding cannot hold any text (LATIN1,
        WIN1252, ...): a customer's name or a gateway's message in another script would fail its whole
        batch, every run. UTF8 holds all; SQL_ASCII keeps the UTF-8 bytes paycli sends as they are."""
        if self.backend != "postgresql":
            return
        encoding = str(self.query("SHOW server_encoding")[0]["server_encoding"])
        if encoding.upper() not in ("UTF8", "SQL_ASCII"):
            raise StoreError(
                f"the database of {describe(self.url)} is encoded {encoding}, which cannot hold every "
                "character a payment's text may have: make the store in a database created with ENCODING 'UTF8'"
            )

    def unfinished_upgrade(self) -> str | None:
        """Of a store at head: the schema of an upgrade whose migrations are committed and its recompute
        not yet (a ``paycli db upgrade`` stopped in between), else None."""
        rows = self.query("SELECT value FROM store_setting WHERE name = :n", {"n": UPGRADED_FROM})
        return str(rows[0]["value"]) if rows else None

    def finish_upgrade(self) -> None:
        """In the transaction of what follows the migrations: the upgrade is done."""
        self.execute("DELETE FROM store_setting WHERE name = :n", {"n": UPGRADED_FROM})

    def version_problem(self, version: str, *, unfinished: bool = False) -> str:
        if unfinished:
            return (
                f"the upgrade of the store {describe(self.url)} from schema {version} is not finished "
                "(under way, or stopped): run 'paycli db upgrade'"
            )
        if version < HEAD:
            return (
                f"the store {describe(self.url)} is at schema {version}, this paycli needs {HEAD}: "
                "back it up, then run 'paycli db upgrade'"
            )
        return f"the store {describe(self.url)} is at schema {version}, newer than this paycli ({HEAD}): upgrade paycli"

    def migrate(self, revision: str = "head", *, since: str | None = None) -> None:
        """Bring the schema to the newest revision (or to ``revision``) with Alembic (imported only here);
        ``since``: the schema of the store upgraded, kept in the same transaction until ``paycli db
        upgrade`` has done what follows the migrations (``finish_upgrade``)."""
        from alembic import command
        from alembic.config import Config as AlembicConfig
        from sqlalchemy import create_engine, event, text
        from sqlalchemy.exc import DBAPIError

        path = sqlite_path(self.url)
        if path is not None:
            engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

            # Two processes opening a new store at once: pysqlite begins no transaction for DDL, so each
            # CREATE was committed alone and the second process, which had seen no table, failed on one
            # the first had made. One BEGIN IMMEDIATE around Alembic's work: the second waits for the
            # first's commit (the busy time-out), then finds the store at head and does nothing.
            @event.listens_for(engine, "connect")
            def _no_implicit_transactions(dbapi_connection: Any, record: Any) -> None:
                dbapi_connection.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        else:
            # READ COMMITTED, as Store.transaction: a process that waited for another's migration
            # reads the schema it made (with the server's default repeatable read it saw none, and
            # failed making the tables again)
            engine = create_engine(
                re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql+psycopg://", self.url),
                isolation_level="READ COMMITTED",
                connect_args={"client_encoding": "UTF8", **_connect_timeout(self.url)},  # as Store's own
            )
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", "paycli:migrations")
        try:
            with engine.begin() as conn:
                if self.backend == "postgresql":
                    # two processes opening a new store at once: the second waits, then finds it at head
                    key = advisory_key(f"migrate:{self.lock_space()}")
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")
                    # and the store's writers (ingest, receivers, resolve...) wait for the migrations,
                    # then find the schema moved on (check_schema): none reads the old schema and
                    # writes into the new, and none holds a table the migrations must alter (a deadlock)
                    writers = advisory_key(f"writers:{self.lock_space()}")
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({writers})")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if since is not None:
                    # the oldest schema, where a stopped upgrade left one already
                    conn.execute(
                        text(
                            "INSERT INTO store_setting (name, value) VALUES (:n, :v) ON CONFLICT (name) DO NOTHING"
                        ),
                        {"n": UPGRADED_FROM, "v": since},
                    )
        except DBAPIError as exc:
            if isinstance(exc.orig, Exception):
                self._raise_postgresql(exc.orig)  # a user that may not create tables, a server gone
            raise
        finally:
            engine.dispose()

    # -- SQL -----------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.backend == "sqlite" else _to_pyformat(sql)

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> Any:
        try:
            return self.connection.execute(self._sql(sql), params)
        except sqlite3.DatabaseError as exc:
            raise self._wrap(exc) from exc
        except Exception as exc:
            self._raise_postgresql(exc)
            raise

    def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]]) -> None:
        try:
            if self.backend == "sqlite":
                self.connection.executemany(sql, rows)
            else:
                with self.connection.cursor() as cur:
                    cur.executemany(_to_pyformat(sql), list(rows))
        except sqlite3.DatabaseError as exc:
            raise self._wrap(exc) from exc
        except Exception as exc:
            self._raise_postgresql(exc)
            raise

    def query(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[Row]:
        cursor = self.execute(sql, params)
        try:
            return list(cursor.fetchall())  # SQLite steps through the rest of the statement here
        except sqlite3.DatabaseError as exc:
            raise self._wrap(exc) from exc

    def tuples(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """``query``'s rows as plain tuples, in the order of the select list: reading a named column of a
        ``sqlite3.Row`` is a search of its column names, which a loop over every response of an ingest
        batch pays for each value it reads."""
        return list(self.stream_tuples(sql, params))

    def stream_tuples(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] = (), *, server_side: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        """``tuples`` one row at a time, straight from the driver: a report's large sections walk
        100,000 rows without holding them. PostgreSQL's driver holds a whole result, though: with
        ``server_side`` (inside a snapshot or a transaction), the rows come through a server-side
        cursor, a batch at a time (``paycli list`` of the whole store), at the price of a round trip
        per batch and two per query."""
        if self.backend == "sqlite":
            cursor = self.connection.cursor()
            cursor.row_factory = None
            try:
                rows = cursor.execute(sql, params)
            except sqlite3.DatabaseError as exc:
                cursor.close()
                raise self._wrap(exc) from exc
            # a loop, not ``yield from``: a section left unread (report | head) is closed when it is
            # collected, maybe after the store, and ``yield from`` would then close a cursor of a closed
            # database, which raises ("Exception ignored" on stderr)
            try:
                for row in rows:  # noqa: UP028 (see above)
                    yield row
            except sqlite3.DatabaseError as exc:
                cursor.close()
                raise self._wrap(exc) from exc
            cursor.close()
            return
        from psycopg.rows import tuple_row

        named = server_side and (self._in_snapshot or self._in_transaction)
        with (
            self.connection.cursor(name=f"paycli_rows_{next(_CURSORS)}", row_factory=tuple_row)
            if named
            else self.connection.cursor(row_factory=tuple_row)
        ) as cursor:
            if named:
                cursor.itersize = SERVER_SIDE_ROWS
            try:
                cursor.execute(_to_pyformat(sql), params)
            except Exception as exc:
                self._raise_postgresql(exc)
                raise
            yield from cursor

    def prepare_bulk(self) -> None:
        """Settings for a long run of writes on this connection (``paycli ingest``).

        On SQLite: a larger page cache, and the write-ahead log copied back into the database by a
        thread of its own after each commit (a checkpoint), while this one reads the next batch.
        """
        if self.backend != "sqlite":
            return
        self.execute(f"PRAGMA cache_size = -{INGEST_CACHE_MB * 1024}")
        path = sqlite_path(self.url)
        if self._checkpointer is None and path is not None and str(path) != ":memory:":
            self._checkpointer = _Checkpointer(path)
            self.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's work now

    @property
    def serialised(self) -> bool:
        """True when a transaction excludes every other writer (SQLite's BEGIN IMMEDIATE), so nothing
        another process writes can appear between two statements of it."""
        return self.backend == "sqlite"

    def insert_returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Row]:
        """Run an ``INSERT ... VALUES {values} ... RETURNING ...`` for many rows, a few hundred rows a
        statement, and give back what it returned: the ids of a batch without selecting them again."""
        if not rows:
            return []
        width = len(rows[0])
        per_statement = max(1, MAX_PARAMETERS // width)
        one = "(" + ", ".join("?" * width) + ")"
        out: list[Row] = []
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            statement = sql.format(values=", ".join([one] * len(chunk)))
            params = [value for row in chunk for value in row]
            out.extend(self.query(statement, params))
        return out

    def _wrap(self, exc: sqlite3.DatabaseError) -> BaseException:
        if stopping.interrupted(exc):  # abandoned for Ctrl-C or SIGTERM (the progress handler)
            return stopping.stop() or exc
        text = str(exc)
        path = sqlite_path(self.url)
        denied = None if path is None or "readonly" not in text else _permission_problem(path)
        if denied:  # a store this user may read but not write (SQLite opened it read-only)
            return StoreError(f"cannot write to the store {path}: {denied}")
        if "not a database" in text or "malformed" in text:
            return StoreError(f"{describe(self.url)} is not a usable SQLite database ({text})")
        if "disk is full" in text or "disk I/O error" in text:
            return StoreError(
                f"the disk holding {describe(self.url)} is full or failing ({text}): what was being written "
                "was not stored; make room, then run the same command again"
            )
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return StoreError(f"{describe(self.url)} stayed locked by another writer for {self._lock_wait()}")
        return exc

    def _raise_postgresql(self, exc: Exception) -> None:
        """Raise what PostgreSQL's ``exc`` means to the user, where it is not a bug of paycli's: a
        connection lost (the server restarted, a network cut), a privilege the database user lacks, a
        read-only database (a standby). Their text is the server's, never the URL's."""
        psycopg = sys.modules.get("psycopg")
        if self.backend != "postgresql" or psycopg is None or not isinstance(exc, psycopg.Error):
            return
        errors = psycopg.errors
        reason = _first_line(exc, self.url)
        lost = (errors.AdminShutdown, errors.CrashShutdown, errors.CannotConnectNow)
        if isinstance(exc, psycopg.OperationalError) and (self.connection.closed or isinstance(exc, lost)):
            raise StoreError(
                f"lost the connection to {describe(self.url)} ({reason}): what was being written was not "
                "stored; run the same command again"
            ) from exc
        if isinstance(exc, errors.InsufficientPrivilege):
            raise StoreError(
                f"the database user may not use the store {describe(self.url)} as paycli needs ({reason}): "
                f"{PRIVILEGES_HINT}"
            ) from exc
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            raise StoreError(f"cannot write to the store {describe(self.url)}: {reason}") from exc
        if isinstance(exc, errors.UntranslatableCharacter | errors.CharacterNotInRepertoire):
            raise StoreError(
                f"the database of {describe(self.url)} cannot hold a character of what was being written "
                f"({reason}): nothing of it was stored; move the store to a database created with ENCODING 'UTF8'"
            ) from exc
        if isinstance(exc, errors.LockNotAvailable):
            raise StoreError(
                f"{describe(self.url)} stayed locked by another writer ({reason}): what was being written was "
                "not stored (a lock_timeout of the database, its user or paycli serve's store_timeout_seconds may be too short)"
            ) from exc
        if isinstance(exc, errors.QueryCanceled):
            raise StoreError(
                f"the server cancelled a statement on {describe(self.url)} ({reason}): what was being written "
                "was not stored (a statement_timeout of the database, its user or paycli serve's store_timeout_seconds may be too short)"
            ) from exc

    def _lock_wait(self) -> str:
        """How long SQLite waited for the lock: the busy time-out of this connection (paycli serve sets
        its own), in seconds."""
        try:
            millis = self.connection.execute("PRAGMA busy_timeout").fetchone()[0]
        except Exception:
            return f"{BUSY_TIMEOUT_SECONDS} s"
        return f"{millis / 1000:g} s"

    def _undo(self, exc: BaseException) -> None:
        """ROLLBACK after ``exc``; when the connection cannot even do that, ``exc`` is what is raised,
        the cause, not what the broken connection says after it."""
        try:
            self.execute("ROLLBACK")
        except Exception:
            raise exc from None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that all see the store as it was at one moment, whatever writers commit meanwhile: a
        report's totals and its lists, a request and its trail. A read transaction: SQLite's deferred
        BEGIN (its snapshot is taken at the first read, and waits for no writer in WAL mode),
        PostgreSQL's REPEATABLE READ, READ ONLY. Inside a transaction, that transaction is the moment."""
        if self._in_transaction or self._in_snapshot:
            yield
            return
        self.execute(
            "BEGIN" if self.backend == "sqlite" else "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        )
        self._in_snapshot = True
        try:
            yield
        except BaseException as exc:
            self._undo(exc)
            raise
        else:
            self.execute("ROLLBACK")  # it wrote nothing: nothing to keep
        finally:
            self._in_snapshot = False

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One atomic unit of work; ``rollback=True`` undoes it at the end (``--dry-run``)."""
        if self._in_transaction:
            yield
            return
        if self._in_snapshot:
            raise RuntimeError("a write inside a read snapshot: writes take their own transaction")
        checkpointer = self._checkpointer
        if checkpointer is not None:
            # the log restarts from its beginning only at a write after a complete checkpoint: waiting
            # for the last one keeps it to one batch instead of growing while both run
            checkpointer.wait()
        # Both connections run in autocommit mode, so a transaction is exactly this block. SQLite takes
        # the write lock at BEGIN IMMEDIATE, so two writers queue instead of deadlocking. A BEGIN that
        # fails ("database is locked") began nothing: that error, not a failed ROLLBACK, is raised.
        # PostgreSQL: READ COMMITTED whatever the server's default_transaction_isolation, as the writer
        # lock assumes: a writer that waited for another's commit must then read it (lock_writers)
        self.execute(
            "BEGIN IMMEDIATE" if self.backend == "sqlite" else "BEGIN ISOLATION LEVEL READ COMMITTED"
        )
        self._in_transaction = True
        try:
            yield
        except BaseException as exc:
            self._undo(exc)
            raise
        else:
            self.execute("ROLLBACK" if rollback else "COMMIT")
            if checkpointer is not None and not rollback:
                checkpointer.start()
        finally:
            self._in_transaction = False
            self._beside_writers = False

    def lock_writers(self, *, shared: bool = False) -> None:
        """Inside a transaction, wait for the store's other writers (``ingest``, ``reprocess``,
        ``recompute``, ``resolve``) and keep them out until it ends; ``shared``: a receiver's callback,
        which runs beside other callbacks (each locks its own keys) but never beside those writers.

        SQLite's BEGIN IMMEDIATE already lets one writer in at a time; PostgreSQL's writers read, decide
        and write outcomes in READ COMMITTED, so one that read before another's commit would write back
        what it computed without that commit: they take this advisory lock first.
        """
        if self.backend == "postgresql":
            take = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            self.execute(f"SELECT {take}(:k)", {"k": advisory_key(f"writers:{self.lock_space()}")})
            self._beside_writers = shared
        self.check_schema()

    def check_schema(self) -> str:
        """The store's schema version, which must be this paycli's: StoreError where a ``paycli db
        upgrade`` of a newer paycli ran while this process (a receiver, a long ingest) had the store
        open, so that nothing more is written into it. Read under the
        writer lock, which an upgrade holds while it migrates (``migrate``), so a writer that waited for
        the upgrade reads the schema it left. Without it, a receiver left running went on writing with
        the code of the old schema into the new one."""
        rows = self.query("SELECT version_num FROM alembic_version")
        version = str(rows[0]["version_num"]) if rows else "none"
        if version != HEAD:
            # what to do first: a receiver's log line keeps 200 characters
            raise StoreError(
                f"the store is now at schema {version}, not this paycli's {HEAD} (upgraded while in use): "
                "nothing more is written; restart paycli serve, or run the command again, with the "
                f"paycli of its schema ({describe(self.url)})"
            )
        return version

    def lock_space(self) -> str:
        """PostgreSQL: the schema the store's tables are in, which its advisory locks' keys name."""
        if self._lock_space is None:
            self._lock_space = str(self.query("SELECT current_schema() AS s")[0]["s"])
        return self._lock_space

    @property
    def beside_writers(self) -> bool:
        """Whether this transaction shares the writer lock with others (``lock_writers(shared=True)``)."""
        return self._beside_writers

    def lock_keys(self, names: Iterable[str]) -> None:
        """PostgreSQL: wait for, then hold until the transaction ends, the advisory lock of each name
        (``ref:`` a merchant reference, ``gtx:`` a gateway transaction, ``digest:`` a message), taken
        in one order so that two holders of several never wait for each other in a circle."""
        if self.backend == "postgresql":
            space = self.lock_space()
            for key in sorted({advisory_key(f"{space}:{name}") for name in names}):
                self.execute("SELECT pg_advisory_xact_lock(:k)", {"k": key})

    def lock_requests(self, ids: Iterable[int]) -> None:
        """The advisory locks of these requests' references (``ref:``, as a receiver takes for the
        reference its callback names), for a transaction that shares the writer lock and is about to
        recompute them (``recompute.refresh``): two receivers that recompute one request (a response
        of its own, and one of another request's sharing its gateway transaction) then do it one after
        the other, the second reading what the first committed. Taken after the callback's own locks,
        so two receivers may each wait for the other; PostgreSQL then fails one of them (a deadlock),
        which answers 503, and the gateway sends it again."""
        wanted = sorted(set(ids))
        references: list[str] = []
        for start in range(0, len(wanted), MAX_PARAMETERS):
            marks, params = self.placeholders("q", wanted[start : start + MAX_PARAMETERS])
            rows = self.query(f"SELECT txn_id FROM payment_request WHERE id IN {marks}", params)
            references += [row["txn_id"] for row in rows]
        self.lock_keys("ref:" + reference for reference in references)

    # -- values --------------------------------------------------------------------------------
    def time(self, value: datetime | None) -> Any:
        """A UTC time as this backend stores it."""
        if value is None:
            return None
        return to_db_text(value) if self.backend == "sqlite" else value

    @staticmethod
    def from_time(value: Any) -> datetime | None:
        return None if value is None else from_db(value)

    def bytewise(self, expression: str) -> str:
        """``expression`` compared and ordered by its bytes on both backends: SQLite does so, PostgreSQL
        by the database's collation (an ICU en-US one puts "a-1" before "B-1", and "Rossi" above "rossi")."""
        return f'{expression} COLLATE "C"' if self.backend == "postgresql" else expression

    def placeholders(self, prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
        """``(:p0, :p1, ...)`` and their parameters, for an IN list of text or integers.

        SQLite binds a long list faster as one JSON array read by ``json_each`` than as thousands of
        named parameters (an ingest batch looks up 2,000 keys at a time: 5 ms instead of 15).
        """
        if self.backend == "sqlite" and len(values) > LONG_IN_LIST:
            return f"(SELECT value FROM json_each(:{prefix}))", {prefix: json.dumps(list(values))}
        if self.backend == "postgresql" and len(values) > MAX_PARAMETERS:
            # PostgreSQL binds at most 65,535 parameters a statement, and a batch may hold 100,000 keys
            kind = "bigint" if all(isinstance(v, int) for v in values) else "text"
            return f"(SELECT unnest(CAST(:{prefix} AS {kind}[])))", {prefix: list(values)}
        params = {f"{prefix}{i}": v for i, v in enumerate(values)}
        return "(" + ", ".join(f":{k}" for k in params) + ")", params


class _Checkpointer:
    """Copies a SQLite store's write-ahead log back into the database file, in a thread with its own
    connection, while the writer reads its next batch. A commit does it itself otherwise
    (``wal_autocheckpoint``): for a 1,000,000-row export that was 27 s of the 37 s its commits took,
    now on the second core.

    A PASSIVE checkpoint never blocks a reader or a writer. One that fails (the disk full, a reader
    holding an old snapshot) leaves the log as it is: committed data is safe in it, and the next
    checkpoint, or the last connection to close, copies it.
    """

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self._wanted = threading.Condition()
        self._pending = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="paycli-checkpoint", daemon=True)
        self._thread.start()

    def start(self) -> None:
        with self._wanted:
            self._pending = True
            self._wanted.notify()

    def wait(self) -> None:
        with self._wanted:
            self._wanted.wait_for(lambda: not self._pending or self._closing)

    def close(self) -> None:
        with self._wanted:
            self._closing = True
            self._wanted.notify()
        self._thread.join()
        self._connection.close()

    def _run(self) -> None:
        while True:
            with self._wanted:
                self._wanted.wait_for(lambda: self._pending or self._closing)
                if self._closing:
                    return  # wait() no longer blocks once closing
            # a failure is no loss (see the class): the log waits for the next checkpoint
            with suppress(Exception):
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            with self._wanted:
                self._pending = False
                self._wanted.notify_all()


@lru_cache(maxsize=512)
def _to_pyformat(sql: str) -> str:
    sql = sql.replace("%", "%%")
    sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)
    return sql.replace("?", "%s")


def _first_line(exc: Exception, url: str) -> str:
    """What a driver's error says, for a one-line message: its first line (DETAIL and HINT lines follow
    it), the store's password taken out; the error's kind where it says nothing."""
    lines = str(exc).strip().splitlines()
    return scrub(lines[0].strip() if lines else type(exc).__name__, url)


def _permission_problem(path: Path) -> str | None:
    """The permission this user lacks to use the SQLite store at ``path`` (read and write the file, the
    -wal and -shm files SQLite keeps beside it, make them in its folder), said; None where it lacks none."""
    folder = path.absolute().parent
    sides = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    if not os.access(folder, os.X_OK):
        what = f"its folder {folder}"
    elif not os.access(path, os.R_OK | os.W_OK):
        what = "the file"
    elif denied := [
        side for side in sides if os.access(side, os.F_OK) and not os.access(side, os.R_OK | os.W_OK)
    ]:
        what = str(denied[0])
    elif not os.access(folder, os.W_OK) and not all(os.access(side, os.F_OK) for side in sides):
        what = f"its folder {folder}"
    else:
        return None
    return (
        f"permission denied on {what} (paycli needs to read and write the store and its folder, where "
        "SQLite keeps the store's -wal and -shm files)"
    )


def _connect_sqlite(path: Path, *, create: bool) -> sqlite3.Connection:
    if str(path) != ":memory:":
        try:
            is_folder, exists = path.is_dir(), path.exists()
        except PermissionError:  # a folder on its way this user may not enter
            why = _permission_problem(path) or "permission denied"
            raise StoreError(f"cannot open the store {path}: {why}") from None
        if is_folder:
            raise StoreError(f"{path} is a folder, not a database file")
        if not exists:
            if not create:
                raise _no_store_file(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # The store holds a shop's evidence of payment: readable by its owner only. SQLite gives
                # its -wal and -shm files the permissions of the database file.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as exc:  # a folder not writable, a file where a folder should be
                raise StoreError(f"cannot create the store {path} ({exc.strerror or exc})") from None
        elif not create and path.stat().st_size == 0:
            raise _no_store_file(path)  # an empty file (touch): looked at, not made a database
    conn = None
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # 64 MB of page cache: the unique indexes of message digests and response identities are random
        # keys, and a large ingest slows to the disk's pace once they outgrow the default 2 MB
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        # a statement is abandoned once a stop is asked (Ctrl-C, SIGTERM: paycli.stopping), not run
        # to its end, minutes later on a large store, with the signal waiting
        conn.set_progress_handler(stopping.asked, PROGRESS_STEPS)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        # a store of another user, or one this user may only read in a folder it may not write: not
        # damaged, and not to be restored or deleted for it
        denied = None if str(path) == ":memory:" else _permission_problem(path)
        if denied:
            raise StoreError(f"cannot open the store {path}: {denied}") from exc
        raise StoreError(f"{path} is not a usable SQLite database ({exc})") from exc
    return conn


# How long paycli waits for a PostgreSQL server to answer a connection: libpq waits as long as the
# TCP stack does, and a host that drops packets (a firewall rule, a server gone from its address) hung
# cron's ingest and report, and every receiver's request, for minutes without a word. A
# ``connect_timeout`` in the URL, or PGCONNECT_TIMEOUT, is the user's and wins.
CONNECT_TIMEOUT_SECONDS = 10


def _libpq_url(url: str) -> str:
    """A store's URL as libpq reads it: ``postgresql+psycopg://`` (SQLAlchemy's spelling) and
    ``postgres://`` become ``postgresql://``."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def _connect_timeout(url: str) -> dict[str, Any]:
    """``connect_timeout`` for a connection whose URL and environment set none."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if os.environ.get("PGCONNECT_TIMEOUT"):
        return {}
    try:
        given = conninfo_to_dict(_libpq_url(url))
    except ProgrammingError:
        return {}  # not parsed here: the connection says what is wrong with it
    return {} if "connect_timeout" in given else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}


def _connect_postgresql(url: str) -> Any:
    import logging

    import psycopg
    from psycopg.rows import dict_row

    # psycopg warns through logging when a batch (executemany) fails mid-pipeline: without a handler of
    # its own Python printed that to stderr beside paycli's one line (a handler of the application's,
    # at the root, still receives it)
    logger = logging.getLogger("psycopg")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())

    timeout = _connect_timeout(url)
    try:
        conn = psycopg.connect(_libpq_url(url), row_factory=dict_row, autocommit=True, **timeout)
    except psycopg.Error as exc:
        reason = _first_line(exc, url)  # libpq quotes what it cannot parse: scrubbed
        if reason.endswith("timeout expired") and timeout:
            reason += f" after {CONNECT_TIMEOUT_SECONDS} s (connect_timeout=N in the URL sets another)"
        # not chained: the driver's own error quotes the password, and --debug prints the chain
        raise StoreError(f"cannot connect to {describe(url)}: {reason}") from None
    # Times come back in the session's zone (the server's timezone setting, or PGTZ): in UTC, as paycli
    # keeps them. West of UTC a request made on 0001-01-01 (many an ERP's "no date") came back in year 0,
    # which psycopg cannot load, and every list, show and report failed on it. Text travels as UTF-8
    # whatever the database's encoding (a SQL_ASCII one gave bytes, not text): the server converts, and
    # says which character its encoding cannot hold.
    #
    # A statement whose client is gone (killed: SIGTERM where a command does not take it as Ctrl-C,
    # SIGKILL, a machine's end) is cancelled within a second (PostgreSQL 14 on; an older server has no
    # such setting, NULL here): the server ran it to its end otherwise, minutes of a large store, an
    # ingest's writer lock held all along. A value the database or its user sets is kept.
    try:
        conn.execute(
            "SELECT set_config('TimeZone', 'UTC', false), set_config('client_encoding', 'UTF8', false), "
            "CASE current_setting('client_connection_check_interval', true) "
            "WHEN '0' THEN set_config('client_connection_check_interval', '1s', false) END"
        )
    except psycopg.Error as exc:
        conn.close()
        reason = _first_line(exc, url)
        raise StoreError(f"cannot use {describe(url)}: {reason}") from None
    return conn
