"""message.gateway_txn_id: the payment an informational message is about

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 16:00:00

Stripe's informational events name the payment by its PaymentIntent or charge only: a refund that
failed (``refund.failed``, ``charge.refund.updated`` with status failed), a dispute won or its funds
reinstated. Only the PaymentIntent carries the shop's metadata, so such a message stayed unlinked: the
request still read "refunded" or "reversed" with no sign in its trail that the refund failed or the
dispute was won. An informational message now keeps the gateway transaction it names, and one without
a reference of its own (or with one only guessed) joins the trail of the request that transaction's
responses answer, whatever order they arrive in; and its own time, when the gateway says one (a
Stripe event's ``created``), places it in the trail where it happened. Stored messages start without
them:
``paycli reprocess --all`` reads them again and links them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gateway_txn_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("reference_guessed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    # the few messages that name a gateway transaction, found by it without reading the others
    op.create_index(
        "ix_message_transaction",
        "message",
        ["provider", "gateway_txn_id"],
        unique=False,
        sqlite_where=sa.text("gateway_txn_id IS NOT NULL"),
        postgresql_where=sa.text("gateway_txn_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_message_transaction", table_name="message")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("occurred_at")
        batch_op.drop_column("reference_guessed")
        batch_op.drop_column("gateway_txn_id")
