"""The configured CSV provider, as a specification: a bank or gateway export described in YAML.

The main example is an Italian bank's card-acquiring export: Windows-1252, `;` separated, decimal
comma with `.` grouping, dates as `26/11/2026 10:15` in Europe/Rome, status words ESEGUITO, RIFIUTATO,
IN CORSO, STORNATO. The provider is not registered as an entry point yet, so the configuration is
loaded here with its settings added to the installed ones (``load``), exactly as the loader will
check them once it is.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from paycli import gateways
from paycli.config import Config, load_config
from paycli.errors import ConfigError, RecordError
from paycli.gateways import datenames
from paycli.gateways.base import (
    HEAD_BYTES,
    InfoRecord,
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    ResponseRecord,
    Source,
    SourceError,
)
from paycli.gateways.csvfile import CsvProvider, _date_parser
from paycli.ingest import Ingest
from paycli.money import parse_amount
from paycli.outcome import Authenticity, Outcome, Status
from paycli.queries import show_request
from paycli.resolutions import resolve
from paycli.store import Store
from tests.conftest import REQUEST_HEADER

HEADER = "Data operazione;ID operazione;Importo;Divisa;Causale;Esito;Note"

BANK = """\
timezone: Europe/Rome
gateways:
  mybank:
    provider: csv
    encoding: cp1252
    delimiter: ";"
    decimal_mark: ","
    thousands_separator: "."
    date_format: "%d/%m/%Y %H:%M"
    columns:
      reference: Causale
      amount: Importo
      currency: Divisa
      status: Esito
      date: Data operazione
      gateway_txn_id: ID operazione
    status_map:
      approved: [ESEGUITO, OK]
      refused: [RIFIUTATO, KO]
      pending: IN CORSO
      refunded: RIMBORSATO
      reversed: STORNATO
    reference_pattern: "ORD-[0-9]+-[0-9]+"
    dedupe_key: [ID operazione]
"""


def load(tmp_path: Path, text: str) -> Config:
    """The configuration in ``text``, checked with the CSV provider's settings as the loader will."""
    classes = {**gateways.installed(), "csv": CsvProvider}
    path = tmp_path / "paycli.yaml"
    path.write_text(text)
    return load_config(path, gateways.settings_specs(classes), requests_spec=classes["requests"].settings)


def bank(tmp_path: Path, text: str = BANK, name: str = "mybank") -> CsvProvider:
    config = load(tmp_path, text)
    return CsvProvider(name, config.gateways[name].settings, config)


def with_settings(extra: str, base: str = BANK) -> str:
    return base + "".join(f"    {line}\n" for line in extra.strip().splitlines())


def without(key: str, base: str = BANK) -> str:
    return "".join(line + "\n" for line in base.splitlines() if not line.startswith(f"    {key}:"))


def export(*rows: str, header: str = HEADER, encoding: str = "cp1252", newline: str = "\r\n") -> bytes:
    return "".join(line + newline for line in (header, *rows)).encode(encoding)


def row(
    ref: str = "Pagamento ORD-1001-1",
    amount: str = "129,90",
    status: str = "ESEGUITO",
    *,
    when: str = "26/11/2026 10:15",
    txn: str = "900001",
    currency: str = "EUR",
    note: str = "Società Rossi",
) -> str:
    return ";".join((when, txn, amount, currency, ref, status, note))


def source(data: bytes, name: str = "movimenti.csv") -> Source:
    return Source.from_stream(name, io.BytesIO(data))


def records(provider: Provider, data: bytes, name: str = "movimenti.csv") -> list[Record]:
    return [r for r in provider.extract(source(data, name)) if not isinstance(r, Notice)]


def one(provider: Provider, *rows: str, **kw: Any) -> Record:
    (record,) = records(provider, export(*rows, **kw))
    return record


def response(provider: Provider, *rows: str, **kw: Any) -> ResponseRecord:
    record = one(provider, *rows, **kw)
    assert isinstance(record, ResponseRecord), record
    return record


def quarantined(provider: Provider, *rows: str, **kw: Any) -> str:
    record = one(provider, *rows, **kw)
    assert isinstance(record, QuarantinedRecord), record
    return record.reason


# -- the configuration is checked when it is loaded, and every error names its key -----------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace("      amount: Importo\n", ""),
            "gateways.mybank.columns.amount: required column mapping is missing",
        ),
        (
            lambda t: t.replace("      reference: Causale", "      refrence: Causale"),
            "gateways.mybank.columns.refrence: not a field paycli reads (did you mean 'reference'?)",
        ),
        (
            lambda t: t.replace("      status: Esito", "      status: importo"),
            "gateways.mybank.columns.status: the column 'importo' is already mapped to amount",
        ),
        (
            lambda t: t.replace("      approved:", "      aproved:"),
            "gateways.mybank.status_map.aproved: not a paycli status (did you mean 'approved'?)",
        ),
        (
            lambda t: t.replace("      pending: IN CORSO", "      pending: [IN CORSO, ok]"),
            "gateways.mybank.status_map.pending[1]: 'ok' is already mapped to approved",
        ),
        (
            lambda t: t.replace("[RIFIUTATO, KO]", "[RIFIUTATO, no]"),
            "gateways.mybank.status_map.refused[1]: YAML reads this as true or false; put the word in quotes",
        ),
        (
            lambda t: t.replace("      reversed: STORNATO", "      unknown: BOH"),
            "gateways.mybank.status_map.unknown: unknown is what an unmapped word already means",
        ),
        (
            lambda t: t.replace('"%d/%m/%Y %H:%M"', '"dd/mm/yyyy"'),
            "gateways.mybank.date_format: 'dd/mm/yyyy' is neither iso nor a strptime format",
        ),
        (
            lambda t: t.replace('"%d/%m/%Y %H:%M"', '"%d/%m %H:%M"'),
            "gateways.mybank.date_format: '%d/%m %H:%M' must give the day, the month and the year",
        ),
        (
            lambda t: t.replace('"%d/%m/%Y %H:%M"', '"%d/%m/%Y %Z"'),
            "gateways.mybank.date_format: '%d/%m/%Y %Z' cannot read the dates it describes",
        ),
        (
            # the same word but for its spacing, as rows are looked up
            lambda t: t.replace("refunded: RIMBORSATO", "refunded: [RIMBORSATO, IN  CORSO]"),
            "gateways.mybank.status_map.refunded[1]: 'IN  CORSO' is already mapped to pending",
        ),
        (
            lambda t: t.replace('"%d/%m/%Y %H:%M"', '"%d/%m/%Y %I:%M"'),
            "gateways.mybank.date_format: '%d/%m/%Y %I:%M' has a 12-hour %I without %p (AM/PM)",
        ),
        (
            lambda t: t.replace("encoding: cp1252", "encoding: utf-16"),
            "gateways.mybank.encoding: 'utf-16' is not an ASCII-compatible encoding",
        ),
        (
            lambda t: t.replace("encoding: cp1252", "encoding: klingon"),
            "gateways.mybank.encoding: unknown encoding 'klingon'",
        ),
        (
            lambda t: t.replace("encoding: cp1252", "encoding: base64"),
            "gateways.mybank.encoding: 'base64' is not a text encoding (e.g. utf-8, cp1252, latin-1)",
        ),
        (
            lambda t: t.replace("encoding: cp1252", "encoding: rot13"),
            "gateways.mybank.encoding: 'rot13' is not a text encoding",
        ),
        (
            lambda t: t.replace("encoding: cp1252", "encoding: punycode"),
            "gateways.mybank.encoding: 'punycode' is not an ASCII-compatible encoding",
        ),
        (
            lambda t: t.replace("encoding: cp1252", "encoding: undefined"),
            "gateways.mybank.encoding: 'undefined' is not an ASCII-compatible encoding",
        ),
        (
            lambda t: t.replace('delimiter: ";"', 'delimiter: ";;"'),
            "gateways.mybank.delimiter: expected one character such as ; , | or tab, got ';;'",
        ),
        (
            lambda t: t.replace('decimal_mark: ","', 'decimal_mark: "0"'),
            "gateways.mybank.decimal_mark: expected one character such as . or ,",
        ),
        (
            lambda t: with_settings("currency: EURO", t),
            "gateways.mybank.currency: unknown currency 'EURO'",
        ),
        (
            lambda t: with_settings("timezone: Europe/Roma", t),
            "gateways.mybank.timezone: unknown time zone 'Europe/Roma' (did you mean 'Europe/Rome'?)",
        ),
        (
            lambda t: t.replace('"ORD-[0-9]+-[0-9]+"', '"ORD-([0-9]+"'),
            "gateways.mybank.reference_pattern: not a regular expression",
        ),
        (
            lambda t: t.replace('"ORD-[0-9]+-[0-9]+"', "''"),
            "gateways.mybank.reference_pattern: is empty",
        ),
        (
            lambda t: t.replace('"ORD-[0-9]+-[0-9]+"', '"(ORD)-([0-9]+)"'),
            "gateways.mybank.reference_pattern: has 2 groups: keep one, or name the one",
        ),
        (
            lambda t: t.replace("[ID operazione]", "[ID operazione, id operazione]"),
            "gateways.mybank.dedupe_key: column 'id operazione' is named twice",
        ),
        (
            lambda t: with_settings("date_language: italian", t),
            "gateways.mybank.date_language: expected one of en, it, es, fr, de, pt, nl, got 'italian'",
        ),
        (
            lambda t: with_settings("amount_unit: cents", t),
            "gateways.mybank.amount_unit: expected one of major, minor, got 'cents'",
        ),
        (
            lambda t: with_settings("match: {header: [Importo]}", t),
            "gateways.mybank.match.header: unknown key (did you mean 'header_contains'?)",
        ),
        (
            lambda t: with_settings("skip_lines: -1", t),
            "gateways.mybank.skip_lines: must be between 0 and 1000, got -1",
        ),
        (
            lambda t: t.replace('    delimiter: ";"', '    delimeter: ";"'),
            "gateways.mybank.delimeter: unknown key (did you mean 'delimiter'?)",
        ),
        (
            lambda t: t[: t.index("    columns:")] + t[t.index("    status_map:") :],
            "gateways.mybank.columns: required setting is missing",
        ),
    ],
)
def test_a_configuration_error_names_the_file_and_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, change(BANK))
    text = str(raised.value)
    assert text.startswith(str(tmp_path / "paycli.yaml") + ": "), text
    assert message in text


