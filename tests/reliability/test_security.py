"""Hostile input: forged callbacks never decide a payment, and secrets never come out.

A forger can post whatever the gateways post; what they cannot do is sign it with the shop's secret
(Nexi's MAC key, Skrill's secret word, Stripe's webhook secret) or make PayPal answer VERIFIED to the
postback. The property below generates forged notifications of every signing gateway, in four ways
(the wrong key, a signed message altered afterwards, no signature, a garbage signature), alone or
beside the genuine one, in any order: the request is never POSITIVO or NEGATIVO; a person must look.

Two unsigned messages in files are not judged forged: a Nexi message without its mac is not Nexi's
(quarantined and kept, it counts for nothing: beside the genuine one, the genuine decides), and a
Stripe body without its Stripe-Signature cannot be told from one whose sidecar was lost (unverifiable,
which decides nothing under require_verified, as PayPal's IPN never posted back; posted to ``paycli
serve`` it is refused).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from paycli.ingest import Ingest
from tests.conftest import REQUEST_HEADER, empty_store
from tests.reliability.notifications import BUILDERS, CONFIG, FORGERIES, SECRETS, SKRILL_WORD, configured

# the gateways whose unsigned message in a file is unverifiable, not forged
UNSIGNED_FILES_UNVERIFIABLE = ("paypal", "stripe")


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
@example(gateway="stripe", approved=True, forgeries=["no signature"], genuine="none")
@example(gateway="nexi", approved=True, forgeries=["no signature"], genuine="before")
def test_forged_callbacks_never_make_a_request_positivo_or_negativo(
    store, tmp_path_factory, gateway, approved, forgeries, genuine
):
    folder = tmp_path_factory.mktemp("forged")
    empty_store(store)
    config, found = configured(folder, require_verified=gateway in UNSIGNED_FILES_UNVERIFIABLE)
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
    set_aside = store.query("SELECT COUNT(*) AS n FROM message WHERE state = 'quarantined'")[0]["n"]
    if genuine != "none" and set_aside == len(distinct) - 1:
        # every forgery was quarantined, not counted: the genuine decides alone
        assert row["outcome"] == ("NEGATIVO" if approved else "POSITIVO"), (gateway, forgeries, dict(row))
    else:
        assert row["outcome"] == "VERIFICARE", (gateway, forgeries, genuine, dict(row))


def test_a_genuine_callback_alone_does_decide(store, tmp_path):
    """The control of the property above: without a forgery, each builder's message decides."""
    for gateway, build in BUILDERS.items():
        folder = tmp_path / gateway
        folder.mkdir()
        config, found = configured(folder, require_verified=gateway in UNSIGNED_FILES_UNVERIFIABLE)
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


def forged_and_genuine(folder: Path, txn: str) -> Path:
    """A folder holding a request ``txn`` and, from each gateway, a forged and a genuine message for it."""
    folder.mkdir()
    order = txn.rsplit("-", 1)[0]
    (folder / "requests.csv").write_text(
        REQUEST_HEADER + f"{txn},{order},order,2026-11-26T10:15:00+01:00,Rossi Mario,,19.90,EUR,nexi\n"
    )
    for gateway, build in BUILDERS.items():
        write(folder, f"{gateway}-forged.txt", build(txn, True, "wrong key"))
        write(folder, f"{gateway}-genuine.txt", build(txn, True, None))
    return folder


def test_no_command_prints_a_secret_whatever_happens(cli, secret_config, tmp_path):
    txn = "SEC-2001-1"
    folder = forged_and_genuine(tmp_path / "in", txn)
    (folder / "broken.txt").write_bytes(b"\x00\x01 not a callback")
    (tmp_path / "reports").mkdir()
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
        cli("report", "--date", "2026-11-26", "--format", "html", "--out", "-"),
        cli("report", "--date", "2026-11-26", "--format", "csv", "--out", "-"),
        cli("--debug", "report", "--date", "2026-11-26", "--out", str(tmp_path / "reports")),
        cli("report", "--date", "not-a-day"),
    ]
    assert txn in runs[-4].stdout, "the report shows the request: the check above read a real report"
    written_files = list((tmp_path / "reports").iterdir())
    assert len(written_files) == 2, written_files  # the HTML and the CSV file
    for written in written_files:
        assert not leaks(written.read_text("utf-8-sig")), written
    for run in runs:
        assert not leaks(run.stdout + run.stderr), run


