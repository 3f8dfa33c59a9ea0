"""Skrill (Moneybookers) Quick Checkout: the ``status_url`` post.

Skrill posts a form-encoded body to the merchant's ``status_url`` every time a payment changes status
(pending 0, processed 2, cancelled -1, failed -2, chargeback -3), and again until it gets HTTP 200.
Fields, statuses and the signature are described in /work/shared/gateway-formats.md section 3, whose
sources are the Skrill/Paysafe pages "Appendix D: MD5 Signature"
(https://docs.paysafe.com/docs/digital-wallets/quick-checkout/md5) and "Payout status notification"
(https://docs.paysafe.com/docs/digital-wallets/unlinked-merchant-bank-payouts/payout-status-notification),
xaerobiont/php-skrill-quick-checkout ``src/StatusResponse.php`` @e7d44f4b and zba/dtc
``client/moneybookers.php``.

- ``transaction_id`` is the merchant reference (the request's txn_id; formats doc 8.3), and
  ``mb_transaction_id`` Skrill's own id. One response is ``mb_transaction_id`` + ``status``
  (design.md 3.1).
- Authenticity: ``md5sig`` = upper-case MD5 of ``merchant_id + transaction_id + UPPER(MD5(secret word))
  + mb_amount + mb_currency + status``, each value exactly as posted; ``sha2sig`` (optional, off by
  default at Skrill) is the same string hashed with SHA-256. Both are checked when present, in constant
  time. A ``merchant_id`` (or ``pay_to_email``) other than the configured one makes the post invalid,
  and ingest says why. A post without either digest, or with one that is not a whole hex digest, is
  quarantined as cut short: Skrill signs every post.
- The amount compared with the request is ``amount``/``currency``, "as in the merchant's request":
  ``mb_amount``/``mb_currency`` are in the currency of the merchant's Skrill wallet, which may differ
  from the currency the shop charged in (Skrill converts). But ``amount``/``currency`` are NOT covered by
  the signature, so when both sides are in the same currency the unsigned amount must equal the signed
  ``mb_amount``, or the post is treated as tampered (authenticity invalid); in another currency the
  signature does not vouch for the amount compared, and a post that passes its check is unverifiable
  (design.md 3.4: ``require_verified: true`` then has a person look at each).

A Skrill post carries no time of its own, so ``occurred_at`` is left empty.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping
from typing import ClassVar

from paycli.config import Secret, Setting, SettingProblem, check_one_address_text
from paycli.errors import RecordError
from paycli.gateways.base import (
    RAW_STATUS_LIMIT,
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
)
from paycli.gateways.callback import (
    MAX_CALLBACK_BYTES,
    Callback,
    callback_origin,
    from_origin,
    read_callback,
    shown,
)
from paycli.money import normalise_currency, parse_amount
from paycli.outcome import Authenticity, Status

# Skrill's ``status`` values (formats doc section 3; xaerobiont StatusResponse.php constants).
STATUSES: Mapping[str, Status] = {
    "2": Status.APPROVED,  # processed
    "0": Status.PENDING,  # pending, e.g. a bank transfer not yet arrived
    "-1": Status.REFUSED,  # cancelled by the customer
    "-2": Status.REFUSED,  # failed (failed_reason_code says why)
    "-3": Status.REVERSED,  # chargeback, after a 2
}


def _digits(value: str) -> str:
    if not value.strip().isdecimal() or not value.strip().isascii():
        # a post always names a number: any other value would make every post invalid
        raise SettingProblem("", f"must be the numeric merchant id Skrill shows, got '{value}'")
    return value.strip()


# Without these a post cannot be signed-checked nor linked: it is quarantined, not guessed.
REQUIRED = ("merchant_id", "transaction_id", "mb_transaction_id", "mb_amount", "mb_currency", "status")
# The form content types a Skrill post can come with; none at all for a bare body without headers.
_FORM_TYPES = ("", "application/x-www-form-urlencoded")
FALLBACK_ENCODING = "cp1252"


class SkrillProvider(Provider):
    name = "skrill"
    callback_methods = ("POST",)  # the status_url is POSTed
    description = "Skrill Quick Checkout status_url posts (formats doc section 3)"
    reads = (
        "status_url post: the bare form body, with an optional .headers sidecar",
        "a raw HTTP request dump of the post",
    )
    settings: ClassVar[Mapping[str, Setting]] = {
        "merchant_id": Setting(
            str,
            check=_digits,
            help="your numeric Skrill merchant id; a post naming another merchant_id is invalid",
        ),
        "secret_word": Setting(
            Secret,
            earlier=True,
            help="the secret word of Settings > Developer Settings, used to check md5sig and sha2sig; "
            "without it posts are unverifiable; a list: the current word, then earlier ones still accepted "
            "(a word being changed)",
        ),
        "pay_to_email": Setting(
            str,
            check=check_one_address_text,
            help="optional: your Skrill account e-mail; when set, a post paying another account is invalid",
        ),
    }

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        callback = read_callback(source)
        if callback is None or callback.content_type not in _FORM_TYPES:
            return False
        data = callback.form_data()
        if b"\x00" in data:
            return False
        # ``mb_transaction_id`` is Skrill's own field name (the "mb" of Moneybookers): no other gateway
        # nor the shop's CSV has it. A post cut short after it is still Skrill's, and is quarantined
        # by extract with the missing fields named.
        return "mb_transaction_id" in callback.raw_fields()

    def elsewhere(self, source: Source) -> bool:
        callback = read_callback(source)
        if callback is None:
            return False
        posted = callback.fields("latin-1")
        merchant_id = str(self.options.get("merchant_id") or "").strip()
        pay_to = str(self.options.get("pay_to_email") or "").strip()
        return bool(merchant_id and posted.get("merchant_id", "").strip() not in ("", merchant_id)) or bool(
            pay_to and posted.get("pay_to_email", "").strip().lower() not in ("", pay_to.lower())
        )

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        refusal = f"larger than {MAX_CALLBACK_BYTES // 1024} KiB: not a Skrill status_url post"
        notices: list[str] = []
        record = self._read(callback_origin(source, refusal), notices)
        yield from (Notice(message) for message in notices)
        yield record

    def reinterpret(self, origin: Origin) -> Record:
        return self._read(origin, [])

    def _read(self, origin: Origin, notices: list[str]) -> Record:
        try:
            return self._interpret(origin, notices)
        except RecordError as exc:
            return QuarantinedRecord(origin, f"{self.name}: {exc}")

    # -- one post ------------------------------------------------------------------------------
    def _interpret(self, origin: Origin, notices: list[str]) -> Record:
        if len(origin.raw) > MAX_CALLBACK_BYTES:
            raise RecordError(f"larger than {MAX_CALLBACK_BYTES // 1024} KiB: not a Skrill status_url post")
        callback = from_origin(origin)
        if callback.damage is not None:  # a dump whose body is cut short, or badly chunked
            raise RecordError(callback.damage)
        if callback.content_type not in _FORM_TYPES:
            raise RecordError(f"content type '{callback.content_type}' is not a Skrill form post")
        data = callback.form_data()
        if b"\x00" in data:
            raise RecordError("binary data, not a Skrill form post")
        _check_complete(callback, data)
        posted = callback.raw_fields()
        missing = [name for name in REQUIRED if not posted.get(name, b"").strip()]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise RecordError(f"not a complete Skrill post: missing field{plural} {', '.join(missing)}")
        _check_signature_fields(posted)
        charset = _charset(callback)
        text = {name: _decode(value, charset) for name, value in posted.items()}

        raw_status = text["status"].strip()
        status = STATUSES.get(raw_status, Status.UNKNOWN)
        mb_currency = _currency(text, "mb_currency")
        mb_amount = _amount(text, "mb_amount", mb_currency, status)
        amount, currency = mb_amount, mb_currency
        if text.get("amount", "").strip() and text.get("currency", "").strip():
            currency = _currency(text, "currency")
            amount = _amount(text, "amount", currency, status)

        mb_transaction_id = text["mb_transaction_id"].strip()
        why = self._forged(posted, text)
        if why is None and currency == mb_currency and amount != mb_amount:
            # amount/currency are outside the signature: in the same currency they must repeat the
            # signed mb_amount, or someone changed them.
            why = f"amount {text['amount'].strip()} is not the signed mb_amount {text['mb_amount'].strip()}"
        if why is not None:
            # said, so that the operator can tell a forgery from a setting to fix (merchant_id, the word)
            notices.append(f"skrill post {shown(mb_transaction_id)}: {why}: authenticity invalid")
        authenticity = Authenticity.INVALID if why is not None else self._checked()
        if authenticity is Authenticity.VALID and currency != mb_currency:
            # the signature vouches for mb_amount in the wallet's currency, not for the amount converted
            # back that is compared with the request: anybody who could change the post could change it
            authenticity = Authenticity.UNVERIFIABLE
        wording = raw_status
        reason = text.get("failed_reason_code", "").strip()
        if raw_status == "-2" and reason:
            # why it failed, for the operator (the outcome's detail); the key keeps the bare status
            wording = f"-2 (failed_reason_code {reason})"[:RAW_STATUS_LIMIT]
        return ResponseRecord(
            origin,
            reference=text["transaction_id"].strip(),
            dedupe_key=f"{mb_transaction_id}:{raw_status}",
            status=status,
            raw_status=wording,
            authenticity=authenticity,
            amount_minor=amount,
            currency=currency,
            gateway_txn_id=mb_transaction_id,
        )

    def _checked(self) -> Authenticity:
        """What a post that nothing shows forged is: valid when the secret word checked it."""
        secret = self.options.get("secret_word")
        return Authenticity.VALID if isinstance(secret, Secret) and secret else Authenticity.UNVERIFIABLE

    def _forged(self, posted: Mapping[str, bytes], text: Mapping[str, str]) -> str | None:
        """Why the post is not Skrill's for this shop (a reason for the operator), or None."""
        merchant_id = str(self.options.get("merchant_id") or "").strip()
        if merchant_id and text["merchant_id"].strip() != merchant_id:
            return f"for merchant_id {shown(text['merchant_id'].strip())}, not the configured {merchant_id}"
        pay_to = str(self.options.get("pay_to_email") or "").strip()
        if pay_to and text.get("pay_to_email", "").strip().lower() != pay_to.lower():
            return f"paid to {shown(text.get('pay_to_email', '').strip()) or '(none)'}, not the configured pay_to_email"
        secret = self.options.get("secret_word")
        if not isinstance(secret, Secret) or not secret:
            return None
        md5sig = posted.get("md5sig", b"").strip()
        sha2sig = posted.get("sha2sig", b"").strip()
        # A post signed with any word configured (the current one, or an earlier one still accepted
        # while the word is changed) is Skrill's; every word is checked, no early exit.
        ok = False
        for each in secret.reveal_all():
            ok |= _signed_with(each, posted, md5sig, sha2sig)
        return None if ok else "the signature does not match (a wrong secret_word, or not Skrill's)"


