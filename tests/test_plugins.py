"""A third-party provider, installed as a distribution of its own: one that misbehaves (cannot be
imported, is no provider, takes another's name, gives records of the wrong types, raises) is named
with its distribution, and neither stops paycli for the others nor puts a wrong value in the store."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from paycli import gateways
from paycli.errors import ConfigError
from paycli.gateways.nexi import NexiProvider
from tests.conftest import request_csv, table_counts
from tests.plugins import plugins_fixture  # noqa: F401 (a fixture)

# A provider that reads JSON lines {"odd": 1, "do": ...}: ``do`` says how it misbehaves on that line.
ODD = """
    import json
    from datetime import datetime
    from decimal import Decimal

    from paycli.gateways.base import Origin, Provider, ResponseRecord
    from paycli.outcome import Authenticity, Status


    class Odd(Provider):
        name = "odd"
        description = "a provider with bugs"
        reads = ("JSON lines with an 'odd' key",)

        def identify(self, source):
            if b"identify-raises" in source.head:
                raise RuntimeError("identify failed")
            return source.head.startswith(b'{"odd"')

        def extract(self, source):
            with source.open() as stream:
                for number, raw in enumerate(stream, start=1):
                    yield self.reinterpret(Origin(number, raw.rstrip(b"\\n")))

        def reinterpret(self, origin):
            line = json.loads(origin.raw)
            fields = dict(
                reference=line["ref"], dedupe_key=line["key"], status=Status.APPROVED, raw_status="OK",
                authenticity=Authenticity.VALID, amount_minor=12990, currency="EUR",
            )
            do = line.get("do")
            if do == "raise":
                raise ValueError("cannot read it")
            if do == "no record":
                return {"reference": line["ref"]}
            if do == "text raw":
                origin = Origin(origin.line, origin.raw.decode())
            wrong = {
                "float": {"amount_minor": 129.9},
                "decimal": {"amount_minor": Decimal("129.90")},
                "text amount": {"amount_minor": "12990"},
                "naive": {"occurred_at": datetime(2026, 11, 26, 10, 0)},
                "blank reference": {"reference": ""},
                "blank key": {"dedupe_key": " "},
                "status text": {"status": "approved"},
                "currency": {"currency": "eur"},
                "aliases text": {"aliases": "g1"},
            }
            fields.update(wrong.get(do, {}))
            return ResponseRecord(origin, **fields)
"""


def odd_line(ref: str, key: str, do: str | None = None) -> str:
    return json.dumps({"odd": 1, "ref": ref, "key": key, **({"do": do} if do else {})})


@contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a float amount once sent a range check through 2**64 numbers)."""

    def late(*_: object) -> None:
        raise TimeoutError(f"not done within {seconds} s")

    previous = signal.signal(signal.SIGALRM, late)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


REQUESTS = [
    "ORD-1-1,ORD-1,order,2026-11-26T10:00:00+01:00,Rossi,,129.90,EUR,odd",
    "ORD-2-1,ORD-2,order,2026-11-26T10:00:00+01:00,Bianchi,,129.90,EUR,odd",
]


