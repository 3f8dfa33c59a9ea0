"""Notifications of every signing gateway, written as gateway-formats.md describes them: genuine
(signed with the test configuration's secrets), redelivered (other bytes, the same response), or
forged in one of four ways. Used by the security and property tests of this folder.

Each builder returns the body and the sidecar headers (None when the gateway sends none that matter).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from paycli import gateways
from paycli.config import Config
from paycli.gateways.base import Provider
from tests.conftest import make_config

NEXI_KEY = "NEXI0TEST0MAC0KEY0NOT0A0REAL0ONE"
SKRILL_WORD = "skrill-test-word-not-real"
SKRILL_MID = "52918473"
STRIPE_SECRET = "whsec_paycliSecurityTest_NotReal_0b1c2d3e"
PAYPAL_SHOP = "pagamenti@bottega-esempio.example.com"
AXERVE_SHOP = "GESPAY65987"
SECRETS = (NEXI_KEY, SKRILL_WORD, STRIPE_SECRET)
CONFIG = f"""timezone: Europe/Rome
gateways:
  nexi:
    mac_key: {NEXI_KEY}
  skrill:
    merchant_id: "{SKRILL_MID}"
    secret_word: {SKRILL_WORD}
  stripe:
    webhook_secret: {STRIPE_SECRET}
    reference_key: txn_id
    require_verified: REQUIRE
  paypal:
    receiver_email: {PAYPAL_SHOP}
    reference_field: invoice
    require_verified: REQUIRE
  axerve:
    shop_login: {AXERVE_SHOP}
  mybank:
    provider: csv
    encoding: cp1252
    delimiter: ";"
    decimal_mark: ","
    thousands_separator: "."
    date_format: "%d/%m/%Y %H:%M"
    columns:
      reference: Causale
      amount: Importo
      currency: Divisa
      status: Esito
      date: Data operazione
      gateway_txn_id: ID operazione
    status_map:
      approved: [ESEGUITO]
      refused: [RIFIUTATO]
    reference_pattern: "PR-[0-9]+-[0-9]+"
