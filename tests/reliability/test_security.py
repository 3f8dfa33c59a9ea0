"""Hostile input: forged callbacks never decide a payment, and secrets never come out.

A forger can post whatever the gateways post; what they cannot do is sign it with the shop's secret
(Nexi's MAC key, Skrill's secret word, Stripe's webhook secret) or make PayPal answer VERIFIED to the
postback. The property below generates forged notifications of every signing gateway, in four ways
(the wrong key, a signed message altered afterwards, no signature, a garbage signature), alone or
beside the genuine one, in any order: the request is never POSITIVO or NEGATIVO; a person must look.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycli import gateways
from paycli.config import load_config
from paycli.ingest import Ingest
from paycli.models import Base
from tests.conftest import REQUEST_HEADER

NEXI_KEY = "NEXI0TEST0MAC0KEY0NOT0A0REAL0ONE"
SKRILL_WORD = "skrill-test-word-not-real"
SKRILL_MID = "52918473"
STRIPE_SECRET = "whsec_paycliSecurityTest_NotReal_0b1c2d3e"
PAYPAL_SHOP = "pagamenti@bottega-esempio.example.com"
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
  paypal:
    receiver_email: {PAYPAL_SHOP}
    reference_field: invoice
    require_verified: REQUIRE
"""
T0 = 1795684500  # 2026-11-26T09:15:00Z
FORGERIES = ("wrong key", "altered after signing", "no signature", "garbage signature")


# -- what each gateway sends, signed (or not) -----------------------------------------------------
def nexi(txn: str, approved: bool, forgery: str | None) -> tuple[bytes, str | None]:
    fields = {
        "codTrans": txn,
        "esito": "OK" if approved else "KO",
        "importo": "1990",
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
    return "&".join(f"{k}={v}" for k, v in signed.items()).encode(), None


def skrill(txn: str, approved: bool, forgery: str | None) -> tuple[bytes, str | None]:
    status = "2" if approved else "-2"
    word = "someone-elses-word" if forgery == "wrong key" else SKRILL_WORD
    signed = SKRILL_MID + txn + hashlib.md5(word.encode()).hexdigest().upper() + "19.90" + "EUR" + status
    md5sig = hashlib.md5(signed.encode()).hexdigest().upper()
    if forgery == "altered after signing":
        status = "-2" if approved else "2"
    if forgery == "garbage signature":
        md5sig = "Z" * 32
    fields = [
        ("pay_to_email", "pagamenti@bottega-esempio.example.com"),
        ("merchant_id", SKRILL_MID),
        ("transaction_id", txn),
        ("mb_transaction_id", "3001" + txn[-3:]),
        ("mb_amount", "19.90"),
        ("mb_currency", "EUR"),
        ("status", status),
        ("amount", "19.90"),
        ("currency", "EUR"),
    ]
    if forgery != "no signature":
        fields.append(("md5sig", md5sig))
    return "&".join(f"{k}={v}" for k, v in fields).encode(), None


def stripe(txn: str, approved: bool, forgery: str | None) -> tuple[bytes, str | None]:
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
                    "amount": 1990,
                    "currency": "eur",
                    "metadata": {"txn_id": txn},
                    "status": "succeeded" if ok else "requires_payment_method",
                }
            },
        }
        return json.dumps(event, indent=2).encode() + b"\n"

    raw = body(approved)
    secret = "whsec_someoneElses" if forgery == "wrong key" else STRIPE_SECRET
    v1 = hmac.new(secret.encode(), f"{T0}.".encode() + raw, hashlib.sha256).hexdigest()
    if forgery == "altered after signing":
        raw = body(not approved)
    if forgery == "garbage signature":
        v1 = "zz-not-hex"
    headers = "Content-Type: application/json; charset=utf-8\n"
    if forgery != "no signature":
        headers += f"Stripe-Signature: t={T0},v1={v1}\n"
    return raw, headers


