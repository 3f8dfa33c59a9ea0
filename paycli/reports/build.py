"""Gathering a report's data from the store (design.md 9), with set-based SQL bounded by the period.

What a period covers: the requests *created* in it (their outcome as stored now), the resolutions made
or undone in it, the orphan responses received in it and the settlement lines that occurred in it; and
the requests created before it that are VERIFICARE or NEGATIVO now after something of the period (a response of
theirs received in it, a resolution of theirs made or undone in it, an ``ingest --update`` of them in
it: a refund of a paid order, a late response that reopens a resolution, a paid order's amount
corrected), which no report would otherwise name, and the orders such a request of any outcome is an
attempt of, when they are paid twice or never (a late approval: paid twice). Those are found from the
period's side, by the indexes of when responses were received, resolutions made or undone and requests
updated (migration 0013), so a report's cost follows its period's, not the store's. Small
sections (totals, the chart, order anomalies, resolutions, orphans, the settlement summary) are read
once into lists; those that grow with the shop (VERIFICARE and NEGATIVO requests) are methods that
stream plain tuples from a cursor, so a renderer walks 100,000 requests without holding them. When
several formats are written in one run, ``keep_rows`` keeps what was read for the next format (about
1 KB a row) rather than querying it again, and ``prefetch`` reads it all before the formats are
rendered side by side.

Every value stays in the store's terms (minor units beside a currency, UTC times): the renderers format
them, so that CSV for an Italian spreadsheet and HTML can each write them their own way.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from paycli.dates import from_db, local_day_bounds, to_utc
from paycli.reports.period import Period, month_label
from paycli.reports.rows import RequestRow, Row
from paycli.reports.settlement import SettlementMatch, match_settlements
from paycli.store import Store

OUTCOMES = ("POSITIVO", "NEGATIVO", "VERIFICARE")
CHART_MAX_BARS = 62  # beyond two months of days, the chart shows months
CHART_CONTEXT_DAYS = 7  # a shorter period is charted with the days before it, up to a week

_REQUEST_FIELDS = (
    "txn_id, order_id, kind, created_at, customer, email, amount_minor, currency, gateway, outcome, reason, "
    "detail, response_count"
)


@dataclass
class Total:
    outcome: str
    gateway: str
    currency: str
    count: int
    amount_minor: int


@dataclass
class Bucket:
    """One bar of the chart: a local day (or a month, for long periods) and its outcomes."""

    label: str
    counts: dict[str, int]
    in_period: bool = True  # False: a day before a short period, shown in the chart for context

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Report:
    """Everything one report shows; built by ``build_report``."""

    store: Store
    period: Period
    tz: tzinfo
    now: datetime
    gateways: tuple[str, ...]
    title: str | None
    totals: list[Total] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    older_verificare: int = 0  # created before the period, still open, nothing new in it
    # created before the period, VERIFICARE after a response, resolution or update of it
    late_verificare: int = 0
    # created before the period, NEGATIVO after a response, resolution or update of it: a refusal that
    # came after the report of the day the request was made, which no other report would name
    late_negativo: int = 0
    # the store's outcomes follow another rule than the configuration's (rule.check): said on top, so
    # that a report read in the morning does not pass an old policy's outcomes for the new one's
    stale_rule: str | None = None
    orphans: list[Row] = field(default_factory=list)
    older_orphans: int = 0
    anomalies: list[Row] = field(default_factory=list)
    resolutions: list[Row] = field(default_factory=list)
    settlement: SettlementMatch | None = None
    # True when several formats are rendered: the large sections are read once and kept for the next
    # (about 1 KB a row), instead of being queried again
    keep_rows: bool = False
    _kept: dict[str, list[RequestRow]] = field(default_factory=dict)
    _late_negativo: list[RequestRow] = field(default_factory=list)  # read once: counted and listed

    # -- summaries ---------------------------------------------------------------------------------

    def count(self, outcome: str | None = None) -> int:
        return sum(t.count for t in self.totals if outcome is None or t.outcome == outcome)

    @property
    def empty(self) -> bool:
        """Nothing at all happened in the period."""
        return (
            not self.totals
            and not self.orphans
            and not self.resolutions
            and not self.late_verificare
            and not self.late_negativo
            and not self.anomalies  # an older order a late approval of the period paid twice
            and (self.settlement is None or not self.settlement.summary)
        )

    @property
    def needs_a_look(self) -> bool:
        """What ``--fail-on VERIFICARE`` checks: a VERIFICARE request of the period, or an older one
        that a response, resolution or update of the period left VERIFICARE."""
        return self.count("VERIFICARE") + self.late_verificare > 0

    def outcome_totals(self) -> list[dict[str, Any]]:
        """Per outcome and currency, across gateways: the report's first lines."""
        merged: dict[tuple[str, str], list[int]] = {}
        for t in self.totals:
            slot = merged.setdefault((t.outcome, t.currency), [0, 0])
            slot[0] += t.count
            slot[1] += t.amount_minor
        order = {o: i for i, o in enumerate(OUTCOMES)}
        return [
            {"outcome": o, "currency": c, "count": n, "amount_minor": a}
            for (o, c), (n, a) in sorted(merged.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1]))
        ]

    # -- the large sections, streamed -------------------------------------------------------------

    def requests(self, outcome: str, *, late: bool = False) -> Iterator[RequestRow]:
        """The period's requests of one outcome, oldest first, one row at a time; ``late``: those created
        before the period that a response, resolution or update of the period concerns (``_LATE_FROM``)."""
        if late and outcome == "NEGATIVO":
            return iter(self._late_negativo)
        if not self.keep_rows:
            return self._requests(outcome, late)
        key = f"{outcome} late" if late else outcome
        if key not in self._kept:
            self._kept[key] = list(self._requests(outcome, late))
        return iter(self._kept[key])

    def prefetch(self) -> None:
        """Read every streamed section now and keep it, so that a renderer in a forked process never
        touches the store (a database connection must not be used across a fork)."""
        self.keep_rows = True
        for outcome in ("VERIFICARE", "NEGATIVO"):
            self.requests(outcome)
        self.requests("VERIFICARE", late=True)
        if self.settlement is not None:
            self.settlement.prefetch()

    def _requests(self, outcome: str, late: bool = False) -> Iterator[RequestRow]:
        where, params = self._late_where() if late else self._request_where()
        params["outcome"] = outcome
        rows = self.store.stream_tuples(
            f"SELECT {_REQUEST_FIELDS} FROM {_LATE_FROM if late else 'payment_request'} "
            f"WHERE outcome = :outcome AND {where} ORDER BY created_at, payment_request.id",
            params,
        )
        now = self.now
        parse: Callable[[Any], datetime] = _sqlite_time if self.store.backend == "sqlite" else from_db
        for (
            txn_id,
            order_id,
            kind,
            created_at,
            customer,
            email,
            minor,
            currency,
            gateway,
            outcome,
            reason,
            detail,
            n,
        ) in rows:
            created = parse(created_at)
            yield RequestRow(
                txn_id, order_id, kind, created, customer, email, minor, currency, gateway, outcome, reason,
                detail or None, n, max(now - created, _NO_AGE),  # a --now before it: not yet old
            )  # fmt: skip

    def verificare(self) -> Iterator[RequestRow]:
        return self.requests("VERIFICARE")

    def verificare_late(self) -> Iterator[RequestRow]:
        """Requests created before the period, VERIFICARE after a response, resolution or update of the period."""
        return self.requests("VERIFICARE", late=True)

    def negativo(self) -> Iterator[RequestRow]:
        return self.requests("NEGATIVO")

    def negativo_late(self) -> Iterator[RequestRow]:
        """Requests created before the period, NEGATIVO after a response, resolution or update of the period."""
        return self.requests("NEGATIVO", late=True)

    # -- helpers -----------------------------------------------------------------------------------

    def _request_where(
        self, column: str = "created_at", gateway_column: str = "gateway"
    ) -> tuple[str, dict[str, Any]]:
        return self._where(f"{column} >= :start AND {column} < :end", gateway_column)

    def _late_where(self) -> tuple[str, dict[str, Any]]:
        """Of ``_LATE_FROM``: the requests created before the period that something of it changed."""
        return self._where("payment_request.id = late.id AND created_at < :start")

    def _where(self, where: str, gateway_column: str = "gateway") -> tuple[str, dict[str, Any]]:
        """``where``, over the period's bounds ``:start`` and ``:end``, narrowed to the report's gateways."""
        params: dict[str, Any] = {
            "start": self.store.time(self.period.start),
            "end": self.store.time(self.period.end),
        }
        if self.gateways:
            marks, p = self.store.placeholders("g", list(self.gateways))
            where += f" AND {gateway_column} IN {marks}"
            params.update(p)
        return where, params


