"""``paycli serve``: the callback receiver (paycli/serve.py) under waitress."""

import contextlib
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer

from paycli.commands import sigterm_as_interrupt, workspace
from paycli.commands.output import err
from paycli.errors import UsageError


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on (default: serve.host, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port to listen on (default: serve.port, 8080).")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Requests handled at once (default: serve.threads, 8)."),
    ] = None,
) -> None:
    """Receive gateway notifications over HTTP and store each one before acknowledging it.

    Routes: POST or GET /callbacks/GATEWAY for each gateway configured under `gateways:` (the
    method that gateway uses; not one configured without the secret its signatures are checked
    with, which a startup line names, as it names a provider left out: a plugin that cannot be
    loaded); POST /requests, where the shop registers a payment request as JSON
    with the bearer token of serve.token; GET /healthz (200, or 503 when the store cannot take a
    write). A notification is committed to the store, with its delivery, before the gateway gets its
    answer; when the store cannot commit, the answer is 503 and the gateway retries. One access line
    a request goes to stderr (no query string, no header, no secret). Runs until stopped (Ctrl-C,
    SIGTERM, SIGHUP, from its first line: the callbacks in flight are committed and answered first, for
    up to 5 s; a second signal stops it at once, saying how many it cut off). The configuration is read once, at start: restart it after changing it (SIGHUP stops it, saying so). Put it behind
    a TLS proxy such as nginx: see the README.

    Examples:

      paycli serve

      paycli serve --host 0.0.0.0 --port 8080 --threads 16

      curl -H "Authorization: Bearer $TOKEN" --data @request.json http://127.0.0.1:8080/requests
    """
    # SIGTERM and SIGHUP stop it cleanly from its first line, not only once it listens: one that came
    # while it read its configuration, checked (or made) its store or bound its socket killed it
    # without a word (SIGHUP by default), in the middle of whatever it was doing
    with sigterm_as_interrupt(), _sighup_stops() as hangup:
        try:
            server = _start(ctx, host, port, threads)
        except KeyboardInterrupt:
            # what it began is undone: a store being made is rolled back (its one transaction)
            err(f"paycli serve: stopped{' on SIGHUP' if hangup else ''} while starting, before it listened")
            return
        try:
            # systemd stops (and restarts) the receiver with SIGTERM: taken as Ctrl-C, on which waitress
            # ends its loop and lets the callbacks in flight commit and be answered (for up to 5 s), not
            # cut off with the process for their gateways to send again hours later
            server.run()
        except KeyboardInterrupt:
            pass  # one that came outside waitress's loop, or a second signal while it stopped
        finally:
            cut_off = _in_flight(server)
            server.close()
    if cut_off:
        # a second signal, or callbacks still waiting for the store after 5 s: what was not committed
        # is not stored at all (a callback and its delivery are one transaction), and its gateway,
        # unanswered, sends it again
        err(
            f"paycli serve: {cut_off} request{'s' if cut_off > 1 else ''} in flight cut off unanswered "
            "(not stored unless committed: their gateways send them again)"
        )
    # exit 0 after SIGTERM too: systemd counts the signal as a clean stop, but not exit 143
    if hangup:
        # SIGHUP (a closed terminal, `kill -HUP`, an ExecReload= that sends it) ended it by default
        # without a word, the callbacks in flight cut off; the configuration is read only at start
        err(
            "paycli serve: stopped on SIGHUP (it reads its configuration when it starts: start it again, "
            "systemctl restart paycli-serve; Restart=always does so)"
        )
    else:
        err("paycli serve: stopped")


def _start(ctx: typer.Context, host: str | None, port: int | None, threads: int | None) -> Any:
    """The configuration read, the store checked (made where there is none), the socket bound and the
    startup lines said: the server to run. What it began is closed when it fails or is interrupted."""
    from paycli import gateways
    from paycli.serve import App

    ws = workspace(ctx)
    settings = ws.config.serve
    if host:
        # as serve.host is checked on load: a port or a scheme written with it is said so, not looked up
        from paycli.config import SettingProblem, check_listen_host

        try:
            host = check_listen_host(host)
        except SettingProblem as exc:
            raise UsageError("--host: " + exc.message.replace("its own key, port", "--port")) from None
    host = host or str(settings["host"])
    port = port if port is not None else int(settings["port"])  # type: ignore[call-overload]
    threads = threads if threads is not None else int(settings["threads"])  # type: ignore[call-overload]
    if not 0 <= port <= 65535:
        raise UsageError(f"--port: {port} is not a port number (0..65535)")
    if not 1 <= threads <= 256:
        raise UsageError(f"--threads: {threads} is not in 1..256")
    timeout = int(settings["client_timeout_seconds"])  # type: ignore[call-overload]
    _check_address(host, port)
    # each provider set up once here, as each server thread sets up its own: a configured plugin that
    # cannot be is a configuration error now, not a 500 to every callback of its gateway
    ws.providers()
    left_out = gateways.broken()
    ws.open_store(
        create=True
    ).close()  # says when the stored outcomes follow another rule than the configuration's
    app = App(ws.database_url, ws.config, ws.provider_classes)
    try:
        server = _listen(app, settings, host, port, threads, timeout)
    except BaseException:
        app.close()
        raise
    try:
        _say_started(ws, app, server, threads, left_out)
    except BaseException:
        server.close()
        app.close()
        raise
    return server


