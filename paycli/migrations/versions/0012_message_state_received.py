"""message: found by state in the order paycli messages lists them

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 03:00:00

``paycli messages`` lists the messages of a state newest first, and ``--limit`` cuts the list. The
index of ``message.state`` alone found the rows of the state, but each one had to be read and all of
them sorted by time before the first could be printed: on a store of 1,700,000 messages,
``paycli messages --state response --limit 50`` read and sorted 1,500,000 rows (6 s, 100 MB), and a
quarantine that a misconfigured export filled with a million records would do the same for the
default ``paycli messages``. The index of (state, received_at) gives them in time order, so a limit
reads what it prints; it replaces the index of state alone, whose every use it serves (an ingest
keeps as many indexes as before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # each step only where it is missing, as 0011: what is there is kept
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("message")}
    if "ix_message_state_received" not in indexes:
        op.create_index("ix_message_state_received", "message", ["state", "received_at"], unique=False)
    if "ix_message_state" in indexes:
        op.drop_index("ix_message_state", table_name="message")


def downgrade() -> None:
    op.create_index("ix_message_state", "message", ["state"], unique=False)
    op.drop_index("ix_message_state_received", table_name="message")
