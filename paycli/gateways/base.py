"""The provider interface: how paycli learns to read one gateway's messages (or the shop's requests).

A provider is a small class, in the spirit of beangulp's importers. ``identify`` says whether an input
is one of its formats, from its first bytes; ``extract`` turns it into records, one by one, so that a
file of any size streams through; ``reinterpret`` reads one stored message again (``paycli
reprocess``, after a configuration fix). Built-in providers are registered through the
``paycli.gateways`` entry-point group exactly as a third-party package registers its own::

    [project.entry-points."paycli.gateways"]
    mybank = "paycli_mybank:MyBankProvider"

Providers never touch the store: the ingest pipeline (``paycli/ingest.py``) stores each record's
bytes verbatim, dedupes, links and recomputes outcomes.
"""

from __future__ import annotations

import io
import json
import os
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from paycli.money import CURRENCY_EXPONENTS
from paycli.outcome import Authenticity, Status

if TYPE_CHECKING:
    from paycli.config import Config, Setting

HEAD_BYTES = 64 * 1024
RAW_STATUS_LIMIT = 64  # the width of the store's response.raw_status: a provider's wording is cut to it


@dataclass
class Source:
    """One input: a file, or standard input. ``head`` holds its first bytes for ``identify``."""

    name: str
    path: Path | None
    head: bytes
    # The HTTP headers that came beside a callback body, one ``Name: value`` a line: a file's
    # ``<file>.headers`` sidecar (design.md 5.2; its credentials, Authorization and the like, taken out),
    # or those ``paycli serve`` keeps of a callback (``Provider.callback_headers``); None without one
    # (a raw HTTP dump keeps its headers in the input itself). A provider reads a signature header from
    # them, and keeps them in ``Origin.headers`` for ``reinterpret``.
    headers: str | None = None
    # when a live callback arrived (``paycli serve``); None for a file, which is read without time limits
    received_at: datetime | None = None
    position: int = 0  # bytes read so far, for the progress bar
    _stream: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    def from_path(cls, path: Path) -> Source:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
        return cls(name=path_text(path), path=path, head=head)

    @classmethod
    def from_stream(cls, name: str, stream: IO[bytes]) -> Source:
        head = stream.read(HEAD_BYTES)
        return cls(name=name, path=None, head=head, _stream=stream)

    def open(self) -> IO[bytes]:
        """The whole input from its first byte, as a binary stream read a piece at a time."""
        if self.path is not None:
            raw: io.RawIOBase = _Counting(self, self.path.open("rb", buffering=0))
        elif self._stream is None:
            raise RuntimeError(f"{self.name} can be read only once")
        else:
            rest, self._stream = self._stream, None
            raw = _Counting(self, _Chain(self.head, rest))
        return io.BufferedReader(raw, buffer_size=256 * 1024)


class _Counting(io.RawIOBase):
    """Counts the bytes read from a raw stream into its source's ``position``."""

    def __init__(self, source: Source, raw: IO[bytes] | io.RawIOBase) -> None:
        self._source = source
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[union-attr]
        self._source.position += n or 0
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Chain(io.RawIOBase):
    """The head already read from a pipe, then the rest of the pipe."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True, slots=True)
class RequestData:
    """A payment request as the shop registered it (design.md 5.1), normalised."""

    txn_id: str
    order_id: str | None
    kind: str
    created_at: datetime  # aware UTC
    customer: str
    email: str | None
    amount_minor: int
    currency: str
    gateway: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from, and its bytes as they were."""

    line: int | None
    raw: bytes
    context: str | None = None  # what the record needs to be read again, e.g. its file's header row
    headers: str | None = None
    # received over HTTP by paycli serve, and now read again (reprocess): what was missing from it (a
    # signature) was missing from the request, not lost by whoever kept a file
    live: bool = False


@dataclass(frozen=True, slots=True)
class RequestRecord:
    origin: Origin
    data: RequestData


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """A message that says something about the outcome of one request (design.md 2, 3.1)."""

    origin: Origin
    reference: str | None  # the merchant reference: the request's txn_id
    dedupe_key: str
    status: Status
    raw_status: str | None
    authenticity: Authenticity
    amount_minor: int | None = None
    currency: str | None = None
    gateway_txn_id: str | None = None
    occurred_at: datetime | None = None
    # other ids the gateway gives the same transaction (a Stripe charge of a PaymentIntent): a settlement
    # line that names one of them is matched to this response's request
    aliases: tuple[str, ...] = ()
    # the reference came from a field the gateway only suggests for one (a Stripe Session's
    # client_reference_id, "a customer ID, a cart ID, or similar"): ingest gives the response the
    # reference its transaction's other responses carry, when one does, instead
    reference_guessed: bool = False


