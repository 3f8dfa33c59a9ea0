"""The configured CSV provider on the shapes real Italian bank exports take (CBI and home-banking
exports, files saved again by Excel): money in Dare/Avere columns, an outcome in two columns, the
date and the time apart, a preamble of varying length, ids a spreadsheet rewrote, a delimiter at the
end of every row. Each is an optional setting; a configuration without it reads as it always did.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from paycli.errors import ConfigError
from paycli.outcome import Status
from tests.gateways.test_csvfile import (
    BANK,
    bank,
    export,
    quarantined,
    records,
    response,
)

# -- money in two columns: Dare (debit, money out) and Avere (credit, money in) ----------------------
DARE_AVERE_HEADER = "Data operazione;ID operazione;Dare;Avere;Divisa;Causale;Esito;Note"
DARE_AVERE = BANK.replace("      amount: Importo\n", "      debit: Dare\n      credit: Avere\n")


def movement(
    debit: str = "", credit: str = "129,90", status: str = "ESEGUITO", ref: str = "ORD-1001-1"
) -> str:
    return ";".join(("26/11/2026 10:15", "900001", debit, credit, "EUR", f"Pagamento {ref}", status, ""))


def dare_avere(tmp_path, *rows: str, text: str = DARE_AVERE):
    return records(bank(tmp_path, text), export(*rows, header=DARE_AVERE_HEADER))


def test_a_credit_is_a_payment_and_a_debit_a_refund_of_its_size(tmp_path):
    provider = bank(tmp_path, DARE_AVERE)
    paid = response(provider, movement(credit="1.234,56"), header=DARE_AVERE_HEADER)
    assert paid.status is Status.APPROVED and paid.amount_minor == 123456
    refund = response(
        provider, movement(debit="129,90", credit="", status="RIMBORSATO"), header=DARE_AVERE_HEADER
    )
    assert refund.status is Status.REFUNDED and refund.amount_minor == 12990
    # some banks write the debit with its minus too: it is money out all the same
    minus = response(
        provider, movement(debit="-129,90", credit="", status="STORNATO"), header=DARE_AVERE_HEADER
    )
    assert minus.status is Status.REVERSED and minus.amount_minor == 12990


def test_a_debit_for_an_approval_is_not_a_payment(tmp_path):
    provider = bank(tmp_path, DARE_AVERE)
    assert quarantined(provider, movement(debit="129,90", credit=""), header=DARE_AVERE_HEADER) == (
        "column 'Dare': amount '129,90' is money out (debit) for status approved"
    )


def test_a_zero_in_the_other_column_is_an_empty_one_but_two_amounts_are_refused(tmp_path):
    provider = bank(tmp_path, DARE_AVERE)
    assert (
        response(provider, movement(debit="0,00", credit="129,90"), header=DARE_AVERE_HEADER).amount_minor
        == 12990
    )
    refund = response(
        provider, movement(debit="50,00", credit="0", status="RIMBORSATO"), header=DARE_AVERE_HEADER
    )
    assert refund.amount_minor == 5000
    assert quarantined(provider, movement(debit="10,00", credit="129,90"), header=DARE_AVERE_HEADER) == (
        "columns 'Dare' and 'Avere' (debit and credit) both hold an amount: one of them must be empty"
    )


def test_both_columns_empty_is_no_amount(tmp_path):
    provider = bank(tmp_path, DARE_AVERE)
    refused = response(provider, movement(credit="", status="RIFIUTATO"), header=DARE_AVERE_HEADER)
    assert refused.amount_minor is None
    assert quarantined(provider, movement(credit=""), header=DARE_AVERE_HEADER) == (
        "columns 'Dare' and 'Avere' (debit and credit) are both empty"
    )


def test_a_bad_amount_in_either_column_names_it(tmp_path):
    provider = bank(tmp_path, DARE_AVERE)
    reason = quarantined(
        provider, movement(debit="1,2,3", credit="", status="RIMBORSATO"), header=DARE_AVERE_HEADER
    )
    assert reason.startswith("column 'Dare': amount '1,2,3' is not a decimal number")
    reason = quarantined(provider, movement(credit="abc"), header=DARE_AVERE_HEADER)
    assert reason.startswith("column 'Avere': amount 'abc' is not a decimal number")


def test_a_debit_and_a_credit_of_one_row_otherwise_alike_are_two_responses(tmp_path):
    text = "\n".join(line for line in DARE_AVERE.splitlines() if "dedupe_key" not in line) + "\n"
    got = dare_avere(
        tmp_path,
        movement(debit="", credit="129,90", status="RIMBORSATO"),
        movement(debit="129,90", credit="", status="RIMBORSATO"),
        text=text,
    )
    assert len({r.dedupe_key for r in got}) == 2  # type: ignore[union-attr]


def test_reinterpret_reads_a_dare_avere_row_as_extract_did(tmp_path):
    got = dare_avere(
        tmp_path,
        movement(),
        movement(debit="5,00", credit="", status="RIMBORSATO"),
        movement(debit="1", credit="2"),
    )
    fresh = bank(tmp_path, DARE_AVERE)
    assert [fresh.reinterpret(r.origin) for r in got] == got


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            "      debit: Dare\n",
            "gateways.mybank.columns.credit: required with debit: a Dare/Avere export's money out and money in columns",
        ),
        (
            "      credit: Avere\n",
            "gateways.mybank.columns.debit: required with credit",
        ),
        (
            "      amount: Importo\n      debit: Dare\n      credit: Avere\n",
            "gateways.mybank.columns.debit: map either amount (one signed column) or debit and credit (two columns), not both",
        ),
        (
            "",
            "gateways.mybank.columns.amount: required column mapping is missing (or map debit and credit",
        ),
        (
            "      debit: Dare\n      credit: dare\n",
            "gateways.mybank.columns.credit: the column 'dare' is already mapped to debit",
        ),
    ],
)
def test_the_money_columns_are_checked_on_load(tmp_path, columns, message):
    text = BANK.replace("      amount: Importo\n", columns)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bank(tmp_path, text)


def test_a_dare_avere_export_without_its_columns_is_refused_naming_them(tmp_path):
    from paycli.gateways.base import SourceError
    from tests.gateways.test_csvfile import HEADER, row

    provider = bank(tmp_path, DARE_AVERE)
    with pytest.raises(SourceError, match=r"column 'Dare' \(columns\.debit\) is not in the header"):
        records(provider, export(row(), header=HEADER.replace("Importo", "Dare x")))


# -- the outcome in two columns: Esito and Codice esito --------------------------------------------
ESITO_HEADER = "Data operazione;ID operazione;Importo;Divisa;Causale;Esito;Codice esito;Note"
ESITO = (
    BANK.replace("      status: Esito\n", "      status: Esito\n      status_detail: Codice esito\n")
    .replace("      approved: [ESEGUITO, OK]\n", '      approved: [OK, "OK + 00"]\n')
    .replace("      refused: [RIFIUTATO, KO]\n", "      refused: [KO, ANNULLATO]\n")
    .replace("      pending: IN CORSO\n", '      pending: "KO + 91"\n')
    .replace("      refunded: RIMBORSATO\n", '      refunded: "OK+RIMBORSO"\n')
    .replace("      reversed: STORNATO\n", '      reversed: ["OK + STORNO", " ok  +  chargeback "]\n')
)


def outcome(esito: str, codice: str, amount: str = "129,90") -> str:
    return ";".join(("26/11/2026 10:15", "900001", amount, "EUR", "Pagamento ORD-1001-1", esito, codice, ""))


@pytest.mark.parametrize(
    ("esito", "codice", "status", "raw"),
    [
        ("OK", "00", Status.APPROVED, "OK + 00"),
        ("OK", "", Status.APPROVED, "OK"),
        ("ok", "stornO", Status.REVERSED, "ok + stornO"),
        ("OK", "CHARGEBACK", Status.REVERSED, "OK + CHARGEBACK"),
        ("OK", "RIMBORSO", Status.REFUNDED, "OK + RIMBORSO"),
        ("KO", "91", Status.PENDING, "KO + 91"),
        # a pair not listed: the status column's word decides, the detail is kept beside it
        ("KO", "05", Status.REFUSED, "KO + 05"),
        ("OK", "42", Status.APPROVED, "OK + 42"),
        ("SOSPESO", "12", Status.UNKNOWN, "SOSPESO + 12"),
        ("", "ANNULLATO", Status.REFUSED, "ANNULLATO"),  # no word in the status column: the detail's
    ],
)
def test_the_status_and_its_detail_column_decide_together(tmp_path, esito, codice, status, raw):
    provider = bank(tmp_path, ESITO)
    got = response(provider, outcome(esito, codice), header=ESITO_HEADER)
    assert (got.status, got.raw_status) == (status, raw)


def test_the_same_operation_with_another_detail_is_another_response_under_a_dedupe_key(tmp_path):
    got = records(
        bank(tmp_path, ESITO), export(outcome("OK", "00"), outcome("OK", "STORNO"), header=ESITO_HEADER)
    )
    assert [r.dedupe_key for r in got] == ["900001|approved", "900001|reversed"]  # type: ignore[union-attr]


def test_reinterpret_reads_a_status_pair_as_extract_did(tmp_path):
    got = records(
        bank(tmp_path, ESITO),
        export(outcome("OK", "00"), outcome("KO", "91"), outcome("X", "Y"), header=ESITO_HEADER),
    )
    fresh = bank(tmp_path, ESITO)
    assert [fresh.reinterpret(r.origin) for r in got] == got  # type: ignore[union-attr]


def test_without_status_detail_a_plus_is_part_of_a_word_as_before(tmp_path):
    provider = bank(tmp_path, BANK.replace("      approved: [ESEGUITO, OK]\n", '      approved: ["C+"]\n'))
    from tests.gateways.test_csvfile import row

    assert response(provider, row(status="C+")).status is Status.APPROVED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace('"KO + 91"', '"KO + 91 + 2"'),
            "gateways.mybank.status_map.pending: 'KO + 91 + 2' is neither a word nor a pair such as 'KO + 05'",
        ),
        (
            lambda t: t.replace('"KO + 91"', '"KO +"'),
            "gateways.mybank.status_map.pending: 'KO +' is neither a word nor a pair",
        ),
        (
            lambda t: t.replace('"KO + 91"', '"ok+storno"'),
            "gateways.mybank.status_map.reversed[0]: 'OK + STORNO' is already mapped to pending",
        ),
        (
            lambda t: t.replace("status_detail: Codice esito", "status_detail: esito"),
            "gateways.mybank.columns.status_detail: the column 'esito' is already mapped to status",
        ),
    ],
)
def test_status_pairs_are_checked_on_load(tmp_path, change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        bank(tmp_path, change(ESITO))


# -- a preamble whose length varies from file to file: header_pattern -----------------------------
def statement(*preamble: str) -> bytes:
    from tests.gateways.test_csvfile import HEADER, row

    lines = [*preamble, HEADER, row(), row(ref="Pagamento ORD-1002-1", txn="900002")]
    return "".join(line + "\r\n" for line in lines).encode("cp1252")


SHORT = ("Banca Esempio S.p.A.;;;;;;", "Movimenti dal 01/11/2026 al 26/11/2026;;;;;;")
LONG = (
    "Banca Esempio S.p.A.;;;;;;",
    "Conto corrente 000012345678 - Bottega Esempio S.r.l.;;;;;;",
    "",
    "Movimenti dal 01/11/2026 al 26/11/2026;;;;;;",
    "Saldo iniziale al 01/11/2026;;12.345,67;EUR;;;",
    ";;;;;;",
)
FOUND = BANK + '    header_pattern: "^Data operazione;"\n'


@pytest.mark.parametrize("preamble", [(), SHORT, LONG], ids=["none", "two lines", "six lines"])
def test_header_pattern_finds_the_header_under_any_preamble(tmp_path, preamble):
    from tests.gateways.test_csvfile import source

    provider = bank(tmp_path, FOUND)
    data = statement(*preamble)
    assert provider.identify(source(data))
    got = records(provider, data)
    assert [r.reference for r in got] == ["ORD-1001-1", "ORD-1002-1"]  # type: ignore[union-attr]
    assert got[0].origin.line == len(preamble) + 2
    fresh = bank(tmp_path, FOUND)
    assert [fresh.reinterpret(r.origin) for r in got] == got


def test_header_pattern_looks_after_skip_lines(tmp_path):
    # a title line that the pattern would find too, skipped first
    provider = bank(tmp_path, FOUND + "    skip_lines: 1\n")
    got = records(provider, statement("Data operazione: 26/11/2026;;;;;;", *SHORT))
    assert len(got) == 2 and got[0].origin.line == 5


def test_a_file_whose_header_header_pattern_does_not_find_is_refused_saying_where_it_is(tmp_path):
    from paycli.gateways.base import SourceError
    from tests.gateways.test_csvfile import source

    provider = bank(tmp_path, BANK + '    header_pattern: "^Data contabile;"\n')
    data = statement(*SHORT)
    assert not provider.identify(source(data))
    with pytest.raises(SourceError) as info:
        records(provider, data)
    assert str(info.value) == (
        "no line of its first 1000 after skip_lines is found by header_pattern '^Data contabile;' "
        "(gateways.mybank.header_pattern); its header row is line 3: set gateways.mybank.header_pattern "
        "'^Data contabile;' to find it (it finds none first)"
    )
    assert provider.near_miss(source(data)) == (
        "mybank: its header row is line 3: set gateways.mybank.header_pattern '^Data contabile;' to find "
        "it (it finds none first)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("''", "gateways.mybank.header_pattern: is empty"),
        ('"^Data ("', "gateways.mybank.header_pattern: not a regular expression (missing ), unterminated"),
    ],
)
def test_header_pattern_is_checked_on_load(tmp_path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        bank(tmp_path, BANK + f"    header_pattern: {value}\n")


# -- the date and the time in two columns: columns.time, time_format --------------------------------
TIMED_HEADER = "Data operazione;Ora;ID operazione;Importo;Divisa;Causale;Esito;Note"
TIMED = BANK.replace(
    "      date: Data operazione\n", "      date: Data operazione\n      time: Ora\n"
).replace('date_format: "%d/%m/%Y %H:%M"', 'date_format: "%d/%m/%Y"\n    time_format: "%H:%M"')


def timed(day: str = "26/11/2026", clock: str = "10:15") -> str:
    return ";".join((day, clock, "900001", "129,90", "EUR", "Pagamento ORD-1001-1", "ESEGUITO", ""))


@pytest.mark.parametrize(
    ("day", "clock", "utc"),
    [
        ("26/11/2026", "10:15", datetime(2026, 11, 26, 9, 15, tzinfo=UTC)),
        ("01/07/2026", "10:15", datetime(2026, 7, 1, 8, 15, tzinfo=UTC)),  # summer time
        ("25/10/2026", "02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # the repeated hour: the first
        ("26/11/2026", "", datetime(2026, 11, 25, 23, 0, tzinfo=UTC)),  # no time: the start of the day
    ],
)
def test_the_date_and_the_time_columns_are_read_together_in_the_configured_zone(tmp_path, day, clock, utc):
    assert response(bank(tmp_path, TIMED), timed(day, clock), header=TIMED_HEADER).occurred_at == utc


def test_time_format_defaults_to_hours_minutes_seconds(tmp_path):
    provider = bank(tmp_path, TIMED.replace('    time_format: "%H:%M"\n', ""))
    got = response(provider, timed(clock="10:15:30"), header=TIMED_HEADER)
    assert got.occurred_at == datetime(2026, 11, 26, 9, 15, 30, tzinfo=UTC)


def test_iso_dates_with_a_time_column(tmp_path):
    text = TIMED.replace('date_format: "%d/%m/%Y"\n    time_format: "%H:%M"', "date_format: iso")
    got = response(bank(tmp_path, text), timed("2026-11-26", "10:15:30"), header=TIMED_HEADER)
    assert got.occurred_at == datetime(2026, 11, 26, 9, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "clock", "reason"),
    [
        (
            "26/11/2026",
            "25:00",
            "column 'Ora': time '25:00' does not match time_format '%H:%M' (or is no such time)",
        ),
        (
            "26/11/2026",
            "10.15",
            "column 'Ora': time '10.15' does not match time_format '%H:%M' (or is no such time)",
        ),
        ("31/11/2026", "10:15", "column 'Data operazione': date '31/11/2026' has the shape of date_format"),
        ("", "10:15", "column 'Ora' has a time, 10:15, but column 'Data operazione' no date"),
    ],
)
def test_a_bad_date_or_time_is_quarantined_naming_its_column(tmp_path, day, clock, reason):
    got = quarantined(bank(tmp_path, TIMED), timed(day, clock), header=TIMED_HEADER)
    assert got.startswith(reason)


def test_reinterpret_reads_a_date_and_time_as_extract_did(tmp_path):
    got = records(
        bank(tmp_path, TIMED), export(timed(), timed(clock="99"), timed(clock=""), header=TIMED_HEADER)
    )
    fresh = bank(tmp_path, TIMED)
    assert [fresh.reinterpret(r.origin) for r in got] == got


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace('date_format: "%d/%m/%Y"', 'date_format: "%d/%m/%Y %H:%M"'),
            "gateways.mybank.date_format: '%d/%m/%Y %H:%M' reads a time, but columns.time holds it: give the date alone",
        ),
        (
            lambda t: t.replace("      time: Ora\n", ""),
            "gateways.mybank.time_format: there is no columns.time to read with it",
        ),
        (
            lambda t: t.replace("      date: Data operazione\n", ""),
            "gateways.mybank.columns.time: needs columns.date: a time alone is no moment",
        ),
        (
            lambda t: t.replace('time_format: "%H:%M"', 'time_format: "%d %H:%M"'),
            "gateways.mybank.time_format: '%d %H:%M' reads more than the time: the date is in columns.date",
        ),
        (
            lambda t: t.replace('time_format: "%H:%M"', 'time_format: "ore"'),
            "gateways.mybank.time_format: 'ore' is not a strptime time format such as %H:%M:%S",
        ),
        (
            lambda t: t.replace('time_format: "%H:%M"', 'time_format: "%M:%S"'),
            "gateways.mybank.time_format: '%M:%S' must give the hour",
        ),
        (
            lambda t: t.replace('date_format: "%d/%m/%Y"', "date_format: iso"),
            "gateways.mybank.time_format: date_format iso reads the time as ISO 8601 too: leave it out",
        ),
    ],
)
def test_the_time_settings_are_checked_on_load(tmp_path, change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        bank(tmp_path, change(TIMED))


# -- ids a spreadsheet rewrote: id_columns ----------------------------------------------------------
IDS = BANK + "    id_columns: {ID operazione: 12, Causale: any}\n"


@pytest.mark.parametrize("written", ["1,23457E+15", "1.23457E+15", "1E+15", "4,5e-3"])
def test_an_id_in_scientific_notation_is_refused_naming_the_cell(tmp_path, written):
    from tests.gateways.test_csvfile import row

    assert quarantined(bank(tmp_path, IDS), row(txn=written)) == (
        f"column 'ID operazione': '{written}' is an id a spreadsheet wrote in scientific notation; the id "
        "is lost: export the file again, without opening and saving it in a spreadsheet"
    )


def test_an_id_shorter_than_its_digits_lost_its_leading_zeros(tmp_path):
    from tests.gateways.test_csvfile import row

    provider = bank(tmp_path, IDS)
    assert quarantined(provider, row(txn="12345678")) == (
        "column 'ID operazione': '12345678' has 8 digits, not 12 (id_columns): a spreadsheet dropped its "
        "leading zeros; the id is lost: export the file again, without opening and saving it in a spreadsheet"
    )
    assert response(provider, row(txn="000012345678")).gateway_txn_id == "000012345678"
    assert response(provider, row(txn="AB12")).gateway_txn_id == "AB12"  # not a number: not Excel's doing
    # any length: only scientific notation is refused
    assert "column 'Causale': '8,01234E+11' is an id" in quarantined(
        provider, row(ref="8,01234E+11", txn="000000900001")
    )
    assert response(provider, row(txn="000000900001")).reference == "ORD-1001-1"


def test_without_id_columns_an_id_is_read_as_written_as_before(tmp_path):
    from tests.gateways.test_csvfile import row

    assert response(bank(tmp_path), row(txn="1,23457E+15")).gateway_txn_id == "1,23457E+15"


def test_reinterpret_refuses_a_rewritten_id_as_extract_did(tmp_path):
    from tests.gateways.test_csvfile import export as export_rows
    from tests.gateways.test_csvfile import row

    got = records(
        bank(tmp_path, IDS), export_rows(row(txn="000012345678"), row(txn="1,2E+11"), row(txn="12"))
    )
    assert [type(r).__name__ for r in got] == ["ResponseRecord", "QuarantinedRecord", "QuarantinedRecord"]
    fresh = bank(tmp_path, IDS)
    assert [fresh.reinterpret(r.origin) for r in got] == got


def test_an_id_column_missing_from_the_header_is_named(tmp_path):
    from paycli.gateways.base import SourceError
    from tests.gateways.test_csvfile import row, source

    provider = bank(tmp_path, BANK + "    id_columns: {Numero: any}\n")
    data = export(row())
    assert not provider.identify(source(data))
    with pytest.raises(SourceError, match=r"column 'Numero' \(id_columns\) is not in the header"):
        records(provider, data)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[ID operazione]", "gateways.mybank.id_columns: expected a mapping"),
        ("{ID operazione: -1}", "gateways.mybank.id_columns.ID operazione: expected the number of digits"),
        (
            "{ID operazione: twelve}",
            "gateways.mybank.id_columns.ID operazione: expected the number of digits",
        ),
        (
            "{ID operazione: any, id operazione: 3}",
            "gateways.mybank.id_columns: column 'id operazione' is named twice",
        ),
    ],
)
def test_id_columns_is_checked_on_load(tmp_path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        bank(tmp_path, BANK + f"    id_columns: {value}\n")


# -- a delimiter at the end of every row: trailing_delimiter ----------------------------------------
TRAILING = BANK + "    trailing_delimiter: true\n"


def test_a_delimiter_at_the_end_of_every_row_but_not_the_header_is_dropped(tmp_path):
    from tests.gateways.test_csvfile import row

    provider = bank(tmp_path, TRAILING)
    data = export(row() + ";", row(ref="Pagamento ORD-1002-1", txn="900002") + ";", row(txn="900003"))
    got = records(provider, data)
    assert [r.reference for r in got] == ["ORD-1001-1", "ORD-1002-1", "ORD-1001-1"]  # type: ignore[union-attr]
    # a quoted note over two lines, then the trailing delimiter: one record
    note = response(provider, row(note='"Nota\r\nsu due righe"') + ";")
    assert note.reference == "ORD-1001-1"
    fresh = bank(tmp_path, TRAILING)
    assert [fresh.reinterpret(r.origin) for r in got] == got


def test_a_header_that_ends_with_the_delimiter_too_is_read(tmp_path):
    from tests.gateways.test_csvfile import HEADER, row

    provider = bank(tmp_path, TRAILING)
    got = records(provider, export(row() + ";", row(txn="900002"), header=HEADER + ";"))
    assert [type(r).__name__ for r in got] == ["ResponseRecord", "ResponseRecord"]
    fresh = bank(tmp_path, TRAILING)
    assert [fresh.reinterpret(r.origin) for r in got] == got


def test_a_field_too_many_that_is_not_empty_is_still_refused(tmp_path):
    from tests.gateways.test_csvfile import row

    provider = bank(tmp_path, TRAILING)
    assert quarantined(provider, row() + ";extra") == "expected 7 fields, found 8"
    assert quarantined(provider, row() + ";;") == "expected 7 fields, found 9"


def test_without_trailing_delimiter_the_empty_field_is_a_field_too_many_as_before(tmp_path):
    from tests.gateways.test_csvfile import row

    assert quarantined(bank(tmp_path), row() + ";") == "expected 7 fields, found 8"


# -- through the pipeline: reprocess after a configuration fix --------------------------------------
def test_reprocess_reads_an_ambiguous_amount_once_the_grouping_is_configured(tmp_path, store):
    """A home-banking export under a preamble, Dare/Avere, date and time apart, a delimiter at the end
    of each row: first configured without its number marks, its 12.500 is refused, not read as
    12.50; told the marks, reprocess reads the stored row as the twelve thousand five hundred it is."""
    from paycli.queries import show_request
    from tests.conftest import REQUEST_HEADER
    from tests.gateways.test_csvfile import ingest, load, reprocess

    requests = tmp_path / "requests.csv"
    requests.write_text(
        REQUEST_HEADER + "ORD-1001-1,ORD-1001,order,2026-11-26T10:00:00+01:00,Rossi,,12500.00,EUR,mybank\n"
    )
    config = """\