def paypal(txn: str, approved: bool, forgery: str | None) -> tuple[bytes, str | None]:
    if forgery == "altered after signing":  # a genuine IPN with its status changed: PayPal disowns it
        approved = not approved
    fields = [
        ("mc_gross", "19.90"),
        ("invoice", txn),
        ("payment_status", "Completed" if approved else "Denied"),
        ("charset", "UTF-8"),
        ("business", PAYPAL_SHOP),
        ("receiver_email", PAYPAL_SHOP),
        ("txn_id", "9PP" + txn[-3:] + "X12345678"),
        ("txn_type", "web_accept"),
        ("mc_currency", "EUR"),
        ("payment_date", "03:12:45 Nov 26, 2026 PST"),
        ("verify_sign", "AtkOfCXbDm2hu0ZELryHFjY-Vb7PAUvS6nMXgysbElEn9v-1XcmSoGtf"),
    ]
    raw = "&".join(f"{k}={v}" for k, v in fields).encode()
    # PayPal signs nothing: the postback says whether PayPal sent it. A forgery is answered INVALID;
    # one never posted back is unverifiable, which decides nothing under require_verified.
    if forgery is None:
        return raw, "Content-Type: application/x-www-form-urlencoded\nX-Paycli-Postback: VERIFIED\n"
    if forgery in ("wrong key", "altered after signing"):
        return raw, "Content-Type: application/x-www-form-urlencoded\nX-Paycli-Postback: INVALID\n"
    if forgery == "garbage signature":
        return raw, "Content-Type: application/x-www-form-urlencoded\nX-Paycli-Postback: MAYBE\n"
    return raw, None  # no postback at all


BUILDERS = {"nexi": nexi, "skrill": skrill, "stripe": stripe, "paypal": paypal}


def providers(folder: Path, require_verified: bool) -> tuple[object, dict[str, object]]:
    path = folder / "paycli.yaml"
    path.write_text(CONFIG.replace("REQUIRE", "true" if require_verified else "false"))
    classes = gateways.installed()
    config = load_config(path, gateways.settings_specs(classes), requests_spec=classes["requests"].settings)
    return config, gateways.instances(config, classes)


def write(folder: Path, name: str, message: tuple[bytes, str | None]) -> Path:
    raw, headers = message
    path = folder / name
    path.write_bytes(raw)
    if headers is not None:
        (folder / f"{name}.headers").write_text(headers)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gateway=st.sampled_from(sorted(BUILDERS)),
    approved=st.booleans(),
    forgeries=st.lists(st.sampled_from(FORGERIES), min_size=1, max_size=3, unique=True),
    genuine=st.sampled_from(["none", "before", "after"]),
)
def test_forged_callbacks_never_make_a_request_positivo_or_negativo(
    store, tmp_path_factory, gateway, approved, forgeries, genuine
):
    folder = tmp_path_factory.mktemp("forged")
    for table in reversed(Base.metadata.sorted_tables):
        store.execute(f"DELETE FROM {table.name}")
    config, found = providers(folder, require_verified=gateway == "paypal")
    txn = "SEC-1001-1"
    requests = folder / "requests.csv"
    requests.write_text(
        REQUEST_HEADER + f"{txn},SEC-1001,order,2026-11-26T10:15:00+01:00,Rossi Mario,,19.90,EUR,{gateway}\n"
    )
    build = BUILDERS[gateway]
    inputs = [write(folder, f"forged-{i}.txt", build(txn, approved, f)) for i, f in enumerate(forgeries)]
    if genuine != "none":
        real = write(folder, "genuine.txt", build(txn, not approved, None))
        inputs = [real, *inputs] if genuine == "before" else [*inputs, real]
    run = Ingest(store, config, found, gateway=None)  # type: ignore[arg-type]
    run.run([str(requests)])
    for path in inputs:  # one at a time, as callbacks arrive
        Ingest(store, config, found, gateway=gateway).run([str(path)])  # type: ignore[arg-type]
    row = store.query("SELECT outcome, reason FROM payment_request WHERE txn_id = :t", {"t": txn})[0]
    stored = store.query("SELECT COUNT(*) AS n FROM message")[0]["n"]
    sidecars = [p.with_name(p.name + ".headers") for p in inputs]
    distinct = {
        (p.read_bytes(), h.read_text() if h.exists() else None) for p, h in zip(inputs, sidecars, strict=True)
    }
    assert stored == len(distinct), "every forgery is kept, as evidence"
    assert row["outcome"] == "VERIFICARE", (gateway, forgeries, genuine, dict(row))


