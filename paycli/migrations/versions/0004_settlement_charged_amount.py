"""settlement: what the customer was charged, beside the settled gross

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 20:20:00

A Stripe balance report line of a charge in another currency than the balance's gives the settled
``gross`` after conversion and, in ``customer_facing_amount``/``customer_facing_currency``, what the
customer paid. Reports compare a request with the latter; without it every such charge was
"amount differs". Lines stored before stay without it (NULL) and are compared on gross as before;
ingesting their report again does not add it (a line is stored once).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charged_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("charged_currency", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.drop_column("charged_currency")
        batch_op.drop_column("charged_minor")
