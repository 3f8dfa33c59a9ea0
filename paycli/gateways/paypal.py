"""PayPal IPN (Instant Payment Notification) bodies: what PayPal POSTs to the shop's notify URL.

The same provider reads PayPal's Settlement Report (STL) files: ``paycli/gateways/paypal_stl.py``, to which
identify, extract and reinterpret hand a file (or a stored line) that is one.

What PayPal sends (gateway-formats.md section 1.1; sources: PayPal IPN Guide 2009 and 2012, IPN Manual 2004,
paypal/ipn-code-samples @450f5d97, spookylukey/django-paypal @5d09973c):

- an ``application/x-www-form-urlencoded`` POST, ``name=value&...``, whose ``charset`` field names the
  encoding of the percent-escaped bytes (``windows-1252`` in the guide's sample, ``UTF-8`` selectable);
- ``txn_id`` (the PayPal transaction; the same for Pending then Completed), ``payment_status``,
  ``pending_reason`` / ``reason_code``, ``mc_gross`` (a signed decimal with a dot, negative for a refund
  or reversal) and ``mc_currency``, ``payment_date`` (``03:12:45 May 14, 2024 PDT``), the merchant's
  pass-through fields ``invoice``, ``custom`` and ``item_number``, ``receiver_email``, ``test_ipn`` (1 in
  the sandbox), ``resend`` (``true`` on a re-send), ``ipn_track_id`` (unique per message) and
  ``verify_sign``. A refund or reversal carries a new ``txn_id`` and ``parent_txn_id`` = the original.

Accepted shapes: the bare body, the body with a ``.headers`` sidecar, a raw HTTP request dump, and a GET
whose query string holds the fields (PayPal itself only POSTs; a GET is read the same way).

What paycli makes of it (one record per file):

- ``payment_status`` Completed/Processed -> approved; Pending/Created -> pending (``raw_status`` keeps
  the reason: ``Pending (echeck)``); Denied/Failed/Expired/Voided -> refused; Refunded -> refunded;
  Reversed -> reversed; Canceled_Reversal (older spelling Canceled-Reversal) -> unknown: the formats
  document says VERIFICARE, the money came back after a chargeback, and only a person can tell what that
  means for the request; anything else -> unknown with the raw word. A ``txn_type`` ``adjustment`` (a
  dispute closed, its payment_status Completed) is an event of its parent: reversed when money was
  taken back (``mc_gross`` negative, a chargeback settled), else unknown. A message without
  ``payment_status`` (``subscr_signup``, a dispute's ``new_case``, ...) and a ``masspay`` (the shop's
  own payouts) are kept as informational messages.
- ``reference`` = the configured ``reference_field`` (``invoice`` by default, or ``custom``,
  ``item_number``; for a cart, which numbers its items instead, ``item_number1``, ... when they name
  one). A payment message without it is quarantined, so that ``paycli reprocess`` reads it again after
  the setting is fixed. A refund, reversal, canceled reversal or adjustment without it that names its
  ``parent_txn_id`` is a response without a reference: ingest gives it the reference of the payment's
  responses, whenever they arrive (the formats document does not say a refund repeats the invoice).
- ``dedupe_key`` = ``txn_id`` + ``payment_status`` (design.md 3.1). Nothing that varies between re-sends
  (``resend``, ``ipn_track_id``, ``verify_sign``, the field order) enters the key, the amount, the currency
  or the reference, so a re-send is the same response delivered again.
- ``gateway_txn_id`` = ``txn_id``, except for a refund, a reversal, a canceled reversal and an
  adjustment, where it is ``parent_txn_id``: those messages are events of the original payment, not a
  second transaction; and
  for a message of an authorization (``auth_id``, Authorization & Capture Integration Guide 2006, table
  C.21: sent with the authorization, its capture and its void), where it is ``auth_id``: the Pending
  (authorization) IPN and the Completed IPN of its capture are one payment on its way, and a capture's own
  ``txn_id`` is kept as an alias, for the settlement line that names it. An authorization (or an order)
  captured more than once is not one payment answering several invoices: each capture is a payment of
  its own (``payment_of``), which may carry the invoice of another request.
- ``amount_minor`` from ``mc_gross`` (signed), ``currency`` from ``mc_currency``; ``occurred_at`` from
  ``payment_date`` (PST/PDT, GMT/UTC).

Authenticity. IPN has no signature: PayPal's check is a postback of the unaltered message, which answers
``VERIFIED`` or ``INVALID``, and an offline tool cannot make it. So a message is ``unverifiable`` unless
the postback's answer was recorded beside it, in the ``.headers`` sidecar, as the line::

    X-Paycli-Postback: VERIFIED        (or INVALID)

The receiver that did the postback writes that line; it must drop any incoming request header of that
name first, since a forger can send it. For the same reason the line is read only from the sidecar, never
from the header block of a raw HTTP dump (which holds what the sender sent). Then:

- ``INVALID`` -> invalid;
- a ``receiver_email`` that is not the configured one (case-insensitive; several addresses may be
  configured, separated by commas) -> invalid: PayPal verifies any genuine IPN, including one of a
  payment to someone else's account with the shop's invoice number, so a verified message for another
  merchant is a forgery or a misrouted message and must never make a request POSITIVO;
- ``test_ipn=1`` -> invalid unless ``accept_sandbox`` is set: sandbox money is not money, and a test shop
  whose notify URL points at production must not mark real requests as paid; the raw status is marked
  `` [sandbox]`` either way;
- ``VERIFIED`` with a matching configured ``receiver_email`` -> valid; ``VERIFIED`` with no
  ``receiver_email`` configured -> unverifiable (the genuine-but-for-someone-else case cannot be ruled
  out); no recorded answer -> unverifiable.

Charset. Percent-escapes are decoded to bytes, then read with the message's own ``charset``. A charset
Python does not know, or bytes that are not valid in it, are read as windows-1252 (PayPal's default) with
a notice, but only when every field paycli relies on is plain ASCII, so the choice of decoding cannot
change them; otherwise the message is quarantined.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import ClassVar
from urllib.parse import parse_qsl

from paycli.config import Setting, check_address_text
from paycli.errors import RecordError
from paycli.gateways import paypal_stl
from paycli.gateways.base import (
    InfoRecord,
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
)
from paycli.gateways.callback import (
    Callback,
    callback_origin,
    from_origin,
    header_fields,
    read_callback,
    shown,
)
from paycli.money import normalise_currency, parse_amount
from paycli.outcome import Authenticity, Status

POSTBACK_HEADER = "x-paycli-postback"
DEFAULT_CHARSET = "windows-1252"  # the guide's sample, and PayPal's default for accounts that never chose
REFERENCE_FIELDS = ("invoice", "custom", "item_number")

# The canonical spelling of each payment_status, and what it means (gateway-formats.md 1.1 table).
_STATUSES: Mapping[str, tuple[str, Status]] = {
    "completed": ("Completed", Status.APPROVED),
    "processed": ("Processed", Status.APPROVED),
    "pending": ("Pending", Status.PENDING),
    "created": ("Created", Status.PENDING),  # German ELV via Express Checkout: not final (UNCONFIRMED)
    "denied": ("Denied", Status.REFUSED),
    "failed": ("Failed", Status.REFUSED),
    "expired": ("Expired", Status.REFUSED),
    "voided": ("Voided", Status.REFUSED),
    "refunded": ("Refunded", Status.REFUNDED),
    "reversed": ("Reversed", Status.REVERSED),
    # funds returned to the merchant after a chargeback: the doc says VERIFICARE, a person decides
    "canceled_reversal": ("Canceled_Reversal", Status.UNKNOWN),
    "canceled-reversal": ("Canceled_Reversal", Status.UNKNOWN),
}
_CART_ITEM = re.compile(r"item_number[1-9][0-9]*")
# Events of an earlier payment: parent_txn_id names it, txn_id is a new id (IPN Guide 2012 p.43). An
# ``adjustment`` (txn_type) is a dispute closed (IPN Guide 2009 p.41), its payment_status Completed.
ADJUSTMENT = "Adjustment"
_FOLLOW_UPS = frozenset({"Refunded", "Reversed", "Canceled_Reversal", ADJUSTMENT})
# Every field whose value decides what a message means: these must read the same whatever the charset.
_IDENTITY_FIELDS = (
    "txn_id",
    "parent_txn_id",
    "auth_id",
    "payment_status",
    "pending_reason",
    "reason_code",
    "mc_gross",
    "mc_currency",
    "payment_gross",
    "receiver_email",
    "business",
    "test_ipn",
    *REFERENCE_FIELDS,
)
# Names only PayPal's IPN uses (Skrill says mb_amount, Nexi importo, Stripe is JSON).
_PAYPAL_NAMES = frozenset(
    {"txn_id", "receiver_email", "ipn_track_id", "notify_version", "mc_gross", "mc_currency", "payer_id"}
)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_BROKEN_ESCAPE = re.compile(rb"%(?:[0-9A-Fa-f]?)$")
_PAYMENT_DATE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}) ([A-Za-z]{3})\.? (\d{1,2}), (\d{4}) ([A-Za-z]{3,4})$")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_ZONES = {"PST": -8, "PDT": -7, "GMT": 0, "UTC": 0}


@dataclass(frozen=True)
class _Form:
    fields: dict[str, str]
    charset: str  # the codec the values were read with
    fallback: str | None  # why the declared charset was not used, when it was not


class PayPalProvider(Provider):
    name = "paypal"
    callback_methods = ("POST",)  # IPN is always a POST (gateway-formats.md 1.1)
    description = "PayPal IPN (Instant Payment Notification) bodies and Settlement Reports (STL)"
    reads = (
        "IPN form-encoded body (bare, with a .headers sidecar, or a raw HTTP dump)",
        "postback answer recorded as 'X-Paycli-Postback: VERIFIED|INVALID' in the sidecar",
        "Settlement Report (STL) CSV: each SB row a settlement line",
    )
    settings: ClassVar[Mapping[str, Setting]] = {
        "receiver_email": Setting(
            str,
            check=check_address_text,
            help="the shop's PayPal e-mail (several separated by commas); an IPN for another "
            "receiver is treated as forged (authenticity invalid)",
        ),
        "reference_field": Setting(
            str,
            default="invoice",
            choices=REFERENCE_FIELDS,
            help="the IPN field that carries the request's txn_id (in a settlement report: invoice is "
            "the Invoice ID column, custom the Custom Field column)",
        ),
        "accept_sandbox": Setting(
            bool,
            default=False,
            help="accept sandbox IPNs (test_ipn=1) as genuine; off in production",
        ),
    }

    @classmethod
    def payment_of(cls, dedupe_key: str, status: str, gateway_txn_id: str) -> str:
        """An approval is the payment of its own ``txn_id`` (its dedupe key's): a capture is filed under
        its authorization, which may be captured more than once (partial captures; an order's several
        authorizations, each capture naming the order in ``auth_id``), every capture a payment of its
        own, each with the invoice the shop gave it. A refund or reversal is an event of the payment its
        ``parent_txn_id`` names, its gateway transaction."""
        if status == Status.APPROVED.value:
            return dedupe_key.rpartition(":")[0] or gateway_txn_id
        return gateway_txn_id

    # -- settings ------------------------------------------------------------------------------
    @property
    def _reference_field(self) -> str:
        value = str(self.options.get("reference_field") or "invoice")
        return value if value in REFERENCE_FIELDS else "invoice"

    @property
    def _receivers(self) -> frozenset[str]:
        value = self.options.get("receiver_email")
        if not isinstance(value, str):
            return frozenset()
        return frozenset(e.strip().casefold() for e in value.split(",") if e.strip())

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        if paypal_stl.identify(source.head):
            return True
        callback = read_callback(source)
        if callback is None or not _looks_form_encoded(callback):
            return False
        try:
            names = {k for k, _ in parse_qsl(_form_bytes(callback).decode("ascii"), keep_blank_values=True)}
        except ValueError:
            return False
        if not names & {"payment_status", "txn_type"}:
            return False
        # verify_sign is in every IPN; without it (a body cut short) two other PayPal names decide
        return "verify_sign" in names or len(names & _PAYPAL_NAMES) >= 2

    def elsewhere(self, source: Source) -> bool:
        receivers = self._receivers
        callback = read_callback(source)
        if not receivers or callback is None or paypal_stl.identify(source.head):
            return False
        posted = callback.fields("latin-1")
        receiver = posted.get("receiver_email", "").strip() or posted.get("business", "").strip()
        return bool(receiver) and receiver.casefold() not in receivers

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        if paypal_stl.identify(source.head):
            yield from self._settlement_report().extract(source)
            return
        origin = callback_origin(source, "paypal: larger than 64 KiB, so not an IPN message")
        record, notices = self._interpret(origin)
        for message in notices:
            yield Notice(f"{source.name}: paypal: {message}")
        yield record

    def reinterpret(self, origin: Origin) -> Record:
        if origin.line is not None:  # a line of a settlement report; an IPN is a whole file, without one
            return self._settlement_report().reinterpret(origin)
        return self._interpret(origin)[0]

    def _settlement_report(self) -> paypal_stl.SettlementReport:
        return paypal_stl.SettlementReport(self._reference_field)

    # -- one message ---------------------------------------------------------------------------
    def _interpret(self, origin: Origin) -> tuple[Record, list[str]]:
        notices: list[str] = []

        def quarantine(reason: str) -> tuple[Record, list[str]]:
            return QuarantinedRecord(origin, f"paypal: {reason}"), notices

        callback = from_origin(origin)
        if callback.damage is not None:  # a dump whose body is cut short, or badly chunked
            return quarantine(callback.damage)
        if not _looks_form_encoded(callback):
            return quarantine("not a form-encoded IPN body")
        data = _form_bytes(callback)
        if _BROKEN_ESCAPE.search(data):
            return quarantine("the body ends inside a %-escape: truncated")
        form, problem = _decode_form(data)
        if form is None:
            return quarantine(problem or "cannot read the body")
        if form.fallback:
            notices.append(f"{form.fallback}; read as {form.charset}")
        f = form.fields
        reference_field = self._reference_field
        reference = f.get(reference_field, "").strip() or None
        if reference is None and reference_field == "item_number":
            # a cart payment numbers its items instead (item_number1, item_number2, ...: IPN Manual 2004)
            numbers = sorted({v.strip() for k, v in f.items() if _CART_ITEM.fullmatch(k) and v.strip()})
            if len(numbers) > 1:
                return quarantine(
                    f"a cart whose items name {len(numbers)} item numbers: which is the request's? "
                    "(check gateways.paypal.reference_field: invoice or custom name one per payment)"
                )
            reference = numbers[0] if numbers else None
        status_word = f.get("payment_status", "").strip()
        txn_type = f.get("txn_type", "").strip()
        if not status_word or txn_type == "masspay":
            # no outcome of a payment request: a subscription event, a dispute case, the shop's payouts
            if "verify_sign" not in f:
                return quarantine("neither payment_status nor verify_sign: not a complete IPN")
            case = f.get("case_type", "").strip()
            note = f"PayPal IPN {_shown(txn_type) or 'without txn_type'}" + (
                f" ({_shown(case)})" if case else ""
            )
            note += f", payment_status {_shown(status_word)}" if status_word else ", no payment_status"
            # a dispute case names the payment disputed by its txn_id, often without invoice or custom
            about = f.get("txn_id", "").strip() or None
            # a dispute case is dated by case_creation_date, in payment_date's form
            field = "case_creation_date" if f.get("case_creation_date", "").strip() else "payment_date"
            when = _dated(f, field, about, notices)
            return InfoRecord(origin, reference, note, gateway_txn_id=about, occurred_at=when), notices

        missing = [n for n in ("txn_id", "verify_sign") if not f.get(n, "").strip()]
        if missing:
            hint = " (truncated body?)" if "verify_sign" in missing else ""
            return quarantine(f"missing {', '.join(missing)}{hint}")
        txn_id = f["txn_id"].strip()
        canonical, status = _STATUSES.get(status_word.casefold(), (status_word, Status.UNKNOWN))
        if txn_type == "adjustment":
            # a dispute closed: "Completed" says the money moved, not that a payment was approved
            canonical = ADJUSTMENT
        parent = f.get("parent_txn_id", "").strip()
        if reference is None and not (canonical in _FOLLOW_UPS and parent):
            # a refund or reversal without it is an event of its parent: it takes the parent's reference
            return quarantine(
                f"no {reference_field} in the IPN of txn {_shown(txn_id)}: the request cannot be found "
                f"(check gateways.paypal.reference_field)"
            )

        try:
            amount, currency = _amount(f)
        except RecordError as exc:
            return quarantine(str(exc))
        if canonical == ADJUSTMENT:
            # money taken back (a chargeback settled: mc_gross negative) is a reversal of the payment;
            # money given back to the merchant, or none said, is for a person to read, as Canceled_Reversal
            status = Status.REVERSED if amount is not None and amount < 0 else Status.UNKNOWN
        if amount is None and status in (Status.APPROVED, Status.PENDING, Status.REFUNDED, Status.REVERSED):
            # an approval without an amount would skip the amount check: never accept one
            return quarantine(f"missing mc_gross or mc_currency for payment_status {_shown(canonical)}")

        gateway_txn_id, aliases = txn_id, tuple[str, ...]()
        if canonical in _FOLLOW_UPS:
            gateway_txn_id = parent or txn_id
        elif auth_id := f.get("auth_id", "").strip():
            # a capture (its own txn_id) or a void of an authorization: one payment with the authorization's
            # Pending IPN, which a settlement line may name by the capture's id
            gateway_txn_id = auth_id
            aliases = (txn_id,) if txn_id != auth_id else ()

        raw_status = status_word
        detail = f.get("pending_reason" if status == Status.PENDING else "reason_code", "").strip()
        if detail:
            raw_status += f" ({detail})"
        if canonical == ADJUSTMENT:
            raw_status = f"adjustment: {raw_status}"
        sandbox = f.get("test_ipn", "").strip() == "1"
        if sandbox:
            raw_status += " [sandbox]"

        authenticity = self._authenticity(origin, f, txn_id, sandbox, notices)
        return (
            ResponseRecord(
                origin,
                reference=reference,
                dedupe_key=f"{txn_id}:{canonical}",
                status=status,
                raw_status=raw_status,
                authenticity=authenticity,
                amount_minor=amount,
                currency=currency,
                gateway_txn_id=gateway_txn_id,
                occurred_at=_dated(f, "payment_date", txn_id, notices),
                aliases=aliases,
            ),
            notices,
        )

    def _authenticity(
        self, origin: Origin, f: Mapping[str, str], txn_id: str, sandbox: bool, notices: list[str]
    ) -> Authenticity:
        receivers = self._receivers
        receiver = (f.get("receiver_email", "").strip() or f.get("business", "").strip()).casefold()
        if receivers and receiver not in receivers:
            notices.append(
                f"IPN of txn {_shown(txn_id)} is for receiver '{_shown(receiver) or '(none)'}', not a configured "
                "receiver_email: authenticity invalid"
            )
            return Authenticity.INVALID
        if sandbox and not self.options.get("accept_sandbox"):
            notices.append(
                f"IPN of txn {_shown(txn_id)} is a sandbox message (test_ipn=1): authenticity invalid "
                "(set accept_sandbox to accept it)"
            )
            return Authenticity.INVALID
        answer, odd = _postback_answer(origin.headers)
        if odd:
            notices.append(
                f"IPN of txn {_shown(txn_id)}: the sidecar's X-Paycli-Postback says "
                f"{', '.join(repr(_shown(v)) for v in odd)}, not VERIFIED or INVALID: read as no answer"
            )
        if answer == "INVALID":
            return Authenticity.INVALID
        if answer == "VERIFIED":
            if receivers:
                return Authenticity.VALID
            notices.append(
                f"IPN of txn {_shown(txn_id)}: postback VERIFIED, but no receiver_email is configured to "
                "check it was paid to this shop: unverifiable"
            )
        return Authenticity.UNVERIFIABLE


# -- helpers ---------------------------------------------------------------------------------------
def _looks_form_encoded(callback: Callback) -> bool:
    content_type = callback.content_type
    if content_type and content_type != "application/x-www-form-urlencoded" and callback.method != "GET":
        return False
    data = _form_bytes(callback)
    if not data or data[:1] in (b"{", b"[", b"<") or b"=" not in data:
        return False
    # one line of name=value pairs: no control bytes, no line breaks inside
    return not any(b < 0x20 or b == 0x7F for b in data)


def _form_bytes(callback: Callback) -> bytes:
    """The form data: a GET's query string, else the body, without the blanks a saved file may add."""
    # a raw byte (a hand-saved file, a logger that unescaped) is read with the charset like an escape
    return _HIGH_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], callback.form_data())