@pytest.mark.parametrize(
    ("do", "reason"),
    [
        ("float", "amount_minor is float, not an int of minor units"),
        ("decimal", "amount_minor is Decimal, not an int of minor units"),
        ("text amount", "amount_minor is str, not an int of minor units"),
        ("naive", "occurred_at is a naive datetime"),
        ("blank reference", "reference is blank: a message without one gives None"),
        ("blank key", "dedupe_key is blank"),
        ("status text", "status is str, not a paycli.outcome.Status"),
        ("currency", "currency 'eur' is not an ISO 4217 code"),
        ("aliases text", "aliases is not a tuple of ids"),
    ],
)
def test_a_plugins_record_of_the_wrong_type_is_quarantined_and_the_rest_stored(
    plugins, cli, isolated, store, do, reason
):
    plugins.install("paycli-odd", {"odd": "paycli_odd:Odd"}, {"paycli_odd": ODD})
    assert cli("ingest", str(request_csv(isolated, REQUESTS))).code == 0
    path = isolated / "odd.jsonl"
    path.write_text(odd_line("ORD-1-1", "k1", do) + "\n" + odd_line("ORD-2-1", "k2") + "\n")
    with within(30):
        result = cli("ingest", str(path))
    assert result.code == 1
    assert f"odd.jsonl:1: the odd provider read it wrongly: {reason}" in result.stderr
    assert "unexpected error" not in result.stderr
    quarantined = store.query("SELECT line, error FROM message WHERE state = 'quarantined'")
    assert [(q["line"], reason in q["error"]) for q in quarantined] == [(1, True)]
    responses = store.query("SELECT reference, amount_minor FROM response")
    assert [(r["reference"], r["amount_minor"]) for r in responses] == [("ORD-2-1", 12990)]
    assert "POSITIVO" in cli("show", "ORD-2-1").stdout
    assert "NO_RESPONSE" in cli("show", "ORD-1-1").stdout


@pytest.mark.parametrize(
    ("do", "reason"),
    [
        ("no record", "a dict is no record"),
        ("text raw", "origin.raw is str, not bytes"),
        ("raise", "the odd provider failed on it (ValueError: cannot read it)"),
    ],
)
def test_what_a_plugin_gives_that_holds_no_message_refuses_that_input_only(
    plugins, cli, isolated, store, do, reason
):
    plugins.install("paycli-odd", {"odd": "paycli_odd:Odd"}, {"paycli_odd": ODD})
    path = isolated / "odd.jsonl"
    path.write_text(odd_line("ORD-1-1", "k1", do) + "\n")
    result = cli("ingest", str(request_csv(isolated, REQUESTS)), str(path))
    assert result.code == 1
    assert reason in result.stderr and "odd.jsonl: the odd provider" in result.stderr
    assert "unexpected error" not in result.stderr
    assert table_counts(store)["payment_request"] == 2  # the other input is stored
    assert table_counts(store)["response"] == 0


def test_a_plugin_that_raises_in_identify_is_said_and_the_others_read_the_input(
    plugins, cli, isolated, store
):
    plugins.install("paycli-odd", {"odd": "paycli_odd:Odd"}, {"paycli_odd": ODD})
    requests = request_csv(
        isolated, [*REQUESTS, "ORD-3-1,ORD-3,order,2026-11-26T10:00:00+01:00,identify-raises,,1.00,EUR,odd"]
    )
    result = cli("ingest", str(requests))
    assert result.code == 0, result
    assert (
        "requests.csv: the odd provider failed looking at it (RuntimeError: identify failed): taken as not its"
        in result.stderr
    )
    assert table_counts(store)["payment_request"] == 3


def test_reprocess_keeps_quarantined_what_a_plugin_still_reads_wrongly(plugins, cli, isolated, store):
    plugins.install("paycli-odd", {"odd": "paycli_odd:Odd"}, {"paycli_odd": ODD})
    path = isolated / "odd.jsonl"
    path.write_text(odd_line("ORD-1-1", "k1", "float") + "\n")
    with within(30):
        cli("ingest", str(request_csv(isolated, REQUESTS)), str(path))
        result = cli("reprocess")
    assert "the odd provider read it wrongly: amount_minor is float" in result.stderr
    assert table_counts(store)["response"] == 0
    assert store.query("SELECT state FROM message WHERE provider = 'odd'")[0]["state"] == "quarantined"


