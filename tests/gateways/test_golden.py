"""Golden scenarios of every provider, the beangulp way: inputs beside the expected result.

Each folder ``samples/<provider>/<scenario>/`` holds the shop's ``requests.csv``, the gateway's
messages (with ``.headers`` sidecars where the gateway sends headers), an optional ``paycli.yaml``, and
``expected.json``: for each request its outcome, reason, detail and trail, plus what was quarantined.
The test ingests the folder into a fresh store and compares; it ingests it again and checks that
nothing changed. ``PAYCLI_REGEN=1 pytest tests/gateways`` rewrites the expected files: read the diff
against the formats document before committing it.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from paycli import gateways
from paycli.config import Config, load_config
from paycli.gateways.base import Provider
from paycli.ingest import Ingest
from paycli.queries import show_request
from paycli.store import Store
from tests.conftest import snapshot

SAMPLES = Path(__file__).parent / "samples"
SCENARIOS = sorted(p for p in SAMPLES.glob("*/*") if p.is_dir())
NOT_INPUTS = {"paycli.yaml", "expected.json", "README.md"}
TRAIL_FIELDS = (
    "type",
    "provider",
    "status",
    "gateway_status",
    "amount",
    "currency",
    "authenticity",
    "deliveries",
    "suspicious",
    "other_gateway",
)


def provider_classes() -> dict[str, type[Provider]]:
    classes = gateways.installed()
    for folder in SAMPLES.iterdir():
        if folder.is_dir() and folder.name not in classes:
            module = importlib.import_module(f"paycli.gateways.{folder.name}")
            classes[folder.name] = next(
                v
                for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, Provider) and getattr(v, "name", None) == folder.name
            )
    return classes


def scenario_providers(folder: Path) -> tuple[Config, dict[str, Provider]]:
    """The configuration of a scenario folder (its paycli.yaml, or the defaults) and its providers."""
    classes = provider_classes()
    config_file = folder / "paycli.yaml"
    config = load_config(
        config_file if config_file.exists() else None,
        gateways.settings_specs(classes),
        requests_spec=classes["requests"].settings,
    )
    return config, gateways.instances(config, classes)


def run(folder: Path, store: Store) -> dict[str, Any]:
    config, providers = scenario_providers(folder)
    said: list[str] = []
    inputs = sorted(
        str(p) for p in folder.iterdir() if p.name not in NOT_INPUTS and not p.name.endswith(".headers")
    )
    Ingest(store, config, providers, say=said.append).run(inputs)
    result: dict[str, Any] = {"requests": {}, "quarantined": [], "orphans": []}
    for row in store.query("SELECT txn_id FROM payment_request ORDER BY txn_id"):
        shown = show_request(store, row["txn_id"], config.timezone, config=config)
        result["requests"][row["txn_id"]] = {
            "outcome": shown["outcome"],
            "reason": shown["reason"],
            "detail": shown["detail"],
            # which other requests a response's transaction answers: said where there are some
            "trail": [
                {k: t[k] for k in TRAIL_FIELDS}
                | ({"also_answers": t["also_answers"]} if t["also_answers"] else {})
                for t in shown["trail"]
            ],
        }
    for row in store.query(
        "SELECT source, error FROM message WHERE state = 'quarantined' ORDER BY source, line"
    ):
        result["quarantined"].append([Path(row["source"]).name, row["error"]])
    for row in store.query(
        "SELECT provider, reference, status FROM response WHERE request_id IS NULL ORDER BY reference, status"
    ):
        result["orphans"].append([row["provider"], row["reference"], row["status"]])
    return result


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_scenario(folder: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)  # sidecar and *_file paths in the scenario are relative to it
    actual = run(folder, store)
    expected_file = folder / "expected.json"
    if os.environ.get("PAYCLI_REGEN"):
        expected_file.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert actual == json.loads(expected_file.read_text())
    before = snapshot(store)
    run(folder, store)
    assert snapshot(store) == before, "ingesting the same inputs twice changed the store"
