"""The outcome rule: design.md section 3 (and the order roll-up of section 4).

``decide`` turns the facts about one payment request (its amount, its distinct responses, its latest
manual resolution) into a ``Verdict``. ``order_verdict`` rolls the outcomes of one order's requests up.

This module is pure on purpose: standard library only, no I/O, no store, no clock. Ingest, ``recompute``
and the tests all call the same function, so the rule cannot drift between them, and it can be read and
tested without a database.

The result never depends on the order of ``responses`` (design.md 5.3: inputs arrive in any order), so
every check below works on sets, counts and the times the gateways give, never on positions or on which
response paycli received first.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "FINAL_STATUSES",
    "Authenticity",
    "Detail",
    "OrderVerdict",
    "Outcome",
    "Policy",
    "Reason",
    "ResolutionFacts",
    "ResponseFacts",
    "Status",
    "Verdict",
    "decide",
    "order_verdict",
]


# Values are spelled out rather than ``auto()``: StrEnum's auto() lower-cases, and these values are the
# words users see and filter on (design.md 2 and 8), stored as-is in the database.
class Outcome(StrEnum):
    POSITIVO = "POSITIVO"
    NEGATIVO = "NEGATIVO"
    VERIFICARE = "VERIFICARE"


class Reason(StrEnum):
    RESOLVED = "RESOLVED"
    NO_RESPONSE = "NO_RESPONSE"
    MULTIPLE_RESPONSES = "MULTIPLE_RESPONSES"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNVERIFIED = "UNVERIFIED"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    PENDING = "PENDING"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    REVERSED = "REVERSED"
    SHARED_TRANSACTION = "SHARED_TRANSACTION"
    NEW_RESPONSE_AFTER_RESOLUTION = "NEW_RESPONSE_AFTER_RESOLUTION"


class Status(StrEnum):
    """A response's status, normalised by its provider.

    ``REFUSED`` covers refused, failed, cancelled and expired; ``REVERSED`` covers reversals and
    chargebacks. The gateway's own word is kept in ``ResponseFacts.raw_status``.
    """

    APPROVED = "approved"
    REFUSED = "refused"
    PENDING = "pending"
    REFUNDED = "refunded"
    REVERSED = "reversed"
    UNKNOWN = "unknown"


class Authenticity(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNVERIFIABLE = "unverifiable"


class Policy(StrEnum):
    STRICT = "strict"
    LIFECYCLE = "lifecycle"


class Detail(StrEnum):
    """Which kind of MULTIPLE_RESPONSES (design.md 3.2 step 3)."""

    CONSISTENT = "consistent"
    PROGRESSION = "progression"
    CONFLICTING = "conflicting"
    REFUND_AFTER_APPROVAL = "refund_after_approval"
    DOUBLE_CHARGE = "double_charge"
    BAD_SIGNATURE = "bad_signature"


class OrderVerdict(StrEnum):
    PAID = "PAID"
    UNPAID = "UNPAID"
    PAID_TWICE = "PAID_TWICE"
    TO_VERIFY = "TO_VERIFY"


FINAL_STATUSES = frozenset({Status.APPROVED, Status.REFUSED})
_UNDONE_STATUSES = frozenset({Status.REFUNDED, Status.REVERSED})


def _require_aware(name: str, value: datetime) -> None:
    # A naive time compared with an aware one raises deep inside decide(), and two naive times compare
    # silently in whatever zone they happen to be in; refuse them where the fact is built instead.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


@dataclass(frozen=True)
class ResponseFacts:
    """What the rule needs to know about one distinct response (redeliveries already folded)."""

    status: Status
    authenticity: Authenticity
    received_at: datetime  # aware UTC, when paycli first stored it
    amount_minor: int | None = None  # None: the gateway did not say
    currency: str | None = None  # ISO 4217 upper-case; None: the gateway did not say
    gateway_txn_id: str | None = None
    raw_status: str | None = None  # the gateway's own word, shown in details
    gateway: str | None = None  # the configured gateway it came from
    occurred_at: datetime | None = None  # aware UTC, when the gateway says it happened; None: not said
    # the other merchant references that the same gateway transaction answers (design.md 3.1: a key
    # shared with another reference is a suspicious response); filled in for genuine responses only
    also_answers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_aware("received_at", self.received_at)
        if self.occurred_at is not None:
            _require_aware("occurred_at", self.occurred_at)


@dataclass(frozen=True)
class ResolutionFacts:
    """The latest manual resolution of the request (an undone resolution is not passed)."""

    outcome: Outcome  # POSITIVO or NEGATIVO only
    created_at: datetime  # aware UTC
    actor: str

    def __post_init__(self) -> None:
        if self.outcome not in (Outcome.POSITIVO, Outcome.NEGATIVO):
            # An operator resolves to a final answer; "VERIFICARE" is what the absence of one means.
            raise ValueError("a resolution must be POSITIVO or NEGATIVO")
        _require_aware("created_at", self.created_at)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: Reason | None  # None for a plain POSITIVO / NEGATIVO
    detail: str | None


def decide(
    amount_minor: int,
    currency: str,
    responses: Sequence[ResponseFacts],
    resolution: ResolutionFacts | None = None,
    *,
    policy: Policy = Policy.STRICT,
    require_verified: bool = False,
    verified_gateways: Collection[str] = (),
) -> Verdict:
    """The outcome of one payment request (design.md 3.2 to 3.4).

    ``amount_minor`` and ``currency`` are the request's; ``responses`` its distinct responses in any
    order; ``resolution`` its current manual resolution, if any. An unverifiable response decides
    nothing when ``require_verified`` (the configuration of the request's gateway) is set, or when it
    came from one of ``verified_gateways`` (those configured with ``require_verified: true``): a file
    of a gateway that must be verified cannot mark a request of another gateway paid either.
    """
    if resolution is not None:
        later = sum(1 for r in responses if r.received_at > resolution.created_at)
        if later == 0:
            return Verdict(resolution.outcome, Reason.RESOLVED, f"by {resolution.actor}")
        noun = "response" if later == 1 else "responses"
        return Verdict(Outcome.VERIFICARE, Reason.NEW_RESPONSE_AFTER_RESOLUTION, f"{later} new {noun}")

    if not responses:
        return Verdict(Outcome.VERIFICARE, Reason.NO_RESPONSE, None)

    # One payment cannot pay two requests: a gateway transaction that also answers another merchant
    # reference makes every request it answers VERIFICARE, whatever it says, before anything else (a
    # forged copy re-aimed at another order, or a shop that sent one reference twice). A copy that failed
    # its authenticity check shares nothing: it decides nothing either.
    shared = sorted(
        {ref for r in responses if r.authenticity != Authenticity.INVALID for ref in r.also_answers}
    )
    if shared:
        more = f" and {len(shared) - 1} more" if len(shared) > 1 else ""
        return Verdict(Outcome.VERIFICARE, Reason.SHARED_TRANSACTION, f"also answers {shared[0]}{more}")

    def required(r: ResponseFacts) -> bool:
        return require_verified or (r.gateway is not None and r.gateway in verified_gateways)

    if len(responses) == 1:
        return _decide_one(amount_minor, currency, responses[0], required(responses[0]))

    detail = _multiple_detail(responses)
    if policy == Policy.LIFECYCLE and detail == Detail.PROGRESSION:
        # The pending responses are the same gateway transaction on its way to its final status, so they
        # count as it (design.md 3.3): the final response stands for them all and still goes through every
        # single-response check. Two final responses are left as two, as they would be without the
        # pending ones: a pending message must not make paid what two approvals alone do not.
        finals = [r for r in responses if r.status in FINAL_STATUSES]
        if len(finals) > 1:
            return Verdict(Outcome.VERIFICARE, Reason.MULTIPLE_RESPONSES, str(_multiple_detail(finals)))
        return _decide_one(amount_minor, currency, finals[0], required(finals[0]))
    return Verdict(Outcome.VERIFICARE, Reason.MULTIPLE_RESPONSES, str(detail))


def _decide_one(amount_minor: int, currency: str, r: ResponseFacts, require_verified: bool) -> Verdict:
    if r.authenticity == Authenticity.INVALID:
        return Verdict(Outcome.VERIFICARE, Reason.BAD_SIGNATURE, None)
    if r.authenticity == Authenticity.UNVERIFIABLE and require_verified:
        return Verdict(Outcome.VERIFICARE, Reason.UNVERIFIED, None)
    if r.status in _UNDONE_STATUSES:
        # Checked before the amount: a refund may be partial or carry a negative amount, so a mismatch
        # would be noise; what matters is that money was taken back with no approval on record.
        return Verdict(Outcome.VERIFICARE, Reason.REVERSED, r.raw_status or str(r.status))
    currency_differs = r.currency is not None and r.currency != currency
    amount_differs = r.amount_minor is not None and r.amount_minor != amount_minor
    if currency_differs or amount_differs:
        # Minor units, machine-neutral: the command line knows each currency's exponent and formats it.
        got_amount = "?" if r.amount_minor is None else str(r.amount_minor)
        got_currency = r.currency or "?"
        detail = f"expected={amount_minor} {currency} got={got_amount} {got_currency}"
        return Verdict(Outcome.VERIFICARE, Reason.AMOUNT_MISMATCH, detail)
    if r.status == Status.APPROVED:
        return Verdict(Outcome.POSITIVO, None, None)
    if r.status == Status.REFUSED:
        return Verdict(Outcome.NEGATIVO, None, r.raw_status)
    if r.status == Status.PENDING:
        return Verdict(Outcome.VERIFICARE, Reason.PENDING, r.raw_status)
    return Verdict(Outcome.VERIFICARE, Reason.UNKNOWN_STATUS, r.raw_status)


def _multiple_detail(responses: Sequence[ResponseFacts]) -> Detail:
    """Which kind of MULTIPLE_RESPONSES; the first match wins, the most alarming kinds first."""
    statuses = {r.status for r in responses}
    if any(r.authenticity == Authenticity.INVALID for r in responses):
        return Detail.BAD_SIGNATURE
    approved_txns = {
        r.gateway_txn_id for r in responses if r.status == Status.APPROVED and r.gateway_txn_id is not None
    }
    if len(approved_txns) >= 2:
        return Detail.DOUBLE_CHARGE
    # Set membership, not time order: "after an approval" cannot be trusted when inputs arrive in any
    # order, and a refund next to an approval needs a look whichever came first.
    if Status.APPROVED in statuses and statuses & _UNDONE_STATUSES:
        return Detail.REFUND_AFTER_APPROVAL
    if Status.APPROVED in statuses and Status.REFUSED in statuses:
        return Detail.CONFLICTING
    if len(statuses) == 1:
        # "all say the same": the same status is not enough when the amounts disagree
        return Detail.CONSISTENT if _agree(responses) else Detail.CONFLICTING
    finals = [r for r in responses if r.status in FINAL_STATUSES]
    txns = {r.gateway_txn_id for r in responses if r.gateway_txn_id is not None}
    # one payment on its way (design.md 3.3): one gateway, one transaction, one amount throughout, the
    # pending responses before the final ones, which agree. A pending from another gateway, or for
    # another amount, is no progression: lifecycle would count it as paid.
    if (
        Status.PENDING in statuses
        and statuses <= FINAL_STATUSES | {Status.PENDING}
        and _agree(finals)
        and len({r.gateway for r in responses}) == 1
        and len(txns) <= 1
        and len({r.amount_minor for r in responses} - {None}) <= 1
        and len({r.currency for r in responses} - {None}) <= 1
        and _pending_first(responses)
    ):
        return Detail.PROGRESSION
    return Detail.CONFLICTING


def _agree(responses: Sequence[ResponseFacts]) -> bool:
    """One status, and the same amount and currency where the gateway says them."""
    return (
        len({r.status for r in responses}) == 1
        and len({r.amount_minor for r in responses} - {None}) <= 1
        and len({r.currency for r in responses} - {None}) <= 1
    )


def _pending_first(responses: Sequence[ResponseFacts]) -> bool:
    """No pending response later than a final one, by the gateway's own times when it gives them all.

    The gateway's time, not the order paycli received them in: inputs arrive in any order. A pending
    message after a refusal is a retry of the same payment code (Nexi allows one), not a progression.
    """
    pending: list[datetime] = []
    final: list[datetime] = []
    for r in responses:
        if r.occurred_at is None:
            return True  # the order cannot be told: the statuses alone decide, as they always did
        (pending if r.status == Status.PENDING else final).append(r.occurred_at)
    return max(pending) <= min(final)


def order_verdict(outcomes: Sequence[Outcome]) -> OrderVerdict:
    """Roll the outcomes of one order's requests up (design.md 4), taken literally.

    Exactly one POSITIVO is PAID even when other requests of the order are VERIFICARE: the customer paid
    once, and those requests still show up as VERIFICARE on their own.
    """
    if not outcomes:
        # An order exists only through its requests, so an empty list is a caller's bug, not UNPAID.
        raise ValueError("an order has at least one payment request")
    positive = sum(1 for o in outcomes if o == Outcome.POSITIVO)
    if positive == 1:
        return OrderVerdict.PAID
    if positive >= 2:
        return OrderVerdict.PAID_TWICE
    if Outcome.VERIFICARE not in outcomes:
        return OrderVerdict.UNPAID
    return OrderVerdict.TO_VERIFY