# -- helpers ---------------------------------------------------------------------------------------
def _signed_with(secret_word: str, posted: Mapping[str, bytes], md5sig: bytes, sha2sig: bytes) -> bool:
    """Whether every signature present (``md5sig``, ``sha2sig``) is the one ``secret_word`` makes."""
    word = hashlib.md5(secret_word.encode("utf-8")).hexdigest().upper().encode("ascii")
    # The values exactly as posted (bytes, after percent-decoding): the doc says to hash them so.
    signed = b"".join(
        (
            posted["merchant_id"],
            posted["transaction_id"],
            word,
            posted["mb_amount"],
            posted["mb_currency"],
            posted["status"],
        )
    )
    checks = []
    if md5sig:
        checks.append((md5sig, hashlib.md5(signed).hexdigest().upper().encode("ascii")))
    if sha2sig:
        checks.append((sha2sig, hashlib.sha256(signed).hexdigest().upper().encode("ascii")))
    # Every signature present must match; compare_digest over all of them, no early exit.
    ok = True
    for given, expected in checks:
        ok &= hmac.compare_digest(given.upper(), expected)
    return ok


def _check_complete(callback: Callback, data: bytes) -> None:
    """A body cut short (a full disk, a proxy's log limit) is quarantined, not read as what is left."""
    if re.search(rb"%[0-9A-Fa-f]?$", data):
        raise RecordError("the body ends inside a %-escape: truncated")
    length = (callback.header("content-length") or "").strip()
    if callback.method == "POST" and length.isdigit() and len(callback.body) < int(length):
        raise RecordError(
            f"the body has {len(callback.body)} bytes, its Content-Length says {length}: truncated"
        )


