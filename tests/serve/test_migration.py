"""Migrations upgrade an older store and keep what it holds: 0002 (the delivery table), 0003 (a verified
and an unverifiable copy of one message are one response), 0005 (the charge aliases of Stripe events)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paycli import gateways
from paycli.commands.db import MESSAGE_TXN_SINCE
from paycli.ingest import Ingest
from paycli.migrations import HEAD
from paycli.store import Store
from tests.conftest import ON_POSTGRES, make_config

PAYPAL = Path(__file__).parents[1] / "gateways" / "samples" / "paypal" / "approved"


def nothing_yet(db_url: str, tmp_path: Path) -> str:
    """Where a test builds an older paycli's store: a new SQLite file, or the test's PostgreSQL schema
    emptied (the fixture makes it a store at head)."""
    if not ON_POSTGRES:
        return f"sqlite:///{tmp_path / 'old.db'}"
    with Store.connect(db_url) as store:
        for table in store.table_names():
            store.execute(f"DROP TABLE {table} CASCADE")
    return db_url


def new_store(sample: Path, db_url: str, isolated: Path, tmp_path: Path) -> str:
    """A store at head for a sample scenario, its configuration in the working folder: its URL."""
    url = nothing_yet(db_url, tmp_path)
    (isolated / "paycli.yaml").write_text((sample / "paycli.yaml").read_text())
    with Store.connect(url, create=True) as store:
        store.migrate()
    return url


def shared_transaction_store(cli, db_url: str, isolated: Path, tmp_path: Path) -> tuple[str, Path]:  # type: ignore[no-untyped-def]
    """A store at head holding PayPal's shared-transaction sample, ingested: its URL, and the sample."""
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "paypal" / "shared-transaction"
    url = new_store(sample, db_url, isolated, tmp_path)
    inputs = sorted(str(p) for p in sample.iterdir() if p.suffix == ".txt")
    assert cli("--db", url, "ingest", str(sample / "requests.csv"), *inputs, db=False).code == 0
    return url, sample


def upgraded(cli, url: str) -> str:  # type: ignore[no-untyped-def]
    """``paycli db upgrade`` of the store, which must succeed: what it said."""
    result = cli("--db", url, "db", "upgrade", db=False)
    assert result.code == 0, result
    return str(result.stderr)


def as_of_0004(store: Store) -> None:
    """The schema as 0004 left it (no alias table, nothing of 0007), in a store at head."""
    without_0007(store)
    store.execute("DROP TABLE gateway_alias")
    store.execute("DROP INDEX ix_settlement_parent_txn_id")
    store.execute("UPDATE alembic_version SET version_num = '0004'")


# what db upgrade says of a store of Stripe events from before 0008 (or its first version)
STRIPE_BEFORE_0008 = (
    "stripe: informational messages stored before schema 0008 (or by its first version) that name their "
    "payment only by the gateway's id (a refund that failed, a dispute won) are not in its request's trail, "
    "and the others are placed at the time they were received rather than the gateway's own: "
    "run 'paycli reprocess --all --gateway stripe'"
)


def as_of_0005_judged_alone(store: Store) -> None:
    """The store as a paycli of schema 0005 left it: each request judged alone (no SHARED_TRANSACTION),
    nothing of 0007, in a store at head."""
    with store.transaction():
        store.execute(
            "UPDATE payment_request SET outcome = 'POSITIVO', reason = NULL, detail = NULL "
            "WHERE reason = 'SHARED_TRANSACTION'"
        )
        without_0007(store)
        store.execute("UPDATE alembic_version SET version_num = '0005'")


def without_0007(store: Store) -> None:
    """The response table as it was before 0007 (no guessed references), in a store at head."""
    without_0008(store)
    store.execute("DROP INDEX ix_response_guessed")
    store.execute("DROP INDEX ix_gateway_alias_provider_txn")
    store.execute("ALTER TABLE response DROP COLUMN reference_guessed")


def without_0009(store: Store) -> None:
    """The store as it was before 0009 (no outcome rule kept)."""
    store.execute("DROP TABLE store_setting")


def without_0008(store: Store) -> None:
    """The message table as it was before 0008 (no transaction of an informational message)."""
    without_0009(store)
    store.execute("DROP INDEX ix_message_transaction")
    store.execute("ALTER TABLE message DROP COLUMN occurred_at")
    store.execute("ALTER TABLE message DROP COLUMN reference_guessed")
    store.execute("ALTER TABLE message DROP COLUMN gateway_txn_id")


