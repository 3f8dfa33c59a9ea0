"""How a callback file becomes a ``Callback``: the body of a raw HTTP dump framed as its headers say
(RFC 9112 6.3 and 7.1), whatever provider then reads it."""

from __future__ import annotations

import pytest

from paycli.gateways.base import Origin
from paycli.gateways.callback import (
    Callback,
    from_origin,
    mask_dump,
    mask_secret_headers,
    parse_headers,
    without_secret_headers,
)

BODY = b"codTrans=T1&esito=OK&importo=12990&divisa=EUR"


def dump(*headers: str, body: bytes = BODY) -> bytes:
    return (
        b"POST /cb HTTP/1.1\r\nHost: shop.example\r\n"
        + "".join(f"{h}\r\n" for h in headers).encode("latin-1")
        + b"\r\n"
        + body
    )


def read(raw: bytes, sidecar: str | None = None) -> Callback:
    return from_origin(Origin(None, raw, None, sidecar))


def test_a_body_with_a_content_length_is_that_many_bytes() -> None:
    callback = read(
        dump(f"Content-Length: {len(BODY)}", body=BODY + b"\r\n\r\n[appended by the capture tool]")
    )
    assert (callback.body, callback.damage) == (BODY, None)


def test_a_body_shorter_than_its_content_length_is_kept_and_said_truncated() -> None:
    callback = read(dump("Content-Length: 416", body=BODY))
    assert callback.body == BODY
    assert callback.damage == f"truncated: Content-Length says 416 bytes, the body has {len(BODY)}"


@pytest.mark.parametrize("length", ["abc", "-1", "12, 12", "\u00b2"])
def test_a_content_length_that_is_no_number_is_damage(length: str) -> None:
    assert (
        read(dump(f"Content-Length: {length}")).damage
        == f"Content-Length '{length}' is not a number of bytes"
    )


def test_without_framing_headers_the_body_is_all_that_follows_the_headers() -> None:
    assert read(dump(body=BODY + b"\n")).body == BODY + b"\n"


def test_headers_end_at_the_first_blank_line_whatever_its_line_ends() -> None:
    body = b"<GestPayCryptDecrypt>\r\n\r\n<TransactionResult>OK</TransactionResult></GestPayCryptDecrypt>"
    lf_only = b"POST /cb HTTP/1.1\nHost: shop.example\nContent-Type: text/xml\n\n" + body
    callback = read(lf_only)
    assert (callback.body, callback.content_type, callback.damage) == (body, "text/xml", None)
    crlf = b"POST /cb HTTP/1.1\r\nHost: shop.example\r\nX-Note: a\r\n\r\n" + b"a=1\n\nb=2"
    assert read(crlf).body == b"a=1\n\nb=2"
    # a CRLF header line followed by a bare LF blank line
    assert read(b"POST /cb HTTP/1.1\r\nHost: shop.example\r\n\n" + BODY).body == BODY


def test_a_chunked_body_is_decoded_with_its_extensions_and_trailer_section() -> None:
    chunked = b"a;name=value\r\n" + BODY[:10] + b"\r\n" + f"{len(BODY) - 10:X}".encode() + b"\r\n"
    chunked += BODY[10:] + b"\r\n0;last\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n-- appended --\r\n"
    callback = read(dump("Transfer-Encoding: chunked", f"Content-Length: {len(BODY)}", body=chunked))
    assert (callback.body, callback.damage) == (BODY, None)  # chunked wins over Content-Length
    assert callback.header("x-trailer") is None  # trailer fields are not merged into the headers


def test_a_chunked_body_without_the_final_line_end_still_decodes() -> None:
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n"
    assert read(dump("Transfer-Encoding: Chunked", body=chunked)).body == BODY


@pytest.mark.parametrize(
    ("chunked", "damage"),
    [
        (b"", "truncated: the chunked body ends before its last chunk (of size 0)"),
        (b"5\r\nhello\r\n", "truncated: the chunked body ends before its last chunk (of size 0)"),
        (b"5\r\nhello\r\n0", "truncated: the chunked body ends before its last chunk (of size 0)"),
        (b"20\r\nhello", "truncated: a chunk says 32 bytes, the body has 5 of them"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "chunked body: the chunk size line '0x5' is not a hexadecimal size"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "chunked body: the chunk size line ' 5' is not a hexadecimal size"),
        (BODY, f"chunked body: the chunk size line '{BODY[:37].decode()}...' is not a hexadecimal size"),
        (b"4\r\nhello\r\n0\r\n\r\n", "chunked body: the chunk of 4 bytes is not followed by a line end"),
    ],
)
def test_a_chunked_body_that_does_not_decode_is_kept_as_it_is_and_says_why(
    chunked: bytes, damage: str
) -> None:
    callback = read(dump("Transfer-Encoding: chunked", body=chunked))
    assert (callback.body, callback.damage) == (chunked, damage)


def test_a_transfer_coding_other_than_chunked_is_damage() -> None:
    callback = read(dump("Transfer-Encoding: gzip"))
    assert callback.damage == "Transfer-Encoding 'gzip' is not one paycli decodes (only chunked)"


