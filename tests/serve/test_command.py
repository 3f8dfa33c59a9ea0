"""``paycli serve`` itself: its options, and the proxy it is told to trust."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from tests.plugins import plugins_fixture  # noqa: F401 (a fixture)
from tests.serve.conftest import Client, free_port, spawn_serve, stop_process
from tests.serve.traffic import CONFIG, FORM, nexi_callback
from tests.test_plugins import FINE


def test_serve_has_help_with_examples(cli):
    result = cli("serve", "--help")
    assert result.code == 0
    assert "/callbacks/GATEWAY" in result.stdout and "Examples:" in result.stdout


def test_a_wrong_port_or_thread_count_is_a_usage_error(cli):
    assert "--port: 70000 is not a port number" in cli("serve", "--port", "70000").stderr
    assert cli("serve", "--threads", "0").code == 2


def test_a_port_in_use_or_an_address_not_this_machines_is_one_line(cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert (result.code, result.stderr) == (
        2,
        f"paycli: cannot listen on 127.0.0.1:{port} (Address already in use)\n",
    )
    result = cli("serve", "--host", "no-such-host.invalid", "--port", "8080")
    assert result.code == 2 and result.stderr.startswith(
        "paycli: cannot listen on no-such-host.invalid:8080 ("
    )
    assert len(result.stderr.splitlines()) == 1
    with socket.socket() as probe:  # a documentation address (RFC 5737), no machine's own
        try:
            probe.bind(("192.0.2.1", 0))
        except OSError:
            pass
        else:
            pytest.skip("this machine may bind any address (ip_nonlocal_bind)")
    result = cli("serve", "--host", "192.0.2.1", "--port", "8080")
    assert (result.code, result.stderr) == (
        2,
        "paycli: cannot listen on 192.0.2.1:8080 (Cannot assign requested address)\n",
    )


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("0.0.0.0:8080", "--host: '0.0.0.0:8080': give the host name alone, and the port in --port"),
        ("http://0.0.0.0", "--host: 'http://0.0.0.0': give the host name alone, without a scheme"),
    ],
)
def test_a_host_option_with_a_port_or_a_scheme_is_said_so_as_serve_host_is(cli, isolated, host, said):
    # serve.host was checked on load; the option, its twin, was looked up as a name:
    # "cannot listen on [0.0.0.0:8080]:8080 (Name or service not known)"
    result = cli("serve", "--host", host, "--port", "8080")
    assert (result.code, result.stderr) == (2, f"paycli: {said}\n")


def test_the_server_gets_the_configured_limits(cli, isolated, idle_waitress):
    given = idle_waitress
    (isolated / "paycli.yaml").write_text(
        "timezone: Europe/Rome\nserve:\n  connection_limit: 400\n  client_timeout_seconds: 12\n"
        "  max_body_bytes: 4096\n"
    )
    assert cli("serve").code == 0
    assert (given["connection_limit"], given["channel_timeout"], given["max_request_body_size"]) == (
        400,
        12,
        4096,
    )


def test_the_receiver_makes_the_store_that_is_not_there(cli, isolated, idle_waitress):
    from paycli.migrations import HEAD
    from paycli.store import peek_schema

    new = isolated / "new" / "paycli.db"
    assert cli("--db", str(new), "serve", db=False).code == 0
    assert peek_schema(str(new)) == (True, HEAD)


def test_every_address_listened_on_is_named(cli, monkeypatch):
    import waitress

    class Server:  # what waitress gives for --host '*': a socket for each address family
        effective_listen = (("0.0.0.0", 8080), ("::", 8080))

        def run(self) -> None:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    monkeypatch.setattr(waitress, "create_server", lambda app, **options: Server())
    result = cli("serve", "--host", "*", "--port", "8080")
    assert result.code == 0
    assert "listening on http://0.0.0.0:8080 and http://[::]:8080 (" in result.stderr


def remote_of_a_forwarded_callback(db_url: str, folder: Path, config: str, store) -> str:
    config_file = folder / "serve.yaml"
    config_file.write_text(config)
    port = free_port()
    server = spawn_serve(db_url, config_file, port, folder / "serve.log")
    client = Client(port)
    try:
        headers = {"Content-Type": FORM, "X-Forwarded-For": "203.0.113.7"}
        assert client.post("/callbacks/nexi", nexi_callback(1), headers).status == 200
    finally:
        client.close()
        stop_process(server)
    assert "listening on http://127.0.0.1:" in (folder / "serve.log").read_text()
    return str(store.query("SELECT remote_addr FROM delivery ORDER BY id DESC")[0]["remote_addr"])


def test_the_client_address_comes_from_the_trusted_proxy_only(store, db_url, isolated):
    assert remote_of_a_forwarded_callback(db_url, isolated, CONFIG, store) == "127.0.0.1"
    trusting = CONFIG + "serve:\n  trusted_proxy: 127.0.0.1\n"
    assert remote_of_a_forwarded_callback(db_url, isolated, trusting, store) == "203.0.113.7"


def test_any_wsgi_server_can_run_the_module_application(store, db_url, isolated, monkeypatch):
    import io

    from paycli import serve

    (isolated / "serve.yaml").write_text(CONFIG)
    monkeypatch.setenv("PAYCLI_CONFIG", str(isolated / "serve.yaml"))
    monkeypatch.setenv("PAYCLI_DB", db_url)
    monkeypatch.setattr(serve, "_default_app", None)
    said: list[str] = []
    body = nexi_callback(2)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/callbacks/nexi",
        "CONTENT_TYPE": FORM,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
    }
    try:
        answer = serve.application(environ, lambda status, headers: said.append(status))
        assert said == ["200 OK"] and b"".join(answer) == b"OK\n"
    finally:
        assert serve._default_app is not None
        serve._default_app.close()
    assert store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] == 1


def test_mounted_under_a_prefix_it_routes_below_it_and_records_the_whole_path(store, db_url, isolated):
    import io

    from paycli import gateways
    from paycli.serve import App
    from tests.conftest import make_config

    app = App(db_url, make_config(isolated, CONFIG), gateways.installed(), log=lambda line: None)
    body = nexi_callback(3)
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/paycli",
        "PATH_INFO": "/callbacks/nexi",
        "CONTENT_TYPE": FORM,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    try:
        said: list[str] = []
        app(environ, lambda status, headers: said.append(status))
        assert said == ["200 OK"]
    finally:
        app.close()
    assert store.query("SELECT path FROM delivery")[0]["path"] == "/paycli/callbacks/nexi"


def test_a_silent_client_is_dropped_and_holds_no_thread(store, db_url, isolated):
    import socket
    import time

    config_file = isolated / "serve.yaml"
    config_file.write_text(CONFIG + "serve:\n  client_timeout_seconds: 2\n")
    port = free_port()
    server = spawn_serve(db_url, config_file, port, isolated / "serve.log", threads=1)
    slow = socket.create_connection(("127.0.0.1", port))
    try:
        # a request that never ends (a slowloris), on a server with one thread
        slow.sendall(b"POST /callbacks/nexi HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nalias=")
        client = Client(port)
        try:
            assert client.post("/callbacks/nexi", nexi_callback(4), {"Content-Type": FORM}).status == 200
        finally:
            client.close()
        slow.settimeout(10)
        started = time.monotonic()
        assert slow.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 8
    finally:
        slow.close()
        stop_process(server)
    assert store.query("SELECT COUNT(*) AS n FROM delivery")[0]["n"] == 1


def patient_receiver(db_url: str, isolated: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A receiver that waits up to 30 s for the store (a callback held behind another writer while a
    signal comes): the process, its port, its log."""
    config_file = isolated / "serve.yaml"
    config_file.write_text(CONFIG + "serve:\n  store_timeout_seconds: 30\n")
    port = free_port()
    log = isolated / "serve.log"
    return spawn_serve(db_url, config_file, port, log), port, log


