"""The shapes in which a gateway's callback reaches paycli as a file (design.md 5.2).

- the bare body, as the gateway posted it (form-encoded, JSON or XML);
- the bare body with its HTTP headers in a sidecar file ``<file>.headers`` (one ``Name: value`` a line);
- a raw HTTP request dump: request line, headers, a blank line, the body; a GET callback carries its
  fields in the query string. The body is framed as the dump's own headers say (RFC 9112 6.3): a
  chunked body is decoded, a body with a Content-Length is that many bytes (what a capture tool appended
  after them is not the message's).

``read_callback`` turns any of them into a ``Callback``; providers decide from it whether the callback
is theirs and what it says. The bytes stored for the message are the file's bytes, untouched.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import AnyStr
from urllib.parse import unquote_to_bytes, urlsplit

from paycli.gateways.base import HEAD_BYTES, Origin, Source, SourceError

MAX_CALLBACK_BYTES = HEAD_BYTES  # a gateway callback is a few KiB; a larger file is not one
_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|HEAD) (\S+) HTTP/\d(?:\.\d)?\r?$")
# A chunk-size line (RFC 9112 7.1): hex digits, then any chunk extensions, which carry nothing paycli uses.
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;.*)?")
_LENGTH = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Callback:
    method: str  # "POST" for a bare body
    target: str | None  # the request target of a dump: path and query
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    query: str = ""
    # why a dump's body is not the whole message its headers announce (cut short, chunks that do not
    # decode): the body is then the bytes as they are, and a provider quarantines the message rather
    # than check a signature over a part of it
    damage: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def form_data(self) -> bytes:
        """The form-encoded bytes: the query string of a GET, else the body.

        The blanks at either end are dropped: a form body never holds a raw one (it would be escaped),
        but a file saved by an editor or a log may add a line end, which must not become part of the
        last field, often a signed one.
        """
        data = self.query.encode("latin-1") if self.method == "GET" else self.body
        return data.strip()

    def raw_fields(self) -> dict[str, bytes]:
        """The form fields as bytes: percent-escapes decoded, no charset applied (last value wins).

        These are the bytes a gateway computes its signature over, whatever their charset.
        """
        fields: dict[str, bytes] = {}
        for part in self.form_data().split(b"&"):
            if part:
                name, _, value = part.partition(b"=")
                key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
                fields[key] = unquote_to_bytes(value.replace(b"+", b" "))
        return fields

    def fields(self, encoding: str = "utf-8") -> dict[str, str]:
        """The form fields as text in ``encoding`` (a byte it cannot read becomes U+FFFD)."""
        return {k: v.decode(encoding, "replace") for k, v in self.raw_fields().items()}


# Header names whose values may carry a credential: Authorization, Cookie, X-Api-Key, X-Auth-Token...
_SECRET_HEADER_WORDS = (
    "auth",
    "cookie",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "apikey",
    "session",
)


def is_secret_header(name: str) -> bool:
    """Whether a header's value may be a credential. No provider reads one: a sidecar's is not stored,
    the delivery record and ``paycli show --raw`` print ``***``."""
    lowered = name.strip().lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS)


def without_secret_headers(text: str) -> str:
    """Sidecar headers without the lines of credential-bearing ones."""
    # a line goes whole when any part of it looks like a credential's: see mask_secret_headers
    return "\n".join(line for line in text.split("\n") if not _holds_secret(line))


def _holds_secret(line: str) -> bool:
    return any(is_secret_header(piece.partition(":")[0]) for piece in line.splitlines() if ":" in piece)


def mask_secret_headers(text: str) -> str:
    """Header lines (``Name: value``) with the values of credential-bearing ones as ``***``.

    A line ends at ``\n``, as ``header_fields`` reads it. A part of one that ``str.splitlines`` would
    break off (after ``\x85``, ``\x0c``, ...) and that looks like a credential's header is masked too, to
    the line's end: a value holding ``\x85Authorization: ...`` is no header, but may still be a secret."""
    out = []
    for line in text.split("\n"):
        kept = ""
        for piece in line.splitlines(keepends=True):
            name, colon, _ = piece.partition(":")
            if colon and is_secret_header(name):
                kept += f"{name}: ***" + ("\r" if line.endswith("\r") else "")
                break
            kept += piece
        out.append(kept)
    return "\n".join(out)


def mask_dump(text: str) -> str:
    """A stored message as text, with the credential-bearing header values of a raw HTTP dump (request
    line, headers, blank line, body) as ``***``; any other message as it is."""
    first = text.split("\n", 1)[0]
    if _REQUEST_LINE.match(first.encode("latin-1", "replace")) is None:
        return text
    head, blank, body = _head_and_body(text, "\r\n\r\n", "\n\n")
    return mask_secret_headers(head) + blank + body


def _head_and_body(dump: AnyStr, crlf: AnyStr, lf: AnyStr) -> tuple[AnyStr, AnyStr, AnyStr]:
    """A raw HTTP dump's header block, the blank line that ends it, and its body, as ``partition``
    (``crlf`` and ``lf`` are the two blank lines, as bytes or text like ``dump``).

    The headers end at the first blank line, CRLF or bare LF (RFC 9112 2.2): a dump that lost its CRs
    may still carry a body with CRLF blank lines in it (an XML answer saved as it came)."""
    at_crlf, at_lf = dump.find(crlf), dump.find(lf)
    return dump.partition(lf if at_lf >= 0 and (at_crlf < 0 or at_lf < at_crlf) else crlf)