def test_reprocess_all_leaves_as_read_what_a_plugin_without_reinterpret_read(plugins, cli, isolated):
    extract_only = ODD.replace("def reinterpret(self, origin):", "def read(self, origin):").replace(
        "yield self.reinterpret(", "yield self.read("
    )
    plugins.install("paycli-odd", {"odd": "paycli_odd:Odd"}, {"paycli_odd": extract_only})
    path = isolated / "odd.jsonl"
    path.write_text(odd_line("ORD-1-1", "k1") + "\n" + odd_line("ORD-2-1", "k2", "float") + "\n")
    cli("ingest", str(request_csv(isolated, REQUESTS)), str(path))
    assert "POSITIVO" in cli("show", "ORD-1-1").stdout
    result = cli("reprocess", "--all")
    assert "provider 'odd' cannot read a stored message again (it has no reinterpret)" in result.stderr
    assert "withdrawn" not in result.stderr
    assert "POSITIVO" in cli("show", "ORD-1-1").stdout
    assert "quarantined" in cli("messages", "--state", "quarantined").stdout


def test_an_error_a_plugin_raises_is_shown_and_stored_without_its_secret(
    plugins, cli, isolated, store, monkeypatch
):
    leaky = """
        from paycli.config import Secret, Setting
        from paycli.gateways.base import Provider

        class Leaky(Provider):
            name = "leaky"
            description = "quotes its key"
            reads = ("x",)
            needs_config = True
            settings = {"key": Setting(Secret)}

            def identify(self, source):
                return source.head.startswith(b"leaky")

            def extract(self, source):
                raise ValueError(f"bad signature, expected one made with {self.options['key'].reveal()}")
    """
    plugins.install("paycli-leaky", {"leaky": "paycli_leaky:Leaky"}, {"paycli_leaky": leaky})
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  leaky:\n    provider: leaky\n    key: ${LEAKY_KEY}\n"
    )
    monkeypatch.setenv("LEAKY_KEY", "k3y-Very-Secret")
    (isolated / "x.txt").write_text("leaky\n")
    result = cli("ingest", str(isolated / "x.txt"))
    assert (
        "x.txt: the leaky provider failed on it (ValueError: bad signature, expected one made with ***)"
        in result.stderr
    )
    assert "k3y-Very-Secret" not in result.stdout + result.stderr


# -- loading -------------------------------------------------------------------------------------------
FINE = """
    from paycli.gateways.base import Provider

    class Fine(Provider):
        name = "fine"
        description = "a provider that works"
        reads = ("lines that start with 'fine'",)

        def identify(self, source):
            return source.head.startswith(b"fine")

        def extract(self, source):
            return iter(())
"""

WRONG = FINE.replace('name = "fine"', 'name = "wrong"')


@pytest.mark.parametrize(
    ("module", "target", "reason"),
    [
        (
            "import does_not_exist\n",
            "paycli_wrong:Wrong",
            "cannot be loaded: ModuleNotFoundError: No module named 'does_not_exist'",
        ),
        (
            "def Wrong(): pass\n",
            "paycli_wrong:Wrong",
            "is not a subclass of paycli.gateways.base.Provider (function)",
        ),
        (FINE, "paycli_wrong:Fine", "declares name 'fine': a provider's name is its entry point's, 'wrong'"),
        (
            WRONG.replace("reads = (", 'settings = {"key": "a str"}\n        reads = ('),
            "paycli_wrong:Fine",
            "setting 'key' is not a paycli.config.Setting (str)",
        ),
        (
            WRONG.replace("reads = (", 'callback_headers = ("Authorization",)\n        reads = ('),
            "paycli_wrong:Fine",
            "callback_headers names a header that carries a credential: paycli never keeps one",
        ),
        (WRONG.replace("def extract", "def other"), "paycli_wrong:Fine", "does not implement extract()"),
    ],
)
def test_a_plugin_that_cannot_be_used_is_left_out_naming_its_distribution(
    plugins, cli, isolated, module, target, reason
):
    plugins.install("paycli-wrong", {"wrong": target}, {"paycli_wrong": module})
    plugins.install("paycli-fine", {"fine": "paycli_fine:Fine"}, {"paycli_fine": FINE})
    listing = cli("gateways", "--format", "json")
    assert listing.code == 0, listing
    rows = {r["provider"]: r for r in json.loads(listing.stdout)}
    assert rows["wrong"]["description"] == f"BROKEN: {target} (distribution paycli-wrong 1.0) {reason}"
    assert rows["fine"]["description"] == "a provider that works"
    assert cli("list").code == 0
    ingest = cli("ingest", str(request_csv(isolated, REQUESTS)))
    assert ingest.code == 0
    assert (
        f"paycli: provider 'wrong' is left out: {target} (distribution paycli-wrong 1.0) {reason}"
        in ingest.stderr
    )
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\ngateways:\n  w:\n    provider: wrong\n")
    configured = cli("list")
    assert configured.code == 2
    assert f"provider 'wrong': {target} (distribution paycli-wrong 1.0) {reason}" in configured.stderr