def test_a_format_a_date_language_cannot_read_is_refused_naming_the_key(tmp_path):
    text = with_settings("date_language: it", BANK.replace('"%d/%m/%Y %H:%M"', '"%d %b %Y %I:%M %p"'))
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)  # on load, as every key: paycli list refuses it as paycli ingest does
    assert str(raised.value) == (
        f"{tmp_path / 'paycli.yaml'}: gateways.mybank.date_format: '%d %b %Y %I:%M %p': "
        "date_language it reads only %d %m %b %B %a %A %Y %y %H %M %S %f"
    )


def test_the_same_mark_for_decimals_and_thousands_is_refused_naming_the_key(tmp_path):
    same = r"gateways\.mybank\.thousands_separator: must differ from decimal_mark ','"
    with pytest.raises(ConfigError, match=same):
        load(tmp_path, BANK.replace('thousands_separator: "."', 'thousands_separator: ","'))
    # a provider built without a load (a plugin's test, a script) checks them too, defaults filled in
    config = load(tmp_path, BANK)
    settings = {**config.gateways["mybank"].settings, "thousands_separator": ","}
    with pytest.raises(ConfigError, match=same):
        CsvProvider("mybank", settings, config)


def test_every_setting_has_a_help_text():
    assert all(setting.help for setting in CsvProvider.settings.values())


def test_the_provider_exists_only_as_configured_instances():
    assert CsvProvider.needs_config
    assert CsvProvider.name == "csv"


def test_settings_given_directly_are_checked_the_same_way(config):
    with pytest.raises(
        ConfigError, match=r"gateways\.x\.columns\.status: required column mapping is missing"
    ):
        CsvProvider(
            "x", {"columns": {"reference": "r", "amount": "a"}, "status_map": {"approved": "OK"}}, config
        )
    provider = CsvProvider(
        "x",
        {"columns": {"reference": "r", "amount": "a", "status": "s"}, "status_map": {"approved": "OK"}},
        config,
    )
    assert provider.identify(source(b"r,a,s,currency\nT1,1.00,OK,EUR\n"))


# -- identify --------------------------------------------------------------------------------------
def test_it_claims_an_export_whose_header_holds_the_mapped_columns(tmp_path):
    assert bank(tmp_path).identify(source(export(row())))


def test_it_claims_a_header_in_another_letter_case_or_with_blanks(tmp_path):
    header = " data operazione ; ID OPERAZIONE ;Importo;Divisa;Causale;Esito;Note"
    assert bank(tmp_path).identify(source(export(row(), header=header)))


def test_it_does_not_claim_an_export_without_a_mapped_column(tmp_path):
    header = HEADER.replace("Divisa", "Valuta")
    assert not bank(tmp_path).identify(source(export(row(), header=header)))


def test_it_never_claims_the_shops_request_file_even_when_configured_with_its_columns(tmp_path):
    text = """\
timezone: Europe/Rome
gateways:
  mybank:
    provider: csv
    columns: {reference: txn_id, amount: amount, status: kind}
    status_map: {approved: order}
"""
    requests = (
        REQUEST_HEADER + "ORD-1001-1,ORD-1001,order,2026-11-26T10:15:00+01:00,Rossi,,129.90,EUR,mybank\n"
    ).encode()
    assert not bank(tmp_path, text).identify(source(requests))


@pytest.mark.parametrize(
    "body",
    [
        b"alias=ALIAS_WEB_00012345&importo=12990&divisa=EUR&codTrans=ORD-1001-1&esito=OK&mac=abc",
        b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}',
        b"<?xml version='1.0'?><GestPayCryptDecrypt><TransactionResult>OK</TransactionResult></GestPayCryptDecrypt>",
        bytes(range(256)) * 10,
        b"",
        HEADER.encode("utf-16"),
    ],
    ids=["nexi-form", "stripe-json", "axerve-xml", "binary", "empty", "utf-16"],
)
def test_it_does_not_claim_a_gateway_body_or_a_binary_file(tmp_path, body):
    assert not bank(tmp_path).identify(source(body))


def test_a_filename_glob_narrows_what_it_claims(tmp_path):
    provider = bank(tmp_path, with_settings("match: {filename: 'movimenti_*.csv'}"))
    data = export(row())
    assert provider.identify(source(data, "/exports/movimenti_2026-11.csv"))
    assert not provider.identify(source(data, "/exports/estratto.csv"))


def test_it_finds_the_header_after_the_skipped_lines(tmp_path):
    provider = bank(tmp_path, with_settings("skip_lines: 2"))
    data = b"Banca Esempio S.p.A.;;\r\nConto 000123456;;\r\n" + export(row())
    assert provider.identify(source(data))
    assert not bank(tmp_path).identify(source(data))
    (record,) = records(provider, data)
    assert isinstance(record, ResponseRecord) and record.origin.line == 4


def test_header_contains_claims_a_file_that_extract_then_refuses_naming_the_missing_column(tmp_path):
    provider = bank(tmp_path, with_settings("match: {header_contains: [Causale, Esito]}"))
    data = export(row(), header=HEADER.replace("Divisa", "Valuta"))
    assert provider.identify(source(data))
    with pytest.raises(SourceError, match=r"column 'Divisa' \(columns\.currency\) is not in the header"):
        records(provider, data)


def test_a_byte_order_mark_before_the_header_is_dropped(tmp_path):
    provider = bank(tmp_path, BANK.replace("encoding: cp1252", "encoding: utf-8"))
    data = b"\xef\xbb\xbf" + export(row(), encoding="utf-8")
    assert provider.identify(source(data))
    assert response(provider, row(), encoding="utf-8").amount_minor == 12990
    (record,) = records(provider, data)
    assert isinstance(record, ResponseRecord) and record.origin.context == HEADER