@dataclass(frozen=True, slots=True)
class InfoRecord:
    """A message kept in the trail that carries no outcome.

    ``authenticity`` is the result of the gateway's signature check when the message carries one
    (a Stripe event), None when there is nothing to check: an informational message that fails its
    check is kept, and ``paycli serve`` refuses it as it refuses a forged response.

    ``gateway_txn_id`` names the payment the message is about when the gateway gives it (a Stripe
    refund that failed, a dispute won: only the PaymentIntent holds the shop's reference). A message
    without a reference of its own, or with one only guessed (``reference_guessed``), joins the trail of
    the request that transaction's responses answer, as a response without one does.
    """

    origin: Origin
    reference: str | None
    note: str
    authenticity: Authenticity | None = None
    gateway_txn_id: str | None = None
    reference_guessed: bool = False
    occurred_at: datetime | None = None  # the gateway's own time of it, when it says one (UTC)


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """One line of a gateway's settlement or balance report: money that really moved (design.md 9).

    Amounts are signed from the merchant's side: a charge settled is positive, a refund or a chargeback
    negative; ``fee_minor`` is what the gateway kept (positive), ``net_minor`` what reached the account.
    """

    origin: Origin
    kind: str  # charge, refund, chargeback, fee, payout, adjustment, other
    gateway_txn_id: str | None
    reference: str | None  # the request's txn_id when the report carries it
    gross_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    occurred_at: datetime | None = None
    available_on: datetime | None = None
    parent_txn_id: str | None = None  # for a refund or chargeback: the payment it reverses
    # the gateway's id of this line (Stripe's balance transaction, PayPal's transaction): the same line
    # in two reports (a weekly and a monthly run, another column set) is the same money, counted once
    line_id: str | None = None
    # what the customer was charged, signed as gross, in the charge's currency, when the report gives it
    # apart from the settled gross (a charge in USD settled in EUR): what a request is compared with
    charged_minor: int | None = None
    charged_currency: str | None = None


def path_text(path: Path | str) -> str:
    """A file's name as text that can be stored and printed: a name whose bytes are not UTF-8 (a
    latin-1 ``caff\xe8.txt`` from an old system) has them as ``\\xe8`` escapes, where ``str(path)``
    holds surrogates that no UTF-8 column, and no UTF-8 output, takes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def one_line(text: str, *, keep: str = "") -> str:
    """A message quoting input as one line: a line break or other control character inside a value
    (``importo=129\\r\\n90``), or a Unicode format character (the bidi override U+202E, a zero-width
    space), is written as its escape (``\\r``, ``\\u202e``), so that an error stays one line wherever it
    goes and a terminal shows it, never obeys it. ``keep``: characters left as they are."""
    if text.isprintable():
        return text
    return "".join(c if shown_as_is(c) or c in keep else repr(c)[1:-1] for c in text)


def shown_as_is(c: str) -> bool:
    """A character a terminal only shows: a printable one, or a space of any width (a name's no-break
    space, the ideographic space between a Japanese family and given name), which Python's
    isprintable() counts out with the controls."""
    return c.isprintable() or unicodedata.category(c) == "Zs"


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """A record that could not be interpreted: kept verbatim with the reason (one line)."""

    origin: Origin
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", one_line(self.reason))


@dataclass(frozen=True, slots=True)
class RefusedRecord(QuarantinedRecord):
    """A live callback refused as a whole, such as a replayed Stripe event: kept quarantined (``paycli
    reprocess`` reads it again, as a file, without time limits), and answered with an error."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the operator should read that loses nothing (a fallback encoding, an ignored column)."""

    message: str


Record = RequestRecord | ResponseRecord | InfoRecord | SettlementRecord | QuarantinedRecord | Notice


