"""The callback receiver: a WSGI application that takes gateway notifications over HTTP (design.md 5, 8).

Routes:

- ``POST|GET /callbacks/<gateway>``: a notification for a gateway configured under ``gateways:``, by the
  methods its provider names (``callback_methods``); not for a gateway configured without the secret
  its provider checks signatures with (``App.unsigned``); a decrypted GestPay result only with the
  bearer token of ``serve.token``;
- ``POST /requests``: the shop registers a payment request (JSON, the fields of design.md 5.1), with
  the bearer token of ``serve.token``;
- ``GET /healthz``: 200 when the store takes a write, 503 when it does not.

Durability first. A callback becomes a ``Source`` of the shape ``paycli ingest`` reads (the bare body
with the headers its provider reads, or for a GET the request line with its query string) and goes
through the same provider and the same ``Ingest`` code, in ONE transaction that also records the
delivery (method, path, query, headers with secret-bearing ones masked, remote address, time). The
gateway gets its acknowledgement only after that transaction committed; when the store cannot commit,
it gets 503 and retries later. A retry of the same bytes is one message and one more delivery.

Concurrency. SQLite takes its write lock at BEGIN IMMEDIATE, so writers (receivers, cron ingests)
queue; inside one receiver, a single writer thread applies the waiting callbacks together, each in a
savepoint, and one commit synced to disk acknowledges them all (``_GroupCommit``). On PostgreSQL, each
callback is a transaction of its own that takes transaction-scoped advisory locks on what its message
is about (its digest, the merchant reference, the gateway transaction) before it reads anything, so
receivers that get the same notification at once apply it one after the other; and, before it
recomputes a request its callback does not name (one its gateway transaction also answers), that
request's reference (``Store.lock_requests``).

The module holds no command-line code: ``paycli serve`` (paycli/commands/serve.py) runs ``App``
under waitress, and any other WSGI server can run ``paycli.serve:application`` (configured by
``PAYCLI_CONFIG`` and ``PAYCLI_DB``).
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import math
import queue
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from paycli.config import Config, Secret
from paycli.errors import RecordError, StoreError
from paycli.gateways import axerve
from paycli.gateways.base import (
    InfoRecord,
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    RefusedRecord,
    RequestRecord,
    ResponseRecord,
    Source,
    one_line,
    parse_json,
)
from paycli.gateways.callback import MAX_CALLBACK_BYTES, is_secret_header
from paycli.ingest import Ingest, Tally, message_digest, unknown_gateway
from paycli.outcome import Authenticity
from paycli.store import Store, sqlite_path

T = TypeVar("T")

StartResponse = Callable[..., Any]
Environ = Mapping[str, Any]

# The headers a provider reads, in the order (and spelling) of the ``.headers`` sidecars, so that a
# callback posted here is the same message as the same callback ingested from a file with its sidecar;
# and after them those a provider names in its ``callback_headers`` (a plugin's signature header).
# User-Agent tells a GestPay S2S call from a buyer's redirect. Nothing else is kept with the message:
# never Authorization or Cookie, and never an incoming X-Paycli-Postback (only the receiver writes it).
KEPT_HEADERS = ("Content-Type", "User-Agent", "Stripe-Signature")
POSTBACK_HEADER = "X-Paycli-Postback"
# Configured providers that are not reached by callbacks (files only).
FILE_ONLY_PROVIDERS = frozenset({"csv", "requests"})


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    allow: tuple[str, ...] = ()  # a 405's methods, for its Allow header (RFC 9110 15.5.6)

    @property
    def status_line(self) -> str:
        return f"{self.status} {_REASONS.get(self.status, 'Unknown')}"


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# What each gateway expects when a notification was taken (gateway-formats.md): a 2xx stops its retries.
ACKNOWLEDGEMENTS: Mapping[str, Answer] = {
    "paypal": Answer(200, "text/plain; charset=utf-8", b""),  # IPN: an empty 200
    "stripe": Answer(200, "application/json", b'{"received": true}\n'),
    "skrill": Answer(200, "text/plain; charset=utf-8", b"OK\n"),
    "nexi": Answer(200, "text/plain; charset=utf-8", b"OK\n"),
    "axerve": Answer(200, "text/html; charset=utf-8", b"<html></html>\n"),
}
DEFAULT_ACKNOWLEDGEMENT = Answer(200, "text/plain; charset=utf-8", b"OK\n")


def _text(status: int, message: str) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", (message + "\n").encode("utf-8"))


def _json(status: int, value: Mapping[str, Any]) -> Answer:
    return Answer(status, "application/json", (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8"))


def _not_allowed(methods: tuple[str, ...]) -> Answer:
    return replace(_text(405, f"use {' or '.join(methods)}"), allow=methods)


def _empty(environ: Environ, method: str, body: bytes, query: str) -> Answer | None:
    """The answer to a callback that brought nothing to read, which no gateway sends: a GET without a
    query string (a crawler, a health probe), 400; a POST without a body, 411 when it said neither a
    Content-Length nor chunked (its bytes, if it sent any, are no part of the request), else 400.
    Acknowledged, it would tell the gateway to stop sending a notification paycli never had; stored,
    every probe would add a quarantined message."""
    if method == "GET" and not query:
        return _text(400, "an empty notification: a GET carries its fields in the query string")
    if method != "POST" or body:
        return None
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    if not str(environ.get("CONTENT_LENGTH") or "").strip() and not chunked:
        return _text(411, "a notification needs a Content-Length (or a chunked body)")
    return _text(400, "an empty notification: nothing to read")


def refusal(provider: str, message: str) -> Answer:
    """The error answer of a notification that failed its check (Stripe reads JSON, the others text)."""
    if provider == "stripe":
        return _json(400, {"error": message})
    return _text(400, message)


# how ingest ends its refusal of a request that conflicts with the stored one
_UPDATE_HINT = "; use --update to replace it"

# A refused body is kept for the operator to see what was refused, up to the size of the largest
# notification any gateway sends: past it, anybody could grow the store by max_body_bytes a request.
# The delivery's size is the whole body's.
REFUSED_BODY_KEPT = MAX_CALLBACK_BYTES

QUERY_TOO_LONG = (
    f"a query string is at most {MAX_CALLBACK_BYTES // 1024} KiB: no gateway's notification is longer"
)

UNAVAILABLE = _text(503, "the store cannot take the notification now; retry later")


class Unavailable(Exception):
    """The store could not commit: the client must retry (503)."""


# --------------------------------------------------------------------------------------------------
# The application


class App:
    """The WSGI application. One store connection and one set of providers per server thread."""

    def __init__(
        self,
        database_url: str,
        config: Config,
        provider_classes: Mapping[str, type[Provider]],
        *,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.database_url = database_url
        self.config = config
        self.classes = provider_classes
        self.settings = config.serve
        self.log = log or _stderr_line
        self.clock = clock or (lambda: datetime.now(UTC))
        self.max_body = int(self.settings["max_body_bytes"])  # type: ignore[call-overload]
        self.store_timeout = int(self.settings["store_timeout_seconds"])  # type: ignore[call-overload]
        token = self.settings.get("token")
        self._token = token.reveal().encode("utf-8") if isinstance(token, Secret) and token else None
        self._local = threading.local()
        self._stores: set[Store] = set()  # every thread's connection, closed by close()
        self._stores_lock = threading.Lock()
        self.callback_gateways = {
            name: gateway.provider
            for name, gateway in config.gateways.items()
            if gateway.provider not in FILE_ONLY_PROVIDERS
        }
        # A gateway whose provider checks a signature, configured without the secret to check it with,
        # would take anybody's unsigned notification as unverifiable, which decides an outcome
        # (design.md 3.4): its route is not opened; its files can still be ingested.
        self.unsigned: dict[str, str] = {}
        for name, provider in list(self.callback_gateways.items()):
            missing = _missing_secret(provider_classes.get(provider), config.gateways[name].settings)
            if missing is not None:
                self.unsigned[name] = missing
                del self.callback_gateways[name]
        # A store behind the code is refused here, once, as every command refuses it (db upgrade); where
        # there is none yet, the receiver makes it, as an ingest does.
        Store.open(database_url, create=True).close()
        self._group = _GroupCommit(self) if sqlite_path(database_url) is not None else None

    # -- per thread ----------------------------------------------------------------------------
    def _store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store.connect(self.database_url)
            try:
                _tune(store, self.store_timeout)
            except Exception:
                store.close()
                raise
            self._local.store = store
            with self._stores_lock:
                self._stores.add(store)
        return store

    def _forget_store(self) -> None:
        store: Store | None = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with self._stores_lock:
                self._stores.discard(store)
            with contextlib.suppress(Exception):  # a broken connection may fail to close: dropped anyway
                store.close()

    def _providers(self) -> dict[str, Provider]:
        providers: dict[str, Provider] | None = getattr(self._local, "providers", None)
        if providers is None:
            from paycli import gateways

            providers = gateways.instances(self.config, self.classes)
            self._local.providers = providers
        return providers

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        route = str(environ.get("PATH_INFO", "")) or "/"  # below where the application is mounted
        path = str(environ.get("SCRIPT_NAME", "")) + route
        note = ""
        try:
            answer, note = self._route(environ, method, route, path)
        except Unavailable as exc:
            answer, note = UNAVAILABLE, f"store unavailable: {exc}"
        except Exception as exc:  # a bug: the client retries, the operator reads the line
            answer, note = _text(500, "internal error"), f"error: {type(exc).__name__}: {exc}"
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
        if answer.status == 503:
            headers.append(("Retry-After", "30"))
        if answer.status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="paycli"'))
        if answer.allow:
            headers.append(("Allow", ", ".join(answer.allow)))
        start_response(answer.status_line, headers)
        elapsed = (time.perf_counter() - started) * 1000
        # No query string (it may carry a customer's data), no header, no body: nothing secret. One
        # line a terminal shows as it is: a method another WSGI server hands on, or an error's text,
        # may hold a line break or an escape sequence
        self.log(
            one_line(
                f"{_now_text()} {_remote(environ)} {method} {quote(path)} {answer.status} "
                f"{len(answer.body)}B {elapsed:.1f}ms{' ' + note if note else ''}"
            )
        )
        # a HEAD answer has no body (RFC 9110 9.3.2), and waitress sends what it is given: on a kept-alive
        # connection the client would read this body as the start of its next answer
        return [] if method == "HEAD" else [answer.body]

    def _route(self, environ: Environ, method: str, route: str, path: str) -> tuple[Answer, str]:
        if route != "/" and route.endswith("/"):
            route = route.rstrip("/") or "/"  # /healthz/ as /healthz (a monitor's, a proxy's slash)
        if route == "/healthz":
            if method not in ("GET", "HEAD"):
                return _not_allowed(("GET", "HEAD")), ""
            return self._health()
        if route == "/requests":
            if method != "POST":
                return _not_allowed(("POST",)), ""
            return self._register(environ)
        if route.startswith("/callbacks/"):
            name = route[len("/callbacks/") :].strip("/")
            provider = self.callback_gateways.get(name)
            if name in self.unsigned:
                return _text(404, f"not served: no {self.unsigned[name]} is configured"), ""
            if provider is None:
                return _text(404, "no such gateway is configured here"), ""
            methods = self.classes[provider].callback_methods
            if method not in methods:
                return _not_allowed(methods), ""
            return self._callback(environ, method, path, name, provider)
        return _text(404, "not found (routes: /callbacks/<gateway>, /requests, /healthz)"), ""

    # -- /healthz ------------------------------------------------------------------------------
    def _health(self) -> tuple[Answer, str]:
        try:
            # a write transaction: a receiver is healthy when it can commit, not only read
            version = self._commit(_write_check)
        except Unavailable as exc:
            return _json(503, {"status": "unavailable"}), f"store unavailable: {exc}"
        return _json(200, {"status": "ok", "schema": str(version)}), ""

    # -- /callbacks/<gateway> ------------------------------------------------------------------
    def _callback(
        self, environ: Environ, method: str, path: str, name: str, provider_name: str
    ) -> tuple[Answer, str]:
        arrived = self.clock()
        body = self._body(environ)
        if body is None:
            return _text(413, f"a notification is at most {self.max_body} bytes"), "too large"
        query = str(environ.get("QUERY_STRING", ""))
        lines = _header_lines(environ)
        headers = {n.lower(): v for n, v in lines}
        kept = [(n, headers[n.lower()]) for n in self._kept_headers(provider_name) if n.lower() in headers]
        # what stops this notification before it is read: None, or the answer and why
        stop: tuple[Answer, str] | None = None
        if len(query) >= MAX_CALLBACK_BYTES:
            # no gateway's notification is this long (a Nexi return is a few hundred bytes): read, it
            # would be refused as a body that long is, and kept whole it would let anybody grow the
            # store by what waitress takes in a request line (256 KiB); its delivery keeps the start
            stop = _text(414, QUERY_TOO_LONG), f"query string of {len(query)} bytes"
        probe = Origin(None, body, None, "".join(f"{n}: {v}\n" for n, v in kept) or None)
        # GestPay itself sends only the encrypted call: a decrypted result comes from the shop's own
        # integration, and nothing in it can be checked, so only the shop's token lets it in
        if (
            stop is None
            and provider_name == "axerve"
            and method == "POST"
            and (axerve.is_result(probe) or self._read_as(name, probe, ResponseRecord))
            and not self._authorized(environ)
        ):
            refused = _text(401, "a decrypted GestPay result needs Authorization: Bearer <serve.token>")
            stop = refused, "no or wrong token"
        postback: str | None = None
        if (
            stop is None
            and provider_name == "paypal"
            and method == "POST"
            and self.settings["paypal_postback"]
            and self._is_ipn(name, probe)
        ):
            postback = self._paypal_postback(body)
            if postback in ("VERIFIED", "INVALID"):
                kept.append((POSTBACK_HEADER, postback))
            else:
                # unchecked, a forged IPN would decide its request whenever PayPal cannot be reached;
                # PayPal resends an IPN that was not acknowledged, for days, and the resend is checked
                refused = _text(503, "PayPal's IPN postback failed; send it again later")
                stop = refused, f"postback failed ({postback}): not stored"
        if method == "GET":
            # the fields are in the query string: stored as the request line of a raw HTTP dump
            target = quote(path) + (f"?{query}" if query else "")
            raw = f"GET {target} HTTP/1.1\r\n\r\n".encode("latin-1", "replace")
        else:
            raw = body
        sidecar = "".join(f"{n}: {v}\n" for n, v in kept) or None
        source = Source.from_stream(f"http {method} {path}", io.BytesIO(raw))
        source.headers, source.received_at = sidecar, arrived
        delivery: dict[str, Any] = {
            "at": None,
            "provider": name,
            "method": method,
            "path": path,
            "query": query[:REFUSED_BODY_KEPT] or None,
            "remote": _remote(environ)[:64],
            "headers": "".join(f"{n}: {'***' if is_secret_header(n) else v}\n" for n, v in lines),
            "size": len(body),
            "body": None,
            "digest": None,
            "result": "",
            "duplicate": False,
            "status": 0,
            "postback": postback,
        }

        empty = _empty(environ, method, body, query)

        def apply(store: Store) -> Answer:
            delivery["at"] = store.time(arrived)
            if stop is not None:
                # only its delivery is kept, with the body, for the operator to see what was refused
                delivery.update(result="refused", body=body[:REFUSED_BODY_KEPT], status=stop[0].status)
                self._insert_delivery(store, delivery)
                return stop[0]
            if empty is not None:
                # nothing to keep but the delivery; an error makes the gateway send it again
                delivery.update(result="refused", status=empty.status)
                self._insert_delivery(store, delivery)
                return empty
            providers = self._providers()
            capture = _Capture(providers[name], self._locker(store))
            said: list[str] = []
            ingest = Ingest(store, self.config, {name: capture}, gateway=name, say=said.append)
            report = ingest.receive(source)
            capture.raise_failure()
            records = capture.records
            if report.refused or not records:
                reason = report.refused[0][1] if report.refused else "no message in it"
                answer = refusal(provider_name, reason)
                delivery.update(result="refused", body=body[:REFUSED_BODY_KEPT], status=answer.status)
            else:
                record = records[0]
                result, answer = self._judge(provider_name, record)
                tally = report.tallies.get(name)
                # every record read is stored (quarantined ones too): its message holds the body
                delivery.update(
                    result=result,
                    status=answer.status,
                    digest=message_digest(record.origin),  # type: ignore[union-attr]
                    duplicate=bool(tally and tally.already_stored),
                )
            self._insert_delivery(store, delivery)
            return answer

        answer = self._commit(apply)
        if stop is not None:
            return answer, f"refused: {stop[1]}"
        note = f"{delivery['result']}{' duplicate' if delivery['duplicate'] else ''}"
        if postback is not None:
            note += f" postback={postback}"
        return answer, note

    @staticmethod
    def _insert_delivery(store: Store, delivery: Mapping[str, Any]) -> None:
        # a NUL in the query string (or a header) the client sent: no PostgreSQL text column takes one,
        # and the refusal would answer 503 to every retry; the message keeps the bytes as they came
        delivery = {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in delivery.items()}
        store.execute(
            "INSERT INTO delivery (received_at, provider, method, path, query, remote_addr, headers, "
            "body_bytes, body, message_digest, result, duplicate, status, postback) VALUES (:at, "
            ":provider, :method, :path, :query, :remote, :headers, :size, :body, :digest, :result, "
            ":duplicate, :status, :postback)",
            delivery,
        )

    @staticmethod
    def _judge(provider: str, record: Record) -> tuple[str, Answer]:
        ack = ACKNOWLEDGEMENTS.get(provider, DEFAULT_ACKNOWLEDGEMENT)
        if isinstance(record, RefusedRecord):
            return "replay", refusal(provider, record.reason)
        if isinstance(record, QuarantinedRecord):
            # kept, and nothing a retry of the same bytes could change: taken (paycli messages shows it)
            return "quarantined", ack
        if isinstance(record, ResponseRecord | InfoRecord):
            if record.authenticity is Authenticity.INVALID:
                return "invalid", refusal(provider, "stored, but its authenticity check failed")
            return ("response" if isinstance(record, ResponseRecord) else "informational"), ack
        return "response", ack

    def _body(self, environ: Environ) -> bytes | None:
        """The request body, or None when it is larger than ``max_body_bytes``."""
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        if length_text.isdigit():
            length = int(length_text)
            if length > self.max_body:
                return None
            return _read(stream, length)
        data = _read(stream, self.max_body + 1)  # no length (a dechunked body): read to the limit
        return None if len(data) > self.max_body else data

    def _is_ipn(self, name: str, origin: Origin) -> bool:
        """Whether the gateway's PayPal provider would keep a body as a message of PayPal's (a response
        or an informational one): only such a body is posted back (not any bytes anybody sends, from the
        shop's address, holding a thread), and every such body is. Asked of the reading that stores it,
        never of a look of its own: a body that look passed over but the provider reads (its field names
        written in the charset its ``charset`` field declares) would be stored unchecked."""
        return self._read_as(name, origin, (ResponseRecord, InfoRecord))

    def _read_as(self, name: str, origin: Origin, kinds: type | tuple[type, ...]) -> bool:
        """Whether the gateway's provider reads a body as a record of ``kinds``, as ingest will."""
        provider = self._providers().get(name)
        if provider is None or len(origin.raw) >= MAX_CALLBACK_BYTES:
            return False  # past a callback's size, ingest refuses it whole
        return isinstance(provider.reinterpret(origin), kinds)

    def _kept_headers(self, provider_name: str) -> tuple[str, ...]:
        """The headers kept with a callback: KEPT_HEADERS, then those its provider reads
        (``Provider.callback_headers``, such as a plugin's signature header); never a credential."""
        own = [
            h
            for h in self.classes[provider_name].callback_headers
            if h.lower() not in {k.lower() for k in KEPT_HEADERS} and not is_secret_header(h)
        ]
        return (*KEPT_HEADERS, *own)

    def _authorized(self, environ: Environ) -> bool:
        """Whether the request carries ``Authorization: Bearer <serve.token>`` (compared in constant
        time); never when no token is configured."""
        if self._token is None:
            return False
        scheme, _, credential = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode("utf-8", "replace"), self._token
        )

    def _paypal_postback(self, body: bytes) -> str:
        """PayPal's answer to the IPN postback: VERIFIED, INVALID, or what went wrong (kept as is)."""
        sandbox = b"test_ipn=1" in body.split(b"&")
        url = str(self.settings["paypal_sandbox_postback_url" if sandbox else "paypal_postback_url"])
        request = urllib.request.Request(
            url,
            data=b"cmd=_notify-validate&" + body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "paycli-serve"},
            method="POST",
        )
        timeout = int(self.settings["paypal_postback_timeout_seconds"])  # type: ignore[call-overload]
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                answer = reply.read(64).decode("ascii", "replace").strip()
        except urllib.error.HTTPError as exc:
            return f"error: HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"error: {type(reason).__name__}"[:64]
        return answer if answer in ("VERIFIED", "INVALID") else f"unexpected: {answer[:40]}"

    # -- POST /requests ------------------------------------------------------------------------
    def _register(self, environ: Environ) -> tuple[Answer, str]:
        if self._token is None:
            return _text(404, "POST /requests is off: set serve.token in the configuration"), ""
        if not self._authorized(environ):
            return _json(401, {"error": "a valid bearer token is required"}), "no or wrong token"
        body = self._body(environ)
        if body is None:
            return _json(413, {"error": f"a request is at most {self.max_body} bytes"}), "too large"
        try:
            fields = parse_json(body.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError is one
            return _json(400, {"error": f"not JSON ({exc})"}), "invalid"
        if not isinstance(fields, dict):
            return _json(400, {"error": "the body must be one JSON object"}), "invalid"
        providers = self._providers()
        requests = providers.get("requests")
        if requests is None:
            return _json(404, {"error": "the requests provider is not installed"}), ""
        try:
            data = requests.parse(fields)  # type: ignore[attr-defined]
        except RecordError as exc:
            return _json(400, {"error": str(exc)}), "invalid"
        gateways = sorted(set(providers) - {"requests"})
        # kept (a payment checked by hand has no provider), but the shop hears of a typo at once
        unknown = {} if data.gateway in gateways else {"warning": unknown_gateway(data.gateway, gateways)}
        # One JSON line, as a request file holds it: JSON never has a raw line end inside a string.
        line = body.replace(b"\r", b" ").replace(b"\n", b" ").strip() + b"\n"
        source = Source.from_stream("http POST /requests", io.BytesIO(line))
        source.received_at = self.clock()
        said: list[str] = []

        def apply(store: Store) -> Tally | None:
            capture = _Capture(requests, self._locker(store))
            ingest = Ingest(
                store,
                self.config,
                {"requests": capture},
                gateway="requests",
                say=said.append,
                gateways=gateways,
            )
            tally = ingest.receive(source).tallies.get("requests")
            capture.raise_failure()
            return tally

        tally = self._commit(apply)
        if tally is not None and tally.requests_new:
            return _json(201, {"txn_id": data.txn_id, "result": "created", **unknown}), "created"
        if tally is not None and tally.requests_unchanged:
            return _json(200, {"txn_id": data.txn_id, "result": "unchanged", **unknown}), "unchanged"
        last = said[-1] if said else ""
        reason = last.split(": ", 1)[-1].removesuffix(_UPDATE_HINT) or "refused"
        if last.endswith(_UPDATE_HINT):  # a stored request says otherwise, and is kept
            return _json(409, {"txn_id": data.txn_id, "result": "conflict", "error": reason}), "conflict"
        # refused for what it holds (ingest quarantined it): nothing is stored, the shop must fix it
        return _json(400, {"txn_id": data.txn_id, "result": "invalid", "error": reason}), "invalid"

    # -- the store -----------------------------------------------------------------------------
    def _commit(self, apply: Callable[[Store], T]) -> T:
        """``apply(store)`` in a transaction that has committed when this returns; ``Unavailable``
        when the store could not take it."""
        if self._group is not None:
            return self._group.run(apply)
        # A connection the server ended while it sat idle in this thread (PostgreSQL restarted, a
        # failover) fails at BEGIN, before anything was done: the work is tried once more on a new
        # connection. Each thread's first callback after a restart was a 503, one a thread.
        reused = getattr(self._local, "store", None) is not None
        began = False
        try:
            with self._writing() as store, store.transaction():
                began = True
                return apply(store)
        except Unavailable:
            if began or not reused:
                raise
        with self._writing() as store, store.transaction():
            return apply(store)

    def _writing(self) -> _Writing:
        return _Writing(self)

    def close(self) -> None:
        """Stop the SQLite writer thread, if any, and close every thread's connection (once the server
        stopped: a process that exits needs not call it)."""
        if self._group is not None:
            self._group.close()
        with self._stores_lock:
            stores, self._stores = self._stores, set()
        for store in stores:
            with contextlib.suppress(Exception):
                store.close()

    def _locker(self, store: Store) -> Callable[[Record], None]:
        if store.backend != "postgresql":
            return lambda record: None  # SQLite: BEGIN IMMEDIATE already made this the only writer

        def lock(record: Record) -> None:
            store.lock_keys(_lock_keys(record))

        return lock


class _Job(Generic[T]):
    def __init__(self, apply: Callable[[Store], T], deadline: float) -> None:
        self.apply = apply
        self.deadline = deadline  # time.monotonic() past which it waits for the store's lock no more
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class _GroupCommit:
    """SQLite's writers take turns anyway (one write lock), and a commit that survives a power cut
    costs an fsync: one writer thread applies what the request threads hand it, in one transaction
    the callbacks that were waiting and those that arrive while it applies them (each in a savepoint
    of its own), so that one fsync acknowledges them all. A callback that fails on its own (a bug) is rolled back alone; a store failure fails the batch
    (503 to each: the gateways retry)."""

    MAX_BATCH = 64

    def __init__(self, app: App) -> None:
        self.app = app
        self.jobs: queue.Queue[_Job[Any] | None] = queue.Queue()
        self.wait = app.store_timeout * 2 + 60  # a safety net: the store itself times out first
        self.thread = threading.Thread(target=self._loop, name="paycli-writer", daemon=True)
        self.thread.start()

    def run(self, apply: Callable[[Store], T]) -> T:
        job = _Job(apply, time.monotonic() + self.app.store_timeout)
        self.jobs.put(job)
        if not job.done.wait(self.wait):
            raise Unavailable("the store's writer did not answer in time")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self.jobs.get()
            if first is None:
                break
            stopping = self._apply(first)
        self.app._forget_store()

    def _apply(self, first: _Job[Any]) -> bool:
        """Apply ``first`` and the jobs that arrive meanwhile in one transaction; True when a stop came."""
        batch = [first]
        stopping = False
        try:
            with self.app._writing() as store:
                # A callback waits for the lock store_timeout_seconds from its arrival, not from its
                # turn: behind a cron ingest's lock, the writer tried the waiting ones one after the
                # other for the whole time-out each, and the tenth answered 503 after ten time-outs.
                # The first of a batch is the one that has waited longest.
                left = math.ceil(max(0.0, first.deadline - time.monotonic()) * 1000)
                store.execute(f"PRAGMA busy_timeout = {left}")
                with store.transaction():
                    index = 0
                    while index < len(batch):
                        job = batch[index]
                        store.execute("SAVEPOINT job")
                        try:
                            job.result = job.apply(store)
                        except Exception as exc:
                            if _is_store_failure(exc):
                                raise
                            store.execute("ROLLBACK TO job")
                            job.error = exc
                        store.execute("RELEASE job")
                        index += 1
                        # what arrived while this one was applied joins the same commit
                        if index == len(batch) and len(batch) < self.MAX_BATCH and not stopping:
                            try:
                                waiting = self.jobs.get_nowait()
                            except queue.Empty:
                                break
                            if waiting is None:
                                stopping = True  # close(): this batch is the last
                            else:
                                batch.append(waiting)
        except BaseException as exc:  # nothing of the batch committed
            for job in batch:
                job.result, job.error = None, exc
        finally:
            for job in batch:
                job.done.set()
        return stopping


class _Writing:
    """The thread's store for one unit of work; a failure of the database becomes ``Unavailable``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __enter__(self) -> Store:
        try:
            return self.app._store()
        except Exception as exc:
            raise Unavailable(_short(exc)) from exc

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not _is_store_failure(exc):
            return
        self.app._forget_store()  # a fresh connection for the next request
        raise Unavailable(_short(exc)) from exc


class _Capture(Provider):
    """The gateway's own provider, seen by ``Ingest``: it remembers the records it read and, on
    PostgreSQL, takes the advisory locks of each before the pipeline reads the store."""

    name = "capture"
    description = "a provider's records, remembered"
    reads = ()

    def __init__(self, inner: Provider, lock: Callable[[Record], None]) -> None:
        super().__init__(inner.instance, inner.options, inner.config)
        self.inner = inner
        self.lock = lock
        self.records: list[Record] = []
        self.failure: Exception | None = None

    def raise_failure(self) -> None:
        """Raise what failed taking a lock. Ingest takes a failure inside ``extract`` for the provider's
        and refuses the body (400); PostgreSQL's lock time-out had aborted the transaction, whose next
        statement then failed, and the log read 'current transaction is aborted', not the lock."""
        if self.failure is not None:
            raise self.failure

    def identify(self, source: Source) -> bool:
        return True

    def extract(self, source: Source) -> Iterator[Record]:
        for record in self.inner.extract(source):
            if not isinstance(record, Notice):
                self.records.append(record)
                try:
                    self.lock(record)
                except Exception as exc:
                    self.failure = exc
                    raise
            yield record

    def payment_of(self, dedupe_key: str, status: str, gateway_txn_id: str) -> str:  # type: ignore[override]
        # a class attribute of Provider, which __getattr__ would not reach: the gateway's own
        return self.inner.payment_of(dedupe_key, status, gateway_txn_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _lock_keys(record: Record) -> set[str]:
    """What two transactions must not apply at once: the same bytes, the same merchant reference (a
    response and its request arriving together), the same gateway transaction (a Stripe charge event
    without the reference and the PaymentIntent event that carries it)."""
    names: set[str] = set()
    origin: Origin | None = getattr(record, "origin", None)
    if origin is not None:
        names.add("digest:" + message_digest(origin))
    if isinstance(record, RequestRecord):
        names.add("ref:" + record.data.txn_id)
    reference = getattr(record, "reference", None)
    if isinstance(reference, str) and reference:
        names.add("ref:" + reference)
    gateway_txn = getattr(record, "gateway_txn_id", None)
    if isinstance(gateway_txn, str) and gateway_txn:
        names.add("gtx:" + gateway_txn)
        # and its other ids: a copy keyed by a PayPal capture's own txn_id is the same transaction
        names.update("gtx:" + alias for alias in getattr(record, "aliases", ()))
    return names


def _write_check(store: Store) -> str:
    """The schema version, read in a transaction that wrote: SQLite's BEGIN IMMEDIATE already took the
    write lock; PostgreSQL begins any transaction, read-only ones too (default_transaction_read_only, a
    standby after a failover), so a row is written, to the value it has."""
    if store.backend == "postgresql":
        store.execute("UPDATE alembic_version SET version_num = version_num")
    return store.check_schema()  # a store upgraded under this receiver takes none of its writes


def _missing_secret(provider: type[Provider] | None, settings: Mapping[str, object]) -> str | None:
    """The secret setting a gateway's provider checks its notifications with and the gateway lacks,
    or None (a provider with no secret setting, such as PayPal's or Axerve's, lacks none)."""
    if provider is None:
        return None
    for key, setting in provider.settings.items():
        if setting.kind is Secret and not settings.get(key):
            return key
    return None


def _tune(store: Store, timeout: int) -> None:
    """A receiver waits for the store at most ``timeout`` seconds (then answers 503), and on SQLite
    syncs every commit to disk: an acknowledged notification must survive a power cut, not only a
    crash of the process."""
    if store.backend == "sqlite":
        store.execute(f"PRAGMA busy_timeout = {timeout * 1000}")
        store.execute("PRAGMA synchronous = FULL")
    else:
        store.execute(f"SET lock_timeout = {timeout * 1000}")
        store.execute(f"SET statement_timeout = {timeout * 2000}")


def _is_store_failure(exc: BaseException) -> bool:
    if isinstance(exc, StoreError | sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200]


def _read(stream: Any, length: int) -> bytes:
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _header_lines(environ: Environ) -> list[tuple[str, str]]:
    lines = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = "-".join(part.capitalize() for part in key[5:].split("_"))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = "-".join(part.capitalize() for part in key.split("_"))
        else:
            continue
        if value != "":
            lines.append((name, str(value)))
    return sorted(lines)


def _remote(environ: Environ) -> str:
    return str(environ.get("REMOTE_ADDR") or "-")


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_log_lock = threading.Lock()


def _stderr_line(line: str) -> None:
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def application(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The receiver for any WSGI server (gunicorn, mod_wsgi, ...), configured as the command line is:
    ``PAYCLI_CONFIG`` (or the configuration search order) and ``PAYCLI_DB``."""
    global _default_app
    with _default_lock:
        if _default_app is None:
            from paycli.workspace import Workspace

            ws = Workspace()
            _default_app = App(ws.database_url, ws.config, ws.provider_classes)
    return _default_app(environ, start_response)


_default_app: App | None = None
_default_lock = threading.Lock()