# Something of the period that can change a request's outcome: a response of it received in the period,
# a resolution of it made or undone in it, the request itself changed in it (ingest --update: a paid
# order's amount corrected) (design.md 3.5: the outcome is recomputed on each). Read from the period's
# side, each by its index (migration 0013): the requests it names, whatever their outcome and however
# old, each then read by its id, for what the period holds, not what the store does. A CROSS JOIN
# keeps that order on SQLite, whose store has no statistics: asked as "id IN (...)" beside an outcome,
# its planner walked every older request of the outcome by their index instead.
_TOUCHED = (
    "SELECT id FROM payment_request WHERE updated_at >= :start AND updated_at < :end "
    "UNION SELECT request_id FROM response WHERE received_at >= :start AND received_at < :end "
    "AND request_id IS NOT NULL "
    "UNION SELECT request_id FROM resolution WHERE created_at >= :start AND created_at < :end "
    "UNION SELECT request_id FROM resolution WHERE undone_at >= :start AND undone_at < :end"
)
_LATE_FROM = f"({_TOUCHED}) late CROSS JOIN payment_request"


def _sqlite_time(text: str) -> datetime:
    # the store's own fixed-width UTC text (store.to_db_text): the general from_db is three times slower
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_NO_AGE = timedelta(0)


def build_report(
    store: Store,
    period: Period,
    tz: tzinfo,
    now: datetime,
    *,
    gateways: Sequence[str] = (),
    title: str | None = None,
) -> Report:
    """Read every small section of the report; the large ones stream when a renderer asks."""
    report = Report(store, period, tz, to_utc(now), tuple(g.lower() for g in gateways), title)
    _totals_and_chart(report)
    _older_verificare(report)
    _orphans(report)
    _anomalies(report)
    _resolutions(report)
    report.settlement = match_settlements(store, period, report.gateways)
    return report