# -- a bank export ---------------------------------------------------------------------------------
def test_a_cp1252_export_with_decimal_comma_and_dot_grouping(tmp_path):
    r = response(bank(tmp_path), row(amount="1.234,56", ref="Pagamento carta ORD-1001-2 Società Rossi"))
    assert r.amount_minor == 123456 and r.currency == "EUR"
    assert r.reference == "ORD-1001-2"
    assert r.status is Status.APPROVED and r.raw_status == "ESEGUITO"
    assert r.gateway_txn_id == "900001"
    assert r.occurred_at == datetime(2026, 11, 26, 9, 15, tzinfo=UTC)
    assert r.authenticity is Authenticity.UNVERIFIABLE  # an export carries no signature


def test_each_record_keeps_its_line_its_bytes_exactly_and_the_header(tmp_path):
    data = export(row(), row(txn="900002", ref="ORD-1002-1"))
    first, second = records(bank(tmp_path), data)
    assert first.origin == Origin(2, row().encode("cp1252") + b"\r\n", HEADER)
    assert second.origin.line == 3
    assert b"".join(r.origin.raw for r in (first, second)) == data[len(HEADER) + 2 :]


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("129,90", 12990),
        ("1.234,56", 123456),
        ("1234,56", 123456),
        ("1.000.000,00", 100000000),
        ("5", 500),
        ("0,5", 50),
    ],
)
def test_amounts_in_major_units(tmp_path, text, minor):
    assert response(bank(tmp_path), row(amount=text)).amount_minor == minor


def test_an_amount_written_with_another_convention_is_quarantined_naming_the_column(tmp_path):
    text = BANK.replace('decimal_mark: ","', 'decimal_mark: "."').replace(
        'thousands_separator: "."', 'thousands_separator: ","'
    )
    reason = quarantined(bank(tmp_path, text), row(amount="1.234,56"))
    assert reason == (
        "column 'Importo': amount '1.234,56' is not a decimal number (decimal_mark '.', thousands_separator ',')"
    )


@pytest.mark.parametrize(
    "written", ["€ 1.234,56", "1.234,56 €", "-€ 1.234,56", "EUR 1.234,56", "1.234,56 EUR"]
)
def test_an_amount_with_a_currency_sign_is_quarantined_saying_the_sign_is_not_read(tmp_path, written):
    # a spreadsheet column formatted as currency is saved as it is shown
    reason = quarantined(bank(tmp_path), row(amount=written))
    assert reason == (
        f"column 'Importo': amount '{written}' is not a decimal number (decimal_mark ',', thousands_separator "
        "'.'; a currency sign or code in the cell is not read: save the column as a plain number)"
    )


def test_without_a_thousands_separator_a_grouped_amount_is_refused(tmp_path):
    provider = bank(tmp_path, without("thousands_separator"))
    assert "is not a decimal number" in quarantined(provider, row(amount="1.234,56"))
    assert response(provider, row(amount="1234,56")).amount_minor == 123456


@pytest.mark.parametrize("decimal", [".", ","])
@pytest.mark.parametrize("written", ["12{d}500", "-12{d}500", "(1{d}200)", "+999{d}000"])
def test_without_a_thousands_separator_three_decimals_are_refused_as_ambiguous(tmp_path, decimal, written):
    """12.500 in an Italian export is twelve thousand five hundred; read with the default decimal_mark
    it would be 12.50, a thousand times less, unnoticed. Unless the grouping is configured, it is
    quarantined naming the settings that decide."""
    text = without("thousands_separator").replace('decimal_mark: ","', f'decimal_mark: "{decimal}"')
    written = written.format(d=decimal)
    reason = quarantined(bank(tmp_path, text), row(amount=written, status="RIMBORSATO"))
    assert reason.startswith(
        f"column 'Importo': amount '{written}' is ambiguous: with decimal_mark '{decimal}' it is "
    )
    assert "set thousands_separator" in reason


def test_an_amount_that_cannot_be_a_thousands_group_is_read_without_a_thousands_separator(tmp_path):
    provider = bank(
        tmp_path, without("thousands_separator").replace('decimal_mark: ","', 'decimal_mark: "."')
    )
    assert response(provider, row(amount="12.50")).amount_minor == 1250
    assert response(provider, row(amount="12.5")).amount_minor == 1250
    assert response(provider, row(amount="0.500")).amount_minor == 50  # no group starts with 0
    assert response(provider, row(amount="1234.500")).amount_minor == 123450  # nor has 4 digits
    assert response(provider, row(amount="1.250", currency="KWD")).amount_minor == 1250  # its 3 decimals
    assert quarantined(provider, row(amount="12.500")) == (
        "column 'Importo': amount '12.500' is ambiguous: with decimal_mark '.' it is 12.5, but if '.' "
        'groups thousands it is 12500; set thousands_separator to the file\'s grouping (e.g. "." with '
        'decimal_mark: ","), or to "" if it groups no digits'
    )


def test_a_thousands_separator_set_decides_an_amount_of_three_decimals(tmp_path):
    italian = bank(tmp_path)  # decimal_mark ",", thousands_separator "."
    assert response(italian, row(amount="12.500")).amount_minor == 1250000
    plain = without("thousands_separator").replace('decimal_mark: ","', 'decimal_mark: "."')
    none = bank(tmp_path, with_settings('thousands_separator: ""', plain))  # the file groups no digits
    assert response(none, row(amount="12.500")).amount_minor == 1250
    english = bank(tmp_path, with_settings('thousands_separator: ","', plain))
    assert response(english, row(amount="12.500")).amount_minor == 1250
    assert response(english, row(amount="12,500")).amount_minor == 1250000


def test_amounts_in_minor_units(tmp_path):
    provider = bank(tmp_path, with_settings("amount_unit: minor"))
    assert response(provider, row(amount="12990")).amount_minor == 12990
    assert response(provider, row(amount="1.200", currency="JPY")).amount_minor == 1200
    assert "not a whole number of EUR minor units" in quarantined(provider, row(amount="129,9"))


def test_the_currency_exponent_applies(tmp_path):
    provider = bank(tmp_path)
    assert response(provider, row(amount="1.200", currency="JPY")).amount_minor == 1200
    assert response(provider, row(amount="1,250", currency="kwd")).amount_minor == 1250
    assert "more decimals than JPY allows" in quarantined(provider, row(amount="12,50", currency="JPY"))


def test_an_unknown_currency_in_the_column_is_quarantined(tmp_path):
    assert quarantined(bank(tmp_path), row(currency="EURO")) == "column 'Divisa': unknown currency 'EURO'"


def test_the_configured_currency_serves_rows_without_one(tmp_path):
    provider = bank(tmp_path, with_settings("currency: eur"))
    assert response(provider, row(currency="")).currency == "EUR"
    assert response(provider, row(currency="USD")).currency == "USD"  # the row's own wins


def test_a_row_without_any_currency_is_quarantined_saying_what_to_configure(tmp_path):
    assert quarantined(bank(tmp_path), row(currency="")) == (
        "currency unknown: column 'Divisa' is empty and no currency is configured (set currency: EUR)"
    )


def test_a_refund_written_negative_is_its_size_but_a_negative_approval_is_not_a_payment(tmp_path):
    provider = bank(tmp_path)
    refund = response(provider, row(amount="-129,90", status="RIMBORSATO"))
    assert refund.status is Status.REFUNDED and refund.amount_minor == 12990
    assert (
        quarantined(provider, row(amount="-129,90"))
        == "column 'Importo': amount '-129,90' is negative for status approved"
    )


@pytest.mark.parametrize("written", ["(129,90)", "( 129,90 )", "129,90-", "129,90 -"])
def test_a_refund_with_its_minus_outside_the_number_is_read_as_one_written_negative(tmp_path, written):
    provider = bank(tmp_path)
    refund = response(provider, row(amount=written, status="RIMBORSATO"))
    assert refund.status is Status.REFUNDED and refund.amount_minor == 12990
    assert quarantined(provider, row(amount=written)) == (
        f"column 'Importo': amount '{written}' is negative for status approved"
    )
    assert response(provider, row(amount="(0,00)", status="RIFIUTATO")).amount_minor == 0


@pytest.mark.parametrize(("written", "minor"), [("+129,90", 12990), ("+1.234,56", 123456), ("+5", 500)])
def test_a_credit_written_with_a_plus_sign_is_its_amount(tmp_path, written, minor):
    # home banking and wallet exports write money in as +129,90 beside money out as -129,90
    provider = bank(tmp_path)
    assert response(provider, row(amount=written)).amount_minor == minor
    assert response(provider, row(amount="+0,00", status="RIFIUTATO")).amount_minor == 0


