"""The ingest pipeline and the shop's request files (design.md 5.1 and 5.3)."""

from __future__ import annotations

import gc
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from paycli import gateways, recompute
from paycli.config import Config
from paycli.gateways.base import InfoRecord, Origin, QuarantinedRecord, Record, Source
from paycli.gateways.requests import RequestFileProvider
from paycli.ingest import Ingest, IngestReport, _without_nul
from paycli.store import Store
from tests.conftest import ON_POSTGRES, REQUEST_HEADER, make_config, request_csv, snapshot, table_counts
from tests.fake_gateway import FakeGateway, message

ROW = "T1,O1,order,2026-11-26T10:15:00+01:00,Rossi Mario S.r.l.,mario.rossi@example.com,129.90,EUR,fake"


def providers(config: Config) -> dict[str, object]:
    found = gateways.instances(config, gateways.installed())
    found["fake"] = FakeGateway("fake", {}, config)
    return found


def ingest(store: Store, config: Config, *paths: Path | str, **options: object) -> Ingest:
    said: list[str] = []
    run = Ingest(store, config, providers(config), say=said.append, **options)  # type: ignore[arg-type]
    run.run([str(p) for p in paths])
    run.said = said  # type: ignore[attr-defined]
    return run


def receive(store: Store, config: Config, line: str) -> Ingest:
    """One callback as ``paycli serve`` applies it: read live, committed in its own transaction."""
    run = Ingest(store, config, providers(config), gateway="fake")  # type: ignore[arg-type]
    with store.transaction():
        run.receive(Source.from_stream("http POST /callbacks/fake", io.BytesIO(line.encode())))
    return run


def request(store: Store, txn_id: str) -> dict[str, object]:
    rows = store.query("SELECT * FROM payment_request WHERE txn_id = :t", {"t": txn_id})
    assert rows, f"{txn_id} not stored"
    return dict(rows[0])


def quarantined(store: Store) -> list[tuple[int, str]]:
    rows = store.query("SELECT line, error FROM message WHERE state = 'quarantined' ORDER BY line")
    return [(r["line"], r["error"]) for r in rows]


# -- the request file ---------------------------------------------------------------------------
def test_a_request_file_registers_every_request_with_no_response_yet(store, config, tmp_path):
    path = request_csv(tmp_path, [ROW, "T2,,deposit,2026-11-26T11:00:00,Bianchi,,50,EUR,nexi"])
    run = ingest(store, config, path)
    assert run.report.ok
    t1 = request(store, "T1")
    assert (t1["amount_minor"], t1["currency"], t1["outcome"], t1["reason"]) == (
        12990,
        "EUR",
        "VERIFICARE",
        "NO_RESPONSE",
    )
    t2 = request(store, "T2")
    assert t2["order_id"] is None and t2["kind"] == "deposit"
    # no offset: the configured zone (Europe/Rome, +01:00 in November)
    assert Store.from_time(t2["created_at"]).isoformat() == "2026-11-26T10:00:00+00:00"


def test_a_run_collects_cycles_less_often_and_leaves_the_collector_as_it_found_it(store, config, tmp_path):
    path = request_csv(tmp_path, [ROW])
    during: dict[int, set[int]] = {}

    before = gc.get_threshold()
    try:
        for first in (before[0], 0):  # 0: a caller that turned automatic collection off
            gc.set_threshold(first, *before[1:])
            seen = during.setdefault(first, set())
            # progress is called as an input begins and after each batch: inside the run
            run = Ingest(
                store,
                config,
                providers(config),  # type: ignore[arg-type]
                progress=lambda *_, seen=seen: seen.add(gc.get_threshold()[0]),
            )
            run.run([str(path)])
            assert gc.get_threshold() == (first, *before[1:])
    finally:
        gc.set_threshold(*before)
    assert during == {before[0]: {max(before[0], 50_000)}, 0: {0}}


def test_kind_defaults_from_the_order_id(store, config, tmp_path):
    path = request_csv(
        tmp_path,
        ["T1,O1,,2026-11-26T10:15:00Z,A,,1.00,EUR,nexi", "T2,,,2026-11-26T10:15:00Z,B,,1.00,EUR,nexi"],
    )
    ingest(store, config, path)
    assert request(store, "T1")["kind"] == "order"
    assert request(store, "T2")["kind"] == "other"


def test_json_lines_amounts_are_never_floats(store, config, tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(
        json.dumps(
            {
                "txn_id": "J1",
                "created_at": "2026-11-26T10:00:00Z",
                "customer": "A",
                "amount": 0.1,
                "currency": "EUR",
                "gateway": "nexi",
            }
        )
        + "\n"
        + json.dumps(
            {
                "txn_id": "J2",
                "created_at": "2026-11-26T10:00:00Z",
                "customer": "B",
                "amount": "19.99",
                "currency": "jpy",
                "gateway": "nexi",
            }
        )
        + "\n"
    )
    ingest(store, config, path)
    assert request(store, "J1")["amount_minor"] == 10
    assert quarantined(store) == [(2, "amount '19.99' has more decimals than JPY allows (0)")]


def test_a_json_line_nested_past_any_parser_is_quarantined_and_the_rest_goes_on(store, config, tmp_path):
    good = '{"txn_id": "J%d", "created_at": "2026-11-26T10:00:00Z", "customer": "A", "amount": "1.00", "currency": "EUR", "gateway": "nexi"}'
    path = tmp_path / "requests.jsonl"
    path.write_text(
        "\n".join(
            [
                good % 1,
                '{"txn_id": "J2", "x": ' + "[" * 100_000,
                good % 3,
                '{"txn_id": "J4", }',
                (good % 5)[:-1] + ', "amount": "100.00"}',
            ]
        )
        + "\n"
    )
    ingest(store, config, path)
    assert request(store, "J1") and request(store, "J3")
    assert quarantined(store) == [
        (2, "not valid JSON (nested too deeply)"),
        (4, "not valid JSON (Expecting property name enclosed in double quotes at column 18)"),  # no "line 1"
        (5, "not valid JSON (key 'amount' given twice)"),  # 1.00 or 100.00: nobody can tell
    ]


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (
            '{"txn_id": "J0", "customer": "A", }',
            "not valid JSON (Expecting property name enclosed in double quotes",
        ),
        ('{"txn_id": "J0", "txn_id": "J9", "customer": "A"}', "not valid JSON (key 'txn_id' given twice)"),
        (
            '{"txn_id": "J0", "created_at": "2026-11-26T10:00:00Z", "amount": "1", "currency": "EUR", "gateway": "nexi"}',
            "customer",
        ),
    ],
)
def test_a_json_lines_file_whose_first_line_is_bad_is_read_all_but_that_line(
    store, config, tmp_path, first, reason
):
    # the file was refused whole as "no provider recognises it", its good lines unread, no reason said
    good = '{"txn_id": "J1", "created_at": "2026-11-26T10:00:00Z", "customer": "A", "amount": "1.00", "currency": "EUR", "gateway": "nexi"}'
    path = tmp_path / "requests.jsonl"
    path.write_text(first + "\n" + good + "\n")
    run = ingest(store, config, path)
    assert run.report.refused == []
    assert request(store, "J1")
    [(line, why)] = quarantined(store)
    assert line == 1 and reason in why, why


def test_a_json_array_of_requests_is_refused_saying_how_to_write_it(store, config, tmp_path):
    path = tmp_path / "requests.json"
    path.write_text('[\n  {"txn_id": "J1", "customer": "A"}\n]\n')
    [(_, reason)] = ingest(store, config, path).report.refused
    assert reason.endswith(
        "; requests: a JSON array of requests: write one request object a line (JSON lines)"
    )


class Crashing(FakeGateway):
    """A provider with a bug on some input, as a third-party plugin may have."""

    def extract(self, source: Source) -> Iterator[Record]:
        yield from super().extract(source)
        if b"boom" in source.head:
            raise KeyError("boom")


def test_a_provider_that_fails_on_one_input_refuses_that_input_only(store, config, tmp_path):
    found = providers(config)
    found["fake"] = Crashing("fake", {}, config)
    said: list[str] = []
    run = Ingest(store, config, found, say=said.append)  # type: ignore[arg-type]
    first = write_messages(
        tmp_path, message("T1", "k1", "approved"), '{"fake": 1, "boom": 1}', name="a.jsonl"
    )
    second = write_messages(tmp_path, message("T2", "k2", "approved"), name="b.jsonl")
    run.run([str(first), str(second)])
    assert run.report.refused == [(str(first), "the fake provider failed on it (KeyError: 'boom')")]
    # what it read before failing is kept, and the next input is read
    assert {r["reference"] for r in store.query("SELECT reference FROM response")} == {"T1", "T2"}


def test_a_provider_that_fails_on_a_quarantined_message_leaves_it_quarantined(store, config, tmp_path):
    ingest(store, config, write_messages(tmp_path, '{"fake": 1, "ref": "T1"}'))  # no key: quarantined
    found = providers(config)

    class Failing(FakeGateway):
        def reinterpret(self, origin: Origin) -> Record:
            raise RecursionError("maximum recursion depth exceeded")

    found["fake"] = Failing("fake", {}, config)
    said: list[str] = []
    Ingest(store, config, found, say=said.append).reprocess()  # type: ignore[arg-type]
    assert quarantined(store) == [
        (1, "the fake provider failed on it (RecursionError: maximum recursion depth exceeded)")
    ]


def test_a_quote_never_closed_costs_its_own_line_only(store, config, tmp_path):
    rows = [f"Q{i},O{i},order,2026-11-26T10:15:00Z,Bar {i},,10.00,EUR,nexi" for i in range(1, 2001)]
    rows[899] = 'Q900,O900,order,2026-11-26T10:15:00Z,"Bar Da Mario,,10.00,EUR,nexi'  # file line 901
    ingest(store, config, request_csv(tmp_path, rows))
    assert table_counts(store)["payment_request"] == 1999
    assert request(store, "Q1500") and request(store, "Q2000")
    assert quarantined(store) == [
        (
            901,
            "expected 9 fields, found 5: a quote opened on this line runs on to line 2001; "
            "the lines after it are read on their own",
        )
    ]
    raw = store.query("SELECT raw FROM message WHERE state = 'quarantined'")[0]["raw"]
    assert bytes(raw) == rows[899].encode() + b"\n"  # its line, verbatim, and no other


def test_a_quote_left_open_to_the_end_of_the_file_costs_its_own_line_only(store, config, tmp_path):
    # in the last column the fields still count 9: the open quote at the end of the file tells
    rows = [f"Q{i},O{i},order,2026-11-26T10:15:00Z,Bar {i},,10.00,EUR,nexi" for i in range(1, 6)]
    rows[1] = 'Q2,O2,order,2026-11-26T10:15:00Z,Bar 2,,10.00,EUR,"nexi'
    ingest(store, config, request_csv(tmp_path, rows))
    assert table_counts(store)["payment_request"] == 4
    assert quarantined(store) == [
        (
            3,
            "not a CSV record (unexpected end of data): a quote opened on this line runs on to line 6; "
            "the lines after it are read on their own",
        )
    ]


def test_a_reason_quoting_a_value_with_a_line_break_stays_one_line(store, config, tmp_path):
    run = ingest(
        store, config, request_csv(tmp_path, ['T1,O1,order,2026-11-26T10:15:00Z,A,,"10\n.00",EUR,nexi'])
    )
    [(line, error)] = quarantined(store)
    assert line == 2 and error.startswith("amount '10\\n.00' is not")
    assert all("\n" not in said for said in run.said)


def test_a_request_for_a_gateway_nobody_reads_is_kept_and_said_once(store, config, tmp_path):
    typo = ROW.replace(",fake", ",fakee")
    rows = [ROW, typo.replace("T1,O1", "T2,O2"), typo.replace("T1,O1", "T3,O3")]
    run = ingest(store, config, request_csv(tmp_path, rows))
    assert table_counts(store)["payment_request"] == 3 and run.report.ok  # a bank transfer checked by hand
    [said] = [s for s in run.said if "fakee" in s]
    assert said.endswith(
        ":3: gateway 'fakee' is not a gateway of this configuration (did you mean 'fake'? gateways: "
        + ", ".join(sorted(set(providers(config)) - {"requests"}))
        + "): its requests wait for responses no provider reads"
    )


def test_a_nul_character_is_quarantined_not_a_batch_postgresql_refuses(store, config, tmp_path):
    # PostgreSQL's text columns take no NUL: one such value would fail its whole batch, every run
    requests = request_csv(tmp_path, [ROW, ROW.replace("T1,O1", "T2,O2").replace("Rossi", "Ro\x00ssi")])
    messages = write_messages(
        tmp_path, message("T1", "k1", "approved"), message("T2\x00", "k2", "approved"), name="m.jsonl"
    )
    run = ingest(store, config, requests, messages)
    assert table_counts(store)["payment_request"] == 1 and table_counts(store)["response"] == 1
    assert quarantined(store) == [
        (2, "a NUL character (0x00) in reference: no text column takes one"),
        (3, "a NUL character (0x00) in customer: no text column takes one"),
    ]
    assert not run.report.ok
    # in the headers a message keeps: quarantined, and stored with the NUL replaced
    odd = _without_nul(InfoRecord(Origin(1, b"{}", None, "X-Odd: a\x00b\n"), "T3", "a note"))
    assert odd == QuarantinedRecord(
        Origin(1, b"{}", None, "X-Odd: a\ufffdb\n"),
        "a NUL character (0x00) in its headers or header row: no text column takes one",
    )


def test_a_quoted_field_over_two_lines_is_one_record(store, config, tmp_path):
    ingest(
        store,
        config,
        request_csv(tmp_path, ['T1,O1,order,2026-11-26T10:15:00Z,"Rossi\nMario",,1.00,EUR,nexi']),
    )
    assert request(store, "T1")["customer"] == "Rossi\nMario" and quarantined(store) == []


def test_a_utf8_bom_is_not_part_of_the_first_column(store, config, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (REQUEST_HEADER + ROW + "\n").encode())
    assert ingest(store, config, path).report.ok
    assert request(store, "T1")["customer"] == "Rossi Mario S.r.l."


def test_a_windows_1252_file_keeps_its_accented_names_and_says_so(store, config, tmp_path):
    path = tmp_path / "cp1252.csv"
    path.write_bytes(
        (
            REQUEST_HEADER + "T1,O1,order,2026-11-26T10:15:00Z,Niccolò Fabbri & C. – Società,,1.00,EUR,nexi\n"
        ).encode("cp1252")
    )
    run = ingest(store, config, path)
    assert request(store, "T1")["customer"] == "Niccolò Fabbri & C. – Società"
    assert any("line 2 not UTF-8; read as Windows-1252" in s for s in run.said)


