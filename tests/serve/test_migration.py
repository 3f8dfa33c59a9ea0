"""Migration 0002 (the delivery table) upgrades a store of schema 0001 and keeps what it holds."""

from __future__ import annotations

from paycli.migrations import HEAD
from paycli.store import Store
from tests.conftest import ON_POSTGRES


def test_a_store_of_schema_0001_is_upgraded_to_hold_deliveries(cli, db_url, isolated, tmp_path):
    # an empty database: on SQLite the test store is already at head, so a new file
    url = db_url if ON_POSTGRES else f"sqlite:///{tmp_path / 'old.db'}"
    with Store.connect(url) as store:
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