def _buckets(period: Period, tz: tzinfo) -> list[tuple[str, datetime, datetime]]:
    days = period.days
    if len(days) <= CHART_MAX_BARS:
        return [(d.isoformat(), *local_day_bounds(d, tz)) for d in days]
    months: list[tuple[str, datetime, datetime]] = []
    first = period.first
    while True:
        last = min(first.replace(day=calendar.monthrange(first.year, first.month)[1]), period.last)
        months.append((month_label(first), local_day_bounds(first, tz)[0], local_day_bounds(last, tz)[1]))
        if last == period.last:  # not a month further: after December 9999 there is none
            return months
        first = last + timedelta(days=1)


def _totals_and_chart(report: Report) -> None:
    """One grouped query per bar of the chart (each an index range): the chart and the totals at once."""
    store = report.store
    merged: dict[tuple[str, str, str], list[int]] = {}
    buckets = [(*b, True) for b in _buckets(report.period, report.tz)]
    # a report of a day or a few: the chart also shows the days before it, so the day has a context
    context = []
    for k in range(CHART_CONTEXT_DAYS - len(buckets), 0, -1):
        try:
            d = report.period.first - timedelta(days=k)
            context.append((d.isoformat(), *local_day_bounds(d, report.tz), False))
        except OverflowError:  # before the calendar's first day: the chart has fewer days before it
            continue
    for label, start, end, in_period in context + buckets:
        params: dict[str, Any] = {"start": store.time(start), "end": store.time(end)}
        where = "created_at >= :start AND created_at < :end"
        if report.gateways:
            marks, p = store.placeholders("g", list(report.gateways))
            where += f" AND gateway IN {marks}"
            params.update(p)
        counts = dict.fromkeys(OUTCOMES, 0)
        for row in store.query(
            "SELECT outcome, gateway, currency, COUNT(*) AS n, SUM(amount_minor) AS amount "
            f"FROM payment_request WHERE {where} GROUP BY outcome, gateway, currency",
            params,
        ):
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + int(row["n"])
            if not in_period:
                continue
            slot = merged.setdefault((row["outcome"], row["gateway"], row["currency"]), [0, 0])
            slot[0] += int(row["n"])
            slot[1] += int(row["amount"])
        report.buckets.append(Bucket(label, counts, in_period))
    order = {o: i for i, o in enumerate(OUTCOMES)}
    report.totals = [
        Total(o, g, c, n, a)
        for (o, g, c), (n, a) in sorted(merged.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1:]))
    ]


