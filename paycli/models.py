"""The store's schema as SQLAlchemy 2 models.

These models are the single description of the schema: Alembic's migrations (``paycli/migrations``)
are checked against them by the test suite. The commands do not import SQLAlchemy to run a query:
on the 2-core machines paycli targets, importing it costs 0.4 s of a 0.5 s budget, so the runtime
speaks portable SQL through the DB-API driver (see ``paycli/store.py``).

Conventions: money is an integer of minor units beside an ISO 4217 code; times are UTC (SQLite keeps
them as fixed-width text ``YYYY-MM-DD HH:MM:SS.ffffff``, PostgreSQL as ``timestamptz``).
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


UTCDateTime = DateTime(timezone=True)
# A row's id, and a column naming one: 64 bits on PostgreSQL (migration 0010), as SQLite's rowid is
Id = BigInteger().with_variant(Integer(), "sqlite")


class PaymentRequest(Base):
    """One attempt to collect money through one gateway (design.md 2), with its stored outcome."""

    __tablename__ = "payment_request"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(128), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    customer: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    # casefolded "customer email", so that --customer is case-insensitive beyond ASCII on every backend
    search_text: Mapped[str] = mapped_column(String(600))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    gateway: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)  # file:line (or "stdin:line") it was registered from
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(255))
    response_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_payment_request_outcome_created", "outcome", "created_at"),
        Index("ix_payment_request_gateway_created", "gateway", "created_at"),
        # a report's late requests: those an ``ingest --update`` changed in its period (few have been)
        Index(
            "ix_payment_request_updated",
            "updated_at",
            sqlite_where=text("updated_at IS NOT NULL"),
            postgresql_where=text("updated_at IS NOT NULL"),
        ),
    )


class Message(Base):
    """Anything a gateway sent, verbatim, and where it came from (design.md 2 and 5.3).

    A message is identified by the digest of its bytes, headers and context: the same input ingested
    twice is one message. ``state`` says what it turned out to be: ``response``, ``informational``,
    ``quarantined`` (could not be interpreted; ``error`` says why) or ``request`` (a quarantined
    request record that a later ``paycli reprocess`` registered).
    """

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(
        Text
    )  # e.g. the header row of the CSV file a record came from
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)  # why it is quarantined
    note: Mapped[str | None] = mapped_column(Text)  # what an informational message says
    reference: Mapped[str | None] = mapped_column(String(128), index=True)
    request_id: Mapped[int | None] = mapped_column(Id, ForeignKey("payment_request.id"), index=True)
    response_id: Mapped[int | None] = mapped_column(Id, ForeignKey("response.id"), index=True)
    # an informational message's payment, when the gateway names it (a Stripe refund that failed): one
    # without a reference of its own, or with one only guessed (``reference_guessed``), takes the
    # reference that transaction's responses carry, as a response does
    gateway_txn_id: Mapped[str | None] = mapped_column(String(128))
    reference_guessed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the gateway's own time of an informational message (a Stripe event's created): its place in the trail
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # paycli messages: the messages of a state, newest first, read no further than its --limit
        Index("ix_message_state_received", "state", "received_at"),
        # the few messages that name a gateway transaction, found by it without reading the others
        Index(
            "ix_message_transaction",
            "provider",
            "gateway_txn_id",
            sqlite_where=text("gateway_txn_id IS NOT NULL"),
            postgresql_where=text("gateway_txn_id IS NOT NULL"),
        ),
    )


class Response(Base):
    """A message's statement about one request's outcome, redeliveries folded (design.md 3.1).

    ``identity`` hashes what must agree for two messages to be one response: provider, dedupe key,
    status, amount, currency, reference and authenticity. Two responses that share a dedupe key but
    not an identity are both kept: the disagreement is what the operator must see.
    """

    __tablename__ = "response"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    identity: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[int | None] = mapped_column(Id, ForeignKey("payment_request.id"), index=True)
    reference: Mapped[str | None] = mapped_column(String(128), index=True)
    # the reference came from a field the gateway only suggests for it (a Stripe Session's
    # client_reference_id): it yields to the reference other responses of the transaction carry
    reference_guessed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    provider: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    raw_status: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    gateway_txn_id: Mapped[str | None] = mapped_column(String(128), index=True)
    authenticity: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        # a report's period: the responses received in it (orphans), and the requests they answer (the
        # late requests), read from the index alone
        Index("ix_response_received", "received_at", "request_id"),
        # the few responses with a guessed reference, found without reading the others
        Index(
            "ix_response_guessed",
            "gateway_txn_id",
            sqlite_where=text("reference_guessed"),
            postgresql_where=text("reference_guessed"),
        ),
    )


class StoreSetting(Base):
    """What the store keeps about itself: the outcome rule its outcomes were computed with (rule.py)."""

    __tablename__ = "store_setting"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Resolution(Base):
    """An operator's audited decision on one request (design.md 3.2 step 1); undone, never deleted."""

    __tablename__ = "resolution"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    request_id: Mapped[int] = mapped_column(Id, ForeignKey("payment_request.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    previous_outcome: Mapped[str] = mapped_column(String(10))
    previous_reason: Mapped[str | None] = mapped_column(String(40))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(128))
    undo_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # a report's period: the resolutions made in it, and the few undone in it
        Index("ix_resolution_created", "created_at"),
        Index(
            "ix_resolution_undone",
            "undone_at",
            sqlite_where=text("undone_at IS NOT NULL"),
            postgresql_where=text("undone_at IS NOT NULL"),
        ),
    )


