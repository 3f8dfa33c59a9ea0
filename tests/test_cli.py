"""The command line as an operator uses it: list, show, order, resolve, recompute, errors and help."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from paycli.cli import app
from paycli.store import Store
from tests.conftest import ON_POSTGRES, REQUEST_HEADER, request_csv, snapshot

ROWS = [
    "ORD-1-1,ORD-1,order,2026-11-20T09:00:00+01:00,Rossi Mario S.r.l.,mario.rossi@example.com,129.90,EUR,nexi",
    "ORD-1-2,ORD-1,order,2026-11-20T09:30:00+01:00,Rossi Mario S.r.l.,mario.rossi@example.com,129.90,EUR,nexi",
    "ORD-2-1,ORD-2,order,2026-11-21T12:00:00+01:00,NICCOLÒ Fabbri,n.fabbri@example.com,59.00,EUR,stripe",
    "DEP-1,,deposit,2026-11-22T18:00:00+01:00,Bianchi 100%_Srl,,1200,JPY,paypal",
]


@pytest.fixture
def loaded(cli, isolated: Path):
    path = request_csv(isolated, ROWS)
    result = cli("ingest", str(path))
    assert result.code == 0, result
    return cli


def txn_ids(result) -> list[str]:
    return [r["txn_id"] for r in json.loads(result.stdout)]


# -- list -----------------------------------------------------------------------------------------
def test_list_json_has_the_fields_of_the_contract(loaded):
    rows = json.loads(loaded("list", "--format", "json").stdout)
    assert [r["txn_id"] for r in rows] == ["DEP-1", "ORD-2-1", "ORD-1-2", "ORD-1-1"]  # newest first
    assert rows[3] == {
        "txn_id": "ORD-1-1",
        "order_id": "ORD-1",
        "kind": "order",
        "created_at": "2026-11-20T09:00:00+01:00",
        "customer": "Rossi Mario S.r.l.",
        "email": "mario.rossi@example.com",
        "amount": "129.90",
        "currency": "EUR",
        "gateway": "nexi",
        "outcome": "VERIFICARE",
        "reason": "NO_RESPONSE",
        "detail": None,
        "responses": 0,
    }
    assert rows[0]["amount"] == "1200"  # JPY has no decimals


def test_list_ndjson_and_csv_carry_the_same_fields(loaded):
    lines = loaded("list", "--format", "ndjson").stdout.splitlines()
    assert [json.loads(line)["txn_id"] for line in lines] == ["DEP-1", "ORD-2-1", "ORD-1-2", "ORD-1-1"]
    rows = list(csv.DictReader(io.StringIO(loaded("list", "--format", "csv").stdout)))
    assert list(rows[0]) == list(json.loads(lines[0]))
    assert rows[0]["order_id"] == ""


def test_csv_output_never_hands_a_spreadsheet_a_formula(cli, isolated):
    rows = [
        'F-1,,other,2026-11-26T10:15:00+01:00,"=HYPERLINK(""http://evil.example"",""x"")",,10.00,EUR,nexi',
        "F-2,,other,2026-11-26T10:16:00+01:00,@SUM(A1),+1@example.com,10.00,EUR,nexi",
    ]
    cli("ingest", str(request_csv(isolated, rows)))
    listed = {r["txn_id"]: r for r in csv.DictReader(io.StringIO(cli("list", "--format", "csv").stdout))}
    assert listed["F-1"]["customer"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (listed["F-2"]["customer"], listed["F-2"]["amount"]) == ("'@SUM(A1)", "10.00")
    shown = next(csv.DictReader(io.StringIO(cli("show", "F-2", "--format", "csv").stdout)))
    assert shown["customer"] == "'@SUM(A1)"


def test_csv_output_neutralises_a_formula_after_blanks_and_escapes_what_a_terminal_obeys(
    cli, isolated, db_url
):
    # spreadsheets drop leading blanks before they look for a formula; a terminal shown the CSV
    # obeys an ESC sequence or a bidi override (JSON escapes them; so does CSV now, save line breaks)
    customers = {
        "G-1": ' =HYPERLINK("http://evil.example")',
        "G-2": "Rossi\x1b]0;owned\x07 \u202eSpA",
        "G-3": "\u00a0-2+3",
        "G-4": "\x1b=1+1",
        "G-5": 'Mario "Rossi" - shop\nsecond line',
    }
    rows = [f"{t},,other,2026-11-26T10:1{i}:00+01:00,x,,10.00,EUR,nexi" for i, t in enumerate(customers)]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    with Store.connect(db_url) as store, store.transaction():  # as a forged or old record may hold them
        for txn_id, customer in customers.items():
            store.execute(
                "UPDATE payment_request SET customer = :c WHERE txn_id = :t", {"c": customer, "t": txn_id}
            )
    out = cli("list", "--format", "csv").stdout
    assert not {"\x1b", "\x07", "\u202e"} & set(out), out
    listed = {r["txn_id"]: r["customer"] for r in csv.DictReader(io.StringIO(out))}
    assert listed == {
        "G-1": '\' =HYPERLINK("http://evil.example")',
        "G-2": "Rossi\\x1b]0;owned\\x07 \\u202eSpA",
        "G-3": "'\u00a0-2+3",
        "G-4": "\\x1b=1+1",  # no longer a formula: it starts with a backslash
        "G-5": 'Mario "Rossi" - shop\nsecond line',  # a line break stays, quoted
    }
    # JSON keeps the exact value
    assert json.loads(cli("show", "G-2", "--format", "json").stdout)["customer"] == customers["G-2"]


def test_typer_s_own_errors_show_a_bidi_override_or_an_escape_they_quote(cli):
    # Typer escapes C0 and C1 controls (in the version pinned), not a format character
    for args, said in [
        (("show", "a", "b\u202ec"), "Got unexpected extra argument(s) (b\\u202ec)"),
        (("list", "--x\u202ey"), "No such option: --x\\u202ey"),
        (("x\u202e\x1b[2Jy",), "No such command 'x\\u202e\\x1b[2Jy'"),
        (("db", "status", "\u2067z"), "Got unexpected extra argument(s) (\\u2067z)"),
    ]:
        result = cli(*args)
        assert result.code == 2 and said in result.stderr, result
        assert not {"\u202e", "\u2067", "\x1b"} & set(result.stderr), result


def test_db_status_shows_the_store_s_name_as_text(cli, isolated):
    # a store whose file name (a --db, a PAYCLI_DB) holds an escape sequence or a bidi override
    path = isolated / "shop\x1b]0;x\x07\u202e.db"
    assert cli("--db", str(path), "db", "upgrade", db=False).code == 0
    result = cli("--db", str(path), "db", "status", db=False)
    assert result.code == 0, result
    assert "shop\\x1b]0;x\\x07\\u202e.db" in result.stdout
    assert not {"\u202e", "\x07", "\x1b"} & set(result.stdout + result.stderr), result


def test_an_empty_result_is_not_an_error(loaded):
    assert loaded("list", "--outcome", "POSITIVO", "--format", "json").stdout.strip() == "[]"
    result = loaded("list", "--outcome", "POSITIVO")
    assert result.code == 0 and "No payment request matches." in result.stderr and result.stdout == ""
    # a CSV of no row has the header a script reads the columns by, the same as a CSV with rows
    full = loaded("list", "--format", "csv").stdout.splitlines()[0]
    assert loaded("list", "--outcome", "POSITIVO", "--format", "csv").stdout.splitlines() == [full]
    ingested = loaded("messages", "--state", "request", "--format", "csv").stdout.splitlines()[0]
    assert loaded("messages", "--format", "csv").stdout.splitlines() == [ingested]


def test_list_filters_by_customer_name_or_email_in_any_case(loaded):
    assert txn_ids(loaded("list", "--customer", "niccolò", "--format", "json")) == ["ORD-2-1"]
    assert txn_ids(loaded("list", "--customer", "MARIO.ROSSI@", "--format", "json")) == ["ORD-1-2", "ORD-1-1"]
    # LIKE wildcards in the search are literal
    assert txn_ids(loaded("list", "--customer", "100%_", "--format", "json")) == ["DEP-1"]
    assert txn_ids(loaded("list", "--customer", "%", "--format", "json")) == ["DEP-1"]


def test_a_customer_that_grows_when_casefolded_is_stored_and_found(cli, isolated, db_url):
    # 255 characters, within the column; casefolded (ß is ss) 510, beside a 320-character e-mail: past
    # the 600 of the search text, which PostgreSQL refused with the whole batch (exit 70, every run)
    email = "a" * 64 + "@" + "b" * 251 + ".it"
    rows = [ROWS[0], f"BIG-1,BIG,order,2026-11-20T10:00:00+01:00,{'ß' * 255},{email},1.00,EUR,nexi", ROWS[2]]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    assert txn_ids(cli("list", "--customer", "SSSS", "--format", "json")) == ["BIG-1"]
    assert len(txn_ids(cli("list", "--format", "json"))) == 3
    with Store.connect(db_url) as store:  # what SQLite takes past a column's width PostgreSQL refuses
        assert store.query("SELECT MAX(LENGTH(search_text)) AS n FROM payment_request")[0]["n"] == 600


def test_list_filters_by_gateway_order_kind_and_limit(loaded):
    assert txn_ids(loaded("list", "--gateway", "nexi", "--format", "json")) == ["ORD-1-2", "ORD-1-1"]
    assert txn_ids(loaded("list", "--order", "ORD-1", "--limit", "1", "--format", "json")) == ["ORD-1-2"]
    assert txn_ids(loaded("list", "--kind", "deposit", "--format", "json")) == ["DEP-1"]
    assert txn_ids(loaded("list", "-g", "nexi", "-g", "paypal", "--format", "json")) == [
        "DEP-1",
        "ORD-1-2",
        "ORD-1-1",
    ]


def test_list_filters_by_local_days(loaded):
    assert txn_ids(loaded("list", "--since", "2026-11-21", "--until", "2026-11-21", "--format", "json")) == [
        "ORD-2-1"
    ]
    assert txn_ids(loaded("list", "--until", "2026-11-20", "--format", "json")) == ["ORD-1-2", "ORD-1-1"]
    assert txn_ids(loaded("list", "--since", "2026-11-22T17:59:59+01:00", "--format", "json")) == ["DEP-1"]
    # "on or before" a moment includes a request created at that very moment
    [at] = [
        r["created_at"]
        for r in json.loads(loaded("list", "--format", "json").stdout)
        if r["txn_id"] == "DEP-1"
    ]
    assert "DEP-1" in txn_ids(loaded("list", "--until", at, "--format", "json"))
    assert "DEP-1" in txn_ids(loaded("list", "--since", at, "--until", at, "--format", "json"))


def test_local_day_filters_are_right_across_daylight_saving_changes(cli, isolated):
    rows = [
        # 2026-10-25 in Rome is 25 hours long: 00:00 CEST (+02:00) to 24:00 CET (+01:00)
        "A,,other,2026-10-24T23:59:59+02:00,A,,1.00,EUR,nexi",
        "B,,other,2026-10-25T00:00:00+02:00,B,,1.00,EUR,nexi",
        "C,,other,2026-10-25T23:59:59+01:00,C,,1.00,EUR,nexi",
        "D,,other,2026-10-26T00:00:00+01:00,D,,1.00,EUR,nexi",
        # 2026-03-29 is 23 hours long
        "E,,other,2026-03-28T23:59:59+01:00,E,,1.00,EUR,nexi",
        "F,,other,2026-03-29T00:00:00+01:00,F,,1.00,EUR,nexi",
        "G,,other,2026-03-29T23:59:59+02:00,G,,1.00,EUR,nexi",
        "H,,other,2026-03-30T00:00:00+02:00,H,,1.00,EUR,nexi",
    ]
    cli("ingest", str(request_csv(isolated, rows)))
    assert txn_ids(cli("list", "--since", "2026-10-25", "--until", "2026-10-25", "--format", "json")) == [
        "C",
        "B",
    ]
    assert txn_ids(cli("list", "--since", "2026-03-29", "--until", "2026-03-29", "--format", "json")) == [
        "G",
        "F",
    ]


def test_tables_tell_apart_the_two_times_of_the_repeated_autumn_hour(cli, isolated):
    rows = [
        "S,O-1,order,2026-10-25T02:30:00+02:00,A,,1.00,EUR,nexi",  # summer time
        "W,O-1,order,2026-10-25T02:30:00+01:00,A,,1.00,EUR,nexi",  # an hour later, winter time
        "N,O-1,order,2026-10-25T03:30:00+01:00,A,,1.00,EUR,nexi",
    ]
    cli("ingest", str(request_csv(isolated, rows)))
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n")
    for shown in (cli("list").stdout, cli("order", "O-1").stdout):
        assert "2026-10-25 02:30+02:00" in shown and "2026-10-25 02:30+01:00" in shown
        assert "2026-10-25 03:30 " in shown and "03:30+" not in shown


def test_older_than_leaves_out_what_is_too_recent_to_alarm(cli, isolated):
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC)
    rows = [
        f"OLD,,other,{(now - timedelta(minutes=30)).isoformat()},A,,1.00,EUR,nexi",
        f"NEW,,other,{(now - timedelta(seconds=20)).isoformat()},B,,1.00,EUR,nexi",
    ]
    cli("ingest", str(request_csv(isolated, rows)))
    assert txn_ids(cli("list", "--outcome", "VERIFICARE", "--older-than", "2m", "--format", "json")) == [
        "OLD"
    ]
    # --since today is the local day of Europe/Rome: near midnight OLD may belong to yesterday
    rome = ZoneInfo("Europe/Rome")
    today = [
        t
        for t, age in (("NEW", 20), ("OLD", 1800))
        if (now - timedelta(seconds=age)).astimezone(rome).date() == now.astimezone(rome).date()
    ]
    assert txn_ids(cli("list", "--since", "today", "--format", "json")) == today


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "12/11"], "--since: '12/11' is not a date"),
        (["--older-than", "soon"], "--older-than"),
        (["--older-than", "800000d"], "--older-than: '800000d' is too long a duration"),  # before year 1
        (["--outcome", "MAYBE"], "--outcome: 'MAYBE' is not one of POSITIVO, NEGATIVO, VERIFICARE"),
        (["--reason", "NO_RESPONCE"], "--reason: 'NO_RESPONCE' is not one of RESOLVED, NO_RESPONSE, "),
        (["--kind", "orders"], "--kind: 'orders' is not one of order, deposit, other"),
    ],
)
def test_bad_list_options_exit_2_with_one_line(loaded, args, message):
    result = loaded("list", *args)
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_gateway_neither_configured_nor_stored_is_a_typo_not_an_empty_list(loaded, isolated):
    # an empty answer reads as all is well
    for command in ("list", "messages"):
        result = loaded(command, "--gateway", "strpe")
        assert result.code == 2, result
        assert (
            "--gateway: no gateway 'strpe' in the configuration nor in the store (did you mean 'stripe'?"
            in (result.stderr)
        )
        assert len(result.stderr.strip().splitlines()) == 1
    # a gateway paycli reads nothing from, named by the shop's requests (a bank transfer checked by hand)
    wire = ROWS[3].replace("DEP-1,", "WIRE-1,").replace(",paypal", ",bonifico")
    assert loaded("ingest", str(request_csv(isolated, [wire], name="wire.csv"))).code == 0
    assert txn_ids(loaded("list", "--gateway", "bonifico", "--format", "json")) == ["WIRE-1"]
    assert loaded("messages", "--gateway", "requests", "--state", "request").code == 0  # who sent the lines


def test_an_until_before_since_is_refused_not_an_empty_list(loaded):
    result = loaded("list", "--since", "2026-11-27", "--until", "2026-11-20")
    assert result.code == 2
    assert (
        result.stderr.strip()
        == "paycli: --until 2026-11-20 is before --since 2026-11-27: no request could match"
    )
    # one day, named twice, is that day
    assert txn_ids(loaded("list", "--since", "2026-11-21", "--until", "2026-11-21", "--format", "json")) == [
        "ORD-2-1"
    ]


def test_a_limit_past_what_a_store_can_hold_is_no_limit(loaded):
    for command in ("list", "messages"):
        result = loaded(command, "--limit", str(2**64), "--format", "json")
        assert result.code == 0, result
    assert len(json.loads(loaded("list", "--limit", str(2**64), "--format", "json").stdout)) == len(ROWS)


def test_list_table_reads_for_people(loaded):
    out = loaded("list").stdout
    assert out.splitlines()[0].split() == [
        "txn_id",
        "order",
        "created",
        "customer",
        "amount",
        "cur",
        "gateway",
        "outcome",
        "reason",
        "detail",
        "resp",
    ]
    assert "2026-11-20 09:00" in out  # local time


# -- show, order, resolve -------------------------------------------------------------------------
def test_list_table_columns_align_whatever_script_the_names_are_in(cli, isolated):
    from wcwidth import wcswidth

    rows = [
        ROWS[0],
        ROWS[2].replace("NICCOLÒ Fabbri", "王小明\u3000✓ Müller\u00a0Ñandú"),  # spaces, not escaped
        ROWS[3].replace("Bianchi 100%_Srl", "株式会社ロジスティクス・ジャパン東京本社営業部"),  # cut
    ]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    lines = cli("list").stdout.splitlines()
    assert "株式会社ロジスティクス・ジ… " in cli("list").stdout  # 26 cells and the ellipsis in 28
    assert "王小明\u3000✓ Müller\u00a0Ñandú" in cli("list").stdout
    # a wide character takes two cells: every row ends where the others do (its count, right-aligned)
    assert len({wcswidth(line) for line in lines[2:]}) == 1, lines
    assert len({len(line) for line in lines[2:]}) == 3  # which counting characters would not give


def test_show_prints_the_request_and_its_trail(loaded):
    out = loaded("show", "ORD-1-1").stdout
    assert "Payment request ORD-1-1" in out
    assert "129.90 EUR via nexi" in out
    assert "VERIFICARE  NO_RESPONSE" in out
    assert "no response from the gateway yet" in out
    data = json.loads(loaded("show", "ORD-1-1", "--format", "json").stdout)
    assert data["txn_id"] == "ORD-1-1" and data["trail"] == [] and data["outcome"] == "VERIFICARE"
    assert data["deliveries"] == [] and "Received over HTTP" not in out  # nothing came through serve


def test_reprocess_all_rewords_a_refusal_stored_before_its_gateway_words_were_read(cli, isolated, db_url):
    import shutil

    sample = Path(__file__).parent / "gateways" / "samples" / "nexi" / "refused"
    for item in sample.iterdir():
        shutil.copy(item, isolated / item.name)
    cli("ingest", "requests.csv", "01-ko.txt", "02-annullo.http")
    with Store.connect(db_url) as store, store.transaction():  # as a paycli that read esito alone stored it
        store.execute("UPDATE response SET raw_status = 'KO' WHERE raw_status LIKE 'KO %'")
    assert cli("recompute").code == 0
    assert json.loads(cli("show", "ORDNX4101-1", "--format", "json").stdout)["detail"] == "KO"
    result = cli("reprocess", "--all")
    assert result.stderr == "read 2 messages again: 2 as before (1 reworded), 0 otherwise, 0 quarantined\n"
    shown = json.loads(cli("show", "ORDNX4101-1", "--format", "json").stdout)
    assert (shown["outcome"], shown["detail"]) == ("NEGATIVO", "KO (20 Autorizzazione negata)")
    assert shown["trail"][0]["gateway_status"] == "KO (20 Autorizzazione negata)"
    with Store.connect(db_url) as store:
        before = snapshot(store)
    assert cli("reprocess", "--all").stderr.startswith("read 2 messages again: 2 as before, 0 otherwise")
    with Store.connect(db_url) as store:
        assert snapshot(store) == before


def test_reprocess_all_recomputes_the_requests_a_retied_response_leaves_and_joins(cli, isolated, db_url):
    import shutil

    sample = Path(__file__).parent / "gateways" / "samples" / "paypal" / "shared-transaction"
    for item in sample.iterdir():
        shutil.copy(item, isolated / item.name)
    cli("ingest", "requests.csv", *sorted(p.name for p in isolated.glob("0*.txt")))
    with Store.connect(db_url) as store, store.transaction():  # as a wrong read once tied 2402's copy
        [other] = store.query("SELECT gateway_txn_id FROM response WHERE reference = 'ORD-PP-2403-1'")
        store.execute(
            "UPDATE response SET gateway_txn_id = :g WHERE reference = 'ORD-PP-2402-1'",
            {"g": other["gateway_txn_id"]},
        )
    assert cli("recompute").code == 0

    def reasons() -> list[str | None]:
        return [
            json.loads(cli("show", f"ORD-PP-240{n}-1", "--format", "json").stdout)["reason"]
            for n in (1, 2, 3)
        ]

    # 2401 no longer finds the copy; 2403 does not share with it either: a PayPal approval is the payment
    # of its own txn_id (Provider.payment_of), and the copy's is not 2403's
    assert reasons() == [None, None, None]
    assert cli("reprocess", "--all").code == 0
    # the copy went back to its own transaction: 2403 shares nothing any more, 2401 shares it again
    assert reasons() == ["SHARED_TRANSACTION", "SHARED_TRANSACTION", None]


def test_show_and_list_name_a_gateway_transaction_that_answers_two_requests(cli, isolated):
    import shutil

    sample = Path(__file__).parent / "gateways" / "samples" / "paypal" / "shared-transaction"
    for path in sample.iterdir():
        if path.name != "expected.json":
            shutil.copy(path, isolated / path.name)
    assert cli("ingest", "requests.csv").code == 0
    assert cli("ingest", *sorted(p.name for p in isolated.glob("0*.txt"))).code == 0
    out = cli("show", "ORD-PP-2402-1").stdout
    assert "VERIFICARE  SHARED_TRANSACTION (also answers ORD-PP-2401-1)" in out
    assert "response (shared)" in out
    assert (
        "(shared) gateway transaction 4RT29310LK8823145 also answers ORD-PP-2401-1: one payment cannot pay "
        "them all" in out
    )
    listed = json.loads(cli("list", "--reason", "SHARED_TRANSACTION", "--format", "json").stdout)
    assert sorted(r["txn_id"] for r in listed) == ["ORD-PP-2401-1", "ORD-PP-2402-1"]
    assert "(shared)" not in cli("show", "ORD-PP-2403-1").stdout


def test_an_unknown_txn_or_order_exits_3(loaded):
    result = loaded("show", "NOPE")
    assert result.code == 3 and result.stderr.strip() == "paycli: no payment request with txn_id 'NOPE'"
    assert loaded("order", "NOPE").code == 3
    assert loaded("resolve", "NOPE", "--as", "POSITIVO", "--note", "x").code == 3


def test_an_id_that_names_nothing_is_told_what_it_may_be(cli, isolated):
    # what an operator has at hand: an order number, a payment's id, the gateway's transaction id from
    # its dashboard, an id copied with a blank or in another case
    import shutil

    sample = Path(__file__).parent / "gateways" / "samples" / "paypal" / "shared-transaction"
    for path in sample.iterdir():
        if path.name != "expected.json":
            shutil.copy(path, isolated / path.name)
    assert cli("ingest", "requests.csv", *sorted(p.name for p in isolated.glob("0*.txt"))).code == 0
    said = {
        ("show", "ORD-PP-2401"): "; it is an order: paycli order ORD-PP-2401",
        ("order", "ORD-PP-2401-1"): "; it is a payment request: paycli show ORD-PP-2401-1",
        ("show", "4RT29310LK8823145"): (
            "; it is the gateway's transaction id of ORD-PP-2401-1, ORD-PP-2402-1: paycli show ORD-PP-2401-1"
        ),
        ("order", " 4RT29310LK8823145"): (
            "; it is the gateway's transaction id of ORD-PP-2401-1, ORD-PP-2402-1: paycli show ORD-PP-2401-1"
        ),
        ("show", "ord-pp-2403-1 "): "; did you mean ORD-PP-2403-1?",
        ("order", "Ord-PP-2403"): "; did you mean ORD-PP-2403?",
        ("resolve", "ord-pp-2402-1"): "; did you mean ORD-PP-2402-1?",
    }
    for (command, text), hint in said.items():
        extra = ["--as", "POSITIVO", "--note", "x"] if command == "resolve" else []
        result = cli(command, text, *extra)
        noun = "for order" if command == "order" else "with txn_id"
        assert result.code == 3
        assert result.stderr.strip() == f"paycli: no payment request {noun} '{text}'{hint}", result.stderr
    # nothing like it: the error alone
    assert (
        cli("show", "ORD-PP-9999-1").stderr.strip()
        == "paycli: no payment request with txn_id 'ORD-PP-9999-1'"
    )


def test_order_rolls_its_requests_up_into_a_verdict(loaded):
    out = loaded("order", "ORD-1").stdout
    assert out.startswith("Order ORD-1: TO_VERIFY")
    loaded("resolve", "ORD-1-1", "--as", "NEGATIVO", "--note", "refused on the back office", "--by", "anna")
    loaded("resolve", "ORD-1-2", "--as", "POSITIVO", "--note", "paid", "--by", "anna")
    data = json.loads(loaded("order", "ORD-1", "--format", "json").stdout)
    assert data["verdict"] == "PAID"
    assert [r["outcome"] for r in data["requests"]] == ["NEGATIVO", "POSITIVO"]
    loaded("resolve", "ORD-1-1", "--as", "POSITIVO", "--note", "charged after all", "--by", "anna")
    assert json.loads(loaded("order", "ORD-1", "--format", "json").stdout)["verdict"] == "PAID_TWICE"


def test_resolve_is_audited_and_undo_keeps_the_history(loaded):
    result = loaded(
        "resolve", "ORD-2-1", "--as", "POSITIVO", "--note", "seen in Stripe dashboard", "--by", "anna"
    )
    assert result.code == 0
    assert "VERIFICARE/NO_RESPONSE -> POSITIVO/RESOLVED" in result.stderr
    data = json.loads(loaded("show", "ORD-2-1", "--format", "json").stdout)
    assert (data["outcome"], data["reason"], data["detail"]) == ("POSITIVO", "RESOLVED", "by anna")
    [res] = data["resolutions"]
    assert (res["by"], res["note"], res["before"], res["undone_at"]) == (
        "anna",
        "seen in Stripe dashboard",
        "VERIFICARE/NO_RESPONSE",
        None,
    )
    # the note as the resolution's, without the blanks around it
    undo = loaded("resolve", "ORD-2-1", "--undo", "--note", "  wrong request\n", "--by", "bruno")
    assert undo.code == 0 and "POSITIVO/RESOLVED -> VERIFICARE/NO_RESPONSE" in undo.stderr
    data = json.loads(loaded("show", "ORD-2-1", "--format", "json").stdout)
    assert data["reason"] == "NO_RESPONSE"
    assert (
        data["resolutions"][0]["undone_by"] == "bruno"
        and data["resolutions"][0]["undo_note"] == "wrong request"
    )
    assert loaded("resolve", "ORD-2-1", "--undo", "-m", "again").code == 3  # nothing left to undo


def test_a_file_name_that_is_not_utf8_is_ingested_archived_and_shown_escaped(cli, isolated):
    # a latin-1 name from an old system: its surrogates reached the store (exit 70, nothing ingested)
    inbox, done = isolated / "in", isolated / "done"
    inbox.mkdir()
    name = os.fsdecode(b"caff\xe8.csv")
    request_csv(inbox, ROWS[:1], name=name)
    result = cli("ingest", str(inbox), "--archive", str(done))
    assert result.code == 0, result
    assert "caff\\xe8.csv" in result.stderr and list(inbox.iterdir()) == []  # the summary is on stderr
    assert [p.name for p in done.iterdir()] == [name]
    assert "caff\\xe8.csv" in cli("show", "ORD-1-1").stdout  # registered from: the escaped name
    # an argument that is not UTF-8 is one line, not an unexpected error
    result = cli("show", os.fsdecode(b"ORD-\xff"))
    assert (result.code, result.stderr) == (
        2,
        "paycli: an argument is not UTF-8 text: run it again in a UTF-8 locale\n",
    )


def test_an_ingest_beside_another_of_the_same_inbox_exits_0_and_says_once_what_the_other_took(
    cli, isolated, monkeypatch
):
    from paycli.gateways.base import Source

    inbox, done = isolated / "in", isolated / "done"
    inbox.mkdir()
    request_csv(inbox, ROWS[:1], name="a.csv")
    request_csv(inbox, ROWS[1:2], name="b.csv")
    from_path = Source.from_path.__func__  # type: ignore[attr-defined]

    def other_run_first(cls, path: Path) -> Source:
        if path.name == "a.csv" and path.exists():
            done.mkdir(exist_ok=True)
            path.rename(done / path.name)  # the other ingest's archive, between listing and reading
        return from_path(cls, path)

    monkeypatch.setattr(Source, "from_path", classmethod(other_run_first))
    result = cli("ingest", str(inbox), "--archive", str(done))
    assert result.code == 0, result
    assert "a.csv" not in result.stderr  # no line of its own: a count in the summary
    assert "  1 listed input taken by another run meanwhile (ingested and archived there)\n" in result.stderr
    assert cli("ingest", "-q", str(inbox), "--archive", str(done)).stderr == ""


def test_a_name_longer_than_the_audit_column_is_refused_in_one_line(loaded, isolated):
    # the store keeps 128 characters of who decided: PostgreSQL refused more, exit 70
    for args in (["--as", "POSITIVO"], ["--undo"]):
        result = loaded("resolve", "ORD-1-1", *args, "--note", "seen", "--by", "y" * 129)
        assert (result.code, result.stderr) == (2, "paycli: --by: at most 128 characters, got 129\n")
    (isolated / "paycli.yaml").write_text(f"timezone: Europe/Rome\noperator: {'y' * 129}\n")
    result = loaded("resolve", "ORD-1-1", "--as", "POSITIVO", "--note", "seen")
    assert result.code == 2 and result.stderr.endswith("operator: at most 128 characters, got 129\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "VERIFICARE", "--note", "x"], "--as must be POSITIVO or NEGATIVO"),
        (["--as", "POSITIVO", "--note", "  "], "--note must say why"),
        (["--as", "POSITIVO"], "resolve needs --as POSITIVO|NEGATIVO and --note"),
        (["--undo", "--as", "POSITIVO"], "--undo and --as cannot be used together"),
        (["--undo"], "--undo needs --note: why the decision is undone"),
        (["--undo", "--note", " "], "--note must say why"),
    ],
)
def test_resolve_refuses_an_incomplete_decision(loaded, args, message):
    result = loaded("resolve", "ORD-2-1", *args)
    assert result.code == 2 and message in result.stderr


def test_the_operator_name_comes_from_the_configuration(cli, isolated):
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\noperator: carla\n")
    cli("ingest", str(request_csv(isolated, ROWS)))
    cli("resolve", "DEP-1", "--as", "NEGATIVO", "--note", "never paid")
    assert json.loads(cli("show", "DEP-1", "--format", "json").stdout)["resolutions"][0]["by"] == "carla"


def test_recompute_says_what_changed_from_what_to_what(loaded, isolated):
    result = loaded("recompute")
    assert result.code == 0 and "recomputed 4 requests with policy strict: 0 changed" in result.stderr
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\npolicy: lifecycle\n")
    assert "with policy lifecycle: 0 changed" in loaded("recompute").stderr


def test_every_command_says_when_the_stored_outcomes_follow_another_rule_until_recompute(
    loaded, isolated, db_url
):
    warning = (
        "paycli: the stored outcomes follow another rule (policy strict; no require_verified) than the "
        "configuration (policy lifecycle; require_verified: bank; txn_ids_unique: bank false): "
        "run 'paycli recompute'"
    )
    assert "paycli: the stored outcomes" not in loaded("list").stderr
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\npolicy: lifecycle\ngateways:\n  bank:\n    provider: csv\n"
        "    require_verified: true\n    txn_ids_unique: false\n"
        "    columns: {reference: ref, amount: amount, status: esito}\n"
        "    status_map: {approved: [OK]}\n    dedupe_key: [ref]\n    currency: EUR\n"
    )
    for command in (["list"], ["show", "ORD-1-1"], ["order", "ORD-1"], ["ingest", "-"]):
        result = loaded(*command, input=b"")
        assert result.stderr.count(warning) == 1, (command, result)
    result = loaded("recompute")
    assert "paycli: the stored outcomes" not in result.stderr  # the one command it asks for
    assert "paycli: the stored outcomes" not in loaded("list").stderr
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n")  # and back: recompute again
    assert (
        "(policy lifecycle; require_verified: bank; txn_ids_unique: bank false) than" in loaded("list").stderr
    )


def test_a_report_made_while_the_stored_outcomes_follow_another_rule_says_so_in_its_files(
    loaded, isolated, db_url
):
    # the cron report is read in the morning, mailed, not its run's stderr: the policy was changed and
    # nobody ran recompute, and the report passed the old rule's outcomes for the new one's
    from paycli.reports import build_report, resolve_period, summary_text

    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\npolicy: lifecycle\n")
    said = "the stored outcomes follow another rule (policy strict; no require_verified) than the configuration (policy lifecycle; no require_verified): run 'paycli recompute'"
    out = isolated / "r"
    out.mkdir()
    result = loaded("report", "--since", "2026-11-01", "--format", "html,csv", "--out", str(out))
    assert result.code == 0 and result.stderr.count(said) == 1, result
    html = next(out.glob("*.html")).read_text()
    assert f'<p class="warn" id="stale-rule"><b>Warning:</b> {said}.</p>'.replace("'", "&#39;") in html
    rows = list(csv.reader(next(out.glob("*.csv")).read_text().splitlines()))
    warning = [row for row in rows if row[0] == "warning"]
    assert warning == [["warning", *[""] * 19, said]] and len(rows[0]) == 21
    rome, now = ZoneInfo("Europe/Rome"), datetime.now(UTC)
    with Store.open(db_url) as store:
        made = build_report(store, resolve_period(rome, now, since="2026-11-01"), rome, now)
        made.stale_rule = said  # as make_report sets it
        assert f"Warning: {said}." in summary_text(made).splitlines()[1]
    loaded("recompute")
    again = loaded("report", "--since", "2026-11-01", "--format", "html,csv", "--out", str(out))
    assert again.code == 0 and "Warning" not in next(out.glob("*.html")).read_text()
    assert not [
        row for row in csv.reader(next(out.glob("*.csv")).read_text().splitlines()) if row[0] == "warning"
    ]


def test_a_store_that_kept_no_rule_takes_the_configuration_s_silently(loaded, isolated, db_url):
    with Store.open(db_url) as store, store.transaction():  # as an upgrade to schema 0009 leaves it
        store.execute("DELETE FROM store_setting")
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\npolicy: lifecycle\n")
    assert "paycli: the stored outcomes" not in loaded("list").stderr
    with Store.open(db_url) as store:
        assert '"policy": "lifecycle"' in store.query("SELECT value FROM store_setting")[0]["value"]


def test_recompute_counts_the_rows_it_corrects_without_changing_an_outcome(loaded, db_url):
    with Store.open(db_url) as store, store.transaction():  # stale counts, as migration 0003 left them
        store.execute("UPDATE payment_request SET response_count = response_count + 7")
    result = loaded("recompute")
    assert result.code == 0
    assert "recomputed 4 requests with policy strict: 0 changed, 4 corrected (response count or detail)" in (
        result.stderr
    )
    assert result.stderr.count("corrected") == 1
    assert "0 changed\n" in loaded("recompute").stderr  # nothing left to correct


def test_ingest_from_standard_input_and_its_summary(cli):
    result = cli("ingest", "-", input=(REQUEST_HEADER + ROWS[0] + "\n").encode())
    assert result.code == 0, result
    assert "requests: 1 record: 1 new request, 0 unchanged, 0 updated" in result.stderr
    assert cli("show", "ORD-1-1").code == 0


def test_ingest_exits_1_when_a_record_is_quarantined(cli, isolated):
    result = cli("ingest", str(request_csv(isolated, [ROWS[0], ROWS[1].replace("129.90", "abc")])))
    assert result.code == 1
    assert f"{isolated / 'requests.csv'}:3: amount 'abc' is not a decimal number" in result.stderr
    assert "1 quarantined" in result.stderr


def test_ingest_dry_run_says_would(cli, isolated):
    result = cli("ingest", "--dry-run", str(request_csv(isolated, ROWS)))
    assert "would ingest 1 input" in result.stderr and "dry run: nothing was changed" in result.stderr


def test_a_dry_run_where_there_is_no_store_yet_creates_none(cli, isolated, db_url):
    path = request_csv(isolated, ROWS)
    if ON_POSTGRES:  # a database without paycli's tables
        with Store.connect(db_url) as store, store.transaction():
            for table in [*store.table_names(), "alembic_version"]:
                store.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        url, args = db_url, ["ingest", "--dry-run", str(path)]
    else:
        (isolated / "not-yet").mkdir()
        url = f"sqlite:///{isolated / 'not-yet' / 'paycli.db'}"
        args = ["--db", url, "ingest", "--dry-run", str(path)]
    result = cli(*args, db=ON_POSTGRES)
    assert result.code == 0, result
    assert "yet: the dry run reads against an empty one, and creates none" in result.stderr
    assert "would ingest 1 input" in result.stderr and "4 new requests" in result.stderr
    if ON_POSTGRES:
        with Store.connect(db_url) as store:
            assert store.schema_version() is None and not store.table_names()
    else:
        assert not (isolated / "not-yet" / "paycli.db").exists()


def test_a_dry_run_writes_nothing_not_even_the_rule_a_store_from_before_0009_keeps_at_first_use(
    loaded, isolated, db_url
):
    def everything() -> dict[str, list[tuple[object, ...]]]:
        with Store.open(db_url) as store:
            return {
                t: sorted((tuple(map(repr, r)) for r in store.query(f"SELECT * FROM {t}")), key=str)
                for t in sorted(store.table_names())
            }

    with Store.open(db_url) as store, store.transaction():
        store.execute("DELETE FROM store_setting")  # as a store upgraded to 0009 is, until a command opens it
    before = everything()
    changed = request_csv(isolated, [ROWS[0].replace("129.90", "1.00")], name="changed.csv")
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\npolicy: lifecycle\n")  # a rule being tried
    result = loaded("ingest", "--dry-run", "--update", str(changed))
    assert result.code == 0 and "1 updated" in result.stderr, result
    assert everything() == before
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\n")
    assert loaded("list").stderr == ""  # the store's rule is the one its outcomes follow, not the tried one


def test_ingest_quiet_says_nothing_when_all_is_well_and_everything_when_not(cli, isolated):
    # what cron mails: nothing for an empty inbox or a good file, the problems and the summary otherwise
    inbox = isolated / "inbox"
    inbox.mkdir()
    result = cli("ingest", "--quiet", str(inbox))
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    good = request_csv(inbox, ROWS)
    result = cli("ingest", "-q", str(good), "--archive", str(isolated / "done"))
    assert (result.code, result.stderr) == (0, "") and (isolated / "done" / good.name).exists()
    bad = request_csv(isolated, [ROWS[0], ROWS[1].replace("129.90", "abc")], name="bad.csv")
    result = cli("ingest", "--quiet", str(bad), str(isolated / "missing.csv"))
    assert result.code == 1
    assert f"{bad}:3: amount 'abc' is not a decimal number" in result.stderr
    assert "missing.csv: no such file or folder" in result.stderr
    assert "1 quarantined" in result.stderr and "1 input refused" in result.stderr


def test_an_archive_folder_that_cannot_take_files_is_refused_before_anything_is_read(cli, isolated):
    good = request_csv(isolated, ROWS)
    (isolated / "afile").write_text("")
    result = cli("ingest", str(good), "--archive", str(isolated / "afile" / "done"))
    assert result.code == 2
    assert (
        result.stderr
        == f"paycli: --archive: cannot put files in {isolated / 'afile' / 'done'} (Not a directory)\n"
    )
    assert cli("list", "--format", "json").stdout.strip() == "[]" and good.exists()
    result = cli("ingest", "--dry-run", str(good), "--archive", str(isolated / "new"))
    assert result.code == 0 and not (isolated / "new").exists()  # a dry run creates nothing


def test_a_dry_run_with_archive_says_what_the_run_would_move_and_refuses_what_it_would(cli, isolated):
    good = request_csv(isolated, ROWS)
    (isolated / "afile").write_text("")
    for args in (["--dry-run"], []):  # the dry run refuses as the run does, and makes nothing either
        result = cli("ingest", *args, str(good), "--archive", str(isolated / "afile" / "done"))
        assert (result.code, result.stderr) == (
            2,
            f"paycli: --archive: cannot put files in {isolated / 'afile' / 'done'} (Not a directory)\n",
        )
    inbox, done = isolated / "inbox", isolated / "done"
    inbox.mkdir()
    done.mkdir()
    (done / "requests.csv").write_text("archived by an earlier run\n")
    request_csv(inbox, ROWS)
    (inbox / "sub").mkdir()
    request_csv(inbox / "sub", [*ROWS, "T9,O9,order,2026-11-26T10:15:00+01:00,X,,abc,EUR,nexi"])
    before = sorted((p, p.stat().st_mtime_ns) for p in isolated.rglob("*"))
    dry = cli("ingest", "--dry-run", "inbox", "--archive", "done")
    assert sorted((p, p.stat().st_mtime_ns) for p in isolated.rglob("*")) == before
    assert cli("list", "--format", "json").stdout.strip() == "[]"
    real = cli("ingest", "inbox", "--archive", "done")
    assert (dry.code, real.code) == (1, 1)
    moved = [
        "  archived inbox/requests.csv -> done/requests.1.csv",
        "  archived inbox/sub/requests.csv -> done/requests.2.csv",
    ]
    assert [line for line in real.stderr.splitlines() if "archived" in line] == moved
    assert [line for line in dry.stderr.splitlines() if "would archive" in line] == [
        line.replace("archived", "would archive") for line in moved
    ]
    assert "quarantined records would be kept" in dry.stderr and "records are kept" in real.stderr
    assert (
        real.stderr.replace("ingested", "would ingest")
        .replace("archived", "would archive")
        .replace("are kept", "would be kept")
        + "  dry run: nothing was changed\n"
        == dry.stderr
    )


def test_an_archive_folder_in_an_unknown_user_s_home_is_a_usage_error_not_a_crash(cli, isolated):
    good = request_csv(isolated, ROWS)
    result = cli("ingest", str(good), "--archive", "~no-such-user-x/done")
    assert (result.code, result.stderr) == (
        2,
        "paycli: --archive: '~no-such-user-x/done' names the home folder of no user\n",
    )
    assert good.exists()


def test_an_archive_folder_that_is_an_input_folder_is_refused_before_anything_is_read(cli, isolated):
    inbox = isolated / "inbox"
    inbox.mkdir()
    good = request_csv(inbox, ROWS)
    result = cli("ingest", "inbox", "--archive", "inbox")
    assert (result.code, result.stderr) == (
        2,
        "paycli: --archive: inbox is also an input folder: archive into another folder (one inside it is "
        "skipped when it is read)\n",
    )
    result = cli("ingest", str(good), "inbox/", "--archive", str(inbox))  # however it is written
    assert result.code == 2 and f"--archive: {inbox} is also the input folder inbox/:" in result.stderr
    assert cli("list", "--format", "json").stdout.strip() == "[]" and good.exists()
    # one inside an input folder is skipped: what is archived is never read, nor renamed, again
    for _ in range(3):
        result = cli("ingest", "inbox", "--archive", "inbox/done")
        assert result.code == 0, result
    assert [p.name for p in (inbox / "done").iterdir()] == [good.name]


NEXI = Path(__file__).parent / "gateways" / "samples" / "nexi" / "approved"


def nexi_with(isolated: Path, key_line: str) -> None:
    text = (NEXI / "paycli.yaml").read_text()
    (isolated / "paycli.yaml").write_text(
        text.replace("    mac_key: K7QX2M9PLR4TB8WZ6NDA3HVC1YJ5EUSG\n", key_line)
    )


def test_reprocess_all_reads_again_what_a_wrong_key_made_forged(cli, isolated, db_url):
    nexi_with(isolated, "    mac_key: WRONG0KEY0WRONG0KEY0WRONG0KEY000\n")
    cli("ingest", str(NEXI / "requests.csv"), str(NEXI / "01-approved.txt"))
    assert cli("show", "ORDNX4001-1", "--format", "json").stdout.count('"invalid"') == 1
    nexi_with(isolated, (NEXI / "paycli.yaml").read_text().split("\n")[3] + "\n")  # the right key
    assert cli("reprocess").stderr.startswith("reprocessed 0 quarantined messages")  # it was no quarantine
    result = cli("reprocess", "--all", "--gateway", "nexi")
    assert (result.code, result.stderr) == (
        0,
        "read 1 message again: 0 as before, 1 otherwise, 0 quarantined\n",
    )
    shown = json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)
    assert (shown["outcome"], [t["authenticity"] for t in shown["trail"]]) == ("POSITIVO", ["valid"])
    with Store.connect(db_url) as store:
        assert store.query("SELECT COUNT(*) AS n FROM response")[0]["n"] == 1  # the forged one is gone
        before = snapshot(store)
    result = cli("reprocess", "--all")
    assert result.stderr.startswith("read 1 message again: 1 as before, 0 otherwise")
    with Store.connect(db_url) as store:
        assert snapshot(store) == before  # reading again what reads the same changes nothing


def test_reprocess_all_makes_valid_what_no_key_left_unverifiable(cli, isolated):
    nexi_with(isolated, "")
    cli("ingest", str(NEXI / "requests.csv"), str(NEXI / "01-approved.txt"))
    shown = json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)
    assert [t["authenticity"] for t in shown["trail"]] == ["unverifiable"]
    nexi_with(isolated, (NEXI / "paycli.yaml").read_text().split("\n")[3] + "\n")
    result = cli("reprocess", "--all")
    assert result.stderr == "read 1 message again: 1 as before (1 now verified), 0 otherwise, 0 quarantined\n"
    shown = json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)
    assert [t["authenticity"] for t in shown["trail"]] == ["valid"] and shown["outcome"] == "POSITIVO"


def test_reprocess_all_without_the_key_keeps_a_forgery_forged(cli, isolated):
    # the key left out (or the gateway renamed) since: a forged approval read without any check must
    # not turn unverifiable, which would make its request POSITIVO
    nexi_with(isolated, "    mac_key: WRONG0KEY0WRONG0KEY0WRONG0KEY000\n")
    cli("ingest", str(NEXI / "requests.csv"), str(NEXI / "01-approved.txt"))
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["reason"] == "BAD_SIGNATURE"
    nexi_with(isolated, "")
    result = cli("reprocess", "--all")
    assert result.code == 0
    assert result.stderr == (
        "read 1 message again: 1 as before, 0 otherwise, 0 quarantined\n"
        "1 message that failed the authenticity check cannot be checked now (its gateway's secret, or "
        "PayPal's receiver_email, left out?): kept as failed, never taken as unverifiable; configure it and "
        "reprocess --all to check them again\n"
    )
    shown = json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)
    assert (shown["outcome"], shown["reason"]) == ("VERIFICARE", "BAD_SIGNATURE")
    assert [t["authenticity"] for t in shown["trail"]] == ["invalid"]
    # the right key then checks it and replaces it, as a fixed key does
    nexi_with(isolated, (NEXI / "paycli.yaml").read_text().split("\n")[3] + "\n")
    assert (
        cli("reprocess", "--all").stderr == "read 1 message again: 0 as before, 1 otherwise, 0 quarantined\n"
    )
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["outcome"] == "POSITIVO"


def test_reprocess_all_after_a_key_changed_says_why_genuine_messages_now_fail(cli, isolated):
    nexi_with(isolated, (NEXI / "paycli.yaml").read_text().split("\n")[3] + "\n")
    cli("ingest", str(NEXI / "requests.csv"), str(NEXI / "01-approved.txt"))
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["outcome"] == "POSITIVO"
    nexi_with(isolated, "    mac_key: ROTATED0KEY0ROTATED0KEY0ROTATED0\n")
    result = cli("reprocess", "--all")
    assert result.stderr.splitlines() == [
        "read 1 message again: 0 as before, 1 otherwise, 0 quarantined",
        "1 message verified before now fails the authenticity check: their requests are VERIFICARE "
        "(BAD_SIGNATURE). Did a secret change? A message signed with the earlier secret fails the new one: "
        "list the earlier one after it (the key takes a list: the current secret, then earlier ones) and "
        "reprocess --all to read them as before",
    ]
    assert "ROTATED0KEY" not in result.stderr


def test_reprocess_all_after_a_key_rotated_keeps_every_outcome_while_the_earlier_key_is_listed(cli, isolated):
    earlier = (NEXI / "paycli.yaml").read_text().split("\n")[3].removeprefix("    mac_key: ")
    nexi_with(isolated, f"    mac_key: {earlier}\n")
    cli("ingest", str(NEXI / "requests.csv"), str(NEXI / "01-approved.txt"))
    nexi_with(isolated, f"    mac_key:\n      - ROTATED0KEY0ROTATED0KEY0ROTATED0\n      - {earlier}\n")
    result = cli("reprocess", "--all")
    assert (result.code, result.stderr) == (
        0,
        "read 1 message again: 1 as before, 0 otherwise, 0 quarantined\n",
    )
    shown = json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)
    assert (shown["outcome"], [t["authenticity"] for t in shown["trail"]]) == ("POSITIVO", ["valid"])
    gateways = {r["name"]: r["secrets"] for r in json.loads(cli("gateways", "--format", "json").stdout)}
    assert gateways["nexi"] == {"mac_key": "set, with 1 earlier still accepted"}


def test_reprocess_all_says_when_messages_read_before_cannot_be_read_now(cli, isolated):
    nexi_with(isolated, (NEXI / "paycli.yaml").read_text().split("\n")[3] + "\n")
    cli("ingest", str(NEXI / "requests.csv"), str(NEXI / "01-approved.txt"))
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["outcome"] == "POSITIVO"
    (isolated / "paycli.yaml").write_text("gateways:\n  nexi:\n    provider: skrill\n")  # re-pointed
    result = cli("reprocess", "--all")
    assert result.code == 1
    assert result.stderr.splitlines()[-2:] == [
        "read 1 message again: 0 as before, 0 otherwise, 1 quarantined",
        "1 message read before cannot be read now: quarantined, and what they said withdrawn from their "
        "requests (`paycli messages` lists them). Did a gateway's provider or settings change? Put the "
        "configuration back, and `paycli reprocess` reads them again",
    ]
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["reason"] == "NO_RESPONSE"
    nexi_with(isolated, (NEXI / "paycli.yaml").read_text().split("\n")[3] + "\n")
    assert cli("reprocess").stderr == "reprocessed 1 quarantined message: 1 now read, 0 still quarantined\n"
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["outcome"] == "POSITIVO"


def test_reprocess_all_ties_a_paypal_capture_stored_before_to_its_authorization(cli, isolated, db_url):
    import shutil

    sample = Path(__file__).parent / "gateways" / "samples" / "paypal" / "authorization-capture"
    for item in sample.iterdir():
        shutil.copy(item, isolated / item.name)
    cli("ingest", "requests.csv", "01-authorization.txt", "02-capture.txt")
    assert json.loads(cli("show", "ORD-PP-2301-1", "--format", "json").stdout)["outcome"] == "POSITIVO"
    with Store.connect(db_url) as store, store.transaction():  # as a paycli that read no auth_id stored it
        store.execute("UPDATE response SET gateway_txn_id = '9XY87654ZW3210987' WHERE status = 'approved'")
        store.execute("DELETE FROM gateway_alias")
    assert cli("recompute").code == 0
    shown = json.loads(cli("show", "ORD-PP-2301-1", "--format", "json").stdout)
    assert (shown["outcome"], shown["detail"]) == ("VERIFICARE", "conflicting")
    result = cli("reprocess", "--all")
    assert result.stderr == (
        "read 2 messages again: 2 as before (1 tied to another gateway transaction), 0 otherwise, "
        "0 quarantined\n"
    )
    assert json.loads(cli("show", "ORD-PP-2301-1", "--format", "json").stdout)["outcome"] == "POSITIVO"
    with Store.connect(db_url) as store:
        rows = store.query("SELECT provider, alias, gateway_txn_id FROM gateway_alias")
        # by name: a PostgreSQL row is a mapping, whose tuple is its keys
        assert [(r["provider"], r["alias"], r["gateway_txn_id"]) for r in rows] == [
            ("paypal", "9XY87654ZW3210987", "6AB12345CD6789012")
        ]
        before = snapshot(store)
    assert cli("reprocess", "--all").stderr.startswith("read 2 messages again: 2 as before, 0 otherwise")
    with Store.connect(db_url) as store:
        assert snapshot(store) == before


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            (1, "requests.csv", 5_000_000, 12_300_000, 40_000, 4.0),
            "ingesting requests.csv: 40% of 12.3 MB, 40,000 records (10,000/s)",
        ),
        ((1, "requests.csv", 0, 12_300_000, 0, 0.1), "ingesting requests.csv: 0% of 12.3 MB, 0 records"),
        (
            (3, "inbox/cb-3.json", 812, 812, 1, 0.5),
            "ingesting inbox/cb-3.json (input 3): 100% of 812 B, 1 record",
        ),
        (
            (1, "<stdin>", 2_500_000, None, 20_000, 2.0),
            "ingesting <stdin>: 2.5 MB read, 20,000 records (10,000/s)",
        ),
        ((1, "empty.csv", 0, 0, 0, 0.0), "ingesting empty.csv: 0 B read, 0 records"),
        ((2, "grown.csv", 2048, 1024, 0, 0.0), "ingesting grown.csv (input 2): 100% of 1.0 kB, 0 records"),
    ],
    ids=["a-file", "its-start", "a-folder's-third", "stdin", "empty", "grown-meanwhile"],
)
def test_the_ingest_progress_line_says_which_input_how_far_and_how_fast(args, line):
    from paycli.commands.ingest import describe_progress

    assert describe_progress(*args) == line


def test_a_long_input_name_keeps_its_end_in_the_progress_line():
    from paycli.commands.ingest import describe_progress

    name = "/srv/shop/exports/2026/11/27/requests-export-nightly-full.csv"
    line = describe_progress(1, name, 5_000_000, 10_000_000, 40_000, 4.0, width=66)
    assert line == "ingesting …tly-full.csv: 50% of 10.0 MB, 40,000 records (10,000/s)"
    assert len(line) == 66


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("name", ["requests.csv", "[red]requests[bold].csv"])
def test_the_ingest_progress_bar_is_on_the_terminal_of_stderr_never_in_the_data(isolated, db_url, name):
    # the second: a file's name is shown as it is, never read as Rich markup (a link, a colour)
    import subprocess
    import sys

    request_csv(isolated, ROWS, name=name)
    terminal, stderr = os.openpty()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "paycli", "--db", db_url, "ingest", name],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
            timeout=60,
        )
    finally:
        os.close(stderr)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the terminal has nothing more
        while chunk := os.read(terminal, 65536):
            shown += chunk
    os.close(terminal)
    assert run.returncode == 0 and run.stdout == b""
    assert f"ingesting {name}: ".encode() in shown and b"% of " in shown, shown


def test_the_configuration_and_its_secret_files_are_never_ingested(cli, isolated, db_url):
    (isolated / "nexi.key").write_text("S3CRET-nexi-key\n")
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  nexi:\n    mac_key_file: nexi.key\n"
    )
    result = cli("ingest", "--gateway", "nexi", str(isolated / "paycli.yaml"), str(isolated / "nexi.key"))
    assert result.code == 1
    for name in ("paycli.yaml", "nexi.key"):
        assert (
            f"{isolated / name}: is paycli's configuration or a secret file: never ingested" in result.stderr
        )
    with Store.connect(db_url) as store:
        assert store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] == 0
    result = cli("ingest", "--gateway", "nexi", str(isolated))  # in a folder too
    assert result.stderr.count("never ingested") == 2


def test_an_unexpected_error_is_one_line_and_not_the_exit_code_of_work_done(cli, monkeypatch):
    import paycli.queries

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(paycli.queries, "show_request", broken)
    result = cli("show", "ORD-1-1")
    assert result.code == 70
    assert result.stderr == "paycli: unexpected error: RuntimeError: a bug (run with --debug for details)\n"


def test_an_unexpected_error_with_debug_shows_its_traceback_and_keeps_its_exit_code(cli, monkeypatch):
    import paycli.queries

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(paycli.queries, "show_request", broken)
    result = cli("--debug", "show", "ORD-1-1")
    # 70, as without --debug (it was 1, the exit code of work done, to a script run with --debug)
    assert result.code == 70
    assert result.stderr.startswith("Traceback (most recent call last):\n") and "in broken\n" in result.stderr
    assert result.stderr.endswith("RuntimeError: a bug\npaycli: unexpected error: RuntimeError: a bug\n")
    # and an argument that is not UTF-8 is still a usage error
    monkeypatch.undo()
    result = cli("--debug", "show", os.fsdecode(b"ORD-\xff"))
    assert result.code == 2 and "Traceback" in result.stderr
    assert result.stderr.endswith("paycli: an argument is not UTF-8 text: run it again in a UTF-8 locale\n")


def test_an_unexpected_database_error_is_one_line_without_its_sql_or_parameters(cli, monkeypatch):
    import sqlite3

    import sqlalchemy.exc

    import paycli.queries

    def broken(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError(
            "SELECT raw FROM message WHERE reference = ?",
            ("ORD-1-1",),
            sqlite3.OperationalError("disk I/O error"),
        )

    monkeypatch.setattr(paycli.queries, "show_request", broken)
    result = cli("show", "ORD-1-1")
    assert result.code == 70
    assert result.stderr == (
        "paycli: unexpected error: OperationalError: (sqlite3.OperationalError) disk I/O error"
        " (run with --debug for details)\n"
    )


def test_an_unknown_gateway_for_ingest_is_a_usage_error(cli, isolated):
    result = cli("ingest", "--gateway", "nope", str(request_csv(isolated, ROWS)))
    assert result.code == 2 and "--gateway: no gateway 'nope'" in result.stderr


def test_reprocess_of_an_unknown_gateway_is_a_usage_error(cli, isolated):
    # a typo (or the provider's name instead of the gateway's) must not say "reprocessed 0"
    result = cli("reprocess", "--gateway", "nope")
    assert result.code == 2 and "--gateway: no gateway 'nope' (available: requests" in result.stderr


def test_gateways_lists_the_installed_providers(cli):
    rows = json.loads(cli("gateways", "--format", "json").stdout)
    assert any(r["provider"] == "requests" for r in rows)


def test_gateways_lists_a_gateway_the_stored_requests_name_that_the_configuration_no_longer_has(
    cli, isolated
):
    # nexi renamed in the configuration: its stored requests still name nexi, and nothing said so
    before = cli("gateways")  # no store yet: none read (none needed)
    assert before.code == 0 and "stored request" not in before.stdout, before
    assert cli("ingest", str(request_csv(isolated, ROWS))).code == 0
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  xpay:\n    provider: nexi\n"
        "  stripe: {}\n  paypal: {}\n  skrill: {}\n  axerve: {}\n"
    )
    result = cli("gateways", "--format", "json")
    assert result.code == 0, result
    [old] = [r for r in json.loads(result.stdout) if r["name"] == "nexi"]
    assert (old["provider"], old["configured"], old["reads"]) == (
        "-",
        False,
        "nothing: 2 stored requests name it",
    )
    assert "renamed or removed" in old["description"]
    assert "nexi      -           no            nothing: 2 stored requests name it" in cli("gateways").stdout


def test_gateways_shows_each_secret_that_cannot_be_had_and_why_where_other_commands_stop(
    cli, isolated, monkeypatch
):
    monkeypatch.delenv("PAYCLI_TEST_UNSET", raising=False)
    monkeypatch.setenv("PAYCLI_TEST_MAC", "mac-key-value-7731")
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\n"
        "gateways:\n"
        "  stripe:\n    webhook_secret: ${PAYCLI_TEST_UNSET}\n"
        "  skrill:\n    merchant_id: '52918473'\n    secret_word_file: missing.txt\n"
        "  nexi:\n    mac_key: ${PAYCLI_TEST_MAC}\n"
        "serve:\n  token: ${PAYCLI_TEST_UNSET}\n"
    )
    result = cli("gateways", "--format", "json")
    assert result.code == 0, result
    secrets = {r["name"]: r["secrets"] for r in json.loads(result.stdout)}
    assert secrets["stripe"] == {
        "webhook_secret": "not set (environment variable PAYCLI_TEST_UNSET is not set)"
    }
    assert secrets["skrill"]["secret_word"].startswith("not set (names no file (the value is the file's path")
    assert secrets["nexi"] == {"mac_key": "set"}
    assert result.stderr.strip() == "note: serve.token: environment variable PAYCLI_TEST_UNSET is not set"
    assert "mac-key-value-7731" not in result.stdout + result.stderr
    # every other command still refuses to run without them, naming the first
    stopped = cli("list")
    assert stopped.code == 2
    assert (
        "gateways.stripe.webhook_secret: environment variable PAYCLI_TEST_UNSET is not set" in stopped.stderr
    )
    # an earlier secret that cannot be had leaves the key unset, as the current one would
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\n"
        "gateways:\n"
        "  stripe:\n    webhook_secret: ['${PAYCLI_TEST_MAC}', '${PAYCLI_TEST_UNSET}']\n"
        "  nexi:\n    mac_key: ['${PAYCLI_TEST_MAC}', earlier-key-1, earlier-key-2]\n"
    )
    result = cli("gateways", "--format", "json")
    secrets = {r["name"]: r["secrets"] for r in json.loads(result.stdout)}
    assert secrets["stripe"] == {
        "webhook_secret": "not set (environment variable PAYCLI_TEST_UNSET is not set)"
    }
    assert secrets["nexi"] == {"mac_key": "set, with 2 earlier still accepted"}
    assert "mac-key-value-7731" not in result.stdout + result.stderr and "earlier-key" not in result.stdout
    stopped = cli("list")
    assert (
        "gateways.stripe.webhook_secret[1]: environment variable PAYCLI_TEST_UNSET is not set"
        in stopped.stderr
    )


# -- configuration and store errors ---------------------------------------------------------------
def test_a_misspelt_configuration_key_exits_2_naming_file_and_key(cli, isolated):
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\npolcy: strict\n")
    result = cli("list")
    assert result.code == 2
    assert result.stderr.strip() == "paycli: paycli.yaml: polcy: unknown key (did you mean 'policy'?)"


def test_a_db_that_is_not_a_database_exits_2_and_is_left_alone(cli, isolated):
    junk = isolated / "notes.db"
    junk.write_text("these are my notes, not a database\n" * 100)
    result = cli("--db", str(junk), "list", db=False)
    assert result.code == 2
    assert "is not a usable SQLite database (file is not a database)" in result.stderr
    assert junk.read_text().startswith("these are my notes")


def test_a_new_sqlite_store_is_readable_by_its_owner_only(cli, isolated):
    path = isolated / "new" / "store.db"
    assert cli("--db", str(path), "ingest", str(request_csv(isolated, ROWS)), db=False).code == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_store_defaults_to_the_user_data_folder(cli, isolated):
    assert cli("ingest", str(request_csv(isolated, ROWS)), db=False).code == 0
    assert (Path(os.environ["XDG_DATA_HOME"]) / "paycli" / "paycli.db").exists()
    assert "ORD-1" in cli("list", db=False).stdout


def test_paycli_db_environment_variable_chooses_the_store(cli, isolated, monkeypatch):
    monkeypatch.setenv("PAYCLI_DB", f"sqlite:///{isolated / 'env.db'}")
    assert cli("ingest", str(request_csv(isolated, ROWS)), db=False).code == 0
    assert (isolated / "env.db").exists()
    assert "ORD-1" in cli("list", db=False).stdout


NO_STORE_HINT = "(paycli ingest creates one; check --db, PAYCLI_DB or database: in the configuration)"
ONLY_READING = [
    ("list",),
    ("show", "ORD-1-1"),
    ("order", "ORD-1"),
    ("messages",),
    ("report", "--date", "2026-11-20", "--out", "reports/", "--fail-on", "VERIFICARE", "--quiet"),
    ("db", "status"),
    ("recompute",),
    ("reprocess", "--all"),
    ("resolve", "ORD-1-1", "--as", "POSITIVO", "--note", "seen in the back office"),
    ("dismiss", "1", "--note", "fixed"),
]


@pytest.mark.parametrize("args", ONLY_READING, ids=lambda args: " ".join(args[:2]))
def test_a_command_that_finds_no_store_says_so_and_makes_none(cli, isolated, args):
    """A typo in --db, cron under another HOME: each such command made an empty store there and answered
    from it (the nightly report --fail-on VERIFICARE an empty one, exit 0: a false all-clear)."""
    typo = isolated / "paycli.bd"
    result = cli("--db", str(typo), *args, db=False)
    assert (result.code, result.stdout) == (2, ""), result
    assert result.stderr == f"paycli: no store at {typo} {NO_STORE_HINT}\n"
    assert sorted(p.name for p in isolated.iterdir()) == ["paycli.yaml"]  # no store, no report


def test_a_store_path_from_the_environment_or_the_configuration_that_holds_none_is_named(
    cli, isolated, monkeypatch
):
    default = Path(os.environ["XDG_DATA_HOME"]) / "paycli" / "paycli.db"
    assert cli("list", db=False).stderr == f"paycli: no store at {default} {NO_STORE_HINT}\n"
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ndatabase: sqlite:////var/lib/paycli/paycli.db\n"
    )
    result = cli("report", "--quiet", db=False)
    assert (result.code, result.stderr) == (
        2,
        f"paycli: no store at /var/lib/paycli/paycli.db {NO_STORE_HINT}\n",
    )
    monkeypatch.setenv("PAYCLI_DB", "relative/paycli.db")  # named whole: cron runs in another folder
    result = cli("list", db=False)
    assert result.stderr == f"paycli: no store at {isolated / 'relative/paycli.db'} {NO_STORE_HINT}\n"
    assert not default.exists() and not Path("/var/lib/paycli/paycli.db").exists()
    assert not (isolated / "relative").exists()


def test_an_empty_file_is_no_store_and_stays_empty(cli, isolated):
    empty = isolated / "paycli.db"
    empty.touch()
    result = cli("--db", str(empty), "list", db=False)
    assert result.stderr == f"paycli: no store at {empty}: the file is empty {NO_STORE_HINT}\n"
    assert result.code == 2 and empty.stat().st_size == 0


def test_ingest_and_db_upgrade_make_the_store_that_is_not_there(cli, isolated):
    requests = str(request_csv(isolated, ROWS))
    assert cli("--db", str(isolated / "a.db"), "ingest", "--dry-run", requests, db=False).code == 0
    assert not (isolated / "a.db").exists()  # a dry run makes none
    assert cli("--db", str(isolated / "a.db"), "ingest", requests, db=False).code == 0
    assert cli("--db", str(isolated / "b.db"), "db", "upgrade", db=False).code == 0
    for name in ("a.db", "b.db"):
        assert cli("--db", str(isolated / name), "db", "status", db=False).code == 0


# -- help -----------------------------------------------------------------------------------------
def all_commands() -> list[list[str]]:
    from typer.main import get_command

    root = get_command(app)
    found = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        if subs:
            found += [[name, sub] for sub in subs]
        else:
            found.append([name])
    return found


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example(cli, command):
    result = cli(*command, "-h", db=False)
    assert result.code == 0
    assert "Example" in result.stdout, f"paycli {' '.join(command)} -h shows no example"


def test_help_says_where_the_configuration_is_found(cli):
    # it said "the search order of the README": --help alone did not tell where cron's paycli looks
    text = " ".join(cli("-h", db=False).stdout.split())
    assert "PAYCLI_CONFIG, ./paycli.yaml, $XDG_CONFIG_HOME/paycli/config.yaml" in text
    assert "/etc/paycli/config.yaml" in text


def test_python_dash_m_paycli_works():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "paycli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("paycli ")


@pytest.mark.parametrize(
    "command",
    [
        ("list", "--format", "csv", "--limit", "3000"),
        ("list", "--format", "ndjson", "--limit", "3000"),
        ("list", "--format", "table", "--limit", "3000"),
        ("report", "--date", "2026-11-20", "--format", "csv", "--out", "-"),
        ("report", "--date", "2026-11-20", "--format", "html", "--out", "-"),
    ],
    ids=lambda command: f"{command[0]}-{command[command.index('--format') + 1]}",
)
def test_a_reader_that_stops_early_is_no_error(cli, isolated, db_url, command):
    import subprocess
    import sys

    rows = [f"P{i},O{i},order,2026-11-20T09:00:00+01:00,Customer {i},,10.00,EUR,nexi" for i in range(3000)]
    assert cli("ingest", str(request_csv(isolated, rows))).code == 0
    # paycli list | head -1: far more than a pipe holds, and the reader goes after one line
    listing = subprocess.Popen(
        [sys.executable, "-m", "paycli", "--db", db_url, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert listing.stdout is not None and listing.stderr is not None
    listing.stdout.readline()
    listing.stdout.close()
    with listing.stderr:
        said = listing.stderr.read()
    assert (listing.wait(timeout=60), said) == (0, b"")


def test_an_ingest_whose_reader_goes_away_reads_every_record_and_exits_as_its_work_says(
    cli, isolated, db_url
):
    import subprocess
    import sys

    # paycli ingest file 2>&1 | head -1: the errors fill the pipe, the reader goes after one line
    rows = [f"Q-{i},Q,order,2026-11-20T09:00:00,x,,1;00,EUR,nexi" for i in range(3000)]
    path = request_csv(isolated, rows)
    ingest = subprocess.Popen(
        [sys.executable, "-m", "paycli", "--db", db_url, "ingest", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert ingest.stdout is not None
    assert b"is not a decimal number" in ingest.stdout.readline()
    ingest.stdout.close()
    assert ingest.wait(timeout=60) == 1  # records were quarantined: all of them, not the first batch's
    with Store.open(db_url) as store:
        assert store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] == 3000


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (("ingest", "requests.csv"), 1),
        (("resolve", "ORD-1-1", "--as", "NEGATIVO", "--note", "no charge in the back office"), 0),
        (("report", "--date", "2026-11-20", "--out", "out/", "--fail-on", "VERIFICARE"), 1),
        (("recompute",), 0),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else None,
)
def test_a_command_that_writes_does_its_work_when_its_output_is_a_closed_pipe(
    loaded, isolated, db_url, command, code
):
    import subprocess
    import sys

    bad = "BAD-1,,other,2026-11-20T10:00:00,x,,1;00,EUR,nexi"
    request_csv(isolated, [bad, "NEW-1,,other,2026-11-20T11:00:00+01:00,y,,2.00,EUR,nexi"])
    closed, pipe = os.pipe()
    os.close(closed)  # no reader at all: the first message meets a closed pipe
    try:
        run = subprocess.run(
            [sys.executable, "-m", "paycli", "--db", db_url, *command], stdout=pipe, stderr=pipe, timeout=60
        )
    finally:
        os.close(pipe)
    assert run.returncode == code
    with Store.open(db_url) as store:
        if command[0] == "ingest":
            # the quarantined line was said (to no one), and the line after it read
            assert (
                store.query("SELECT COUNT(*) AS n FROM payment_request WHERE txn_id = 'NEW-1'")[0]["n"] == 1
            )
        if command[0] == "resolve":
            assert store.query("SELECT outcome FROM payment_request WHERE txn_id = 'ORD-1-1'")[0][
                "outcome"
            ] == ("NEGATIVO")
    if command[0] == "report":
        assert (isolated / "out" / "paycli-report-2026-11-20.html").is_file()


@pytest.mark.parametrize(("read_only", "code"), [(True, 0), (False, 70)])
def test_a_closed_pipe_that_is_no_reader_of_the_output_is_an_error_of_a_command_that_writes(read_only, code):
    import typer

    from paycli.cli import guarded

    def command() -> None:
        raise BrokenPipeError(32, "Broken pipe")  # a mail server that hung up, say

    with pytest.raises(typer.Exit) as exited:
        guarded(command, read_only=read_only)()
    assert exited.value.exit_code == code


def test_secrets_reach_no_output_of_any_command(cli, isolated, monkeypatch, db_url):
    import shutil

    monkeypatch.setenv("SKRILL_WORD", "S3CRET-skrill-word")
    secrets = {"whsec_T0PS3CRET-stripe", "S3CRET-nexi-key", "S3CRET-skrill-word"}
    (isolated / "nexi.key").write_text("S3CRET-nexi-key\n")
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\ngateways:\n  stripe:\n    webhook_secret: whsec_T0PS3CRET-stripe\n"
        "  nexi:\n    mac_key_file: nexi.key\n  skrill:\n    secret_word: ${SKRILL_WORD}\n"
    )
    sample = Path(__file__).parent / "gateways" / "samples" / "stripe" / "forged"
    for item in sample.iterdir():
        if item.name not in ("paycli.yaml", "expected.json"):
            shutil.copy(item, isolated / item.name)
    # credentials a capture tool saved beside the bodies: in sidecars, and in a raw HTTP dump
    secrets |= {"S3CRET-sidecar-bearer", "S3CRET-cookie", "UzNDUkVULWR1bXA="}
    credentials = "Authorization: Bearer S3CRET-sidecar-bearer\nCookie: sid=S3CRET-cookie\n"
    for sidecar in isolated.glob("0[12]-*.headers"):
        sidecar.write_text(sidecar.read_text() + credentials)
    genuine = isolated / "03-genuine.json"
    sidecar = genuine.with_name(genuine.name + ".headers")
    head = "".join(f"{line}\r\n" for line in sidecar.read_text().splitlines())
    (isolated / "03-genuine.http").write_bytes(
        f"POST /callbacks/stripe HTTP/1.1\r\n{head}Authorization: Basic UzNDUkVULWR1bXA=\r\n\r\n".encode()
        + genuine.read_bytes()
    )
    genuine.unlink()
    sidecar.unlink()
    runs = [
        cli("gateways", "--format", "json"),
        cli("gateways"),
        cli("--debug", "ingest", str(isolated)),
        cli("list", "--format", "json"),
    ]
    for txn in json.loads(runs[-1].stdout):
        runs.append(cli("show", txn["txn_id"], "--raw"))
        runs.append(cli("show", txn["txn_id"], "--format", "json", "--raw"))
    runs.append(cli("--debug", "--config", str(isolated / "missing.yaml"), "list"))
    assert [r.code for r in runs[:4]] == [0, 0, 1, 0]  # the forged sample holds a quarantined message
    assert len(runs) > 6 and all(r.code == 0 for r in runs[4:-1])
    assert any("invalid" in r.stdout for r in runs[4:-1])  # the forged events were checked with the secret
    assert any("Authorization: ***" in r.stdout for r in runs[4:-1])  # the dump, stored as it came
    assert any("03-genuine.http" in r.stdout for r in runs[4:-1])  # the dump was read as the event
    with Store.connect(db_url) as store:
        stored = "".join(r["headers"] or "" for r in store.query("SELECT headers FROM message"))
    assert "Stripe-Signature: " in stored and "S3CRET" not in stored  # a sidecar's credentials are not kept
    for run in runs:
        for secret in secrets:
            assert secret not in run.stdout + run.stderr


def test_show_raw_masks_credentials_in_a_dump_that_is_not_utf_8(cli, isolated):
    import shutil

    sample = Path(__file__).parent / "gateways" / "samples" / "paypal" / "charsets"
    for name in ("paycli.yaml", "requests.csv"):
        shutil.copy(sample / name, isolated / name)
    body = (sample / "01-windows-1252.txt").read_bytes().strip()
    head = "POST /callbacks/paypal HTTP/1.1\r\nHost: shop.example\r\nAuthorization: Basic S3CRET\xe9\r\n"
    (isolated / "ipn.http").write_bytes(
        head.encode("latin-1") + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    assert cli("ingest", "requests.csv").code == 0
    assert cli("ingest", "ipn.http").code == 0
    shown = json.loads(cli("show", "CAFFÈ-3001", "--format", "json", "--raw").stdout)
    [message] = [m for entry in shown["trail"] for m in entry.get("messages", [])]
    assert message["encoding"] == "hex"  # a Latin-1 header: not UTF-8, so printed byte for byte
    printed = bytes.fromhex(message["body"])
    assert b"S3CRET" not in printed and b"Authorization: ***\r\n" in printed
    assert printed.endswith(body)


def test_messages_lists_what_no_request_shows(cli, isolated):
    bad = request_csv(isolated, [ROWS[0], ROWS[1].replace("129.90", "abc")])
    assert cli("ingest", str(bad)).code == 1
    [row] = json.loads(cli("messages", "--format", "json").stdout)
    assert (row["state"], row["source"], row["reason"]) == (
        "quarantined",
        f"{bad}:3",
        "amount 'abc' is not a decimal number",
    )
    assert json.loads(cli("messages", "--state", "orphan", "--format", "json").stdout) == []
    assert "No unlinked message." in cli("messages", "--state", "unlinked").stderr
    result = cli("messages", "--state", "lost")
    assert result.code == 2 and "--state: 'lost' is not one of" in result.stderr


def test_messages_lists_an_orphan_until_its_request_arrives(cli, isolated):
    from tests.gateways.test_guarantees import nexi_callback

    (isolated / "cb.txt").write_bytes(nexi_callback("ORD-9-1", "OK", "k"))
    cli("ingest", str(isolated / "cb.txt"))
    [row] = json.loads(cli("messages", "--state", "orphan", "--format", "json").stdout)
    assert (row["provider"], row["reference"]) == ("nexi", "ORD-9-1")
    cli(
        "ingest",
        str(
            request_csv(
                isolated, ["ORD-9-1,ORD-9,order,2026-11-20T09:00:00+01:00,A,,19.90,EUR,nexi"], name="r.csv"
            )
        ),
    )
    assert json.loads(cli("messages", "--state", "orphan", "--format", "json").stdout) == []


def nexi_and_skrill(isolated: Path) -> None:
    skrill = (NEXI.parents[1] / "skrill" / "approved" / "paycli.yaml").read_text().split("gateways:\n")[1]
    (isolated / "paycli.yaml").write_text((NEXI / "paycli.yaml").read_text() + skrill)


def test_a_message_forced_on_the_wrong_gateway_is_read_by_the_right_one_later(cli, isolated, db_url):
    nexi_and_skrill(isolated)
    callback = str(NEXI / "01-approved.txt")
    assert cli("ingest", str(NEXI / "requests.csv")).code == 0
    wrong = cli("ingest", "--gateway", "skrill", callback)
    assert (wrong.code, "1 quarantined" in wrong.stderr) == (1, True)
    right = cli("ingest", callback)
    assert right.code == 0, right
    assert "quarantined before as skrill's, read now as nexi's" in right.stderr
    assert json.loads(cli("show", "ORDNX4001-1", "--format", "json").stdout)["outcome"] == "POSITIVO"
    with Store.connect(db_url) as store:
        assert [(r["provider"], r["state"]) for r in store.query("SELECT provider, state FROM message")] == [
            ("nexi", "response")
        ]
        before = snapshot(store)
    # forced on the wrong gateway again: the message stored well stands, and nothing is said quarantined
    again = cli("ingest", "--gateway", "skrill", callback)
    assert (again.code, "1 already stored" in again.stderr, "quarantined" in again.stderr) == (0, True, False)
    with Store.connect(db_url) as store:
        assert snapshot(store) == before


def test_reprocess_leaves_the_messages_of_a_gateway_no_longer_configured_as_they_were_read(cli, isolated):
    bank = NEXI.parents[1] / "csv" / "approved"
    text = (bank / "paycli.yaml").read_text()
    (isolated / "paycli.yaml").write_text(text)
    assert cli("ingest", str(bank / "requests.csv"), str(bank / "01-movimenti.csv")).code == 0
    (isolated / "paycli.yaml").write_text(text.replace("  mybank:", "  bank:"))  # the gateway renamed
    result = cli("reprocess", "--all")
    assert result.code == 0, result
    said = result.stderr.splitlines()
    assert said.count("provider 'mybank' is not configured: its messages stay as they were read") == 1
    assert said[-1].endswith(", 0 otherwise, 0 quarantined")


def test_dismiss_sets_a_quarantined_record_aside_with_its_audit_note_and_undo_puts_it_back(cli, isolated):
    result = cli("ingest", str(request_csv(isolated, [ROWS[0], ROWS[1].replace("129.90", "abc")])))
    assert result.code == 1
    [bad] = json.loads(cli("messages", "--format", "json").stdout)
    assert bad["state"] == "quarantined" and bad["source"].endswith("requests.csv:3")
    # refused, and nothing changed: a note is the audit record; an unknown id or one not quarantined
    assert cli("dismiss", str(bad["id"])).code == 2
    missing = cli("dismiss", str(bad["id"]), "99999", "--note", "fixed")
    assert (missing.code, missing.stderr) == (
        3,
        "paycli: no message 99999 (paycli messages lists them with their id)\n",
    )
    assert cli("messages", "--format", "json").stdout.count('"quarantined"') == 1
    done = cli("dismiss", str(bad["id"]), "--note", "line fixed and  ingested again", "--by", "anna")
    assert (done.code, done.stderr) == (0, "1 message dismissed by anna\n")
    assert json.loads(cli("messages", "--format", "json").stdout) == []
    assert cli("reprocess").code == 0  # nothing left quarantined: a cron reprocess is quiet again
    [aside] = json.loads(cli("messages", "--state", "dismissed", "--format", "json").stdout)
    assert aside["reason"].startswith("amount 'abc' is not a decimal number; dismissed by anna at ")
    assert aside["reason"].endswith(": line fixed and ingested again")
    again = cli("dismiss", str(bad["id"]), "--note", "twice")
    assert (again.code, again.stderr) == (
        2,
        f"paycli: only a quarantined message can be dismissed: {bad['id']} is dismissed\n",
    )
    assert cli("dismiss", str(bad["id"]), "--undo", "--note", "by mistake", "--by", "bruno").code == 0
    [back] = json.loads(cli("messages", "--format", "json").stdout)
    assert back["state"] == "quarantined" and "; put back by bruno at " in back["reason"]
    assert cli("reprocess").code == 1


def test_a_dismissed_line_is_not_said_again_when_its_file_comes_again(cli, isolated):
    # the operator dismissed a bad line and a conflicting one; the shop's export brings both again every
    # night: their old reasons were printed as news (with exit 0) each time
    first = request_csv(isolated, [ROWS[0], ROWS[1].replace("129.90", "abc")])
    assert cli("ingest", str(first)).code == 1
    changed = request_csv(isolated, [ROWS[0].replace("129.90", "130.00")], name="changed.csv")
    assert cli("ingest", str(changed)).code == 1
    bad = json.loads(cli("messages", "--format", "json").stdout)
    assert len(bad) == 2
    assert cli("dismiss", *(str(m["id"]) for m in bad), "--note", "sent again fixed").code == 0
    again = cli("ingest", str(first), str(changed))
    assert again.code == 0, again
    assert "not a decimal number" not in again.stderr and "use --update" not in again.stderr, again.stderr
    assert "2 already stored" in again.stderr
    # one still quarantined is still said, and still fails the run
    assert cli("dismiss", str(bad[0]["id"]), "--undo", "--note", "not fixed after all").code == 0
    back = cli("ingest", str(first), str(changed))
    assert back.code == 1
    said = [line for line in back.stderr.splitlines() if "requests.csv:3" in line or "changed.csv:2" in line]
    assert len(said) == 1, back.stderr


def test_a_message_dismissed_after_a_wrong_gateway_is_read_when_its_file_comes_again(cli, isolated):
    # forced on the wrong gateway, quarantined, dismissed ("ingesting it again"): the refund was then
    # "already stored" for good, and the paid request stayed POSITIVO
    samples = Path(__file__).parent / "gateways" / "samples" / "paypal" / "refund-after-approval"
    (isolated / "paycli.yaml").write_text((samples / "paycli.yaml").read_text() + "  skrill: {}\n")
    refund = samples / "02-refunded.txt"
    assert cli("ingest", str(samples / "requests.csv"), str(samples / "01-completed.txt")).code == 0
    assert cli("ingest", "--gateway", "skrill", str(refund)).code == 1
    [wrong] = json.loads(cli("messages", "--format", "json").stdout)
    assert cli("dismiss", str(wrong["id"]), "--note", "forced on skrill", "--by", "anna").code == 0
    again = cli("ingest", str(refund))
    assert again.code == 0 and "dismissed before as skrill's, read now as paypal's" in again.stderr, again
    [request] = json.loads(cli("list", "--order", "ORD-PP-2501", "--format", "json").stdout)
    assert (request["outcome"], request["detail"]) == ("VERIFICARE", "refund_after_approval")
    # the dismissal's audit stays with the message
    notes = [
        m["reason"] for m in json.loads(cli("messages", "--state", "response", "--format", "json").stdout)
    ]
    assert any(n and "dismissed by anna at " in n and n.endswith(": forced on skrill") for n in notes), notes


def test_reprocess_keeps_the_audit_of_a_dismissal_put_back(cli, isolated):
    # a line that says otherwise than its stored request: quarantined, read again by reprocess (a
    # message deleted and stored anew), its dismissal and undo were erased
    assert cli("ingest", str(request_csv(isolated, [ROWS[0]]))).code == 0
    changed = request_csv(isolated, [ROWS[0].replace("129.90", "130.00")], name="changed.csv")
    assert cli("ingest", str(changed)).code == 1
    [bad] = json.loads(cli("messages", "--format", "json").stdout)
    assert cli("dismiss", str(bad["id"]), "--note", "looking", "--by", "anna").code == 0
    assert cli("dismiss", str(bad["id"]), "--undo", "--note", "found it", "--by", "bruno").code == 0
    assert cli("reprocess").code == 1
    [still] = json.loads(cli("messages", "--format", "json").stdout)
    assert "dismissed by anna at " in still["reason"] and "put back by bruno at " in still["reason"]


def test_only_serve_needs_the_receiver_s_token(cli, isolated, monkeypatch):
    # a cron ingest or report, run without the receiver's ${PAYCLI_SERVE_TOKEN} in its environment
    monkeypatch.delenv("PAYCLI_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("PAYCLI_STRIPE_SECRET", raising=False)
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\nserve:\n  token: ${PAYCLI_SERVE_TOKEN}\n")
    assert cli("list").code == 0
    result = cli("serve", "--port", "0")
    assert (
        result.code == 2
        and "serve.token: environment variable PAYCLI_SERVE_TOKEN is not set" in result.stderr
    )
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\nserve:\n  token: ${PAYCLI_SERVE_TOKEN}\n"
        "gateways:\n  stripe:\n    webhook_secret: ${PAYCLI_STRIPE_SECRET}\n"
    )
    result = cli("list")  # a gateway's secret is every command's: said, as always
    assert result.code == 2 and "gateways.stripe.webhook_secret: environment variable" in result.stderr