def _say_started(ws: Any, app: Any, server: Any, threads: int, left_out: dict[str, str]) -> None:
    """The startup lines: what is not served, and why, then where it listens."""
    settings = ws.config.serve
    for name, why in left_out.items():  # as paycli ingest and paycli gateways name them
        err(f"paycli: provider '{name}' is left out: {why}")
    for name, secret in app.unsigned.items():
        err(
            f"paycli serve: not serving /callbacks/{name}: no {secret} configured, so anybody could post "
            "a notification; set it, or ingest its files instead"
        )
    if not settings["paypal_postback"]:
        for name, provider in app.callback_gateways.items():
            if provider == "paypal":
                decides = (
                    "they decide no outcome (require_verified: true)"
                    if ws.config.gateways[name].require_verified
                    else "they decide outcomes as they are: set require_verified: true on it to keep them from it"
                )
                err(
                    f"paycli serve: serve.paypal_postback is false: the IPNs of /callbacks/{name} are "
                    f"stored unverifiable, PayPal never asked whether it sent them; {decides}"
                )
    if not app.callback_gateways and not app.unsigned:
        err("paycli: no gateway is configured under gateways: every /callbacks/ route answers 404")
    routes = ", ".join(f"/callbacks/{name}" for name in app.callback_gateways) or "none"
    err(f"paycli serve: listening on http://{_address(server)} ({threads} threads); callbacks: {routes}")


def _listen(
    app: Any, settings: Mapping[str, object], host: str, port: int, threads: int, timeout: int
) -> Any:
    """waitress's server, bound (a port in use, an address not this machine's: a usage error)."""
    import waitress

    options: dict[str, object] = {}
    if settings["trusted_proxy"]:
        options.update(
            trusted_proxy=settings["trusted_proxy"],
            trusted_proxy_count=1,
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            clear_untrusted_proxy_headers=True,
        )
    channels: dict[int, object] = {}  # waitress's sockets: what a failed bind leaves open is closed
    try:
        server = waitress.create_server(  # binds: a port in use, an address not this machine's fail here
            app,
            map=channels,
            host=host,
            port=port,
            threads=threads,
            ident="paycli",
            max_request_body_size=int(settings["max_body_bytes"]),  # type: ignore[call-overload]
            channel_timeout=timeout,
            connection_limit=int(settings["connection_limit"]),  # type: ignore[call-overload]
            cleanup_interval=max(1, min(30, timeout // 2)),  # how often silent clients are looked for
            **options,
        )
    except BaseException as exc:
        _close(channels)  # what a bind that failed, or a signal that came meanwhile, left open
        if not isinstance(exc, OSError):
            raise
        raise UsageError(f"cannot listen on {_joined(host, port)} ({exc.strerror or exc})") from None
    return server


@contextlib.contextmanager
def _sighup_stops() -> Iterator[list[bool]]:
    """SIGHUP stops the receiver as SIGTERM does (callbacks in flight committed and answered); the
    list it yields holds True once it did."""
    import signal
    import threading

    from paycli.errors import Terminated

    hangup: list[bool] = []
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        yield hangup
        return

    def stop(signum: int, frame: object) -> None:
        hangup.append(True)
        raise Terminated

    before = signal.signal(signal.SIGHUP, stop)
    try:
        yield hangup
    finally:
        signal.signal(signal.SIGHUP, before)


def _in_flight(server: object) -> int:
    """The requests waitress was still serving, or had queued, when it stopped: none once every
    callback in flight was answered."""
    dispatcher = getattr(server, "task_dispatcher", None)
    if dispatcher is None:
        return 0
    return max(0, int(getattr(dispatcher, "active_count", 0))) + len(getattr(dispatcher, "queue", ()))


def _address(server: object) -> str:
    """Where the server listens: one address, or each of them (``--host '*'``: every address family)."""
    listening = getattr(server, "effective_listen", None)  # waitress's server of several sockets
    if listening is None:
        listening = [(getattr(server, "effective_host", "?"), getattr(server, "effective_port", "?"))]
    return " and http://".join(_joined(host, port) for host, port in listening)


def _joined(host: object, port: object) -> str:
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _close(channels: dict[int, object]) -> None:
    """What waitress opened before a bind failed: its wake-up pipe, the sockets and their threads."""
    import contextlib

    for channel in list(channels.values()):
        dispatcher = getattr(channel, "task_dispatcher", None)
        if dispatcher is not None:
            dispatcher.shutdown()
        with contextlib.suppress(OSError):
            channel.close()  # type: ignore[attr-defined]


def _check_address(host: str, port: int) -> None:
    """Refuse a host that names no address, in one line: waitress says only 'Invalid host/port
    specified.' (as waitress reads it: ``*`` any address, an IPv6 address maybe in brackets)."""
    import socket

    name = None if host == "*" else host.removeprefix("[").removesuffix("]")
    try:
        socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:  # socket.gaierror
        raise UsageError(f"cannot listen on {_joined(host, port)} ({exc.strerror or exc})") from None


COMMANDS = {"serve": serve}