def _decode_form(data: bytes) -> tuple[_Form | None, str | None]:
    """The fields read with the message's charset, or None and the reason."""
    text = data.decode("ascii")
    try:
        declared = dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1")).get("charset", "")
    except ValueError as exc:
        return None, f"not a form-encoded body ({exc})"
    declared = declared.strip()
    label = declared or DEFAULT_CHARSET
    fallback: str | None = None
    try:
        "".encode(label)
        b"".decode(label)  # a codec name that is not a text encoding (base64, rot13) fails here
    except (LookupError, UnicodeError):  # undefined: a plain UnicodeError
        fallback = f"unknown charset '{_shown(declared)}'"
    pairs: list[tuple[str, str]] | None = None
    if fallback is None:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, encoding=label, errors="strict")
        except UnicodeDecodeError:
            fallback = f"bytes not valid in the declared charset '{_shown(label)}'"
        except ValueError as exc:
            return None, f"not a form-encoded body ({exc})"
    if pairs is None:
        label = DEFAULT_CHARSET
        pairs = parse_qsl(text, keep_blank_values=True, encoding=label, errors="replace")
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields and fields[name] != value and name in _IDENTITY_FIELDS:
            return None, f"field {name} appears twice with different values"
        fields[name] = value
    if fallback is not None:
        unreadable = [n for n in _IDENTITY_FIELDS if n in fields and not fields[n].isascii()]
        if unreadable:
            return None, f"{fallback}, and {', '.join(unreadable)} is not ASCII: cannot be read safely"
    return _Form(fields, label, fallback), None


