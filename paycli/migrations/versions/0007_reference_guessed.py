"""response.reference_guessed: a merchant reference a gateway's own field only suggests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

A Stripe Checkout Session names the shop in ``client_reference_id``, which Stripe suggests for any id
of the shop's (a customer, a cart, an order), while the PaymentIntent of the same payment carries the
request's ``txn_id`` in its metadata. Taken as the merchant reference, the Session's id made every such
payment a second reference on its own transaction (SHARED_TRANSACTION) and an orphan. A reference taken
from such a field is now marked guessed: it yields to the reference the same gateway transaction's
other responses carry, and is kept only while none does. Stored responses start as not guessed:
``paycli reprocess --all --gateway stripe`` reads their messages again and marks them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reference_guessed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # the few responses with a guessed reference, found without reading the others
    op.create_index(
        "ix_response_guessed",
        "response",
        ["gateway_txn_id"],
        unique=False,
        sqlite_where=sa.text("reference_guessed"),
        postgresql_where=sa.text("reference_guessed"),
    )

    # a transaction's other ids by provider and transaction (SHARED_TRANSACTION looks through them on
    # every refresh): without it SQLite read every alias of the provider through the unique index
    op.create_index(
        "ix_gateway_alias_provider_txn", "gateway_alias", ["provider", "gateway_txn_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_alias_provider_txn", table_name="gateway_alias")
    op.drop_index("ix_response_guessed", table_name="response")
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_column("reference_guessed")