def record_problem(record: object) -> str | None:
    """What makes a record a provider gave unfit to store, or None: a type the fields do not declare (an
    amount as a float, a status as a str), a naive time, an empty reference or key, a currency that is
    no ISO 4217 code. Ingest asks it of every record of a provider outside paycli, and keeps a record
    that fails quarantined with the answer: a plugin's mistake loses no message and stores no wrong
    value. A provider's own tests can ask it too."""
    if isinstance(record, Notice):
        return None if isinstance(record.message, str) else "a Notice's message is not a str"
    if not isinstance(
        record, RequestRecord | ResponseRecord | InfoRecord | SettlementRecord | QuarantinedRecord
    ):
        return f"a {type(record).__name__} is no record (RequestRecord, ResponseRecord, InfoRecord, ...)"
    origin = record.origin
    if not isinstance(origin, Origin):
        return f"its origin is {type(origin).__name__}, not an Origin"
    if not isinstance(origin.raw, bytes):
        return f"origin.raw is {type(origin.raw).__name__}, not bytes: the message as it came"
    if origin.line is not None and (type(origin.line) is not int or origin.line < 0):
        return "origin.line is not a line number (an int, or None)"
    for name in ("context", "headers"):
        if not isinstance(getattr(origin, name), str | None):
            return f"origin.{name} is not a str or None"
    if isinstance(record, QuarantinedRecord):
        return None if isinstance(record.reason, str) else "a quarantined record's reason is not a str"
    values: Any = record.data if isinstance(record, RequestRecord) else record
    for name, optional in _fields_of(values.__class__):
        wrong = _field_problem(name, getattr(values, name), optional)
        if wrong is not None:
            return wrong
    if isinstance(record, ResponseRecord) and not isinstance(record.status, Status):
        return f"status is {type(record.status).__name__}, not a paycli.outcome.Status"
    if isinstance(record, ResponseRecord) and not isinstance(record.authenticity, Authenticity):
        return f"authenticity is {type(record.authenticity).__name__}, not a paycli.outcome.Authenticity"
    if isinstance(record, InfoRecord) and not isinstance(record.authenticity, Authenticity | None):
        return f"authenticity is {type(record.authenticity).__name__}, not an Authenticity or None"
    return None


_MINOR = ("amount_minor", "gross_minor", "fee_minor", "net_minor", "charged_minor")
_TIMES = ("occurred_at", "available_on", "created_at")
_CURRENCIES = ("currency", "charged_currency")
_NOT_TEXT = frozenset((*_MINOR, *_TIMES, *_CURRENCIES, "aliases"))


@lru_cache
def _fields_of(cls: Any) -> tuple[tuple[str, bool], ...]:
    """A record type's fields but its origin, each with whether its type admits None."""
    return tuple((f.name, "None" in str(f.type)) for f in fields(cls) if f.name != "origin")


def _field_problem(name: str, value: object, optional: bool) -> str | None:
    """What is wrong with one field's value; ``optional``: its type admits None."""
    if value is None and optional:
        return None
    if type(value) is str and name not in _NOT_TEXT:
        return None if value.strip() or name in ("note", "raw_status") else _blank(name, optional)
    if name in _MINOR:
        if type(value) is not int:
            return f"{name} is {type(value).__name__}, not an int of minor units (money is never a float)"
    elif name in _TIMES:
        if not isinstance(value, datetime):
            return f"{name} is {type(value).__name__}, not a datetime"
        if value.utcoffset() is None:
            return f"{name} is a naive datetime: give it its zone (paycli stores UTC)"
    elif name in _CURRENCIES:
        if not isinstance(value, str) or value not in CURRENCY_EXPONENTS:
            return f"{name} {one_line(repr(value))[:40]} is not an ISO 4217 code in capitals (EUR)"
    elif name == "aliases":
        if not isinstance(value, tuple) or not all(isinstance(a, str) and a.strip() for a in value):
            return "aliases is not a tuple of ids (str)"
    elif name == "reference_guessed":
        if not isinstance(value, bool):
            return f"{name} is not True or False"
    elif name in ("status", "authenticity"):
        return None  # their enums are checked by the record's type
    elif not isinstance(value, str):
        return f"{name} is {type(value).__name__}, not a str{' or None' if optional else ''}"
    return None


def _blank(name: str, optional: bool) -> str:
    return f"{name} is blank{': a message without one gives None' if optional else ''}"