def _amount(f: Mapping[str, str]) -> tuple[int | None, str | None]:
    """``mc_gross`` (signed: negative for a refund) in minor units of ``mc_currency``; RecordError names
    the field."""
    gross_field, gross = "mc_gross", f.get("mc_gross", "").strip()
    currency_text = f.get("mc_currency", "").strip()
    if not gross and f.get("payment_gross", "").strip():
        # the legacy USD-only field (empty for non-USD payments, IPN Guide 2012 p.47)
        gross_field, gross = "payment_gross", f["payment_gross"].strip()
        currency_text = currency_text or "USD"
    if not gross or not currency_text:
        return None, None
    try:
        currency = normalise_currency(currency_text)
    except RecordError as exc:
        raise RecordError(f"mc_currency: {exc}") from exc
    try:
        return parse_amount(gross, currency, allow_negative=True), currency
    except RecordError as exc:
        raise RecordError(f"{gross_field}: {exc}") from exc


def _shown(text: str) -> str:
    return shown(text, 60)


def _dated(f: Mapping[str, str], field: str, txn_id: str | None, notices: list[str]) -> datetime | None:
    """The gateway's time in ``field`` (``payment_date``'s form), said when it is there but unreadable:
    without it the message has no gateway time, and the trail orders it by when it was received."""
    text = f.get(field, "").strip()
    when = _payment_date(text)
    if text and when is None:
        notices.append(
            f"IPN of txn {_shown(txn_id or '(none)')}: {field} '{_shown(text)}' is not PayPal's "
            "'HH:MM:SS Mon DD, YYYY PST' (or PDT): kept, the message dated by its arrival"
        )
    return when


