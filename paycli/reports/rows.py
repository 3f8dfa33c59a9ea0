"""The rows a report's sections are made of."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple


class Row:
    """One line of a section: its fields as attributes (``r.txn_id``) and as items (``r["txn_id"]``).

    Attributes, because Jinja resolves ``r.txn_id`` by trying the attribute first: on a plain dict that
    try raises an exception every time, which made rendering 100,000 rows several times slower.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getitem__(self, key: str) -> Any:
        return self.__dict__[key]

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Row({self.__dict__!r})"


class RequestRow(NamedTuple):
    """A request of the VERIFICARE or NEGATIVO list (a tuple: the large sections hold 100,000 of them)."""

    txn_id: str
    order_id: str | None
    kind: str
    created_at: datetime
    customer: str
    email: str | None
    amount_minor: int
    currency: str
    gateway: str
    outcome: str
    reason: str | None
    detail: str | None  # as the outcome rule keeps it: queries.human_detail, in the report's decimal mark
    responses: int
    age: timedelta


class LineRow(NamedTuple):
    """A settlement line with its class (``match``) and the request it was matched to, if any."""

    match: str
    gateway: str
    kind: str
    occurred_at: datetime | None
    gateway_txn_id: str | None
    parent_txn_id: str | None
    reference: str | None
    gross_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    txn_id: str | None
    customer: str | None
    request_minor: int | None
    request_currency: str | None
    outcome: str | None