class Settlement(Base):
    """A line of a settlement or balance report (PayPal STL, Stripe balance report): money that moved.

    Its message keeps the line verbatim; reports match settled charges against POSITIVO requests.
    """

    __tablename__ = "settlement"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(Id, ForeignKey("message.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    gateway_txn_id: Mapped[str | None] = mapped_column(String(128), index=True)
    parent_txn_id: Mapped[str | None] = mapped_column(String(128), index=True)
    reference: Mapped[str | None] = mapped_column(String(128), index=True)
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    available_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    line_id: Mapped[str | None] = mapped_column(String(128))
    # what the customer was charged, in the charge's currency, when the report says it apart from the
    # settled gross (Stripe's customer_facing_amount): what a request is compared with
    charged_minor: Mapped[int | None] = mapped_column(BigInteger)
    charged_currency: Mapped[str | None] = mapped_column(String(3))

    __table_args__ = (UniqueConstraint("provider", "line_id", name="uq_settlement_provider_line"),)


class GatewayAlias(Base):
    """Another id a gateway gives one of its transactions: a Stripe charge (``ch_...``) of a PaymentIntent.

    A Stripe webhook names both; a balance report without a ``payment_intent_id`` column names only the
    charge. Reports look a settlement line's id up here to find the responses, and so the request, of
    the transaction it settled. One alias names one transaction; the first genuine message that says so
    wins, and a message that failed its signature check adds none.
    """

    __tablename__ = "gateway_alias"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    alias: Mapped[str] = mapped_column(String(128))
    gateway_txn_id: Mapped[str] = mapped_column(String(128), index=True)

    __table_args__ = (
        UniqueConstraint("provider", "alias", name="uq_gateway_alias_provider_alias"),
        # SHARED_TRANSACTION's look through the other ids of a transaction, a refresh at a time
        Index("ix_gateway_alias_provider_txn", "provider", "gateway_txn_id"),
    )


class Delivery(Base):
    """One HTTP request that ``paycli serve`` received on a callback route, as it arrived.

    The message it carried is in ``message`` (its body verbatim, with the headers its provider reads),
    found by ``message_digest``;
    each delivery of the same bytes is a row here, so a gateway's retries are counted, never lost.
    ``headers`` holds every request header, with the values of secret-bearing ones (Authorization,
    Cookie, ...) replaced by ``***``. ``status`` is the HTTP status answered, ``result`` what the
    delivery carried: ``response``, ``informational``, ``quarantined``, ``invalid`` (it failed its
    authenticity check), ``replay`` (a Stripe signature older than the tolerance) or ``refused`` (no
    message at all, e.g. too large for a callback: ``body`` then keeps its bytes). ``duplicate`` says
    that its bytes had been stored before. ``postback`` is PayPal's answer to the IPN postback made at
    receive time.
    """

    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    provider: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    headers: Mapped[str] = mapped_column(Text)
    body_bytes: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)  # only when no message holds it
    # the message it carried, by digest: a message read again by `paycli reprocess` keeps its digest
    message_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(16))
    duplicate: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int] = mapped_column(Integer)
    postback: Mapped[str | None] = mapped_column(String(64))
