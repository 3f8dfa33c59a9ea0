"""Repair: what migrations 0007 and 0008 were given after they shipped

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 00:00:00

Migration 0008 first added ``message.gateway_txn_id`` and ``reference_guessed`` only; ``occurred_at``
(an informational message's own time) was added to it later, and migration 0007's index of a
transaction's other ids (``ix_gateway_alias_provider_txn``) likewise. A store made or upgraded by the
paycli of those first versions is at 0008 or past it without them: every ``show``, ``list`` and
ingest that reads an informational message's time failed on the missing column, and ``paycli db
upgrade`` said nothing was wrong. This adds what is missing and changes nothing where it is there.
The messages stored without their time keep none until ``paycli reprocess --all`` reads them again
(``paycli db upgrade`` names the gateways that hold informational messages).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "occurred_at" not in {c["name"] for c in inspector.get_columns("message")}:
        with op.batch_alter_table("message", schema=None) as batch_op:
            batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    if "ix_gateway_alias_provider_txn" not in {i["name"] for i in inspector.get_indexes("gateway_alias")}:
        op.create_index(
            "ix_gateway_alias_provider_txn", "gateway_alias", ["provider", "gateway_txn_id"], unique=False
        )


def downgrade() -> None:
    pass  # what it adds belongs to 0007 and 0008, whose downgrades drop it