def test_a_sidecar_does_not_frame_a_bare_body() -> None:
    # the body beside a sidecar was saved whole, after the transport was undone
    callback = read(BODY + b"\n", f"Transfer-Encoding: chunked\nContent-Length: {len(BODY) + 100}\n")
    assert (callback.body, callback.damage) == (BODY + b"\n", None)
    # nor does it reframe a dump
    callback = read(dump(f"Content-Length: {len(BODY)}"), "Content-Length: 1\n")
    assert (callback.body, callback.damage) == (BODY, None)


def test_a_damaged_dump_never_raises() -> None:
    for raw in (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\xff\xfe\x00", bytes(range(256))):
        assert isinstance(read(raw), Callback)


@pytest.mark.parametrize(
    "sample",
    [
        "paypal/approved/01-completed.txt",
        "axerve/approved/02-approved.xml",
        "skrill/approved/01-approved.txt",
    ],
)
def test_every_provider_quarantines_a_dump_cut_short(config, sample: str) -> None:
    """Not only Nexi and Stripe: a body cut before its Content-Length is never read as it is."""
    from pathlib import Path

    from paycli import gateways
    from paycli.gateways.base import QuarantinedRecord

    body = (Path(__file__).parent / "samples" / sample).read_bytes()
    raw = dump(f"Content-Length: {len(body)}", body=body[:-12])
    provider = gateways.instances(config, gateways.installed())[sample.split("/")[0]]
    record = provider.reinterpret(Origin(None, raw))
    assert isinstance(record, QuarantinedRecord), record
    assert "truncated" in record.reason


@pytest.mark.parametrize(
    "sample",
    [
        "paypal/approved/01-completed.txt",
        "nexi/approved/01-approved.txt",
        "nexi/approved/02-approved-browser-return.http",
        "skrill/approved/01-approved.txt",
        "stripe/approved/03-payment-intent-succeeded.json",
        "axerve/approved/02-approved.xml",
    ],
)
def test_a_byte_order_mark_an_editor_put_in_front_changes_nothing_read(sample: str, monkeypatch) -> None:
    """Saved by an editor with a UTF-8 BOM: the same record, verified the same, the message verbatim."""
    import io
    from pathlib import Path

    from paycli.gateways.base import ResponseRecord, Source
    from tests.gateways.test_golden import scenario_providers

    path = Path(__file__).parent / "samples" / sample
    monkeypatch.chdir(path.parent)  # the scenario's *_file paths are relative to it
    providers = scenario_providers(path.parent)[1]
    provider = providers[sample.split("/")[0]]
    sidecar = path.with_name(path.name + ".headers")
    headers = sidecar.read_text() if sidecar.exists() else None
    body = path.read_bytes()
    records = []
    for raw in (body, b"\xef\xbb\xbf" + body):
        source = Source.from_stream(path.name, io.BytesIO(raw))
        source.headers = headers
        assert provider.identify(source), raw[:20]
        [record] = [r for r in provider.extract(source) if isinstance(r, ResponseRecord)]
        assert record.origin.raw == raw  # kept as it came
        records.append(record)
    plain, marked = records
    assert (marked.reference, marked.status, marked.amount_minor, marked.authenticity) == (
        plain.reference,
        plain.status,
        plain.amount_minor,
        plain.authenticity,
    )


@pytest.mark.parametrize("inside", ["\x85", "\x0c", "\x1c", "\u2028"])
def test_a_credential_is_masked_to_its_line_end_whatever_splits_a_line_sooner(inside: str) -> None:
    text = f"Host: shop.example\r\nAuthorization: Basic S3CRET{inside}M0RE\r\nCookie: a=S3CRET\nX-Seen: yes\n"
    masked = mask_secret_headers(text)
    assert masked == "Host: shop.example\r\nAuthorization: ***\r\nCookie: ***\nX-Seen: yes\n"
    # what splitlines reads as a header of its own after the break is masked with the line too
    assert "S3CRET" not in mask_secret_headers(f"X-Note: a{inside}Cookie: S3CRET\n")


def test_a_dump_decoded_as_latin_1_is_masked_and_keeps_every_other_byte() -> None:
    raw = dump("Authorization: Bearer S3CRET\x85\xe9", body="first_name=Nicol\xf2".encode("cp1252"))
    masked = mask_dump(raw.decode("latin-1")).encode("latin-1")
    assert b"S3CRET" not in masked
    assert masked == raw.replace(b"Bearer S3CRET\x85\xe9", b"***")


def test_a_dump_that_lost_its_crs_is_masked_in_its_headers_only() -> None:
    text = "POST /cb HTTP/1.1\nCookie: S3CRET\n\nnote\r\nAuthorization: shown as sent\r\n\r\nend"
    assert mask_dump(text) == text.replace("Cookie: S3CRET", "Cookie: ***")


def test_a_header_line_ends_at_its_line_feed_only() -> None:
    read_back = read(dump("User-Agent: x\x85Content-Length: 3"))
    assert (
        read_back.headers["user-agent"] == "x\x85Content-Length: 3"
        and "content-length" not in read_back.headers
    )
    assert read_back.body == BODY  # not cut to 3 bytes by a header that is not one
    assert parse_headers("A: 1\r\nB: 2\x0cC: 3\n") == {"a": "1", "b": "2\x0cC: 3"}


def test_a_sidecar_line_that_hides_a_credential_goes_whole() -> None:
    text = "Content-Type: text/plain\nUser-Agent: x\x85Authorization: S3CRET\nStripe-Signature: t=1\n"
    assert without_secret_headers(text) == "Content-Type: text/plain\nStripe-Signature: t=1\n"