@pytest.mark.parametrize(
    "written",
    [
        "(-129,90)",
        "-129,90-",
        "(1,2,3)",
        "+-129,90",
        "-+129,90",
        "++129,90",
        "+129,90-",
        "+(129,90)",
        "+ 129,90",
    ],
)
def test_two_minus_signs_or_a_non_number_in_brackets_is_quarantined_quoting_the_cell(tmp_path, written):
    reason = quarantined(bank(tmp_path), row(amount=written, status="RIMBORSATO"))
    assert reason.startswith(f"column 'Importo': amount '{written}' ")


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f"])
def test_a_space_thousands_separator_takes_the_no_break_spaces_exports_write_too(tmp_path, space):
    provider = bank(
        tmp_path,
        BANK.replace('thousands_separator: "."', 'thousands_separator: " "').replace("cp1252", "utf-8"),
    )
    r = response(provider, row(amount=f"1{space}234,56"), encoding="utf-8")
    assert r.amount_minor == 123456


def test_a_refusal_may_have_no_amount_but_an_approval_must(tmp_path):
    provider = bank(tmp_path)
    refused = response(provider, row(amount="", status="RIFIUTATO"))
    assert refused.status is Status.REFUSED and refused.amount_minor is None
    assert quarantined(provider, row(amount="")) == "column 'Importo': amount is empty"


def test_the_fast_amount_reader_agrees_with_money_parse_amount(tmp_path):
    """The provider reads common amounts itself for speed; whatever it reads, parse_amount must read the same."""
    provider = bank(tmp_path)
    rnd = random.Random(7)
    pieces = ["0", "1", "12", "123", "1234", ".", ",", "-", "00", "999", " ", "1.234", "5,", ",5"]
    for _ in range(3000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 5))).strip()
        currency = rnd.choice(["EUR", "JPY", "KWD"])
        status = rnd.choice(["RIMBORSATO", "ESEGUITO"])
        record = one(provider, row(amount=text, currency=currency, status=status))
        # a trailing minus is a minus written outside the number (never beside one inside)
        number, outside = (
            (text[:-1].rstrip(), True) if len(text) > 1 and text.endswith("-") else (text, False)
        )
        try:
            expected = parse_amount(
                number, currency, decimal_mark=",", thousands_separator=".", allow_negative=True
            )
            if outside:
                expected = None if expected < 0 else -expected
            if expected is not None and expected < 0 and status != "RIMBORSATO":
                expected = None
        except RecordError:
            expected = None
        if not text:
            expected = None
        got = record.amount_minor if isinstance(record, ResponseRecord) else None
        assert got == (None if expected is None else abs(expected)), (text, currency, record)


# -- dates -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-26T10:15:00+01:00", datetime(2026, 11, 26, 9, 15, tzinfo=UTC)),
        ("2026-11-26T09:15:00Z", datetime(2026, 11, 26, 9, 15, tzinfo=UTC)),
        ("2026-11-26 10:15:00", datetime(2026, 11, 26, 9, 15, tzinfo=UTC)),  # naive: the configured zone
        ("2026-07-01 10:15", datetime(2026, 7, 1, 8, 15, tzinfo=UTC)),  # summer time
        ("2026-11-26", datetime(2026, 11, 25, 23, 0, tzinfo=UTC)),  # a day: its local start
    ],
)
def test_iso_dates(tmp_path, text, utc):
    provider = bank(tmp_path, without("date_format"))
    assert response(provider, row(when=text)).occurred_at == utc


