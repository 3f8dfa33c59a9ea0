"""Matching what the gateways settled against what paycli says was approved (design.md 9).

Settlement lines (PayPal STL, Stripe balance reports: the ``settlement`` table) that occurred in the
period are matched to a request by the merchant reference the line carries (the request's ``txn_id``),
else through the gateway's transaction id: a response of the request with that ``gateway_txn_id`` (for
a refund or a chargeback, the id of the payment it reverses), or with the transaction that id is an alias
of (``gateway_alias``: a Stripe charge of a PaymentIntent, when the report names only the charge). Each
line gets a class:

- ``matched``: a charge for a POSITIVO request, same amount and currency (what the customer was charged,
  when the line says it apart from the settled gross: a charge in USD settled in EUR);
- ``charged_twice``: a charge for a POSITIVO request that another settled charge (of any report ingested)
  matches too: the customer paid twice, or one gateway transaction settled for two requests;
- ``amount_differs``: a charge for a POSITIVO request, another amount or currency;
- ``settled_not_positivo``: a charge for a request that is NEGATIVO or VERIFICARE here (money arrived
  that paycli does not count as arrived: the operator's first clue);
- ``unknown_here``: a charge that matches no request;
- ``other_gateway``: a line, of any kind, whose request was sent to another gateway than the one that
  settled it (the reference was reused, or the money went elsewhere: ``paycli show`` flags it so); it
  settles nothing, and is never matched;
- ``refund``, ``chargeback``, ``fee``, ``payout``, ``adjustment``, ``other``: the line's kind.

A line finds its request through the responses of the same gateway that did not fail their authenticity
check: a forged copy of a notification re-aimed at another request does not draw the money to it. A line
settles a request (``matched``, ``charged_twice``, or not ``not_settled``) only when its gateway is the
request's.

And, for the gateways whose settlement files cover the period (at least one line occurred in it),
``not_settled``: POSITIVO requests created in the period with no settled charge at all (in any report
ingested so far). A gateway with no settlement file for the period is not judged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from paycli.reports.period import Period
from paycli.reports.rows import LineRow, Row
from paycli.store import Store

CLASSES = (
    "matched",
    "charged_twice",
    "amount_differs",
    "settled_not_positivo",
    "unknown_here",
    "other_gateway",
    "refund",
    "chargeback",
    "fee",
    "payout",
    "adjustment",
    "other",
)
EXCEPTIONS = (
    "charged_twice",
    "amount_differs",
    "settled_not_positivo",
    "unknown_here",
    "other_gateway",
    "chargeback",
)


def _charged(request: str, other_than: str | None = None) -> str:
    """SQL: a settled charge of the request's gateway matches the request ``request`` (a table alias of
    payment_request), by the reference it carries or by a gateway transaction of the request's genuine
    responses; a charge line other than ``other_than`` (an expression of a settlement id) when given."""
    apart = f" AND c.provider = {request}.gateway"  # a line of another gateway settles nothing of it
    if other_than:
        apart += f" AND c.id <> {other_than}"
    # The request's responses first, then a charge of each one's transaction, nested so that no
    # planner starts from the settlement lines: SQLite without statistics (paycli never runs ANALYZE)
    # joined them the other way round, reading every line of the gateway through its (provider,
    # line_id) index for each request, and a month's report on a store of a million requests never ended.
    return (
        f"(EXISTS (SELECT 1 FROM settlement c WHERE c.reference = {request}.txn_id AND c.kind = 'charge'{apart}) "
        f"OR EXISTS (SELECT 1 FROM response r WHERE r.request_id = {request}.id AND r.authenticity <> 'invalid' "
        "AND EXISTS (SELECT 1 FROM settlement c WHERE c.gateway_txn_id = r.gateway_txn_id "
        f"AND c.provider = r.provider AND c.kind = 'charge'{apart})) "
        "OR EXISTS (SELECT 1 FROM response r JOIN gateway_alias a ON a.gateway_txn_id = r.gateway_txn_id "
        f"AND a.provider = r.provider WHERE r.request_id = {request}.id AND r.authenticity <> 'invalid' "
        "AND EXISTS (SELECT 1 FROM settlement c WHERE c.gateway_txn_id = a.alias AND c.provider = a.provider "
        f"AND c.kind = 'charge'{apart})))"
    )


# The class of a line, in SQL (m: the line with its request_id, p: the request), so that counting and
# filtering lines by class happen in the database
_CLASS_SQL = (
    "CASE WHEN p.gateway <> m.provider THEN 'other_gateway' "
    "WHEN m.kind <> 'charge' THEN m.kind WHEN p.id IS NULL THEN 'unknown_here' "
    "WHEN p.outcome <> 'POSITIVO' THEN 'settled_not_positivo' "
    f"WHEN {_charged('p', 'm.id')} THEN 'charged_twice' "
    "WHEN p.amount_minor <> COALESCE(m.charged_minor, m.gross_minor) "
    "OR p.currency <> COALESCE(m.charged_currency, m.currency) THEN 'amount_differs' "
    "ELSE 'matched' END"
)


@dataclass
class SettlementMatch:
    """The settlement section: totals, the class of every line, the approved requests never settled."""

    store: Store
    period: Period
    gateways: tuple[str, ...]
    covered: list[str] = field(default_factory=list)
    # per gateway, currency and kind: count, gross, fee, net (minor units)
    summary: list[Row] = field(default_factory=list)
    # per currency: count and gross/fee/net of each class
    classes: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    not_settled_count: int = 0
    keep_rows: bool = False  # see Report.keep_rows
    _kept: list[LineRow] | None = None
    _kept_not_settled: list[Row] | None = None

    def net_per_currency(self) -> list[dict[str, Any]]:
        """Gross, fee and net of every line of the period, per currency: what reached the accounts."""
        merged: dict[str, list[int]] = {}
        for s in self.summary:
            slot = merged.setdefault(s["currency"], [0, 0, 0, 0])
            for i, key in enumerate(("count", "gross_minor", "fee_minor", "net_minor")):
                slot[i] += s[key]
        return [
            {"currency": c, "count": v[0], "gross_minor": v[1], "fee_minor": v[2], "net_minor": v[3]}
            for c, v in sorted(merged.items())
        ]

    def class_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "class": name,
                "currency": currency,
                "count": v[0],
                "gross_minor": v[1],
                "fee_minor": v[2],
                "net_minor": v[3],
            }
            for name in CLASSES
            for currency, per in sorted(self.classes.items())
            if (v := per.get(name))
        ]

    def count(self, name: str) -> int:
        if name == "not_settled":
            return self.not_settled_count
        return sum(per[name][0] for per in self.classes.values() if name in per)

    # -- streamed ----------------------------------------------------------------------------------

    def _lines_sql(self) -> tuple[str, dict[str, Any]]:
        """Each line of the period with its request (by reference, else by gateway transaction id) and class."""
        where, params = self._where("s.occurred_at", "s.provider")
        return (
            "SELECT m.*, p.txn_id AS request_txn_id, p.customer, p.amount_minor AS request_minor, "
            f"p.currency AS request_currency, p.outcome, {_CLASS_SQL} AS match_class FROM ("
            "SELECT s.id, s.provider, s.kind, s.gateway_txn_id, s.parent_txn_id, s.reference, s.gross_minor, "
            "s.fee_minor, s.net_minor, s.currency, s.occurred_at, s.charged_minor, s.charged_currency, COALESCE("
            "(SELECT q.id FROM payment_request q WHERE q.txn_id = s.reference), "
            "(SELECT MIN(r.request_id) FROM response r WHERE r.gateway_txn_id = "
            "COALESCE(s.parent_txn_id, s.gateway_txn_id) AND r.provider = s.provider "
            "AND r.authenticity <> 'invalid'), "
            "(SELECT MIN(r.request_id) FROM gateway_alias a JOIN response r ON r.gateway_txn_id = a.gateway_txn_id "
            "AND r.provider = a.provider WHERE a.provider = s.provider "
            "AND a.alias = COALESCE(s.parent_txn_id, s.gateway_txn_id) AND r.authenticity <> 'invalid')) "
            "AS request_id "
            f"FROM settlement s WHERE {where}) m "
            "LEFT JOIN payment_request p ON p.id = m.request_id",
            params,
        )

    def lines(self, *, exclude: Sequence[str] = ()) -> Iterator[LineRow]:
        """Every settlement line of the period with its class and its request, in time order; the
        classes in ``exclude`` are left out."""
        if self.keep_rows:
            if self._kept is None:
                self._kept = list(self._lines())
            skip = frozenset(exclude)
            return (line for line in self._kept if line.match not in skip)
        return self._lines(exclude=exclude)

    def _lines(self, *, exclude: Sequence[str] = ()) -> Iterator[LineRow]:
        sql, params = self._lines_sql()
        sql = f"SELECT * FROM ({sql}) x"
        if exclude:
            marks, p = self.store.placeholders("x", list(exclude))
            sql += f" WHERE match_class NOT IN {marks}"
            params.update(p)
        parse = self.store.from_time
        for (
            _, gateway, kind, gateway_txn_id, parent_txn_id, reference, gross, fee, net, currency, occurred_at, _, _,
            _, txn_id, customer, request_minor, request_currency, outcome, match,
        ) in self.store.stream_tuples(sql + " ORDER BY occurred_at, id", params):  # fmt: skip
            yield LineRow(
                match if match in CLASSES else "other", gateway, kind, parse(occurred_at), gateway_txn_id,
                parent_txn_id, reference, gross, fee, net, currency, txn_id, customer, request_minor,
                request_currency, outcome,
            )  # fmt: skip

    def _not_settled_sql(self, columns: str) -> tuple[str, dict[str, Any]]:
        store = self.store
        params: dict[str, Any] = {"start": store.time(self.period.start), "end": store.time(self.period.end)}
        marks, p = store.placeholders("c", self.covered)
        params.update(p)
        return (
            f"SELECT {columns} FROM payment_request p WHERE p.outcome = 'POSITIVO' AND p.created_at >= :start "
            f"AND p.created_at < :end AND p.gateway IN {marks} AND NOT {_charged('p')}",
            params,
        )

    def count_not_settled(self) -> int:
        if not self.covered:
            return 0
        sql, params = self._not_settled_sql("COUNT(*) AS n")
        return int(self.store.query(sql, params)[0]["n"])

    def not_settled(self) -> Iterator[Row]:
        """POSITIVO requests of the period, of a covered gateway, that no settled charge matches."""
        if not self.keep_rows:
            return self._not_settled()
        if self._kept_not_settled is None:
            self._kept_not_settled = list(self._not_settled())
        return iter(self._kept_not_settled)

    def prefetch(self) -> None:
        """Read the streamed sections now and keep them (``keep_rows``): for a renderer in another process."""
        self.keep_rows = True
        self.lines()
        self.not_settled()

    def _not_settled(self) -> Iterator[Row]:
        if not self.covered:
            return
        sql, params = self._not_settled_sql(
            "p.id, p.txn_id, p.order_id, p.created_at, p.customer, p.amount_minor, p.currency, p.gateway"
        )
        from_time = self.store.from_time
        for row in self.store.execute(sql + " ORDER BY p.created_at, p.id", params):
            yield Row(
                {
                    "class": "not_settled",
                    "txn_id": row["txn_id"],
                    "order_id": row["order_id"],
                    "created_at": from_time(row["created_at"]),
                    "customer": row["customer"],
                    "amount_minor": row["amount_minor"],
                    "currency": row["currency"],
                    "gateway": row["gateway"],
                }
            )

    def _where(self, column: str, gateway_column: str) -> tuple[str, dict[str, Any]]:
        store = self.store
        params: dict[str, Any] = {"start": store.time(self.period.start), "end": store.time(self.period.end)}
        where = f"{column} >= :start AND {column} < :end"
        if self.gateways:
            marks, p = store.placeholders("g", list(self.gateways))
            where += f" AND {gateway_column} IN {marks}"
            params.update(p)
        return where, params


def match_settlements(store: Store, period: Period, gateways: Sequence[str] = ()) -> SettlementMatch:
    """The summary, the classes and the count of approved-but-not-settled requests of the period."""
    match = SettlementMatch(store, period, tuple(gateways))
    where, params = match._where("occurred_at", "provider")
    for row in store.query(
        "SELECT provider, currency, kind, COUNT(*) AS n, SUM(gross_minor) AS gross, SUM(fee_minor) AS fee, "
        f"SUM(net_minor) AS net FROM settlement WHERE {where} GROUP BY provider, currency, kind "
        f"ORDER BY {store.bytewise('provider')}, currency, kind",  # gateway names by bytes, as SQLite
        params,
    ):
        match.summary.append(
            Row(
                {
                    "gateway": row["provider"],
                    "currency": row["currency"],
                    "kind": row["kind"],
                    "count": int(row["n"]),
                    "gross_minor": int(row["gross"]),
                    "fee_minor": int(row["fee"]),
                    "net_minor": int(row["net"]),
                }
            )
        )
    match.covered = sorted({s["gateway"] for s in match.summary})
    if not match.summary:
        return match
    sql, params = match._lines_sql()
    for row in store.query(
        "SELECT currency, match_class, COUNT(*) AS n, SUM(gross_minor) AS gross, SUM(fee_minor) AS fee, "
        f"SUM(net_minor) AS net FROM ({sql}) x GROUP BY currency, match_class",
        params,
    ):
        name = row["match_class"] if row["match_class"] in CLASSES else "other"
        slot = match.classes.setdefault(row["currency"], {}).setdefault(name, [0, 0, 0, 0])
        for i, key in enumerate(("n", "gross", "fee", "net")):
            slot[i] += int(row[key])
    match.not_settled_count = match.count_not_settled()
    return match