def _payment_date(text: str) -> datetime | None:
    """``HH:MM:SS Mmm DD, YYYY PDT`` as aware UTC; None when it says nothing readable."""
    m = _PAYMENT_DATE.match(text.strip())
    if m is None:
        return None
    hour, minute, second, month, day, year, zone = m.groups()
    month_number = _MONTHS.get(month.lower())
    offset = _ZONES.get(zone.upper())
    if month_number is None or offset is None:
        return None
    try:
        local = datetime(
            int(year),
            month_number,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(timedelta(hours=offset)),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):  # Feb 30; the last hours of year 9999, past UTC's calendar
        return None


def _postback_answer(sidecar: str | None) -> tuple[str | None, list[str]]:
    """VERIFIED or INVALID as the receiver recorded it in the sidecar, None when not (or ambiguously);
    and the values it recorded that are neither, as they were written."""
    if not sidecar:
        return None, []
    answers = set()
    odd: list[str] = []
    for name, value in header_fields(sidecar):
        if name == POSTBACK_HEADER:
            answers.add(value.upper())
            if value.upper() not in ("VERIFIED", "INVALID"):
                odd.append(value)
    if "INVALID" in answers:
        return "INVALID", odd
    if answers == {"VERIFIED"}:
        return "VERIFIED", odd
    return None, odd
