"""The receiver under a real waitress server on a loopback port, and an HTTP client for it.

``receiver(config)`` starts ``paycli.serve.App`` in a thread of this process (so a test can give it a
clock or read its log); the load and crash tests run ``paycli serve`` as a subprocess instead.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from paycli import gateways
from paycli.config import Config
from paycli.serve import App
from paycli.store import Store
from tests.conftest import make_config, new_store_url


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:200]!r})"


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Reply:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                # skip_host/skip_accept_encoding: only the headers given (a sample's sidecar) are sent
                self.conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                self.conn.putheader("Host", f"127.0.0.1:{self.port}")
                for name, value in (headers or {}).items():
                    self.conn.putheader(name, value.encode("latin-1"))
                if method == "POST" or body:
                    self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body if body else None)
                response = self.conn.getresponse()
                data = response.read()
                return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post(self, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("POST", path, body, headers)

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("GET", path, b"", headers)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Receiver:
    app: App
    port: int
    server: Any
    thread: threading.Thread
    log: list[str] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.port)

    def post(self, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
        client = self.client()
        try:
            return client.post(path, body, headers)
        finally:
            client.close()

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        client = self.client()
        try:
            return client.get(path, headers)
        finally:
            client.close()

    stopping: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        # waitress has no stop(): close every channel so that its loop ends (as webtest does)
        self.stopping.set()
        for channel in list(self.server._map.values()):
            channel.handle_close()
        self.server.task_dispatcher.shutdown()
        self.thread.join(timeout=5)
        self.app.close()


def start_receiver(
    db_url: str,
    config: Config,
    *,
    clock: Callable[[], datetime] | None = None,
    threads: int = 4,
    max_body: int | None = None,
) -> Receiver:
    import waitress

    log: list[str] = []
    app = App(db_url, config, gateways.installed(), log=log.append, clock=clock)
    server = waitress.create_server(
        app,
        host="127.0.0.1",
        port=0,
        threads=threads,
        max_request_body_size=max_body or int(config.serve["max_body_bytes"]),  # type: ignore[call-overload]
        channel_timeout=10,
        asyncore_loop_timeout=0.05,  # so that stop() ends the loop at once
    )
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return Receiver(app, server.effective_port, server, thread, log, stopping)


@pytest.fixture
def idle_waitress(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """``paycli serve`` with a waitress server that stops at once, as after Ctrl-C: what the command
    does before and after serving, and the options it gave the server (the dict returned)."""
    import waitress

    given: dict[str, object] = {}

    class Server:
        effective_host, effective_port = "127.0.0.1", 8080

        def run(self) -> None:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    def create_server(app: object, **options: object) -> Server:
        given.update(options)
        return Server()

    monkeypatch.setattr(waitress, "create_server", create_server)
    return given


@pytest.fixture
def receiver(db_url: str, isolated: Path) -> Iterator[Callable[..., Receiver]]:
    """``receiver(config_text, **options)``: a running receiver on the test store."""
    started: list[Receiver] = []

    def start(text: str = "timezone: Europe/Rome\n", **options: Any) -> Receiver:
        config = make_config(isolated, text)
        r = start_receiver(db_url, config, **options)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


# -- paycli serve as a process ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_serve(
    db_url: str, config_file: Path, port: int, log: Path, threads: int = 8
) -> subprocess.Popen[bytes]:
    """``paycli serve`` in a process of its own, its log appended to ``log``; returns once /healthz
    answers."""
    env = {**os.environ, "PAYCLI_CONFIG": str(config_file), "PAYCLI_DB": db_url}
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "paycli", "serve", "--port", str(port), "--threads", str(threads)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paycli serve exited: {log.read_text()[-2000:]}")
        client = Client(port, timeout=5)
        try:
            if client.get("/healthz").status == 200:
                return process
        except OSError:
            pass
        finally:
            client.close()
        time.sleep(0.05)
    process.kill()
    raise AssertionError("paycli serve did not start within 30 s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def count(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> int:
    return int(store.query(sql, params or {})[0]["n"])


class FakePayPal:
    """PayPal's IPN postback endpoint on loopback: for each body it was told about, its answer (VERIFIED
    or INVALID); INVALID for any other IPN, as PayPal answers for a message it did not send."""

    def __init__(self, answers: Mapping[bytes, str], status: int = 200, default: bytes = b"INVALID") -> None:
        self.answers = answers
        self.default = default
        self.status = status
        self.received: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                fake.received.append(data)
                prefix = b"cmd=_notify-validate&"
                answer = fake.default
                if data.startswith(prefix) and data[len(prefix) :] in fake.answers:
                    answer = fake.answers[data[len(prefix) :]].encode()
                self.send_response(fake.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webscr"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_db_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A second store, beside the test's own (``db_url``)."""
    with new_store_url(tmp_path, sqlite_template, "other.db") as url:
        yield url