def _older_verificare(report: Report) -> None:
    """VERIFICARE requests created before the period and still open: those a response, resolution or
    update of the period concerns, listed (``Report.verificare_late``); the others, a count, so none is
    forgotten."""
    where, params = report._where("outcome = 'VERIFICARE' AND created_at < :start")
    older = int(
        report.store.query(f"SELECT COUNT(*) AS n FROM payment_request WHERE {where}", params)[0]["n"]
    )
    where, params = report._late_where()
    report.late_verificare = int(
        report.store.query(
            f"SELECT COUNT(*) AS n FROM {_LATE_FROM} WHERE outcome = 'VERIFICARE' AND {where}", params
        )[0]["n"]
    )
    report.older_verificare = older - report.late_verificare
    # refusals that came after the report of the day their request was made (the late NEGATIVO: no
    # other report names them); few, read once, kept
    report._late_negativo = list(report._requests("NEGATIVO", late=True))
    report.late_negativo = len(report._late_negativo)


def _orphans(report: Report) -> None:
    """Responses that name a request the store does not hold (yet), received in the period."""
    where, params = report._request_where("received_at", "provider")
    rows = report.store.query(
        "SELECT provider, reference, status, raw_status, amount_minor, currency, gateway_txn_id, authenticity, "
        "received_at, deliveries FROM response WHERE request_id IS NULL AND reference IS NOT NULL AND "
        f"{where} ORDER BY received_at, id",
        params,
    )
    report.orphans = [
        Row(
            {
                "gateway": r["provider"],
                "reference": r["reference"],
                "status": r["raw_status"] or r["status"],
                "amount_minor": r["amount_minor"],
                "currency": r["currency"],
                "gateway_txn_id": r["gateway_txn_id"],
                "authenticity": r["authenticity"],
                "received_at": Store.from_time(r["received_at"]),
                "deliveries": r["deliveries"],
            }
        )
        for r in rows
    ]
    older, older_params = "received_at < :start", {"start": params["start"]}
    if report.gateways:
        marks, p = report.store.placeholders("g", list(report.gateways))
        older += f" AND provider IN {marks}"
        older_params.update(p)
    report.older_orphans = int(
        report.store.query(
            "SELECT COUNT(*) AS n FROM response WHERE request_id IS NULL AND reference IS NOT NULL AND "
            + older,
            older_params,
        )[0]["n"]
    )


