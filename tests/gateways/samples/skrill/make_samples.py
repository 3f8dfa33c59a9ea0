"""Writes the Skrill golden scenarios beside this file, signed as gateway-formats.md section 3 says.

Run it with `.venv/bin/python tests/gateways/samples/skrill/make_samples.py`, then regenerate and read
the expected.json files (`PAYCLI_REGEN=1 .venv/bin/pytest tests/gateways/test_golden.py -k skrill`).
"""

import hashlib
from pathlib import Path
from urllib.parse import quote_from_bytes

ROOT = Path(__file__).parent
WORD = "paycliword"
MID = "52918473"
PAY_TO = "pagamenti@bottega-esempio.example.com"
HEADER = "txn_id,order_id,kind,created_at,customer,email,amount,currency,gateway\n"
YAML = f"""timezone: Europe/Rome
gateways:
  skrill:
    merchant_id: "{MID}"
    secret_word: {WORD}
    pay_to_email: {PAY_TO}
"""


def b(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def post(
    ref: str | bytes,
    mb_id: str,
    mb_amount: str,
    status: str,
    *,
    mb_currency: str = "EUR",
    amount: str | None = None,
    currency: str | None = None,
    word: str = WORD,
    mid: str = MID,
    sha2: bool = False,
    extra: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    override: dict[str, str] | None = None,
    pay_from: str = "chiara.ricci@example.com",
    order: list[str] | None = None,
) -> bytes:
    ref_b = b(ref)
    signed = (
        b(mid)
        + ref_b
        + hashlib.md5(word.encode()).hexdigest().upper().encode()
        + b(mb_amount)
        + b(mb_currency)
        + b(status)
    )
    fields: list[tuple[str, str | bytes]] = [
        ("pay_to_email", PAY_TO),
        ("pay_from_email", pay_from),
        ("merchant_id", mid),
        ("customer_id", "81234567"),
        ("transaction_id", ref_b),
        ("mb_transaction_id", mb_id),
        ("mb_amount", mb_amount),
        ("mb_currency", mb_currency),
        ("status", status),
        ("md5sig", hashlib.md5(signed).hexdigest().upper()),
    ]
    if sha2:
        fields.append(("sha2sig", hashlib.sha256(signed).hexdigest().upper()))
    fields += [
        ("amount", amount if amount is not None else mb_amount),
        ("currency", currency or mb_currency),
        ("payment_type", "WLT"),
        *extra,
    ]
    for k, v in (override or {}).items():
        fields = [(n, v if n == k else x) for n, x in fields]
    if order:
        fields = sorted(fields, key=lambda f: order.index(f[0]) if f[0] in order else 99)
    return "&".join(f"{k}={quote_from_bytes(b(v), safe='')}" for k, v in fields).encode("ascii")


def dump(body: bytes, ctype: str = "application/x-www-form-urlencoded") -> bytes:
    head = (
        f"POST /callbacks/skrill HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Skrill\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def scenario(name: str, requests: list[str], files: dict[str, bytes], yaml: str = YAML) -> None:
    d = ROOT / name
    d.mkdir(parents=True, exist_ok=True)
    for p in d.iterdir():
        if p.name != "expected.json":
            p.unlink()
    (d / "requests.csv").write_text(HEADER + "".join(r + "\n" for r in requests), encoding="utf-8")
    (d / "paycli.yaml").write_text(yaml)
    for fname, data in files.items():
        (d / fname).write_bytes(data)


def req(
    txn: str,
    amount: str = "25.00",
    currency: str = "EUR",
    order: str = "ORD-SK-3001",
    when: str = "2026-11-26T10:15:00",
    cust: str = "Chiara Ricci",
) -> str:
    return f"{txn},{order},order,{when},{cust},chiara.ricci@example.com,{amount},{currency},skrill"


# approved: the formats document's own example (md5sig 3C97DD5B..., sha2sig 1DE865BA...)
scenario(
    "approved",
    [req("ORD-SK-3001")],
    {
        "01-approved.txt": post(
            "ORD-SK-3001",
            "3318760421",
            "25.00",
            "2",
            sha2=True,
            extra=[("merchant_fields", "order_ref"), ("order_ref", "ORD-SK-3001")],
        ),
    },
)

# refused: -2 failed (with failed_reason_code) and -1 cancelled, on two requests (a retry of one order)
scenario(
    "refused",
    [
        req("ORD-SK-3002-1", order="ORD-SK-3002"),
        req("ORD-SK-3002-2", order="ORD-SK-3002", when="2026-11-26T10:20:00"),
    ],
    {
        "01-failed.txt": post(
            "ORD-SK-3002-1", "3318760500", "25.00", "-2", extra=[("failed_reason_code", "06")]
        ),
        "02-cancelled.txt": post("ORD-SK-3002-2", "3318760501", "25.00", "-1"),
    },
)

# pending (bank transfer) then processed: a progression
scenario(
    "progression",
    [req("ORD-SK-3003", amount="120.00", order="ORD-SK-3003")],
    {
        "01-pending.txt": post("ORD-SK-3003", "3318760610", "120", "0", amount="120.00"),
        "02-processed.txt": post("ORD-SK-3003", "3318760610", "120", "2", amount="120.00"),
    },
)

# redelivered: the same post twice (identical bytes), and a resend that differs in bytes only
# (fields in another order, as a raw HTTP dump): one response
body = post("ORD-SK-3004", "3318760700", "49.90", "2", amount="49.90")
resend = post(
    "ORD-SK-3004",
    "3318760700",
    "49.90",
    "2",
    amount="49.90",
    order=[
        "status",
        "transaction_id",
        "mb_transaction_id",
        "md5sig",
        "merchant_id",
        "mb_amount",
        "mb_currency",
    ],
)
scenario(
    "redelivered",
    [req("ORD-SK-3004", amount="49.90", order="ORD-SK-3004")],
    {
        "01-processed.txt": body,
        "02-processed-again.txt": body,
        "03-processed-resend.http": dump(resend),
    },
)

# tampered and forged: every one fails its check and blocks the outcome
tampered = (
    post("ORD-SK-3005", "3318760800", "250.00", "2")
    .replace(b"mb_amount=250.00", b"mb_amount=2.50")
    .replace(b"&amount=250.00", b"&amount=2.50")
)
scenario(
    "tampered",
    [
        req("ORD-SK-3005", amount="2.50", order="ORD-SK-3005"),
        req("ORD-SK-3006", amount="2.50", order="ORD-SK-3006"),
        req("ORD-SK-3007", amount="2.50", order="ORD-SK-3007"),
        req("ORD-SK-3008", amount="2.50", order="ORD-SK-3008"),
        req("ORD-SK-3009", amount="2.50", order="ORD-SK-3009"),
    ],
    {
        # a genuine post for 250.00 whose amounts were edited to the request's 2.50
        "01-tampered-amount.txt": tampered,
        # signed with a guessed secret word
        "02-forged-wrong-secret.txt": post("ORD-SK-3006", "3318760801", "2.50", "2", word="guess"),
        # signed correctly, but for another Skrill merchant
        "03-other-merchant.txt": post("ORD-SK-3007", "3318760802", "2.50", "2", mid="11111111"),
        # valid signature over mb_amount 250.00, unsigned amount edited to 2.50
        "04-unsigned-amount-edited.txt": post("ORD-SK-3008", "3318760803", "250.00", "2", amount="2.50"),
        # no signature at all: set aside as cut short (Skrill signs every post), not judged forged
        "05-unsigned.txt": post("ORD-SK-3009", "3318760804", "2.50", "2").replace(b"&md5sig=", b"&x_md5sig="),
    },
)

# chargeback after approval
scenario(
    "chargeback",
    [req("ORD-SK-3010", amount="75.00", order="ORD-SK-3010")],
    {
        "01-processed.txt": post("ORD-SK-3010", "3318760900", "75.00", "2"),
        "02-chargeback.txt": post("ORD-SK-3010", "3318760900", "75.00", "-3"),
    },
)

# amount mismatch; and a converted payment (request in GBP, wallet in EUR) that matches on amount/currency
scenario(
    "amount-mismatch",
    [
        req("ORD-SK-3011", amount="25.00", order="ORD-SK-3011"),
        req("ORD-SK-3012", amount="20.45", currency="GBP", order="ORD-SK-3012"),
    ],
    {
        "01-less-than-requested.txt": post("ORD-SK-3011", "3318761000", "20.00", "2"),
        "02-converted.txt": post("ORD-SK-3012", "3318761001", "23.90", "2", amount="20.45", currency="GBP"),
    },
)

# orphan: a post for a reference the shop never exported, beside a known one
scenario(
    "orphan",
    [req("ORD-SK-3013", order="ORD-SK-3013")],
    {
        "01-known.txt": post("ORD-SK-3013", "3318761100", "25.00", "2"),
        "02-orphan.txt": post("ORD-SK-9999", "3318761101", "15.00", "2"),
    },
)

# encodings: a non-ASCII reference posted as UTF-8, as Windows-1252, and with a charset header
scenario(
    "encodings",
    [
        req("ACC-FORLÌ-7001", order="", when="2026-11-26T11:00:00", cust="Bottega di Forlì").replace(
            ",,order,", ",,deposit,"
        ),
        req("ACC-FORLÌ-7002", order="", when="2026-11-26T11:05:00", cust="Bottega di Forlì").replace(
            ",,order,", ",,deposit,"
        ),
        req("ACC-FORLÌ-7003", order="", when="2026-11-26T11:10:00", cust="Bottega di Forlì").replace(
            ",,order,", ",,deposit,"
        ),
    ],
    {
        "01-utf8.txt": post("ACC-FORLÌ-7001".encode(), "3318761200", "25.00", "2"),
        "02-windows-1252.txt": post("ACC-FORLÌ-7002".encode("cp1252"), "3318761201", "25.00", "2"),
        "03-latin1-header.txt": post("ACC-FORLÌ-7003".encode("latin-1"), "3318761202", "25.00", "2"),
    },
)
(ROOT / "encodings" / "03-latin1-header.txt.headers").write_text(
    "Content-Type: application/x-www-form-urlencoded; charset=ISO-8859-1\nUser-Agent: Skrill\n"
)

# broken and unknown: what cannot be read is quarantined with a reason; a status nobody mapped is
# kept as unknown (1 "scheduled" belongs to payouts, not to payments)
full = post("ORD-SK-3014", "3318761300", "25.00", "2")
scenario(
    "broken",
    [
        req("ORD-SK-3014", order="ORD-SK-3014"),
        req("ORD-SK-3015", order="ORD-SK-3015"),
        req("ORD-SK-3016", order="ORD-SK-3016"),
        req("ORD-SK-3017", order="ORD-SK-3017"),
    ],
    {
        # cut short after mb_transaction_id: no amount, currency, status, signature
        "01-truncated.txt": full[: full.index(b"&mb_amount")],
        "02-unknown-currency.txt": post(
            "ORD-SK-3015", "3318761301", "25.00", "2", mb_currency="EUX", currency="EUX"
        ),
        "03-bad-amount.txt": post("ORD-SK-3016", "3318761302", "25,00", "2", amount="25,00"),
        "04-unknown-status.txt": post("ORD-SK-3017", "3318761303", "25.00", "1"),
    },
)

# unverifiable: no secret word configured; the outcome is not blocked (require_verified is false)
scenario(
    "unverifiable",
    [req("ORD-SK-3018", order="ORD-SK-3018")],
    {
        "01-processed.txt": post("ORD-SK-3018", "3318761400", "25.00", "2"),
    },
    yaml=f'timezone: Europe/Rome\ngateways:\n  skrill:\n    merchant_id: "{MID}"\n',
)