def test_a_store_of_schema_0001_is_upgraded_to_hold_deliveries(cli, db_url, isolated, tmp_path):
    # an empty database: on SQLite the test store is already at head, so a new file
    url = nothing_yet(db_url, tmp_path)
    with Store.connect(url, create=True) as store:
        store.migrate("0001")
        assert store.schema_version() == "0001" and "delivery" not in store.table_names()
    (isolated / "requests.csv").write_text(
        "txn_id,created_at,customer,amount,currency,gateway\nT-1,2026-11-26T10:00:00+01:00,Rossi,1.00,EUR,nexi\n"
    )
    assert cli("--db", url, "ingest", "requests.csv", db=False).code == 2  # behind: db upgrade first
    result = cli("--db", url, "db", "upgrade", db=False)
    assert result.code == 0 and f"upgraded from schema 0001 to {HEAD}" in result.stderr
    assert cli("--db", url, "ingest", "requests.csv", db=False).code == 0
    with Store.connect(url) as store:
        assert "delivery" in store.table_names()
        assert store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"] == 1


def test_0003_merges_a_verified_and_an_unverifiable_copy_and_recomputes_their_request(
    cli, db_url, isolated, tmp_path
):
    url = nothing_yet(db_url, tmp_path)
    config = make_config(isolated, (PAYPAL / "paycli.yaml").read_text())
    for name in ("01-completed.txt", "01-completed.txt.headers"):
        shutil.copy(PAYPAL / name, isolated / name)
    (isolated / "bare").mkdir()
    shutil.copy(PAYPAL / "01-completed.txt", isolated / "bare" / "ipn.txt")

    def ingest(store: Store, *paths: Path) -> None:
        Ingest(store, config, gateways.instances(config, gateways.installed())).run([str(p) for p in paths])

    with Store.connect(url, create=True) as store:
        store.migrate()
        ingest(store, PAYPAL / "requests.csv", isolated / "01-completed.txt")
        # The store as 0002 left it: the verified copy's identity hashed its authenticity word, and the
        # bare copy, received later, became a second response of its own.
        with store.transaction():
            [valid] = store.query("SELECT * FROM response")
            parts = [valid[k] for k in ("provider", "dedupe_key", "status")]
            parts += [str(valid["amount_minor"]), valid["currency"], valid["reference"]]
            old = hashlib.sha256("\x1f".join([*parts, "valid"]).encode()).hexdigest()
            twin = hashlib.sha256("\x1f".join([*parts, "unverifiable"]).encode()).hexdigest()
            store.execute(
                "UPDATE response SET identity = :old WHERE id = :id", {"old": old, "id": valid["id"]}
            )
            store.execute(
                "INSERT INTO response (identity, request_id, reference, provider, dedupe_key, status, "
                "raw_status, amount_minor, currency, gateway_txn_id, authenticity, occurred_at, received_at, "
                "deliveries) SELECT :twin, request_id, reference, provider, dedupe_key, status, raw_status, "
                "amount_minor, currency, gateway_txn_id, 'unverifiable', occurred_at, received_at, 0 "
                "FROM response WHERE id = :id",
                {"twin": twin, "id": valid["id"]},
            )
        ingest(store, isolated / "bare" / "ipn.txt")
        before = store.query(
            "SELECT outcome, reason, response_count FROM payment_request WHERE txn_id = 'ORD-PP-2001-1'"
        )
        assert [tuple(dict(r).values()) for r in before] == [("VERIFICARE", "MULTIPLE_RESPONSES", 2)]
        with store.transaction():  # and the schema as 0002 left it
            as_of_0004(store)
            store.execute("ALTER TABLE settlement DROP COLUMN charged_currency")
            store.execute("ALTER TABLE settlement DROP COLUMN charged_minor")
            store.execute("UPDATE alembic_version SET version_num = '0002'")

    result = cli("--db", url, "db", "upgrade", db=False)
    assert result.code == 0, result
    assert f"upgraded from schema 0002 to {HEAD}" in result.stderr
    assert "1 request(s) recomputed after their responses were merged: 1 changed outcome" in result.stderr
    with Store.connect(url) as store:
        [merged] = store.query("SELECT id, identity, authenticity, deliveries FROM response")
        assert (merged["identity"], merged["authenticity"], merged["deliveries"]) == (twin, "valid", 2)
        linked = store.query("SELECT DISTINCT response_id FROM message WHERE state = 'response'")
        assert [r["response_id"] for r in linked] == [merged["id"]]
        after = store.query(
            "SELECT outcome, reason, response_count FROM payment_request WHERE txn_id = 'ORD-PP-2001-1'"
        )
        assert [tuple(dict(r).values()) for r in after] == [("POSITIVO", None, 1)]
    # re-keyed: both copies again are redeliveries of it
    assert cli("--db", url, "ingest", "01-completed.txt", "bare/ipn.txt", db=False).code == 0
    with Store.connect(url) as store:
        rows = store.query("SELECT authenticity, deliveries FROM response")
        assert [tuple(dict(r).values()) for r in rows] == [("valid", 2)]
    # at head already: nothing to upgrade, nothing recomputed
    assert cli("--db", url, "db", "upgrade", db=False).stderr.count("\n") == 1


