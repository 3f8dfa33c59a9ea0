"""gateway_alias: the other ids a gateway gives one transaction (a Stripe charge of a PaymentIntent)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 23:30:00

A Stripe balance report downloaded without its ``payment_intent_id`` column names each payment by its
charge (``ch_...``), which no response is keyed by: every such line was "unknown here" and every
settled request "not settled". Webhooks name both ids: ingest now keeps the pair, and reports look a
line's id up through it. This migration finds the pairs in the Stripe events the store already holds
(the messages of responses keyed by a PaymentIntent, unless their signature check failed).
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHUNK = 2000


def upgrade() -> None:
    op.create_table(
        "gateway_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("gateway_txn_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "alias", name="uq_gateway_alias_provider_alias"),
    )
    with op.batch_alter_table("gateway_alias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_alias_gateway_txn_id"), ["gateway_txn_id"], unique=False)
    # paycli show finds the lines that settle or reverse a request's transaction by either id
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_parent_txn_id"), ["parent_txn_id"], unique=False)
    _backfill(op.get_bind())


def _backfill(conn: Any) -> None:
    from paycli.gateways.base import Origin
    from paycli.gateways.stripe import stored_aliases

    known: set[tuple[str, str]] = set()
    insert = sa.text("INSERT INTO gateway_alias (provider, alias, gateway_txn_id) VALUES (:p, :a, :t)")
    for chunk in _stripe_messages(conn):
        rows = []
        for m in chunk:
            origin = Origin(m["line"], bytes(m["raw"]), m["context"], m["headers"])
            for alias in stored_aliases(origin, m["gateway_txn_id"]):
                if (m["provider"], alias) not in known:  # the first message that names it, as ingest does
                    known.add((m["provider"], alias))
                    rows.append({"p": m["provider"], "a": alias, "t": m["gateway_txn_id"]})
        if rows:
            conn.execute(insert, rows)


def _stripe_messages(conn: Any) -> Iterator[list[Any]]:
    """The messages of responses keyed by a PaymentIntent, not failed, in chunks, in the order stored."""
    query = sa.text(
        "SELECT m.id, m.provider, m.line, m.raw, m.context, m.headers, r.gateway_txn_id FROM message m "
        "JOIN response r ON r.id = m.response_id WHERE m.id > :last AND m.context IS NULL "
        "AND r.gateway_txn_id LIKE 'pi!_%' ESCAPE '!' AND r.authenticity <> 'invalid' "
        f"ORDER BY m.id LIMIT {CHUNK}"
    )
    last = 0
    while True:
        chunk = list(conn.execute(query, {"last": last}).mappings())
        if not chunk:
            return
        yield chunk
        last = chunk[-1]["id"]


def downgrade() -> None:
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_parent_txn_id"))
    with op.batch_alter_table("gateway_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_alias_gateway_txn_id"))
    op.drop_table("gateway_alias")