def test_a_header_line_with_a_stray_carriage_return_refuses_the_file_and_the_rest_goes_on(
    store, config, tmp_path
):
    # found by tests/reliability/test_fuzz.py: csv.Error escaped as a crash
    path = tmp_path / "broken.csv"
    path.write_bytes(
        b"txn_id,order_id,kind,created_at,cust\romer,email,amount,currency,gateway\n" + ROW.encode()
    )
    good = request_csv(tmp_path, [ROW], name="good.csv")
    run = ingest(store, config, path, good, gateway="requests")
    assert [(name, reason.split(" (")[0]) for name, reason in run.report.refused] == [
        (str(path), "the header line is not readable CSV")
    ]
    assert request(store, "T1")["customer"] == "Rossi Mario S.r.l."


def test_a_missing_required_column_refuses_the_file_and_names_the_column(store, config, tmp_path):
    path = request_csv(
        tmp_path,
        ["T1,O1,order,2026-11-26T10:15:00Z,A,,1.00,nexi"],
        header="txn_id,order_id,kind,created_at,customer,email,amount,gateway\n",
    )
    good = request_csv(tmp_path, [ROW], name="good.csv")
    run = ingest(store, config, path, good)
    assert run.report.refused == [
        (
            str(path),
            "missing required column currency (the header has: txn_id, order_id, kind, created_at, customer, email, amount, gateway)",
        )
    ]
    assert table_counts(store)["payment_request"] == 1  # the other file went on


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('B1,O,order,2026-11-26T10:15:00Z,A,,"12,3.4",EUR,nexi', "amount '12,3.4' is not a decimal number"),
        ("B1,O,order,2026-11-26T10:15:00Z,A,,abc,EUR,nexi", "amount 'abc' is not a decimal number"),
        ("B1,O,order,2026-11-26T10:15:00Z,A,,-5.00,EUR,nexi", "amount '-5.00' is negative"),
        ("B1,O,order,2026-11-26T10:15:00Z,A,,0.00,EUR,nexi", "amount '0.00' must be greater than zero"),
        ("B1,O,order,2026-11-26T10:15:00Z,A,,5.00,EUX,nexi", "unknown currency 'EUX'"),
        ("B1,O,order,26/11/2026,A,,5.00,EUR,nexi", "created_at '26/11/2026' is not an ISO 8601 date-time"),
        (
            "B1,O,order,2099-01-01T10:00:00,A,,5.00,EUR,nexi",
            "created_at '2099-01-01T10:00:00' is in the future (more than a day past this machine's clock)",
        ),
        ("B1,O,order,2026-11-26T10:15:00Z,,,5.00,EUR,nexi", "customer is empty"),
        (
            "B1,O,order,2026-11-26T10:15:00Z,A,not-an-email,5.00,EUR,nexi",
            "email 'not-an-email' is not an e-mail address",
        ),
        ("B1,,order,2026-11-26T10:15:00Z,A,,5.00,EUR,nexi", "kind 'order' needs an order_id"),
        (
            "B1,O,refund,2026-11-26T10:15:00Z,A,,5.00,EUR,nexi",
            "kind 'refund' is not one of order, deposit, other",
        ),
        ("B1,O,order,2026-11-26T10:15:00Z,A,,5.00,EUR", "expected 9 fields, found 8"),
    ],
)
def test_a_bad_record_is_quarantined_with_its_line_and_the_rest_goes_on(store, config, tmp_path, row, reason):
    path = request_csv(tmp_path, [ROW, row, "T3,O3,order,2026-11-26T10:15:00Z,C,,3.00,EUR,nexi"])
    run = ingest(store, config, path)
    assert quarantined(store) == [(3, reason)]
    assert f"{path}:3: {reason}" in run.said
    assert run.report.quarantined == 1 and not run.report.ok
    assert {r["txn_id"] for r in store.query("SELECT txn_id FROM payment_request")} == {"T1", "T3"}
    stored = store.query("SELECT raw, context FROM message")[0]
    assert bytes(stored["raw"]).decode().rstrip("\r\n") == row  # kept verbatim
    assert stored["context"] == REQUEST_HEADER.strip()


def test_the_same_request_again_changes_nothing(store, config, tmp_path):
    path = request_csv(tmp_path, [ROW])
    ingest(store, config, path)
    before = snapshot(store)
    run = ingest(store, config, path)
    assert run.report.tallies["requests"].requests_unchanged == 1
    assert snapshot(store) == before