def test_0005_finds_the_charge_aliases_in_the_stripe_events_a_store_holds(cli, db_url, isolated, tmp_path):
    samples = Path(__file__).parents[1] / "gateways" / "samples" / "stripe"
    url = nothing_yet(db_url, tmp_path)
    (isolated / "paycli.yaml").write_text((samples / "approved" / "paycli.yaml").read_text())
    inputs = [
        str(path)
        for case in ("approved", "forged")
        for path in sorted((samples / case).iterdir())
        if path.name == "requests.csv" or (path.suffix == ".json" and path.name != "expected.json")
    ]
    aliases = "SELECT provider, alias, gateway_txn_id FROM gateway_alias ORDER BY alias"
    with Store.connect(url, create=True) as store:
        store.migrate()
    assert cli("--db", url, "ingest", *inputs, db=False).code == 1  # the body kept unsigned is set aside
    with Store.connect(url) as store:
        ingested = [tuple(dict(r).values()) for r in store.query(aliases)]
        # the store as 0004 left it: the same messages and responses, no alias table
        with store.transaction():
            as_of_0004(store)
    # a genuine event names each charge; the tampered one (ch_3Q09) vouches for none, and the one kept
    # without its signature (ch_3Q10) is quarantined, not a response
    assert ingested == [
        ("stripe", "ch_3Q01PGqJ2Hc8vLmR4Tz1yX8", "pi_3Q01PGqJ2Hc8vLmR4Tz1aB2"),
        ("stripe", "ch_3Q11PGqJ2Hc8vLmR4Tz1yX8", "pi_3Q11PGqJ2Hc8vLmR4Tz1aB2"),
    ]
    result = cli("--db", url, "db", "upgrade", db=False)
    assert result.code == 0 and f"upgraded from schema 0004 to {HEAD}" in result.stderr, result
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(aliases)] == ingested


def test_0006_gives_stored_stl_lines_the_identity_a_repeated_line_is_recognised_by(
    cli, db_url, isolated, tmp_path
):
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "paypal" / "settlement"
    url = nothing_yet(db_url, tmp_path)
    (isolated / "paycli.yaml").write_text((sample / "paycli.yaml").read_text())
    stl = sample / "STL-20240515.01.009.CSV"
    lines = "SELECT line_id FROM settlement ORDER BY id"
    with Store.connect(url, create=True) as store:
        store.migrate()
    cli("--db", url, "ingest", str(sample / "requests.csv"), str(stl), db=False)
    with Store.connect(url) as store:
        ingested = [r["line_id"] for r in store.query(lines)]
        with store.transaction():  # as 0005 left them: the Transaction ID alone
            store.execute("UPDATE settlement SET line_id = gateway_txn_id")
            without_0007(store)
            store.execute("UPDATE alembic_version SET version_num = '0005'")
    assert all(line.count(":") == 3 for line in ingested)
    result = cli("--db", url, "db", "upgrade", db=False)
    assert result.code == 0 and f"upgraded from schema 0005 to {HEAD}" in result.stderr, result
    with Store.connect(url) as store:
        assert [r["line_id"] for r in store.query(lines)] == ingested
    # the same report again in other bytes (another file of the same day): no line counted twice
    (isolated / "again.csv").write_bytes(stl.read_bytes().replace(b"\r\n", b"\n"))
    cli("--db", url, "ingest", "again.csv", db=False)
    with Store.connect(url) as store:
        assert [r["line_id"] for r in store.query(lines)] == ingested
        again = "SELECT COUNT(*) AS n FROM message WHERE state = 'settlement' AND source LIKE '%again.csv'"
        assert store.query(again)[0]["n"] == len(ingested)  # read, kept verbatim, and known


