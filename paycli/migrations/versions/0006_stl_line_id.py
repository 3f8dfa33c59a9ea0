"""PayPal STL lines: one Transaction ID can have several lines

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 06:20:00

An STL line was identified across reports by its Transaction ID alone, so a second line under the same
id (a currency conversion moves money out of one currency and into another under one id) was taken for
the first met again, and dropped. Lines are now identified by the id with their kind, currency and
direction (``paycli.gateways.paypal_stl.line_id``); this migration gives the stored STL lines the same
identity, so that a report that repeats one of them is still recognised. An STL line is told by its
message's context, the report's ``CH`` row; a Stripe balance line is identified by its own id.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from paycli.gateways.paypal_stl import line_id

    conn: Any = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT s.id, s.gateway_txn_id, s.kind, s.currency, s.gross_minor FROM settlement s "
            "JOIN message m ON m.id = s.message_id WHERE s.line_id = s.gateway_txn_id "
            "AND (UPPER(m.context) LIKE '\"CH\"%' OR UPPER(m.context) LIKE 'CH,%')"
        )
    ).mappings()
    updates = [
        {"id": r["id"], "line": line_id(r["gateway_txn_id"], r["kind"], r["currency"], r["gross_minor"])}
        for r in rows
    ]
    if updates:
        conn.execute(sa.text("UPDATE settlement SET line_id = :line WHERE id = :id"), updates)


def downgrade() -> None:
    # the id alone again, where it has one line only (the lines of a conversion keep theirs)
    op.execute(
        "UPDATE settlement SET line_id = gateway_txn_id WHERE line_id LIKE gateway_txn_id || ':%' "
        "AND (SELECT COUNT(*) FROM settlement t WHERE t.provider = settlement.provider "
        "AND t.gateway_txn_id = settlement.gateway_txn_id) = 1"
    )