def header_fields(text: str) -> Iterator[tuple[str, str]]:
    """Each ``Name: value`` line of a header block or sidecar as (lower-case name, value).

    Lines end at ``\n`` (a ``\r`` before it dropped), never where ``str.splitlines`` would also break
    (``\x85``, ``\x0c``, ``\x1c``, ``\u2028``): a sender may put those inside a header value, which
    must not become a header of its own (``User-Agent: x\x85X-Paycli-Postback: VERIFIED``)."""
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            yield name.strip().lower(), value.strip()


def parse_headers(text: str) -> dict[str, str]:
    """A header block or sidecar (``Origin.headers``) as a dict by lower-case name."""
    return dict(header_fields(text))


def from_origin(origin: Origin) -> Callback:
    """The callback a stored message holds (its raw bytes and sidecar headers); never raises: a dump's
    body that cannot be framed is kept as it is, and ``damage`` says why.

    A UTF-8 byte-order mark in front (an editor's, when the file was saved) is no part of what the
    gateway sent, nor of what it signed: it is dropped, from what is read only (the message keeps it)."""
    raw = origin.raw.removeprefix(codecs.BOM_UTF8)
    first, _, _ = raw.partition(b"\n")
    match = _REQUEST_LINE.match(first)
    if match is None:
        return Callback("POST", None, parse_headers(origin.headers or ""), raw)
    head, _, body = _head_and_body(raw, b"\r\n\r\n", b"\n\n")
    method, target = match.group(1).decode(), match.group(2).decode("latin-1")
    headers = parse_headers(head.decode("latin-1").partition("\n")[2])
    # framed by the dump's own headers only: a sidecar's describe a body already received whole
    body, damage = _framed(body, headers)
    if origin.headers:
        headers.update(parse_headers(origin.headers))
    return Callback(method, target, headers, body, urlsplit(target).query, damage)


def _framed(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, str | None]:
    """The message body of a dump as its headers frame it (RFC 9112 6.3), and what is wrong with it.

    Transfer-Encoding wins over Content-Length; with neither, the body is all that follows the headers.
    """
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower() != "chunked":
            return body, f"Transfer-Encoding '{shown(coding)}' is not one paycli decodes (only chunked)"
        try:
            return _dechunked(body), None
        except ValueError as exc:
            return body, str(exc)
    length = headers.get("content-length")
    if length is None:
        return body, None
    if not _LENGTH.fullmatch(length):
        return body, f"Content-Length '{shown(length)}' is not a number of bytes"
    if len(body) < int(length):
        return body, f"truncated: Content-Length says {int(length)} bytes, the body has {len(body)}"
    return body[: int(length)], None


def _dechunked(data: bytes) -> bytes:
    """The content of a chunked body (RFC 9112 7.1); ValueError says why it cannot be decoded.

    Each chunk is a hex size line (chunk extensions ignored), that many bytes and a line end; a chunk of
    size 0 ends the content. The trailer section that follows is not read: its fields are not merged
    into the headers (RFC 9110 6.5.1), and nothing after it belongs to the message. A bare LF ends a
    line as CRLF does (RFC 9112 2.2): a dump may have lost its CRs.
    """
    content = bytearray()
    at = 0
    while True:
        end = data.find(b"\n", at)
        line = data[at : len(data) if end < 0 else end].removesuffix(b"\r")
        size_line = _CHUNK_SIZE.fullmatch(line)
        if end < 0 and (size_line is not None or not line):
            raise ValueError("truncated: the chunked body ends before its last chunk (of size 0)")
        if size_line is None:
            raise ValueError(f"chunked body: the chunk size line '{shown(line)}' is not a hexadecimal size")
        size = int(size_line.group(1), 16)
        at = end + 1
        if size == 0:
            return bytes(content)
        chunk = data[at : at + size]
        if len(chunk) < size:
            raise ValueError(f"truncated: a chunk says {size} bytes, the body has {len(chunk)} of them")
        content += chunk
        at += size
        if data.startswith(b"\r\n", at):
            at += 2
        elif data.startswith(b"\n", at):
            at += 1
        else:
            raise ValueError(f"chunked body: the chunk of {size} bytes is not followed by a line end")


def shown(text: str | bytes, limit: int = 40) -> str:
    """Sender-controlled text (a header value, a line of a dump, a form field, a file's cell) fit to
    quote in a one-line message: control characters as ``?``, at most ``limit`` characters."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_callback(source: Source) -> Callback | None:
    """The callback a source holds, or None when the source is too large to be one."""
    if len(source.head) >= MAX_CALLBACK_BYTES:
        return None
    return from_origin(Origin(None, source.head, None, source.headers))


def callback_origin(source: Source, refusal: str) -> Origin:
    """The stored form of a one-message callback file: its bytes exactly, with its sidecar headers.

    A file of ``MAX_CALLBACK_BYTES`` or more is no callback; ``identify`` never claims one, so only
    ``--gateway`` brings it here. It is refused whole (``refusal`` says why), never read into memory.
    """
    if len(source.head) >= MAX_CALLBACK_BYTES:
        raise SourceError(refusal)
    return Origin(None, source.head, None, source.headers)