def test_an_upgrade_from_before_0006_flags_the_gateway_transactions_that_answer_two_requests(
    cli, db_url, isolated, tmp_path
):
    url, _ = shared_transaction_store(cli, db_url, isolated, tmp_path)
    outcomes = "SELECT txn_id, outcome, reason FROM payment_request ORDER BY txn_id"
    with Store.connect(url) as store:
        flagged = [tuple(dict(r).values()) for r in store.query(outcomes)]
        assert [reason for _, _, reason in flagged].count("SHARED_TRANSACTION") == 2
        as_of_0005_judged_alone(store)
    said = upgraded(cli, url)
    assert "2 request(s) recomputed for a gateway transaction that also answers another reference" in said
    assert "2 changed outcome" in said
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(outcomes)] == flagged
    # at head: nothing to look for again
    assert cli("--db", url, "db", "upgrade", db=False).stderr.count("\n") == 1


def test_an_upgrade_from_before_0006_says_which_settlement_lines_an_older_paycli_did_not_count(
    cli, db_url, isolated, tmp_path
):
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "paypal" / "settlement"
    url = new_store(sample, db_url, isolated, tmp_path)
    cli("--db", url, "ingest", str(sample / "STL-20240515.01.009.CSV"), db=False)
    count = "SELECT COUNT(*) AS n FROM settlement"
    with Store.connect(url) as store:
        lines = store.query(count)[0]["n"]
        with store.transaction():  # as 0005 could leave it: a line taken for a repeat of another
            store.execute("DELETE FROM settlement WHERE id = (SELECT MAX(id) FROM settlement)")
            without_0007(store)
            store.execute("UPDATE alembic_version SET version_num = '0005'")
    assert (
        "1 settlement line(s) an older paycli took for repeats are not counted: run 'paycli reprocess --all' "
        "to read them again"
    ) in upgraded(cli, url)
    again = cli("--db", url, "reprocess", "--all", db=False)  # the sample's bad lines stay quarantined
    assert "1 otherwise" in again.stderr
    with Store.connect(url) as store:
        assert store.query(count)[0]["n"] == lines


def test_an_upgrade_from_before_0007_says_where_stripe_sessions_may_name_another_reference(
    cli, db_url, isolated, tmp_path
):
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "stripe" / "approved"
    url = new_store(sample, db_url, isolated, tmp_path)
    session = sample / "04-checkout-session-completed.json"
    assert cli("--db", url, "ingest", str(sample / "requests.csv"), str(session), db=False).code == 0
    with Store.connect(url) as store, store.transaction():
        without_0007(store)
        store.execute("UPDATE alembic_version SET version_num = '0006'")
    assert (
        "stripe: Checkout Session events stored before schema 0007 may name the shop's order or customer "
        "instead of the request: run 'paycli reprocess --all --gateway stripe'"
    ) in upgraded(cli, url)
    assert "as before" in cli("--db", url, "reprocess", "--all", "--gateway", "stripe", db=False).stderr
    with Store.connect(url) as store:
        [held] = store.query("SELECT reference_guessed FROM response")
        assert bool(held["reference_guessed"])  # marked: the session alone names its request


def test_an_upgrade_from_0006_frees_a_retry_it_read_as_a_shared_transaction(cli, db_url, isolated, tmp_path):
    url = nothing_yet(db_url, tmp_path)
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  bank:\n    provider: csv\n"
        "    columns: {reference: ref, amount: amount, status: status, gateway_txn_id: op}\n"
        "    status_map: {approved: OK, refused: KO}\n    currency: EUR\n"
    )
    (isolated / "requests.csv").write_text(
        "txn_id,created_at,customer,amount,currency,gateway\n"
        "T-1,2026-11-26T10:00:00+01:00,Rossi,1.00,EUR,bank\nT-2,2026-11-26T10:05:00+01:00,Rossi,1.00,EUR,bank\n"
    )
    (isolated / "export.csv").write_text("ref,amount,status,op\nT-1,1.00,KO,OP-9\nT-2,1.00,OK,OP-9\n")
    with Store.connect(url, create=True) as store:
        store.migrate()
    cli("--db", url, "ingest", "requests.csv", db=False)
    assert cli("--db", url, "ingest", "--gateway", "bank", "export.csv", db=False).code == 0
    outcomes = "SELECT txn_id, outcome FROM payment_request ORDER BY txn_id"
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(outcomes)] == [
            ("T-1", "NEGATIVO"),
            ("T-2", "POSITIVO"),
        ]
        with store.transaction():  # as 0006 judged a refusal and an approval of one operation
            store.execute("UPDATE payment_request SET outcome = 'VERIFICARE', reason = 'SHARED_TRANSACTION'")
            without_0007(store)
            store.execute("UPDATE alembic_version SET version_num = '0006'")
    result = cli("--db", url, "db", "upgrade", db=False)
    assert result.code == 0 and "2 changed outcome" in result.stderr, result
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(outcomes)] == [
            ("T-1", "NEGATIVO"),
            ("T-2", "POSITIVO"),
        ]


