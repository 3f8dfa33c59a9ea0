"""Keeping each request's stored outcome current (design.md 3.5).

The outcome is stored on the request so that ``list --outcome`` is an index lookup. Whoever changes a
request, its responses or its resolutions calls ``refresh`` for it inside the same transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paycli import gateways, rule
from paycli.config import Config
from paycli.dates import from_db
from paycli.errors import ConfigError
from paycli.gateways.base import Provider
from paycli.outcome import (
    Authenticity,
    Outcome,
    Policy,
    Reason,
    ResolutionFacts,
    ResponseFacts,
    Status,
    decide,
)
from paycli.store import Store

CHUNK = 2000  # requests a pass; an ingest batch is refreshed in one
_STATUS = {s.value: s for s in Status}
_AUTHENTICITY = {a.value: a for a in Authenticity}
# request id -> response id -> the other merchant references its gateway transaction answers
Sharing = dict[int, dict[int, set[str]]]
# a response r and the responses o of the same provider and gateway transaction with another reference:
# the same id, or another id the gateway gives the transaction (gateway_alias: a PayPal capture's own
# txn_id beside the authorization's, which keys the payment), either way round
_OTHER = "JOIN response o ON o.provider = r.provider AND o.reference <> r.reference AND o.gateway_txn_id = "
_SAME_TRANSACTION = (
    f"FROM response r {_OTHER}r.gateway_txn_id",
    "FROM response r JOIN gateway_alias a ON a.provider = r.provider AND a.gateway_txn_id = r.gateway_txn_id "
    f"{_OTHER}a.alias",
    "FROM response r JOIN gateway_alias a ON a.provider = r.provider AND a.alias = r.gateway_txn_id "
    f"{_OTHER}a.gateway_txn_id",
)
# ... that both took money, both genuine: a refusal of one reference and an approval of the next on one
# transaction is a retry (a Stripe PaymentIntent confirmed again for the shop's next attempt), not one
# payment answering two requests
_PAID = f"('{Status.APPROVED.value}', '{Status.REFUNDED.value}', '{Status.REVERSED.value}')"
_BOTH_PAID = (
    f"AND o.authenticity <> '{Authenticity.INVALID.value}' AND o.status IN {_PAID} WHERE r.request_id "
    f"IS NOT NULL AND r.authenticity <> '{Authenticity.INVALID.value}' AND r.status IN {_PAID}"
)


@dataclass(frozen=True)
class Change:
    request_id: int
    txn_id: str
    before: tuple[str, str | None]
    after: tuple[str, str | None]


def label(state: tuple[str, str | None]) -> str:
    outcome, reason = state
    return f"{outcome}/{reason}" if reason else outcome


def _state(outcome: str, reason: str | None, detail: str | None) -> tuple[str, str | None]:
    """What a change is said as: the outcome and reason, and which kind of MULTIPLE_RESPONSES (its
    detail is a word of design.md 3.2; other details are the gateway's free text)."""
    if detail and reason == Reason.MULTIPLE_RESPONSES.value:
        return outcome, f"{reason} ({detail})"
    return outcome, reason


def refresh(store: Store, request_ids: Iterable[int], config: Config) -> list[Change]:
    """Recompute the outcome of these requests and store what changed.

    The requests whose responses share a gateway transaction with theirs are recomputed too: a
    transaction that now answers one more request makes the others VERIFICARE as well.
    """
    answers, ids = _with_partners(store, sorted(set(request_ids)), config)
    locked: set[int] = set()
    while store.beside_writers and not locked.issuperset(ids):
        # a receiver's callback: the others' locks, then what they committed is read again
        store.lock_requests(ids)
        locked.update(ids)
        answers, ids = _with_partners(store, ids, config)
    changes: list[Change] = []
    for start in range(0, len(ids), CHUNK):
        changes.extend(_refresh_chunk(store, ids[start : start + CHUNK], config, answers)[0])
    return changes


@dataclass
class Recomputed:
    """What ``refresh_all`` did: the requests seen, the transitions made, and the requests whose stored
    row was corrected without a change of outcome or reason (a stale response count, a gateway's
    wording in the detail)."""

    seen: int = 0
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    corrected: int = 0


def _with_partners(store: Store, ids: list[int], config: Config) -> tuple[Sharing, list[int]]:
    """What ``sharing`` finds for these requests and for the requests across their shared gateway
    transactions, and all those requests' ids."""
    answers, across = sharing(store, ids, config)
    if others := sorted(across.difference(ids)):
        answers.update(sharing(store, others, config)[0])
        ids = sorted({*ids, *others})
    return answers, ids


def refresh_all(store: Store, config: Config) -> Recomputed:
    """Recompute every request (after a policy change); the configuration's rule is then the store's."""
    done = Recomputed()
    for ids in _id_chunks(store):
        with store.transaction():
            store.lock_writers()  # what it reads is what it writes back: no ingest commits between
            answers = sharing(store, ids, config)[0]
            changes, updated = _refresh_chunk(store, ids, config, answers)
            for change in changes:
                done.transitions[(label(change.before), label(change.after))] += 1
            done.corrected += updated - len(changes)
        done.seen += len(ids)
    rule.record(store, config, replace=True)  # only once every chunk is: a recompute cut short says so
    return done


def sharing(store: Store, ids: list[int], config: Config) -> tuple[Sharing, set[int]]:
    """The genuine responses of these requests that took money (approved, refunded, reversed) and whose
    gateway transaction also took money for another merchant reference (a genuine response of the same
    provider says so), and the requests of those references.

    Rare, so the query returns nothing in the usual case: it walks each response's gateway transaction
    through its index, and asks the provider whether its ids name one payment only for what it finds.
    """
    answers: Sharing = {}
    across: set[int] = set()
    joins = _pairs(store)
    for start in range(0, len(ids), CHUNK):
        marks, params = store.placeholders("r", ids[start : start + CHUNK])
        rows = [
            row
            for pairs in joins
            for row in store.query(
                "SELECT r.request_id, r.id, r.provider, r.dedupe_key, r.status, r.gateway_txn_id, o.reference, "
                "o.request_id AS other, o.dedupe_key AS other_key, o.status AS other_status, "
                f"o.gateway_txn_id AS other_txn {pairs} {_BOTH_PAID} AND r.request_id IN {marks}",
                params,
            )
        ]
        for row in rows:
            if not _names_one_payment(row["provider"], config) or not _one_payment(row, config):
                continue
            answers.setdefault(row["request_id"], {}).setdefault(row["id"], set()).add(row["reference"])
            if row["other"] is not None:
                across.add(row["other"])
    return answers, across


def partners(store: Store, response_ids: Iterable[int]) -> set[int]:
    """The requests of the other references these responses' gateway transactions answer: to recompute
    when a response no request of its own leads to arrives (an orphan), or leaves its transaction (it
    moves, or goes), since they cannot find it from a request of theirs."""
    ids = sorted(set(response_ids))
    found: set[int] = set()
    joins = _pairs(store)
    for start in range(0, len(ids), CHUNK):
        marks, params = store.placeholders("s", ids[start : start + CHUNK])
        for pairs in joins:
            found.update(
                row["request_id"]
                for row in store.query(
                    f"SELECT DISTINCT o.request_id {pairs} WHERE r.id IN {marks} AND o.request_id IS NOT NULL",
                    params,
                )
            )
    return found


def shared_requests(store: Store) -> set[int]:
    """Every request with a response whose gateway transaction another merchant reference's response
    also names (what ``sharing`` then judges): after an upgrade from a paycli that did not look."""
    return {
        row["request_id"]
        for pairs in _pairs(store)
        for row in store.query(f"SELECT DISTINCT r.request_id {pairs} {_BOTH_PAID}")
    }


def _pairs(store: Store) -> tuple[str, ...]:
    """The joins of ``_SAME_TRANSACTION`` worth running: those through other ids only when a gateway
    gave some (a bank export's store has none, and each join costs a look at every response)."""
    return _SAME_TRANSACTION if store.query("SELECT 1 FROM gateway_alias LIMIT 1") else _SAME_TRANSACTION[:1]


_PROVIDERS: dict[str, type[Provider] | None] = {}


def _provider(gateway: str, config: Config) -> type[Provider] | None:
    """The provider class of this configured gateway; None when it is no longer installed."""
    configured = config.gateways.get(gateway)
    provider = configured.provider if configured is not None else gateway
    if provider not in _PROVIDERS:
        try:
            _PROVIDERS[provider] = gateways.load(provider)
        except ConfigError:
            _PROVIDERS[provider] = None
    return _PROVIDERS[provider]


def _names_one_payment(gateway: str, config: Config) -> bool:
    """Whether the provider of this configured gateway gives each payment its own gateway_txn_id."""
    configured = config.gateways.get(gateway)
    if configured is not None and configured.txn_ids_unique is not None:
        return configured.txn_ids_unique  # the shop knows its export: a column payments share
    provider = _provider(gateway, config)
    # no longer installed: what it stored cannot be asked, and a shared id is worth a look
    return provider is None or provider.txn_ids_unique


def _one_payment(row: Any, config: Config) -> bool:
    """Whether the two responses of a row of ``sharing`` are about one payment, as their provider tells
    (``Provider.payment_of``): two captures of one PayPal authorization are two payments."""
    provider = _provider(row["provider"], config)
    if provider is None:
        return True
    return provider.payment_of(
        row["dedupe_key"], row["status"], row["gateway_txn_id"]
    ) == provider.payment_of(row["other_key"], row["other_status"], row["other_txn"])


def _id_chunks(store: Store) -> Iterator[list[int]]:
    last = 0
    while True:
        rows = store.query(
            f"SELECT id FROM payment_request WHERE id > :last ORDER BY id LIMIT {CHUNK}", {"last": last}
        )
        if not rows:
            return
        ids = [r["id"] for r in rows]
        yield ids
        last = ids[-1]


def _refresh_chunk(
    store: Store, ids: list[int], config: Config, answers: Sharing
) -> tuple[list[Change], int]:
    """Recompute these requests: the changes of outcome or reason, and how many rows were written."""
    if not ids:
        return [], 0
    marks, params = store.placeholders("r", ids)
    # plain tuples (Store.tuples): a chunk of an ingest batch reads a dozen columns of 2,000 rows twice
    requests = store.tuples(
        "SELECT id, txn_id, amount_minor, currency, gateway, outcome, reason, detail, response_count "
        f"FROM payment_request WHERE id IN {marks}",
        params,
    )
    rows: dict[int, list[tuple[Any, ...]]] = {i: [] for i in ids}
    for row in store.tuples(
        "SELECT request_id, id, status, authenticity, received_at, amount_minor, currency, gateway_txn_id, "
        f"raw_status, provider, occurred_at FROM response WHERE request_id IN {marks}",
        params,
    ):
        rows[row[0]].append(row)
    responses: dict[int, list[ResponseFacts]] = {}
    # An ingest batch gives all its responses one receive time: each distinct value is read once.
    received: dict[str | datetime, datetime] = {}
    for request_id, found in rows.items():
        facts = responses[request_id] = []
        shared = answers.get(request_id, {})
        for (
            _,
            response_id,
            status,
            authenticity,
            stored,
            amount_minor,
            currency,
            gateway_txn_id,
            raw_status,
            provider,
            occurred_at,
        ) in found:
            received_at = received.get(stored)
            if received_at is None:
                received_at = received[stored] = from_db(stored)  # NOT NULL
            # the gateway's time tells a progression from a retry: asked only of several responses
            occurred = occurred_at if len(found) > 1 else None
            facts.append(
                ResponseFacts(
                    status=_STATUS[status],
                    authenticity=_AUTHENTICITY[authenticity],
                    received_at=received_at,
                    amount_minor=amount_minor,
                    currency=currency,
                    gateway_txn_id=gateway_txn_id,
                    raw_status=raw_status,
                    gateway=provider,
                    occurred_at=None if occurred is None else from_db(occurred),
                    also_answers=tuple(sorted(shared[response_id])) if response_id in shared else (),
                )
            )
    resolutions: dict[int, ResolutionFacts] = {}
    for r in store.query(
        f"SELECT request_id, outcome, created_at, actor FROM resolution WHERE request_id IN {marks} "
        "AND undone_at IS NULL ORDER BY created_at, id",
        params,
    ):
        # the latest resolution in force decides; earlier ones are history
        resolutions[r["request_id"]] = ResolutionFacts(
            Outcome(r["outcome"]),
            store.from_time(r["created_at"]),  # type: ignore[arg-type]
            r["actor"],
        )
    policy = Policy(config.policy)
    verified = frozenset(name for name, settings in config.gateways.items() if settings.require_verified)
    changes: list[Change] = []
    updates: list[tuple[object, ...]] = []
    for request_id, txn_id, amount_minor, currency, gateway, *was in requests:
        facts = responses[request_id]
        verdict = decide(
            amount_minor,
            currency,
            facts,
            resolutions.get(request_id),
            policy=policy,
            require_verified=gateway in verified,
            verified_gateways=verified,
        )
        reason = verdict.reason.value if verdict.reason else None
        new = (verdict.outcome.value, reason, verdict.detail, len(facts))
        old = tuple(was)  # outcome, reason, detail, response_count
        if new != old:
            updates.append((*new, request_id))
            before, after = _state(*old[:3]), _state(*new[:3])
            if before != after:
                changes.append(Change(request_id, txn_id, before, after))
    if updates:
        store.executemany(
            "UPDATE payment_request SET outcome = ?, reason = ?, detail = ?, response_count = ? WHERE id = ?",
            updates,
        )
    return changes, len(updates)
