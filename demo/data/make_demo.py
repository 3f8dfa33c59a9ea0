"""Writes the demo's sample set: ``.venv/bin/python demo/data/make_demo.py`` (then ``make demo``).

One shop, "Bottega Demo", late November 2026, Europe/Rome. It writes, beside this file:

- ``requests.csv`` and ``deposits.jsonl``: the shop's export of its payment requests (one line of the CSV is
  deliberately bad: an amount typed with a decimal comma, which ingest quarantines naming file and line);
- ``callbacks/<gateway>/``: what the gateways sent, one message a file, with a ``.headers`` sidecar where the
  gateway's headers matter (Stripe's signature, PayPal's recorded postback answer);
- ``later/``: what arrives after the demo's ``paycli resolve`` steps (make demo ingests it last).

Messages are built as the sample generators of tests/gateways/samples/ build them (gateway-formats.md):
Nexi's MAC, Stripe's Stripe-Signature (HMAC-SHA256 of "<t>.<body>", as stripe.WebhookSignature makes it),
Skrill's md5sig, and signed with the demo secrets of ``demo/config.yaml``, which this script reads. Every
time is fixed, so the files come out byte for byte the same on every run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes
from zoneinfo import ZoneInfo

import yaml

HERE = Path(__file__).resolve().parent
CONFIG = yaml.safe_load((HERE.parent / "config.yaml").read_text("utf-8"))["gateways"]
ROME = ZoneInfo("Europe/Rome")
SHOP_EMAIL = CONFIG["paypal"]["receiver_email"]


def epoch(local: str) -> int:
    """Unix seconds of a Rome wall-clock time, e.g. "2026-11-26 08:10:02"."""
    return int(datetime.fromisoformat(local).replace(tzinfo=ROME).timestamp())


def form(fields: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{k}={quote_from_bytes(v.encode(), safe='')}" for k, v in fields).encode("ascii")


# -- the shop's export -----------------------------------------------------------------------------
REQUEST_HEADER = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
REQUESTS = [
    # the first eight lines are the demo's original ones, kept as they were
    "DEMO-1001-1,DEMO-1001,order,2026-11-25T09:12:04+01:00,Rossi Mario S.r.l.,mario.rossi@example.com,129.90,EUR,nexi",
    "DEMO-1001-2,DEMO-1001,order,2026-11-25T09:20:41+01:00,Rossi Mario S.r.l.,mario.rossi@example.com,129.90,EUR,nexi",
    "DEMO-1002-1,DEMO-1002,order,2026-11-25T11:03:19+01:00,Sara Greco,sara.greco@example.com,35.00,EUR,paypal",
    "DEMO-1003-1,DEMO-1003,order,2026-11-25T15:44:00+01:00,Niccolò Fabbri,niccolo.fabbri@example.com,59.00,EUR,axerve",
    "DEMO-1004-1,DEMO-1004,order,2026-11-26T08:05:33+01:00,Valentina De Luca,valentina.deluca@example.com,27.00,EUR,stripe",
    "DEMO-1004-2,DEMO-1004,order,2026-11-26T08:09:10+01:00,Valentina De Luca,valentina.deluca@example.com,27.00,EUR,stripe",
    'DEMO-1005-1,DEMO-1005,order,2026-11-26T10:30:00+01:00,"Bottega Ferri & Figli, S.n.c.",ordini@ferri.example,1250.00,EUR,skrill',
    "DEMO-1006-1,DEMO-1006,order,2026-11-26T19:58:12+01:00,James O'Neill,james.oneill@example.co.uk,48.50,GBP,stripe",
    # the rest of the week
    "DEMO-1008-1,DEMO-1008,order,2026-11-23T16:40:00+01:00,Lucia Marchetti,lucia.marchetti@example.com,180.00,EUR,paypal",
    "DEMO-1009-1,DEMO-1009,order,2026-11-24T12:01:15+01:00,Paolo Santoro,paolo.santoro@example.com,64.00,EUR,paypal",
    "DEMO-1009-2,DEMO-1009,order,2026-11-24T12:09:40+01:00,Paolo Santoro,paolo.santoro@example.com,64.00,EUR,stripe",
    "DEMO-1010-1,DEMO-1010,order,2026-11-24T18:22:00+01:00,Elena Galli,elena.galli@example.com,210.00,EUR,nexi",
    "DEMO-1011-1,DEMO-1011,order,2026-11-25T22:47:31+01:00,Marco Ferrante,m.ferrante@example.net,749.00,EUR,nexi",
    "DEMO-1012-1,DEMO-1012,order,2026-11-26T03:12:08+01:00,Ivan Petrov,ivan.petrov@example.org,349.00,EUR,stripe",
    "DEMO-1013-1,DEMO-1013,order,2026-11-26T09:35:00+01:00,Chiara Ricci,chiara.ricci@example.com,159.00,EUR,nexi",
    "DEMO-1014-1,DEMO-1014,order,2026-11-26T11:18:45+01:00,Giorgio Lombardi,giorgio.lombardi@example.com,42.00,EUR,nexi",
    "DEMO-1015-1,DEMO-1015,order,2026-11-26T13:02:10+01:00,Davide Conte,davide.conte@example.com,89.00,EUR,paypal",
    "DEMO-1016-1,DEMO-1016,order,2026-11-26T15:27:00+01:00,Studio Moretti,studio@moretti.example,230.00,EUR,axerve",
    "DEMO-1017-1,DEMO-1017,order,2026-11-26T16:05:00+01:00,Anna Villa,anna.villa@example.com,25.00,EUR,skrill",
    "DEMO-1018-1,DEMO-1018,order,2026-11-23T10:14:00+01:00,Roberto Esposito,r.esposito@example.com,120.00,EUR,paypal",
    "DEMO-1019-1,DEMO-1019,order,2026-11-26T17:41:22+01:00,Federica Riva,federica.riva@example.com,99.00,EUR,axerve",
    # typed by hand in the spreadsheet with a decimal comma: ingest quarantines this line, names it, and
    # `paycli reprocess` reads it again once corrected
    'DEMO-1020-1,DEMO-1020,order,2026-11-27T08:47:00+01:00,Marco Bianchi,marco.bianchi@example.com,"19,90",EUR,stripe',
]
DEPOSITS = [
    # the demo's original two lines, kept as they were (DEMO-ACC-77 stays without a response)
    {
        "txn_id": "DEMO-ACC-77",
        "kind": "deposit",
        "created_at": "2026-11-24T17:00:00+01:00",
        "customer": "Impresa Edile Conti",
        "email": "amministrazione@conti.example",
        "amount": "500.00",
        "currency": "EUR",
        "gateway": "mybank",
    },
    {
        "txn_id": "DEMO-JP-3",
        "order_id": "DEMO-1007",
        "created_at": "2026-11-26T02:15:00+01:00",
        "customer": "Tanaka Hiroshi",
        "email": "h.tanaka@example.jp",
        "amount": 8800,
        "currency": "JPY",
        "gateway": "stripe",
    },
]


# -- Nexi XPay (gateway-formats.md 4): the urlpost body and the browser's return --------------------
NEXI_KEY = CONFIG["nexi"]["mac_key"]
NEXI_ALIAS = CONFIG["nexi"]["alias"]


def nexi(
    cod_trans: str, esito: str, cents: int, when: str, cod_aut: str = "", *, key: str = NEXI_KEY, **more: str
) -> list[tuple[str, str]]:
    data, orario = when.replace("-", "")[:8], when[11:].replace(":", "")
    mac_fields = [
        ("codTrans", cod_trans),
        ("esito", esito),
        ("importo", str(cents)),
        ("divisa", "EUR"),
        ("data", data),
        ("orario", orario),
        ("codAut", cod_aut),
    ]
    signed = "".join(f"{k}={v}" for k, v in mac_fields) + key
    ok = esito == "OK"
    fields = [
        ("alias", NEXI_ALIAS),
        ("importo", str(cents)),
        ("divisa", "EUR"),
        ("codTrans", cod_trans),
        ("esito", esito),
        ("codiceEsito", "0" if ok else more.pop("codiceEsito", "20")),
        ("messaggio", "Message OK" if ok else more.pop("messaggio", "Autorizzazione negata")),
        ("codAut", cod_aut),
        ("data", data),
        ("orario", orario),
    ]
    if ok:
        fields += [
            ("brand", more.pop("brand", "VISA")),
            ("pan", more.pop("pan", "453997******0006")),
            ("scadenza_pan", "202812"),
            ("nazionalita", "ITA"),
            ("tipoTransazione", "VBV_FULL"),
        ]
    fields += [(k, v) for k, v in more.items()]
    fields += [("languageId", "ITA"), ("mac", hashlib.sha1(signed.encode()).hexdigest())]
    return fields


def nexi_browser_return(fields: list[tuple[str, str]]) -> bytes:
    return (
        f"GET /pagamento/esito?{form(fields).decode()} HTTP/1.1\r\nHost: shop.bottega-demo.example\r\n"
        "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: text/html\r\n\r\n"
    ).encode()


# -- Stripe (gateway-formats.md 2): Event JSON, Stripe-Signature in the sidecar ---------------------
STRIPE_SECRET = CONFIG["stripe"]["webhook_secret"]


def stripe_ids(n: int) -> dict[str, str]:
    tail = f"{n:02d}DmB7vQe4Xk2Lp9"
    return {"pi": f"pi_3Q{tail}Zc1", "ch": f"ch_3Q{tail}Zy8", "n": f"{n:02d}"}


def pi(p: dict[str, str], txn: str, cents: int, currency: str, status: str, created: int) -> dict[str, Any]:
    return {
        "id": p["pi"],
        "object": "payment_intent",
        "amount": cents,
        "amount_capturable": 0,
        "amount_received": cents if status == "succeeded" else 0,
        "capture_method": "automatic_async",
        "created": created,
        "currency": currency,
        "description": f"Ordine {txn}",
        "last_payment_error": None,
        "latest_charge": p["ch"] if status == "succeeded" else None,
        "livemode": True,
        "metadata": {"txn_id": txn},
        "payment_method_types": ["card"],
        "status": status,
    }


def charge(
    p: dict[str, str], txn: str, cents: int, currency: str, created: int, refunded: int = 0
) -> dict[str, Any]:
    return {
        "id": p["ch"],
        "object": "charge",
        "amount": cents,
        "amount_captured": cents,
        "amount_refunded": refunded,
        "balance_transaction": f"txn_3Q{p['n']}DmB7vQe4Xk2Lp9Zb0",
        "captured": True,
        "created": created,
        "currency": currency,
        "failure_code": None,
        "livemode": True,
        "metadata": {"txn_id": txn},
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "paid": True,
        "payment_intent": p["pi"],
        "refunded": refunded == cents,
        "status": "succeeded",
    }


def stripe_event(p: dict[str, str], suffix: str, kind: str, obj: dict[str, Any], at: int) -> bytes:
    ev = {
        "id": f"evt_3Q{p['n']}DmB7vQe4Xk2Lp9{suffix}",
        "object": "event",
        "api_version": "2024-04-10",
        "created": at,
        "data": {"object": obj},
        "livemode": True,
        "pending_webhooks": 1,
        "request": {"id": f"req_Wd3nK8sLq2Vx{p['n']}", "idempotency_key": None},
        "type": kind,
    }
    return json.dumps(ev, indent=2, ensure_ascii=False).encode() + b"\n"


def stripe_headers(body: bytes, t: int, secret: str = STRIPE_SECRET) -> str:
    # what stripe.WebhookSignature.generate_signature_header writes: t=<unix>,v1=<HMAC-SHA256 hex>
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return (
        "Content-Type: application/json; charset=utf-8\n"
        "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\n"
        f"Stripe-Signature: t={t},v1={v1}\n"
    )


# -- PayPal IPN (gateway-formats.md 1.1): form body; the postback answer recorded in the sidecar -----
PAYPAL_HEADERS = (
    "Content-Type: application/x-www-form-urlencoded; charset=windows-1252\nX-Paycli-Postback: VERIFIED\n"
)


def ipn(
    invoice: str,
    txn_id: str,
    status: str,
    gross: str,
    date: str,
    payer: tuple[str, str, str],
    track: str,
    **more: str,
) -> bytes:
    """``date`` is PayPal's own: "HH:MM:SS Mon DD, YYYY PST" (PayPal's clock is Pacific time)."""
    first, last, email = payer
    fields = [
        ("mc_gross", gross),
        ("invoice", invoice),
        ("protection_eligibility", "Eligible"),
        ("payer_id", "QW8ZL3MXN2R" + track[:2].upper()),
        ("payment_date", date),
        ("payment_status", status),
        ("charset", "windows-1252"),
        ("first_name", first),
        ("mc_fee", more.pop("mc_fee", "1.54")),
        ("notify_version", "3.9"),
        ("payer_status", "verified"),
        ("business", SHOP_EMAIL),
        ("verify_sign", "AtkOfCXbDm2hu0ZELryHFjY-Vb7PAUvS6nMXgysbElEn9v-1XcmSoGtf"),
        ("payer_email", email),
        ("txn_id", txn_id),
        ("payment_type", more.pop("payment_type", "instant")),
        ("last_name", last),
        ("receiver_email", SHOP_EMAIL),
        ("receiver_id", "S8XGHLYDW9T3S"),
        ("txn_type", "web_accept"),
        ("item_name", f"Ordine {invoice.rsplit('-', 1)[0]}"),
        ("mc_currency", "EUR"),
        ("residence_country", "IT"),
        *more.items(),
        ("ipn_track_id", track),
    ]
    return form(fields)


# -- Skrill (gateway-formats.md 3): the status_url post, md5sig ------------------------------------
SKRILL_WORD = CONFIG["skrill"]["secret_word"]
SKRILL_MID = CONFIG["skrill"]["merchant_id"]


def skrill(ref: str, mb_id: str, amount: str, status: str, payer: str) -> bytes:
    word = hashlib.md5(SKRILL_WORD.encode()).hexdigest().upper()
    md5sig = hashlib.md5(f"{SKRILL_MID}{ref}{word}{amount}EUR{status}".encode()).hexdigest().upper()
    return form(
        [
            ("pay_to_email", CONFIG["skrill"]["pay_to_email"]),
            ("pay_from_email", payer),
            ("merchant_id", SKRILL_MID),
            ("customer_id", "81234567"),
            ("transaction_id", ref),
            ("mb_transaction_id", mb_id),
            ("mb_amount", amount),
            ("mb_currency", "EUR"),
            ("status", status),
            ("md5sig", md5sig),
            ("amount", amount),
            ("currency", "EUR"),
            ("payment_type", "WLT"),
        ]
    )


# -- Axerve GestPay (gateway-formats.md 5): the decrypted result, and the encrypted S2S call ---------
def gestpay(
    ref: str, bank_id: str, result: str, amount: str, buyer: tuple[str, str], error: tuple[str, str]
) -> bytes:
    auth = f"A{bank_id[-3:]}K7" if result == "OK" else ""
    return (
        '<GestPayCryptDecrypt xmlns=""><TransactionType>DECRYPT</TransactionType>'
        f"<TransactionResult>{result}</TransactionResult><ShopTransactionID>{ref}</ShopTransactionID>"
        f"<BankTransactionID>{bank_id}</BankTransactionID><AuthorizationCode>{auth}</AuthorizationCode>"
        f"<Currency>242</Currency><Amount>{amount}</Amount><Country>ITALIA</Country>"
        f"<CustomInfo>ORDER_REF={ref}</CustomInfo><Buyer><BuyerName>{buyer[0]}</BuyerName>"
        f"<BuyerEmail>{buyer[1]}</BuyerEmail></Buyer><TDLevel>FULL</TDLevel><ErrorCode>{error[0]}</ErrorCode>"
        f"<ErrorDescription>{error[1]}</ErrorDescription><AlertCode/><AlertDescription/><VbVRisp/><VbVBuyer/>"
        "<VbVFlag/><TransactionKey/></GestPayCryptDecrypt>\n"
    ).encode()


def s2s_call(encrypted: str) -> bytes:
    login = CONFIG["axerve"]["shop_login"]
    return f"GET /gestpay/s2s?a={login}&b={encrypted} HTTP/1.1\r\nHost: shop.bottega-demo.example\r\nAccept: */*\r\n\r\n".encode()


# -- writing ---------------------------------------------------------------------------------------
class Folder:
    """A folder of received messages, named as a receiver spools them: arrival time (Rome), then what."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def add(self, at: str, name: str, body: bytes, headers: str | None = None) -> None:
        stamp = at.replace("-", "").replace(":", "").replace(" ", "-")
        (self.path / f"{stamp}_{name}").write_bytes(body)
        if headers is not None:
            (self.path / f"{stamp}_{name}.headers").write_text(headers, "utf-8")