def test_an_upgrade_from_before_0008_says_where_informational_messages_stay_out_of_the_trail(
    cli, db_url, isolated, tmp_path
):
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "stripe" / "refund-after-approval"
    url = new_store(sample, db_url, isolated, tmp_path)
    events = [sample / "03-partial-approved.json", sample / "08-refund-failed.json"]
    assert cli("--db", url, "ingest", str(sample / "requests.csv"), *map(str, events), db=False).code == 0
    with Store.connect(url) as store, store.transaction():  # as a paycli before 0008 stored it
        store.execute("UPDATE message SET reference = NULL, request_id = NULL WHERE state = 'informational'")
        without_0008(store)
        store.execute("UPDATE alembic_version SET version_num = '0007'")
    assert STRIPE_BEFORE_0008 in upgraded(cli, url)
    assert cli("--db", url, "reprocess", "--all", "--gateway", "stripe", db=False).code == 0
    shown = cli("--db", url, "show", "S6002-1", db=False)
    assert "refund.failed: refund failed" in shown.stdout, shown


def test_an_upgrade_to_0010_gives_every_row_id_64_bits_and_keeps_the_rows(cli, db_url, isolated, tmp_path):
    url = nothing_yet(db_url, tmp_path)
    with Store.connect(url, create=True) as store:
        store.migrate("0009")  # PostgreSQL: integer ids, sequences that stop at 2,147,483,647
        with store.transaction():
            store.execute(
                "INSERT INTO payment_request (txn_id, kind, created_at, customer, search_text, amount_minor, "
                "currency, gateway, registered_at, outcome, reason, response_count) VALUES ('T0', 'other', "
                ":at, 'c', 'c', 1, 'EUR', 'nexi', :at, 'VERIFICARE', 'NO_RESPONSE', 0)",
                {"at": store.time(datetime(2026, 11, 26, 9, tzinfo=UTC))},
            )
            store.execute(
                "INSERT INTO message (digest, provider, source, received_at, raw, state, reference, request_id) "
                "SELECT 'd0', 'nexi', 'f', created_at, :raw, 'informational', txn_id, id FROM payment_request",
                {"raw": b"x"},
            )
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n")
    upgraded(cli, url)
    with Store.open(url) as store:
        assert [r["request_id"] for r in store.query("SELECT request_id FROM message")] == [1]
        if ON_POSTGRES:
            types = store.query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
                "table_schema = current_schema() AND (column_name = 'id' OR column_name LIKE '%!_id' ESCAPE '!') "
                "AND table_name <> 'store_setting' AND data_type <> 'character varying'"
            )
            assert len(types) == 12 and {t["data_type"] for t in types} == {"bigint"}, types
            for table in ("payment_request", "message"):
                store.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {2**31 - 1})")
    rows = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\nT1,,other,2026-11-26T10:00:00+01:00,A,,1.00,EUR,nexi\n"  # fmt: skip
    (tmp_path / "requests.csv").write_text(rows)
    assert cli("--db", url, "ingest", str(tmp_path / "requests.csv"), db=False).code == 0


def test_an_upgrade_recomputes_after_a_writer_it_meets_and_keeps_what_that_writer_committed(
    cli, db_url, isolated, tmp_path, monkeypatch
):
    # db upgrade's recompute read, decided and wrote outcomes without the writer lock: a resolution
    # committed meanwhile (PostgreSQL) was overwritten by an outcome computed without it
    import threading
    import time

    from paycli import recompute

    url, sample = shared_transaction_store(cli, db_url, isolated, tmp_path)
    outcomes = "SELECT txn_id, outcome, reason FROM payment_request WHERE reason IS NOT NULL ORDER BY txn_id"
    with Store.connect(url) as store:
        shared = [r["txn_id"] for r in store.query(outcomes) if r["reason"] == "SHARED_TRANSACTION"]
        assert len(shared) == 2
        with store.transaction():  # as a paycli of schema 0005 left them: each request judged alone
            store.execute(
                "UPDATE payment_request SET outcome = 'POSITIVO', reason = NULL WHERE reason IS NOT NULL"
            )
            without_0007(store)
            store.execute("UPDATE alembic_version SET version_num = '0005'")
    config = make_config(isolated, (sample / "paycli.yaml").read_text())
    started = threading.Event()

    def resolve_meanwhile() -> None:  # a resolution, written and not yet committed as db upgrade goes on
        # by a writer connected before (a command opening the store now is told the upgrade is under way)
        with Store.connect(url) as other, other.transaction():
            other.lock_writers()
            [request] = other.query("SELECT id FROM payment_request WHERE txn_id = :t", {"t": shared[0]})
            other.execute(
                "INSERT INTO resolution (request_id, outcome, note, actor, created_at, previous_outcome) "
                "VALUES (:r, 'NEGATIVO', 'refunded on the back office', 'anna', :at, 'POSITIVO')",
                {"r": request["id"], "at": other.time(datetime.now(UTC))},
            )
            recompute.refresh(other, {request["id"]}, config)
            started.set()
            time.sleep(1.0)

    writer = threading.Thread(target=resolve_meanwhile)
    real_shared_requests = recompute.shared_requests

    def shared_requests(store: Store) -> set[int]:  # the schema is at head: the writer comes now
        if not writer.is_alive() and not started.is_set():
            writer.start()
            assert started.wait(30)
        return real_shared_requests(store)

    monkeypatch.setattr(recompute, "shared_requests", shared_requests)
    upgraded(cli, url)
    writer.join(30)
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(outcomes)] == [
            (shared[0], "NEGATIVO", "RESOLVED"),
            (shared[1], "VERIFICARE", "SHARED_TRANSACTION"),
        ]


