"""64-bit row ids on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 21:00:00

SQLite's INTEGER PRIMARY KEY is a 64-bit rowid; PostgreSQL made the same columns ``integer`` (SERIAL),
whose sequence stops at 2,147,483,647: a busy store's messages or deliveries would reach it in a few
years, and from then on every ingest failed and every callback had 503. The ids, the columns that
name them and their sequences are made ``bigint``; on SQLite nothing changes. Each table is rewritten
once (one ALTER TABLE for all its columns): on a large store this takes a while.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# each table's id, and the columns that name another table's id
COLUMNS = {
    "payment_request": ("id",),
    "response": ("id", "request_id"),
    "message": ("id", "request_id", "response_id"),
    "resolution": ("id", "request_id"),
    "settlement": ("id", "message_id"),
    "gateway_alias": ("id",),
    "delivery": ("id",),
}


def _retype(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} TYPE {kind}" for c in columns))
        op.execute(f"ALTER SEQUENCE {_sequence(table)} AS {kind}")


def _sequence(table: str) -> str:
    name = op.get_bind().exec_driver_sql(f"SELECT pg_get_serial_sequence('{table}', 'id')").scalar()
    assert name, f"no sequence for {table}.id"
    return str(name)


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    _retype("integer")
