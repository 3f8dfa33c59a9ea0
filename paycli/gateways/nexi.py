"""Nexi XPay ("Pagamento semplice" / "Codice base") result notifications.

What Nexi sends (gateway-formats.md section 4): the same result parameters reach the merchant twice, as the
server-to-server POST to ``urlpost`` (a form-encoded body) and as the buyer's browser coming back to ``url``
(GET, the fields in the query string). paycli reads either, as a bare body, a body with a ``.headers`` sidecar
or a raw HTTP request dump (``paycli.gateways.callback``). The fields it uses:

- ``codTrans``: the merchant's payment code, which paycli's shop sends as the request's ``txn_id``;
- ``esito``: ``OK`` approved; ``KO``, ``ANNULLO`` (buyer cancelled), ``ERRORE`` (formal error in the call)
  refused; ``PEN`` pending; any other word is kept as an unknown status; for any but ``OK``, the gateway's
  word shown to the operator carries ``codiceEsito`` and ``messaggio`` too (``KO (20 Autorizzazione negata)``);
- ``importo``: an integer number of cents; ``divisa``: ``EUR`` (the API flows use the numeric ``978``);
- ``codAut``: the issuer's authorization code, empty unless authorized; ``data`` YYYYMMDD and ``orario``
  HHMMSS; ``alias``: the merchant profile;
- ``mac``: the hex digest of ``codTrans=…esito=…importo=…divisa=…data=…orario=…codAut=…`` followed by the
  MAC key, SHA-1 unless the merchant had Nexi switch it to SHA-256.

Sources, as the formats document cites them: NexiPayments/XPay ``pagamento-semplice/php/notifica.php`` and
``python/notifica.py`` @02e247b8 (the MAC string, the 200/500 answers); mlocati/nexi-xpay
``src/Entity/SimplePay/Callback/Data.php`` @a1afa8a7 (the fields, ``getFieldsForMac()``, GET and POST);
APSfurizon/pretix-xpay ``pretix_xpay/constants.py`` and ``payment.py`` @12bfb08ed776 (the ``esito`` values,
SHA-256 on request to Nexi's support).

The MAC is computed over the bytes as they arrived (after percent-decoding), as the official PHP sample
hashes ``$_REQUEST`` values: no decoding guess can then turn a genuine notification into a forged one.
Only the text shown to people (reference, authorization code) is decoded, as UTF-8 or else Windows-1252.
A MAC that does not match is a forgery (invalid); a message without one, as without any other of the seven
fields, was cut short or is not Nexi's, and is quarantined; so is one whose ``mac`` is not a whole hex
digest (40 digits for SHA-1, 64 for SHA-256: a copy cut inside it, or damaged), as Skrill's ``md5sig``
is. A whole digest of the other algorithm than ``mac_algorithm`` is quarantined too, with the setting to
change: every notification of the terminal would otherwise read as a forgery, and ``paycli reprocess``
reads them again once it is set.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from paycli.config import Secret, Setting
from paycli.errors import RecordError
from paycli.gateways.base import (
    RAW_STATUS_LIMIT,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
)
from paycli.gateways.callback import MAX_CALLBACK_BYTES, callback_origin, from_origin, read_callback, shown
from paycli.money import normalise_currency, parse_amount
from paycli.outcome import Authenticity, Status

# The fields of the MAC, in the order Nexi concatenates them (notifica.php; mlocati getFieldsForMac()).
MAC_FIELDS = ("codTrans", "esito", "importo", "divisa", "data", "orario", "codAut")
REQUIRED_FIELDS = (*MAC_FIELDS, "mac")
STATUSES: Mapping[str, Status] = {
    "OK": Status.APPROVED,
    "KO": Status.REFUSED,
    "ANNULLO": Status.REFUSED,  # the buyer cancelled on the payment page
    "ERRORE": Status.REFUSED,  # a formal error in the merchant's call: no payment was taken
    "PEN": Status.PENDING,
}
# The "Codice base" flow sends the alphabetic EUR; Nexi's API flows send the ISO 4217 numeric code. Only
# 978 is documented for Nexi (formats document 4 and 8.2), so only it is translated.
NUMERIC_CURRENCIES: Mapping[str, str] = {"978": "EUR"}
# UNCONFIRMED in the formats document: the zone of `data`/`orario`. Nexi's servers and its back office
# keep Italian time, so the careful reading is Europe/Rome, whatever zone the shop configures.
NEXI_ZONE = ZoneInfo("Europe/Rome")
_DIGITS = re.compile(rb"[0-9]+")
_HEX_DIGITS = {"sha1": 40, "sha256": 64}  # the length of a whole hex MAC by algorithm
_NAMES = {"sha1": "SHA-1", "sha256": "SHA-256"}
# Identify: `codTrans` is Nexi's own name; with one more of its result fields the body is a notification
# (or a damaged one, which is better quarantined as Nexi's with a reason than refused by everyone).
_OTHER_FIELDS = {b"esito", b"importo", b"divisa", b"mac", b"codAut", b"orario"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class NexiProvider(Provider):
    name = "nexi"
    description = "Nexi XPay (Codice base / Pagamento semplice) payment result notifications"
    reads = (
        "urlpost server-to-server notification: form-encoded POST body (bare, .headers sidecar, HTTP dump)",
        "browser return to url: GET query string (HTTP request dump)",
    )
    # the gateway transaction is ``codAut``, the issuer's authorization code: two payments may have the
    # same one, so it does not tell that one payment answered two requests
    txn_ids_unique = False
    settings: ClassVar[Mapping[str, Setting]] = {
        "mac_key": Setting(
            Secret,
            earlier=True,
            help="the MAC key (chiave segreta) of the XPay terminal; without it the MAC cannot be checked; "
            "a list: the current key, then earlier ones still accepted (a key being changed)",
        ),
        "mac_algorithm": Setting(
            str,
            default="sha1",
            choices=("sha1", "sha256"),
            help="the MAC hash: sha1 (Nexi's default) or sha256 (if Nexi's support enabled it)",
        ),
        "alias": Setting(
            str,
            help="the merchant alias (ALIAS_WEB_...); when set, a notification for another alias is "
            "quarantined instead of counted",
        ),
    }

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        head = source.head
        if len(head) >= MAX_CALLBACK_BYTES:
            return False  # a notification is a few hundred bytes
        if head.startswith(_UTF16_BOMS):
            # A notification re-saved as UTF-16 by an editor: claim it to say so, if it is one.
            return _looks_like_nexi(_utf16_to_ascii(head))
        callback = read_callback(source)
        if callback is None or callback.content_type in ("application/json", "text/xml", "application/xml"):
            return False
        return _looks_like_nexi(callback.form_data())

    def elsewhere(self, source: Source) -> bool:
        alias = self.options.get("alias")
        callback = read_callback(source)
        if not alias or callback is None:
            return False
        posted = callback.raw_fields().get("alias")
        return posted is not None and _text(posted) != alias

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        refusal = "larger than 64 KiB: not a Nexi notification, which is a few hundred bytes"
        yield self.reinterpret(callback_origin(source, refusal))

    def reinterpret(self, origin: Origin) -> Record:
        if origin.raw.startswith(_UTF16_BOMS):
            return QuarantinedRecord(
                origin,
                "nexi: the file is UTF-16 text, not the form data Nexi posts (re-saved by an editor?); "
                "the MAC was computed over the original bytes",
            )
        callback = from_origin(origin)
        try:
            if callback.damage is not None:
                raise RecordError(callback.damage)
            return self._record(origin, callback.raw_fields())
        except RecordError as exc:
            return QuarantinedRecord(origin, f"nexi: {exc}")

    # -- one notification ----------------------------------------------------------------------
    def _record(self, origin: Origin, fields: Mapping[str, bytes]) -> Record:
        missing = [name for name in REQUIRED_FIELDS if name not in fields]
        if missing:
            # The official sample answers 500 to a notification without all seven and the mac: Nexi never
            # sends one. A copy cut short, or a message not from Nexi, is set aside, not judged forged.
            raise RecordError(f"field{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
        for name in ("codTrans", "esito", "importo", "divisa", "data", "orario"):
            if not fields[name].strip():
                raise RecordError(f"field {name} is empty")
        mac = fields["mac"].strip()
        if not (len(mac) in _HEX_DIGITS.values() and all(c in b"0123456789abcdefABCDEF" for c in mac)):
            raise RecordError(
                f"mac is not a whole hex digest (40 digits for SHA-1, 64 for SHA-256; it has {len(mac)} "
                "characters): a copy cut short or damaged"
            )
        alias = self.options.get("alias")
        if alias and "alias" in fields and _text(fields["alias"]) != alias:
            return QuarantinedRecord(
                origin,
                f"nexi: alias '{shown(_text(fields['alias']))}' is not the configured alias '{alias}'",
            )
        reference = _text(fields["codTrans"])
        esito = _text(fields["esito"])
        cod_aut = _text(fields["codAut"])
        currency = _currency(fields["divisa"])
        importo = fields["importo"]
        if not _DIGITS.fullmatch(importo):
            raise RecordError(f"importo '{shown(_text(importo))}' is not a whole number of cents")
        amount = parse_amount(importo.decode("ascii"), currency, minor_units=True)
        occurred = _when(fields["data"], fields["orario"])
        key = "|".join(_text(fields[name]) for name in ("codTrans", "esito", "codAut", "data", "orario"))
        return ResponseRecord(
            origin,
            reference=reference,
            dedupe_key=key,
            status=STATUSES.get(esito, Status.UNKNOWN),
            raw_status=_wording(esito, fields)[:RAW_STATUS_LIMIT],
            authenticity=self._check_mac(fields),
            amount_minor=amount,
            currency=currency,
            # No Nexi transaction id in this flow: codTrans is the merchant's, so the authorization code
            # is what tells two approvals of one codTrans apart (double charge).
            gateway_txn_id=cod_aut or None,
            occurred_at=occurred,
        )

    def _check_mac(self, fields: Mapping[str, bytes]) -> Authenticity:
        key = self.options.get("mac_key")
        if not isinstance(key, Secret) or not key:
            return Authenticity.UNVERIFIABLE
        sent = fields["mac"].strip().lower()
        configured = "sha256" if self.options.get("mac_algorithm") == "sha256" else "sha1"
        if len(sent) != _HEX_DIGITS[configured]:
            other = "sha1" if configured == "sha256" else "sha256"
            raise RecordError(
                f"mac is a whole {_NAMES[other]} digest but mac_algorithm is {configured}: set "
                f"mac_algorithm: {other} for this terminal, then run paycli reprocess"
            )
        algorithm = hashlib.sha256 if configured == "sha256" else hashlib.sha1
        message = b"".join(name.encode() + b"=" + fields[name] for name in MAC_FIELDS)
        # The MAC of any key configured (the current one, or an earlier one still accepted while the
        # key is changed) makes it genuine; each compared in constant time, no early exit.
        matches = [
            hmac.compare_digest(algorithm(message + k.encode("utf-8")).hexdigest().encode("ascii"), sent)
            for k in key.reveal_all()
        ]
        return Authenticity.VALID if any(matches) else Authenticity.INVALID


# -- reading the form ------------------------------------------------------------------------------
def _looks_like_nexi(data: bytes) -> bool:
    names = {part.partition(b"=")[0] for part in data.split(b"&")}
    return b"codTrans" in names and bool(names & _OTHER_FIELDS)


def _utf16_to_ascii(head: bytes) -> bytes:
    try:
        return head.decode("utf-16").encode("ascii", "replace")
    except UnicodeDecodeError:
        return b""


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("cp1252", "replace")


def _wording(esito: str, fields: Mapping[str, bytes]) -> str:
    """``esito``, and for any other than OK the outcome code and message Nexi gives with it, for the
    operator: ``KO (20 Autorizzazione negata)``. Neither is read for the outcome (their values are not
    documented for certain: gateway-formats.md 4)."""
    if esito == "OK":
        return esito
    said = [
        "".join(c if c.isprintable() else "?" for c in _text(fields.get(name, b"")).strip())
        for name in ("codiceEsito", "messaggio")
    ]
    why = " ".join(part for part in said if part and part.casefold() != esito.casefold())
    return f"{esito} ({why})" if why else esito


def _currency(divisa: bytes) -> str:
    text = _text(divisa).strip()
    if text.isdigit():
        if text not in NUMERIC_CURRENCIES:
            raise RecordError(f"divisa '{shown(text)}' is a numeric currency code paycli does not know")
        return NUMERIC_CURRENCIES[text]
    return normalise_currency(text)


def _when(data: bytes, orario: bytes) -> datetime:
    text = _text(data).strip() + _text(orario).strip()
    try:
        # strptime alone would take "2024514" for 2024-05-14: the width is checked too.
        if len(text) != 14 or not text.isascii():
            raise ValueError(text)
        naive = datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise RecordError(f"data/orario '{shown(text)}' is not YYYYMMDD HHMMSS") from None
    return naive.replace(tzinfo=NEXI_ZONE, fold=0).astimezone(UTC)
