"""Axerve (Banca Sella) GestPay, standard payment page: its S2S calls and their decrypted results.

What the gateway sends (gateway-formats.md section 5): after a payment GestPay calls the shop's "URL
Server to Server" and redirects the buyer, both as a GET with two query parameters, ``a`` = the shop
login and ``b`` = an encrypted string [src: https://docs.gestpay.it/gs/how-gestpay-works.html;
gestpay/php-gestpay-starter ``response.php`` @a5af8811; sardbaba/gestpay-for-woocommerce @1f91b826].
``b`` means nothing until the shop sends it to the ``WSCryptDecrypt.Decrypt`` SOAP call, which answers
with the result as XML::

    <GestPayCryptDecrypt><TransactionType>DECRYPT</TransactionType><TransactionResult>OK</...>
    <ShopTransactionID>ORD-1</...><BankTransactionID>1049</...><Currency>242</...><Amount>59.00</...>...

[src: endelwar/GestPayWS ``src/Response/DecryptResponse.php``, ``tests/Response/DecryptResponseTest.php``
@8212a4b0]. This provider reads both:

- the decrypted result XML (bare, in an HTTP dump, or still inside the SOAP envelope of the Decrypt
  answer): ``TransactionResult`` OK -> approved, KO -> refused, XX -> pending (the result comes later by
  S2S, e.g. MyBank); ``ShopTransactionID`` is the merchant reference (the request's txn_id),
  ``BankTransactionID`` the gateway's transaction id, ``Amount`` a decimal with a dot, ``Currency``
  GestPay's own numeric code (242 = EUR), not ISO. A KO without ShopTransactionID and
  BankTransactionID is the Decrypt call failing (1142 "indirizzo IP non valido", 9999 "Errore di
  Sistema"), not a refused payment: it is kept as an informational message. An ENCRYPT answer (the
  same root element) is the shop's own payment-page request, not an outcome: informational too.
- the raw call ``?a=<shop_login>&b=<encrypted>`` (an HTTP dump or a bare query string): it carries no
  readable outcome, so it is kept in the trail as an informational message linked to nothing.

Authenticity: there is no signature a merchant can check; only Axerve can decrypt ``b``, and the
Decrypt call needs the network (design.md 3.4). Every response is therefore ``unverifiable``.
Dedupe key (design.md 3.1): BankTransactionID + TransactionResult; the reference (ShopTransactionID)
is already part of a response's identity in the pipeline.

XML is parsed with defusedxml only, with DTDs forbidden: an entity bomb or an external entity is
quarantined, never expanded or fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

from paycli.config import Setting
from paycli.errors import RecordError
from paycli.gateways.base import (
    RAW_STATUS_LIMIT,
    InfoRecord,
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
from paycli.money import parse_amount
from paycli.outcome import Authenticity, Status

ROOT = "GestPayCryptDecrypt"

# GestPay's currency codes ("UIC" codes), as endelwar/GestPayWS src/Data/Currency.php @8212a4b0 lists them
# (sardbaba/gestpay-for-woocommerce and activemerchant's Gestpay integration agree on the codes they
# share). 18 = ITL, the Italian lira, is in that table but was withdrawn in 2002: it is left out on
# purpose, so that such a result is quarantined with its code named instead of read as a live currency.
GESTPAY_CURRENCIES: Mapping[str, str] = {
    "1": "USD",
    "2": "GBP",
    "3": "CHF",
    "7": "DKK",
    "8": "NOK",
    "9": "SEK",
    "12": "CAD",
    "71": "JPY",
    "103": "HKD",
    "109": "AUD",
    "124": "SGD",
    "144": "CNY",
    "153": "HUF",
    "223": "CZK",
    "234": "BRL",
    "237": "PLN",
    "242": "EUR",
    "244": "RUB",
}
_WITHDRAWN_CURRENCIES = {"18": "ITL, the Italian lira, withdrawn in 2002"}

STATUSES: Mapping[str, Status] = {
    "OK": Status.APPROVED,
    "KO": Status.REFUSED,
    # XX: the payment is not final yet and its result arrives later by S2S (a MyBank bank transfer, for
    # example); the WooCommerce plugin puts such an order "on-hold" [sardbaba plugin @1f91b826].
    "XX": Status.PENDING,
}

# The opening tag of the result, possibly with a namespace prefix; the only thing identify looks for.
_ROOT_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?GestPayCryptDecrypt[\s/>]")
_XML_DECLARATION = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)
# A shop login is letters and digits (GESPAY65987 in test, a number in production). The encrypted
# string is URL-safe text: letters, digits, '*', '_', '-' [GestPayWS EncryptResponseTest]; '+', '/',
# '=' and '.' are allowed too, and a '+' may arrive as a space once the query string is decoded.
_SHOP_LOGIN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENCRYPTED = re.compile(r"[A-Za-z0-9*_\-+/=. ]{8,}")
_QUOTE = 60
# a DOCTYPE or an ENTITY that names something outside the document: a file, a URL
_EXTERNAL = re.compile(rb"<!(?:DOCTYPE|ENTITY)[^>]*\b(?:SYSTEM|PUBLIC)\b")


class AxerveProvider(Provider):
    name = "axerve"
    description = "Axerve (Banca Sella) GestPay: S2S calls and their decrypted results"
    reads = (
        "decrypted result XML <GestPayCryptDecrypt> (bare, HTTP dump, or inside the SOAP answer)",
        "the encrypted S2S call GET ?a=<shop_login>&b=<encrypted> (HTTP dump or bare query string)",
    )
    settings: ClassVar[Mapping[str, Setting]] = {
        "shop_login": Setting(
            str,
            help="the GestPay shop login (the a= of the S2S call), e.g. GESPAY00000; "
            "an S2S call for another shop is noted in the trail",
        ),
    }

    @property
    def _shop_login(self) -> str | None:
        value = self.options.get("shop_login")
        return str(value).strip() if value else None

    # -- identify ------------------------------------------------------------------------------
    def identify(self, source: Source) -> bool:
        callback = read_callback(source)
        if callback is None:
            return False
        if _is_xml(callback.body) and _ROOT_TAG.search(callback.body):
            return True
        return _encrypted_call(callback) is not None

    # -- extract -------------------------------------------------------------------------------
    def extract(self, source: Source) -> Iterator[Record]:
        # One callback file is one message: its bytes, exactly. A file too large to be a callback (only
        # --gateway brings one here) is refused whole, never read into memory.
        refusal = f"larger than {MAX_CALLBACK_BYTES // 1024} KiB: not a GestPay callback"
        yield self.reinterpret(callback_origin(source, refusal))

    def reinterpret(self, origin: Origin) -> Record:
        if len(origin.raw) >= MAX_CALLBACK_BYTES:
            return QuarantinedRecord(
                origin, f"axerve: {len(origin.raw)} bytes is too large to be a GestPay callback"
            )
        if not origin.raw.strip():
            return QuarantinedRecord(origin, "axerve: empty message")
        callback = from_origin(origin)
        if callback.damage is not None:  # a dump whose body is cut short, or badly chunked
            return QuarantinedRecord(origin, f"axerve: {callback.damage}")
        if _is_xml(callback.body):
            return self._result(origin, callback.body)
        call = _encrypted_call(callback)
        if call is not None:
            return self._encrypted(origin, callback, call[0])
        return QuarantinedRecord(
            origin,
            "axerve: neither a decrypted result (<GestPayCryptDecrypt> XML) nor an S2S call (?a=...&b=...)",
        )

    # -- the raw S2S call ----------------------------------------------------------------------
    def _encrypted(self, origin: Origin, callback: Callback, shop: str) -> Record:
        # The WooCommerce plugin tells the S2S call from the buyer's redirect by the absence of a
        # User-Agent; undocumented, so it only changes the wording of the note, nothing else.
        kind = "browser redirect" if callback.header("user-agent") else "S2S call"
        note = (
            f"axerve: encrypted {kind} for shop {_quote(shop)}; its decrypted result is not at hand "
            "(only Axerve's Decrypt call can read it)"
        )
        configured = self._shop_login
        if configured is not None and shop != configured:
            note += f"; shop {_quote(shop)} is not the configured shop_login {configured}"
        return InfoRecord(origin, None, note)

    # -- the decrypted result ------------------------------------------------------------------
    def _result(self, origin: Origin, body: bytes) -> Record:
        try:
            root = _parse(body)
            fields = _fields(root)
            return self._interpret(origin, fields)
        except RecordError as exc:
            return QuarantinedRecord(origin, f"axerve: {exc}")

    def _interpret(self, origin: Origin, fields: Mapping[str, str]) -> Record:
        kind = fields.get("TransactionType", "").upper()
        result = fields.get("TransactionResult", "")
        error = _error(fields)
        if kind == "ENCRYPT":
            # Same root element, but the answer to the shop's own Encrypt call (the payment page's
            # request): no ShopTransactionID and no outcome [GestPayWS tests/Response/EncryptResponseTest.php].
            return InfoRecord(
                origin,
                None,
                f"axerve: an Encrypt call answer ({result or 'no result'}"
                f"{', ' + error if error else ''}), not a payment outcome",
            )
        if kind not in ("", "DECRYPT"):
            raise RecordError(f"TransactionType '{_quote(kind)}' is neither DECRYPT nor ENCRYPT")
        if not result:
            raise RecordError("TransactionResult is missing")
        shop_id = fields.get("ShopTransactionID", "")
        bank_id = fields.get("BankTransactionID", "")
        if not shop_id:
            if result.upper() == "KO" and not bank_id:
                # The Decrypt call itself failed (1142 wrong server IP, 9999 system error): the payment's
                # result is not in this message, so it must not count as a refusal of any request.
                return InfoRecord(
                    origin,
                    None,
                    f"axerve: the Decrypt call failed ({error or 'no error code'}); "
                    "the payment's result is not in this message",
                )
            raise RecordError(f"TransactionResult {_quote(result)} without a ShopTransactionID")
        # The store's columns: reference and gateway id 128, raw status 64, dedupe key 255.
        for name, value, limit in (
            ("ShopTransactionID", shop_id, 128),
            ("BankTransactionID", bank_id, 128),
            ("TransactionResult", result, 60),
        ):
            if len(value) > limit:
                raise RecordError(f"{name} is longer than {limit} characters")
        word = result.upper()  # the status is read case-blind, so the key is too
        # a refusal says why (ErrorCode 1143: abandoned by the buyer), for the operator; code 0 is success
        code, why = fields.get("ErrorCode", ""), fields.get("ErrorDescription", "")
        wording = result if code in ("", "0") else f"{result} ({code} {why})" if why else f"{result} ({code})"
        status = STATUSES.get(word, Status.UNKNOWN)
        amount, currency = _money(fields, required=status is Status.APPROVED)
        return ResponseRecord(
            origin,
            reference=shop_id,
            dedupe_key=f"{bank_id}:{word}" if bank_id else f"shop:{shop_id}:{word}",
            status=status,
            raw_status=wording[:RAW_STATUS_LIMIT],
            authenticity=Authenticity.UNVERIFIABLE,
            amount_minor=amount,
            currency=currency,
            gateway_txn_id=bank_id or None,
        )


def is_result(origin: Origin) -> bool:
    """Whether a message is (or claims to be) a decrypted result, rather than GestPay's encrypted call:
    what only the shop's own integration, having called Decrypt, can send; nothing in it can be
    checked (``paycli serve`` takes one over HTTP only with the shop's bearer token)."""
    return _is_xml(from_origin(origin).body)


# -- reading the XML -------------------------------------------------------------------------------
def _is_xml(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _parse(body: bytes) -> Element:
    """The <GestPayCryptDecrypt> element of a body, parsed safely."""
    match = _XML_DECLARATION.match(body)
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        body.decode(encoding)
    except LookupError as exc:
        raise RecordError(f"the XML declares an unknown encoding '{_quote(encoding)}'") from exc
    except UnicodeDecodeError as exc:
        said = "it declares" if match else "XML's default, none is declared"
        raise RecordError(f"the XML is not valid {encoding} ({said}): byte {exc.start}") from exc
    except UnicodeError as exc:  # punycode, undefined: no encoding an XML document is written in
        raise RecordError(f"the XML declares an encoding it cannot be read in, '{_quote(encoding)}'") from exc
    try:
        # forbid_dtd: a result never has a DTD; refusing any keeps entity bombs and external entities
        # (local files, URLs) from being expanded or fetched.
        tree: Element = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise RecordError(_dtd_reason(body)) from exc
    except ParseError as exc:
        # expat says "no element found" or "unclosed token" when the document stops short
        cut = any(w in str(exc) for w in ("no element found", "unclosed token"))
        raise RecordError(f"not well-formed XML ({exc}){'; truncated?' if cut else ''}") from exc
    found = [e for e in tree.iter() if _local(e.tag) == ROOT]
    if not found:
        raise RecordError(f"the XML has no <{ROOT}> element")
    if len(found) > 1:
        raise RecordError(f"the XML has {len(found)} <{ROOT}> elements; which one is the result?")
    return found[0]


def _dtd_reason(body: bytes) -> str:
    """Why a document with a DTD is refused, in words; nothing in it was expanded or fetched."""
    never = "a GestPay result never has a DTD"
    if _EXTERNAL.search(body):
        return f"the XML refers to an external entity or DTD: refused, nothing fetched ({never})"
    if b"<!ENTITY" in body:
        return f"the XML declares entities (an XML bomb?): refused, nothing expanded ({never})"
    return f"the XML has a DTD (<!DOCTYPE>): refused ({never})"


def _fields(root: Element) -> dict[str, str]:
    """The result's simple fields by name; a field given twice is refused rather than guessed."""
    fields: dict[str, str] = {}
    for child in root:
        name = _local(child.tag)
        if len(child):  # Buyer{BuyerName, BuyerEmail}: flattened, as GestPayWS's toXML does
            for grandchild in child:
                _put(fields, _local(grandchild.tag), grandchild.text)
        else:
            _put(fields, name, child.text)
    return fields


def _put(fields: dict[str, str], name: str, text: str | None) -> None:
    if name in fields:
        raise RecordError(f"<{name}> appears twice")
    fields[name] = (text or "").strip()


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _money(fields: Mapping[str, str], *, required: bool) -> tuple[int | None, str | None]:
    """Amount in minor units and ISO currency; both may be absent only when the payment was not approved."""
    code = fields.get("Currency", "")
    amount = fields.get("Amount", "")
    if not code or not amount:
        if required:
            missing = " and ".join(n for n, v in (("Amount", amount), ("Currency", code)) if not v)
            raise RecordError(f"an approved result without {missing}")
        if not code and not amount:
            return None, None
    currency: str | None = None
    if code:
        if code in _WITHDRAWN_CURRENCIES:
            raise RecordError(f"Currency {code} is GestPay's code for {_WITHDRAWN_CURRENCIES[code]}")
        currency = GESTPAY_CURRENCIES.get(code.lstrip("0") or "0")
        if currency is None:
            raise RecordError(f"Currency '{_quote(code)}' is not a GestPay currency code this provider knows")
    if not amount:
        return None, currency
    if currency is None:
        raise RecordError("an Amount without a Currency")
    return parse_amount(amount, currency), currency


def _error(fields: Mapping[str, str]) -> str:
    code, text = fields.get("ErrorCode", ""), fields.get("ErrorDescription", "")
    if code and text:
        return f"ErrorCode {_quote(code)}: {_quote(text)}"
    if code or text:
        return f"ErrorCode {_quote(code)}" if code else _quote(text)
    return ""


# -- reading the encrypted call --------------------------------------------------------------------
def _encrypted_call(callback: Callback) -> tuple[str, str] | None:
    """(shop login, encrypted string) of an ``?a=...&b=...`` call, or None when it is not one."""
    if callback.target is not None:
        if callback.method != "GET":
            return None  # GestPay calls with GET; a POST with a and b is someone else's form
        query = callback.query
    else:
        # A bare file: the query string alone, or the whole URL as a web log or an operator copied it.
        try:
            text = callback.body.decode("ascii").strip()
        except UnicodeDecodeError:
            return None
        if not text or any(c in text for c in "\r\n\t"):
            return None
        query = urlsplit(text).query if ("?" in text or "://" in text) else text
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if sorted(names) != ["a", "b"]:
        return None
    values = dict(pairs)
    shop, encrypted = values["a"].strip(), values["b"].strip()
    if not _SHOP_LOGIN.fullmatch(shop) or not _ENCRYPTED.fullmatch(encrypted):
        return None
    return shop, encrypted


def _quote(text: str) -> str:
    # a runaway field must not flood the one-line reason shown to the operator
    return shown(text, _QUOTE)
