"""The shop's request files as the requests provider reads them: its settings, and a stored line read
again by ``reinterpret`` (``paycli reprocess``). The pipeline around it is in tests/test_ingest.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from paycli.errors import ConfigError
from paycli.gateways.base import Notice, QuarantinedRecord, Source
from paycli.gateways.requests import RequestFileProvider
from tests.conftest import REQUEST_HEADER, make_config

ROW = "T1,O1,order,2026-11-26T10:15:00+01:00,Rossi,mario.rossi@example.com,129.90,EUR,nexi"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hex", "'hex' is not a text encoding (e.g. utf-8, cp1252, latin-1)"),
        ("zlib", "'zlib' is not a text encoding (e.g. utf-8, cp1252, latin-1)"),
        ("undefined", "'undefined' is not an ASCII-compatible encoding; convert the file to UTF-8 first"),
        # codecs that read plain ASCII as it is, but not a backslash, a '+', a '~' or an 'xn--' label
        *[
            (codec, f"'{codec}' is not an ASCII-compatible encoding; convert the file to UTF-8 first")
            for codec in ("unicode_escape", "raw_unicode_escape", "utf-7", "hz", "idna")
        ],
    ],
)
def test_an_encoding_that_is_no_text_encoding_is_a_configuration_error_naming_the_key(
    tmp_path: Path, value: str, problem: str
) -> None:
    # a codec found but not for text made the check itself fail: "unexpected error", exit 70
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, f"requests:\n  encoding: {value}\n")
    assert str(caught.value) == f"{tmp_path / 'paycli.yaml'}: requests.encoding: {problem}"


# -- reinterpret -----------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["auto", "utf-8", "latin-1"])
def test_reinterpret_reads_each_stored_line_exactly_as_extract_did(tmp_path: Path, encoding: str) -> None:
    # under utf-8 a cp1252 line was "not valid utf-8" instead of its own reason; under latin-1 a 0x85
    # byte (U+0085, a line break to str.splitlines) cut the line in two: "expected 9 fields"
    config = make_config(tmp_path, f"timezone: Europe/Rome\nrequests:\n  encoding: {encoding}\n")
    lines = [
        ROW.replace("Rossi", "Perè").encode("cp1252"),
        ROW.replace("T1,", "T2,", 1).replace("Rossi", "Perè").replace("129.90", "abc").encode("cp1252"),
        ROW.replace("T1,", "T3,", 1).replace("Rossi", "Rossi\x85").encode("latin-1"),
        ROW.replace("T1,", "T4,", 1).replace("Rossi", "Rossi\x85").replace("129.90", "abc").encode("latin-1"),
        ROW.replace("T1,", "T5,", 1).replace("Rossi", "Ros\rsi").encode(),  # not a CSV record
        ROW.replace("T1,", "T6,", 1).replace(",EUR", "").encode(),  # a field short
    ]
    data = REQUEST_HEADER.encode() + b"".join(line + b"\n" for line in lines)
    provider = RequestFileProvider("requests", config.requests, config)
    source = Source.from_stream("ru.csv", io.BytesIO(data))
    got = [r for r in provider.extract(source) if not isinstance(r, Notice)]
    assert len(got) == len(lines)
    reasons = [r.reason for r in got if isinstance(r, QuarantinedRecord)]
    assert sum("amount 'abc' is not a decimal number" in r for r in reasons) == 2, reasons
    fresh = RequestFileProvider("requests", config.requests, config)  # a new process: nothing cached
    assert [fresh.reinterpret(r.origin) for r in got] == got  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "lines",
    [
        # a quote that runs on over the next lines: its first line is quarantined, the others read
        [ROW.replace(",nexi", ',"nexi'), ROW.replace("T1,", "T2,", 1), ROW.replace("T1,", "T3,", 1)],
        # the file's last line, its quote never closed: read as if it closed there, it was a request
        [ROW.replace("T1,", "T2,", 1), ROW.replace(",nexi", ',"exi')],
    ],
    ids=["runs on", "last line"],
)
def test_a_quote_left_open_is_quarantined_by_ingest_and_by_reprocess_alike(
    tmp_path: Path, lines: list[str]
) -> None:
    # found by the fuzz test: reprocess read the first line of a runaway quote alone as a request of
    # gateway 'exi' that ingest had quarantined
    config = make_config(tmp_path, "timezone: Europe/Rome\n")
    data = (REQUEST_HEADER + "".join(line + "\n" for line in lines)).encode()
    provider = RequestFileProvider("requests", config.requests, config)
    got = [
        r
        for r in provider.extract(Source.from_stream("q.csv", io.BytesIO(data)))
        if not isinstance(r, Notice)
    ]
    quarantined = [r for r in got if isinstance(r, QuarantinedRecord)]
    assert [r.origin.line for r in quarantined] == [2 if len(lines) == 3 else 3]
    assert len(got) == len(lines)
    for record in got:
        again = RequestFileProvider("requests", config.requests, config).reinterpret(record.origin)
        assert isinstance(again, QuarantinedRecord) == isinstance(record, QuarantinedRecord), again


def test_a_spreadsheets_empty_columns_and_emptied_rows_are_no_requests_and_no_errors(tmp_path: Path) -> None:
    # Excel saves the empty columns right of the table as unnamed cells, and a row whose values were
    # deleted as separators only: "column  appears twice", and "txn_id is empty" on every ingest
    config = make_config(tmp_path, "timezone: Europe/Rome\n")
    rows = [ROW + ",,", ",,,,,,,,,,", " , ,,,,,,,,,", ROW.replace("T1,", "T2,", 1) + ",,", ",,,,"]
    data = (REQUEST_HEADER.rstrip("\n") + ",,\r\n" + "".join(row + "\r\n" for row in rows)).encode()
    provider = RequestFileProvider("requests", config.requests, config)
    got = list(provider.extract(Source.from_stream("xl.csv", io.BytesIO(data))))
    assert [(r.origin.line, r.data.txn_id) for r in got] == [(2, "T1"), (5, "T2")]  # type: ignore[union-attr]
    # a named column paycli does not know is still said, and two of one name still refused
    named = (REQUEST_HEADER.rstrip("\n") + ",note,\n" + ROW + ",x,\n").encode()
    said = [
        r for r in provider.extract(Source.from_stream("n.csv", io.BytesIO(named))) if isinstance(r, Notice)
    ]
    assert [n.message for n in said] == ["n.csv: column note is not a request column; ignored"]