def test_no_command_prints_an_earlier_secret_nor_which_one_verified(cli, isolated, tmp_path):
    # every secret rotated: the one the messages are signed with is now the earlier one, listed second
    rotated = {secret: f"ROTATED0{index}0{secret[::-1]}" for index, secret in enumerate(SECRETS)}
    config = CONFIG.replace("REQUIRE", "false")
    for earlier, new in rotated.items():
        config = config.replace(f": {earlier}\n", f":\n      - {new}\n      - {earlier}\n")
    (isolated / "paycli.yaml").write_text(config)
    txn = "SEC-3001-1"
    folder = forged_and_genuine(tmp_path / "in", txn)
    runs = [
        cli("ingest", str(folder)),
        cli("--debug", "ingest", str(folder)),
        cli("gateways"),
        cli("gateways", "--format", "json"),
        cli("reprocess", "--all"),
        cli("show", txn, "--raw"),
        cli("messages"),
        cli("show", txn, "--format", "json"),
    ]
    trail = {(t["provider"], t["authenticity"]) for t in json.loads(runs[-1].stdout)["trail"]}
    for gateway in ("nexi", "skrill", "stripe"):  # each genuine message verified by the earlier secret
        assert {(gateway, "valid"), (gateway, "invalid")} <= trail
    assert runs[3].stdout.count("set, with 1 earlier still accepted") == 3
    for run in runs:
        assert not leaks(run.stdout + run.stderr), run
        assert not any(new in run.stdout + run.stderr for new in rotated.values()), run


def test_a_configuration_error_beside_a_secret_names_the_key_not_the_value(cli, isolated):
    (isolated / "paycli.yaml").write_text(
        CONFIG.replace("REQUIRE", "false").replace("mac_key:", "mac_kye:")
        + f"  skrill_two:\n    provider: skrill\n    secret_word: {SKRILL_WORD}\n    merchant_id: [1, 2]\n"
    )
    run = cli("gateways")
    assert run.code == 2
    assert "mac_kye" in run.stderr
    assert not leaks(run.stdout + run.stderr), run


# -- the terminal ----------------------------------------------------------------------------------
# what a forger or a shop's export can put in a reference, a status, a name or a file name: a window
# title (OSC), a cleared screen (CSI), a carriage return or backspaces over what is shown, a bidi override
HOSTILE_TXN = "EV\x1b]0;pwned\x07-1"