def test_a_request_again_with_other_values_is_refused_and_the_stored_one_kept(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    changed = request_csv(tmp_path, [ROW.replace("129.90", "12.99")], name="changed.csv")
    run = ingest(store, config, changed)
    assert request(store, "T1")["amount_minor"] == 12990
    assert quarantined(store) == [
        (2, "txn_id T1 is already stored with another amount (129.90 stored); use --update to replace it")
    ]
    assert not run.report.ok


def test_a_request_read_again_after_the_timezone_changed_says_why_its_created_at_moved(store, tmp_path):
    # the shop's export gives times without an offset: read in the configured zone, which changed
    (rome := tmp_path / "rome").mkdir()
    (utc := tmp_path / "utc").mkdir()
    row = ROW.replace("2026-11-26T10:15:00+01:00", "2026-11-26T10:15:00")
    ingest(store, make_config(rome, "timezone: Europe/Rome\n"), request_csv(tmp_path, [row]))
    run = ingest(store, make_config(utc, "timezone: UTC\n"), request_csv(tmp_path, [row], name="again.csv"))
    assert quarantined(store) == [
        (
            2,
            "txn_id T1 is already stored with another created_at (2026-11-26T09:15:00+00:00 stored, "
            "2026-11-26T10:15:00+00:00 here; a time without an offset is read in the configured timezone, "
            "UTC: if it changed since, keep the old one or give the times their offset); use --update to "
            "replace it",
        )
    ]
    assert not run.report.ok


def test_a_created_at_conflict_of_year_1_is_said_in_a_zone_west_of_utc_not_a_crash(store, tmp_path):
    # 0001-01-01T00:30Z, an ERP's "no date", is in year 0 in New York: the conflict's message, which
    # shows both times in the configured zone, ended the whole run with OverflowError (exit 70)
    config = make_config(tmp_path, "timezone: America/New_York\n")
    ingest(
        store,
        config,
        request_csv(tmp_path, [ROW.replace("2026-11-26T10:15:00+01:00", "0001-01-01T00:30:00Z")]),
    )
    again = ROW.replace("2026-11-26T10:15:00+01:00", "0001-01-01T02:30:00Z")
    run = ingest(store, config, request_csv(tmp_path, [again], name="again.csv"))
    [(_, said)] = quarantined(store)
    assert said.startswith(
        "txn_id T1 is already stored with another created_at (0001-01-01T00:30:00+00:00 stored, "
        "0001-01-01T02:30:00+00:00 here"
    ), said
    assert not run.report.ok


def test_update_replaces_a_stored_request_and_recomputes_it(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved", "12.99")))
    assert request(store, "T1")["reason"] == "AMOUNT_MISMATCH"
    run = ingest(
        store, config, request_csv(tmp_path, [ROW.replace("129.90", "12.99")], name="fix.csv"), update=True
    )
    assert run.report.tallies["requests"].requests_updated == 1
    t1 = request(store, "T1")
    assert (t1["amount_minor"], t1["outcome"], t1["reason"]) == (1299, "POSITIVO", None)


def test_update_with_two_lines_of_one_request_stores_the_later_as_two_runs_would(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    # a correction, then the correction taken back: the request ends as the file's last line says
    lines = [ROW.replace("129.90", "12.99"), ROW]
    run = ingest(store, config, request_csv(tmp_path, lines, name="fix.csv"), update=True)
    t = run.report.tallies["requests"]
    assert (t.records, t.requests_new, t.requests_unchanged, t.requests_updated) == (2, 0, 0, 2)
    assert request(store, "T1")["amount_minor"] == 12990
    # what the run left is what was stored: nothing replaced, nothing in the trail
    assert not store.query("SELECT 1 FROM message")
    # three lines, each counted once: 13.99, then 14.99, then 14.99 again
    lines = [ROW.replace("129.90", "13.99"), ROW.replace("129.90", "14.99"), ROW.replace("129.90", "14.99")]
    run = ingest(store, config, request_csv(tmp_path, lines, name="more.csv"), update=True)
    t = run.report.tallies["requests"]
    assert (t.records, t.requests_new, t.requests_unchanged, t.requests_updated) == (3, 0, 1, 2)
    assert request(store, "T1")["amount_minor"] == 1499
    # a new request given twice: stored as its later line, the first line counted as new
    new = ROW.replace("T1,O1", "T2,O2")
    run = ingest(
        store,
        config,
        request_csv(tmp_path, [new, new.replace("129.90", "1.00")], name="new.csv"),
        update=True,
    )
    t = run.report.tallies["requests"]
    assert (t.records, t.requests_new, t.requests_unchanged, t.requests_updated) == (2, 1, 0, 1)
    assert request(store, "T2")["amount_minor"] == 100 and run.report.ok


def test_each_update_is_kept_in_the_trail_with_what_the_request_said_before(store, config, tmp_path):
    """An operator resolved the request on its amount; a cron ingest --update then changed the amount:
    the trail says when, and what the request said before, so the resolution can be told to be of the
    old amount (the values replaced were gone, and only updated_at said that anything had changed)."""
    from paycli.queries import show_request
    from paycli.resolutions import resolve

    ingest(store, config, request_csv(tmp_path, [ROW]))
    resolve(store, config, "T1", "POSITIVO", "129.90 seen in the back office", "anna")
    fixed = ROW.replace("129.90", "12.99").replace("Rossi Mario S.r.l.", "Rossi Mario")
    ingest(store, config, request_csv(tmp_path, [fixed], name="fix.csv"), update=True)
    ingest(store, config, request_csv(tmp_path, [ROW.replace("EUR", "CHF")], name="back.csv"), update=True)
    trail = show_request(store, "T1", config.timezone)["trail"]
    notes = [(e["type"], e["sources"], e["note"]) for e in trail if e["type"] == "request"]
    assert [(kind, sources) for kind, sources, _ in notes] == [
        ("request", [f"{tmp_path / 'fix.csv'}:2"]),
        ("request", [f"{tmp_path / 'back.csv'}:2"]),
    ]
    assert notes[0][2].startswith("updated by ingest --update at ")
    assert notes[0][2].endswith("; before: customer Rossi Mario S.r.l., amount 129.90 EUR")
    assert notes[1][2].endswith("; before: customer Rossi Mario, amount 12.99 EUR")
    # the same line given again with --update changes nothing, and adds nothing
    ingest(store, config, request_csv(tmp_path, [ROW.replace("EUR", "CHF")], name="back.csv"), update=True)
    assert len(show_request(store, "T1", config.timezone)["trail"]) == len(trail)
    # of the currency alone, the currency is said
    ingest(store, config, request_csv(tmp_path, [ROW], name="eur.csv"), update=True)
    last = show_request(store, "T1", config.timezone)["trail"][-1]
    assert last["note"].endswith("; before: currency CHF")


def test_update_settles_the_conflict_the_same_line_was_quarantined_for(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    changed = request_csv(tmp_path, [ROW.replace("129.90", "12.99")], name="changed.csv")
    other = request_csv(tmp_path, [ROW.replace("129.90", "13.99")], name="other.csv")
    ingest(store, config, changed)
    ingest(store, config, other)
    assert [r[1][:27] for r in quarantined(store)] == ["txn_id T1 is already stored"] * 2
    run = ingest(store, config, changed, update=True)
    assert run.report.ok and request(store, "T1")["amount_minor"] == 1299
    # the line now stored is no longer a quarantine: it is the request's verbatim record
    rows = store.query("SELECT state, error, request_id, raw FROM message ORDER BY id")
    assert [(r["state"], r["request_id"]) for r in rows] == [
        ("request", request(store, "T1")["id"]),
        ("quarantined", None),  # 13.99 still disagrees with what is stored: a conflict to look at
    ]
    assert rows[0]["error"] is None and b"12.99" in bytes(rows[0]["raw"])
    from paycli.queries import show_request

    [entry] = show_request(store, "T1", config.timezone)["trail"]
    assert (entry["type"], entry["other_gateway"]) == ("request", False)  # the shop's file is no gateway


def test_an_empty_file_is_said_and_is_not_an_error(store, config, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    run = ingest(store, config, path, gateway="requests")
    assert run.report.ok
    assert any("empty file" in s for s in run.said)


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (
            REQUEST_HEADER.replace(",", ";").encode()
            + b"T1;O1;order;2026-11-26T10:15:00Z;A;;1,00;EUR;nexi\n",
            "separated by semicolons: save it as CSV with commas",
        ),
        ((REQUEST_HEADER + ROW + "\n").encode("utf-16"), "in UTF-16: save it as CSV UTF-8"),
    ],
)
def test_a_request_file_a_spreadsheet_saved_says_how_to_save_it(store, config, tmp_path, data, hint):
    path = tmp_path / "richieste.csv"
    path.write_bytes(data)
    [(_, reason)] = ingest(store, config, path).report.refused
    assert reason.startswith("no provider recognises it") and reason.endswith(
        f"; requests: a request file {hint}"
    )


def test_a_file_refused_at_its_header_is_not_counted_as_ingested(store, config, tmp_path):
    # the summary said "ingested 1 input / requests: 0 records: nothing new / 1 input refused"
    refused = tmp_path / "bad.csv"
    refused.write_text(REQUEST_HEADER.replace("customer,", "cliente,") + ROW + "\n")
    report = ingest(store, config, refused).report
    assert (report.files, report.tallies, len(report.refused)) == (0, {}, 1)
    good = request_csv(tmp_path, [ROW])
    report = ingest(store, config, refused, good).report
    assert (report.files, report.tallies["requests"].records, len(report.refused)) == (1, 1, 1)


def test_old_mac_line_ends_are_named(store, config, tmp_path):
    path = tmp_path / "requests.csv"
    path.write_bytes((REQUEST_HEADER + ROW + "\n").replace("\n", "\r").encode())
    [(_, reason)] = ingest(store, config, path).report.refused
    assert reason == (
        "the header line is not readable CSV (a carriage return inside a field: old Mac line ends (CR only)? "
        "save the file with LF or CRLF line ends)"
    )


def test_a_file_no_provider_recognises_is_refused_with_the_candidates(store, config, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    run = ingest(store, config, path)
    [(name, reason)] = run.report.refused
    assert name == str(path)
    assert reason.startswith("no provider recognises it (tried: requests, ") and reason.endswith(", fake)")


# -- responses ----------------------------------------------------------------------------------
def write_messages(folder: Path, *lines: str, name: str = "messages.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_response_before_its_request_waits_as_an_orphan_and_links_when_it_arrives(store, config, tmp_path):
    run = ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved")))
    assert run.report.tallies["fake"].orphans == 1
    ingest(store, config, request_csv(tmp_path, [ROW]))
    t1 = request(store, "T1")
    assert (t1["outcome"], t1["reason"], t1["response_count"]) == ("POSITIVO", None, 1)


def test_a_batch_is_stamped_once_the_store_is_ours(store, config, tmp_path, monkeypatch):
    # A resolution committed while the batch waited for the write lock must be older than the batch's
    # responses, so that they reopen the request (design.md 3.2 step 5): the time is taken after the lock.
    from datetime import UTC, datetime

    locked: list[datetime] = []
    take_lock = Ingest._lock_writers

    def slow_lock(self: Ingest) -> None:
        take_lock(self)
        time.sleep(0.01)  # the lock came late: someone else wrote meanwhile
        locked.append(datetime.now(UTC))

    monkeypatch.setattr(Ingest, "_lock_writers", slow_lock)
    ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved")))
    (response,) = store.query("SELECT received_at FROM response")
    assert Store.from_time(response["received_at"]) >= locked[-1]


def test_every_order_of_the_same_inputs_gives_the_same_store(store, config, tmp_path):
    files = [
        request_csv(tmp_path, [ROW, "T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,fake"]),
        write_messages(
            tmp_path, message("T1", "k1", "pending"), message("T2", "k2", "refused", "5.00"), name="a.jsonl"
        ),
        write_messages(
            tmp_path,
            message("T1", "k1", "approved"),
            '{"fake": 1, "ref": "T2", "info": "created"}',
            name="b.jsonl",
        ),
    ]
    results = []
    for order in itertools.permutations(files):
        for table in ("settlement", "message", "response", "resolution", "payment_request"):
            store.execute(f"DELETE FROM {table}")
        ingest(store, config, *order)
        results.append(snapshot(store))
    assert all(r == results[0] for r in results)
    assert request(store, "T1")["detail"] == "progression"


@pytest.mark.parametrize("largest_id", [None, 2**63 - 1])
def test_each_message_points_at_the_response_with_its_identity(store, config, tmp_path, largest_id):
    # SQLite: new response ids follow from the largest id before and after the insert, not selected
    # again. Past the largest possible rowid SQLite picks ids at random: then they are selected.
    if largest_id is not None and ON_POSTGRES:
        pytest.skip("PostgreSQL returns the new ids from the insert itself")
    ingest(store, config, request_csv(tmp_path, [ROW, "T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,fake"]))
    ingest(store, config, write_messages(tmp_path, message("T1", "k0", "pending"), name="first.jsonl"))
    if largest_id is not None:
        store.execute("PRAGMA foreign_keys = OFF")
        store.execute("UPDATE response SET id = :id", {"id": largest_id})
        store.execute(
            "UPDATE message SET response_id = :id WHERE response_id IS NOT NULL", {"id": largest_id}
        )
        store.execute("PRAGMA foreign_keys = ON")
    lines = [message("T1", f"k{i}", "approved") for i in range(1, 40)]
    lines += [message("T2", f"j{i}", "refused", "5.00") for i in range(40)]
    ingest(store, config, write_messages(tmp_path, *lines, name="second.jsonl"))
    rows = store.query(
        "SELECT m.raw, r.dedupe_key, r.status, r.reference FROM message m JOIN response r ON r.id = m.response_id"
    )
    assert len(rows) == 80
    for row in rows:
        sent = json.loads(bytes(row["raw"]))
        assert (row["dedupe_key"], row["status"], row["reference"]) == (
            sent["key"],
            sent["status"],
            sent["ref"],
        )
    assert request(store, "T1")["response_count"] == 40 and request(store, "T2")["response_count"] == 40


def test_redeliveries_are_one_response_delivered_several_times(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(
        store,
        config,
        write_messages(
            tmp_path, message("T1", "k1", "approved"), message("T1", "k1", "approved", resend="true")
        ),
    )
    rows = store.query("SELECT deliveries FROM response")
    assert [r["deliveries"] for r in rows] == [2]
    assert request(store, "T1")["outcome"] == "POSITIVO"


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite lets one writer in at a time: no other can race it")
def test_a_response_another_receiver_stores_at_the_same_instant_gets_both_deliveries(
    store, config, tmp_path, db_url
):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    real_query = store.query
    raced = []

    def query(sql, params=()):
        rows = real_query(sql, params)
        if sql.startswith("SELECT id, identity FROM response") and not raced:
            # between our look-up and our insert, another receiver commits the same response
            # (receivers share the writer lock; paycli serve's own locks are not taken here)
            with Store.open(db_url) as other:
                receive(other, config, message("T1", "k1", "approved", resend="true"))
            raced.append(True)
        return rows

    store.query = query  # type: ignore[method-assign]
    run = receive(store, config, message("T1", "k1", "approved"))
    store.query = real_query  # type: ignore[method-assign]

    assert raced and run.report.tallies["fake"].responses_new == 0
    assert [r["deliveries"] for r in store.query("SELECT deliveries FROM response")] == [2]
    messages = store.query("SELECT response_id FROM message WHERE state = 'response'")
    assert len(messages) == 2 and len({m["response_id"] for m in messages}) == 1
    assert request(store, "T1")["outcome"] == "POSITIVO"


def a_batch_not_yet_committed(db_url: str, config: Config, line: str, started: threading.Event):
    """Another writer's batch (an ingest, a receiver): ``line`` stored and its request recomputed, the
    commit held until ``started`` is set and a moment more."""
    from datetime import UTC, datetime

    from paycli import recompute
    from paycli.ingest import Messages, Tally

    with Store.open(db_url) as other, other.transaction():
        other.lock_writers()
        record = FakeGateway("fake", {}, config).reinterpret(Origin(1, line.encode()))
        recompute.refresh(
            other, Messages(other, "fake", "late.jsonl", datetime.now(UTC)).apply([record], Tally()), config
        )
        started.set()
        time.sleep(0.5)  # the other writer is under way: it reads now, before this commits


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite lets one writer in at a time: no other can race it")
def test_recompute_beside_an_ingest_writes_back_nothing_it_read_before_the_ingest_committed(
    store, config, tmp_path, db_url
):
    from paycli.recompute import Recomputed, refresh_all

    ingest(store, config, request_csv(tmp_path, [ROW]))
    lines = [message("T1", "k1", "pending", txn="g1"), message("T1", "k2", "approved", txn="g1")]
    ingest(store, config, write_messages(tmp_path, *lines))
    assert request(store, "T1")["detail"] == "progression"  # strict; lifecycle would make it POSITIVO
    (tmp_path / "lifecycle").mkdir()
    lifecycle = make_config(tmp_path / "lifecycle", "timezone: Europe/Rome\npolicy: lifecycle\n")
    started = threading.Event()
    forged = message("T1", "k2", "approved", "129.90", txn="g1", auth="invalid", copy="1")
    batch = threading.Thread(target=a_batch_not_yet_committed, args=(db_url, config, forged, started))
    batch.start()
    assert started.wait(10)
    refresh_all(store, lifecycle)  # after the policy change, while the batch is being committed
    batch.join()
    # a forged copy never makes a request POSITIVO: recompute waited, and read what the batch wrote
    assert (request(store, "T1")["outcome"], request(store, "T1")["detail"]) == (
        "VERIFICARE",
        "bad_signature",
    )
    assert refresh_all(store, lifecycle) == Recomputed(seen=1)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite lets one writer in at a time: no other can race it")
def test_a_response_an_ingest_stores_while_a_resolution_is_made_reopens_it(
    store, config, tmp_path, db_url, monkeypatch
):
    from paycli import recompute
    from paycli.recompute import Recomputed, refresh_all
    from paycli.resolutions import resolve

    ingest(store, config, request_csv(tmp_path, [ROW]))
    resolving, written = threading.Event(), threading.Event()
    real_refresh = recompute.refresh

    def refresh(store, ids, config):
        if threading.current_thread().name == "resolve":
            # the resolution is stored, its outcome not yet: an ingest's batch comes now
            resolving.set()
            written.wait(2)
        return real_refresh(store, ids, config)

    monkeypatch.setattr(recompute, "refresh", refresh)

    def resolve_in_thread() -> None:
        with Store.open(db_url) as other:
            resolve(other, config, "T1", "NEGATIVO", "refused on the back office", "anna")

    resolver = threading.Thread(target=resolve_in_thread, name="resolve")
    resolver.start()
    assert resolving.wait(10)
    a_batch_not_yet_committed(db_url, config, message("T1", "k1", "approved"), written)
    resolver.join()
    # the batch waited for the resolution: its response is newer, and reopens the request
    assert request(store, "T1")["reason"] == "NEW_RESPONSE_AFTER_RESOLUTION"
    assert refresh_all(store, config) == Recomputed(seen=1)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite lets one writer in at a time: no other can race it")
def test_a_callback_received_while_its_request_file_is_being_ingested_links_to_it(
    store, config, tmp_path, db_url
):
    real_query = store.query
    received: list[Ingest] = []

    def callback() -> None:
        with Store.open(db_url) as other:
            received.append(receive(other, config, message("T1", "k1", "approved")))

    receiver = threading.Thread(target=callback)

    def query(sql, params=()):
        rows = real_query(sql, params)
        if "FROM message WHERE request_id IS NULL" in sql and not receiver.is_alive() and not received:
            # T1 is inserted, not committed: the callback about it arrives now, at a receiver
            receiver.start()
            receiver.join(timeout=1.0)
        return rows

    store.query = query  # type: ignore[method-assign]
    ingest(store, config, request_csv(tmp_path, [ROW]))
    store.query = real_query  # type: ignore[method-assign]
    receiver.join(timeout=30)

    assert received and received[0].report.tallies["fake"].orphans == 0, "it waited for the request's batch"
    t1 = request(store, "T1")
    assert (t1["outcome"], t1["response_count"]) == ("POSITIVO", 1)
    assert store.query("SELECT COUNT(*) AS n FROM message WHERE request_id IS NULL")[0]["n"] == 0


def test_a_message_sharing_a_key_but_not_the_amount_is_a_distinct_response(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(
        store,
        config,
        write_messages(tmp_path, message("T1", "k1", "approved"), message("T1", "k1", "approved", "1.00")),
    )
    t1 = request(store, "T1")
    assert (t1["outcome"], t1["reason"], t1["response_count"]) == ("VERIFICARE", "MULTIPLE_RESPONSES", 2)


ROW2 = ROW.replace("T1,O1", "T2,O2")


def test_one_gateway_transaction_answering_two_requests_makes_both_verificare(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved", txn="g1")))
    assert request(store, "T1")["outcome"] == "POSITIVO"
    # the same transaction, now said to answer T2 too: neither can be taken as paid
    ingest(store, config, write_messages(tmp_path, message("T2", "k1", "approved", txn="g1"), name="b.jsonl"))
    for txn_id, other in (("T1", "T2"), ("T2", "T1")):
        r = request(store, txn_id)
        assert (r["outcome"], r["reason"], r["detail"]) == (
            "VERIFICARE",
            "SHARED_TRANSACTION",
            f"also answers {other}",
        )


def test_a_shared_transaction_is_flagged_whichever_request_arrives_last(store, config, tmp_path):
    ingest(
        store,
        config,
        write_messages(
            tmp_path, message("T1", "k1", "approved", txn="g1"), message("T2", "k1", "approved", txn="g1")
        ),
    )
    ingest(store, config, request_csv(tmp_path, [ROW]))
    # T2 has no request yet: its reference still names the transaction's other payment
    assert (request(store, "T1")["reason"], request(store, "T1")["detail"]) == (
        "SHARED_TRANSACTION",
        "also answers T2",
    )
    ingest(store, config, request_csv(tmp_path, [ROW2], name="later.csv"))
    assert request(store, "T2")["reason"] == "SHARED_TRANSACTION"


def test_a_copy_for_a_reference_without_a_request_flags_the_request_it_shares_with(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved", txn="g1")))
    assert request(store, "T1")["outcome"] == "POSITIVO"
    # no request T9: the copy waits as an orphan, and T1 no longer reads as paid
    ingest(store, config, write_messages(tmp_path, message("T9", "k1", "approved", txn="g1"), name="b.jsonl"))
    assert (request(store, "T1")["reason"], request(store, "T1")["detail"]) == (
        "SHARED_TRANSACTION",
        "also answers T9",
    )


def test_a_transaction_refused_for_one_attempt_and_approved_for_the_next_is_a_retry_not_shared(
    store, config, tmp_path
):
    # a Stripe PaymentIntent confirmed again after a decline, its metadata now naming the next attempt
    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    lines = [message("T1", "k1", "refused", txn="g1"), message("T2", "k1", "approved", txn="g1")]
    ingest(store, config, write_messages(tmp_path, *lines))
    assert (request(store, "T1")["outcome"], request(store, "T2")["outcome"]) == ("NEGATIVO", "POSITIVO")


def test_a_refund_of_one_request_s_transaction_said_of_another_is_shared(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    lines = [message("T1", "k1", "approved", txn="g1"), message("T2", "k2", "refunded", txn="g1")]
    ingest(store, config, write_messages(tmp_path, *lines))
    assert [request(store, t)["reason"] for t in ("T1", "T2")] == ["SHARED_TRANSACTION"] * 2


def test_reprocess_tying_an_orphan_to_a_request_s_transaction_flags_that_request(
    store, config, tmp_path, monkeypatch
):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    lines = [message("T1", "k1", "approved", txn="g1"), message("T9", "k9", "approved", txn="g2")]
    ingest(store, config, write_messages(tmp_path, *lines))
    assert request(store, "T1")["outcome"] == "POSITIVO"
    read = FakeGateway.reinterpret

    def reads_more(self, origin: Origin) -> Record:  # a provider that now reads T9's copy as of g1
        record = read(self, origin)
        return replace(record, gateway_txn_id="g1") if getattr(record, "reference", None) == "T9" else record

    monkeypatch.setattr(FakeGateway, "reinterpret", reads_more)
    run = Ingest(store, config, providers(config))
    run.reprocess(read=True)
    assert run.report.retied == 1
    # T9 has no request to lead to T1: the response's new transaction does
    assert (request(store, "T1")["reason"], request(store, "T1")["detail"]) == (
        "SHARED_TRANSACTION",
        "also answers T9",
    )


@pytest.mark.parametrize("unique", [None, "false"])
def test_a_gateway_whose_transaction_ids_payments_share_flags_no_shared_transaction(store, tmp_path, unique):
    setting = f"    txn_ids_unique: {unique}\n" if unique else ""
    config = make_config(
        tmp_path,
        "timezone: Europe/Rome\ngateways:\n  bank:\n    provider: csv\n"
        "    columns: {reference: ref, amount: amount, status: status, gateway_txn_id: batch}\n"
        "    status_map: {approved: OK}\n    currency: EUR\n" + setting,
    )
    rows = [ROW.replace(",fake", ",bank"), ROW2.replace(",fake", ",bank")]
    ingest(store, config, request_csv(tmp_path, rows))
    export = tmp_path / "export.csv"
    export.write_text("ref,amount,status,batch\nT1,129.90,OK,DIST-20261126\nT2,129.90,OK,DIST-20261126\n")
    Ingest(store, config, providers(config), gateway="bank").run([str(export)])  # type: ignore[arg-type]
    expected = "POSITIVO" if unique == "false" else "VERIFICARE"
    assert [request(store, t)["outcome"] for t in ("T1", "T2")] == [expected, expected]


@pytest.mark.parametrize("copy_first", [False, True])
def test_a_copy_keyed_by_another_id_of_the_transaction_is_shared_too(store, config, tmp_path, copy_first):
    # a PayPal capture keyed by its authorization (a1), its own txn_id (c1) kept as an alias; a copy
    # that names c1 alone, aimed at T2
    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    capture = message("T1", "k1", "approved", txn="a1", aliases=["c1"])  # type: ignore[arg-type]
    copy = message("T2", "k9", "approved", txn="c1")
    for n, line in enumerate([copy, capture] if copy_first else [capture, copy]):
        ingest(store, config, write_messages(tmp_path, line, name=f"{n}.jsonl"))
    for txn_id, other in (("T1", "T2"), ("T2", "T1")):
        r = request(store, txn_id)
        assert (r["reason"], r["detail"]) == ("SHARED_TRANSACTION", f"also answers {other}")


def every_order_of(store: Store, config: Config, files: list[Path]) -> set[str]:
    """The stores every order of these files gives, each then read again twice by ``reprocess``, which
    must change nothing."""
    stores = set()
    for order in itertools.permutations(files):
        for table in ("settlement", "message", "gateway_alias", "response", "resolution", "payment_request"):
            store.execute(f"DELETE FROM {table}")
        for path in order:
            ingest(store, config, path)
        stores.add(repr(snapshot(store)))
        for _ in range(2):
            Ingest(store, config, providers(config)).reprocess()  # type: ignore[arg-type]
            assert repr(snapshot(store)) in stores, (
                f"reprocess changed the store of {[p.name for p in order]}"
            )
    return stores


def test_copies_folded_into_one_response_file_it_under_one_transaction_whatever_their_order(store, tmp_path):
    # a bank exports operation 1 before the batch id is known, then again with it, beside another
    # request's operation of the same batch: both requests answered by one transaction, whichever came first
    config = make_config(
        tmp_path,
        "timezone: Europe/Rome\ngateways:\n  bank:\n    provider: csv\n"
        "    columns: {reference: ref, amount: amount, status: status, gateway_txn_id: batch}\n"
        "    status_map: {approved: OK}\n    currency: EUR\n    dedupe_key: [op]\n",
    )
    files = [request_csv(tmp_path, [ROW.replace(",fake", ",bank"), ROW2.replace(",fake", ",bank")])]
    for name, text in (
        ("before.csv", "op,ref,amount,status,batch\n1,T1,129.90,OK,\n"),
        ("after.csv", "op,ref,amount,status,batch\n1,T1,129.90,OK,LOT7\n2,T2,129.90,OK,LOT7\n"),
    ):
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    assert len(every_order_of(store, config, files)) == 1
    assert [request(store, t)["reason"] for t in ("T1", "T2")] == ["SHARED_TRANSACTION"] * 2
    assert {r["gateway_txn_id"] for r in store.query("SELECT gateway_txn_id FROM response")} == {"LOT7"}


def test_a_copy_naming_an_alias_of_the_transaction_is_filed_under_the_transaction(store, config, tmp_path):
    # a PayPal capture keyed by its authorization (a1, its own id c1 an alias), and a copy of it that
    # names c1 alone: one response, of a1, beside the authorization's pending
    ingest(store, config, request_csv(tmp_path, [ROW]))
    files = [
        write_messages(tmp_path, message("T1", "k0", "pending", txn="a1"), name="authorization.jsonl"),
        write_messages(
            tmp_path,
            message("T1", "k1", "approved", txn="a1", aliases=["c1"]),  # type: ignore[arg-type]
            name="capture.jsonl",
        ),
        write_messages(tmp_path, message("T1", "k1", "approved", txn="c1"), name="copy.jsonl"),
    ]
    stores = every_order_of(store, config, [tmp_path / "requests.csv", *files])
    assert len(stores) == 1
    rows = store.query("SELECT status, gateway_txn_id, deliveries FROM response ORDER BY status")
    assert [tuple(r[k] for k in ("status", "gateway_txn_id", "deliveries")) for r in rows] == [
        ("approved", "a1", 2),
        ("pending", "a1", 1),
    ]


def test_an_id_two_transactions_claim_is_kept_as_the_same_alias_whatever_came_first(store, config, tmp_path):
    files = [
        request_csv(tmp_path, [ROW, ROW2]),
        write_messages(
            tmp_path,
            message("T1", "k1", "approved", txn="a2", aliases=["c1"]),  # type: ignore[arg-type]
            name="one.jsonl",
        ),
        write_messages(
            tmp_path,
            message("T2", "k2", "approved", txn="a1", aliases=["c1"]),  # type: ignore[arg-type]
            name="other.jsonl",
        ),
    ]
    assert len(every_order_of(store, config, files)) == 1
    assert [(r["alias"], r["gateway_txn_id"]) for r in store.query("SELECT * FROM gateway_alias")] == [
        ("c1", "a1")
    ]


def test_an_alias_claimed_again_recomputes_the_requests_on_either_side(store, config, tmp_path):
    # c1 claimed by a2 (T1's capture) and then by a1 (T3's): a copy that names c1 alone (T2) shares a1
    # with T3, and T1 no longer shares with anyone, whatever came first; recompute finds nothing to change
    row3 = ROW.replace("T1,O1", "T3,O3")
    files = [request_csv(tmp_path, [ROW, ROW2, row3])]
    for name, line in (
        ("a.jsonl", message("T1", "k1", "approved", txn="a2", aliases=["c1"])),  # type: ignore[arg-type]
        ("b.jsonl", message("T2", "k2", "approved", txn="c1")),
        ("c.jsonl", message("T3", "k3", "approved", txn="a1", aliases=["c1"])),  # type: ignore[arg-type]
    ):
        files.append(write_messages(tmp_path, line, name=name))
    assert len(every_order_of(store, config, files)) == 1
    assert [request(store, t)["reason"] for t in ("T1", "T2", "T3")] == [
        None,
        "SHARED_TRANSACTION",
        "SHARED_TRANSACTION",
    ]
    assert not recompute.refresh_all(store, config).transitions


def test_a_verified_response_gives_its_reference_before_one_that_could_not_be_checked(
    store, config, tmp_path
):
    # a refund naming no reference, on a transaction a verified approval and a copy aimed at a lesser
    # reference name: it follows the verified one, whatever came first
    files = [request_csv(tmp_path, [ROW, ROW.replace("T1,O1", "S0,O0")])]
    for name, line in (
        ("genuine.jsonl", message("T1", "k1", "approved", txn="g1")),
        ("copy.jsonl", message("S0", "k1", "approved", txn="g1", auth="unverifiable")),
        (
            "refund.jsonl",
            json.dumps({"fake": 1, "key": "r1", "status": "refunded", "amount": "129.90", "txn": "g1"}),
        ),
    ):
        files.append(write_messages(tmp_path, line, name=name))
    assert len(every_order_of(store, config, files)) == 1
    [refund] = store.query("SELECT reference FROM response WHERE status = 'refunded'")
    assert refund["reference"] == "T1"


def test_copies_of_a_refund_naming_two_payments_of_its_request_file_it_under_the_least(
    store, config, tmp_path
):
    # one request paid twice (p1, p2); a refund naming no reference comes twice, once naming each payment
    files = [request_csv(tmp_path, [ROW])]
    refund = {"fake": 1, "key": "f", "status": "refunded", "amount": "129.90"}
    for name, line in (
        ("p1.jsonl", message("T1", "k1", "approved", txn="p1")),
        ("p2.jsonl", message("T1", "k2", "approved", txn="p2")),
        ("f1.jsonl", json.dumps({**refund, "txn": "p1"})),
        ("f2.jsonl", json.dumps({**refund, "txn": "p2"})),
    ):
        files.append(write_messages(tmp_path, line, name=name))
    assert len(every_order_of(store, config, files)) == 1
    [row] = store.query("SELECT gateway_txn_id, deliveries FROM response WHERE status = 'refunded'")
    assert (row["gateway_txn_id"], row["deliveries"]) == ("p1", 2)
    run = Ingest(store, config, providers(config))  # type: ignore[arg-type]
    run.reprocess(read=True)
    assert (sum(t.records for t in run.report.tallies.values()), run.report.unchanged) == (0, 4)


def test_reprocess_files_a_response_under_the_transaction_of_the_copies_that_stay(store, tmp_path):
    # two copies of one bank operation name batches B1 and B2 (filed under B1, the least); a status
    # word mapped since makes copy x a refusal: it leaves, and the approval is B2's, whatever came first
    text = (
        "timezone: Europe/Rome\ngateways:\n  bank:\n    provider: csv\n"
        "    columns: {reference: ref, amount: amount, status: status, gateway_txn_id: batch}\n"
        "    status_map: {approved: [OK, KO]}\n    currency: EUR\n    dedupe_key: [op]\n"
    )
    requests = request_csv(tmp_path, [ROW.replace(",fake", ",bank")])
    (tmp_path / "x.csv").write_text("op,ref,amount,status,batch\n1,T1,129.90,KO,B1\n")
    (tmp_path / "y.csv").write_text("op,ref,amount,status,batch,note\n1,T1,129.90,OK,B2,\n")
    stores = set()
    for order in (["x.csv", "y.csv"], ["y.csv", "x.csv"]):
        for table in ("message", "response", "payment_request"):
            store.execute(f"DELETE FROM {table}")
        config = make_config(tmp_path, text)
        ingest(store, config, requests, *(tmp_path / name for name in order))
        assert [r["gateway_txn_id"] for r in store.query("SELECT gateway_txn_id FROM response")] == ["B1"]
        config = make_config(
            tmp_path, text.replace("{approved: [OK, KO]}", "{approved: [OK], refused: [KO]}")
        )
        for _ in range(2):
            Ingest(store, config, providers(config)).reprocess(read=True)  # type: ignore[arg-type]
            stores.add(repr(snapshot(store)))
    assert len(stores) == 1, stores
    rows = store.query("SELECT status, gateway_txn_id FROM response ORDER BY status")
    assert [(r["status"], r["gateway_txn_id"]) for r in rows] == [("approved", "B2"), ("refused", "B1")]


def test_refiling_a_whole_re_export_costs_statements_a_batch_not_a_record(store, tmp_path, monkeypatch):
    config = make_config(
        tmp_path,
        "timezone: Europe/Rome\ngateways:\n  bank:\n    provider: csv\n"
        "    columns: {reference: ref, amount: amount, status: status, gateway_txn_id: batch}\n"
        "    status_map: {approved: OK}\n    currency: EUR\n    dedupe_key: [op]\n",
    )
    counts = []
    for n in (20, 200):
        for table in ("message", "response", "payment_request"):
            store.execute(f"DELETE FROM {table}")
        rows = [f"R{i},O{i},order,2026-11-26T10:15:00+01:00,C,,1.00,EUR,bank" for i in range(n)]
        ingest(store, config, request_csv(tmp_path, rows))
        # the export again, each operation now with the batch id it lacked: every copy folds, every
        # response is filed anew
        (tmp_path / "before.csv").write_text(
            "op,ref,amount,status,batch\n" + "".join(f"{i},R{i},1.00,OK,\n" for i in range(n))
        )
        (tmp_path / "after.csv").write_text(
            "op,ref,amount,status,batch\n" + "".join(f"{i},R{i},1.00,OK,L{i}\n" for i in range(n))
        )
        ingest(store, config, tmp_path / "before.csv")
        statements = []
        for name in ("query", "execute", "executemany"):
            monkeypatch.setattr(store, name, counted(getattr(Store, name).__get__(store), statements))
        ingest(store, config, tmp_path / "after.csv")
        monkeypatch.undo()
        assert {r["gateway_txn_id"] for r in store.query("SELECT gateway_txn_id FROM response")} == {
            f"L{i}" for i in range(n)
        }
        counts.append(len(statements))
    assert counts[1] <= counts[0] + 5, counts


def counted(method: Any, calls: list[str]) -> Any:
    def call(sql: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(sql)
        return method(sql, *args, **kwargs)

    return call


def a_callback(db_url: str, config: Config, line: str, hold: threading.Event | None = None) -> None:
    """What a receiver does with one callback on PostgreSQL: its own transaction, the writer lock shared,
    the callback's own advisory locks, its message applied and the requests recomputed; with ``hold``,
    the commit waits until it is set and a moment more."""
    from datetime import UTC, datetime

    from paycli import recompute
    from paycli.ingest import Messages, Tally
    from paycli.serve import _lock_keys

    with Store.open(db_url) as other, other.transaction():
        other.lock_writers(shared=True)
        record = FakeGateway("fake", {}, config).reinterpret(Origin(1, line.encode()))
        other.lock_keys(_lock_keys(record))
        touched = Messages(other, "fake", "received:1", datetime.now(UTC)).apply([record], Tally())
        recompute.refresh(other, touched, config)
        if hold is not None:
            hold.set()
            time.sleep(0.5)  # the other receiver is under way: it reads now, before this commits


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite lets one writer in at a time: no other can race it")
@pytest.mark.parametrize("first", ["copy", "own"])
def test_two_receivers_recomputing_one_request_leave_it_as_both_responses_say(
    store, config, tmp_path, db_url, first
):
    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    ingest(store, config, write_messages(tmp_path, message("T2", "k1", "approved", txn="g1")))
    # at once: a copy of T2's transaction aimed at T1, and T2's own second payment
    copy, own = message("T1", "k1", "approved", txn="g1"), message("T2", "k2", "approved", txn="g2")
    early, late = (copy, own) if first == "copy" else (own, copy)
    held = threading.Event()
    receiver = threading.Thread(target=a_callback, args=(db_url, config, early, held))
    receiver.start()
    assert held.wait(10)
    a_callback(db_url, config, late)
    receiver.join()
    # the later receiver waited for T2's lock and read the earlier one's response
    r = request(store, "T2")
    assert (r["outcome"], r["reason"], r["detail"], r["response_count"]) == (
        "VERIFICARE",
        "SHARED_TRANSACTION",
        "also answers T1",
        2,
    )
    assert request(store, "T1")["reason"] == "SHARED_TRANSACTION"


def test_a_forged_copy_aimed_at_another_request_flags_nothing_but_itself(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    ingest(
        store,
        config,
        write_messages(
            tmp_path,
            message("T1", "k1", "approved", txn="g1"),
            message("T2", "k1", "approved", txn="g1", auth="invalid"),
        ),
    )
    assert request(store, "T1")["outcome"] == "POSITIVO"
    assert request(store, "T2")["reason"] == "BAD_SIGNATURE"


def test_recompute_finds_a_shared_transaction_stored_before(store, config, tmp_path):
    from paycli.recompute import refresh_all

    ingest(store, config, request_csv(tmp_path, [ROW, ROW2]))
    ingest(
        store,
        config,
        write_messages(
            tmp_path, message("T1", "k1", "approved", txn="g1"), message("T2", "k2", "approved", txn="g1")
        ),
    )
    with store.transaction():  # as a paycli before the rule looked across requests left them
        store.execute("UPDATE payment_request SET outcome = 'POSITIVO', reason = NULL, detail = NULL")
    done = refresh_all(store, config)
    assert (done.seen, dict(done.transitions)) == (2, {("POSITIVO", "VERIFICARE/SHARED_TRANSACTION"): 2})


def test_recompute_counts_a_change_of_which_kind_of_multiple_responses(store, config, tmp_path):
    from paycli.recompute import Recomputed, refresh_all

    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(
        store,
        config,
        write_messages(tmp_path, message("T1", "k1", "pending"), message("T1", "k2", "approved")),
    )
    assert request(store, "T1")["detail"] == "progression"
    with store.transaction():  # as a paycli whose rule told them apart otherwise left it
        store.execute("UPDATE payment_request SET detail = 'conflicting'")
    done = refresh_all(store, config)
    assert (done.seen, dict(done.transitions), done.corrected) == (
        1,
        {("VERIFICARE/MULTIPLE_RESPONSES (conflicting)", "VERIFICARE/MULTIPLE_RESPONSES (progression)"): 1},
        0,
    )
    assert refresh_all(store, config) == Recomputed(seen=1)


def test_informational_messages_join_the_trail_without_counting(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(store, config, write_messages(tmp_path, '{"fake": 1, "ref": "T1", "info": "created"}'))
    t1 = request(store, "T1")
    assert (t1["reason"], t1["response_count"]) == ("NO_RESPONSE", 0)
    assert store.query("SELECT state FROM message")[0]["state"] == "informational"


def test_a_response_that_arrives_after_a_resolution_reopens_the_request(store, config, tmp_path):
    from paycli.resolutions import resolve

    ingest(store, config, request_csv(tmp_path, [ROW]))
    resolve(store, config, "T1", "NEGATIVO", "refused on the back office", "anna")
    assert request(store, "T1")["reason"] == "RESOLVED"
    ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved")))
    assert request(store, "T1")["reason"] == "NEW_RESPONSE_AFTER_RESOLUTION"


# -- operator comfort ---------------------------------------------------------------------------
def test_dry_run_changes_nothing(store, config, tmp_path):
    run = ingest(store, config, request_csv(tmp_path, [ROW]), dry_run=True)
    assert run.report.tallies["requests"].requests_new == 1
    assert table_counts(store)["payment_request"] == 0


def test_archive_moves_what_was_read_and_keeps_what_was_refused(store, config, tmp_path):
    good = request_csv(tmp_path, [ROW])
    bad = request_csv(
        tmp_path, ["T9,O9,order,x,y"], name="bad.csv", header="txn_id,order_id,kind,created_at,customer\n"
    )
    archive = tmp_path / "archive"
    ingest(store, config, good, bad, archive=archive)
    assert not good.exists() and (archive / "requests.csv").exists()
    assert bad.exists()
    second = request_csv(tmp_path, [ROW])
    ingest(store, config, second, archive=archive)
    assert (archive / "requests.1.csv").exists()  # never overwrites


def test_folders_and_globs_are_expanded_and_a_missing_path_is_refused(store, config, tmp_path):
    folder = tmp_path / "in" / "deep"
    folder.mkdir(parents=True)
    request_csv(folder, [ROW])
    request_csv(tmp_path / "in", ["T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,nexi"], name="b.csv")
    run = ingest(store, config, tmp_path / "in", str(tmp_path / "nothing-*.csv"), tmp_path / "missing.csv")
    assert table_counts(store)["payment_request"] == 2
    # a glob over an empty inbox is said, as an empty folder is; a path that is not there is refused
    assert f"{tmp_path / 'nothing-*.csv'}: no file matches, nothing to ingest" in run.said
    assert [reason for _, reason in run.report.refused] == ["no such file or folder"]


def test_what_a_folder_holds_that_is_not_a_file_is_refused_and_the_rest_goes_on(store, config, tmp_path):
    folder = tmp_path / "in"
    (folder / "deep").mkdir(parents=True)
    request_csv(folder, [ROW])
    request_csv(folder / "deep", ["T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,nexi"], name="b.csv")
    os.mkfifo(folder / "pipe")  # read, it would block the run for ever
    (folder / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    (folder / "empty.csv").write_text("")
    run = ingest(store, config, folder, folder / "pipe")
    assert table_counts(store)["payment_request"] == 2
    assert sorted(run.report.refused) == [
        (str(folder / "gone.csv"), "a broken symbolic link"),
        (str(folder / "pipe"), "not a regular file (a pipe, socket or device)"),
        (
            str(folder / "pipe"),
            "not a regular file (a pipe, socket or device): give - to read standard input",
        ),
    ]
    assert f"{folder / 'empty.csv'}: empty file, nothing to ingest" in run.said  # said, not refused


def test_a_folder_that_cannot_be_listed_is_refused_and_the_rest_goes_on(store, config, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    request_csv(folder, [ROW])
    scandir = os.scandir

    def denied(path):  # root reads any folder: a folder it may not list, as another user meets one
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    run = ingest(store, config, folder)
    assert run.report.refused == [(str(folder / "locked"), "cannot be read (Permission denied)")]
    assert table_counts(store)["payment_request"] == 1


def test_a_sidecar_named_with_its_body_goes_with_it_and_alone_is_refused(store, config, tmp_path):
    first = write_messages(tmp_path, message("T1", "k1", "approved"), name="a.jsonl")
    Path(f"{first}.headers").write_text("Content-Type: application/json\n")
    lonely = tmp_path / "b.jsonl.headers"
    lonely.write_text("Content-Type: application/json\n")
    run = ingest(store, config, first, f"{first}.headers", lonely)  # what a shell makes of in/*
    assert run.report.refused == [(str(lonely), "a .headers sidecar without the file it goes with")]
    assert run.report.files == 1
    # so in a folder: the sidecar of a file that is not there is said, not passed over
    run = ingest(store, config, tmp_path)
    assert (str(lonely), "a .headers sidecar without the file it goes with") in run.report.refused


def test_a_sidecar_named_alone_beside_its_file_is_refused_not_passed_over(store, config, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = write_messages(inbox, message("T1", "k1", "approved"), name="a.jsonl")
    sidecar = Path(f"{first}.headers")
    sidecar.write_text("Content-Type: application/json\n")
    run = ingest(store, config, sidecar)  # the file not named: it would never be read, exit 0
    assert run.report.refused == [(str(sidecar), f"a .headers sidecar: name its file {first}, read with it")]
    assert table_counts(store)["message"] == 0
    for inputs in ([sidecar, inbox], [sidecar, inbox / "*.jsonl"]):  # named by its folder, a glob
        run = ingest(store, config, *inputs)
        assert run.report.refused == [] and run.report.files == 1
    hidden = write_messages(inbox, message("T2", "k2", "approved"), name=".b.jsonl")
    Path(f"{hidden}.headers").write_text("Content-Type: application/json\n")
    run = ingest(store, config, f"{hidden}.headers", inbox)  # the walk skips hidden files: not read
    assert [reason for _, reason in run.report.refused] == [
        f"a .headers sidecar: name its file {hidden}, read with it"
    ]


def test_a_shell_s_in_star_of_many_files_and_sidecars_resolves_its_inputs_once(
    store, config, tmp_path, monkeypatch
):
    # in/* names every file and its sidecar: each sidecar looked for among all the inputs, resolved
    # again each time, made 1,000 callbacks take 26 s instead of 2 (4,000: ten minutes)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = []
    for n in range(60):
        body = write_messages(inbox, message(f"T{n}", f"k{n}", "approved"), name=f"{n:03d}.jsonl")
        Path(f"{body}.headers").write_text("Content-Type: application/json\n")
        names += [str(body), f"{body}.headers"]
    calls = 0
    resolve = Path.resolve

    def counted(self: Path, strict: bool = False) -> Path:
        nonlocal calls
        calls += 1
        return resolve(self, strict)

    monkeypatch.setattr(Path, "resolve", counted)
    run = ingest(store, config, *names)
    assert run.report.refused == [] and run.report.files == 60
    assert calls < 10 * len(names), calls  # a few per input, not one per input per sidecar (7,200)


def test_a_sidecar_line_that_is_no_header_is_said_and_the_rest_read(store, config, tmp_path):
    first = write_messages(tmp_path, message("T1", "k1", "approved"), name="a.jsonl")
    sidecar = Path(f"{first}.headers")
    sidecar.write_text("POST /cb HTTP/1.1\nContent-Type: application/json\n\nStripe-Signature t=1,v1=ab\n")
    run = ingest(store, config, first)
    said = run.said  # type: ignore[attr-defined]
    assert said == [f"{sidecar}: line 1 (and 1 more) is not 'Name: value', ignored"]
    assert run.report.ok and table_counts(store)["response"] == 1
    sidecar.write_text("Content-Type: application/json\n\n")  # a blank line is no problem
    assert ingest(store, config, first).said == []  # type: ignore[attr-defined]


def test_a_sidecar_that_cannot_be_read_refuses_its_body_only(store, config, tmp_path, monkeypatch):
    first = write_messages(tmp_path, message("T1", "k1", "approved"), name="a.jsonl")
    second = write_messages(tmp_path, message("T2", "k2", "approved"), name="b.jsonl")
    Path(f"{first}.headers").write_text("Content-Type: application/json\n")
    path_open = Path.open

    def denied(self, *args, **kwargs):
        if self.name.endswith(".headers"):
            raise PermissionError(13, "Permission denied")
        return path_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    run = ingest(store, config, first, second)
    assert run.report.refused == [
        (str(first), "its sidecar a.jsonl.headers cannot be read (Permission denied)")
    ]
    assert [r["reference"] for r in store.query("SELECT reference FROM response")] == ["T2"]


def test_a_sidecar_larger_than_any_headers_refuses_its_body_unread(store, config, tmp_path):
    first = write_messages(tmp_path, message("T1", "k1", "approved"), name="a.jsonl")
    second = write_messages(tmp_path, message("T2", "k2", "approved"), name="b.jsonl")
    Path(f"{first}.headers").write_bytes(b"X-Padding: " + b"x" * (3 << 20) + b"\n")
    run = ingest(store, config, first, second)
    assert run.report.refused == [
        (
            str(first),
            "its sidecar a.jsonl.headers is larger than 64 KiB: not the HTTP headers of a callback, which "
            "are a few lines",
        )
    ]
    assert [r["reference"] for r in store.query("SELECT reference FROM response")] == ["T2"]


def test_a_line_longer_than_any_record_is_cut_quarantined_and_the_rest_goes_on(store, config, tmp_path):
    from paycli.gateways.lines import LINE_LIMIT

    huge = "H1,O1,order,2026-11-26T10:15:00Z," + "x" * (3 * LINE_LIMIT) + ",,1.00,EUR,nexi"
    path = request_csv(tmp_path, [ROW, huge, "T3,O3,order,2026-11-26T10:15:00Z,C,,3.00,EUR,nexi"])
    ingest(store, config, path)
    [(line, error)] = quarantined(store)
    assert (line, error) == (
        3,
        f"not a CSV record (line 3 is {len(huge) + 1:,} bytes, longer than a record can be (1 MiB): its "
        "first MiB kept)",
    )
    # never held whole: the store keeps its first MiB
    raw = store.query("SELECT raw FROM message WHERE state = 'quarantined'")[0]["raw"]
    assert bytes(raw) == huge.encode()[:LINE_LIMIT]
    assert {r["txn_id"] for r in store.query("SELECT txn_id FROM payment_request")} == {"T1", "T3"}
    # in a JSON lines file too
    lines = [
        json.dumps({"txn_id": "J1", "customer": "A"}),
        json.dumps({"txn_id": "J2", "customer": "x" * (2 * LINE_LIMIT)}),
    ]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    run = ingest(store, config, jsonl)
    assert run.report.refused == []
    assert [why for line, why in quarantined(store) if line == 2] == [
        f"line 2 is {len(lines[1]) + 1:,} bytes, longer than a record can be (1 MiB): its first MiB kept"
    ]


def test_an_input_named_twice_is_archived_once(store, config, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = request_csv(folder, [ROW])
    run = ingest(store, config, folder, str(folder / "*.csv"), archive=tmp_path / "done")
    assert run.report.ok and not good.exists()
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["requests.csv"]


def moving(monkeypatch, refusal: Callable[[str, Path, Path], OSError | None]) -> None:
    """``os.link`` and ``os.rename`` (the two ways an archived file moves) raise what ``refusal`` says
    for the call's name, its source and its target, or do their work when it says None."""
    for name in ("link", "rename"):
        real = getattr(os, name)

        def move(source, target, *args, name=name, real=real, **kwargs):
            refused = refusal(name, Path(source), Path(target))
            if refused is not None:
                raise refused
            return real(source, target, *args, **kwargs)

        monkeypatch.setattr(os, name, move)


def test_a_file_that_cannot_be_archived_is_said_and_its_records_kept(store, config, tmp_path, monkeypatch):
    good = request_csv(tmp_path, [ROW])
    moving(monkeypatch, lambda call, source, target: PermissionError(13, "Permission denied"))
    run = ingest(store, config, good, archive=tmp_path / "done")
    assert run.report.unarchived == [
        (str(good), "ingested, but not archived (Permission denied): it stays where it was")
    ]
    assert not run.report.ok and good.exists() and table_counts(store)["payment_request"] == 1


def keeping_its_files(monkeypatch, folder: Path, *, other_disk: bool = False) -> None:
    """``folder`` as one its files cannot leave (a folder the user may not write, ``chmod 555``), as
    root meets one, who may write any folder; ``other_disk``: the archive on another file system."""
    unlink = os.unlink

    def refusal(call: str, source: Path, target: Path) -> OSError | None:
        if other_disk:
            return OSError(18, "Invalid cross-device link")
        # a link needs to write the target's folder only; a rename both folders
        if folder == target.parent or (call == "rename" and folder == source.parent):
            return PermissionError(13, "Permission denied")
        return None

    def unlinking(path, *args, **kwargs):
        if Path(path).parent == folder:
            raise PermissionError(13, "Permission denied")
        return unlink(path, *args, **kwargs)

    moving(monkeypatch, refusal)
    monkeypatch.setattr(os, "unlink", unlinking)


@pytest.mark.parametrize("other_disk", [False, True], ids=["same file system", "another file system"])
def test_a_file_its_folder_keeps_leaves_no_copy_in_the_archive(
    store, config, tmp_path, monkeypatch, other_disk
):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = write_messages(inbox, message("T1", "k1", "approved"), name="a1.jsonl")
    Path(f"{good}.headers").write_text("Content-Type: application/json\n")
    keeping_its_files(monkeypatch, inbox, other_disk=other_disk)
    for _ in range(2):  # each run said it stays where it was, and left one more copy behind
        run = ingest(store, config, inbox, archive=done)
        assert run.report.unarchived == [
            (str(good), "ingested, but not archived (Permission denied): it stays where it was")
        ]
        assert run.report.archived == [] and list(done.iterdir()) == []
    assert sorted(p.name for p in inbox.iterdir()) == ["a1.jsonl", "a1.jsonl.headers"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder: the test above stands in")
def test_a_file_in_a_folder_the_user_may_not_write_leaves_no_copy_in_the_archive(store, config, tmp_path):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = request_csv(inbox, [ROW])
    inbox.chmod(0o555)
    try:
        for _ in range(2):
            run = ingest(store, config, inbox, archive=done)
            assert [path for path, _ in run.report.unarchived] == [str(good)]
            assert list(done.iterdir()) == []
    finally:
        inbox.chmod(0o755)


def test_a_file_on_another_file_system_is_archived_by_a_copy_and_its_original_removed(
    store, config, tmp_path, monkeypatch
):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = write_messages(inbox, message("T1", "k1", "approved"), name="a1.jsonl")
    Path(f"{good}.headers").write_text("Content-Type: application/json\n")
    body = good.read_bytes()

    moving(monkeypatch, lambda call, source, target: OSError(18, "Invalid cross-device link"))
    run = ingest(store, config, inbox, archive=done)
    assert run.report.ok and run.report.archived == [(str(good), str(done / "a1.jsonl"))]
    assert list(inbox.iterdir()) == [] and (done / "a1.jsonl").read_bytes() == body
    assert (done / "a1.jsonl.headers").read_text() == "Content-Type: application/json\n"


def test_a_file_whose_sidecar_cannot_follow_it_stays_with_it(store, config, tmp_path, monkeypatch):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = write_messages(inbox, message("T1", "k1", "approved"), name="a1.jsonl")
    Path(f"{good}.headers").write_text("Content-Type: application/json\n")
    back: list[bool] = [True]  # whether the file can be put back beside its sidecar

    def refusal(call: str, source: Path, target: Path) -> OSError | None:
        if source.name.endswith(".headers") or (source.parent == done and not back[0]):
            return PermissionError(13, "Permission denied")
        return None

    moving(monkeypatch, refusal)
    run = ingest(store, config, inbox, archive=done)
    assert run.report.unarchived == [
        (str(good), "ingested, but not archived (Permission denied): it stays where it was")
    ]
    assert sorted(p.name for p in inbox.iterdir()) == ["a1.jsonl", "a1.jsonl.headers"]
    assert list(done.iterdir()) == []
    # a file that cannot be put back either says where it is
    back[0] = False
    run = ingest(store, config, inbox, archive=done)
    assert run.report.unarchived == [
        (
            str(good),
            f"ingested and moved to {done / 'a1.jsonl'}, but its sidecar a1.jsonl.headers was not "
            "(Permission denied): it stays where it was",
        )
    ]
    assert [p.name for p in inbox.iterdir()] == ["a1.jsonl.headers"] and (done / "a1.jsonl").exists()


def test_an_archive_folder_inside_the_input_folder_is_not_read_again(store, config, tmp_path):
    inbox = tmp_path / "in"
    done = inbox / "b" / "done"  # met in the walk after a file was moved into it
    (inbox / "a").mkdir(parents=True)
    one_by_one = replace(config, batch_size=1)  # each file moved before the walk goes on
    for n in range(3):
        write_messages(inbox, message(f"T{n}", f"k{n}", "approved"), name="x.jsonl")
        write_messages(inbox / "a", message(f"A{n}", f"a{n}", "approved"), name=f"a{n}.jsonl")
        run = ingest(store, one_by_one, inbox, archive=done)
        assert run.report.ok and run.report.files == 2  # the new ones only
    assert sorted(p.name for p in done.iterdir()) == [
        "a0.jsonl",
        "a1.jsonl",
        "a2.jsonl",
        "x.1.jsonl",
        "x.2.jsonl",
        "x.jsonl",
    ]
    # a file in it that is named, or matched by a glob, is read and left there
    run = ingest(store, config, done / "x.jsonl", str(done / "a*.jsonl"), archive=done)
    assert run.report.ok and run.report.files == 4 and run.report.archived == []
    assert len(list(done.iterdir())) == 6
    # the archive folder itself is no input
    run = ingest(store, config, done, archive=done)
    assert run.report.refused == [(str(done), "is the --archive folder: what is archived is not read again")]


def test_a_name_too_long_for_a_sidecar_is_read_without_one_and_the_rest_goes_on(store, config, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    long = request_csv(folder, [ROW], name="z" * 250 + ".csv")  # 254 bytes: no room for ".headers"
    request_csv(folder, ["T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,nexi"], name="b.csv")
    for given in (folder, long):
        run = ingest(store, config, given)
        assert run.report.ok and run.report.files == 2 - (given == long)
    assert table_counts(store)["payment_request"] == 2


def test_an_input_name_too_long_for_the_file_system_is_refused_and_the_rest_goes_on(store, config, tmp_path):
    good = request_csv(tmp_path, [ROW])
    too_long = str(tmp_path / ("y" * 300))
    run = ingest(store, config, too_long, good)
    assert run.report.refused == [(too_long, "cannot be read (File name too long)")]
    assert table_counts(store)["payment_request"] == 1


def test_a_long_name_is_archived_under_a_shorter_free_one(store, config, tmp_path):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    long_name, with_sidecar = "z" * 250 + ".csv", "w" * 241 + ".jsonl"  # 254 and 247 bytes
    for n in range(3):  # the same names again and again: each archived beside the last
        request_csv(inbox, [ROW], name=long_name)
        body = write_messages(inbox, message("T1", "k1", "approved"), name=with_sidecar)
        Path(f"{body}.headers").write_text(f"X-Run: {n}\n")
        run = ingest(store, config, inbox, archive=done)
        assert run.report.ok and list(inbox.iterdir()) == [], run.report.unarchived
    names = {p.name for p in done.iterdir()}
    assert len(names) == 9 and max(len(name.encode()) for name in names) <= 255
    assert {name for name in names if name.startswith("z")} == {
        long_name,
        "z" * 249 + ".1.csv",
        "z" * 249 + ".2.csv",
    }
    # each sidecar beside its own file
    bodies = {name for name in names if name.startswith("w") and not name.endswith(".headers")}
    assert bodies == {with_sidecar, "w" * 239 + ".1.jsonl", "w" * 239 + ".2.jsonl"}
    runs = {(done / f"{b}.headers").read_text() for b in bodies}
    assert runs == {"X-Run: 0\n", "X-Run: 1\n", "X-Run: 2\n"}


def test_values_past_their_columns_a_long_wording_cut_a_long_id_quarantined(store, config, tmp_path):
    # PostgreSQL refuses a value longer than its column, and the whole batch with it; SQLite takes it
    ingest(store, config, request_csv(tmp_path, [ROW]))
    lines = [
        message("T1", "k1", "approved", raw="Autorizzazione concessa " * 4),  # the gateway's words: cut
        message("T1", "k2", "approved", txn="G" * 129),  # an id: no other one would be the same
    ]
    run = ingest(store, config, write_messages(tmp_path, *lines))
    [response] = store.query("SELECT raw_status FROM response")
    assert response["raw_status"] == ("Autorizzazione concessa " * 4)[:64]
    assert [reason for _, reason in quarantined(store)] == [
        "its gateway txn id is longer than 128 characters: no store column takes it"
    ]
    assert run.report.tallies["fake"].quarantined == 1


def test_a_name_another_ingest_takes_after_the_look_is_never_written_over(
    store, config, tmp_path, monkeypatch
):
    import paycli.ingest

    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = request_csv(inbox, [ROW])
    free_name = paycli.ingest._free_name

    def racing(target: Path, **kwargs: bool) -> Path:
        found = free_name(target, **kwargs)
        if not found.exists() and found.name == good.name:  # another ingest archives its own first
            found.write_text("the other ingest's file\n")
        return found

    monkeypatch.setattr(paycli.ingest, "_free_name", racing)
    run = ingest(store, config, inbox, archive=done)
    assert run.report.ok and run.report.archived == [(str(good), str(done / "requests.1.csv"))]
    assert (done / "requests.csv").read_text() == "the other ingest's file\n"
    assert ROW in (done / "requests.1.csv").read_text() and list(inbox.iterdir()) == []
    # or the name of the sidecar, once its file is moved: both go under the next free name
    body = write_messages(inbox, message("T1", "k1", "approved"), name="a1.jsonl")
    Path(f"{body}.headers").write_text("X-Run: 1\n")
    move = paycli.ingest._move

    def sidecar_racing(source: Path, target: Path) -> None:
        if target.name == "a1.jsonl.headers":
            target.write_text("X-Run: other\n")
        move(source, target)

    monkeypatch.setattr(paycli.ingest, "_move", sidecar_racing)
    run = ingest(store, config, inbox, archive=done)
    assert run.report.ok and run.report.archived == [(str(body), str(done / "a1.1.jsonl"))]
    assert (done / "a1.jsonl.headers").read_text() == "X-Run: other\n" and not (done / "a1.jsonl").exists()
    assert (done / "a1.1.jsonl.headers").read_text() == "X-Run: 1\n" and list(inbox.iterdir()) == []


# -- two runs over one inbox (a cron ingest that overlaps itself) --------------------------------
def test_a_listed_file_another_run_took_before_it_was_read_is_no_error_but_a_named_one_is(
    store, config, tmp_path, monkeypatch
):
    inbox, elsewhere = tmp_path / "in", tmp_path / "other-run"
    inbox.mkdir()
    elsewhere.mkdir()
    taken = request_csv(inbox, [ROW], name="a.csv")
    request_csv(inbox, ["T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,nexi"], name="b.csv")
    from_path = Source.from_path.__func__  # type: ignore[attr-defined]

    def other_run_first(cls, path: Path) -> Source:
        if path.name == "a.csv" and path.exists():
            path.rename(
                elsewhere / path.name
            )  # listed here, archived by the other run before this one reads it
        return from_path(cls, path)

    monkeypatch.setattr(Source, "from_path", classmethod(other_run_first))
    run = ingest(store, config, inbox)
    assert run.report.ok and run.report.taken == [str(taken)] and run.said == []
    assert [r["txn_id"] for r in store.query("SELECT txn_id FROM payment_request")] == ["T2"]
    # a file named itself that is not there when it is read is an error, as one never there
    (elsewhere / "a.csv").rename(taken)
    run = ingest(store, config, taken)
    assert run.report.refused == [(str(taken), "cannot be read (No such file or directory)")]
    assert run.report.taken == [] and not run.report.ok


def test_a_listed_file_another_run_took_while_it_was_read_is_no_error_nor_read_without_its_sidecar(
    store, config, tmp_path, monkeypatch
):
    inbox, elsewhere = tmp_path / "in", tmp_path / "other-run"
    inbox.mkdir()
    elsewhere.mkdir()
    requests = request_csv(inbox, [ROW], name="b.csv")
    body = write_messages(inbox, message("T1", "k1", "approved"), name="a.jsonl")
    Path(f"{body}.headers").write_text("X-Signature: abc\n")
    from_path, open_ = Source.from_path.__func__, Source.open  # type: ignore[attr-defined]

    def head_read_then_taken(cls, path: Path) -> Source:
        source = from_path(cls, path)
        if path == body:  # the other run moves the file, then its sidecar, before this one looks for it
            for name in (body.name, f"{body.name}.headers"):
                (inbox / name).rename(elsewhere / name)
        return source

    def taken_before_opened(self: Source) -> object:
        if self.path == requests and requests.exists():
            requests.rename(elsewhere / requests.name)
        return open_(self)

    monkeypatch.setattr(Source, "from_path", classmethod(head_read_then_taken))
    monkeypatch.setattr(Source, "open", taken_before_opened)
    run = ingest(store, config, inbox)
    assert run.report.ok and sorted(run.report.taken) == [str(body), str(requests)] and run.said == []
    assert table_counts(store)["message"] == 0 and table_counts(store)["payment_request"] == 0


def test_a_sidecar_listed_as_another_run_moved_its_file_then_it_is_no_error(
    store, config, tmp_path, monkeypatch
):
    inbox, elsewhere = tmp_path / "in", tmp_path / "other-run"
    inbox.mkdir()
    elsewhere.mkdir()
    request_csv(inbox, [ROW], name="a.csv")
    # listed between the other run's move of b.jsonl and the move of its sidecar
    (inbox / "b.jsonl.headers").write_text("X-Signature: abc\n")
    from_path = Source.from_path.__func__  # type: ignore[attr-defined]

    def sidecar_follows(cls, path: Path) -> Source:
        if (inbox / "b.jsonl.headers").exists():
            (inbox / "b.jsonl.headers").rename(elsewhere / "b.jsonl.headers")
        return from_path(cls, path)

    monkeypatch.setattr(Source, "from_path", classmethod(sidecar_follows))
    run = ingest(store, config, inbox)
    assert run.report.ok and run.said == [] and table_counts(store)["payment_request"] == 1


def test_a_file_another_run_archived_after_both_read_it_is_no_error_and_archived_once(
    store, config, tmp_path, monkeypatch
):
    import paycli.ingest

    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    first = request_csv(inbox, [ROW], name="a.csv")
    second = request_csv(inbox, ["T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,nexi"], name="b.csv")
    free_name, unlink = paycli.ingest._free_name, os.unlink

    def archived_before_the_look(target: Path, **kwargs: bool) -> Path:
        if target.name == first.name and first.exists():
            first.rename(done / first.name)  # the other run, which read it too, archived it first
        return free_name(target, **kwargs)

    def unlinked_by_the_other_first(path, *args, **kwargs):
        if Path(path) == second and second.exists() and (done / second.name).exists():
            # both linked it into the archive; the other run removes it from the inbox first
            os.link(second, done / "b.1.csv")
            unlink(second)
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(paycli.ingest, "_free_name", archived_before_the_look)
    monkeypatch.setattr(os, "unlink", unlinked_by_the_other_first)
    run = ingest(store, config, inbox, archive=done)
    assert run.report.ok and run.report.unarchived == [] and run.report.archived == [] and run.said == []
    assert run.report.taken == [str(first), str(second)]
    # each once, as the other run archived it; both stored
    assert sorted(p.name for p in done.iterdir()) == ["a.csv", "b.1.csv"] and list(inbox.iterdir()) == []
    assert table_counts(store)["payment_request"] == 2


def test_a_name_that_is_never_free_ends_the_tries_with_the_file_where_it_was(
    store, config, tmp_path, monkeypatch
):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = request_csv(inbox, [ROW])
    moving(monkeypatch, lambda call, source, target: FileExistsError(17, "File exists"))
    run = ingest(store, config, inbox, archive=done)
    assert run.report.unarchived == [
        (str(good), "ingested, but not archived (File exists): it stays where it was")
    ]
    assert good.exists() and list(done.iterdir()) == []


def test_a_file_system_without_links_archives_by_a_rename(store, config, tmp_path, monkeypatch):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    good = request_csv(inbox, [ROW])
    done.mkdir()
    (done / "requests.csv").write_text("archived by an earlier run\n")
    moving(
        monkeypatch,
        lambda call, source, target: OSError(1, "Operation not permitted") if call == "link" else None,
    )
    run = ingest(store, config, inbox, archive=done)
    assert run.report.ok and run.report.archived == [(str(good), str(done / "requests.1.csv"))]
    assert (done / "requests.csv").read_text() == "archived by an earlier run\n"
    assert list(inbox.iterdir()) == []


def test_reprocess_reads_a_quarantined_record_again(store, config, tmp_path):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    ingest(store, config, request_csv(tmp_path, [ROW.replace("129.90", "12.99")], name="changed.csv"))
    assert len(quarantined(store)) == 1
    # the shop confirms the new amount from another file (the same instant, written in UTC): the stored
    # request is updated, and the quarantined record, another line, now agrees
    fixed = ROW.replace("129.90", "12.99").replace("2026-11-26T10:15:00+01:00", "2026-11-26T09:15:00Z")
    ingest(store, config, request_csv(tmp_path, [fixed], name="fix.csv"), update=True)
    assert len(quarantined(store)) == 1
    run = Ingest(store, config, providers(config))
    tallies = run.reprocess()
    assert tallies["requests"].quarantined == 0
    assert quarantined(store) == []
    assert store.query("SELECT state FROM message")[0]["state"] == "request"


def test_reprocess_all_rewords_a_response_as_an_ingest_of_its_messages_would_today(
    store, config, tmp_path, monkeypatch
):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    lines = [message("T1", "k1", "refused", raw=word) for word in ("b", "c")]
    ingest(store, config, write_messages(tmp_path, *lines))
    assert store.query("SELECT raw_status FROM response")[0]["raw_status"] == "b"  # the least wording

    def reread(words: dict[bytes, bytes]) -> IngestReport:
        original = FakeGateway.reinterpret

        def reinterpret(self, origin):
            raw = origin.raw
            for old, new in words.items():
                raw = raw.replace(old, new)
            return original(self, replace(origin, raw=raw))

        monkeypatch.setattr(FakeGateway, "reinterpret", reinterpret)
        run = Ingest(store, config, providers(config))
        run.reprocess(read=True)
        return run.report

    # one message now says more, the other as before: the least of the two still stands
    assert reread({b'"raw": "c"': b'"raw": "d"'}).reworded == 0
    assert store.query("SELECT raw_status FROM response")[0]["raw_status"] == "b"
    # both say more: the response and the refusal's detail take the least of what they now say
    report = reread({b'"raw": "b"': b'"raw": "b (why)"', b'"raw": "c"': b'"raw": "c (why)"'})
    assert report.reworded == 1 and report.unchanged == 2
    assert store.query("SELECT raw_status FROM response")[0]["raw_status"] == "b (why)"
    assert (request(store, "T1")["outcome"], request(store, "T1")["detail"]) == ("NEGATIVO", "b (why)")


def test_reprocess_leaves_what_still_cannot_be_read(store, config, tmp_path):
    ingest(store, config, write_messages(tmp_path, '{"fake": 1, "ref": "T1", "key": "k", "status": "maybe"}'))
    tallies = Ingest(store, config, providers(config)).reprocess()
    assert tallies["fake"].quarantined == 1
    assert len(quarantined(store)) == 1


def another_run_first(monkeypatch, act: Callable[[], None]) -> None:
    """Run ``act`` (another command, in another connection) once, after this reprocess has read its
    page of messages and before it applies the first of them: the window a reprocess reads outside
    its transactions."""
    real = Ingest._reprocess_one
    done: list[bool] = []

    def reprocess_one(self, row, *args):
        if not done:
            done.append(True)
            act()
        return real(self, row, *args)

    monkeypatch.setattr(Ingest, "_reprocess_one", reprocess_one)


def test_a_message_dismissed_while_reprocess_runs_stays_dismissed_with_its_note(
    store, config, tmp_path, db_url, monkeypatch
):
    from paycli.resolutions import dismiss

    second = ROW.replace("T1,O1", "T2,O2")
    ingest(store, config, request_csv(tmp_path, [ROW, second]))
    changed = [r.replace("129.90", "12.99") for r in (ROW, second)]
    ingest(store, config, request_csv(tmp_path, changed, name="changed.csv"))
    # the shop confirms the new amounts: both quarantined lines now agree, and reprocess would read them
    fixed = [r.replace("2026-11-26T10:15:00+01:00", "2026-11-26T09:15:00Z") for r in changed]
    ingest(store, config, request_csv(tmp_path, fixed, name="fix.csv"), update=True)
    [last] = [r["id"] for r in store.query("SELECT id FROM message WHERE state = 'quarantined' ORDER BY id")][
        1:
    ]

    def dismissal() -> None:
        with Store.open(db_url) as other:
            assert dismiss(other, [last], "line fixed elsewhere", "anna") == 1

    another_run_first(monkeypatch, dismissal)
    run = Ingest(store, config, providers(config))  # type: ignore[arg-type]
    tallies = run.reprocess()
    # the first read well and was stored anew (as a request's line, beside the two lines of fix.csv that
    # --update keeps in the trails); the other, dismissed, stays so
    states = store.query("SELECT state, COUNT(*) AS n FROM message GROUP BY state ORDER BY state")
    assert [(r["state"], r["n"]) for r in states] == [("dismissed", 1), ("request", 3)]
    [kept] = store.query("SELECT state, note FROM message WHERE id = :id", {"id": last})
    assert kept["state"] == "dismissed" and "dismissed by anna" in kept["note"]
    assert (tallies["requests"].records, tallies["requests"].quarantined, run.report.elsewhere) == (1, 0, 1)


def test_reprocess_all_beside_another_that_read_the_messages_first_skips_what_that_one_did(
    store, config, tmp_path, db_url, monkeypatch
):
    ingest(store, config, request_csv(tmp_path, [ROW, ROW.replace("T1,O1", "T2,O2")]))
    ingest(
        store,
        config,
        write_messages(
            tmp_path, message("T1", "k1", "refused", txn="g1"), message("T2", "k2", "refused", txn="g2")
        ),
    )
    original = FakeGateway.reinterpret
    # a status word mapped since: every message now reads otherwise, and leaves its old response
    monkeypatch.setattr(
        FakeGateway,
        "reinterpret",
        lambda self, origin: original(self, replace(origin, raw=origin.raw.replace(b"refused", b"approved"))),
    )

    def other_reprocess() -> None:
        with Store.open(db_url) as other:
            Ingest(other, config, providers(config)).reprocess(read=True)  # type: ignore[arg-type]

    another_run_first(monkeypatch, other_reprocess)
    run = Ingest(store, config, providers(config))  # type: ignore[arg-type]
    run.reprocess(read=True)
    assert (run.report.elsewhere, run.report.unchanged, run.report.quarantined) == (2, 0, 0)
    for txn_id in ("T1", "T2"):
        assert (request(store, txn_id)["outcome"], request(store, txn_id)["response_count"]) == (
            "POSITIVO",
            1,
        )
    assert table_counts(store)["response"] == 2


# -- interruption -------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_ingest_killed_midway_then_run_again_equals_a_clean_run(db_url, tmp_path):
    rows = [
        f"K{i},O{i},order,2026-11-26T10:15:00Z,Customer {i},,{i % 97 + 1}.50,EUR,nexi" for i in range(30_000)
    ]
    rows[1500] = "K1500,O1500,order,2026-11-26T10:15:00Z,Bad,,abc,EUR,nexi"
    path = request_csv(tmp_path, rows)
    cfg = tmp_path / "paycli.yaml"
    cfg.write_text("timezone: Europe/Rome\nbatch_size: 200\n")
    cmd = [sys.executable, "-m", "paycli", "--config", str(cfg), "--db", db_url, "ingest", str(path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with Store.open(db_url) as store:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"] < 2000
        ):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = store.query("SELECT COUNT(*) AS n FROM payment_request")[0]["n"]
        assert 0 < partial < 29_999, "the kill should land in the middle"
        assert subprocess.run(cmd, env=env, capture_output=True).returncode == 1  # one record quarantined
        after_rerun = snapshot(store)
        for table in ("settlement", "message", "response", "resolution", "payment_request"):
            store.execute(f"DELETE FROM {table}")
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    with Store.open(db_url) as store:
        assert snapshot(store) == after_rerun
        assert len(after_rerun["requests"]) == 29_999
        assert len(after_rerun["messages"]) == 1


def test_request_file_provider_claims_request_files_only(config):
    from paycli.gateways.base import Source

    provider = RequestFileProvider("requests", {"encoding": "auto"}, config)
    assert provider.identify(Source("a.csv", None, (REQUEST_HEADER + ROW).encode()))
    assert provider.identify(Source("a.csv", None, b"\xef\xbb\xbftxn_id,created_at,customer,amount\n"))
    assert provider.identify(Source("a.jsonl", None, b'{"txn_id": "T1", "customer": "A"}\n'))
    assert not provider.identify(Source("a.csv", None, b"date,amount,description\n"))
    assert not provider.identify(Source("a.bin", None, b"\x00\x01\x02"))


def test_a_configured_encoding_is_used(db_url, tmp_path):
    config = make_config(tmp_path, "timezone: Europe/Rome\nrequests:\n  encoding: latin-1\n")
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (REQUEST_HEADER + "T1,O1,order,2026-11-26T10:15:00Z,Società,,1.00,EUR,nexi\n").encode("latin-1")
    )
    with Store.open(db_url) as store:
        ingest(store, config, path)
        assert request(store, "T1")["customer"] == "Società"


BANKS = """\
timezone: Europe/Rome
gateways:
  bank:
    provider: csv
    columns: {reference: ref, amount: amount, status: status}
    status_map: {approved: OK}
    currency: EUR
  strictbank:
    provider: csv
    columns: {reference: ref, amount: amount, status: status}
    status_map: {approved: OK}
    currency: EUR
    require_verified: %s
"""


def test_require_verified_holds_back_an_unsigned_approval_of_its_own_gateway_only(store, tmp_path):
    from paycli.recompute import refresh_all

    config = make_config(tmp_path, BANKS % "true")
    ingest(
        store,
        config,
        request_csv(
            tmp_path,
            [ROW.replace(",fake", ",bank"), ROW.replace("T1,O1", "T2,O2").replace(",fake", ",strictbank")],
        ),
    )
    export = tmp_path / "export.csv"
    export.write_text("ref,amount,status\nT1,129.90,OK\n")
    ingest(store, config, export, gateway="bank")
    export.write_text("ref,amount,status\nT2,129.90,OK\n")
    ingest(store, config, export, gateway="strictbank")
    # an export carries no signature: unverifiable, which only strictbank refuses to trust
    assert (request(store, "T1")["outcome"], request(store, "T1")["reason"]) == ("POSITIVO", None)
    assert (request(store, "T2")["outcome"], request(store, "T2")["reason"]) == ("VERIFICARE", "UNVERIFIED")
    # the setting read again by recompute, after the operator changes it
    refresh_all(store, make_config(tmp_path, BANKS % "false"))
    assert (request(store, "T2")["outcome"], request(store, "T2")["reason"]) == ("POSITIVO", None)


def test_require_verified_holds_back_an_unsigned_approval_of_its_gateway_for_a_request_of_another(
    store, tmp_path
):
    # strictbank must be verified: its export cannot mark a request of another gateway paid either
    config = make_config(tmp_path, BANKS % "true")
    ingest(store, config, request_csv(tmp_path, [ROW.replace(",fake", ",bank")]))
    export = tmp_path / "export.csv"
    export.write_text("ref,amount,status\nT1,129.90,OK\n")
    ingest(store, config, export, gateway="strictbank")
    assert (request(store, "T1")["outcome"], request(store, "T1")["reason"]) == ("VERIFICARE", "UNVERIFIED")


PAYPAL = Path(__file__).parent / "gateways" / "samples" / "paypal" / "approved"


def ipn_copies(folder: Path) -> tuple[Path, Path]:
    """The sample IPN twice: with its postback answer recorded (valid), and bare, as a postback that
    failed or a raw copy leaves it (unverifiable)."""
    body = (PAYPAL / "01-completed.txt").read_bytes()
    copies = []
    for name in ("verified", "bare"):
        (folder / name).mkdir()
        copy = folder / name / "ipn.txt"
        copy.write_bytes(body)
        copies.append(copy)
    (folder / "verified" / "ipn.txt.headers").write_bytes((PAYPAL / "01-completed.txt.headers").read_bytes())
    return copies[0], copies[1]


@pytest.mark.parametrize("runs", ["verified, then bare", "bare, then verified", "both at once"])
def test_a_verified_and_an_unverifiable_copy_of_one_ipn_are_one_valid_response(store, tmp_path, runs):
    config = make_config(tmp_path, (PAYPAL / "paycli.yaml").read_text())
    ingest(store, config, PAYPAL / "requests.csv")
    verified, bare = ipn_copies(tmp_path)
    order = {
        "verified, then bare": [[verified], [bare]],
        "bare, then verified": [[bare], [verified]],
        "both at once": [[bare, verified]],
    }[runs]
    for paths in order:
        ingest(store, config, *paths, gateway="paypal")
    rows = store.query("SELECT authenticity, deliveries, request_id FROM response")
    assert [(r["authenticity"], r["deliveries"]) for r in rows] == [("valid", 2)]
    assert (
        store.query("SELECT COUNT(DISTINCT response_id) AS n FROM message WHERE state = 'response'")[0]["n"]
        == 1
    )
    t1 = request(store, "ORD-PP-2001-1")
    assert (t1["outcome"], t1["reason"], t1["response_count"]) == ("POSITIVO", None, 1)


def test_copies_verified_or_not_in_one_file_are_one_valid_response_and_a_forged_one_stays_apart(
    store, config, tmp_path
):
    ingest(store, config, request_csv(tmp_path, [ROW]))
    unchecked = message("T1", "k1", "approved", auth="unverifiable")
    ingest(store, config, write_messages(tmp_path, unchecked, message("T1", "k1", "approved")))
    rows = store.query("SELECT authenticity, deliveries FROM response")
    assert [(r["authenticity"], r["deliveries"]) for r in rows] == [("valid", 2)]
    assert request(store, "T1")["outcome"] == "POSITIVO"
    forged = message("T1", "k1", "approved", auth="invalid")
    ingest(store, config, write_messages(tmp_path, forged, name="forged.jsonl"))
    assert sorted(r["authenticity"] for r in store.query("SELECT authenticity FROM response")) == [
        "invalid",
        "valid",
    ]
    assert request(store, "T1")["detail"] == "bad_signature"


def test_a_response_from_another_gateway_than_the_requests_is_flagged(store, config, tmp_path):
    from paycli.queries import show_request

    ingest(store, config, request_csv(tmp_path, [ROW.replace(",fake", ",nexi")]))
    ingest(store, config, write_messages(tmp_path, message("T1", "k1", "approved")))
    [entry] = show_request(store, "T1", config.timezone)["trail"]
    assert entry["other_gateway"] is True


def test_a_response_without_the_reference_takes_it_from_its_gateway_transaction_in_any_order(
    store, config, tmp_path
):
    # A Stripe charge event may not carry the shop's metadata, only its PaymentIntent: it must not stay
    # an orphan, and must fold into the PaymentIntent's response whatever arrives first.
    with_ref = message("T1", "pi_1:approved", "approved", txn="pi_1")
    without = json.dumps(
        {"fake": 1, "key": "pi_1:approved", "status": "approved", "amount": "129.90", "txn": "pi_1"}
    )
    refund = json.dumps(
        {"fake": 1, "key": "pi_1:refunded", "status": "refunded", "amount": "129.90", "txn": "pi_1"}
    )
    results = []
    for order in ((with_ref, without, refund), (without, refund, with_ref), (refund, with_ref, without)):
        for table in ("settlement", "message", "response", "resolution", "payment_request"):
            store.execute(f"DELETE FROM {table}")
        ingest(store, config, request_csv(tmp_path, [ROW]))
        for i, line in enumerate(order):
            ingest(store, config, write_messages(tmp_path, line, name=f"m{i}.jsonl"))
        results.append(snapshot(store))
        t1 = request(store, "T1")
        assert (t1["reason"], t1["detail"], t1["response_count"]) == (
            "MULTIPLE_RESPONSES",
            "refund_after_approval",
            2,
        )
        assert store.query("SELECT COUNT(*) AS n FROM response WHERE request_id IS NULL")[0]["n"] == 0
    assert results[0] == results[1] == results[2]


def test_a_settlement_line_is_kept_verbatim_and_shows_in_the_trail(store, config, tmp_path):
    from paycli.queries import show_request

    ingest(store, config, request_csv(tmp_path, [ROW]))
    line = json.dumps(
        {"fake": 1, "settle": "charge", "ref": "T1", "txn": "g1", "gross": "129.90", "fee": "1.90"}
    )
    run = ingest(store, config, write_messages(tmp_path, line, line))
    assert run.report.tallies["fake"].settlement_lines == 1
    [row] = store.query("SELECT kind, gross_minor, fee_minor, net_minor, currency FROM settlement")
    assert tuple(row[k] for k in ("kind", "gross_minor", "fee_minor", "net_minor", "currency")) == (
        "charge",
        12990,
        190,
        12800,
        "EUR",
    )
    [entry] = show_request(store, "T1", config.timezone)["trail"]
    assert (entry["type"], entry["status"], entry["amount"], entry["note"]) == (
        "settlement",
        "charge",
        "129.90",
        "fee 1.90, net 128.00",
    )
    assert request(store, "T1")["reason"] == "NO_RESPONSE"  # money settled is not a gateway response
    ingest(store, config, write_messages(tmp_path, line, name="again.jsonl"))
    assert store.query("SELECT COUNT(*) AS n FROM settlement")[0]["n"] == 1


def test_the_same_settlement_line_in_two_reports_is_counted_once(store, config, tmp_path):
    weekly = json.dumps(
        {"fake": 1, "settle": "charge", "ref": "T1", "gross": "129.90", "fee": "1.90", "line": "txn_1"}
    )
    monthly = json.dumps(
        {
            "fake": 1,
            "settle": "charge",
            "gross": "129.90",
            "fee": "1.90",
            "line": "txn_1",
            "ref": "T1",
            "x": 1,
        }
    )
    ingest(store, config, write_messages(tmp_path, weekly, name="weekly.jsonl"))
    ingest(store, config, write_messages(tmp_path, monthly, name="monthly.jsonl"))
    assert (
        store.query("SELECT COUNT(*) AS n FROM message WHERE state = 'settlement'")[0]["n"] == 2
    )  # both kept verbatim
    assert store.query("SELECT COUNT(*) AS n FROM settlement")[0]["n"] == 1


def test_a_huge_line_is_quarantined_and_the_rest_goes_on(store, config, tmp_path):
    huge = "H1,O1,order,2026-11-26T10:15:00Z," + "x" * 1_000_000 + ",,1.00,EUR,nexi"
    path = request_csv(tmp_path, [ROW, huge, "T3,O3,order,2026-11-26T10:15:00Z,C,,3.00,EUR,nexi"])
    run = ingest(store, config, path)
    assert [line for line, _ in quarantined(store)] == [3]
    assert quarantined(store)[0][1].startswith("not a CSV record (field larger than field limit")
    assert {r["txn_id"] for r in store.query("SELECT txn_id FROM payment_request")} == {"T1", "T3"}
    assert not run.report.ok


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's plan without statistics; PostgreSQL plans from its own")
def test_the_look_through_a_transaction_s_other_ids_reads_them_by_provider_and_transaction(store):
    from paycli.recompute import _BOTH_PAID, _SAME_TRANSACTION

    for pairs in _SAME_TRANSACTION[1:]:
        plan = store.query(f"EXPLAIN QUERY PLAN SELECT r.id {pairs} {_BOTH_PAID} AND r.request_id IN (1, 2)")
        steps = " / ".join(str(row["detail"]) for row in plan)
        # not every alias of the provider through the unique index's first column
        assert "(provider=?)" not in steps, steps


def test_progress_names_each_input_as_it_begins_and_counts_the_records_of_each_commit(store, tmp_path):
    config = make_config(tmp_path, "timezone: Europe/Rome\nbatch_size: 2\n")
    first = request_csv(tmp_path, [ROW.replace("T1", f"A{n}") for n in range(3)], name="first.csv")
    second = request_csv(tmp_path, [ROW.replace("T1", "B1")], name="second.csv")
    seen: list[tuple[int, str, int, int]] = []

    def progress(inputs: int, source: Source, records: int) -> None:
        seen.append((inputs, Path(source.name).name, source.position, records))

    ingest(store, config, first, second, progress=progress)
    assert seen == [
        (1, "first.csv", 0, 0),  # begun: nothing read yet
        (1, "first.csv", first.stat().st_size, 2),  # a batch of 2 committed, the file read
        (2, "second.csv", 0, 2),  # the third record of first.csv waits for the next batch
        (2, "second.csv", second.stat().st_size, 4),
    ]


def test_a_store_whose_row_ids_are_past_32_bits_goes_on_taking_rows(store, config, tmp_path):
    # SQLite's ids are 64-bit rowids; PostgreSQL's were integer (SERIAL), whose sequences stop at
    # 2,147,483,647: past it every ingest failed (exit 70, "reached maximum value of sequence") and
    # every callback had 503. Here the ids are moved on to the last 32-bit one, as years of traffic do.
    last = 2**31 - 1
    with store.transaction():
        if ON_POSTGRES:
            for table in ("payment_request", "message", "response", "delivery"):
                store.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
        else:  # the next rowid is one past the largest
            store.execute(
                "INSERT INTO payment_request (id, txn_id, kind, created_at, customer, search_text, amount_minor, "
                "currency, gateway, registered_at, outcome, reason, response_count) VALUES (:id, 'T0', 'other', "
                ":at, 'c', 'c', 1, 'EUR', 'fake', :at, 'VERIFICARE', 'NO_RESPONSE', 0)",
                {"id": last, "at": store.time(datetime.now(UTC))},
            )
    ingest(
        store, config, request_csv(tmp_path, [ROW]), write_messages(tmp_path, message("T1", "k1", "approved"))
    )
    t1 = request(store, "T1")
    assert t1["id"] > last and (t1["outcome"], t1["response_count"]) == ("POSITIVO", 1)
    [held] = store.query(
        "SELECT m.id AS message, r.id AS response, r.request_id FROM message m JOIN response r ON r.id = m.response_id"
    )
    assert held["request_id"] == t1["id"]
    if ON_POSTGRES:
        assert held["message"] > last and held["response"] > last


def test_a_batch_of_more_keys_than_a_statement_binds_is_one_query_on_either_backend(store, tmp_path):
    # batch_size may be 100,000: an ingest batch looks its keys up in one IN list, and PostgreSQL binds
    # at most 65,535 parameters a statement ("number of parameters must be between 0 and 65535": every
    # ingest failed with exit 70); SQLite binds a long list as one JSON array
    config = make_config(tmp_path, "timezone: Europe/Rome\nbatch_size: 100000\n")
    rows = [f"T{i},,other,2026-11-26T10:00:00+01:00,A,,1.00,EUR,nexi" for i in range(66_000)]
    run = ingest(store, config, request_csv(tmp_path, rows))
    assert run.report.tallies["requests"].requests_new == 66_000
    ids = [r["id"] for r in store.query("SELECT id FROM payment_request")]
    marks, params = store.placeholders("i", [*ids, 2**40])
    assert (
        store.query(f"SELECT COUNT(*) AS n FROM payment_request WHERE id IN {marks}", params)[0]["n"]
        == 66_000
    )
    again = ingest(store, config, request_csv(tmp_path, rows))
    assert again.report.tallies["requests"].requests_unchanged == 66_000


def test_a_glob_reads_the_folders_it_matches_and_refuses_what_a_walk_refuses(store, config, tmp_path):
    inbox = tmp_path / "in"
    (inbox / "nexi").mkdir(parents=True)
    (inbox / "done").mkdir()
    request_csv(inbox / "nexi", [ROW])  # cron's 'in/*' reads what the shell's in/* reads
    (inbox / "done" / "old.csv").write_text("read before")
    os.mkfifo(inbox / "pipe")
    (inbox / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    run = ingest(store, config, str(inbox / "*"), archive=inbox / "done")
    assert table_counts(store)["payment_request"] == 1
    assert run.report.files == 1 and (inbox / "done" / "requests.csv").exists()
    # what a walk refuses, a glob refuses; the archive folder it meets is skipped, as a walk skips it
    assert sorted(run.report.refused) == [
        (str(inbox / "gone.csv"), "a broken symbolic link"),
        (str(inbox / "pipe"), "not a regular file (a pipe, socket or device)"),
    ]
    assert not any("no file matches" in line for line in run.said)


def test_a_file_named_twice_by_two_paths_is_read_and_archived_once(store, config, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    request_csv(folder, [ROW])
    other = str(tmp_path / "in" / ".." / "in" / "requests.csv")
    deep = str(folder / "**")  # matches in/ itself, walked once
    run = ingest(
        store, config, folder, other, deep, str(tmp_path / "**" / "*.csv"), archive=tmp_path / "done"
    )
    assert run.report.ok and run.report.files == 1
    assert run.report.tallies["requests"].records == 1
    assert run.report.taken == []  # not another run's: this one archived it
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["requests.csv"]


def test_a_link_to_a_folder_in_a_folder_is_refused_not_passed_over_and_read_when_named(
    store, config, tmp_path
):
    inbox = tmp_path / "in"
    inbox.mkdir()
    elsewhere = tmp_path / "nexi-out"
    elsewhere.mkdir()
    request_csv(elsewhere, [ROW])
    (inbox / "nexi").symlink_to(elsewhere)  # an operator's link to where a gateway drops its files
    (inbox / "loop").symlink_to(inbox)
    (inbox / "done").symlink_to(tmp_path / "done")  # the archive, however it is reached, is skipped
    run = ingest(store, config, inbox, archive=tmp_path / "done")
    not_followed = "a link to a folder: not followed (name it as an input to read it)"
    assert sorted(run.report.refused) == [
        (str(inbox / "loop"), not_followed),
        (str(inbox / "nexi"), not_followed),
    ]
    assert table_counts(store)["payment_request"] == 0
    run = ingest(store, config, inbox / "nexi", archive=tmp_path / "done")
    assert run.report.ok and table_counts(store)["payment_request"] == 1


def test_a_file_that_grew_after_it_was_read_is_not_archived_and_the_next_run_reads_the_rest(
    store, config, tmp_path
):
    inbox = tmp_path / "in"
    inbox.mkdir()
    growing = request_csv(inbox, [ROW])
    said: list[str] = []

    def append_once(inputs, source, records):  # a shop's export still being written when cron reads it
        if records and "T2" not in growing.read_text():
            with growing.open("a") as f:
                f.write("T2,O2,order,2026-11-26T10:15:00Z,B,,5.00,EUR,fake\n")

    run = Ingest(
        store, config, providers(config), archive=tmp_path / "done", note=said.append, progress=append_once
    )  # type: ignore[arg-type]
    run.run([str(inbox)])
    assert growing.exists() and not (tmp_path / "done" / "requests.csv").exists()  # archived, T2 was lost
    assert run.report.ok and run.report.changed == [str(growing)]  # no error: the next run reads the rest
    assert any("changed while it was read" in line for line in said)
    run = ingest(store, config, inbox, archive=tmp_path / "done")
    assert run.report.ok and not growing.exists()
    assert table_counts(store)["payment_request"] == 2


def test_a_refused_name_that_is_not_utf8_is_said_with_the_escapes_a_stored_name_has(store, config, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.fsdecode(b"caff\xe8")  # a latin-1 name from an old system
    os.mkfifo(folder / odd)
    run = ingest(store, config, folder, str(tmp_path / odd))
    assert run.report.refused == [
        (f"{folder}/caff\\xe8", "not a regular file (a pipe, socket or device)"),
        (f"{tmp_path}/caff\\xe8", "no such file or folder"),
    ]


def test_an_editor_s_backup_in_a_folder_is_not_read_over_the_file_it_is_a_copy_of(store, config, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    fixed = ROW.replace("129.90", "139.90")
    request_csv(folder, [fixed])  # a line corrected by hand...
    request_csv(folder, [ROW], name="requests.csv~")  # ...and what the editor kept of it before
    request_csv(folder, [ROW], name="#requests.csv#")  # Emacs's auto-save
    for given in (folder, str(folder / "*")):
        run = ingest(store, config, given, update=True)
        assert run.report.ok and run.report.files == 1
        assert request(store, "T1")["amount_minor"] == 13990


def test_the_summary_of_a_file_read_again_counts_each_record_once(store, config, tmp_path, capsys):
    from paycli.commands.ingest import _summary

    bad = '{"fake": broken'
    path = write_messages(tmp_path, message("T1", "k1", "approved"), bad, bad)  # one bad line, sent twice
    ingest(store, config, path)
    capsys.readouterr()
    again = ingest(store, config, path)
    assert again.report.tallies["fake"].quarantined == 2 and not again.report.ok  # still said: exit 1
    _summary(again.report)
    lines = capsys.readouterr().err.splitlines()
    assert "  fake: 3 records: 1 already stored; 2 quarantined (2 already stored)" in lines


def test_an_amount_that_is_no_whole_number_of_minor_units_is_quarantined_at_once() -> None:
    # A float's "in range(-2**63, 2**63)" walks the range (forever, but for its first value, which it
    # took as in range): any provider's amount of another type than int is quarantined, never stored
    from decimal import Decimal

    from paycli.gateways.base import ResponseRecord
    from paycli.ingest import _within_columns
    from paycli.outcome import Authenticity, Status

    for amount in (float(-(2**63)), Decimal(3500), True):
        record = ResponseRecord(
            Origin(None, b"x"), "R-1", "K-1", Status.APPROVED, "OK", Authenticity.VALID, amount, "EUR", "T-1",  # type: ignore[arg-type]
        )  # fmt: skip
        found = _within_columns(record)
        assert isinstance(found, QuarantinedRecord), amount
        assert "amount is not a whole number of minor units" in found.reason
    assert _within_columns(replace(record, amount_minor=3500)) is not None
    assert not isinstance(_within_columns(replace(record, amount_minor=3500)), QuarantinedRecord)