timezone: Europe/Rome
gateways:
  mybank:
    provider: csv
    encoding: cp1252
    delimiter: ";"
    trailing_delimiter: true
    header_pattern: "^Data contabile;"
    date_format: "%d/%m/%Y"
    time_format: "%H:%M"
    currency: EUR
    columns: {reference: Descrizione, debit: Dare, credit: Avere, status: Stato, date: Data contabile, time: Ora}
    status_map: {approved: CONTABILIZZATO}
    reference_pattern: "ORD-[0-9]+-[0-9]+"
"""
    path = tmp_path / "movimenti.csv"
    path.write_bytes(
        (
            "Banca Esempio S.p.A.;;;;;\r\n"
            "Movimenti dal 01/11/2026 al 26/11/2026;;;;;\r\n"
            "Data contabile;Ora;Dare;Avere;Descrizione;Stato\r\n"
            "26/11/2026;10:15;;12.500;BONIFICO SEPA DA ROSSI MARIO ORD-1001-1;CONTABILIZZATO;\r\n"
        ).encode("cp1252")
    )
    ingest(store, load(tmp_path, config), requests, path)
    (message,) = store.query("SELECT state, error FROM message WHERE provider = 'mybank'")
    assert message["state"] == "quarantined"
    assert message["error"].startswith("column 'Avere': amount '12.500' is ambiguous")
    fixed = load(tmp_path, config + '    decimal_mark: ","\n    thousands_separator: "."\n')
    tallies = reprocess(store, fixed)
    assert tallies["mybank"].responses_new == 1 and tallies["mybank"].quarantined == 0
    shown = show_request(store, "ORD-1001-1", fixed.timezone)
    assert (shown["outcome"], shown["reason"]) == ("POSITIVO", None)
    (response_row,) = store.query("SELECT amount_minor FROM response")
    assert response_row["amount_minor"] == 1250000


def test_an_export_without_a_date_column_is_read_as_before(tmp_path):
    """No date column: no time of the payment, and no error (the date reader is not asked for one)."""
    from tests.gateways.test_csvfile import row

    got = response(bank(tmp_path, BANK.replace("      date: Data operazione\n", "")), row())
    assert got.occurred_at is None and got.amount_minor == 12990
