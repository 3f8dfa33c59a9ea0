"""Audited manual resolution of one request (design.md 3.2 steps 1 and 5).

A resolution records who decided, when, why, and what the outcome was before. Undoing one marks it
undone (by whom, when, why); nothing is ever deleted, so the audit trail stays whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

from paycli import recompute
from paycli.config import Config
from paycli.errors import NotFound, UsageError
from paycli.outcome import Outcome
from paycli.queries import get_request
from paycli.store import Store

RESOLVABLE = (Outcome.POSITIVO.value, Outcome.NEGATIVO.value)


def resolve(
    store: Store, config: Config, txn_id: str, outcome: str, note: str, actor: str
) -> tuple[str, str]:
    """Resolve a request as POSITIVO or NEGATIVO; returns the outcome labels before and after."""
    outcome = outcome.upper()
    if outcome not in RESOLVABLE:
        raise UsageError(f"--as must be POSITIVO or NEGATIVO, not '{outcome}'")
    if not note.strip():
        raise UsageError("--note must say why (it is the audit record)")
    with store.transaction():
        # the resolution's time is taken once no ingest is between reading and writing outcomes: a
        # response committed while it waited is older, and does not reopen it (design.md 3.2 step 5)
        store.lock_writers()
        row = get_request(store, txn_id)
        before = (row["outcome"], row["reason"])
        store.execute(
            "INSERT INTO resolution (request_id, outcome, note, actor, created_at, previous_outcome, "
            "previous_reason) VALUES (:r, :outcome, :note, :actor, :at, :po, :pr)",
            {
                "r": row["id"],
                "outcome": outcome,
                "note": note.strip(),
                "actor": actor,
                "at": store.time(datetime.now(UTC)),
                "po": before[0],
                "pr": before[1],
            },
        )
        recompute.refresh(store, [row["id"]], config)
        after = get_request(store, txn_id)
    return recompute.label(before), recompute.label((after["outcome"], after["reason"]))


def undo(store: Store, config: Config, txn_id: str, note: str, actor: str) -> tuple[str, str]:
    """Undo the resolution in force on a request; the outcome goes back to what the rule says."""
    if not note.strip():
        raise UsageError("--note must say why (it is the audit record)")
    with store.transaction():
        store.lock_writers()
        row = get_request(store, txn_id)
        active = store.query(
            "SELECT id FROM resolution WHERE request_id = :r AND undone_at IS NULL ORDER BY created_at DESC, id DESC",
            {"r": row["id"]},
        )
        if not active:
            raise NotFound(f"{txn_id} has no resolution in force to undo")
        store.execute(
            "UPDATE resolution SET undone_at = :at, undone_by = :actor, undo_note = :note WHERE id = :id",
            {
                "at": store.time(datetime.now(UTC)),
                "actor": actor,
                "note": note.strip(),
                "id": active[0]["id"],
            },
        )
        recompute.refresh(store, [row["id"]], config)
        after = get_request(store, txn_id)
    return recompute.label((row["outcome"], row["reason"])), recompute.label(
        (after["outcome"], after["reason"])
    )


def dismiss(store: Store, message_ids: list[int], note: str, actor: str, *, undo: bool = False) -> int:
    """Set quarantined messages aside (``dismissed``) after a look, or put them back (``undo``): a record
    whose corrected copy is stored since, or one that will never read well. The message stays whole,
    its reason too; the note says who, when and why, each time (nothing is ever deleted). All the
    messages or none: an unknown id, or one in another state, refuses the lot. Returns how many."""
    if not note.strip():
        raise UsageError("--note must say why (it is the audit record)")
    was, becomes = ("dismissed", "quarantined") if undo else ("quarantined", "dismissed")
    ids = sorted(set(message_ids))
    with store.transaction():
        store.lock_writers()  # a reprocess reading these messages meanwhile would undo the change
        marks, params = store.placeholders("m", ids)
        held = {
            r["id"]: r
            for r in store.query(f"SELECT id, state, note FROM message WHERE id IN {marks}", params)
        }
        if missing := [i for i in ids if i not in held]:
            raise NotFound(
                f"no message {', '.join(map(str, missing))} (paycli messages lists them with their id)"
            )
        if other := [i for i in ids if held[i]["state"] != was]:
            states = ", ".join(f"{i} is {held[i]['state']}" for i in other)
            raise UsageError(f"only a {was} message can be {'put back' if undo else 'dismissed'}: {states}")
        at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        said = f"{'put back' if undo else 'dismissed'} by {actor} at {at}: {' '.join(note.split())}"
        store.executemany(
            "UPDATE message SET state = :s, note = :n WHERE id = :id",
            [
                {"s": becomes, "n": f"{held[i]['note']}; {said}" if held[i]["note"] else said, "id": i}
                for i in ids
            ],
        )
    return len(ids)