class SourceError(Exception):
    """The whole input cannot be read by this provider (for example a missing required column)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when it names a key twice: which value is meant cannot be told (Python
    keeps the last, another reader the first), and a record must read the same to every reader."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key '{one_line(key)[:40]}' given twice")
            seen.add(key)
    return obj


def parse_json(text: str) -> Any:
    """``json.loads`` with exact Decimal numbers. ValueError for anything that is not JSON, an object
    with a key given twice and a document nested deeper than Python can follow included (``[[[[...``:
    RecursionError otherwise), worded without the parser's "line 1" when the text is one line (a
    JSON-lines record: its line is the file's)."""
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_without_duplicates)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as exc:
        if "\n" not in text.rstrip("\r\n"):
            raise ValueError(f"{exc.msg} at column {exc.colno}") from None
        raise


class Provider:
    """Base class of every provider. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]  # the provider name, also its entry-point name
    description: ClassVar[str]
    reads: ClassVar[tuple[str, ...]]  # the shapes of input it understands, for `paycli gateways`
    settings: ClassVar[Mapping[str, Setting]] = {}
    needs_config: ClassVar[bool] = False  # True: only active when configured under `gateways:`
    # the HTTP methods its gateway calls ``paycli serve`` with; any other is 405 (a GET would skip what
    # a POST goes through, such as PayPal's postback)
    callback_methods: ClassVar[tuple[str, ...]] = ("POST", "GET")
    # the HTTP headers its messages are read with (a signature the gateway sends in one): ``paycli serve``
    # keeps them with a callback's body, as a ``.headers`` sidecar keeps them with a file, in
    # ``Origin.headers``. Content-Type, User-Agent and Stripe-Signature are kept for every provider; a
    # credential (Authorization, Cookie, a header named for a token) never is.
    callback_headers: ClassVar[tuple[str, ...]] = ()
    # whether a response's ``gateway_txn_id`` names one payment, so that the same id on responses to two
    # merchant references is flagged SHARED_TRANSACTION; False for an id that payments can share (an
    # issuer's authorisation code)
    txn_ids_unique: ClassVar[bool] = True

    @classmethod
    def payment_of(cls, dedupe_key: str, status: str, gateway_txn_id: str) -> str:
        """The payment a response that took money is about, for the check that one payment answers one
        merchant reference (SHARED_TRANSACTION): its gateway transaction, unless the provider files
        several payments under one (PayPal: the captures of one authorization)."""
        return gateway_txn_id

    def __init__(self, instance: str, settings: Mapping[str, object], config: Config) -> None:
        self.instance = instance  # the configured gateway name (the provider name when not configured)
        self.options = settings
        self.config = config

    def identify(self, source: Source) -> bool:
        raise NotImplementedError

    def near_miss(self, source: Source) -> str | None:
        """Why a source this provider did not claim looks meant for it (a column renamed in a bank's
        export, a typo in the configuration), for the refusal that no provider claimed it; None when
        it does not look so. Optional: the default says nothing."""
        return None

    def elsewhere(self, source: Source) -> bool:
        """Whether a source this provider claims names an account other than this gateway's (another
        Nexi alias, PayPal receiver, Skrill merchant). With two gateways of one provider configured (a
        shop's web and phone terminals), the one a message is for takes it; a message every claimant
        calls another's, or none names, is still refused. Optional: the default says nothing (Stripe,
        whose events name no account of the shop's, and settlement reports)."""
        return False

    def extract(self, source: Source) -> Iterator[Record]:
        raise NotImplementedError

    def reinterpret(self, origin: Origin) -> Record:
        """Interpret one stored message again; by default it cannot be: ``paycli reprocess`` then leaves
        the provider's messages as they were read, a quarantined one quarantined."""
        return QuarantinedRecord(origin, f"provider {self.name} cannot reinterpret a stored message")

    def secrets_configured(self) -> dict[str, int]:
        """Each secret setting and how many values it holds (0: none; more than 1: the current one and
        earlier ones still accepted); never a value."""
        from paycli.config import Secret

        counts = {}
        for key, setting in self.settings.items():
            if setting.kind is Secret:
                value = self.options.get(key)
                counts[key] = (value.count if isinstance(value, Secret) else 1) if value else 0
        return counts
