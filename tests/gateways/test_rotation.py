"""A gateway's secret rotated (design.md 3.4, 6.1): with the new secret listed first and the earlier one
after it, `paycli reprocess --all` keeps every outcome the earlier one gave, for each provider that checks
a secret; with the new one alone, what the earlier one signed fails and reprocess counts it."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycli import gateways
from paycli.config import Config, load_config
from paycli.gateways.base import Provider
from paycli.ingest import Ingest
from paycli.store import Store
from tests.conftest import snapshot
from tests.gateways.test_golden import NOT_INPUTS, provider_classes

SAMPLES = Path(__file__).parent / "samples"
# each sample folder's secret, the earlier one now, and the one that replaced it
EARLIER = {
    "webhook_secret": "whsec_paycliTestSecret_NotReal_4f7d2a9c81e6b035",
    "secret_word": "paycliword",
    "mac_key": "K7QX2M9PLR4TB8WZ6NDA3HVC1YJ5EUSG",
}
NEW = {
    "webhook_secret": "whsec_paycliTestSecret_Rolled_9b1e0c7a25d4f386",
    "secret_word": "rotatedword",
    "mac_key": "R2NW8KEY5ROTATED3AFTER7A1LEAK9XQ",
}
# genuine messages alone, and genuine ones beside forged ones (which must stay forged)
FOLDERS = {
    "stripe/approved": "webhook_secret",
    "stripe/forged": "webhook_secret",
    "skrill/approved": "secret_word",
    "skrill/tampered": "secret_word",
    "skrill/progression": "secret_word",
    "nexi/approved": "mac_key",
    "nexi/genuine-and-forged": "mac_key",
}


def configured(
    folder: Path, tmp_path: Path, key: str, *secrets: str, files: bool = False
) -> tuple[Config, dict[str, Provider]]:
    """The folder's configuration with ``secrets`` (the current one first) in place of its secret:
    as a list of values, or as a list of files (``<key>_file``)."""
    text = (folder / "paycli.yaml").read_text()
    line = f"    {key}: {EARLIER[key]}\n"
    assert line in text
    if files:
        names = []
        for index, secret in enumerate(secrets):
            (tmp_path / f"secret-{index}").write_text(secret + "\n")
            names.append(f"secret-{index}")
        line_now = f"    {key}_file: [{', '.join(names)}]\n"
    else:
        line_now = f"    {key}: [{', '.join(secrets)}]\n"
    config_file = tmp_path / "paycli.yaml"
    config_file.write_text(text.replace(line, line_now))
    classes = provider_classes()
    config = load_config(
        config_file, gateways.settings_specs(classes), requests_spec=classes["requests"].settings
    )
    return config, gateways.instances(config, classes)


def outcomes(store: Store) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        r["txn_id"]: (r["outcome"], r["reason"], r["detail"])
        for r in store.query("SELECT txn_id, outcome, reason, detail FROM payment_request")
    }


def reprocess_all(store: Store, settings: tuple[Config, dict[str, Provider]]) -> Ingest:
    run = Ingest(store, *settings)
    run.reprocess(read=True)
    return run


@pytest.mark.parametrize("files", [False, True], ids=["values", "files"])
@pytest.mark.parametrize("name", FOLDERS)
def test_reprocess_all_after_a_rotation_keeps_every_outcome_while_the_earlier_secret_is_listed(
    name: str, files: bool, store: Store, tmp_path: Path
) -> None:
    folder, key = SAMPLES / name, FOLDERS[name]
    inputs = sorted(
        str(p) for p in folder.iterdir() if p.name not in NOT_INPUTS and not p.name.endswith(".headers")
    )
    Ingest(store, *configured(folder, tmp_path, key, EARLIER[key])).run(inputs)
    before, stored = outcomes(store), snapshot(store)
    valid = store.query("SELECT COUNT(*) AS n FROM response WHERE authenticity = 'valid'")[0]["n"]

    rotated = configured(folder, tmp_path, key, NEW[key], EARLIER[key], files=files)
    run = reprocess_all(store, rotated)
    assert run.report.failing == 0
    assert (outcomes(store), snapshot(store)) == (before, stored)

    # the new secret alone: each genuine message fails its check, and reprocess says how many
    run = reprocess_all(store, configured(folder, tmp_path, key, NEW[key], files=files))
    assert run.report.failing >= valid
    assert store.query("SELECT COUNT(*) AS n FROM response WHERE authenticity = 'valid'")[0]["n"] == 0
    # (skrill/tampered holds forgeries alone: forged under either secret, their outcomes stay)
    assert (outcomes(store) == before) is (valid == 0)

    # the earlier one listed again: every message reads as it did
    assert reprocess_all(store, rotated).report.failing == 0
    assert outcomes(store) == before