def _check_signature_fields(posted: Mapping[str, bytes]) -> None:
    """Skrill signs every post: one without md5sig (or sha2sig), or with a digest of the wrong shape, is a
    copy cut short or damaged, set aside as a Nexi body without its mac is. A digest of the right shape
    that does not match is a forgery, judged by ``_forged``."""
    md5sig = posted.get("md5sig", b"").strip()
    sha2sig = posted.get("sha2sig", b"").strip()
    if not md5sig and not sha2sig:
        raise RecordError(
            "no md5sig or sha2sig (Skrill signs every post): a copy cut short, or not from Skrill"
        )
    for name, value, digits in (("md5sig", md5sig, 32), ("sha2sig", sha2sig, 64)):
        if value and not re.fullmatch(rb"[0-9A-Fa-f]{%d}" % digits, value):
            raise RecordError(f"{name} is not {digits} hex digits: a copy cut short or damaged")


def _charset(callback: Callback) -> str | None:
    content_type = callback.header("content-type") or ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def _decode(value: bytes, charset: str | None) -> str:
    # Skrill does not name a charset (UNCONFIRMED): UTF-8, else Windows-1252 as the careful reading of
    # an older Moneybookers integration; a charset named in Content-Type wins.
    if charset:
        try:
            return value.decode(charset)
        except (LookupError, UnicodeError):  # punycode, undefined: a plain UnicodeError
            pass
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode(FALLBACK_ENCODING, errors="replace")


def _currency(text: Mapping[str, str], name: str) -> str:
    try:
        return normalise_currency(text[name])
    except RecordError as exc:
        raise RecordError(f"{name}: {exc}") from None


def _amount(text: Mapping[str, str], name: str, currency: str, status: Status) -> int:
    # A chargeback may be posted with a minus sign (UNCONFIRMED): it still concerns the payment's
    # amount, so keep its size. Any other negative amount is not a payment.
    try:
        minor = parse_amount(text[name], currency, allow_negative=status is Status.REVERSED)
    except RecordError as exc:
        raise RecordError(f"{name}: {exc}") from None
    return abs(minor)
