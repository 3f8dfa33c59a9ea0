"""what a report's period changed: responses, resolutions and updates found by their time

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 05:00:00

A report names the requests created before its period that something of the period changed: a response
received in it, a resolution made or undone in it, an ``ingest --update`` in it (design.md 9). Without an
index on those times the report asked it of each older request of one outcome in turn, a cost that grew
with the store (about 0.5 s for the late NEGATIVO of a 2,000,000-request store), and could not ask it of
the POSITIVO ones at all: an older order paid a second time by a late approval was in no report. These
indexes find them from the period's side, so a report reads what its period holds: the responses by
the time they were received (with the request they answer, read from the index alone; the period's
orphans too), the resolutions by the time they were made and undone, and the requests by the time an
update changed them (a partial index: most never were).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# table, index, columns, partial (the column must not be NULL)
_INDEXES = (
    ("response", "ix_response_received", ["received_at", "request_id"], None),
    ("resolution", "ix_resolution_created", ["created_at"], None),
    ("resolution", "ix_resolution_undone", ["undone_at"], "undone_at IS NOT NULL"),
    ("payment_request", "ix_payment_request_updated", ["updated_at"], "updated_at IS NOT NULL"),
)


def upgrade() -> None:
    # each only where it is missing, as 0011 and 0012: what is there is kept
    inspector = sa.inspect(op.get_bind())
    for table, name, columns, where in _INDEXES:
        if name in {i["name"] for i in inspector.get_indexes(table)}:
            continue
        partial = (
            {} if where is None else {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}
        )
        op.create_index(name, table, columns, unique=False, **partial)


def downgrade() -> None:
    for table, name, _, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
