"""Each provider's golden samples posted to paycli serve give the same store as ingesting the files.

For every scenario of a callback gateway (tests/gateways/samples/<provider>/<scenario>/), one store
ingests the folder as ``paycli ingest`` does; another gets each callback over HTTP, as the gateway
would send it (a bare body with its sidecar's headers; a raw HTTP dump replayed as the request it
records), and the rest (the shop's requests, settlement reports) ingested from the files, in the same
order. Requests, outcomes, responses and messages must agree. A bare body posted with its sidecar's
headers is the same message, digest included; a replayed dump is stored as what arrived (the body, or
a GET's request line), so only its digest differs.

PayPal's postback goes to a local fake PayPal that answers what each sample's sidecar recorded;
Stripe's signatures are months old, so the tolerance is lifted (``tolerance_seconds: 0``): the
replay refusal has its own tests.

Two kinds of sample are no request a gateway could send, and both stores ingest them as files: a dump
whose body is damaged (cut shorter than its Content-Length, chunks that do not decode), and a Stripe
body kept without its Stripe-Signature (unverifiable as a file; posted, it is refused: test_routes).

What the receiver refuses to take over HTTP reaches the served store as a file too, as it reaches the
operator: every sample of a gateway configured without its secret (its route is not served: 404), and an
IPN with no recorded postback answer (the fake PayPal cannot answer for it: 503, PayPal would resend it).
A decrypted GestPay result is posted with the shop's bearer token, as the shop's integration posts it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from paycli import gateways
from paycli.config import Config, GatewayConfig, Secret, load_config
from paycli.gateways.base import Origin, Source
from paycli.gateways.callback import from_origin, parse_headers
from paycli.ingest import Ingest
from paycli.store import Store
from tests.gateways.test_golden import NOT_INPUTS, SAMPLES
from tests.serve.conftest import FakePayPal, start_receiver

TOKEN = "tok-golden-5b1e"
CALLBACK_PROVIDERS = ("paypal", "stripe", "skrill", "nexi", "axerve")
SCENARIOS = sorted(p for name in CALLBACK_PROVIDERS for p in (SAMPLES / name).glob("*") if p.is_dir())


def inputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in NOT_INPUTS and not p.name.endswith(".headers"))


def sidecar(path: Path) -> str | None:
    file = path.with_name(path.name + ".headers")
    return file.read_text("utf-8") if file.exists() else None


def scenario_config(folder: Path, postback_url: str) -> Config:
    """The scenario's configuration, every callback gateway of it served, PayPal's postback local."""
    file = folder / "paycli.yaml"
    classes = gateways.installed()
    config = load_config(
        file if file.exists() else None,
        gateways.settings_specs(classes),
        requests_spec=classes["requests"].settings,
    )
    entries = dict(config.gateways)
    provider = folder.parent.name
    if provider not in entries:  # unconfigured: the receiver serves configured gateways only
        defaults = {k: s.default for k, s in classes[provider].settings.items()}
        entries[provider] = GatewayConfig(provider, provider, False, MappingProxyType(defaults))
    if provider == "stripe":
        gateway = entries["stripe"]
        settings = {**gateway.settings, "tolerance_seconds": 0}
        entries["stripe"] = replace(gateway, settings=MappingProxyType(settings))
    serve = MappingProxyType({**config.serve, "paypal_postback_url": postback_url, "token": Secret(TOKEN)})
    return replace(config, gateways=MappingProxyType(entries), serve=serve)


def postback_answers(folder: Path) -> dict[bytes, str]:
    answers = {}
    for path in inputs(folder):
        recorded = parse_headers(sidecar(path) or "").get("x-paycli-postback")
        if recorded:
            answers[path.read_bytes()] = recorded
    return answers


def is_callback(path: Path, config: Config, provider: str) -> bool:
    """Would ``paycli ingest`` give this file to the provider as a callback? (else: ingested as a file)"""
    providers = gateways.instances(config, gateways.installed())
    source = Source.from_path(path)
    source.headers = sidecar(path)
    claims = [name for name, p in providers.items() if p.identify(source)]
    if claims != [provider] or path.stat().st_size >= 64 * 1024 or path.suffix.lower() == ".csv":
        return False
    callback = from_origin(Origin(None, source.head, None, source.headers))
    unsigned = provider == "stripe" and callback.header("stripe-signature") is None
    return callback.damage is None and not unsigned


def post(client: Any, provider: str, path: Path) -> int:
    raw = path.read_bytes()
    side = sidecar(path)
    callback = from_origin(Origin(None, raw, None, side))
    # the shop's integration posts the GestPay results it decrypted with its token
    auth = {"Authorization": f"Bearer {TOKEN}"} if provider == "axerve" else {}
    if callback.target is None:  # a bare body: sent with the headers of its sidecar
        headers = dict(auth)
        for line in (side or "").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() != "x-paycli-postback":
                headers[name.strip()] = value.strip()
        return int(client.post(f"/callbacks/{provider}", raw, headers).status)
    # a raw HTTP dump: the request it records, replayed to this gateway's route
    framing = ("host", "content-length", "transfer-encoding")  # the client frames the body it sends
    headers = {k.title(): v for k, v in callback.headers.items() if k not in framing} | auth
    target = f"/callbacks/{provider}" + (f"?{callback.query}" if callback.query else "")
    return int(client.request(callback.method, target, callback.body, headers).status)


def content(store: Store) -> dict[str, Any]:
    return {
        "requests": sorted(
            (r["txn_id"], r["outcome"], r["reason"], r["detail"], r["response_count"])
            for r in store.query("SELECT * FROM payment_request")
        ),
        "responses": sorted(
            (
                r["identity"],
                r["reference"],
                r["status"],
                r["authenticity"],
                r["deliveries"],
                r["request_id"] is not None,
            )
            for r in store.query("SELECT * FROM response")
        ),
        "messages": sorted(
            (r["state"], r["error"] or "", r["note"] or "", r["reference"] or "", r["request_id"] is not None)
            for r in store.query("SELECT * FROM message")
        ),
        "settlements": sorted(
            (r["kind"], r["gateway_txn_id"] or "", r["gross_minor"])
            for r in store.query("SELECT * FROM settlement")
        ),
    }


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_posting_the_samples_gives_the_store_ingesting_them_gives(
    folder: Path, store: Store, other_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder)  # *_file secrets and sidecars are relative to the scenario
    provider = folder.parent.name
    fake = FakePayPal(postback_answers(folder), default=b"ERROR")
    try:
        config = scenario_config(folder, fake.url)
        # the store of paycli ingest
        providers = gateways.instances(config, gateways.installed())
        Ingest(store, config, providers).run([str(p) for p in inputs(folder)])
        # the store of paycli serve
        receiver = start_receiver(other_db_url, config)
        client = receiver.client()
        posted = 0
        open_route = provider in receiver.app.callback_gateways
        if not open_route:  # configured without its secret: not served
            assert client.post(f"/callbacks/{provider}", b"x=1").status == 404
        unanswered = {p.read_bytes() for p in inputs(folder)} - set(postback_answers(folder))
        try:
            with Store.open(other_db_url) as served:
                for path in inputs(folder):
                    taken = False
                    if open_route and is_callback(path, config, provider):
                        status = post(client, provider, path)
                        posted += 1
                        if provider == "paypal" and status == 503:
                            assert path.read_bytes() in unanswered, path.name
                        else:
                            assert status in (200, 400), path.name
                            taken = True
                    if not taken:
                        Ingest(served, config, gateways.instances(config, gateways.installed())).run(
                            [str(path)]
                        )
                assert posted > 0 or not open_route
                assert content(served) == content(store)
                ingested = {
                    r["digest"]
                    for r in store.query("SELECT digest, raw FROM message")
                    if not _is_dump(r["raw"])
                }
                received = {r["digest"] for r in served.query("SELECT digest FROM message")}
                assert ingested <= received, (
                    "a bare body posted with its sidecar's headers must be the same message"
                )
                deliveries = served.query("SELECT COUNT(*) AS n FROM delivery")[0]["n"]
                assert deliveries == posted
                # each delivery finds its message, or keeps the body no provider took
                unlinked = served.query(
                    "SELECT COUNT(*) AS n FROM delivery WHERE body IS NULL AND NOT EXISTS "
                    "(SELECT 1 FROM message WHERE message.digest = delivery.message_digest)"
                )[0]["n"]
                assert unlinked == 0
        finally:
            client.close()
            receiver.stop()
    finally:
        fake.close()


def _is_dump(raw: Any) -> bool:
    first = bytes(raw).split(b"\n", 1)[0]
    return first.split(b" ", 1)[0] in (b"GET", b"POST", b"PUT", b"HEAD") and b" HTTP/" in first