def test_a_plugin_that_fails_to_be_set_up_is_left_out_or_is_a_configuration_error(plugins, cli, isolated):
    failing = FINE.replace(
        "def identify(self, source):",
        "def __init__(self, *args):\n            raise RuntimeError('no settings file')\n\n        def identify(self, source):",
    )
    plugins.install("paycli-fine", {"fine": "paycli_fine:Fine"}, {"paycli_fine": failing})
    assert cli("list").code == 0
    rows = [r for r in json.loads(cli("gateways", "--format", "json").stdout) if r["provider"] == "fine"]
    assert [r["description"] for r in rows] == [
        "BROKEN: paycli_fine:Fine cannot be set up: RuntimeError: no settings file"
    ]
    ingest = cli("ingest", str(request_csv(isolated, REQUESTS)))
    assert ingest.code == 0
    assert "provider 'fine' is left out: paycli_fine:Fine cannot be set up" in ingest.stderr
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\ngateways:\n  f:\n    provider: fine\n")
    configured = cli("list")
    assert configured.code == 2
    assert "gateways.f: provider 'fine' cannot be set up: RuntimeError: no settings file" in configured.stderr


def test_a_plugin_named_as_a_provider_paycli_ships_is_left_out(plugins, cli):
    impostor = FINE.replace('name = "fine"', 'name = "nexi"')
    plugins.install("paycli-impostor", {"nexi": "paycli_impostor:Fine"}, {"paycli_impostor": impostor})
    assert gateways.installed()["nexi"] is NexiProvider
    assert gateways.load("nexi") is NexiProvider  # the one that reads a configured nexi gateway
    assert gateways.broken()["nexi"] == (
        "'nexi' is a provider paycli ships: paycli_impostor:Fine (distribution paycli-impostor 1.0) is not used"
    )
    rows = json.loads(cli("gateways", "--format", "json").stdout)
    assert [r["description"] for r in rows if r["name"] == "nexi"] == [NexiProvider.description]


def test_two_plugins_of_one_name_are_both_left_out(plugins, cli, isolated):
    plugins.install("paycli-fine-a", {"fine": "paycli_fine_a:Fine"}, {"paycli_fine_a": FINE})
    plugins.install("paycli-fine-b", {"fine": "paycli_fine_b:Fine"}, {"paycli_fine_b": FINE})
    assert "fine" not in gateways.installed()
    why = gateways.broken()["fine"]
    assert why.startswith("'fine' is registered by paycli_fine_")
    assert "(distribution paycli-fine-a 1.0)" in why and "(distribution paycli-fine-b 1.0)" in why
    assert why.endswith("neither is used, uninstall one")
    with pytest.raises(ConfigError, match="neither is used"):
        gateways.load("fine")
    assert cli("list").code == 0