def test_an_upgrade_stopped_after_its_migrations_recomputes_and_says_so_when_run_again(
    cli, db_url, isolated, tmp_path, monkeypatch
):
    # the migrations commit before the recompute that follows them: a db upgrade killed in between
    # left a store at head with the outcomes of the older rule, and the rerun said "already at schema"
    from paycli import recompute

    url, _ = shared_transaction_store(cli, db_url, isolated, tmp_path)
    outcomes = "SELECT txn_id, outcome, reason FROM payment_request ORDER BY txn_id"
    with Store.connect(url) as store:
        flagged = [tuple(dict(r).values()) for r in store.query(outcomes)]
        as_of_0005_judged_alone(store)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process ends here, its recompute not committed

    with monkeypatch.context() as patched:
        patched.setattr(recompute, "refresh", killed)
        assert cli("--db", url, "db", "upgrade", db=False).code != 0
    status = cli("--db", url, "db", "status", db=False)
    assert "needs 'paycli db upgrade'" in status.stdout, status
    assert cli("--db", url, "list", db=False).code == 2  # not yet: its outcomes are the older paycli's
    said = upgraded(cli, url)
    assert f"upgraded from schema 0005 to {HEAD}" in said
    assert "2 request(s) recomputed for a gateway transaction that also answers another reference" in said
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(outcomes)] == flagged
    assert cli("--db", url, "db", "upgrade", db=False).stderr.count("\n") == 1
    assert "(current)" in cli("--db", url, "db", "status", db=False).stdout


def test_an_upgrade_from_before_0004_reads_what_the_customer_was_charged_from_the_stored_balance_lines(
    cli, db_url, isolated, tmp_path
):
    # 0004 added the column and left the lines stored before without it: their report compared the
    # request (in dollars) with the gross settled in euros, "amount differs", and neither ingesting the
    # report again (one line, stored once) nor reprocess (the line is held) ever filled it in
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "stripe" / "settlement"
    url = new_store(sample, db_url, isolated, tmp_path)
    (isolated / "balance.csv").write_text(
        "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,"
        "source_id,payment_intent_id,customer_facing_amount,customer_facing_currency\n"
        "txn_1,2026-11-26 09:17:02,2026-12-03 00:00:00,eur,49.90,1.00,48.90,charge,ch_1,pi_1,55.00,usd\n"
        "txn_2,2026-11-26 09:18:02,2026-12-03 00:00:00,eur,80.00,1.45,78.55,charge,ch_2,pi_2,,\n"
    )
    assert cli("--db", url, "ingest", "balance.csv", db=False).code == 0
    lines = "SELECT gateway_txn_id, charged_minor, charged_currency FROM settlement ORDER BY gateway_txn_id"
    with Store.connect(url) as store:
        ingested = [tuple(dict(r).values()) for r in store.query(lines)]
        with store.transaction():  # as a paycli of schema 0003 stored them
            as_of_0004(store)
            store.execute("ALTER TABLE settlement DROP COLUMN charged_currency")
            store.execute("ALTER TABLE settlement DROP COLUMN charged_minor")
            store.execute("UPDATE alembic_version SET version_num = '0003'")
    assert ingested == [("pi_1", 5500, "USD"), ("pi_2", None, None)]
    said = upgraded(cli, url)
    assert "1 settlement line(s) stored before schema 0004 now say what the customer was charged" in said
    with Store.connect(url) as store:
        assert [tuple(dict(r).values()) for r in store.query(lines)] == ingested


