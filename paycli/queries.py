"""Reading the store: the request list, one request with its trail, one order (design.md 4 and 8).

Results are plain dictionaries with the field names of design.md 8, already in the user's terms
(amounts as decimal strings in major units, times in the configured zone with their offset), so
every output format shows the same thing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from paycli import recompute
from paycli.config import Config
from paycli.dates import format_local
from paycli.errors import NotFound, RecordError
from paycli.gateways import REQUESTS
from paycli.gateways.callback import mask_dump, mask_secret_headers
from paycli.money import format_amount
from paycli.outcome import Outcome, order_verdict
from paycli.rows import Reread
from paycli.store import Row, Store

REQUEST_COLUMNS = (
    "id, txn_id, order_id, kind, created_at, customer, email, amount_minor, currency, gateway, "
    "outcome, reason, detail, response_count, source, registered_at, updated_at"
)


@dataclass(frozen=True)
class Filters:
    """The filters of ``paycli list``; times are aware UTC bounds (until exclusive)."""

    outcomes: Sequence[str] = ()
    reasons: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    created_before: datetime | None = None  # --older-than
    customer: str | None = None
    gateways: Sequence[str] = ()
    order_id: str | None = None
    kinds: Sequence[str] = ()
    limit: int | None = None


def list_requests(store: Store, filters: Filters, tz: tzinfo) -> Iterator[dict[str, Any]]:
    """The requests that match, newest first, one at a time as the store gives them: a list of a
    million requests is written out without being held (``paycli list --format csv``)."""
    where: list[str] = []
    params: dict[str, Any] = {}

    def any_of(column: str, prefix: str, values: Sequence[str]) -> None:
        if values:
            marks, p = store.placeholders(prefix, list(values))
            where.append(f"{column} IN {marks}")
            params.update(p)

    any_of("outcome", "o", [v.upper() for v in filters.outcomes])
    any_of("reason", "r", [v.upper() for v in filters.reasons])
    any_of("gateway", "g", [v.lower() for v in filters.gateways])
    any_of("kind", "k", [v.lower() for v in filters.kinds])
    if filters.since is not None:
        where.append("created_at >= :since")
        params["since"] = store.time(filters.since)
    if filters.until is not None:
        where.append("created_at < :until")
        params["until"] = store.time(filters.until)
    if filters.created_before is not None:
        where.append("created_at <= :before")
        params["before"] = store.time(filters.created_before)
    if filters.order_id is not None:
        where.append("order_id = :order_id")
        params["order_id"] = filters.order_id
    if filters.customer:
        # search_text is casefolded at write time, so this is case-insensitive beyond ASCII everywhere
        where.append("search_text LIKE :customer ESCAPE '!'")
        params["customer"] = "%" + _escape_like(filters.customer.casefold()) + "%"
    sql = f"SELECT {REQUEST_COLUMNS} FROM payment_request"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, id DESC"
    if filters.limit is not None:
        sql += f" LIMIT {_limit(filters.limit)}"
    names = [name.strip() for name in REQUEST_COLUMNS.split(",")]
    for values in store.stream_tuples(sql, params, server_side=True):
        yield request_dict(dict(zip(names, values, strict=True)), tz)


# the fields of request_dict and list_messages' rows: a CSV of no row still has its header
REQUEST_FIELDS = (
    "txn_id",
    "order_id",
    "kind",
    "created_at",
    "customer",
    "email",
    "amount",
    "currency",
    "gateway",
    "outcome",
    "reason",
    "detail",
    "responses",
)
MESSAGE_FIELDS = ("id", "received_at", "provider", "state", "source", "reference", "reason")


def request_dict(row: Row | Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    return {
        "txn_id": row["txn_id"],
        "order_id": row["order_id"],
        "kind": row["kind"],
        "created_at": format_local(Store.from_time(row["created_at"]), tz),  # type: ignore[arg-type]
        "customer": row["customer"],
        "email": row["email"],
        "amount": format_amount(row["amount_minor"], row["currency"]),
        "currency": row["currency"],
        "gateway": row["gateway"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "detail": human_detail(row["reason"], row["detail"]),
        "responses": row["response_count"],
    }


_MISMATCH = re.compile(r"^expected=(-?\d+) (\S+) got=(-?\d+|\?) (\S+)$")


def human_detail(reason: str | None, detail: str | None, decimal_mark: str = ".") -> str | None:
    """The outcome rule keeps amounts in minor units; people read them in major units (with the
    ``decimal_mark`` of the CSV dialect they read them in)."""
    if reason != "AMOUNT_MISMATCH" or not detail or not (m := _MISMATCH.match(detail)):
        return detail
    expected, currency, got, got_currency = m.groups()

    def money(minor: str, cur: str) -> str:
        try:
            return f"{format_amount(int(minor), cur, decimal_mark=decimal_mark)} {cur}"
        except (ValueError, KeyError, RecordError):
            return f"{minor} {cur}"

    return f"expected {money(expected, currency)}, got {money(got, got_currency)}"


def get_request(store: Store, txn_id: str) -> Row:
    rows = store.query(f"SELECT {REQUEST_COLUMNS} FROM payment_request WHERE txn_id = :t", {"t": txn_id})
    if not rows:
        raise NotFound(f"no payment request with txn_id '{txn_id}'{_what_it_may_be(store, txn_id, 'show')}")
    return rows[0]


def _what_it_may_be(store: Store, text: str, command: str) -> str:
    """What an id that named nothing may have meant, said after the not-found error (one line).

    Operators paste what they have at hand: the order number from a customer's mail into ``show``, the
    payment's id into ``order``, the gateway's transaction id from its dashboard or the customer's
    receipt (a Stripe ``pi_...``, a PayPal or Nexi code), an id with a blank copied around it or in
    another case. Only looked for when the id matched nothing: a full scan here costs only a miss.
    """

    def first(sql: str, params: dict[str, Any]) -> list[str]:
        return [r["t"] for r in store.query(sql + " LIMIT 4", params)]

    if command == "show" and first(
        "SELECT order_id AS t FROM payment_request WHERE order_id = :x", {"x": text}
    ):
        return f"; it is an order: paycli order {text}"
    if command == "order" and first("SELECT txn_id AS t FROM payment_request WHERE txn_id = :x", {"x": text}):
        return f"; it is a payment request: paycli show {text}"
    paid = first(
        "SELECT DISTINCT q.txn_id AS t FROM response r JOIN payment_request q ON q.id = r.request_id "
        "WHERE r.gateway_txn_id = :x ORDER BY q.txn_id",
        {"x": text.strip()},
    )
    if paid:
        return f"; it is the gateway's transaction id of {_some(paid)}: paycli show {paid[0]}"
    column = "txn_id" if command == "show" else "order_id"
    near = first(
        f"SELECT DISTINCT {column} AS t FROM payment_request WHERE lower({column}) = :x ORDER BY {column}",
        {"x": text.strip().lower()},
    )
    if near:
        return f"; did you mean {_some(near)}?"
    return ""


def _some(ids: list[str]) -> str:
    """Up to three ids (the query asks for four, to know whether there are more)."""
    return ", ".join(ids[:3]) + (" and more" if len(ids) > 3 else "")


def show_request(
    store: Store, txn_id: str, tz: tzinfo, *, raw: bool = False, config: Config | None = None
) -> dict[str, Any]:
    """The request, its outcome, its trail in time order and its resolutions (the seed's two panels).

    With the ``config``, each response says which other requests its gateway transaction also answers.
    """
    row = get_request(store, txn_id)
    result = request_dict(row, tz)
    result["source"] = row["source"]
    result["registered_at"] = _local(row["registered_at"], tz)
    result["updated_at"] = _local(row["updated_at"], tz)
    result["trail"] = trail(store, row["id"], tz, raw=raw, gateway=row["gateway"], config=config)
    # read as they are written (a gateway that retried for months: 100,000 of them), in the snapshot
    result["deliveries"] = Reread(lambda: deliveries(store, row["id"], tz))
    result["resolutions"] = resolutions(store, row["id"], tz)
    return result


def deliveries(store: Store, request_id: int, tz: tzinfo) -> Iterator[dict[str, Any]]:
    """The HTTP requests ``paycli serve`` received that carried one of the request's messages, oldest
    first: when, from where, what paycli answered, and PayPal's answer to the postback. A gateway's
    retry of the same bytes is one message in the trail and one more delivery here. One at a time as
    the store gives them."""
    for at, provider, method, path, remote_addr, status, result, duplicate, postback in store.stream_tuples(
        "SELECT d.received_at, d.provider, d.method, d.path, d.remote_addr, d.status, d.result, "
        "d.duplicate, d.postback FROM message m JOIN delivery d ON d.message_digest = m.digest "
        "WHERE m.request_id = :r ORDER BY d.received_at, d.id",
        {"r": request_id},
        server_side=True,
    ):
        yield {
            "at": _local(at, tz),
            "provider": provider,
            "method": method,
            "path": path,
            "remote_addr": remote_addr,
            "status": status,
            "result": result,
            "duplicate": bool(duplicate),
            "postback": postback,
        }


def trail(
    store: Store,
    request_id: int,
    tz: tzinfo,
    *,
    raw: bool = False,
    gateway: str | None = None,
    config: Config | None = None,
) -> list[dict[str, Any]]:
    """Every response (with how many messages delivered it) and informational message, oldest first.

    ``other_gateway`` flags a message from another gateway than the one the request was sent to: the
    merchant reference matched, but the money went elsewhere, or the reference was reused.
    ``also_answers`` (with the ``config``) lists the other merchant references a response's gateway
    transaction answers: one payment cannot pay them all.
    """
    responses = store.query(
        "SELECT id, provider, dedupe_key, status, raw_status, amount_minor, currency, gateway_txn_id, "
        "authenticity, occurred_at, received_at, deliveries FROM response WHERE request_id = :r",
        {"r": request_id},
    )
    messages = store.query(
        f"SELECT {_TRAIL_COLUMNS} FROM message m WHERE m.request_id = :r ORDER BY m.received_at, m.id",
        {"r": request_id},
    )
    settled_lines = _settled_by_transaction(
        store,
        {
            (r["provider"], r["gateway_txn_id"])
            for r in responses
            if r["gateway_txn_id"] is not None and r["authenticity"] != "invalid"
        },
    )
    if settled_lines:
        messages = sorted(
            [*messages, *settled_lines], key=lambda m: (Store.from_time(m["received_at"]), m["id"])
        )
    by_response: dict[int, list[Row]] = {}
    for m in messages:
        if m["response_id"] is not None:
            by_response.setdefault(m["response_id"], []).append(m)
    # responses that share a dedupe key but disagree are the suspicious ones (design.md 3.1)
    keys = Counter((r["provider"], r["dedupe_key"]) for r in responses)
    shared = {} if config is None else recompute.sharing(store, [request_id], config)[0].get(request_id, {})
    entries: list[tuple[Any, int, dict[str, Any]]] = []
    for r in responses:
        delivered = by_response.get(r["id"], [])
        # the gateway's own time when it says one: one ingest run receives a whole day's files at once
        when = r["occurred_at"] if r["occurred_at"] is not None else r["received_at"]
        entry: dict[str, Any] = {
            "at": _local(when, tz),
            "received_at": _local(r["received_at"], tz),
            "type": "response",
            "provider": r["provider"],
            "status": r["status"],
            "gateway_status": r["raw_status"],
            "amount": None
            if r["amount_minor"] is None
            else format_amount(r["amount_minor"], r["currency"] or "EUR"),
            "currency": r["currency"],
            "authenticity": r["authenticity"],
            "deliveries": r["deliveries"],
            "gateway_txn_id": r["gateway_txn_id"],
            "occurred_at": _local(r["occurred_at"], tz),
            "key": r["dedupe_key"],
            "suspicious": keys[(r["provider"], r["dedupe_key"])] > 1,
            "also_answers": sorted(shared.get(r["id"], ())),
            "other_gateway": gateway is not None and r["provider"] != gateway,
            "sources": [_where(m) for m in delivered],
        }
        if raw:
            entry["messages"] = [_raw_message(m) for m in delivered]
        entries.append((Store.from_time(when), r["id"], entry))
    settled = {}
    settlement_ids = [m["id"] for m in messages if m["state"] == "settlement"]
    if settlement_ids:
        marks, params = store.placeholders("m", settlement_ids)
        settled = {
            s["message_id"]: s
            for s in store.query(
                "SELECT message_id, kind, gross_minor, fee_minor, net_minor, currency, occurred_at, charged_minor, "
                f"charged_currency FROM settlement WHERE message_id IN {marks}",
                params,
            )
        }
    for m in messages:
        if m["response_id"] is not None:
            continue
        line = settled.get(m["id"])
        entry = {
            "at": _local(m["received_at"], tz),
            "received_at": _local(m["received_at"], tz),
            "type": m["state"],
            "provider": m["provider"],
            "status": None,
            "gateway_status": None,
            "amount": None,
            "currency": None,
            "authenticity": None,
            "deliveries": 1,
            "gateway_txn_id": None,
            "occurred_at": None,
            "key": None,
            "suspicious": False,
            "also_answers": [],
            # the shop's own request file is no gateway
            "other_gateway": gateway is not None and m["provider"] not in (gateway, REQUESTS),
            "sources": [_where(m)],
            "note": m["note"] or m["error"],
        }
        # the gateway's own time where it says one (a Stripe event's created), as for a response
        when = m["occurred_at"] if m["occurred_at"] is not None else m["received_at"]
        entry.update(at=_local(when, tz), occurred_at=_local(m["occurred_at"], tz))
        if line is not None:
            # a settlement line: what the gateway really paid out, in the trail at the gateway's time
            when = line["occurred_at"] or when
            entry.update(
                at=_local(when, tz),
                status=line["kind"],
                amount=format_amount(line["gross_minor"], line["currency"]),
                currency=line["currency"],
                note=f"fee {format_amount(line['fee_minor'], line['currency'])}, "
                f"net {format_amount(line['net_minor'], line['currency'])}",
            )
            if line["charged_minor"] is not None and line["charged_currency"]:
                # settled in another currency: what the customer paid is what the request is compared with
                entry["note"] += (
                    f", customer paid {format_amount(line['charged_minor'], line['charged_currency'])} "
                    f"{line['charged_currency']}"
                )
        if raw:
            entry["messages"] = [_raw_message(m)]
        entries.append((Store.from_time(when), m["id"], entry))
    entries.sort(key=lambda e: (e[0], e[2]["type"], e[1]))
    return [e[2] for e in entries]


_TRAIL_COLUMNS = (
    "m.id, m.provider, m.source, m.line, m.received_at, m.occurred_at, m.state, m.error, m.note, m.response_id, "
    "m.headers, m.raw"
)


def _settled_by_transaction(store: Store, txns: set[tuple[str, str]]) -> list[Row]:
    """The settlement lines without a merchant reference that reports match to a request through its
    genuine responses' transactions ``txns`` (provider, id): by the id of the payment the line settles or
    reverses, or by another id of it (``gateway_alias``: a Stripe charge of a PaymentIntent)."""
    if not txns:
        return []
    marks, params = store.placeholders("t", sorted({txn for _, txn in txns}))
    aliases = {
        (a["provider"], a["alias"])
        for a in store.query(
            f"SELECT provider, alias, gateway_txn_id FROM gateway_alias WHERE gateway_txn_id IN {marks}",
            params,
        )
        if (a["provider"], a["gateway_txn_id"]) in txns
    }
    keys = sorted({txn for _, txn in txns} | {alias for _, alias in aliases})
    marks, params = store.placeholders("k", keys)
    found = []
    for m in store.query(
        f"SELECT {_TRAIL_COLUMNS}, m.request_id, s.provider AS line_provider, "
        "COALESCE(s.parent_txn_id, s.gateway_txn_id) AS payment FROM settlement s "
        f"JOIN message m ON m.id = s.message_id WHERE s.gateway_txn_id IN {marks} OR s.parent_txn_id IN {marks}",
        params,
    ):
        # a line with a known reference is in the trail of the request it names (as reports match it)
        if m["request_id"] is None and (
            (m["line_provider"], m["payment"]) in txns or (m["line_provider"], m["payment"]) in aliases
        ):
            found.append(m)
    return found


def resolutions(store: Store, request_id: int, tz: tzinfo) -> list[dict[str, Any]]:
    return [
        {
            "at": _local(r["created_at"], tz),
            "outcome": r["outcome"],
            "by": r["actor"],
            "note": r["note"],
            "before": r["previous_outcome"] + (f"/{r['previous_reason']}" if r["previous_reason"] else ""),
            "undone_at": _local(r["undone_at"], tz),
            "undone_by": r["undone_by"],
            "undo_note": r["undo_note"],
        }
        for r in store.query(
            "SELECT created_at, outcome, actor, note, previous_outcome, previous_reason, undone_at, undone_by, "
            "undo_note FROM resolution WHERE request_id = :r ORDER BY created_at, id",
            {"r": request_id},
        )
    ]


def show_order(store: Store, order_id: str, tz: tzinfo) -> dict[str, Any]:
    """Every request of one order with its outcome and trail summary, and the order verdict.

    The requests are read as they are written (a ``Reread``, inside the caller's snapshot): an order id
    an ERP gives every deposit ("0") is most of a store."""
    counts = store.query(
        "SELECT outcome, COUNT(*) AS n FROM payment_request WHERE order_id = :o GROUP BY outcome",
        {"o": order_id},
    )
    if not counts:
        raise NotFound(
            f"no payment request for order '{order_id}'{_what_it_may_be(store, order_id, 'order')}"
        )
    # the verdict tells one POSITIVO from two or more: two of each outcome are as many as it reads
    verdict = order_verdict([Outcome(c["outcome"]) for c in counts for _ in range(min(c["n"], 2))])
    return {
        "order_id": order_id,
        "verdict": verdict.value,
        "requests": Reread(lambda: _order_requests(store, order_id, tz)),
    }


def _order_requests(store: Store, order_id: str, tz: tzinfo) -> Iterator[dict[str, Any]]:
    """The order's requests, oldest first, each with the status of its last response (the gateway's
    word where it says one), one at a time."""
    names = [name.strip() for name in REQUEST_COLUMNS.split(",")]
    # the last response by its time (the gateway's, else when it was received), then its id
    last = (
        "(SELECT COALESCE(NULLIF(r.raw_status, ''), r.status) FROM response r WHERE r.request_id = q.id "
        "ORDER BY COALESCE(r.occurred_at, r.received_at) DESC, r.id DESC LIMIT 1)"
    )
    sql = (
        f"SELECT {', '.join('q.' + n for n in names)}, {last} AS last_status FROM payment_request q "
        "WHERE q.order_id = :o ORDER BY q.created_at, q.id"
    )
    for values in store.stream_tuples(sql, {"o": order_id}, server_side=True):
        item = request_dict(dict(zip(names, values[:-1], strict=True)), tz)
        item["last_status"] = values[-1]
        yield item


MESSAGE_STATES = (
    "quarantined",
    "orphan",
    "unlinked",
    "dismissed",
    "informational",
    "response",
    "settlement",
    "request",
)
_SET_ASIDE = "state NOT IN ('quarantined', 'dismissed')"  # not read: no request it names, nor none


def list_messages(
    store: Store,
    tz: tzinfo,
    *,
    state: str = "quarantined",
    providers: Sequence[str] = (),
    since: datetime | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Stored messages, newest first: what an operator cannot reach through a request (quarantined
    records, orphans waiting for their request, messages that name no request at all), or any state.
    One at a time as the store gives them, as ``list_requests``: ``--state response`` is most of a
    big store."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if state == "orphan":  # names a request that is not in the store (yet)
        where.append(f"reference IS NOT NULL AND request_id IS NULL AND {_SET_ASIDE}")
    elif state == "unlinked":  # names no request at all (a failed decrypt call, a bank's fee line)
        where.append(f"reference IS NULL AND {_SET_ASIDE}")
    else:
        where.append("state = :state")
        params["state"] = state
    if providers:
        marks, p = store.placeholders("p", list(providers))
        where.append(f"provider IN {marks}")
        params.update(p)
    if since is not None:
        where.append("received_at >= :since")
        params["since"] = store.time(since)
    names = ("id", "provider", "source", "line", "received_at", "state", "error", "note", "reference")
    sql = (
        f"SELECT {', '.join(names)} FROM message WHERE "
        + " AND ".join(where)
        + " ORDER BY received_at DESC, id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {_limit(limit)}"
    for values in store.stream_tuples(sql, params, server_side=True):
        m = dict(zip(names, values, strict=True))
        yield {
            "id": m["id"],
            "received_at": _local(m["received_at"], tz),
            "provider": m["provider"],
            "state": m["state"],
            "source": _where(m),
            "reference": m["reference"],
            "reason": "; ".join(x for x in (m["error"], m["note"]) if x) or None,  # a dismissal's note too
        }


def _escape_like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _local(value: Any, tz: tzinfo) -> str | None:
    return None if value is None else format_local(Store.from_time(value), tz)  # type: ignore[arg-type]


def _where(m: Row) -> str:
    return f"{m['source']}:{m['line']}" if m["line"] is not None else str(m["source"])


def _raw_message(m: Row) -> dict[str, Any]:
    raw = bytes(m["raw"])
    try:
        # a raw HTTP dump is stored as it came, Authorization and all: printed without its credentials
        text, encoding = mask_dump(raw.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        # bytes one to one as Latin-1, so that a dump's headers are masked before the hex is printed
        text, encoding = mask_dump(raw.decode("latin-1")).encode("latin-1").hex(), "hex"
    headers = m["headers"] and mask_secret_headers(m["headers"])  # stored before sidecars were filtered
    return {"source": _where(m), "headers": headers, "body": text, "encoding": encoding}


def _limit(limit: int) -> int:
    """A ``--limit`` as SQL takes it: past the largest 64-bit integer (more rows than a store can hold)
    it is that integer, which SQLite and PostgreSQL refuse beyond."""
    return min(int(limit), 2**63 - 1)