"""
T0 = 1795684500  # 2026-11-26T09:15:00Z
FORGERIES = ("wrong key", "altered after signing", "no signature", "garbage signature")
Message = tuple[bytes, str | None]


def decimal(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def nexi(
    txn: str, approved: bool, forgery: str | None = None, *, cents: int = 1990, variant: int = 0
) -> Message:
    fields = {
        "codTrans": txn,
        "esito": "OK" if approved else "KO",
        "importo": str(cents),
        "divisa": "EUR",
        "data": "20261126",
        "orario": "101500",
        "codAut": "A1" if approved else "",
    }
    key = "SOMEONE0ELSES0KEY" if forgery == "wrong key" else NEXI_KEY
    mac = hashlib.sha1(("".join(f"{k}={v}" for k, v in fields.items()) + key).encode()).hexdigest()
    if forgery == "altered after signing":
        fields["esito"] = "KO" if approved else "OK"
    if forgery == "garbage signature":
        mac = "not-a-mac"
    signed = {**fields} if forgery == "no signature" else {**fields, "mac": mac}
    body = "&".join(f"{k}={v}" for k, v in signed.items())
    # a redelivery: the buyer's browser back on the shop carries fields the MAC does not cover
    return (body + "&languageId=ITA" * variant).encode(), None


def skrill(
    txn: str, approved: bool, forgery: str | None = None, *, cents: int = 1990, variant: int = 0
) -> Message:
    status = "2" if approved else "-2"
    amount = decimal(cents)
    word = "someone-elses-word" if forgery == "wrong key" else SKRILL_WORD
    signed = SKRILL_MID + txn + hashlib.md5(word.encode()).hexdigest().upper() + amount + "EUR" + status
    md5sig = hashlib.md5(signed.encode()).hexdigest().upper()
    if forgery == "altered after signing":
        status = "-2" if approved else "2"
    if forgery == "garbage signature":
        md5sig = "Z" * 32
    fields = [
        ("pay_to_email", PAYPAL_SHOP),
        ("merchant_id", SKRILL_MID),
        ("transaction_id", txn),
        ("mb_transaction_id", "3001" + hashlib.sha1(txn.encode()).hexdigest()[:6]),
        ("mb_amount", amount),
        ("mb_currency", "EUR"),
        ("status", status),
        ("amount", amount),
        ("currency", "EUR"),
    ]
    if forgery != "no signature":
        fields.append(("md5sig", md5sig))
    fields += [("payment_type", "WLT")] * variant  # a field outside the signature
    return "&".join(f"{k}={v}" for k, v in fields).encode(), None


def stripe(
    txn: str, approved: bool, forgery: str | None = None, *, cents: int = 1990, variant: int = 0
) -> Message:
    def body(ok: bool) -> bytes:
        event = {
            "id": f"evt_sec_{txn}_{int(ok)}",
            "object": "event",
            "api_version": "2024-04-10",
            "created": T0,
            "type": "payment_intent.succeeded" if ok else "payment_intent.payment_failed",
            "livemode": True,
            "data": {
                "object": {
                    "id": f"pi_sec_{txn}",
                    "object": "payment_intent",
                    "amount": cents,
                    "currency": "eur",
                    "metadata": {"txn_id": txn},
                    "status": "succeeded" if ok else "requires_payment_method",
                }
            },
        }
        return json.dumps(event, indent=2).encode() + b"\n"

    raw = body(approved)
    at = T0 + 60 * variant  # Stripe redelivers the same event, signed again at the time of the retry
    secret = "whsec_someoneElses" if forgery == "wrong key" else STRIPE_SECRET
    v1 = hmac.new(secret.encode(), f"{at}.".encode() + raw, hashlib.sha256).hexdigest()
    if forgery == "altered after signing":
        raw = body(not approved)
    if forgery == "garbage signature":
        v1 = "zz-not-hex"
    headers = "Content-Type: application/json; charset=utf-8\n"
    if forgery != "no signature":
        headers += f"Stripe-Signature: t={at},v1={v1}\n"
    return raw, headers


def paypal(
    txn: str, approved: bool, forgery: str | None = None, *, cents: int = 1990, variant: int = 0
) -> Message:
    if forgery == "altered after signing":  # a genuine IPN with its status changed: PayPal disowns it
        approved = not approved
    fields = [
        ("mc_gross", decimal(cents)),
        ("invoice", txn),
        ("payment_status", "Completed" if approved else "Denied"),
        ("charset", "UTF-8"),
        ("business", PAYPAL_SHOP),
        ("receiver_email", PAYPAL_SHOP),
        ("txn_id", "9PP" + hashlib.sha1(txn.encode()).hexdigest()[:14].upper()),
        ("txn_type", "web_accept"),
        ("mc_currency", "EUR"),
        ("payment_date", "03:12:45 Nov 26, 2026 PST"),
        ("verify_sign", "AtkOfCXbDm2hu0ZELryHFjY-Vb7PAUvS6nMXgysbElEn9v-1XcmSoGtf"),
    ]
    fields += [("resend", "true")] * variant  # what PayPal adds when it sends an IPN again
    raw = "&".join(f"{k}={v}" for k, v in fields).encode()
    # PayPal signs nothing: the postback says whether PayPal sent it. A forgery is answered INVALID;
    # one never posted back is unverifiable, which decides nothing under require_verified.
    form = "Content-Type: application/x-www-form-urlencoded\n"
    if forgery is None:
        return raw, form + "X-Paycli-Postback: VERIFIED\n"
    if forgery in ("wrong key", "altered after signing"):
        return raw, form + "X-Paycli-Postback: INVALID\n"
    if forgery == "garbage signature":
        return raw, form + "X-Paycli-Postback: MAYBE\n"
    return raw, None  # no postback at all


BUILDERS = {"nexi": nexi, "skrill": skrill, "stripe": stripe, "paypal": paypal}


def axerve(txn: str, approved: bool, *, cents: int = 1990, variant: int = 0) -> Message:
    """The decrypted result the integration records; Axerve signs nothing paycli can check offline."""
    bank = str(1000 + int(hashlib.sha1(txn.encode()).hexdigest()[:6], 16))
    result = (
        f"<GestPayCryptDecrypt><TransactionType>DECRYPT</TransactionType>"
        f"<TransactionResult>{'OK' if approved else 'KO'}</TransactionResult>"
        f"<ShopTransactionID>{txn}</ShopTransactionID><BankTransactionID>{bank}</BankTransactionID>"
        f"<AuthorizationCode>{'A7X31K' if approved else ''}</AuthorizationCode><Currency>242</Currency>"
        f"<Amount>{decimal(cents)}</Amount><ErrorCode>{0 if approved else 2}</ErrorCode>"
        f"<ErrorDescription>{'Transazione correttamente effettuata' if approved else 'Autorizzazione negata'}"
        "</ErrorDescription></GestPayCryptDecrypt>"
    )
    if variant == 1:  # the same result as the SOAP answer of the decrypt call
        result = (
            '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
            'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><DecryptResponse '
            f'xmlns="https://ecomms2s.sella.it/"><DecryptResult>{result}</DecryptResult></DecryptResponse>'
            "</soap:Body></soap:Envelope>"
        )
    if variant == 2:  # the browser redirect's copy, recorded with its declaration
        result = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + result
    return result.encode(), None


def bank_export(txn: str, approved: bool, *, cents: int = 1990, variant: int = 0) -> Message:
    """A line of a bank's export read through a csv provider (no dedupe key: a hash of the record)."""
    euros = f"{cents // 100:,}".replace(",", ".") + f",{cents % 100:02d}"
    fields = {
        "Data operazione": "26/11/2026 10:15",
        "ID operazione": str(7_700_000 + int(hashlib.sha1(txn.encode()).hexdigest()[:5], 16)),
        "Importo": euros,
        "Divisa": "EUR",
        "Causale": f"Pagamento e-commerce {txn}",
        "Esito": "ESEGUITO" if approved else "RIFIUTATO",
    }
    names = list(fields)
    if variant == 1:  # the same export saved again by a spreadsheet: quoted, lower case, no thousands mark
        fields = {k: f'"{v.lower() if k == "Esito" else v}"' for k, v in fields.items()}
        fields["Importo"] = f'"{cents // 100},{cents % 100:02d}"'
    if variant == 2:  # the same line in another export, its columns in another order, CRLF
        names.reverse()
    end = "\r\n" if variant == 2 else "\n"
    text = ";".join(names) + end + ";".join(fields[n] for n in names) + end
    return text.encode("cp1252"), None


# what has a response for each payment, signed or not: the order and idempotence property runs over all
NOTIFIERS = {**BUILDERS, "axerve": axerve, "mybank": bank_export}


def configured(folder: Path, require_verified: bool = False) -> tuple[Config, dict[str, Provider]]:
    """The test configuration written in ``folder``, loaded, and its providers."""
    config = make_config(folder, CONFIG.replace("REQUIRE", "true" if require_verified else "false"))
    return config, gateways.instances(config, gateways.installed())
