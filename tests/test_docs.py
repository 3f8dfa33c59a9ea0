"""The documentation stays true: config.example.yaml loads, and documents every key."""

from __future__ import annotations

import re
from pathlib import Path

from paycli import config as config_module
from tests.conftest import make_config
from tests.plugins import plugins_fixture, readme_example  # noqa: F401 (a fixture)

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
        if name == "requests" or not cls.__module__.startswith("paycli."):
            continue  # a plugin installed beside paycli documents its own settings
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


def test_readme_writing_a_provider_example_installs_and_reads_a_signed_notification(
    plugins, cli, isolated, store, monkeypatch
):
    import hashlib
    import hmac
    import json

    from tests.conftest import request_csv

    module, entry_point, config = readme_example()
    name, target = (part.strip().strip('"') for part in entry_point.split("="))
    plugins.install("paycli-mybank", {name: target}, {target.split(":")[0]: module})
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n" + config)
    monkeypatch.setenv("MYBANK_SIGNING_KEY", "k3y")
    listing = json.loads(cli("gateways", "--format", "json").stdout)
    assert {"name": "mybank", "provider": "mybank", "secrets": {"signing_key": "set"}}.items() <= next(
        r for r in listing if r["name"] == "mybank"
    ).items()
    rows = ["ORD-1-1,ORD-1,order,2026-11-26T10:00:00+01:00,Rossi,,129.90,EUR,mybank"]
    body = b'{"mybank": 1, "id": "T1", "order": "ORD-1-1", "state": "PAID", "cents": 12990, '
    body += b'"currency": "EUR", "at": "2026-11-26T10:01:00+01:00"}'
    (isolated / "paid.json").write_bytes(body)
    signature = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    (isolated / "paid.json.headers").write_text(f"X-Mybank-Signature: {signature}\n")
    result = cli("ingest", str(request_csv(isolated, rows)), str(isolated / "paid.json"))
    assert result.code == 0, result
    shown = cli("show", "ORD-1-1").stdout
    assert "POSITIVO" in shown and "valid" in shown and "2026-11-26 10:01:00" in shown
    assert cli("reprocess", "--all").code == 0
    assert "POSITIVO" in cli("show", "ORD-1-1").stdout
    forged = body.replace(b'"T1"', b'"T2"')
    (isolated / "forged.json").write_bytes(forged)
    (isolated / "forged.json.headers").write_text(f"X-Mybank-Signature: {signature}\n")
    (isolated / "bad.json").write_bytes(b'{"mybank": 1, "id": "T3", "order": "ORD-1-1"}')
    result = cli("ingest", str(isolated / "forged.json"), str(isolated / "bad.json"))
    assert "bad.json: not a MyBank notification (KeyError('currency'))" in result.stderr
    assert "invalid" in cli("show", "ORD-1-1").stdout
