"""store_setting: the outcome rule the stored outcomes were computed with

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 16:30:00

An ingest recomputes the requests it touches with the rule of the configuration it runs with. After a
change of ``policy``, ``require_verified`` or ``txn_ids_unique``, the store held outcomes of two rules
and nothing said so. The store now keeps the rule of its last ``paycli recompute``; every command says
when the configuration's is another. A store upgraded to it takes the rule of the first command that
opens it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_setting",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("store_setting")