def _anomalies(report: Report) -> None:
    """Orders with an attempt in the period that were paid twice or never paid (design.md 9), in the
    words of ``paycli order`` (design.md 4): PAID_TWICE, UNPAID. A refused attempt and a paid retry is
    the shop's everyday (the seed's "rieffettuare un pagamento"): no anomaly, and no failed cron.

    Every attempt of such an order counts, also those made before the period (design.md 4). An order
    whose attempts are all older is one of the period too when something of the period changed one of
    them (``_LATE_FROM``: a response received, a resolution made or undone, an ``ingest --update``), so that
    the report of the day it happened says it: a late approval of an attempt that looked unanswered
    when the order was paid (paid twice), a late refusal of its only attempt (unpaid; a refund or
    reversal makes a paid attempt VERIFICARE, design.md 3.2, listed late as such), an operator who finds
    a refused attempt paid (paid twice). ``paycli recompute`` after a policy change belongs to
    no period (design.md 3.5): the orders it changes are in the reports of their attempts' days.
    """
    where, params = report._request_where()
    late, _ = report._late_where()
    bytewise = report.store.bytewise  # the same order and the same name on SQLite and PostgreSQL
    rows = report.store.stream_tuples(
        "SELECT p.order_id AS order_id, COUNT(*) AS attempts, "
        "SUM(CASE WHEN p.outcome = 'POSITIVO' THEN 1 ELSE 0 END) AS positivo, "
        "SUM(CASE WHEN p.outcome = 'NEGATIVO' THEN 1 ELSE 0 END) AS negativo, "
        "SUM(CASE WHEN p.outcome = 'VERIFICARE' THEN 1 ELSE 0 END) AS verificare, "
        f"MAX(p.created_at) AS last_attempt, MAX({bytewise('p.customer')}) AS customer, "
        "MIN(p.currency) AS currency "
        "FROM payment_request p WHERE p.order_id IN "
        # one IN of a union: both databases walk it by the order_id index (an OR of two INs makes
        # PostgreSQL read the whole table)
        f"(SELECT order_id FROM payment_request WHERE order_id IS NOT NULL AND {where} "
        f"UNION SELECT order_id FROM {_LATE_FROM} WHERE order_id IS NOT NULL AND {late}) "
        "GROUP BY p.order_id HAVING SUM(CASE WHEN p.outcome = 'POSITIVO' THEN 1 ELSE 0 END) <> 1 "
        f"ORDER BY MAX(p.created_at), {bytewise('p.order_id')}",
        params,
    )
    parse: Callable[[Any], datetime] = _sqlite_time if report.store.backend == "sqlite" else from_db
    found: list[dict[str, Any]] = []
    for (
        order_id, attempts, positivo, negativo, verificare, last_attempt, customer, currency,
    ) in rows:  # fmt: skip
        positivo, verificare = int(positivo), int(verificare)
        if positivo >= 2:
            anomaly = "PAID_TWICE"
        elif positivo == 0 and verificare == 0:
            anomaly = "UNPAID"
        else:
            continue  # one still to verify: the VERIFICARE section has it
        found.append(
            {
                "order_id": order_id,
                "anomaly": anomaly,
                "attempts": int(attempts),
                "positivo": positivo,
                "negativo": int(negativo),
                "verificare": verificare,
                "customer": customer,
                "last_attempt": parse(last_attempt),
                "currency": currency,  # the least of its attempts' (see "currencies")
            }
        )
    # What was paid, per currency: two approvals of one order may be in two currencies, and money of
    # two currencies is never added up (design.md 7)
    paid: dict[str, list[tuple[int, str]]] = {}
    # ... and the currencies of its attempts, for "paid 0.00" in each when nothing was: an order tried in
    # USD and then in EUR is no EUR order
    currencies: dict[str, list[str]] = {}
    orders = [a["order_id"] for a in found]
    for start in range(0, len(orders), 500):
        marks, p = report.store.placeholders("o", orders[start : start + 500])
        # by the orders alone, the outcome read from each attempt: asked by outcome too, SQLite (whose
        # store has no statistics) took the outcome index and read every POSITIVO request of the store
        # for each chunk, which made a month's report of a large store take minutes
        for order_id, currency, minor, positivo in report.store.stream_tuples(
            "SELECT order_id, currency, SUM(CASE WHEN outcome = 'POSITIVO' THEN amount_minor ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'POSITIVO' THEN 1 ELSE 0 END) FROM payment_request "
            f"WHERE order_id IN {marks} GROUP BY order_id, currency ORDER BY order_id, currency",
            p,
        ):
            if int(positivo):
                paid.setdefault(order_id, []).append((int(minor), currency))
            currencies.setdefault(order_id, []).append(currency)
    report.anomalies += [
        Row({**a, "paid": paid.get(a["order_id"], []), "currencies": currencies.get(a["order_id"], [])})
        for a in found
    ]


def _resolutions(report: Report) -> None:
    """Resolutions made, or undone, in the period (the audit of the operators' decisions)."""
    store = report.store
    params: dict[str, Any] = {"start": store.time(report.period.start), "end": store.time(report.period.end)}
    where = (
        "((r.created_at >= :start AND r.created_at < :end) OR (r.undone_at >= :start AND r.undone_at < :end))"
    )
    if report.gateways:
        marks, p = store.placeholders("g", list(report.gateways))
        where += f" AND p.gateway IN {marks}"
        params.update(p)
    for r in store.query(
        "SELECT r.created_at, r.outcome, r.actor, r.note, r.previous_outcome, r.previous_reason, r.undone_at, "
        "r.undone_by, r.undo_note, p.txn_id, p.customer, p.amount_minor, p.currency, p.gateway, "
        "p.outcome AS outcome_now FROM resolution r JOIN payment_request p ON p.id = r.request_id "
        f"WHERE {where} ORDER BY r.created_at, r.id",
        params,
    ):
        report.resolutions.append(
            Row(
                {
                    "at": Store.from_time(r["created_at"]),
                    "txn_id": r["txn_id"],
                    "customer": r["customer"],
                    "amount_minor": r["amount_minor"],
                    "currency": r["currency"],
                    "gateway": r["gateway"],
                    "outcome": r["outcome"],
                    "before": r["previous_outcome"]
                    + (f"/{r['previous_reason']}" if r["previous_reason"] else ""),
                    "by": r["actor"],
                    "note": r["note"],
                    "undone_at": Store.from_time(r["undone_at"]),
                    "undone_by": r["undone_by"],
                    "undo_note": r["undo_note"],
                    "outcome_now": r["outcome_now"],
                }
            )
        )