def main() -> None:
    (HERE / "requests.csv").write_text(REQUEST_HEADER + "".join(r + "\n" for r in REQUESTS), "utf-8")
    (HERE / "deposits.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DEPOSITS), "utf-8"
    )
    for old in ("callbacks", "later"):
        shutil.rmtree(HERE / old, ignore_errors=True)

    # Nexi ----------------------------------------------------------------------------------------
    nx = Folder(HERE / "callbacks" / "nexi")
    # DEMO-1001: the card refused (NEGATIVO), the retry approved (POSITIVO): the order is PAID. The
    # approval comes twice, as the server-to-server post and as the buyer's browser coming back
    at = "2026-11-25 09:13:10"
    nx.add(at, "DEMO-1001-1_KO.txt", form(nexi("DEMO-1001-1", "KO", 12990, at)))
    at = "2026-11-25 09:21:37"
    ok = nexi("DEMO-1001-2", "OK", 12990, at, "B71C2A")
    nx.add(at, "DEMO-1001-2_OK.txt", form(ok))
    nx.add("2026-11-25 09:21:39", "DEMO-1001-2_OK_browser-return.http", nexi_browser_return(ok))
    # DEMO-1010-1: two approvals with two authorization codes for one payment: charged twice
    card = {"brand": "MASTERCARD", "pan": "535522******4401"}
    at = "2026-11-24 18:23:40"
    nx.add(at, "DEMO-1010-1_OK.txt", form(nexi("DEMO-1010-1", "OK", 21000, at, "C40F11", **card)))
    at = "2026-11-24 18:25:02"
    nx.add(at, "DEMO-1010-1_OK.txt", form(nexi("DEMO-1010-1", "OK", 21000, at, "C40F93", **card)))
    # DEMO-1011-1: the card was refused; then an "OK" nobody at Nexi signed (a MAC made with a guessed
    # key) reached the notification URL: never folded into the genuine one, never POSITIVO
    at = "2026-11-25 22:48:15"
    nx.add(at, "DEMO-1011-1_KO.txt", form(nexi("DEMO-1011-1", "KO", 74900, at)))
    at = "2026-11-25 22:52:03"
    nx.add(at, "DEMO-1011-1_OK.txt", form(nexi("DEMO-1011-1", "OK", 74900, at, "F0A1E2", key="guessed")))
    # DEMO-1014-1: two cards, both refused: two responses that agree
    at = "2026-11-26 11:19:30"
    nx.add(at, "DEMO-1014-1_KO.txt", form(nexi("DEMO-1014-1", "KO", 4200, at)))
    at = "2026-11-26 11:21:12"
    expired = {"codiceEsito": "103", "messaggio": "Carta scaduta"}
    nx.add(at, "DEMO-1014-1_KO.txt", form(nexi("DEMO-1014-1", "KO", 4200, at, **expired)))
    # DEMO-1013-1 has no notification yet: the operator resolves it NEGATIVO; Nexi's delayed approval
    # (it carries the payment's own time, the day before) arrives afterwards, in later/, and reopens it
    body = form(nexi("DEMO-1013-1", "OK", 15900, "2026-11-26 09:36:48", "D93B05"))
    Folder(HERE / "later" / "nexi").add("2026-11-27 09:55:00", "DEMO-1013-1_OK.txt", body)

    # Stripe --------------------------------------------------------------------------------------
    st = Folder(HERE / "callbacks" / "stripe")

    def event(
        at: str, p: dict[str, str], suffix: str, kind: str, obj: dict[str, Any], sent: str = ""
    ) -> None:
        """One event created at ``at``, delivered (and signed) one second later, or at ``sent``."""
        body = stripe_event(p, suffix, kind, obj, epoch(at))
        t = epoch(sent) if sent else epoch(at) + 1
        st.add(
            datetime.fromtimestamp(t, ROME).strftime("%Y-%m-%d %H:%M:%S"),
            f"{txn}_{kind}.json",
            body,
            stripe_headers(body, t),
        )

    # DEMO-1004-1: abandoned, nothing came back (the operator resolves it NEGATIVO). DEMO-1004-2: paid;
    # Stripe retried the succeeded event an hour later, signed anew: one response, delivered twice
    p, txn = stripe_ids(1), "DEMO-1004-2"
    made = epoch("2026-11-26 08:09:12")
    event(
        "2026-11-26 08:09:12",
        p,
        "0c",
        "payment_intent.created",
        pi(p, txn, 2700, "eur", "requires_payment_method", made),
    )
    succeeded = pi(p, txn, 2700, "eur", "succeeded", made)
    event("2026-11-26 08:10:02", p, "1s", "payment_intent.succeeded", succeeded)
    event("2026-11-26 08:10:02", p, "1s", "payment_intent.succeeded", succeeded, sent="2026-11-26 09:10:03")
    # DEMO-1006-1: paid in pounds, refunded the next morning
    p, txn = stripe_ids(2), "DEMO-1006-1"
    made = epoch("2026-11-26 19:58:25")
    event(
        "2026-11-26 19:59:05", p, "1s", "payment_intent.succeeded", pi(p, txn, 4850, "gbp", "succeeded", made)
    )
    event(
        "2026-11-27 09:10:44",
        p,
        "2r",
        "charge.refunded",
        charge(p, txn, 4850, "gbp", made + 39, refunded=4850),
    )
    # DEMO-JP-3: yen have no minor unit: 8800 JPY is 8800
    p, txn = stripe_ids(3), "DEMO-JP-3"
    made = epoch("2026-11-26 02:15:20")
    event(
        "2026-11-26 02:16:20", p, "1s", "payment_intent.succeeded", pi(p, txn, 8800, "jpy", "succeeded", made)
    )
    # DEMO-1009-2: the customer had paid by PayPal eight minutes earlier, and paid again by card; the
    # Charge's event and the PaymentIntent's are the same payment: one response, delivered twice
    p, txn = stripe_ids(4), "DEMO-1009-2"
    made = epoch("2026-11-24 12:09:46")
    event("2026-11-24 12:10:31", p, "1c", "charge.succeeded", charge(p, txn, 6400, "eur", made + 43))
    event(
        "2026-11-24 12:10:31", p, "2s", "payment_intent.succeeded", pi(p, txn, 6400, "eur", "succeeded", made)
    )
    # DEMO-1012-1: a "succeeded" event signed with a secret that is not the shop's: forged
    p, txn = stripe_ids(5), "DEMO-1012-1"
    at = "2026-11-26 03:13:30"
    body = stripe_event(
        p, "1s", "payment_intent.succeeded", pi(p, txn, 34900, "eur", "succeeded", epoch(at) - 70), epoch(at)
    )
    st.add(
        "2026-11-26 03:13:31",
        f"{txn}_payment_intent.succeeded.json",
        body,
        stripe_headers(body, epoch(at) + 1, "whsec_guessed"),
    )

    # PayPal (payment_date is PayPal's Pacific time: 02:04:02 PST is 11:04:02 in Rome) -------------
    pp = Folder(HERE / "callbacks" / "paypal")
    # DEMO-1002-1: Completed; PayPal re-sent it (resend=true, a new ipn_track_id): one response, twice
    greco = ("Sara", "Greco", "sara.greco@example.com")
    date = "02:04:02 Nov 25, 2026 PST"
    pp.add(
        "2026-11-25 11:04:05",
        "DEMO-1002-1_Completed.txt",
        ipn("DEMO-1002-1", "3WK08215LM4496301", "Completed", "35.00", date, greco, "4e1a90c3d2b57"),
        PAYPAL_HEADERS,
    )
    pp.add(
        "2026-11-25 11:34:05",
        "DEMO-1002-1_Completed.txt",
        ipn(
            "DEMO-1002-1",
            "3WK08215LM4496301",
            "Completed",
            "35.00",
            date,
            greco,
            "9b07f2e61ac84",
            resend="true",
        ),
        PAYPAL_HEADERS,
    )
    # DEMO-1008-1: an eCheck, Pending, then Completed three days later
    marchetti = ("Lucia", "Marchetti", "lucia.marchetti@example.com")
    pp.add(
        "2026-11-23 16:41:32",
        "DEMO-1008-1_Pending.txt",
        ipn(
            "DEMO-1008-1",
            "6RT45590KX1183720",
            "Pending",
            "180.00",
            "07:41:30 Nov 23, 2026 PST",
            marchetti,
            "c81f5a2e07d93",
            payment_type="echeck",
            pending_reason="echeck",
        ),
        PAYPAL_HEADERS,
    )
    pp.add(
        "2026-11-26 10:15:11",
        "DEMO-1008-1_Completed.txt",
        ipn(
            "DEMO-1008-1",
            "6RT45590KX1183720",
            "Completed",
            "180.00",
            "01:15:09 Nov 26, 2026 PST",
            marchetti,
            "d2a6b40f913e8",
            payment_type="echeck",
        ),
        PAYPAL_HEADERS,
    )
    # DEMO-1009-1: paid by PayPal (and again by card: DEMO-1009-2)
    santoro = ("Paolo", "Santoro", "paolo.santoro@example.com")
    pp.add(
        "2026-11-24 12:02:13",
        "DEMO-1009-1_Completed.txt",
        ipn(
            "DEMO-1009-1",
            "1FD93327HB5520418",
            "Completed",
            "64.00",
            "03:02:11 Nov 24, 2026 PST",
            santoro,
            "5f3c8e21a0b74",
        ),
        PAYPAL_HEADERS,
    )
    # DEMO-1015-1: a genuine IPN for 8.90 on an 89.00 order: the buyer edited the payment button
    conte = ("Davide", "Conte", "davide.conte@example.com")
    pp.add(
        "2026-11-26 13:03:29",
        "DEMO-1015-1_Completed.txt",
        ipn(
            "DEMO-1015-1",
            "8JM20764TS9912543",
            "Completed",
            "8.90",
            "04:03:27 Nov 26, 2026 PST",
            conte,
            "a7e0d35c19f62",
            mc_fee="0.61",
        ),
        PAYPAL_HEADERS,
    )
    # DEMO-1018-1: a chargeback; the Completed IPN never reached the shop (its notify URL was down)
    esposito = ("Roberto", "Esposito", "r.esposito@example.com")
    pp.add(
        "2026-11-26 15:30:02",
        "DEMO-1018-1_Reversed.txt",
        ipn(
            "DEMO-1018-1",
            "0CB71148RE6630295",
            "Reversed",
            "-120.00",
            "06:30:00 Nov 26, 2026 PST",
            esposito,
            "e39b7c0a5d184",
            mc_fee="-3.89",
            parent_txn_id="4HN15002AP7731946",
            reason_code="chargeback",
        ),
        PAYPAL_HEADERS,
    )

    # Skrill (a post carries no time of its own) ---------------------------------------------------
    sk = Folder(HERE / "callbacks" / "skrill")
    sk.add(
        "2026-11-26 10:31:48",
        "DEMO-1005-1_status-2.txt",
        skrill("DEMO-1005-1", "3319048211", "1250.00", "2", "ordini@ferri.example"),
    )
    # status 1 ("scheduled") belongs to Skrill's payouts, not to a payment: a status paycli does not know
    sk.add(
        "2026-11-26 16:06:40",
        "DEMO-1017-1_status-1.txt",
        skrill("DEMO-1017-1", "3319050087", "25.00", "1", "anna.villa@example.com"),
    )
    # an order of Friday morning that requests.csv (exported before it) does not have: an orphan, which
    # links by itself when the next export brings its request
    sk.add(
        "2026-11-27 09:02:15",
        "DEMO-1021-1_status-2.txt",
        skrill("DEMO-1021-1", "3319061190", "74.50", "2", "l.pellegrini@example.com"),
    )

    # Axerve (its results carry no time of their own) ----------------------------------------------
    ax = Folder(HERE / "callbacks" / "axerve")
    # DEMO-1003-1: the encrypted S2S call (kept, readable only by Axerve) and its decrypted result
    ax.add(
        "2026-11-25 15:45:20",
        "DEMO-1003-1_s2s-call.http",
        s2s_call("3_kQpN9aT2vLx8Rm4Yc7Wb1Hs6Df0Jg5Ze*Uo2Ip8Ks3Ny7Mq4Lr1Vt9Bw6Xe0Cz5Ah"),
    )
    ax.add(
        "2026-11-25 15:45:21",
        "DEMO-1003-1_OK.xml",
        gestpay(
            "DEMO-1003-1",
            "2260417",
            "OK",
            "59.00",
            ("Niccolò Fabbri", "niccolo.fabbri@example.com"),
            ("0", "Transazione correttamente effettuata"),
        ),
    )
    # DEMO-1016-1: MyBank, the bank has not answered yet
    ax.add(
        "2026-11-26 15:29:02",
        "DEMO-1016-1_XX.xml",
        gestpay(
            "DEMO-1016-1",
            "2260733",
            "XX",
            "230.00",
            ("Studio Moretti", "studio@moretti.example"),
            ("0", "Transazione in attesa di esito"),
        ),
    )
    # DEMO-1019-1: refused and approved, two bank transactions
    riva = ("Federica Riva", "federica.riva@example.com")
    ax.add(
        "2026-11-26 17:42:50",
        "DEMO-1019-1_KO.xml",
        gestpay("DEMO-1019-1", "2260802", "KO", "99.00", riva, ("2", "Transazione negata")),
    )
    ax.add(
        "2026-11-26 17:44:13",
        "DEMO-1019-1_OK.xml",
        gestpay("DEMO-1019-1", "2260809", "OK", "99.00", riva, ("0", "Transazione correttamente effettuata")),
    )


if __name__ == "__main__":
    main()
