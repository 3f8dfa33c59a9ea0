"""``paycli report``: contents, escaping, CSV dialects, outputs, templates, narrowing, exit codes."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import hmac
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from paycli.cli import app
from paycli.store import Store
from tests.conftest import ON_POSTGRES, collated_like_a_language, request_csv
from tests.reports.conftest import CONFIG, DAY, FORMULA, NOW, REQUESTS, XSS, stripe_event


def report(cli, *args: str):
    return cli("report", "--now", NOW, *args)


def csv_rows(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


class Page(HTMLParser):
    """Every tag with its attributes, and the text, of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


# -- the HTML ---------------------------------------------------------------------------------------


def test_html_is_self_contained_and_names_no_external_asset(shop, isolated):
    out = isolated / "r.html"
    assert report(shop, "--date", DAY, "--format", "html", "--out", str(out)).code == 0
    page = parse(out.read_text())
    tags = [t for t, _ in page.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags and "img" not in tags
    assert "style" in tags and "svg" in tags  # inline CSS and the inline chart
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        assert href is None or href.startswith("#"), (tag, href)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert "@media print" in out.read_text() and "max-width: 640px" in out.read_text()


def test_a_customer_named_script_is_shown_as_text_never_run(shop, isolated):
    out = isolated / "r.html"
    report(shop, "--date", DAY, "--format", "html", "--out", str(out))
    html = out.read_text()
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS in "".join(parse(html).text)  # a reader sees the name as it was typed


def bidi_left_open(text: str) -> int:
    """How many embeddings, overrides and isolates ``text`` leaves open at its end, as the Unicode
    bidi algorithm (UAX #9 X1-X8) counts them: what would reorder the text after it."""
    stack: list[str] = []
    for c in text:
        if c in "\u202a\u202b\u202d\u202e":  # LRE RLE LRO RLO
            stack.append("embedding")
        elif c in "\u2066\u2067\u2068":  # LRI RLI FSI
            stack.append("isolate")
        elif c == "\u202c" and stack and stack[-1] == "embedding":  # PDF
            stack.pop()
        elif c == "\u2069" and "isolate" in stack:  # PDI: its isolate and all opened after it
            while stack.pop() != "isolate":
                pass
    return len(stack)


def test_a_bidi_override_in_a_value_stays_inside_its_value(shop, isolated, db_url):
    # U+202E reverses what follows it, to the end of its paragraph: the rest of the cell (the e-mail
    # under a customer's name, a detail under a reason), more where a reader runs cells together
    # (a mail client's text view, a screen reader). Each value with a bidi control is isolated
    # (FSI ... PDI), and a PDI it holds that closes nothing of its own (it would close the isolate) is
    # shown as its escape.
    with Store.open(db_url) as store:
        store.execute(
            "UPDATE payment_request SET customer = :c WHERE order_id = 'R-1002'", {"c": "Rossi \u202eApS"}
        )
        store.execute(
            "UPDATE payment_request SET email = :e WHERE order_id = 'R-1002'", {"e": "x\u2069\u202e@y"}
        )
        store.execute("UPDATE resolution SET note = :n", {"n": "\u2067seen\u202b in the bank"})
    out = isolated / "r.html"
    assert report(shop, "--date", DAY, "--format", "html", "--out", str(out)).code == 0
    html = out.read_text()
    assert "\u2068Rossi \u202eApS\u2069" in html  # the request rows (built in Python)
    assert "\u2068x\\u2069\u202e@y\u2069" in html  # a stray PDI is shown, not obeyed
    assert "\u2068\u2067seen\u202b in the bank\u2069\u2069" in html  # the template's values
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    assert any("\u202e" in c for c in cells)
    assert [c for c in cells if bidi_left_open(c)] == []
    assert bidi_left_open(html) == 0


def test_the_report_lists_each_section(shop, isolated):
    out = isolated / "r.html"
    report(shop, "--date", DAY, "--format", "html", "--out", str(out))
    text = " ".join(" ".join(parse(out.read_text()).text).split())
    assert "VERIFICARE: needs a look 2" in text and "NEGATIVO: refused 2" in text
    assert "R-1003-1" in text and "19h 30m" in text  # age of a VERIFICARE request: now - created_at
    assert "R-7777-1" in text  # the orphan
    assert "paid twice" in text and "unpaid" in text and "after failure" not in text
    assert "seen in the bank" in text and "anna" in text  # the resolution
    assert "A-0001-1" not in text  # made the next day
    assert "And 1 VERIFICARE request created before this period" in text
    for line in (
        "amount differs",
        "settled, not POSITIVO here",
        "settled, unknown here",
        "approved, not settled",
    ):
        assert line in text


# -- the CSV ----------------------------------------------------------------------------------------


def test_csv_is_rfc4180_with_a_section_column(shop, isolated):
    out = isolated / "r.csv"
    assert report(shop, "--date", DAY, "--format", "csv", "--out", str(out)).code == 0
    data = out.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") and data.endswith(b"\r\n")
    rows = csv_rows(data.decode())
    sections = {r["section"] for r in rows}
    assert {"report", "total", "day", "verificare", "negativo", "orphan", "order", "resolution"} <= sections
    assert {"settlement_total", "settlement", "not_settled"} <= sections
    classes = {
        r["txn_id"] or r["note"]: r["status"]
        for r in rows
        if r["section"] == "settlement" and r["kind"] == "charge"
    }
    assert classes == {
        "S-2001-1": "matched",
        "S-2002-1": "amount_differs",
        "S-2004-1": "settled_not_positivo",
        "S-9999-1": "unknown_here",
    }
    assert [r["txn_id"] for r in rows if r["section"] == "not_settled"] == ["S-2003-1"]


def bank_shop(cli, isolated, requests: list[str], bank_rows: str) -> None:  # type: ignore[no-untyped-def]
    """The report tests' configuration, these requests, and a bank export of these rows, ingested."""
    (isolated / "paycli.yaml").write_text(CONFIG)
    bank = isolated / "bank.csv"
    bank.write_text("id,ref,amount,currency,esito\n" + bank_rows)
    assert cli("ingest", str(request_csv(isolated, requests)), str(bank)).code == 0


def test_an_order_paid_in_two_currencies_is_never_summed_into_one(cli, isolated):
    bank_shop(
        cli,
        isolated,
        [
            "F-1,O-CUR,order,2026-11-26T10:00:00+01:00,Cur Fail,c@example.com,100.00,EUR,bank",
            "F-2,O-CUR,order,2026-11-26T10:05:00+01:00,Cur Fail,c@example.com,120.00,USD,bank",
            "J-1,O-JPY,order,2026-11-26T10:10:00+01:00,Yen Twice,j@example.com,8800,JPY,bank",
            "J-2,O-JPY,order,2026-11-26T10:15:00+01:00,Yen Twice,j@example.com,58.00,EUR,bank",
            "N-1,O-NONE,order,2026-11-26T10:20:00+01:00,Never Paid,n@example.com,100.00,USD,bank",
            "N-2,O-NONE,order,2026-11-26T10:25:00+01:00,Never Paid,n@example.com,90.00,EUR,bank",
        ],
        "B1,F-1,100.00,EUR,KO\nB2,F-2,120.00,USD,OK\nB3,J-1,8800,JPY,OK\nB4,J-2,58.00,EUR,OK\n"
        "B5,N-1,100.00,USD,KO\nB6,N-2,90.00,EUR,KO\n",
    )
    assert report(cli, "--date", DAY, "--format", "csv,html", "--out", f"{isolated}/").code == 0
    orders = {
        r["order_id"]: r
        for r in csv_rows((isolated / f"paycli-report-{DAY}.csv").read_text())
        if r["section"] == "order"
    }
    assert "O-CUR" not in orders  # refused in EUR, paid in USD: a retry, no anomaly
    # paid twice, once in JPY and once in EUR: no one amount, each named
    assert (orders["O-JPY"]["amount"], orders["O-JPY"]["currency"]) == ("", "")
    assert orders["O-JPY"]["detail"].endswith("; paid 58.00 EUR + 8800 JPY")  # by currency
    html = " ".join(" ".join(parse((isolated / f"paycli-report-{DAY}.html").read_text()).text).split())
    assert "58.00 EUR + 8800 JPY" in html and "146.00" not in html
    # never paid, tried in USD and in EUR: nothing in either, not "0.00 EUR" as if it were a EUR order
    assert (orders["O-NONE"]["reason"], orders["O-NONE"]["amount"], orders["O-NONE"]["currency"]) == (
        "UNPAID",
        "",
        "",
    )
    assert orders["O-NONE"]["detail"] == "0 approved, 2 refused, 0 to verify; paid 0.00 EUR + 0.00 USD"
    assert "0.00 EUR + 0.00 USD" in html


def test_orders_are_listed_in_the_same_order_with_the_same_name_whatever_the_collation(cli, isolated, db_url):
    # a PostgreSQL database of a real language (ICU en-US, a production server's usual) put "a-1"
    # before "B-1" and took "Rossi Mario" for the greater name, where SQLite compares bytes
    (isolated / "paycli.yaml").write_text(CONFIG)
    assert cli("db", "upgrade").code == 0
    with Store.connect(db_url) as store:
        collated_like_a_language(store, "payment_request", {"order_id": 128, "customer": 255})
    requests = [
        "A1,a-1,order,2026-11-26T10:00:00+01:00,rossi mario,r@example.com,10.00,EUR,bank",
        "A2,a-1,order,2026-11-26T11:00:00+01:00,Rossi Mario,r@example.com,10.00,EUR,bank",
        "B1,B-1,order,2026-11-26T10:00:00+01:00,Bianchi,b@example.com,10.00,EUR,bank",
        "B2,B-1,order,2026-11-26T11:00:00+01:00,Bianchi,b@example.com,10.00,EUR,bank",
    ]
    bank = isolated / "bank.csv"
    bank.write_text(
        "id,ref,amount,currency,esito\n"
        + "".join(f"K{i},{r[:2]},10.00,EUR,KO\n" for i, r in enumerate(requests))
    )
    assert cli("ingest", str(request_csv(isolated, requests)), str(bank)).code == 0
    rows = csv_rows(report(cli, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    orders = [(r["order_id"], r["customer"]) for r in rows if r["section"] == "order"]
    assert orders == [("B-1", "Bianchi"), ("a-1", "rossi mario")]  # by their bytes, as SQLite


def test_a_charge_settled_in_another_currency_is_matched_on_what_the_customer_paid(cli, isolated):
    # two USD orders paid by card, each settled in the EUR balance as 45.10 after conversion; the
    # second one's customer-facing amount is not what was asked
    (isolated / "paycli.yaml").write_text(CONFIG)
    requests = [
        f"U-{n}-1,U-{n},order,2026-11-26T16:00:00+01:00,Jane Doe,jane@example.com,49.90,USD,stripe"
        for n in (1, 2)
    ]
    request_csv(isolated, requests)
    for n in (1, 2):
        (isolated / f"u{n}.json").write_text(stripe_event(f"U-{n}-1", f"pi_u{n}", 4990, "usd", 1795705260))
    (isolated / "balance.csv").write_text(
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id,"
        "payment_metadata[txn_id],customer_facing_amount,customer_facing_currency\n"
        "txn_u1,2026-11-26 15:01:00,eur,45.10,1.20,43.90,charge,pi_u1,U-1-1,49.90,usd\n"
        "txn_u2,2026-11-26 15:02:00,eur,45.10,1.20,43.90,charge,pi_u2,U-2-1,40.00,usd\n"
    )
    assert cli("ingest", "requests.csv", "u1.json", "u2.json", "balance.csv").code == 0
    out = isolated / "r.csv"
    assert report(cli, "--date", DAY, "--format", "csv", "--out", str(out)).code == 0
    rows = csv_rows(out.read_bytes().decode())
    classes = {
        r["txn_id"]: (r["status"], r["amount"], r["currency"]) for r in rows if r["section"] == "settlement"
    }
    # the line still shows the money that reached the balance
    assert classes == {"U-1-1": ("matched", "45.10", "EUR"), "U-2-1": ("amount_differs", "45.10", "EUR")}
    # and paycli show says both
    trail = json.loads(cli("show", "U-2-1", "--format", "json").stdout)["trail"]
    [line] = [e for e in trail if e["type"] == "settlement"]
    assert (line["amount"], line["currency"]) == ("45.10", "EUR")
    assert line["note"] == "fee 1.20, net 43.90, customer paid 40.00 USD"


def signed_webhook(folder, name: str, body: str, secret: bytes) -> str:
    t = 1795705260
    v1 = hmac.new(secret, f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    (folder / name).write_text(body)
    (folder / f"{name}.headers").write_text(f"Stripe-Signature: t={t},v1={v1}\n")
    return name


def test_a_forged_copy_of_a_payment_does_not_draw_its_settled_money(cli, isolated, db_url):
    # F-1-1, registered first, is named by a forged copy of G-1-1's PaymentIntent; the balance line
    # names the PaymentIntent only: the money is G-1-1's, whatever request id is lower
    (isolated / "paycli.yaml").write_text(
        CONFIG.replace("stripe: {}", "stripe:\n    webhook_secret: whsec_x")
    )
    request_csv(
        isolated,
        [
            f"{t}-1,{t},order,2026-11-26T16:00:00+01:00,{who},x@example.com,49.90,EUR,stripe"
            for t, who in (("F-1", "Forger"), ("G-1", "Genuine"))
        ],
    )
    events = [
        signed_webhook(
            isolated, "g.json", stripe_event("G-1-1", "pi_g1", 4990, "eur", 1795705260), b"whsec_x"
        ),
        signed_webhook(
            isolated, "f.json", stripe_event("F-1-1", "pi_g1", 4990, "eur", 1795705260), b"whsec_no"
        ),
    ]
    (isolated / "balance.csv").write_text(
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id\n"
        "txn_g1,2026-11-26 15:01:00,eur,49.90,1.00,48.90,charge,pi_g1\n"
    )
    assert cli("ingest", "requests.csv", *events, "balance.csv").code == 0
    out = isolated / "r.csv"
    assert report(cli, "--date", DAY, "--format", "csv", "--out", str(out)).code == 0
    rows = csv_rows(out.read_bytes().decode())
    assert [(r["txn_id"], r["status"]) for r in rows if r["section"] == "settlement"] == [
        ("G-1-1", "matched")
    ]
    assert [r["txn_id"] for r in rows if r["section"] == "not_settled"] == []
    for txn_id, settled in (("G-1-1", ["charge"]), ("F-1-1", [])):
        trail = json.loads(cli("show", txn_id, "--format", "json").stdout)["trail"]
        assert [e["status"] for e in trail if e["type"] == "settlement"] == settled, txn_id


def settled_stripe_payment(cli, isolated, txn_id: str, balance: str):
    """One Stripe request paid (pi_<txn_id>), a balance report, and the day's report with --fail-on
    SETTLEMENT: its result and its settlement rows."""
    pi = "pi_" + txn_id.lower().replace("-", "")
    (isolated / "paycli.yaml").write_text(CONFIG)
    order = txn_id.rsplit("-", 1)[0]
    request_csv(
        isolated, [f"{txn_id},{order},order,2026-11-26T16:00:00+01:00,Kim,k@example.com,49.90,EUR,stripe"]
    )
    (isolated / "event.json").write_text(stripe_event(txn_id, pi, 4990, "eur", 1795705260))
    (isolated / "balance.csv").write_text(balance.replace("{pi}", pi))
    assert cli("ingest", "requests.csv", "event.json", "balance.csv").code == 0
    out = isolated / "r.csv"
    result = report(cli, "--date", DAY, "--format", "csv", "--out", str(out), "--fail-on", "SETTLEMENT")
    return result, [r for r in csv_rows(out.read_bytes().decode()) if r["section"] == "settlement"]


def test_a_request_settled_by_two_charges_is_charged_twice_and_fails_settlement(cli, isolated):
    # the webhook's payment settled, and a second payment the webhooks never told of names the request
    result, lines = settled_stripe_payment(
        cli,
        isolated,
        "D-1-1",
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id,"
        "payment_metadata[txn_id]\n"
        "txn_d1,2026-11-26 15:01:00,eur,49.90,1.00,48.90,charge,{pi},\n"
        "txn_d2,2026-11-26 15:03:00,eur,49.90,1.00,48.90,charge,pi_d2,D-1-1\n",
    )
    assert result.code == 1, result
    assert [(r["txn_id"], r["status"]) for r in lines] == [
        ("D-1-1", "charged_twice"),
        ("D-1-1", "charged_twice"),
    ]
    html = isolated / "r.html"
    assert report(cli, "--date", DAY, "--format", "html", "--out", str(html)).code == 0
    tag = '<span class="tag charged_twice">charged twice</span>'
    assert html.read_text().count(tag) == 3  # the card and both lines


def test_a_chargeback_fails_settlement(cli, isolated):
    result, lines = settled_stripe_payment(
        cli,
        isolated,
        "K-1-1",
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id\n"
        "txn_k1,2026-11-26 15:01:00,eur,49.90,1.00,48.90,charge,{pi}\n"
        "txn_k2,2026-11-26 19:00:00,eur,-49.90,15.00,-64.90,dispute,{pi}\n",
    )
    assert result.code == 1, result
    assert [r["status"] for r in lines] == ["matched", "chargeback"]


@pytest.mark.parametrize("reports_first", [False, True], ids=["events-first", "report-first"])
def test_a_balance_report_that_names_only_the_charge_is_matched_through_the_webhooks(
    cli, isolated, db_url, reports_first
):
    # A report downloaded without payment_intent_id and payment_metadata columns: each line names the
    # charge, which the webhooks give beside the PaymentIntent their responses are keyed by.
    (isolated / "paycli.yaml").write_text(
        CONFIG.replace("stripe: {}", "stripe:\n    webhook_secret: whsec_x")
    )
    request_csv(
        isolated,
        [
            f"C-{n}-1,C-{n},order,2026-11-26T16:00:00+01:00,Jane Doe,jane@example.com,49.90,EUR,stripe"
            for n in (1, 2, 3, 4)
        ],
    )
    secret = {"genuine": b"whsec_x", "forged": b"whsec_not_the_shops"}

    def webhook(name: str, body: str, signer: str = "genuine") -> str:
        t = 1795705260
        v1 = hmac.new(secret[signer], f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        (isolated / name).write_text(body)
        (isolated / f"{name}.headers").write_text(f"Stripe-Signature: t={t},v1={v1}\n")
        return name

    paid = json.loads(stripe_event("C-1-1", "pi_c1", 4990, "eur", 1795705260))
    paid["data"]["object"]["latest_charge"] = "ch_c1"
    charge = json.loads(stripe_event("C-2-1", "pi_c2", 4990, "eur", 1795705260))
    charge["type"] = "charge.succeeded"
    charge["data"]["object"].update(id="ch_c2", object="charge", payment_intent="pi_c2", amount_captured=4990)
    # a charge of C-3-1 that a forger says is C-4-1's: C-4-1 must not take C-3-1's settled money
    forged = json.loads(stripe_event("C-4-1", "pi_c4", 4990, "eur", 1795705260))
    forged["data"]["object"]["latest_charge"] = "ch_c3"
    events = [
        webhook("c1.json", json.dumps(paid)),
        webhook("c2.json", json.dumps(charge)),
        webhook("c3.json", stripe_event("C-3-1", "pi_c3", 4990, "eur", 1795705260)),  # says no charge
        webhook("c4.json", json.dumps(forged), "forged"),
    ]
    (isolated / "balance.csv").write_text(
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id\n"
        "txn_c1,2026-11-26 15:01:00,eur,49.90,1.00,48.90,charge,ch_c1\n"
        "txn_c2,2026-11-26 15:02:00,eur,49.90,1.00,48.90,charge,ch_c2\n"
        "txn_c3,2026-11-26 15:03:00,eur,49.90,1.00,48.90,charge,ch_c3\n"
        "txn_r1,2026-11-26 18:00:00,eur,-49.90,0.00,-49.90,refund,re_c1\n"
    )
    batches = [["requests.csv", *events], ["balance.csv"]]
    for batch in reversed(batches) if reports_first else batches:
        assert cli("ingest", *batch).code == 0
    out = isolated / "r.csv"
    assert report(cli, "--date", DAY, "--format", "csv", "--out", str(out)).code == 0
    rows = csv_rows(out.read_bytes().decode())
    lines = {(r["kind"], r["txn_id"] or r["note"]): r["status"] for r in rows if r["section"] == "settlement"}
    unknown = {k: v for k, v in lines.items() if v == "unknown_here"}
    assert lines[("charge", "C-1-1")] == lines[("charge", "C-2-1")] == "matched"
    assert len(unknown) == 1 and ("charge", "C-4-1") not in lines  # ch_c3: no genuine event names it
    assert sorted(r["txn_id"] for r in rows if r["section"] == "not_settled") == ["C-3-1"]
    # paycli show puts the line in the trail of the request it settled, as the report matches it
    for txn_id, settled in (("C-1-1", ["charge"]), ("C-2-1", ["charge"]), ("C-3-1", []), ("C-4-1", [])):
        shown = cli("show", txn_id, "--format", "json")
        assert shown.code == 0, shown
        trail = json.loads(shown.stdout)["trail"]
        assert [e["status"] for e in trail if e["type"] == "settlement"] == settled, (txn_id, trail)
    with Store.open(db_url) as store:
        aliases = store.query("SELECT provider, alias, gateway_txn_id FROM gateway_alias ORDER BY alias")
        assert [tuple(dict(r).values()) for r in aliases] == [
            ("stripe", "ch_c1", "pi_c1"),
            ("stripe", "ch_c2", "pi_c2"),
        ]


def paypal_stl(charges: list[tuple[str, str, int]]) -> str:
    """A PayPal STL report of the report tests' day: a payment received (T0007) for each (transaction
    id, Invoice ID, gross in cents), with a fee of 1.00."""
    head = (
        '"RH",2026/11/27 03:00:00 -0800,"A","ACCOUNT1",001\n"FH",01\n'
        '"SH",2026/11/26 00:00:00 -0800,2026/11/26 23:59:59 -0800,"ACCOUNT1",""\n'
        '"CH","Transaction ID","Invoice ID","PayPal Reference ID","PayPal Reference ID Type",'
        '"Transaction Event Code","Transaction Initiation Date","Transaction Completion Date",'
        '"Transaction  Debit or Credit","Gross Transaction Amount","Gross Transaction Currency",'
        '"Fee Debit or Credit","Fee Amount","Fee Currency","Custom Field","Consumer ID"\n'
    )
    lines = "".join(
        f'"SB","{txn}","{invoice}","","","T0007",2026/11/26 02:00:00 -0800,2026/11/26 02:00:00 -0800,'
        f'"CR",{gross},"EUR","DR",100,"EUR","",""\n'
        for txn, invoice, gross in charges
    )
    return head + lines + f'"SC",{len(charges)}\n"RC",{len(charges)}\n"FF",01\n'


def test_a_charge_of_another_gateway_for_a_request_is_an_exception_never_matched(cli, isolated):
    # A-1 was sent to the bank and paid there; a PayPal report settles a charge that names it: the money
    # went to another gateway than the request's (paycli show flags it so), or its reference was reused
    bank_shop(
        cli,
        isolated,
        ["A-1,O-A,order,2026-11-26T10:00:00+01:00,Rossi,r@example.com,35.00,EUR,bank"],
        "K1,A-1,35.00,EUR,OK\n",
    )
    (isolated / "paycli.yaml").write_text(CONFIG + "  paypal: {}\n")
    (isolated / "STL-20261126.01.001.CSV").write_text(paypal_stl([("8HX51634YV2873511", "A-1", 3500)]))
    assert cli("ingest", str(isolated / "STL-20261126.01.001.CSV")).code == 0
    result = report(cli, "--date", DAY, "--out", f"{isolated}/", "--fail-on", "SETTLEMENT")
    assert result.code == 1 and "needs a look: 1 SETTLEMENT" in result.stderr, result
    [line] = [
        r
        for r in csv_rows((isolated / f"paycli-report-{DAY}.csv").read_text())
        if r["section"] == "settlement"
    ]
    assert (line["txn_id"], line["gateway"], line["kind"], line["status"]) == (
        "A-1",
        "paypal",
        "charge",
        "other_gateway",
    )
    html = " ".join(" ".join(parse((isolated / f"paycli-report-{DAY}.html").read_text()).text).split())
    assert "other gateway" in html and "8HX51634YV2873511" in html  # listed among the lines to look at


def test_a_charge_of_another_gateway_does_not_settle_the_request(cli, isolated):
    # P-1 paid at Stripe, whose balance report of the day has no charge for it; a PayPal charge that
    # names it leaves it approved here and not settled at its own gateway
    (isolated / "paycli.yaml").write_text(CONFIG + "  paypal: {}\n")
    request_csv(isolated, ["P-1,O-P,order,2026-11-26T16:00:00+01:00,Kim,k@example.com,49.90,EUR,stripe"])
    (isolated / "event.json").write_text(stripe_event("P-1", "pi_p1", 4990, "eur", 1795705260))
    (isolated / "balance.csv").write_text(
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category\n"
        "txn_f,2026-11-26 20:00:00,eur,-2.00,0.00,-2.00,fee\n"
    )
    (isolated / "STL-20261126.01.001.CSV").write_text(paypal_stl([("8HX51634YV2873511", "P-1", 4990)]))
    assert cli("ingest", "requests.csv", "event.json", "balance.csv", "STL-20261126.01.001.CSV").code == 0
    rows = csv_rows(report(cli, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    assert [(r["txn_id"], r["gateway"], r["status"]) for r in rows if r["section"] == "settlement"] == [
        ("P-1", "paypal", "other_gateway"),
        ("", "stripe", "fee"),
    ]
    assert [(r["txn_id"], r["gateway"]) for r in rows if r["section"] == "not_settled"] == [("P-1", "stripe")]


def test_an_undone_resolution_says_who_undid_it_and_why_in_the_csv_as_in_the_html(shop, isolated, db_url):
    assert shop("resolve", "R-1006-1", "--undo", "--note", "the bank returned it", "--by", "bruno").code == 0
    with Store.open(db_url) as store:  # undone on the report's day, whatever the clock says
        undone = datetime.fromisoformat(f"{DAY}T22:00:00+01:00").astimezone(UTC)
        store.execute("UPDATE resolution SET undone_at = :t", {"t": store.time(undone)})
    out = isolated / "r.csv"
    assert report(shop, "--date", DAY, "--format", "csv", "--out", str(out)).code == 0
    [row] = [r for r in csv_rows(out.read_bytes().decode()) if r["section"] == "resolution"]
    assert row["status"].startswith("undone ") and row["by"] == "anna"
    assert row["note"] == "'=cmd|' /C calc'!A0 seen in the bank; undone by bruno: the bank returned it"


def test_a_resolution_note_of_two_lines_stays_one_cell_and_its_second_line_runs_nothing(
    shop, isolated, db_url
):
    note = "<script>alert(1)</script> seen in the bank\n=cmd|' /C calc'!A0"
    with Store.open(db_url) as store:  # as `paycli resolve --note $'...'` stores it
        store.execute("UPDATE resolution SET note = :n, actor = :a", {"n": note, "a": "anna\r@x"})
    for dialect, delimiter in (("standard", ","), ("excel-it", ";")):
        result = report(shop, "--date", DAY, "--format", "csv", "--csv-dialect", dialect, "--out", "-")
        rows = csv_rows(result.stdout.lstrip("\ufeff"), delimiter)
        assert {r["section"] for r in rows} <= {
            "report", "total", "day", "verificare", "verificare_before", "verificare_late", "negativo",
            "orphan", "order", "resolution", "settlement_total", "settlement", "not_settled",
        }  # fmt: skip
        [row] = [r for r in rows if r["section"] == "resolution"]
        assert (row["note"], row["by"]) == (note, "anna\\r@x")  # a lone \r would rewrite a terminal's line


def test_formula_cells_are_neutralised_but_negative_amounts_stay_numbers(shop, isolated):
    out = isolated / "r.csv"
    report(shop, "--date", DAY, "--format", "csv", "--out", str(out))
    rows = csv_rows(out.read_bytes().decode())
    customers = {r["customer"] for r in rows}
    assert FORMULA not in customers and "'" + FORMULA in customers
    notes = [r["note"] for r in rows if r["section"] == "resolution"]
    assert notes == ["'=cmd|' /C calc'!A0 seen in the bank"]
    numeric = {"amount", "fee", "net", "count", "age_hours"}
    for r in rows:
        for column, value in r.items():
            if column not in numeric:
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)
    refund = next(r for r in rows if r["section"] == "settlement" and r["kind"] == "refund")
    assert refund["amount"] == "-10.00" and refund["net"] == "-10.00"


def test_report_csv_cells_follow_the_listings_rule_blanks_before_a_formula_and_escapes(
    shop, isolated, db_url
):
    # one rule (paycli.cells) for every CSV: a formula after blanks is neutralised, and a character a
    # terminal obeys (`--out -`, `cat`) is written as its escape, in the report's fast and slow paths
    with Store.open(db_url) as store:
        store.execute("UPDATE payment_request SET customer = :c WHERE txn_id = 'R-1003-1'", {"c": " =1+1"})
        store.execute(
            "UPDATE payment_request SET customer = :c WHERE order_id = 'R-1002'",
            {"c": "Rossi\x1b[2J\u202eSpA"},
        )
        store.execute("UPDATE resolution SET note = :n", {"n": "\u2067=cmd"})
    for dialect, delimiter in (("standard", ","), ("excel-it", ";")):
        result = report(shop, "--date", DAY, "--format", "csv", "--csv-dialect", dialect, "--out", "-")
        assert not {"\x1b", "\u202e", "\u2067"} & set(result.stdout)
        rows = csv_rows(result.stdout.lstrip("\ufeff"), delimiter)
        customers = {r["customer"] for r in rows}
        assert "' =1+1" in customers and " =1+1" not in customers
        assert "Rossi\\x1b[2J\\u202eSpA" in customers
        assert [r["note"] for r in rows if r["section"] == "resolution"] == ["\\u2067=cmd"]


def test_excel_it_dialect_semicolons_decimal_comma_and_bom(shop, isolated):
    out = isolated / "r.csv"
    report(shop, "--date", DAY, "--format", "csv", "--csv-dialect", "excel-it", "--out", str(out))
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = csv_rows(data.decode("utf-8-sig"), delimiter=";")
    r1004 = next(r for r in rows if r["section"] == "order" and r["order_id"] == "R-1004")
    assert r1004["amount"] == "2469,12" and r1004["customer"] == "Niccolò Fabbri"
    assert (
        next(r for r in rows if r["section"] == "settlement" and r["kind"] == "refund")["amount"] == "-10,00"
    )


def test_an_amount_mismatch_is_said_in_the_decimal_mark_of_the_dialect(shop, isolated):
    row = "R-1009-1,R-1009,order,2026-11-26T11:00:00+01:00,Marta Neri,marta@example.com,1234.50,EUR,bank"
    (isolated / "late.csv").write_text("id,ref,amount,currency,esito\nB9,R-1009-1,1234.00,EUR,OK\n")
    assert (
        shop("ingest", str(request_csv(isolated, [row], name="more.csv")), str(isolated / "late.csv")).code
        == 0
    )
    out = isolated / "r.csv"
    report(shop, "--date", DAY, "--format", "csv", "--csv-dialect", "excel-it", "--out", str(out))
    rows = csv_rows(out.read_bytes().decode("utf-8-sig"), delimiter=";")
    r1009 = next(r for r in rows if r["section"] == "verificare" and r["txn_id"] == "R-1009-1")
    assert (r1009["detail"], r1009["amount"]) == ("expected 1234,50 EUR, got 1234,00 EUR", "1234,50")
    html = report(shop, "--date", DAY, "--format", "html", "--out", "-").stdout
    assert "expected 1234.50 EUR, got 1234.00 EUR" in html


# -- narrowing, empty periods, daylight saving -------------------------------------------------------


def test_gateway_narrows_every_section(shop, isolated):
    out = isolated / "r.csv"
    assert report(shop, "--date", DAY, "--format", "csv", "--gateway", "stripe", "--out", str(out)).code == 0
    rows = csv_rows(out.read_bytes().decode())
    assert {r["gateway"] for r in rows if r["section"] not in ("report", "day")} == {"stripe"}
    assert not any(r["txn_id"].startswith("R-") for r in rows)
    assert sum(int(r["count"]) for r in rows if r["section"] == "day") == 4


def test_an_order_paid_at_two_gateways_is_paid_twice_in_a_report_of_either(cli, isolated):
    (isolated / "paycli.yaml").write_text(CONFIG)
    request_csv(
        isolated,
        [
            "W-1-1,W-1,order,2026-11-26T10:00:00+01:00,Twice,,49.90,EUR,bank",
            "W-1-2,W-1,order,2026-11-26T10:05:00+01:00,Twice,,49.90,EUR,stripe",
        ],
    )
    (isolated / "bank.csv").write_text("id,ref,amount,currency,esito\nW1,W-1-1,49.90,EUR,OK\n")
    (isolated / "w.json").write_text(stripe_event("W-1-2", "pi_w1", 4990, "eur", 1795705260))
    assert cli("ingest", "requests.csv", "bank.csv", "w.json").code == 0
    for gateway in ("bank", "stripe"):
        out = isolated / f"{gateway}.csv"
        assert (
            report(cli, "--date", DAY, "--format", "csv", "--gateway", gateway, "--out", str(out)).code == 0
        )
        rows = csv_rows(out.read_bytes().decode())
        assert [(r["order_id"], r["reason"], r["count"]) for r in rows if r["section"] == "order"] == [
            ("W-1", "PAID_TWICE", "2")
        ], gateway


def test_a_gateway_neither_configured_nor_in_the_store_is_refused_not_an_empty_report(shop, isolated, db_url):
    out = isolated / "r.csv"
    result = report(shop, "--date", DAY, "--gateway", "strpe", "--fail-on", "VERIFICARE", "--out", str(out))
    assert (result.code, result.stderr) == (
        2,
        "paycli: --gateway: no gateway 'strpe' in the configuration nor in the store (did you mean 'stripe'? "
        "gateways: axerve, bank, nexi, paypal, skrill, stripe)\n",
    )
    assert not out.exists()
    # a gateway paycli reads nothing from but that requests name (payments checked by hand) is one
    with Store.open(db_url) as store:
        store.execute("UPDATE payment_request SET gateway = 'cash' WHERE txn_id = 'R-1006-1'")
    assert report(shop, "--date", DAY, "--gateway", "cash", "--out", str(out)).code == 0


def test_an_empty_period_gives_a_valid_report_that_says_so(shop, isolated):
    out = isolated / "out"
    result = report(shop, "--date", "2026-01-15", "--out", str(out) + "/")
    assert result.code == 0 and "nothing happened in 2026-01-15" in result.stderr
    html = (out / "paycli-report-2026-01-15.html").read_text()
    assert "Nothing happened in this period" in html
    parse(html)  # well-formed enough for a parser
    rows = csv_rows((out / "paycli-report-2026-01-15.csv").read_bytes().decode())
    assert rows[0]["section"] == "report" and rows[0]["note"] == "empty period: nothing happened"
    assert {r["section"] for r in rows} == {"report", "day"}


def test_the_first_and_last_days_the_calendar_holds_give_reports(cli, isolated):
    first = report(cli, "--date", "0001-01-03", "--format", "html", "--out", "-")
    assert first.code == 0, first
    # the chart's days before the period stop at the calendar's first: 0001-01-01 begins in year 0 in Rome
    assert re.findall(r'text-anchor="middle">([0-9-]+)<', first.stdout) == ["01-02", "01-03"]
    last = report(cli, "--since", "9999-01-01", "--until", "9999-12-30", "--format", "csv", "--out", "-")
    assert last.code == 0, last
    months = [r["at"] for r in csv_rows(last.stdout) if r["section"] == "day"]  # charted by month
    assert sorted(set(months)) == [f"9999-{m:02d}" for m in range(1, 13)]
    first = report(cli, "--since", "0001-01-02", "--until", "0001-12-31", "--format", "csv", "--out", "-")
    months = [r["at"] for r in csv_rows(first.stdout) if r["section"] == "day"]  # four digits, not 1-01
    assert first.code == 0 and sorted(set(months)) == [f"0001-{m:02d}" for m in range(1, 13)]


@pytest.mark.parametrize(
    ("day", "inside", "outside"),
    [
        # last Sunday of March: 23 hours, 00:00+01:00 to 24:00+02:00
        (
            "2026-03-29",
            ["2026-03-29T00:00:00+01:00", "2026-03-29T23:59:59+02:00"],
            ["2026-03-28T23:59:59+01:00", "2026-03-30T00:00:00+02:00"],
        ),
        # last Sunday of October: 25 hours, 00:00+02:00 to 24:00+01:00
        (
            "2026-10-25",
            ["2026-10-25T00:00:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-25T23:59:59+01:00"],
            ["2026-10-24T23:59:59+02:00", "2026-10-26T00:00:00+01:00"],
        ),
    ],
)
def test_daylight_saving_days_of_rome_have_their_real_boundaries(cli, isolated, day, inside, outside):
    rows = [f"D-{i},,other,{at},Customer {i},,10.00,EUR,nexi" for i, at in enumerate(inside + outside)]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    out = isolated / "r.csv"
    assert report(cli, "--date", day, "--format", "csv", "--out", str(out)).code == 0
    found = {r["txn_id"] for r in csv_rows(out.read_bytes().decode()) if r["section"] == "verificare"}
    assert found == {f"D-{i}" for i in range(len(inside))}


def test_the_two_times_of_the_repeated_autumn_hour_are_told_apart(cli, isolated):
    rows = [
        "S,,other,2026-10-25T02:30:00+02:00,S,,1.00,EUR,nexi",
        "W,,other,2026-10-25T02:30:00+01:00,W,,1.00,EUR,nexi",
    ]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    out = isolated / "r.csv"
    assert report(cli, "--date", "2026-10-25", "--format", "csv", "--out", str(out)).code == 0
    at = {r["txn_id"]: r["at"] for r in csv_rows(out.read_bytes().decode()) if r["section"] == "verificare"}
    assert at == {"S": "2026-10-25 02:30+02:00", "W": "2026-10-25 02:30+01:00"}
    html = isolated / "r.html"
    assert report(cli, "--date", "2026-10-25", "--format", "html", "--out", str(html)).code == 0
    assert "2026-10-25 02:30+02:00" in html.read_text() and "2026-10-25 02:30+01:00" in html.read_text()


# -- cron: exit codes, the lock ----------------------------------------------------------------------


def test_fail_on_verificare_exits_1_when_a_request_needs_a_look(shop, isolated):
    result = report(shop, "--date", DAY, "--out", str(isolated) + "/", "--fail-on", "VERIFICARE")
    assert result.code == 1 and "needs a look: 2 VERIFICARE" in result.stderr
    assert (isolated / "paycli-report-2026-11-26.html").exists()  # the report is written all the same
    calm = report(shop, "--date", "2026-11-27", "--out", str(isolated) + "/", "--fail-on", "verificare")
    assert calm.code == 0, calm


def pin(db_url: str, sql: str, when: str) -> None:
    """Set a time the pipeline took from the clock (``:t`` in ``sql``) to ``when``, a local ISO time."""
    with Store.open(db_url) as store:
        store.execute(sql, {"t": store.time(datetime.fromisoformat(when).astimezone(UTC))})


def test_an_older_request_turned_verificare_in_the_period_is_listed_and_fails_the_cron(
    shop, isolated, db_url
):
    # the day after the shop's day: R-1001-1, paid on the 26th, gets a refusal too; the resolution that
    # made R-1006-1 POSITIVO on the 26th is undone. Neither was created on the 27th.
    (isolated / "later.csv").write_text("id,ref,amount,currency,esito\nB10,R-1001-1,129.90,EUR,KO\n")
    assert shop("ingest", str(isolated / "later.csv")).code == 0
    assert shop("resolve", "R-1006-1", "--undo", "--note", "not in the bank", "--by", "bruno").code == 0
    pin(
        db_url,
        "UPDATE response SET received_at = :t WHERE gateway_txn_id = 'B10'",
        "2026-11-27T09:00:00+01:00",
    )
    pin(db_url, "UPDATE resolution SET undone_at = :t", "2026-11-27T10:00:00+01:00")
    day, now = "2026-11-27", "2026-11-28T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "--out", f"{isolated}/", "--fail-on", "VERIFICARE")
    assert result.code == 1 and "needs a look: 2 VERIFICARE" in result.stderr, result
    assert "nothing happened" not in result.stderr
    rows = csv_rows((isolated / f"paycli-report-{day}.csv").read_text())
    assert rows[0]["note"] != "empty period: nothing happened"
    late = {r["txn_id"]: r for r in rows if r["section"] == "verificare_late"}
    assert list(late) == ["R-1001-1", "R-1006-1"]  # oldest first
    r1001 = late["R-1001-1"]
    assert (r1001["outcome"], r1001["reason"], r1001["detail"]) == (
        "VERIFICARE",
        "MULTIPLE_RESPONSES",
        "conflicting",
    )
    assert (r1001["at"], r1001["age_hours"], r1001["count"]) == ("2026-11-26 09:00", "46", "2")
    assert late["R-1006-1"]["reason"] == "NO_RESPONSE"
    # the older ones with nothing new (O-0001-1, R-1003-1, S-2004-1) are counted once, apart
    assert [r["count"] for r in rows if r["section"] == "verificare_before"] == ["3"]
    html = " ".join(" ".join(parse((isolated / f"paycli-report-{day}.html").read_text()).text).split())
    assert "VERIFICARE: needs a look 2" in html  # the two listed, though none was created on the 27th
    assert "R-1001-1" in html and "R-1006-1" in html and "conflicting" in html
    assert "Nothing happened in this period" not in html
    assert "And 3 VERIFICARE requests created before this period" in html
    # on the day they were created they are the period's own, listed once
    rows = csv_rows(report(shop, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    assert not [r for r in rows if r["section"] == "verificare_late"]
    # a report of another gateway neither lists them nor fails for them
    narrowed = shop(
        "report",
        "--now",
        now,
        "--date",
        day,
        "-g",
        "stripe",
        "-f",
        "csv",
        "--out",
        "-",
        "--fail-on",
        "VERIFICARE",
    )
    assert narrowed.code == 0, narrowed
    assert not [r for r in csv_rows(narrowed.stdout) if r["section"] == "verificare_late"]


def test_an_older_paid_request_an_update_turned_verificare_in_the_period_is_listed_and_fails_the_cron(
    shop, isolated, db_url
):
    # the day after the shop's day, the shop corrects the amount of R-1001-1, paid on the 26th: the
    # payment no longer matches it. Nothing else of it happened on the 27th.
    fixed = REQUESTS[0].replace("129.90", "139.90")
    assert shop("ingest", "--update", str(request_csv(isolated, [fixed], name="fix.csv"))).code == 0
    pin(
        db_url,
        "UPDATE payment_request SET updated_at = :t WHERE updated_at IS NOT NULL",
        "2026-11-27T09:00:00+01:00",
    )
    day, now = "2026-11-27", "2026-11-28T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "--out", f"{isolated}/", "--fail-on", "VERIFICARE")
    assert result.code == 1 and "needs a look: 1 VERIFICARE" in result.stderr, result
    rows = csv_rows((isolated / f"paycli-report-{day}.csv").read_text())
    assert [(r["txn_id"], r["reason"]) for r in rows if r["section"] == "verificare_late"] == [
        ("R-1001-1", "AMOUNT_MISMATCH")
    ]
    assert "R-1001-1" in (isolated / f"paycli-report-{day}.html").read_text()
    # the day after, nothing new: counted with the other older ones, not listed again
    rows = csv_rows(report(shop, "--date", "2026-11-28", "--format", "csv", "--out", "-").stdout)
    assert not [r for r in rows if r["section"] == "verificare_late"]


def test_an_older_request_refused_in_the_period_is_listed_with_its_order_and_fails_the_cron(
    shop, isolated, db_url
):
    # R-1003-1, created on the 26th with no answer (VERIFICARE in the report of the 26th), is refused
    # on the 27th; its order R-1003, never paid, has no other attempt. Its report is the 27th's.
    (isolated / "later.csv").write_text("id,ref,amount,currency,esito\nB11,R-1003-1,50.00,EUR,KO\n")
    assert shop("ingest", str(isolated / "later.csv")).code == 0
    pin(
        db_url,
        "UPDATE response SET received_at = :t WHERE gateway_txn_id = 'B11'",
        "2026-11-27T09:00:00+01:00",
    )
    day, now = "2026-11-27", "2026-11-28T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "--out", f"{isolated}/", "--fail-on", "NEGATIVO")
    assert result.code == 1 and "needs a look: 1 NEGATIVO" in result.stderr, result
    rows = csv_rows((isolated / f"paycli-report-{day}.csv").read_text())
    assert [(r["txn_id"], r["outcome"], r["at"]) for r in rows if r["section"] == "negativo_late"] == [
        ("R-1003-1", "NEGATIVO", "2026-11-26 12:00")
    ]
    assert not [r for r in rows if r["section"] == "negativo"]  # none created on the 27th
    assert [(r["order_id"], r["reason"]) for r in rows if r["section"] == "order"] == [("R-1003", "UNPAID")]
    html = " ".join(" ".join(parse((isolated / f"paycli-report-{day}.html").read_text()).text).split())
    assert "NEGATIVO: refused 1" in html
    assert "Created before this period, NEGATIVO after a response, resolution or update of it 1" in html
    assert "R-1003-1" in html and "Order anomalies 1" in html
    # on the day it was created it is the period's own, listed once; the day after, nothing new
    rows = csv_rows(report(shop, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    assert [r["txn_id"] for r in rows if r["section"] == "negativo"] == ["R-1002-1", "R-1003-1", "R-1005-1"]
    assert not [r for r in rows if r["section"] == "negativo_late"]
    later = shop(
        "report", "--now", now, "--date", "2026-11-28", "-f", "csv", "--out", "-", "--fail-on", "NEGATIVO"
    )
    assert later.code == 0 and not [
        r for r in csv_rows(later.stdout) if r["section"] in ("negativo_late", "order")
    ]


def test_an_order_paid_twice_by_a_resolution_of_the_period_is_an_anomaly_of_the_period(
    shop, isolated, db_url
):
    # R-1002 was refused (R-1002-1), then paid (R-1002-2), on the 26th. On the 27th an operator finds
    # the first attempt paid too at the bank: the order is paid twice, and only the 27th can say it.
    assert (
        shop("resolve", "R-1002-1", "--as", "POSITIVO", "--note", "paid at the bank", "--by", "anna").code
        == 0
    )
    pin(db_url, "UPDATE resolution SET created_at = :t WHERE outcome = 'POSITIVO' AND note = 'paid at the bank'",
        "2026-11-27T10:00:00+01:00")  # fmt: skip
    day, now = "2026-11-27", "2026-11-28T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "-f", "csv", "--out", "-", "--fail-on", "ANOMALIES")
    assert result.code == 1 and "needs a look: 1 ANOMALIES" in result.stderr, result
    rows = csv_rows(result.stdout)
    assert [
        (r["order_id"], r["reason"], r["count"], r["amount"]) for r in rows if r["section"] == "order"
    ] == [("R-1002", "PAID_TWICE", "2", "70.00")]
    assert [r["txn_id"] for r in rows if r["section"] == "resolution"] == ["R-1002-1"]


def late_approval(shop, isolated, db_url) -> None:  # type: ignore[no-untyped-def]
    """Order L-100 of the 26th: L-100-1 paid at the bank on the 26th, L-100-2 (the customer tried again)
    without an answer then; the bank's line for L-100-2, an approval, comes on the 28th, a day when
    nothing else happens."""
    requests = [
        "L-100-1,L-100,order,2026-11-26T11:00:00+01:00,Late Payer,late@example.com,35.00,EUR,bank",
        "L-100-2,L-100,order,2026-11-26T11:05:00+01:00,Late Payer,late@example.com,35.00,EUR,bank",
    ]
    (isolated / "first.csv").write_text("id,ref,amount,currency,esito\nB20,L-100-1,35.00,EUR,OK\n")
    late = request_csv(isolated, requests, name="late.csv")
    assert shop("ingest", str(late), str(isolated / "first.csv")).code == 0
    pin(
        db_url,
        "UPDATE response SET received_at = :t WHERE gateway_txn_id = 'B20'",
        "2026-11-26T20:00:00+01:00",
    )
    # the report of the 26th, made on the 27th's morning: L-100-2 unanswered (VERIFICARE), no anomaly
    rows = csv_rows(report(shop, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    assert [r["txn_id"] for r in rows if r["section"] == "verificare" and r["order_id"] == "L-100"] == [
        "L-100-2"
    ]
    assert "L-100" not in [r["order_id"] for r in rows if r["section"] == "order"]
    (isolated / "second.csv").write_text("id,ref,amount,currency,esito\nB21,L-100-2,35.00,EUR,OK\n")
    assert shop("ingest", str(isolated / "second.csv")).code == 0
    pin(
        db_url,
        "UPDATE response SET received_at = :t WHERE gateway_txn_id = 'B21'",
        "2026-11-28T09:00:00+01:00",
    )


def test_an_older_order_a_late_approval_paid_twice_is_an_anomaly_of_the_period(shop, isolated, db_url):
    late_approval(shop, isolated, db_url)
    day, now = "2026-11-28", "2026-11-29T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "--out", f"{isolated}/", "--fail-on", "ANOMALIES")
    assert result.code == 1 and "needs a look: 1 ANOMALIES" in result.stderr, result
    assert "nothing happened" not in result.stderr
    rows = csv_rows((isolated / f"paycli-report-{day}.csv").read_text())
    assert rows[0]["note"] != "empty period: nothing happened"
    assert [
        (r["order_id"], r["reason"], r["count"], r["amount"], r["currency"], r["at"])
        for r in rows
        if r["section"] == "order"
    ] == [("L-100", "PAID_TWICE", "2", "70.00", "EUR", "2026-11-26 11:05")]
    assert not [r for r in rows if r["section"] in ("verificare_late", "negativo_late")]  # POSITIVO now
    html = " ".join(" ".join(parse((isolated / f"paycli-report-{day}.html").read_text()).text).split())
    assert "Order anomalies 1" in html and "L-100" in html and "paid twice" in html
    assert "Nothing happened in this period" not in html
    # the 29th has nothing new of it
    later = shop(
        "report", "--now", now, "--date", "2026-11-29", "-f", "csv", "--out", "-", "--fail-on", "ANOMALIES"
    )
    assert later.code == 0 and not [r for r in csv_rows(later.stdout) if r["section"] == "order"]
    # a report of another gateway does not name it
    narrowed = shop("report", "--now", now, "--date", day, "-g", "stripe", "-f", "csv", "--out", "-")
    assert narrowed.code == 0 and not [r for r in csv_rows(narrowed.stdout) if r["section"] == "order"]


def test_an_older_order_an_update_of_the_period_makes_paid_twice_is_an_anomaly_of_the_period(
    shop, isolated, db_url
):
    # order U-200 of the 26th: U-200-1 paid; U-200-2 paid too, but registered with a wrong amount
    # (AMOUNT_MISMATCH: VERIFICARE, no anomaly on the 26th). On the 27th the shop corrects the amount
    # with ingest --update: U-200-2 is POSITIVO, the order paid twice, and the 27th says it.
    requests = [
        "U-200-1,U-200,order,2026-11-26T11:00:00+01:00,Upd Ated,u@example.com,35.00,EUR,bank",
        "U-200-2,U-200,order,2026-11-26T11:05:00+01:00,Upd Ated,u@example.com,30.00,EUR,bank",
    ]
    (isolated / "u.csv").write_text(
        "id,ref,amount,currency,esito\nB30,U-200-1,35.00,EUR,OK\nB31,U-200-2,35.00,EUR,OK\n"
    )
    assert (
        shop(
            "ingest", str(request_csv(isolated, requests, name="u-requests.csv")), str(isolated / "u.csv")
        ).code
        == 0
    )
    pin(
        db_url,
        "UPDATE response SET received_at = :t WHERE gateway_txn_id IN ('B30', 'B31')",
        "2026-11-26T20:00:00+01:00",
    )
    rows = csv_rows(report(shop, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    assert [(r["txn_id"], r["reason"]) for r in rows if r["order_id"] == "U-200"] == [
        ("U-200-2", "AMOUNT_MISMATCH")
    ]
    fixed = requests[1].replace("30.00", "35.00")
    assert shop("ingest", "--update", str(request_csv(isolated, [fixed], name="fix.csv"))).code == 0
    pin(
        db_url,
        "UPDATE payment_request SET updated_at = :t WHERE txn_id = 'U-200-2'",
        "2026-11-27T09:00:00+01:00",
    )
    day, now = "2026-11-27", "2026-11-28T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "-f", "csv", "--out", "-", "--fail-on", "ANOMALIES")
    assert result.code == 1 and "needs a look: 1 ANOMALIES" in result.stderr, result
    assert [
        (r["order_id"], r["reason"], r["amount"]) for r in csv_rows(result.stdout) if r["section"] == "order"
    ] == [("U-200", "PAID_TWICE", "70.00")]


def test_an_older_payment_refunded_in_the_period_is_listed_to_verify_not_as_an_unpaid_order(
    shop, isolated, db_url
):
    # S-2001-1, paid on the 26th (order S-2001, one attempt), is refunded on the 27th: a refund after
    # an approval is VERIFICARE (design.md 3.2), never NEGATIVO, so its order is not UNPAID but to
    # verify, and the 27th's report lists it so
    refund = json.loads(stripe_event("S-2001-1", "pi_2001", 4990, "eur", 1795791660))
    refund["id"], refund["type"] = "evt_refund_2001", "charge.refunded"
    refund["data"]["object"].update(
        {"id": "ch_2001", "object": "charge", "payment_intent": "pi_2001", "amount_refunded": 4990,
         "refunded": True, "paid": True, "captured": True}
    )  # fmt: skip
    (isolated / "refund.json").write_text(json.dumps(refund))
    assert shop("ingest", str(isolated / "refund.json")).code == 0
    pin(db_url, "UPDATE response SET received_at = :t WHERE status = 'refunded'", "2026-11-27T09:00:00+01:00")
    day, now = "2026-11-27", "2026-11-28T07:30:00+01:00"
    result = shop("report", "--now", now, "--date", day, "-f", "csv", "--out", "-", "--fail-on", "VERIFICARE")
    assert result.code == 1 and "needs a look: 1 VERIFICARE" in result.stderr, result
    rows = csv_rows(result.stdout)
    assert [(r["txn_id"], r["detail"]) for r in rows if r["section"] == "verificare_late"] == [
        ("S-2001-1", "refund_after_approval")
    ]
    assert not [r for r in rows if r["section"] == "order"]


def test_a_second_run_fails_with_one_line_while_the_first_holds_the_lock(shop, isolated):
    lock = isolated / "report.lock"
    config = (isolated / "paycli.yaml").read_text().replace("report:\n", f"report:\n  lock_file: {lock}\n")
    (isolated / "paycli.yaml").write_text(config)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a first run holds while it works
        busy = report(shop, "--date", DAY, "--out", str(isolated) + "/", "--wait", "1")
    assert busy.code == 2
    assert busy.stderr.count("\n") == 1 and "another paycli report is running" in busy.stderr
    assert "after waiting 1 s" in busy.stderr and not (isolated / "paycli-report-2026-11-26.html").exists()
    assert report(shop, "--date", DAY, "--out", str(isolated) + "/").code == 0  # released


def test_the_default_lock_is_the_store_s_two_shops_on_one_machine_never_wait_for_each_other(
    shop, isolated, db_url, sqlite_template
):
    # two shops of one server user, each with its configuration and store, cron running both reports at
    # 06:00: with one lock for the user (~/.local/share/paycli/report.lock), the second failed, exit 2
    from tests.conftest import new_store_url

    with new_store_url(isolated, sqlite_template, "other.db") as other:
        held = _hold_the_default_lock(shop)
        try:
            busy = report(shop, "--date", DAY, "--out", f"{isolated}/a/")
            free = shop(
                "--db", other, "report", "--now", NOW, "--date", DAY, "--out", f"{isolated}/b/", db=False
            )
        finally:
            held.close()
    assert busy.code == 2 and "another paycli report is running" in busy.stderr, busy
    assert free.code == 0, free
    assert (isolated / "b" / "paycli-report-2026-11-26.html").exists()


@pytest.mark.skipif(ON_POSTGRES, reason="a SQLite store's path")
def test_one_store_named_another_way_has_the_same_default_lock(shop, isolated, db_url):
    from paycli.store import sqlite_path

    path = sqlite_path(db_url)
    assert path is not None
    held = _hold_the_default_lock(shop)
    try:  # a relative path from the current folder, through ..: the same file
        other_name = os.path.relpath(path, isolated / "x" / "..")
        busy = shop(
            "--db", other_name, "report", "--now", NOW, "--date", DAY, "--out", "-", "-f", "csv", db=False
        )
    finally:
        held.close()
    assert busy.code == 2 and "another paycli report is running" in busy.stderr, busy


def _hold_the_default_lock(shop):
    """The default report lock of the test's store, held as a first run holds it (found as the file a
    run leaves behind)."""
    import platformdirs

    locks = platformdirs.user_data_path("paycli")
    before = set(locks.glob("report*.lock")) if locks.exists() else set()
    assert report(shop, "--date", DAY, "--out", "-", "--format", "csv").code == 0
    made = (set(locks.glob("report*.lock")) - before) or before
    assert len(made) == 1, made
    held = open(next(iter(made)), "w")  # noqa: SIM115 (held until the caller closes it)
    fcntl.flock(held, fcntl.LOCK_EX)
    return held


# -- outputs and templates ----------------------------------------------------------------------------


def test_out_forms(shop, isolated):
    folder = isolated / "new" / "reports"
    (isolated / "new").mkdir()
    assert report(shop, "--date", DAY, "--out", f"{folder}/").code == 0  # the last folder is made
    assert sorted(p.name for p in folder.iterdir()) == [
        "paycli-report-2026-11-26.csv",
        "paycli-report-2026-11-26.html",
    ]
    assert report(shop, "--period", "2026-11", "--out", str(folder)).code == 0  # an existing folder
    assert (folder / "paycli-report-2026-11.html").exists()
    assert report(shop, "--date", DAY, "--out", str(isolated / "daily")).code == 0
    assert (isolated / "daily.html").exists() and (isolated / "daily.csv").exists()
    stdout = report(shop, "--date", DAY, "--format", "csv", "--out", "-")
    assert stdout.code == 0 and stdout.stdout.startswith("section,at,txn_id")
    both = report(shop, "--date", DAY, "--out", "-")
    assert both.code == 2 and "one format" in both.stderr
    assert not list(folder.glob(".*.part"))  # no half-written file left behind
    # a dotted name keeps its dots: each format's suffix is added, not put in place of its last part
    for day in ("2026.11.26", "2026.11.25"):
        assert report(shop, "--date", DAY, "--out", str(isolated / f"cassa-{day}")).code == 0
    dotted = sorted(p.name for p in isolated.glob("cassa-*"))
    assert dotted == [f"cassa-2026.11.{d}.{f}" for d in (25, 26) for f in ("csv", "html")]
    assert report(shop, "--date", DAY, "--out", str(isolated / "named.html")).code == 0
    assert sorted(p.name for p in isolated.glob("named.*")) == ["named.csv", "named.html"]


@pytest.mark.parametrize(
    ("out", "missing", "rule"),
    [
        ("reprots/daily/", "reprots", "makes the last folder of a path ending in /, not the ones above it"),
        ("reprots/daily.html", "reprots", "makes no folder for a file"),
        (
            "reprots/2026/11/",
            "reprots/2026",
            "makes the last folder of a path ending in /, not the ones above it",
        ),
    ],
)
def test_out_in_a_folder_that_is_not_there_is_an_error_not_a_new_tree(shop, isolated, out, missing, rule):
    # a typo in a crontab's --out made a tree of folders that nobody reads, silently, every night
    result = report(shop, "--date", DAY, "--out", f"{isolated}/{out}")
    assert (result.code, result.stderr.count("\n")) == (2, 1), result
    assert (
        f"paycli: --out: cannot write in '{isolated / missing}' (no such folder: paycli {rule}; create it "
        "first, or check the path for a typo)" in result.stderr
    ), result
    assert not (isolated / "reprots").exists()


@pytest.mark.parametrize(
    "args",
    [["-f", "html"], ["-f", "csv"], ["-f", "csv", "--csv-dialect", "excel-it"]],
    ids=["html", "csv", "excel-it"],
)
def test_standard_output_gets_the_utf8_bytes_of_a_file_whatever_its_own_encoding(
    shop, isolated, db_url, args
):
    # a server's ISO-8859-1 locale: the HTML says utf-8, excel-it's CSV begins with a UTF-8 byte-order mark
    request_csv(
        isolated,
        ["T-3001-1,T-3001,order,2026-11-26T11:00:00+01:00,Città 東京,t@example.com,10.00,EUR,bank"],
        name="tokyo.csv",
    )
    assert shop("ingest", "tokyo.csv").code == 0
    out = isolated / "r.out"
    assert report(shop, "--date", DAY, *args, "--out", str(out)).code == 0
    latin1 = CliRunner(charset="latin-1")
    result = latin1.invoke(app, ["--db", db_url, "report", "--now", NOW, "--date", DAY, *args, "--out", "-"])
    assert result.exit_code == 0, result.stderr
    assert "Città 東京" in out.read_text(encoding="utf-8")
    assert result.stdout_bytes == out.read_bytes()  # CSV's CRLF line ends included


def test_a_device_or_a_pipe_is_written_into_never_replaced(shop, isolated):
    import stat
    import threading

    pipe = isolated / "report.pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    # a daemon: were the pipe renamed over, nothing would ever open it for writing
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    assert report(shop, "--date", DAY, "--format", "csv", "--out", str(pipe)).code == 0
    reader.join(10)
    assert received and received[0].startswith(b"section,at,txn_id")
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # still the pipe, not a file renamed over it
    # (/dev/null goes the same way; not tried here: a regression would replace the machine's, as root)
    assert not list(isolated.glob(".report.pipe.*"))


def test_template_override(shop, isolated):
    templates = isolated / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text(
        '{% extends "paycli/report.html.j2" %}{% block title %}Cassa {{ report.period.label }}{% endblock %}'
    )
    (templates / "report.csv.j2").write_text(
        '{{ row("txn_id", "customer", "amount") }}\n{% for r in report.verificare() %}\n'
        "{{ row(r.txn_id, r.customer, r.amount_minor | money(r.currency)) }}\n{% endfor %}\n"
    )
    out = isolated / "out"
    assert report(shop, "--date", DAY, "--out", f"{out}/", "--template", str(templates)).code == 0
    assert "<title>Cassa 2026-11-26</title>" in (out / "paycli-report-2026-11-26.html").read_text()
    assert (out / "paycli-report-2026-11-26.csv").read_bytes().decode() == (
        "txn_id,customer,amount\r\n"
        + 'R-1003-1,"\'=HYPERLINK(""http://x"")",50.00\r\n'
        + "S-2004-1,Ivan Petrov,18.00\r\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-02-30"], "--date: '2026-02-30' is not a day"),
        (["--date", "someday"], "--date: 'someday' is not a day"),
        (["--period", "fortnight"], "--period: 'fortnight' is not one of"),
        (["--period", "2026-13"], "--period: '2026-13' is not a month"),
        (["--date", "9999-12-31"], "--date: '9999-12-31' is out of range"),  # no day after it
        (["--date", "0001-01-01"], "--date: '0001-01-01' is out of range"),  # starts in year 0 in Rome
        (["--period", "9999-12"], "--period: '9999-12' is out of range"),
        (["--date", DAY, "--period", "today"], "give one of --date or --period"),
        (["--since", "2026-11-27", "--until", "2026-11-26"], "ends (2026-11-26) before it starts"),
        (["--format", "pdf"], "--format: 'pdf' is not html or csv"),
        (["--csv-dialect", "excel-fr"], "--csv-dialect: 'excel-fr' is not one of"),
        (["--fail-on", "MAYBE"], "--fail-on: 'MAYBE' is not one of"),
        (["--template", "no-such-folder"], "--template: 'no-such-folder' is not a folder"),
        (["--email"], "--email: the configuration has no smtp: section"),
        (["--now", "soon"], "--now 'soon' is not an ISO 8601"),
        (["--now", "9999-12-31T23:00:00Z"], "--now '9999-12-31T23:00:00Z' is out of range"),  # 10000 in Rome
        (["--now", "0001-01-01T12:00:00Z"], "--period: 'yesterday' is out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, isolated, args, message):
    result = report(cli, *args, "--out", str(isolated) + "/")
    assert result.code == 2, result
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_amounts_too_large_to_total_are_one_line_and_exit_2(cli, isolated):
    # each fits the store's 64-bit column; their sum does not (SQLite refuses it, PostgreSQL does not)
    biggest = "92233720368547758.07"
    request_csv(
        isolated,
        [f"B-{n}-1,B-{n},order,2026-11-26T10:00:00+01:00,Big,,{biggest},EUR,bank" for n in (1, 2)],
    )
    (isolated / "paycli.yaml").write_text(CONFIG)
    assert cli("ingest", "requests.csv").code == 0
    result = report(cli, "--date", DAY, "--out", str(isolated) + "/")
    if ON_POSTGRES:  # PostgreSQL sums past 64 bits: the total is right
        assert result.code == 0, result
        assert "184467440737095516.14" in (isolated / "paycli-report-2026-11-26.csv").read_text()
        return
    assert result.code == 2 and result.stderr == (
        "paycli: the amounts of the period are too large to total (past 2^63 minor units in one currency): "
        "look for a request or settlement line with an absurd amount (paycli list --format csv)\n"
    )


def test_an_unwritable_out_is_one_line_and_exit_2(cli, isolated):
    (isolated / "a-file").write_text("")
    result = report(cli, "--date", DAY, "--out", str(isolated / "a-file" / "sub") + "/")
    assert result.code == 2 and result.stderr.startswith("paycli: --out: cannot write in")
    assert result.stderr.count("\n") == 1
    if os.geteuid() != 0:  # root writes anywhere
        locked = isolated / "locked"
        locked.mkdir(mode=0o500)
        assert report(cli, "--date", DAY, "--out", f"{locked}/").code == 2


def test_a_broken_template_is_one_line_and_exit_2_in_either_format(shop, isolated):
    templates = isolated / "broken"
    templates.mkdir()
    (templates / "report.csv.j2").write_text("{# a comment #}\n{{ row( }}\n")
    # HTML and CSV are rendered side by side, the CSV in a forked process: its error still comes back
    result = report(shop, "--date", DAY, "--out", f"{isolated}/out/", "--template", str(templates))
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith(f"paycli: template {templates}/report.csv.j2:2: unexpected '}}'"), result
    assert list((isolated / "out").iterdir()) == []  # nor the HTML that was fine, nor a temporary file
    (templates / "report.csv.j2").unlink()
    (templates / "report.html.j2").write_text("{% if %}")
    result = report(shop, "--date", DAY, "--out", f"{isolated}/out/", "--template", str(templates))
    assert result.code == 2 and result.stderr.startswith(f"paycli: template {templates}/report.html.j2:1: ")
    assert list((isolated / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        ("{{ report.nosuch.attr }}\n", 1, "'paycli.reports.build.Report object' has no attribute 'nosuch'"),
        ('{% extends "paycli/report.html.j2" %}\n{% block title %}\n{{ 1/0 }}{% endblock %}\n', 3, "Zero"),
        ("<p>\n</p>\n{% include 'parts/nosuch.j2' %}\n", 3, "no template 'parts/nosuch.j2' to include"),
    ],
    ids=["undefined", "in-a-block", "not-found"],
)
def test_a_template_error_names_the_file_and_line_and_writes_no_file(shop, isolated, text, line, said):
    templates = isolated / "tpl"
    templates.mkdir()
    (templates / "report.html.j2").write_text(text)
    earlier = isolated / "out" / "paycli-report-2026-11-26.csv"
    earlier.parent.mkdir()
    earlier.write_text("yesterday's run\n")
    result = report(shop, "--date", DAY, "--out", f"{isolated}/out/", "--template", str(templates))
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith(f"paycli: template {templates}/report.html.j2:{line}: {said}"), result
    # the CSV rendered beside it is not put in place: the earlier report stays, no temporary file
    assert list(earlier.parent.iterdir()) == [earlier] and earlier.read_text() == "yesterday's run\n"


def test_a_file_that_cannot_be_put_in_place_leaves_the_earlier_report_whole(shop, isolated):
    # the HTML was put in place, then the CSV failed (a folder under its name): half a new report
    out = isolated / "out"
    out.mkdir()
    html = out / "paycli-report-2026-11-26.html"
    html.write_text("yesterday's run\n")
    (out / "paycli-report-2026-11-26.csv").mkdir()
    result = report(shop, "--date", DAY, "--out", f"{out}/", "--format", "html,csv")
    assert result.code == 2, result
    assert (
        result.stderr
        == f"paycli: --out: cannot write '{out}/paycli-report-2026-11-26.csv' (Is a directory)\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "paycli-report-2026-11-26.csv",  # the folder, as it was
        "paycli-report-2026-11-26.html",
    ]
    assert html.read_text() == "yesterday's run\n"
    # and with the way clear, the next run puts both in place, nothing left aside
    (out / "paycli-report-2026-11-26.csv").rmdir()
    assert report(shop, "--date", DAY, "--out", f"{out}/", "--format", "html,csv").code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "paycli-report-2026-11-26.csv",
        "paycli-report-2026-11-26.html",
    ]
    assert html.read_text() != "yesterday's run\n"


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


# a CSV template that never ends by itself (rendered by the forked process): a run that missed its
# stop never ends either, and fails the test, whatever the machine's speed or load
ENDLESS_CSV = "{% for i in range(10 ** 15) %}{% endfor %}{{ row('done') }}\n"

# paycli's command line with an at-fork hook that, in the parent, says it runs (a marker file) and waits
# there for the test's signal, pending or taken (10 s at most): the instant after the renderer is forked
# and before the run goes on, where a loaded machine can hold the parent for a while
IN_THE_FORK = """
import os, signal, sys, time
from pathlib import Path
marker = Path(sys.argv.pop(1))
def hook():
    marker.write_text("forked")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not {signal.SIGINT, signal.SIGTERM} & signal.sigpending():
        time.sleep(0.01)
os.register_at_fork(after_in_parent=hook)
from paycli.cli import main
main()
"""


def _stop_a_report(
    isolated: Path,
    db_url: str,
    signal_name: str,
    code: int,
    *,
    prefix: Sequence[str],
    ready: Callable[[], bool],
) -> None:
    """Run ``paycli report`` with an endless CSV template, send ``signal_name`` once a forked renderer
    runs and ``ready()`` holds, and check it ends with ``code``, one line, no file and no renderer."""
    import signal
    import subprocess
    import time

    templates = isolated / "slow"
    templates.mkdir()
    (templates / "report.csv.j2").write_text(ENDLESS_CSV)
    out = isolated / "out"
    command = ["report", "--now", NOW, "--date", DAY, "--out", f"{out}/", "--template", str(templates)]
    # SIGINT as a terminal's Ctrl-C sends it, whatever the test runner's own disposition (a job started
    # in the background of a shell ignores it, and so would paycli)
    run = subprocess.Popen(
        [*prefix, "--db", db_url, *command],
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    renderer = None
    try:
        deadline = time.monotonic() + 60
        while (renderer is None or not ready()) and run.poll() is None and time.monotonic() < deadline:
            renderer = renderer or next(iter(_children(run.pid)), None)
            time.sleep(0.02)
        assert renderer is not None, "no forked renderer seen"
        assert ready(), "the run never got where it is stopped"
        run.send_signal(getattr(signal, signal_name))
        assert run.wait(timeout=30) == code
        deadline = time.monotonic() + 10
        while _alive(renderer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(renderer), "the forked renderer outlived the run"
        assert run.stderr is not None
        if code > 0:
            said = {143: b"paycli: terminated\n", 130: b"paycli: interrupted\n"}[code]
            assert run.stderr.read() == said
            assert list(out.iterdir()) == []  # no report, no temporary file
        else:  # SIGKILL cleans nothing up: temporary files at most, never a report under its name
            assert not [p for p in out.iterdir() if not p.name.endswith(".part")]
    finally:
        if run.poll() is None:
            run.kill()
        if renderer is not None and _alive(renderer):
            os.kill(renderer, signal.SIGKILL)
        run.wait()
        if run.stderr is not None:
            run.stderr.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux's /proc")
@pytest.mark.parametrize(
    ("signal_name", "code"), [("SIGTERM", 143), ("SIGINT", 130), ("SIGKILL", -9)], ids=["term", "int", "kill"]
)
def test_a_report_stopped_while_rendering_writes_no_file_and_leaves_no_renderer(
    shop, isolated, db_url, signal_name, code
):
    import sys

    out = isolated / "out"

    def html_done() -> bool:
        # the HTML, rendered here, complete in its temporary file: the run waits for the CSV's renderer
        parts = list(out.glob(".paycli-report-*.html.*.part")) if out.is_dir() else []
        return bool(parts) and parts[0].read_bytes().rstrip().endswith(b"</html>")

    _stop_a_report(
        isolated, db_url, signal_name, code, prefix=[sys.executable, "-m", "paycli"], ready=html_done
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux's /proc")
@pytest.mark.parametrize(("signal_name", "code"), [("SIGTERM", 143), ("SIGINT", 130)], ids=["term", "int"])
def test_a_report_stopped_while_its_renderer_is_forked_writes_no_file(
    shop, isolated, db_url, signal_name, code
):
    # the signal taken in an at-fork hook (Python code: logging's lock) was printed as "Exception
    # ignored" and lost: the run went on and wrote its report, exit 0 (seen once, on a loaded machine,
    # whose parent was held past the fork for the test's half a second)
    import sys

    marker = isolated / "forked"
    prefix = [sys.executable, "-c", IN_THE_FORK, str(marker)]
    _stop_a_report(isolated, db_url, signal_name, code, prefix=prefix, ready=marker.exists)


@pytest.mark.parametrize("expression", ["1/0", '"a" + 1', '"%d" % "x"'])
def test_a_template_that_fails_while_rendering_is_one_line_and_exit_2(shop, isolated, expression):
    templates = isolated / "failing"
    templates.mkdir()
    (templates / "report.html.j2").write_text(
        f'{{% extends "paycli/report.html.j2" %}}{{% block title %}}{{{{ {expression} }}}}{{% endblock %}}'
    )
    result = report(shop, "--date", DAY, "--format", "html", "--out", "-", "--template", str(templates))
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith(f"paycli: template {templates}/report.html.j2:1: ")


def test_relative_paths_of_the_configuration_are_taken_from_its_folder(shop, isolated, monkeypatch):
    config = (isolated / "paycli.yaml").read_text().replace("report:\n", "report:\n  out: reports/\n")
    (isolated / "paycli.yaml").write_text(config)
    elsewhere = isolated / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # cron starts in the home folder
    result = shop("--config", str(isolated / "paycli.yaml"), "report", "--now", NOW, "--date", DAY)
    assert result.code == 0, result
    assert (isolated / "reports" / "paycli-report-2026-11-26.html").exists()
    assert not (elsewhere / "reports").exists()


def test_a_configured_template_folder_that_is_not_there_is_the_key_s_error_not_the_option_s(shop, isolated):
    config = (isolated / "paycli.yaml").read_text().replace("report:\n", "report:\n  templates: mine/\n")
    (isolated / "paycli.yaml").write_text(config)
    result = report(shop, "--date", DAY, "--out", str(isolated) + "/")
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert result.stderr == (
        "paycli: paycli.yaml: report.templates: 'mine/' is not a folder (of report.html.j2 and report.csv.j2; "
        "a relative one is read from the configuration file's folder)\n"
    )
    assert "--template" not in result.stderr


@pytest.mark.parametrize("key", ["out", "templates", "lock_file"])
def test_a_report_path_of_an_unknown_user_s_home_is_the_key_s_error_not_a_crash(shop, isolated, key):
    config = (isolated / "paycli.yaml").read_text()
    (isolated / "paycli.yaml").write_text(
        config.replace("report:\n", f"report:\n  {key}: ~no-such-user-x/r/\n")
    )
    result = report(shop, "--date", DAY)
    assert result.code == 2 and result.stderr.count("\n") == 1, result
    assert f"report.{key}: '~no-such-user-x/r/' names the home folder of no user" in result.stderr


@pytest.mark.parametrize("option", ["--out", "--template"])
def test_an_option_path_of_an_unknown_user_s_home_is_a_usage_error_not_a_crash(shop, isolated, option):
    result = report(shop, "--date", DAY, option, "~no-such-user-x/r/")
    assert (result.code, result.stderr) == (
        2,
        f"paycli: {option}: '~no-such-user-x/r/' names the home folder of no user\n",
    )


def test_a_second_run_told_to_wait_goes_on_when_the_first_finishes(shop, isolated):
    import threading

    lock = isolated / "report.lock"
    config = (isolated / "paycli.yaml").read_text().replace("report:\n", f"report:\n  lock_file: {lock}\n")
    (isolated / "paycli.yaml").write_text(config)
    held = open(lock, "w")  # noqa: SIM115 (closed by the timer, as a first run would finish)
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(0.5, held.close).start()
    result = report(shop, "--date", DAY, "--out", str(isolated) + "/", "--wait", "10")
    assert result.code == 0, result
    assert (isolated / "paycli-report-2026-11-26.html").exists()


@pytest.mark.parametrize("formats", ["csv", "html,csv"])
def test_a_batch_committed_while_the_report_is_built_is_in_none_of_its_sections_or_in_all(
    shop, isolated, db_url, monkeypatch, formats
):
    """An ingest beside the nightly report commits its batches meanwhile: the totals, read first, and
    the VERIFICARE list, read while rendering, must count the same requests."""
    from paycli.reports import build

    before = build._resolutions

    def ingest_commits_meanwhile(report) -> None:  # type: ignore[no-untyped-def]
        before(report)
        with Store.open(db_url) as other, other.transaction():  # another process's batch
            other.execute(
                "UPDATE payment_request SET outcome = 'VERIFICARE', reason = 'NO_RESPONSE' "
                "WHERE outcome <> 'VERIFICARE'"
            )

    monkeypatch.setattr(build, "_resolutions", ingest_commits_meanwhile)
    out = isolated / "out"
    out.mkdir()
    assert report(shop, "--date", DAY, "--format", formats, "--out", str(out)).code == 0
    rows = csv_rows((out / f"paycli-report-{DAY}.csv").read_text(encoding="utf-8"))
    totals: dict[str, int] = {}
    for r in rows:
        if r["section"] == "total":  # a row per outcome and gateway
            totals[r["outcome"]] = totals.get(r["outcome"], 0) + int(r["count"])
    listed = sum(1 for r in rows if r["section"] == "verificare")
    assert totals["VERIFICARE"] == listed == 2
    assert totals["POSITIVO"] == 8  # the report of before the batch, whole


def test_a_request_made_after_the_report_s_now_is_not_yet_old_in_the_csv_as_in_the_html(shop, isolated):
    # --now in the middle of the day: the afternoon's requests were made after it
    out = report_at(shop, "2026-11-26T12:30:00+01:00")
    ages = {
        r["txn_id"]: int(r["age_hours"]) for r in csv_rows(out) if r["section"] in ("verificare", "negativo")
    }
    assert ages["S-2004-1"] == 0 and min(ages.values()) >= 0, ages


def report_at(cli, now: str) -> str:
    result = cli("report", "--now", now, "--date", DAY, "--format", "csv", "--out", "-")
    assert result.code == 0, result
    return str(result.stdout)


def test_a_paid_retry_is_no_order_anomaly_and_fails_no_cron(cli, isolated):
    # R-1 refused, then R-2 paid: the shop's everyday; both paid: paid twice
    bank_shop(
        cli,
        isolated,
        [
            "R-1,O-1,order,2026-11-26T10:00:00+01:00,Rossi,r@example.com,10.00,EUR,bank",
            "R-2,O-1,order,2026-11-26T10:05:00+01:00,Rossi,r@example.com,10.00,EUR,bank",
            "R-3,O-2,order,2026-11-26T11:00:00+01:00,Bianchi,b@example.com,10.00,EUR,bank",
            "R-4,O-2,order,2026-11-26T11:05:00+01:00,Bianchi,b@example.com,10.00,EUR,bank",
            "R-5,O-3,order,2026-11-26T12:00:00+01:00,Verdi,v@example.com,10.00,EUR,bank",
        ],
        "K1,R-1,10.00,EUR,KO\nK2,R-2,10.00,EUR,OK\nK3,R-3,10.00,EUR,OK\nK4,R-4,10.00,EUR,OK\nK5,R-5,10.00,EUR,KO\n",
    )
    assert json.loads(cli("order", "O-1", "--format", "json").stdout)["verdict"] == "PAID"
    rows = csv_rows(report(cli, "--date", DAY, "--format", "csv", "--out", "-").stdout)
    assert [(r["order_id"], r["reason"]) for r in rows if r["section"] == "order"] == [
        ("O-2", "PAID_TWICE"),
        ("O-3", "UNPAID"),  # the word of paycli order, design.md 4
    ]
    assert json.loads(cli("order", "O-3", "--format", "json").stdout)["verdict"] == "UNPAID"


def test_a_resolution_made_before_the_period_and_undone_in_it_is_said_undone_not_made(shop, isolated, db_url):
    assert shop("resolve", "R-1006-1", "--undo", "--note", "the bank returned it", "--by", "bruno").code == 0
    pin(db_url, "UPDATE resolution SET created_at = :t", "2026-11-20T10:00:00+01:00")
    pin(db_url, "UPDATE resolution SET undone_at = :t", f"{DAY}T22:00:00+01:00")
    from paycli.reports import build_report, resolve_period, summary_text

    out = isolated / "r.html"
    assert report(shop, "--date", DAY, "--format", "html", "--out", str(out)).code == 0
    text = " ".join(" ".join(parse(out.read_text()).text).split())
    assert "Resolutions made or undone in the period 1" in text and "Resolutions made in" not in text
    assert "undone 2026-11-26 22:00 by bruno: the bank returned it" in text
    rome, now = ZoneInfo("Europe/Rome"), datetime.fromisoformat(NOW)
    with Store.open(db_url) as store:
        said = summary_text(build_report(store, resolve_period(rome, now, day=DAY), rome, now))
    assert "Resolutions made or undone: 1" in said
