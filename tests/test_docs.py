"""The documentation stays true: config.example.yaml loads, and documents every key."""

from __future__ import annotations

import re
from pathlib import Path

from paycli import config as config_module
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[1]


def test_config_example_loads_and_documents_every_top_level_key(tmp_path, monkeypatch):
    for variable in ("STRIPE_WEBHOOK_SECRET", "SKRILL_SECRET_WORD", "NEXI_MAC_KEY", "PAYCLI_SERVE_TOKEN"):
        monkeypatch.setenv(variable, "example-secret")
    text = (ROOT / "config.example.yaml").read_text()
    loaded = make_config(tmp_path, text)
    assert loaded.policy == "strict" and loaded.timezone_name == "Europe/Rome"
    documented = set(re.findall(r"^([a-z_]+):", text, flags=re.MULTILINE))
    assert documented == set(config_module._TOP_KEYS)
    assert set(loaded.gateways) == {"paypal", "stripe", "skrill", "nexi", "axerve", "mybank"}
    assert loaded.gateways["mybank"].provider == "csv"


def test_config_example_documents_every_request_file_setting():
    from paycli.gateways.requests import RequestFileProvider

    text = (ROOT / "config.example.yaml").read_text()
    for key in RequestFileProvider.settings:
        assert re.search(rf"^  {key}:", text, flags=re.MULTILINE), key


def test_readme_starts_with_the_two_set_up_commands():
    text = (ROOT / "README.md").read_text()
    assert text.index("make demo") < text.index("## Everyday use")
    assert text.index("make test") < text.index("## Everyday use")


def test_config_example_documents_every_setting_of_every_installed_provider():
    import yaml

    from paycli import gateways

    data = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    documented = data["gateways"]
    for name, cls in gateways.installed().items():
        if name == "requests":
            continue
        entries = [k for k, v in documented.items() if (v.get("provider") or k) == name]
        assert entries, f"config.example.yaml has no gateway of provider {name}"
        name = entries[0]
        text = (ROOT / "config.example.yaml").read_text()
        for key in cls.settings:
            assert key in documented[name] or f"{key}_file" in text, (
                f"gateways.{name}.{key} is not documented"
            )


def test_config_example_documents_every_serve_setting():
    text = (ROOT / "config.example.yaml").read_text()
    for key in config_module.SERVE_SETTINGS:
        assert re.search(rf"^  {key}:", text, flags=re.MULTILINE), f"serve.{key} is not documented"


def test_readme_systemd_unit_has_no_comment_after_a_setting():
    """systemd takes a comment only on a line of its own: ``EnvironmentFile=-/etc/x.env  # ...`` names
    a file whose name goes on to the end of the line, which is not there, and the ``-`` makes systemd
    start the receiver without its secrets, saying nothing (its Stripe route then answers 404)."""
    text = (ROOT / "README.md").read_text()
    unit = re.search(r"```ini\n(# /etc/systemd/system/paycli-serve\.service\n.*?)```", text, flags=re.DOTALL)
    assert unit is not None
    settings = [
        line for line in unit.group(1).splitlines() if "=" in line and not line.startswith(("#", ";"))
    ]
    assert any(line.startswith("EnvironmentFile=") for line in settings)
    assert [line for line in settings if "#" in line] == []