def test_a_genuine_callback_alone_does_decide(store, tmp_path):
    """The control of the property above: without a forgery, each builder's message decides."""
    for gateway, build in BUILDERS.items():
        folder = tmp_path / gateway
        folder.mkdir()
        config, found = providers(folder, require_verified=gateway == "paypal")
        txn = f"CTL-{gateway}-1"
        requests = folder / "requests.csv"
        requests.write_text(
            REQUEST_HEADER + f"{txn},CTL,order,2026-11-26T10:15:00+01:00,Rossi Mario,,19.90,EUR,{gateway}\n"
        )
        Ingest(store, config, found).run([str(requests)])  # type: ignore[arg-type]
        path = write(folder, "genuine.txt", build(txn, True, None))
        Ingest(store, config, found, gateway=gateway).run([str(path)])  # type: ignore[arg-type]
        row = store.query("SELECT outcome FROM payment_request WHERE txn_id = :t", {"t": txn})[0]
        assert row["outcome"] == "POSITIVO", gateway


# -- secrets ---------------------------------------------------------------------------------------
@pytest.fixture
def secret_config(isolated: Path) -> Path:
    path = isolated / "paycli.yaml"
    path.write_text(CONFIG.replace("REQUIRE", "false"))
    return path


def leaks(text: str) -> list[str]:
    found = [s for s in SECRETS if s in text]
    # a secret word is also never shown as its MD5 (Skrill's signature base)
    digest = hashlib.md5(SKRILL_WORD.encode()).hexdigest()
    if re.search(digest, text, re.IGNORECASE):
        found.append("md5(secret_word)")
    return found


def test_no_command_prints_a_secret_whatever_happens(cli, secret_config, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    txn = "SEC-2001-1"
    (folder / "requests.csv").write_text(
        REQUEST_HEADER + f"{txn},SEC-2001,order,2026-11-26T10:15:00+01:00,Rossi Mario,,19.90,EUR,nexi\n"
    )
    for gateway, build in BUILDERS.items():
        write(folder, f"{gateway}-forged.txt", build(txn, True, "wrong key"))
        write(folder, f"{gateway}-genuine.txt", build(txn, True, None))
    (folder / "broken.txt").write_bytes(b"\x00\x01 not a callback")
    runs = [
        cli("ingest", str(folder)),
        cli("--debug", "ingest", str(folder)),
        cli("ingest", "--gateway", "stripe", str(folder / "nexi-genuine.txt")),
        cli("list", "--format", "json"),
        cli("show", txn),
        cli("show", txn, "--raw"),
        cli("show", txn, "--format", "json"),
        cli("order", "SEC-2001"),
        cli("messages"),
        cli("gateways"),
        cli("reprocess"),
        cli("recompute"),
        cli("db", "status"),
        cli("show", "NO-SUCH-TXN"),
    ]
    for run in runs:
        assert not leaks(run.stdout + run.stderr), run


def test_a_configuration_error_beside_a_secret_names_the_key_not_the_value(cli, isolated):
    (isolated / "paycli.yaml").write_text(
        CONFIG.replace("REQUIRE", "false").replace("mac_key:", "mac_kye:")
        + f"  skrill_two:\n    provider: skrill\n    secret_word: {SKRILL_WORD}\n    merchant_id: [1, 2]\n"
    )
    run = cli("gateways")
    assert run.code == 2
    assert "mac_kye" in run.stderr
    assert not leaks(run.stdout + run.stderr), run