DEMO = Path(__file__).parents[2] / "demo" / "data"
# the tables in the order their rows may be written (each names only those before it)
TABLES = ("payment_request", "response", "message", "settlement", "resolution", "gateway_alias", "delivery")


def shown_requests(cli, url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every request as paycli show gives it, outcome, reason and trail: by txn_id."""
    listed = cli("--db", url, "list", "--format", "json", db=False)
    assert listed.code == 0, listed
    return {
        r["txn_id"]: cli("--db", url, "show", r["txn_id"], "--format", "json", db=False).stdout
        for r in json.loads(listed.stdout)
    }


@pytest.mark.parametrize("revision", [f"{n:04d}" for n in range(1, int(HEAD))])
def test_a_store_of_every_older_schema_is_upgraded_with_its_requests_answered_as_before(
    cli, db_url, isolated, tmp_path, revision
):
    # the demo's day (responses, a quarantined line, a resolution, settlement lines) written into a
    # store of each older schema, as far as its columns go: upgraded, every request reads as it did
    url = nothing_yet(db_url, tmp_path)
    (isolated / "paycli.yaml").write_text((DEMO.parent / "config.yaml").read_text())
    head = f"sqlite:///{tmp_path / 'head.db'}"
    assert cli("--db", head, "ingest", *(str(DEMO / p) for p in ("requests.csv", "deposits.jsonl", "callbacks")), db=False).code == 1  # fmt: skip
    assert cli("--db", head, "resolve", "DEMO-1004-1", "--as", "NEGATIVO", "--note", "abandoned", db=False).code == 0  # fmt: skip
    assert cli("--db", head, "ingest", str(DEMO / "later"), str(DEMO / "settlement"), db=False).code == 0
    expected = shown_requests(cli, head)
    with Store.connect(head) as source, Store.connect(url, create=True) as store:
        store.migrate(revision)
        with store.transaction():
            for table in TABLES:
                if table not in store.table_names():
                    continue
                types = _columns(store, table)
                kept = [c for c in _columns(source, table) if c in types]
                names = ", ".join(kept)
                rows = [
                    tuple(bool(r[c]) if types[c] == "boolean" else r[c] for c in kept)  # SQLite's 0 and 1
                    for r in source.query(f"SELECT {names} FROM {table}")
                ]
                if rows:
                    marks = ", ".join("?" * len(kept))
                    store.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
                if ON_POSTGRES:  # rows written with their ids: the sequence goes on after them
                    store.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # fmt: skip
    said = upgraded(cli, url)
    assert f"upgraded from schema {revision} to {HEAD}" in said
    if revision < MESSAGE_TXN_SINCE:  # as the upgrade says: a Stripe event's own time, read again
        assert "placed at the time they were received rather than the gateway's own: run 'paycli reprocess --all --gateway stripe'" in said  # fmt: skip
        assert cli("--db", url, "reprocess", "--all", "--gateway", "stripe", db=False).code == 0
    assert shown_requests(cli, url) == expected
    assert cli("--db", url, "db", "upgrade", db=False).stderr.count("\n") == 1  # nothing the second time
    assert "(current)" in cli("--db", url, "db", "status", db=False).stdout
    assert cli("--db", url, "recompute", db=False).stderr.rstrip().endswith(": 0 changed")


def _columns(store: Store, table: str) -> dict[str, str]:
    """A table's columns, with their type on PostgreSQL."""
    if store.backend == "sqlite":
        return {
            r["name"]: r["type"].lower()
            for r in store.query(f"SELECT name, type FROM pragma_table_info('{table}')")
        }
    return {
        r["column_name"]: r["data_type"]
        for r in store.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t",
            {"t": table},
        )
    }


@pytest.mark.parametrize("revision", ["0008", "0009", "0010"])
def test_a_store_of_migration_0008_as_it_first_shipped_gets_the_messages_own_time_on_upgrade(
    cli, db_url, isolated, tmp_path, revision
):
    # 0008 was given message.occurred_at (and 0007 an index) after it shipped: a store of the paycli of
    # 0008 or 0009 before that had neither, its upgrade added neither, and show failed on the column
    sample = Path(__file__).parents[1] / "gateways" / "samples" / "stripe" / "refund-after-approval"
    url = new_store(sample, db_url, isolated, tmp_path)
    events = [str(sample / "03-partial-approved.json"), str(sample / "08-refund-failed.json")]
    assert cli("--db", url, "ingest", str(sample / "requests.csv"), *events, db=False).code == 0
    expected = cli("--db", url, "show", "S6002-1", "--format", "json", db=False).stdout
    with Store.connect(url) as store, store.transaction():  # as that paycli wrote it
        store.execute("ALTER TABLE message DROP COLUMN occurred_at")
        store.execute("DROP INDEX ix_gateway_alias_provider_txn")
        if revision == "0008":
            without_0009(store)
        store.execute("UPDATE alembic_version SET version_num = :v", {"v": revision})
    assert STRIPE_BEFORE_0008 in upgraded(cli, url)
    assert cli("--db", url, "reprocess", "--all", "--gateway", "stripe", db=False).code == 0
    assert cli("--db", url, "show", "S6002-1", "--format", "json", db=False).stdout == expected
    with Store.connect(url) as store:
        assert "ix_gateway_alias_provider_txn" in _indexes(store, "gateway_alias")


