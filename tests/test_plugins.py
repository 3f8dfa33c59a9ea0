"""A third-party provider, installed as a distribution of its own: one that misbehaves (cannot be
imported, is no provider, takes another's name) is named with its distribution, and does not stop
paycli for the others."""

from __future__ import annotations

import json

import pytest

from paycli import gateways
from paycli.errors import ConfigError
from paycli.gateways.nexi import NexiProvider
from tests.conftest import request_csv
from tests.plugins import plugins_fixture  # noqa: F401 (a fixture)

REQUESTS = [
    "ORD-1-1,ORD-1,order,2026-11-26T10:00:00+01:00,Rossi,,129.90,EUR,odd",
    "ORD-2-1,ORD-2,order,2026-11-26T10:00:00+01:00,Bianchi,,129.90,EUR,odd",
]


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