def post_in_background(port: int, n: int, answers: list[object]) -> threading.Thread:
    """Nexi callback ``n`` posted by a thread of its own, started: its answer's status, or the error
    that cut it off, goes into ``answers``."""

    def post() -> None:
        client = Client(port)
        try:
            answers.append(client.post("/callbacks/nexi", nexi_callback(n), {"Content-Type": FORM}).status)
        except OSError as exc:
            answers.append(exc)
        finally:
            client.close()

    sender = threading.Thread(target=post)
    sender.start()
    return sender


def test_sigterm_lets_the_callback_being_stored_finish_then_stops(store, db_url, isolated):
    """systemd stops (and restarts, after a change of configuration) with SIGTERM: the callback in
    flight is committed and acknowledged, as after Ctrl-C, instead of being cut off with the
    connection (the gateway would send it again, minutes or hours later)."""
    import signal
    import time

    from tests.serve.test_routes import hold_write_lock

    server, port, log = patient_receiver(db_url, isolated)
    answers: list[object] = []
    other = hold_write_lock(db_url)  # the callback waits for the store while the signal comes
    try:
        sender = post_in_background(port, 5, answers)
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
    finally:
        other.execute("ROLLBACK")
        other.close()
    sender.join(20)
    try:
        assert server.wait(timeout=20) == 0
    finally:
        stop_process(server)
    assert answers == [200]
    assert store.query("SELECT COUNT(*) AS n FROM message")[0]["n"] == 1
    assert log.read_text().splitlines()[-1] == "paycli serve: stopped"


def test_sighup_stops_it_as_sigterm_does_and_says_so(store, db_url, isolated):
    """A closed terminal, a `kill -HUP` meant as a reload: by default the process died without a
    word, the callbacks in flight cut off. It stops cleanly and says that the configuration is read
    at start."""
    import signal

    config_file = isolated / "serve.yaml"
    config_file.write_text(CONFIG)
    port = free_port()
    log = isolated / "serve.log"
    server = spawn_serve(db_url, config_file, port, log)
    try:
        client = Client(port)
        try:
            assert client.post("/callbacks/nexi", nexi_callback(6), {"Content-Type": FORM}).status == 200
        finally:
            client.close()
        server.send_signal(signal.SIGHUP)
        assert server.wait(timeout=20) == 0
    finally:
        stop_process(server)
    last = log.read_text().splitlines()[-1]
    assert last.startswith("paycli serve: stopped on SIGHUP (it reads its configuration when it starts"), last