@pytest.mark.parametrize(
    ("when", "utc"),
    [
        # 29 March 2026, Europe/Rome springs forward at 02:00: 02:30 does not exist; read with fold=0,
        # the offset before the change (+01:00), as paycli.dates reads every naive time
        ("29/03/2026 01:59", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
        ("29/03/2026 02:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        ("29/03/2026 03:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # 25 October 2026 falls back at 03:00: 02:30 happens twice; the first (+02:00)
        ("25/10/2026 02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("25/10/2026 03:30", datetime(2026, 10, 25, 2, 30, tzinfo=UTC)),
    ],
)
def test_strptime_dates_on_daylight_saving_days(tmp_path, when, utc):
    assert response(bank(tmp_path), row(when=when)).occurred_at == utc


def test_the_exports_own_timezone_wins_over_the_configured_one(tmp_path):
    provider = bank(tmp_path, with_settings("timezone: America/New_York"))
    # 8 March 2026: New York springs forward; 10:15 is EDT (-04:00)
    assert response(provider, row(when="08/03/2026 10:15")).occurred_at == datetime(
        2026, 3, 8, 14, 15, tzinfo=UTC
    )


def test_a_date_only_format_is_the_start_of_that_local_day(tmp_path):
    provider = bank(tmp_path, BANK.replace('"%d/%m/%Y %H:%M"', '"%d.%m.%y"'))
    assert response(provider, row(when="29.03.26")).occurred_at == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


def test_a_format_with_an_offset_uses_it(tmp_path):
    provider = bank(tmp_path, BANK.replace('"%d/%m/%Y %H:%M"', '"%Y-%m-%d %H:%M:%S %z"'))
    when = "2026-11-26 10:15:00 -0500"
    assert response(provider, row(when=when)).occurred_at == datetime(2026, 11, 26, 15, 15, tzinfo=UTC)


def test_a_bad_date_is_quarantined_naming_the_format(tmp_path):
    provider = bank(tmp_path)
    assert quarantined(provider, row(when="31/02/2026 10:15")) == (
        "date '31/02/2026 10:15' has the shape of date_format '%d/%m/%Y %H:%M' but is no such day or time"
    )
    assert "does not match" in quarantined(provider, row(when="2026-11-26 10:15"))


def test_a_date_that_is_not_iso_under_the_default_date_format_is_quarantined_naming_the_setting(tmp_path):
    # date_format left out: the bank's 26/11/2026 is no ISO date, and the operator must learn which key
    provider = bank(tmp_path, without("date_format"))
    assert quarantined(provider, row(when="26/11/2026 10:15")) == (
        "date '26/11/2026 10:15' is not an ISO 8601 date-time, as date_format iso reads; "
        "set date_format to the file's format, e.g. %d/%m/%Y %H:%M"
    )


@pytest.mark.parametrize(
    ("language", "fmt", "when", "utc"),
    [
        ("it", "%d %b %Y %H:%M", "26 nov 2026 10:15", datetime(2026, 11, 26, 9, 15, tzinfo=UTC)),
        # capitals, the full name under %b, a weekday
        ("it", "%d-%b-%y", "01-MAG-26", datetime(2026, 4, 30, 22, 0, tzinfo=UTC)),
        ("it", "%d %b %Y", "1 settembre 2026", datetime(2026, 8, 31, 22, 0, tzinfo=UTC)),
        ("it", "%A %d %B %Y", "Venerdì 27 novembre 2026", datetime(2026, 11, 26, 23, 0, tzinfo=UTC)),
        ("it", "%a %d %B %Y", "ven 27 Novembre 2026", datetime(2026, 11, 26, 23, 0, tzinfo=UTC)),
        # an export written in ASCII drops the accents; an abbreviation may have its full stop
        ("it", "%A %d %B %Y", "venerdi 27 novembre 2026", datetime(2026, 11, 26, 23, 0, tzinfo=UTC)),
        ("it", "%d %b. %Y", "3 sett. 2026", datetime(2026, 9, 2, 22, 0, tzinfo=UTC)),
        ("de", "%d. %B %Y", "3. März 2026", datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),
        ("de", "%d. %b %Y", "3. Mrz. 2026", datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),
        ("de", "%d. %b %Y", "3. MAERZ 2026", None),  # "ae" for "ä" is not an accent dropped
        ("fr", "%d %b %Y", "3 févr. 2026", datetime(2026, 2, 2, 23, 0, tzinfo=UTC)),
        ("fr", "%d %b %Y", "15 aout 2026", datetime(2026, 8, 14, 22, 0, tzinfo=UTC)),
        ("es", "%d/%b/%Y %H:%M:%S", "3/sept/2026 08:00:00", datetime(2026, 9, 3, 6, 0, tzinfo=UTC)),
        ("pt", "%d de %B de %Y", "3 de março de 2026", datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),
        ("nl", "%d %b %Y", "3 mrt 2026", datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),
        # a name of another language, or a day the month has not, does not match
        ("it", "%d %b %Y", "26 dec 2026", None),
        ("it", "%d %b %Y", "31 giu 2026", "no such day"),
        ("it", "%d %b %Y", "26 novembr 2026", None),
    ],
)
def test_month_and_weekday_names_in_the_date_language(tmp_path, language, fmt, when, utc):
    provider = bank(
        tmp_path, with_settings(f"date_language: {language}", BANK.replace('"%d/%m/%Y %H:%M"', f'"{fmt}"'))
    )
    if utc is None:
        assert quarantined(provider, row(when=when)) == f"date '{when}' does not match date_format '{fmt}'"
    elif utc == "no such day":
        assert quarantined(provider, row(when=when)).endswith("but is no such day or time")
    else:
        assert response(provider, row(when=when)).occurred_at == utc


def test_a_format_without_names_reads_the_same_in_any_date_language(tmp_path):
    fmt = '"%Y-%m-%d %H:%M:%S %z"'  # %z: beyond the names' pattern, strptime's
    provider = bank(tmp_path, with_settings("date_language: it", BANK.replace('"%d/%m/%Y %H:%M"', fmt)))
    when = "2026-11-26 10:15:00 -0500"
    assert response(provider, row(when=when)).occurred_at == datetime(2026, 11, 26, 15, 15, tzinfo=UTC)


def test_english_names_stay_strptimes(tmp_path):
    provider = bank(tmp_path, BANK.replace('"%d/%m/%Y %H:%M"', '"%d-%b-%Y"'))
    assert response(provider, row(when="01-May-2026")).occurred_at == datetime(2026, 4, 30, 22, 0, tzinfo=UTC)
    assert "does not match" in quarantined(provider, row(when="01-mag-2026"))


@pytest.mark.parametrize("language", [lang for lang in datenames.LANGUAGES if lang != datenames.ENGLISH])
def test_every_name_of_a_language_reads_as_its_month(language):
    """Each month's every form, in capitals, without accents and with a full stop, and after any
    weekday name: the tables hold no name twice and the pattern reads each one back."""
    from zoneinfo import ZoneInfo

    months, weekdays = datenames._TABLES[language]
    assert (len(months), len(weekdays)) == (12, 7)
    month_of = {(datenames.fold(form), number) for number, forms in enumerate(months) for form in forms}
    assert len(month_of) == len(dict(month_of)), sorted(month_of)  # no name of two months
    parse = _date_parser("%a %d %b %Y", ZoneInfo("UTC"), language)
    for number, forms in enumerate(months, start=1):
        for form in forms:
            for day in (w for forms in weekdays for w in forms):
                for spelling in (form, form.upper(), datenames.fold(form), form + "."):
                    text = f"{day.upper()} 02 {spelling} 2026"
                    assert parse(text) == datetime(2026, number, 2, tzinfo=UTC), text


def test_a_quote_never_closed_costs_its_own_line_only(tmp_path):
    rows = [row(txn=f"9000{i}", ref=f"Pagamento ORD-100{i}-1") for i in range(1, 6)]
    rows[1] = rows[1].replace("Pagamento", '"Pagamento')
    got = records(bank(tmp_path), export(*rows))
    assert [type(r).__name__ for r in got] == ["ResponseRecord", "QuarantinedRecord", *["ResponseRecord"] * 3]
    assert got[1].reason.startswith("expected 7 fields, found 5: a quote opened on this line runs on to line")  # type: ignore[union-attr]
    assert [r.origin.line for r in got] == [2, 3, 4, 5, 6]


def test_an_empty_date_leaves_the_time_unknown(tmp_path):
    assert response(bank(tmp_path), row(when="")).occurred_at is None


@pytest.mark.parametrize(
    "fmt",
    ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y%m%d", "%d.%m.%y %H.%M", "%m/%d/%Y %H:%M:%S.%f", "%d-%b-%Y"],
)
def test_the_fast_date_reader_agrees_with_strptime(fmt):
    """The provider reads numeric formats without strptime, for speed; it must accept exactly the same."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Rome")
    parse = _date_parser(fmt, zone)
    rnd = random.Random(3)
    samples = []
    for _ in range(400):
        dt = datetime(
            rnd.randint(1990, 2040),
            rnd.randint(1, 12),
            rnd.randint(1, 28),
            rnd.randint(0, 23),
            rnd.randint(0, 59),
            rnd.randint(0, 59),
            rnd.randint(0, 999999),
        )
        samples.append(dt.strftime(fmt))
    samples += ["1/2/2026 3:04", "31/02/2026 10:00", "2026-11-26", "26/11/2026 24:00", "7/7/26", "", "x"]
    for text in samples:
        try:
            expected: datetime | None = datetime.strptime(text, fmt).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            expected = None
        try:
            got: datetime | None = parse(text)
        except RecordError:
            got = None
        assert got == expected, (fmt, text)


# -- statuses --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("ESEGUITO", Status.APPROVED),
        ("ok", Status.APPROVED),
        ("RIFIUTATO", Status.REFUSED),
        ("KO", Status.REFUSED),
        ("In Corso", Status.PENDING),
        ("RIMBORSATO", Status.REFUNDED),
        ("STORNATO", Status.REVERSED),
    ],
)
def test_each_status_word_maps_in_any_letter_case(tmp_path, word, status):
    r = response(bank(tmp_path), row(status=word))
    assert r.status is status and r.raw_status == word


@pytest.mark.parametrize("word", ["IN  CORSO", "in\u00a0corso", "In \t Corso"])
def test_a_status_word_with_other_blanks_inside_maps_too(tmp_path, word):
    provider = bank(tmp_path, BANK.replace("cp1252", "utf-8"))
    r = response(provider, row(status=word), encoding="utf-8")
    assert r.status is Status.PENDING and r.raw_status == word


def test_a_word_nobody_mapped_is_unknown_with_the_word(tmp_path):
    r = response(bank(tmp_path), row(status="SOSPESO"))
    assert r.status is Status.UNKNOWN and r.raw_status == "SOSPESO"
    empty = response(bank(tmp_path), row(status=""))
    assert empty.status is Status.UNKNOWN and empty.raw_status is None


def test_an_unmapped_word_makes_the_outcome_unknown_status(tmp_path, store):
    config = load(tmp_path, BANK)
    requests = tmp_path / "requests.csv"
    requests.write_text(
        REQUEST_HEADER + "ORD-1001-1,ORD-1001,order,2026-11-26T10:00:00+01:00,Rossi,,129.90,EUR,mybank\n"
    )
    bank_file = tmp_path / "movimenti.csv"
    bank_file.write_bytes(export(row(status="SOSPESO")))
    ingest(store, config, requests, bank_file)
    shown = show_request(store, "ORD-1001-1", config.timezone)
    assert (shown["outcome"], shown["reason"], shown["detail"]) == ("VERIFICARE", "UNKNOWN_STATUS", "SOSPESO")


# -- reference -------------------------------------------------------------------------------------
def test_the_reference_pattern_finds_the_txn_id_in_a_free_text_description(tmp_path):
    r = response(bank(tmp_path), row(ref="BONIFICO SEPA DA ROSSI MARIO CAUSALE ORDINE ORD-1001-2 GRAZIE"))
    assert r.reference == "ORD-1001-2"


def test_a_pattern_group_gives_the_reference(tmp_path):
    provider = bank(tmp_path, BANK.replace('"ORD-[0-9]+-[0-9]+"', r'"RIF[.:] *(?P<reference>\\S+)"'))
    assert response(provider, row(ref="Pagamento RIF: DEP-77 Rossi")).reference == "DEP-77"
    one_group = bank(tmp_path, BANK.replace('"ORD-[0-9]+-[0-9]+"', r'"ordine (\\S+)"'))
    assert response(one_group, row(ref="saldo ordine ORD-9-1")).reference == "ORD-9-1"


def test_without_a_pattern_the_whole_cell_is_the_reference(tmp_path):
    provider = bank(tmp_path, without("reference_pattern"))
    assert response(provider, row(ref="  ORD-1001-1 ")).reference == "ORD-1001-1"


def test_a_row_without_a_reference_is_kept_as_informational(tmp_path):
    record = one(bank(tmp_path), row(ref="Commissioni tenuta conto"))
    assert isinstance(record, InfoRecord) and record.reference is None
    assert record.note == "reference_pattern finds no merchant reference in column 'Causale'"


def test_a_row_without_a_reference_can_be_quarantined_instead(tmp_path):
    provider = bank(tmp_path, with_settings("without_reference: quarantine"))
    assert "no merchant reference" in quarantined(provider, row(ref="Commissioni tenuta conto"))


# -- dedupe key ------------------------------------------------------------------------------------
def test_the_dedupe_key_is_the_configured_columns(tmp_path):
    provider = bank(tmp_path)
    assert response(provider, row(txn=" 900001 ")).dedupe_key == "900001|approved"
    # with the status, as every gateway's key: a pending row and its approval are two responses of one
    # transaction, not one key whose messages disagree (which would mark them suspicious)
    assert response(provider, row(status="IN CORSO")).dedupe_key == "900001|pending"
    assert response(provider, row(status="OK")).dedupe_key == "900001|approved"
    assert response(provider, row(status="Sospeso")).dedupe_key == "900001|unknown:sospeso"
    two = bank(tmp_path, BANK.replace("[ID operazione]", "[ID operazione, Data operazione]"))
    assert response(two, row()).dedupe_key == "900001|26/11/2026 10:15|approved"


def test_key_values_cannot_run_into_each_other(tmp_path):
    two = bank(tmp_path, BANK.replace("[ID operazione]", "[ID operazione, Note]"))
    a = response(two, row(txn="1|2", note="3")).dedupe_key
    b = response(two, row(txn="1", note="2|3")).dedupe_key
    assert a != b


def test_a_row_whose_key_columns_are_empty_is_quarantined(tmp_path):
    assert quarantined(bank(tmp_path), row(txn="")) == "the dedupe_key column ID operazione is empty"


def test_a_dedupe_key_column_missing_from_the_header_refuses_the_file(tmp_path):
    provider = bank(tmp_path, BANK.replace("[ID operazione]", "[Numero]"))
    data = export(row())
    assert not provider.identify(source(data))  # by default every named column identifies the file
    with pytest.raises(SourceError, match=r"column 'Numero' \(dedupe_key\) is not in the header"):
        records(provider, data)


def test_the_default_key_is_the_normalised_row(tmp_path):
    """Without dedupe_key, a re-export that differs in bytes but not in meaning has the same key."""
    provider = bank(tmp_path, without("dedupe_key"))
    plain = response(provider, row())
    assert plain.dedupe_key.startswith("row:")
    reordered = "Esito;Note;Causale;Divisa;Importo;ID operazione;Data operazione"
    same = [
        response(provider, row(), newline="\n"),
        response(
            provider, ' 26/11/2026 10:15 ;"900001";129,90;EUR;"Pagamento ORD-1001-1";eseguito;Società Rossi'
        ),
        response(provider, row(amount="0.129,90")),
        response(
            provider,
            "ESEGUITO;Società Rossi;Pagamento ORD-1001-1;EUR;129,90;900001;26/11/2026 10:15",
            header=reordered,
        ),
    ]
    assert {r.dedupe_key for r in same} == {plain.dedupe_key}
    for other in (row(note="Bianchi"), row(txn="900002"), row(when="26/11/2026 10:16"), row(amount="129,91")):
        assert response(provider, other).dedupe_key != plain.dedupe_key, other


# -- bad rows, big files ---------------------------------------------------------------------------
def test_a_row_with_a_wrong_field_count_is_quarantined_and_the_rest_goes_on(tmp_path):
    data = export(row(txn="1"), row(txn="2") + ";extra", "Saldo finale;1.234,56", row(txn="3"))
    got = records(bank(tmp_path), data)
    assert [type(r).__name__ for r in got] == [
        "ResponseRecord",
        "QuarantinedRecord",
        "QuarantinedRecord",
        "ResponseRecord",
    ]
    assert got[1].reason == "expected 7 fields, found 8"  # type: ignore[union-attr]
    assert (got[2].origin.line, got[2].reason) == (4, "expected 7 fields, found 2")  # type: ignore[union-attr]


def test_blank_lines_are_skipped(tmp_path):
    got = records(bank(tmp_path), export(row(txn="1"), "", "   ", row(txn="2")))
    assert [r.origin.line for r in got] == [2, 5]


def test_a_quoted_field_over_two_lines_is_one_record(tmp_path):
    data = export(row(note='"Nota\r\nsu due righe"'), row(txn="2"))
    first, second = records(bank(tmp_path), data)
    assert isinstance(first, ResponseRecord) and first.origin.raw.count(b"\r\n") == 2
    assert second.origin.line == 4


def test_a_runaway_quoted_field_is_quarantined_and_the_file_goes_on(tmp_path):
    huge = '"' + "x" * (140 * 1024)
    got = records(bank(tmp_path), export(row(txn="1"), row(note=huge), row(txn="3")))
    assert isinstance(got[0], ResponseRecord)
    assert any(isinstance(r, QuarantinedRecord) and "field larger than field limit" in r.reason for r in got)


def test_an_empty_file_or_a_header_alone_gives_nothing(tmp_path):
    provider = bank(tmp_path)
    assert [type(r) for r in provider.extract(source(b""))] == [Notice]
    assert records(provider, export()) == []


def test_a_line_not_in_the_configured_encoding_is_read_as_windows_1252_with_a_notice(tmp_path):
    provider = bank(tmp_path, BANK.replace("encoding: cp1252", "encoding: utf-8"))
    data = export(row(txn="1"), encoding="utf-8") + (row(txn="2") + "\r\n").encode("cp1252")
    got = list(provider.extract(source(data)))
    assert [r.origin.line for r in got if isinstance(r, ResponseRecord)] == [2, 3]
    notices = [r.message for r in got if isinstance(r, Notice)]
    assert notices == ["movimenti.csv: line 3 not utf-8; read as Windows-1252"]


def test_a_utf8_file_with_its_byte_order_mark_is_refused_when_another_encoding_is_configured(tmp_path):
    provider = bank(tmp_path)  # cp1252
    data = b"\xef\xbb\xbf" + export(row(status="ESEGUITO", note="Società"), encoding="utf-8")
    assert provider.identify(source(data))
    with pytest.raises(SourceError) as raised:
        list(provider.extract(source(data)))
    assert str(raised.value) == (
        "starts with a UTF-8 byte-order mark, but gateways.mybank.encoding is cp1252: set encoding: utf-8"
    )


def test_a_utf8_file_without_a_byte_order_mark_is_refused_when_another_encoding_is_configured(tmp_path):
    # read as cp1252, "Società" would be "SocietÃ\xa0", "Remboursé" a status nobody mapped, unnoticed
    provider = bank(tmp_path)  # cp1252
    data = export(row(note="Società"), row(txn="2", note="Perché"), encoding="utf-8")
    with pytest.raises(SourceError) as raised:
        list(provider.extract(source(data)))
    assert str(raised.value) == (
        "is UTF-8 text (line 2: 'Società'), but gateways.mybank.encoding is cp1252: set encoding: utf-8"
    )
    # a Windows-1252 file, or one in ASCII alone, is read as configured
    assert response(provider, row(note="Società")).amount_minor == 12990
    assert response(provider, row(note="Societa"), encoding="utf-8").amount_minor == 12990


@pytest.mark.parametrize("rows", [1, 20_000], ids=["small", "over-a-mib"])
def test_an_export_with_old_mac_line_ends_is_refused_saying_so(tmp_path, rows):
    # CR only: the whole file is one line; past LINE_LIMIT it is cut, never read whole
    data = export(*[row()] * rows, newline="\r")
    with pytest.raises(SourceError) as raised:
        list(bank(tmp_path).extract(source(data)))
    assert str(raised.value).startswith("the header row is not CSV (")
    assert str(raised.value).endswith("old Mac line ends (CR only)? save the file with LF or CRLF line ends)")


def test_a_windows_1252_header_with_an_accented_column_is_recognised_under_utf_8(tmp_path):
    # extract reads a line that is not UTF-8 as Windows-1252; identify reads the header the same way
    text = BANK.replace("encoding: cp1252", "encoding: utf-8").replace(
        "      currency: Divisa", "      currency: Valuta è"
    )
    provider = bank(tmp_path, text)
    data = export(row(), header=HEADER.replace("Divisa", "Valuta è"), encoding="cp1252")
    assert provider.identify(source(data))
    assert response(provider, row(), header=HEADER.replace("Divisa", "Valuta è")).currency == "EUR"


def test_a_file_larger_than_the_head_streams_through(tmp_path):
    rows = [row(txn=str(900000 + i), ref=f"ORD-{i}-1") for i in range(5000)]
    data = export(*rows)
    assert len(data) > 3 * HEAD_BYTES
    got = records(bank(tmp_path), data)
    assert len(got) == 5000 and all(isinstance(r, ResponseRecord) for r in got)
    assert got[-1].origin.line == 5001


# -- reinterpret -----------------------------------------------------------------------------------
def test_reinterpret_reads_each_stored_record_exactly_as_extract_did(tmp_path):
    provider = bank(tmp_path)
    data = export(
        row(),
        row(amount="1,2,3"),
        row(ref="Commissioni"),
        row(note='"Nota\r\nsu due righe"'),
        row(status="SOSPESO", when="29/03/2026 02:30"),
        row(txn="2") + ";extra",
    )
    got = records(provider, data)
    assert len(got) == 6
    fresh = bank(tmp_path)  # a new process: nothing cached
    assert [fresh.reinterpret(r.origin) for r in got] == got  # type: ignore[union-attr]


def test_reinterpret_without_the_header_quarantines(tmp_path):
    record = bank(tmp_path).reinterpret(Origin(2, row().encode("cp1252"), None))
    assert isinstance(record, QuarantinedRecord) and "header" in record.reason


# -- through the pipeline --------------------------------------------------------------------------
def ingest(store: Store, config: Config, *paths: Path, gateway: str | None = None) -> Ingest:
    classes = {**gateways.installed(), "csv": CsvProvider}
    run = Ingest(store, config, gateways.instances(config, classes), gateway=gateway)
    run.run([str(p) for p in paths])
    return run


def test_the_same_row_twice_in_a_file_is_one_message_stored_once(tmp_path, store):
    """Identical bytes are one message (the pipeline's digest is over the bytes and the header): a bank
    row repeated in one export, or an export ingested again, is delivered once, not twice."""
    config = load(tmp_path, BANK)
    path = tmp_path / "movimenti.csv"
    path.write_bytes(export(row(), row()))
    tally = ingest(store, config, path).report.tallies["mybank"]
    assert (tally.responses_new, tally.already_stored) == (1, 1)
    assert store.query("SELECT deliveries FROM response")[0]["deliveries"] == 1


@pytest.mark.parametrize("before", [0, 200], ids=["in-the-first-4-kb", "far-into-the-file"])
def test_a_nul_byte_in_a_row_quarantines_that_row_only_wherever_it_is(tmp_path, store, before):
    # a NUL near the top made the whole file "no provider recognises it", every good row lost
    config = load(tmp_path, BANK)
    rows = [row(txn=str(800000 + i), ref=f"ORD-{i}-1") for i in range(before)]
    path = tmp_path / "movimenti.csv"
    path.write_bytes(export(*rows, row(txn="1"), row(txn="2", status="ESEGUITO\x00"), row(txn="3")))
    report = ingest(store, config, path).report
    assert report.refused == []
    tally = report.tallies["mybank"]
    assert (tally.responses_new, tally.quarantined) == (before + 2, 1)
    (bad,) = store.query("SELECT line, error FROM message WHERE state = 'quarantined'")
    assert bad["line"] == before + 3 and "a NUL character (0x00)" in bad["error"]


def test_a_header_row_with_a_nul_byte_is_not_claimed(tmp_path):
    data = export(row(), header=HEADER.replace("Note", "No\x00te"))
    assert not bank(tmp_path).identify(source(data))


def test_a_missing_column_refuses_the_file_naming_it(tmp_path, store):
    config = load(tmp_path, BANK)
    path = tmp_path / "movimenti.csv"
    path.write_bytes(export(row(), header=HEADER.replace("Esito", "Stato")))
    report = ingest(store, config, path, gateway="mybank").report
    ((name, reason),) = report.refused
    assert name == str(path)
    assert reason.startswith(
        "column 'Esito' (columns.status) is not in the header; the header has: Data operazione"
    )


def test_without_gateway_a_file_missing_a_needed_column_is_refused_naming_it_and_the_gateway(tmp_path, store):
    # the bank renamed a column, or the configuration has a typo: most of the header is there
    config = load(tmp_path, BANK)
    renamed, good = tmp_path / "renamed.csv", tmp_path / "movimenti.csv"
    renamed.write_bytes(export(row(), header=HEADER.replace("Esito", "Stato")))
    good.write_bytes(export(row()))
    typo = load(tmp_path, BANK.replace("dedupe_key: [ID operazione]", "dedupe_key: [ID operazion]"))
    for configured, path, missing in (
        (config, renamed, "column 'Esito'"),
        (typo, good, "column 'ID operazion'"),
    ):
        ((_, reason),) = ingest(store, configured, path).report.refused
        assert reason.startswith("no provider recognises it (tried: ")
        assert reason.endswith(f"; mybank: its header has no {missing} (gateways.mybank)")
    # a file of another kind altogether is not taken for a near miss
    other = tmp_path / "other.csv"
    other.write_text("a;b;c\n1;2;3\n")
    ((_, reason),) = ingest(store, config, other).report.refused
    assert "mybank" not in reason.split(")", 1)[1]


PREAMBLE = "Conto corrente;IT60X0542811101000000123456\r\nPeriodo;01/11/2026 - 30/11/2026\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "skip", "hint"),
    [
        # a preamble skip_lines does not skip, or skips too far
        (PREAMBLE.encode() + export(row()), 0, "its header row is line 4: set gateways.mybank.skip_lines: 3"),
        (PREAMBLE.encode() + export(row()), 1, "its header row is line 4: set gateways.mybank.skip_lines: 3"),
        (export(row(), row(), row()), 2, "its header row is line 1: set gateways.mybank.skip_lines: 0"),
        # another separator than the configured one
        (
            export(row().replace(";", ","), header=HEADER.replace(";", ",")),
            0,
            "its header is separated by ',': set gateways.mybank.delimiter: \",\"",
        ),
        (
            PREAMBLE.encode() + export(row().replace(";", "\t"), header=HEADER.replace(";", "\t")),
            0,
            "its header row is line 4, separated by tabs: set gateways.mybank.skip_lines: 3 and "
            "gateways.mybank.delimiter: tab",
        ),
    ],
    ids=["preamble-not-skipped", "preamble-partly-skipped", "skipped-too-far", "comma", "both"],
)
def test_a_header_out_of_place_is_refused_saying_which_setting_to_write(tmp_path, store, data, skip, hint):
    config = load(tmp_path, with_settings(f"skip_lines: {skip}"))
    path = tmp_path / "movimenti.csv"
    path.write_bytes(data)
    ((_, reason),) = ingest(store, config, path).report.refused
    assert reason.startswith("no provider recognises it (tried: ")
    assert reason.endswith(f"; mybank: {hint}")
    ((_, reason),) = ingest(store, config, path, gateway="mybank").report.refused
    assert reason.startswith("column 'Causale' (columns.reference) is not in the header; the header has: ")
    assert reason.endswith(f"; {hint}")


def test_a_file_whose_header_skip_lines_skips_is_refused_saying_where_it_is(tmp_path, store):
    config = load(tmp_path, with_settings("skip_lines: 2"))
    path = tmp_path / "movimenti.csv"
    path.write_bytes(export(row()))  # the header and one row: nothing left after two lines
    ((_, reason),) = ingest(store, config, path, gateway="mybank").report.refused
    assert reason == (
        "no header row after the 2 lines of skip_lines; its header row is line 1: set "
        "gateways.mybank.skip_lines: 0"
    )


def test_a_file_it_would_read_but_for_its_name_is_refused_naming_the_filename_glob(tmp_path, store):
    config = load(tmp_path, with_settings("match: {filename: ['movimenti_*.csv', 'mov_*.csv']}"))
    path = tmp_path / "Movimenti_novembre.CSV"  # as a bank's download, or a Windows user, names it
    path.write_bytes(export(row()))
    ((_, reason),) = ingest(store, config, path).report.refused
    assert reason.endswith(
        "; mybank: its name does not match gateways.mybank.match.filename (movimenti_*.csv, mov_*.csv)"
    )
    # a file of another header is not its business, whatever its name
    path.write_bytes(export(row(), header=HEADER.replace("Esito", "Stato").replace("Importo", "Totale")))
    ((_, reason),) = ingest(store, config, path).report.refused
    assert "mybank" not in reason.split(")", 1)[1]


def test_a_header_in_place_gives_no_hint_and_blank_lines_before_it_are_no_misplacement(tmp_path, store):
    path = tmp_path / "movimenti.csv"
    path.write_bytes(PREAMBLE.encode() + export(row()))  # skip_lines 2 or 3: the blank line is no matter
    for skip in (2, 3):
        assert ingest(store, load(tmp_path, with_settings(f"skip_lines: {skip}")), path).report.refused == []
    path.write_bytes(export(row(), header=HEADER.replace("Esito", "Stato")))
    ((_, reason),) = ingest(store, load(tmp_path, BANK), path, gateway="mybank").report.refused
    assert "skip_lines" not in reason and "delimiter" not in reason


def quarantined_for_a_missing_currency(tmp_path: Path, store: Store) -> Config:
    """A request and its bank row, quarantined by a configuration that maps no currency; returns the
    configuration that fixes it."""
    no_currency = BANK.replace("      currency: Divisa\n", "")
    requests = tmp_path / "requests.csv"
    requests.write_text(
        REQUEST_HEADER + "ORD-1001-1,ORD-1001,order,2026-11-26T10:00:00+01:00,Rossi,,129.90,EUR,mybank\n"
    )
    path = tmp_path / "movimenti.csv"
    path.write_bytes(export(row()))
    ingest(store, load(tmp_path, no_currency), requests, path)
    return load(tmp_path, with_settings("currency: EUR", no_currency))


def reprocess(store: Store, config: Config) -> Any:
    return Ingest(
        store, config, gateways.instances(config, {**gateways.installed(), "csv": CsvProvider})
    ).reprocess()


def test_reprocess_after_a_configuration_fix_turns_a_quarantined_row_into_a_response(tmp_path, store):
    fixed = quarantined_for_a_missing_currency(tmp_path, store)
    (message,) = store.query("SELECT state, error FROM message WHERE provider = 'mybank'")
    assert message["state"] == "quarantined"
    assert message["error"] == (
        "currency unknown: no currency column is mapped and no currency is configured (set currency: EUR)"
    )
    tallies = reprocess(store, fixed)
    assert tallies["mybank"].responses_new == 1 and tallies["mybank"].quarantined == 0
    shown = show_request(store, "ORD-1001-1", fixed.timezone)
    assert (shown["outcome"], shown["reason"]) == ("POSITIVO", None)


def test_a_response_reprocess_finds_after_a_resolution_reopens_the_request(tmp_path, store):
    # The operator, seeing no response, decided NEGATIVO; the bank's approval was there, quarantined for
    # a configuration mistake. Read now, it is news the decision did not know (design.md 3.2 step 5).
    fixed = quarantined_for_a_missing_currency(tmp_path, store)
    resolve(store, fixed, "ORD-1001-1", Outcome.NEGATIVO, "no payment seen", "anna")
    reprocess(store, fixed)
    shown = show_request(store, "ORD-1001-1", fixed.timezone)
    assert (shown["outcome"], shown["reason"]) == ("VERIFICARE", "NEW_RESPONSE_AFTER_RESOLUTION")
    # the message still says when it arrived: before the resolution
    (message,) = store.query("SELECT received_at FROM message WHERE provider = 'mybank'")
    (resolution,) = store.query("SELECT created_at FROM resolution")
    assert Store.from_time(message["received_at"]) < Store.from_time(resolution["created_at"])


def test_reprocess_all_reads_a_status_word_mapped_later(tmp_path, store):
    requests = tmp_path / "requests.csv"
    requests.write_text(
        REQUEST_HEADER + "ORD-1001-1,ORD-1001,order,2026-11-26T10:00:00+01:00,Rossi,,129.90,EUR,mybank\n"
    )
    path = tmp_path / "movimenti.csv"
    path.write_bytes(export(row(status="SOSPESO"), row(ref="commissioni", txn="900002")))  # one info row
    ingest(store, load(tmp_path, BANK), requests, path)
    assert show_request(store, "ORD-1001-1", UTC)["reason"] == "UNKNOWN_STATUS"
    fixed = load(tmp_path, BANK.replace("pending: IN CORSO", "pending: [IN CORSO, SOSPESO]"))
    run = Ingest(store, fixed, gateways.instances(fixed, {**gateways.installed(), "csv": CsvProvider}))
    tallies = run.reprocess(read=True)
    # the SOSPESO row reads otherwise; the fee row as before (the request's own line is not re-read)
    assert (tallies["mybank"].records, run.report.unchanged) == (1, 1)
    shown = show_request(store, "ORD-1001-1", UTC)
    assert (shown["outcome"], [t["status"] for t in shown["trail"]]) == ("VERIFICARE", ["pending"])
    assert store.query("SELECT COUNT(*) AS n FROM response")[0]["n"] == 1


def test_money_is_never_a_float(tmp_path):
    r = response(bank(tmp_path), row(amount="0,10"))
    assert type(r.amount_minor) is int and Decimal(r.amount_minor) / 100 == Decimal("0.10")


def test_a_last_row_whose_quote_is_never_closed_is_quarantined_by_ingest_and_by_reprocess(tmp_path):
    provider = bank(tmp_path)
    got = records(provider, export(row(txn="900001"), row(txn="900002", note='"Società Rossi')))
    assert isinstance(got[0], ResponseRecord) and isinstance(got[1], QuarantinedRecord)
    assert got[1].reason == "a quote opened on this line is never closed"
    assert [type(bank(tmp_path).reinterpret(r.origin)) for r in got] == [ResponseRecord, QuarantinedRecord]


def test_a_line_info_pattern_finds_is_informational_whatever_its_fields(tmp_path):
    # a bank writes its totals after the movements, of fewer fields than the header: quarantined in
    # every night's file (exit 1) though never a payment; a totals line of every field, with a
    # reference-looking text, is no response either
    provider = bank(tmp_path, with_settings('info_pattern: "^(Totale|Saldo)"'))
    got = records(
        provider,
        export(
            row(),
            "Totale movimenti;;129,90",
            "Saldo finale;;1.234,56;EUR;ORD-1001-1;ESEGUITO;",
            row(ref="Totale ORD-1001-2", txn="900002"),  # found inside a movement's text: still read
        ),
    )
    assert [type(r) for r in got] == [ResponseRecord, InfoRecord, InfoRecord, ResponseRecord]
    note = "a line info_pattern finds (gateways.mybank.info_pattern): not a movement"
    assert [r.note for r in got if isinstance(r, InfoRecord)] == [note, note]
    assert [r.reference for r in got if isinstance(r, ResponseRecord)] == ["ORD-1001-1", "ORD-1001-2"]
    # reprocess reads them alike; without the setting the short line is quarantined, as before
    assert [
        bank(tmp_path, with_settings('info_pattern: "^(Totale|Saldo)"')).reinterpret(r.origin) for r in got
    ] == got
    plain = records(bank(tmp_path), export("Totale movimenti;;129,90"))
    assert [type(r) for r in plain] == [QuarantinedRecord]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('""', "gateways.mybank.info_pattern: is empty"),
        (
            '"^(Totale"',
            "gateways.mybank.info_pattern: not a regular expression (missing ), unterminated subpattern",
        ),
    ],
)
def test_an_info_pattern_that_is_no_pattern_is_refused_naming_the_key(tmp_path, value, message):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, with_settings(f"info_pattern: {value}"))
    assert message in str(raised.value)