SIGNED = """
    from paycli.config import Secret, Setting
    from paycli.gateways.base import Origin, Provider, ResponseRecord
    from paycli.gateways.callback import parse_headers
    from paycli.outcome import Authenticity, Status

    class Signed(Provider):
        name = "signed"
        description = "signed in a header of its own"
        reads = ("'signed <txn> <reference>'",)
        needs_config = True
        settings = {"key": Setting(Secret)}
        callback_methods = ("POST",)
        callback_headers = ("X-Signed-By",)

        def identify(self, source):
            return source.head.startswith(b"signed ")

        def extract(self, source):
            with source.open() as stream:
                yield self.reinterpret(Origin(None, stream.read(), headers=source.headers))

        def reinterpret(self, origin):
            _, txn, reference = origin.raw.decode().split()
            given = parse_headers(origin.headers or "").get("x-signed-by")
            valid = given == self.options["key"].reveal() + ":" + txn
            return ResponseRecord(
                origin, reference, txn, Status.APPROVED, "OK",
                Authenticity.VALID if valid else Authenticity.INVALID, 12990, "EUR", txn,
            )
"""


def test_serve_keeps_the_signature_header_a_plugin_names_and_never_a_credential(
    plugins, db_url, isolated, store, monkeypatch
):
    from tests.conftest import make_config
    from tests.serve.conftest import start_receiver

    plugins.install("paycli-signed", {"signed": "paycli_signed:Signed"}, {"paycli_signed": SIGNED})
    config = make_config(
        isolated, "timezone: Europe/Rome\ngateways:\n  signed:\n    provider: signed\n    key: k3y\n"
    )
    receiver = start_receiver(db_url, config)
    try:
        headers = {"Content-Type": "text/plain", "Authorization": "Bearer abc"}
        assert (
            receiver.post(
                "/callbacks/signed", b"signed T1 ORD-1-1", {**headers, "X-Signed-By": "k3y:T1"}
            ).status
            == 200
        )
        forged = receiver.post(
            "/callbacks/signed", b"signed T2 ORD-1-1", {**headers, "X-Signed-By": "k3y:T1"}
        )
        assert forged.status == 400
        assert receiver.get("/callbacks/signed").status == 405  # callback_methods
    finally:
        receiver.stop()
    rows = store.query(
        "SELECT r.gateway_txn_id, r.authenticity, m.headers FROM response r "
        "JOIN message m ON m.response_id = r.id ORDER BY r.gateway_txn_id"
    )
    assert [(r["gateway_txn_id"], r["authenticity"]) for r in rows] == [("T1", "valid"), ("T2", "invalid")]
    assert rows[0]["headers"] == "Content-Type: text/plain\nX-Signed-By: k3y:T1\n"


GREEDY = FINE.replace('name = "fine"', 'name = "greedy"').replace(
    'return source.head.startswith(b"fine")', "return True"
)


def test_a_file_a_plugin_claims_with_another_provider_is_refused_naming_the_plugins_distribution(
    plugins, cli, isolated, store
):
    plugins.install("paycli-greedy", {"greedy": "paycli_greedy:Fine"}, {"paycli_greedy": GREEDY})
    requests = request_csv(isolated, REQUESTS)
    refused = cli("ingest", str(requests))
    assert refused.code == 1
    assert (
        "requests.csv: claimed by requests and greedy (a plugin of distribution paycli-greedy 1.0): "
        "choose one with --gateway; a plugin that claims another's files is its bug: tell its authors, "
        "or uninstall it"
    ) in refused.stderr
    assert table_counts(store)["payment_request"] == 0
    forced = cli("ingest", "--gateway", "requests", str(requests))
    assert forced.code == 0, forced
    assert table_counts(store)["payment_request"] == 2


def test_a_configured_gateway_of_a_plugin_is_named_with_its_provider_and_distribution(plugins, cli, isolated):
    plugins.install("paycli-greedy", {"greedy": "paycli_greedy:Fine"}, {"paycli_greedy": GREEDY})
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  shopbank:\n    provider: greedy\n"
    )
    result = cli("ingest", str(request_csv(isolated, REQUESTS)))
    assert (
        "claimed by requests and shopbank (provider greedy, a plugin of distribution paycli-greedy 1.0)"
        in result.stderr
    )