def _indexes(store: Store, table: str) -> set[str]:
    if store.backend == "sqlite":
        return {r["name"] for r in store.query(f"SELECT name FROM pragma_index_list('{table}')")}
    rows = store.query(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t",
        {"t": table},
    )
    return {r["indexname"] for r in rows}


def test_an_upgrade_to_0012_lists_messages_by_state_from_one_index_and_keeps_them(
    cli, db_url, isolated, tmp_path
):
    url = nothing_yet(db_url, tmp_path)
    with Store.connect(url, create=True) as store:
        store.migrate("0011")
        assert "ix_message_state" in _indexes(store, "message")
        with store.transaction():
            store.executemany(
                "INSERT INTO message (digest, provider, source, received_at, raw, state, error) "
                "VALUES (?, 'nexi', 'f', ?, ?, ?, ?)",
                [
                    (f"d{n}", store.time(datetime(2026, 11, 26, 9, n, tzinfo=UTC)), b"x", state, "bad")
                    for n, state in enumerate(("quarantined", "informational", "quarantined"))
                ],
            )
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n")
    upgraded(cli, url)
    with Store.open(url) as store:
        indexes = _indexes(store, "message")
        assert "ix_message_state_received" in indexes and "ix_message_state" not in indexes
    listed = cli("--db", url, "messages", "--format", "json", db=False)
    assert listed.code == 0, listed
    assert [m["id"] for m in json.loads(listed.stdout)] == [3, 1]


def test_an_upgrade_to_0013_finds_an_older_order_a_late_approval_paid_twice(cli, db_url, isolated, tmp_path):
    # a store of 0012: order L of the 23rd paid by L-1, then by L-2, whose approval came on the 26th.
    # The upgrade indexes when responses came, resolutions were made and undone and requests updated,
    # and the report of the 26th then names the order (an index made by hand before is kept).
    url = nothing_yet(db_url, tmp_path)
    with Store.connect(url, create=True) as store:
        store.migrate("0012")
        monday, inside = datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        with store.transaction():
            store.execute("CREATE INDEX ix_resolution_created ON resolution (created_at)")
            store.executemany(
                "INSERT INTO payment_request (txn_id, order_id, kind, created_at, customer, search_text, "
                "amount_minor, currency, gateway, registered_at, outcome, response_count) "
                "VALUES (?, 'L', 'order', ?, 'Late Payer', '', 3500, 'EUR', 'bank', ?, 'POSITIVO', 1)",
                [(txn, store.time(monday), store.time(monday)) for txn in ("L-1", "L-2")],
            )
            store.executemany(
                "INSERT INTO response (identity, request_id, reference, provider, dedupe_key, status, "
                "amount_minor, currency, authenticity, received_at, deliveries) SELECT :identity, id, txn_id, "
                "'bank', :key, 'approved', 3500, 'EUR', 'valid', :at, 1 FROM payment_request WHERE txn_id = :txn",
                [
                    {"identity": txn, "key": txn, "txn": txn, "at": store.time(at)}
                    for txn, at in (("L-1", monday), ("L-2", inside))
                ],
            )
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n")
    upgraded(cli, url)
    with Store.open(url) as store:
        assert {"ix_response_received"} <= _indexes(store, "response")
        assert {"ix_resolution_created", "ix_resolution_undone"} <= _indexes(store, "resolution")
        assert "ix_payment_request_updated" in _indexes(store, "payment_request")
    args = ["--db", url, "report", "--date", "2026-11-26", "--now", "2026-11-27T07:30:00+01:00", "-f", "csv"]
    result = cli(*args, "--out", "-", db=False)
    assert result.code == 0, result
    assert [line.split(",")[3:4] + line.split(",")[10:11] for line in result.stdout.splitlines()
            if line.startswith("order,")] == [["L", "PAID_TWICE"]]  # fmt: skip
