"""response identity: a verified and an unverifiable copy of one message are one response

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 20:10:00

Until 0002 the identity of a response hashed its authenticity word, so an IPN kept once with its
postback answer (valid) and once without (unverifiable) made two responses, and the request showed
VERIFICARE with two consistent responses. Valid and unverifiable now hash alike, as unverifiable
always did (``paycli.ingest.identity_of``); only a copy whose signature check failed stays apart.

This re-keys every valid response. Where an unverifiable twin exists, the two become one: the valid
row keeps its id, takes the twin's messages and deliveries, the least wording and event time (what
an ingest of both keeps). ``paycli db upgrade`` then recomputes the requests whose response count
this changed. There is no downgrade: splitting a merged response again cannot be done from the store.
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHUNK = 5000


def upgrade() -> None:
    from paycli.ingest import identity_of

    conn = op.get_bind()
    twins_of = sa.text(
        "SELECT id, identity, request_id, deliveries, raw_status, occurred_at FROM response "
        "WHERE identity IN :keys"
    ).bindparams(sa.bindparam("keys", expanding=True))
    rekey = sa.text("UPDATE response SET identity = :i WHERE id = :id")
    for chunk in _valid_responses(conn):
        keys = {
            row["id"]: identity_of(
                row["provider"],
                row["dedupe_key"],
                row["status"],
                row["amount_minor"],
                row["currency"],
                row["reference"],
                "valid",
            )
            for row in chunk
        }
        twins = {t["identity"]: t for t in conn.execute(twins_of, {"keys": list(keys.values())}).mappings()}
        for row in chunk:
            twin = twins.get(keys[row["id"]])
            if twin is not None and twin["id"] != row["id"]:
                _merge(conn, row, twin)
        conn.execute(rekey, [{"i": key, "id": id_} for id_, key in keys.items()])


def _merge(conn: sa.Connection, row: dict[str, Any], twin: Any) -> None:
    """The unverifiable twin into the valid row: its messages, deliveries, least wording and event time."""
    conn.execute(
        sa.text("UPDATE message SET response_id = :keep WHERE response_id = :twin"),
        {"keep": row["id"], "twin": twin["id"]},
    )
    conn.execute(sa.text("DELETE FROM response WHERE id = :twin"), {"twin": twin["id"]})
    conn.execute(
        sa.text(
            "UPDATE response SET deliveries = :n, raw_status = :rs, occurred_at = :at, request_id = :r "
            "WHERE id = :keep"
        ),
        {
            "n": row["deliveries"] + twin["deliveries"],
            "rs": _least(row["raw_status"], twin["raw_status"]),
            "at": _least(row["occurred_at"], twin["occurred_at"]),
            "r": row["request_id"] if row["request_id"] is not None else twin["request_id"],
            "keep": row["id"],
        },
    )


def downgrade() -> None:
    raise NotImplementedError("0003 merges responses; restore the backup taken before 'paycli db upgrade'")


def _valid_responses(conn: sa.Connection) -> Iterator[list[dict[str, Any]]]:
    """Every valid response, in chunks in id order (a store may hold millions)."""
    last = 0
    while True:
        rows = [
            dict(r)
            for r in conn.execute(
                sa.text(
                    "SELECT id, provider, dedupe_key, status, amount_minor, currency, reference, request_id, "
                    "deliveries, raw_status, occurred_at FROM response "
                    f"WHERE authenticity = 'valid' AND id > :last ORDER BY id LIMIT {CHUNK}"
                ),
                {"last": last},
            ).mappings()
        ]
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _least(a: Any, b: Any) -> Any:
    present = [v for v in (a, b) if v is not None]
    return min(present) if present else None
