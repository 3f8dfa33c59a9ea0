"""The outcome rule the stored outcomes were computed with (design.md 3.5).

Outcomes are stored with their requests, and an ingest recomputes only the requests it touches. A
configuration whose rule changed since (``policy``, a gateway's ``require_verified`` or
``txn_ids_unique``) would leave the store holding outcomes of two rules at once, and the reports
showing the old rule's, with nothing to say so. The store keeps the rule of its last full recompute
(or of its first use); every command that opens it says, in one line, when the configuration's rule is
another, until ``paycli recompute`` computes every outcome with it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from paycli.config import Config
from paycli.store import Store

NAME = "outcome_rule"


def of(config: Config) -> dict[str, Any]:
    """What of the configuration the outcome rule reads."""
    gateways = sorted(config.gateways.items())
    return {
        "policy": config.policy,
        "require_verified": [name for name, g in gateways if g.require_verified],
        "txn_ids_unique": {name: g.txn_ids_unique for name, g in gateways if g.txn_ids_unique is not None},
    }


def describe(rule: dict[str, Any]) -> str:
    parts = [f"policy {rule.get('policy')}"]
    verified = rule.get("require_verified") or []
    parts.append(f"require_verified: {', '.join(verified)}" if verified else "no require_verified")
    unique = rule.get("txn_ids_unique") or {}
    if unique:
        parts.append(
            "txn_ids_unique: " + ", ".join(f"{n} {str(v).lower()}" for n, v in sorted(unique.items()))
        )
    return "; ".join(parts)


def stored(store: Store) -> dict[str, Any] | None:
    rows = store.query("SELECT value FROM store_setting WHERE name = :n", {"n": NAME})
    if not rows:
        return None
    try:
        value = json.loads(rows[0]["value"])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def record(store: Store, config: Config, *, replace: bool) -> None:
    """Keep the configuration's rule as the store's; ``replace``: also over another (a full recompute),
    else only where none is kept yet (a new store, or one from before schema 0009)."""
    value = json.dumps(of(config), sort_keys=True)
    conflict = "DO UPDATE SET value = excluded.value" if replace else "DO NOTHING"
    with store.transaction():
        store.execute(
            f"INSERT INTO store_setting (name, value) VALUES (:n, :v) ON CONFLICT (name) {conflict}",
            {"n": NAME, "v": value},
        )


def check(store: Store, config: Config, *, keep: bool = True) -> str | None:
    """What to say when the stored outcomes were computed with another rule than the configuration's;
    keeps the configuration's when the store has none yet (``keep``; not a dry run, which changes
    nothing: the configuration it tries would become the store's)."""
    before = stored(store)
    now = of(config)
    if before is None:
        if not keep:
            return None
        # a store this user may only read (a replica) keeps none: the next writer keeps it
        with contextlib.suppress(Exception):
            record(store, config, replace=False)
        return None
    if before == now:
        return None
    return (
        f"the stored outcomes follow another rule ({describe(before)}) than the configuration "
        f"({describe(now)}): run 'paycli recompute'"
    )