def obeyed(text: str) -> list[str]:
    """The characters of ``text`` a terminal would obey rather than show (all but the line ends)."""
    import unicodedata

    return sorted({c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")})


def nexi_form(fields: dict[str, str], key: str = "SOMEONE0ELSES0KEY") -> bytes:
    from urllib.parse import quote

    mac = hashlib.sha1(("".join(f"{k}={v}" for k, v in fields.items()) + key).encode()).hexdigest()
    return "&".join(f"{k}={quote(v)}" for k, v in {**fields, "mac": mac}.items()).encode()


def test_text_from_outside_is_shown_escaped_never_obeyed_by_a_terminal(cli, secret_config):
    folder = Path("in")  # in the current folder: a name short enough for the listing's column
    folder.mkdir()
    (folder / "requests\x1b[2J.csv").write_text(
        REQUEST_HEADER
        + f'{HOSTILE_TXN},ORD\x1b]2;x\x07-1,order,2026-11-26T10:15:00+01:00,"Rossi\rEVIL\u202eabc",'
        "a\x08\x08b@example.com,19.90,EUR,nexi\n"
        "BAD-1,,other,not a date\x1b]0;t\x07,Bianchi,,1.00,EUR,nexi\n"
    )
    fields = {"esito": "O\x1b]2;K\x07", "importo": "1990", "divisa": "EUR", "data": "20261126"}
    fields |= {"orario": "101500", "codAut": "A\x1b[8m\u202e1"}
    (folder / "forged.nexi").write_bytes(nexi_form({"codTrans": HOSTILE_TXN, **fields}))
    (folder / "orphan.nexi").write_bytes(nexi_form({"codTrans": "ORPH\x1b]0;x\x07\r-9", **fields}))
    runs = {
        "ingest": cli("ingest", str(folder / "requests\x1b[2J.csv")),
        "ingest nexi": cli(
            "ingest", "--gateway", "nexi", str(folder / "forged.nexi"), str(folder / "orphan.nexi")
        ),
        "resolve": cli("resolve", HOSTILE_TXN, "--as", "NEGATIVO", "--note", "seen\nfake line\x1b[2J\u202e"),
        "list": cli("list"),
        "show": cli("show", HOSTILE_TXN),
        "show --raw": cli("show", HOSTILE_TXN, "--raw"),
        "order": cli("order", "ORD\x1b]2;x\x07-1"),
        "messages": cli("messages"),
        "orphans": cli("messages", "--state", "orphan"),
        "not found": cli("show", "NO\x1b]0;x\x07"),
        "--debug": cli("--debug", "show", "NO\x1b]0;x\x07"),  # the traceback, and its last line
    }
    assert runs["ingest"].code == 1 and runs["not found"].code == 3
    for name, run in runs.items():
        assert not obeyed(run.stdout + run.stderr), (name, run)
    shown = runs["show"].stdout
    assert "Payment request EV\\x1b]0;pwned\\x07-1" in shown
    assert "Rossi\\rEVIL\\u202eabc <a\\x08\\x08b@example.com>" in shown
    assert "O\\x1b]2;K\\x07" in shown and "A\\x1b[8m\\u202e1" in shown  # the gateway's words, its txn
    # an operator's note of two lines is one line of the resolutions: no line of its own to forge
    assert "NEGATIVO: seen\\nfake line\\x1b[2J\\u202e" in shown and "\nfake line" not in shown
    assert "ORPH\\x1b]0;x\\x07\\r-9" in runs["orphans"].stdout
    assert "in/requests\\x1b[2J.csv:3" in runs["messages"].stdout
    assert "in/requests\\x1b[2J.csv:3: created_at 'not a date\\x1b]0;t\\x07'" in runs["ingest"].stderr
    assert "'NO\\x1b]0;x\\x07'" in runs["not found"].stderr
    # JSON keeps the data exact (escaped as JSON does); CSV writes the escape, as a table does
    data = cli("show", HOSTILE_TXN, "--format", "json").stdout
    assert json.loads(data)["customer"] == "Rossi\rEVIL\u202eabc" and not obeyed(data)
    data = cli("list", "--format", "ndjson").stdout
    assert json.loads(data)["email"] == "a\x08\x08b@example.com" and not obeyed(data)
    data = cli("list", "--format", "csv").stdout
    assert "EV\\x1b]0;pwned\\x07-1" in data and not obeyed(data.replace("\r\n", "\n"))


def test_the_progress_line_shows_a_file_name_s_escapes_as_text():
    from paycli.commands.ingest import describe_progress

    line = describe_progress(1, "in/\x1b]0;x\x07\u202ecsv.exe", 10, 100, 0, 0.0)
    assert line == "ingesting in/\\x1b]0;x\\x07\\u202ecsv.exe: 10% of 100 B, 0 records"


# -- paths -----------------------------------------------------------------------------------------
def test_archived_files_land_in_the_archive_folder_and_nowhere_else(cli, secret_config, tmp_path):
    """Files of a tree, with the same names in several folders and names that look like paths, are
    moved into the archive folder itself: never beside it, above it, or over one another."""
    inbox = tmp_path / "inbox"
    names = ["-rf", " ", "x\\..\\..\\y", "con", "a b", "perché"]
    expected = 0
    for i, folder in enumerate(["a", "a/b", "c"]):
        (inbox / folder).mkdir(parents=True, exist_ok=True)
        for j, name in enumerate(names):
            body, _ = BUILDERS["nexi"](f"ARC-{i}-{j}", True)
            (inbox / folder / f"{name}.nexi").write_bytes(body)
            expected += 1
    archive = tmp_path / "archive"
    run = cli("ingest", "--gateway", "nexi", "--archive", str(archive), str(inbox))
    assert run.code == 0, run
    moved = list(archive.rglob("*"))
    assert len(moved) == expected, "each file moved, none overwritten"
    assert all(path.parent == archive for path in moved), "nothing leaves the archive folder itself"
    assert not any(inbox.rglob("*.nexi")), "everything read was moved"