# -- plugins at start ----------------------------------------------------------------------------------
def test_serve_names_the_plugins_left_out_at_start(plugins, cli, isolated, idle_waitress):
    plugins.install(
        "paycli-wrong", {"wrong": "paycli_wrong:Wrong"}, {"paycli_wrong": "import nothing_here\n"}
    )
    failing = FINE.replace(
        "def identify(self, source):",
        "def __init__(self, *args):\n            raise RuntimeError('no settings file')\n\n        def identify(self, source):",
    )
    plugins.install("paycli-fine", {"fine": "paycli_fine:Fine"}, {"paycli_fine": failing})
    result = cli("serve")
    assert result.code == 0, result
    assert (
        "paycli: provider 'wrong' is left out: paycli_wrong:Wrong (distribution paycli-wrong 1.0) cannot be "
        "loaded: ModuleNotFoundError: No module named 'nothing_here'"
    ) in result.stderr
    assert (
        "paycli: provider 'fine' is left out: paycli_fine:Fine cannot be set up: RuntimeError: no settings file"
        in result.stderr
    )
    assert result.stderr.index("left out") < result.stderr.index("listening on")


def test_serve_does_not_start_with_a_configured_plugin_that_cannot_be_set_up(
    plugins, cli, isolated, idle_waitress
):
    failing = FINE.replace(
        "def identify(self, source):",
        "def __init__(self, *args):\n            raise RuntimeError('no settings file')\n\n        def identify(self, source):",
    )
    plugins.install("paycli-fine", {"fine": "paycli_fine:Fine"}, {"paycli_fine": failing})
    (isolated / "paycli.yaml").write_text("timezone: Europe/Rome\ngateways:\n  f:\n    provider: fine\n")
    result = cli("serve")
    assert (result.code, result.stderr) == (
        2,
        "paycli: gateways.f: provider 'fine' cannot be set up: RuntimeError: no settings file\n",
    )
    assert not idle_waitress  # never listened


def test_a_second_sigterm_while_stopping_stops_at_once_leaving_the_store_whole(store, db_url, isolated):
    """Stopping waits up to 5 s for the callbacks in flight; a second SIGTERM (an impatient operator,
    a supervisor's) stops at once: a callback cut off then is not stored at all (its gateway sends it
    again), never a delivery without its message or the other way round."""
    import signal
    import time

    from tests.serve.test_routes import hold_write_lock

    server, port, log = patient_receiver(db_url, isolated)
    answers: list[object] = []
    other = hold_write_lock(db_url)  # the callback waits for the store while both signals come
    try:
        sender = post_in_background(port, 7, answers)
        time.sleep(1.5)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    finally:
        other.execute("ROLLBACK")
        other.close()
        stop_process(server)
    sender.join(20)
    assert code == 0
    assert len(answers) == 1 and isinstance(answers[0], OSError)  # unanswered: the gateway sends it again
    messages = store.query("SELECT COUNT(*) AS n FROM message")[0]["n"]
    deliveries = store.query("SELECT COUNT(*) AS n FROM delivery")[0]["n"]
    assert (messages, deliveries) == (0, 0)
    # it said only "stopped", as if every callback had been answered
    lines = log.read_text().splitlines()
    assert lines[-2:] == [
        "paycli serve: 1 request in flight cut off unanswered (not stored unless committed: their "
        "gateways send them again)",
        "paycli serve: stopped",
    ], lines


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM"])
def test_a_signal_while_it_starts_stops_it_cleanly_before_it_listens(
    cli, isolated, idle_waitress, monkeypatch, signame
):
    """A SIGHUP that came while the receiver made (or checked) its store killed it without a word, in
    the middle of its migrations; it now stops as it does once listening, its store made whole or
    not at all, and says so."""
    import os
    import signal

    from paycli.store import Store

    sig = getattr(signal, signame)
    came: list[int] = []
    # were the signal not taken, its default action would end the test run itself
    before = signal.signal(sig, lambda signum, frame: came.append(signum))
    migrate = Store.migrate

    def migrate_after_a_signal(self: Store, *args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), sig)
        migrate(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "migrate", migrate_after_a_signal)
    new = isolated / "new.db"
    try:
        result = cli("--db", str(new), "serve", db=False)
    finally:
        signal.signal(sig, before)
    said = " on SIGHUP" if signame == "SIGHUP" else ""
    assert (result.code, result.stderr) == (
        0,
        f"paycli serve: stopped{said} while starting, before it listened\n",
    ), result
    assert not came and not idle_waitress  # its own handler took the signal; it never listened
    monkeypatch.setattr(Store, "migrate", migrate)
    # the store it was making is whole or not there: the next start makes it
    assert cli("--db", str(new), "serve", db=False).code == 0
    assert cli("--db", str(new), "list", db=False).code == 0
