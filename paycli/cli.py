"""The ``paycli`` command line: global options, and the commands of ``paycli/commands``.

Each command module holds thin wrappers that parse options, call the core and format the result.
Errors of the core become one line on stderr and the exit code of design.md 8; a traceback is shown
only with ``--debug``. Nothing heavy is imported here, so that ``paycli --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import IO, Annotated, Any

import typer
import typer.core

from paycli import __version__, stopping
from paycli.commands import db, gateways, ingest, listing, maintenance, messages, order, resolve, show
from paycli.commands import report as report_command
from paycli.commands import serve as serve_command
from paycli.commands.output import err, visible
from paycli.errors import PaycliError, Terminated
from paycli.workspace import Workspace

HELP = """Know, for every electronic payment a shop started, whether the money really arrived.

paycli keeps every payment request with the trail of what the gateways answered, and gives each an
outcome: POSITIVO (approved), NEGATIVO (refused) or VERIFICARE (no response, or more than one: a
person must check).

Examples:

  paycli ingest requests.csv callbacks/

  paycli list --outcome VERIFICARE --older-than 10m

  paycli show ORD-1001-2

  paycli order ORD-1001
"""

# Typer's own errors (a mistyped option, an argument too many) are click exceptions: found by the
# class every parameter error derives from, whichever click Typer vendors
_CLICK_ERROR: type[Exception] = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException")


@contextlib.contextmanager
def _typed_text_shown() -> Iterator[None]:
    """Typer's own error quotes what was typed (``No such option: --x``, ``Got unexpected extra
    argument(s) (...)``): written as every message is (``visible``), a bidi override or an escape
    sequence in an argument (a file name a glob expanded) shown, never obeyed."""
    try:
        yield
    except _CLICK_ERROR as exc:
        said = exc.format_message  # type: ignore[attr-defined]
        exc.format_message = lambda: visible(said())  # type: ignore[attr-defined]
        raise


class _Group(typer.core.TyperGroup):
    """paycli's command group: its parsing errors and its commands' go through ``_typed_text_shown``."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _typed_text_shown():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _typed_text_shown():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"paycli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="Configuration file (default: the first of PAYCLI_CONFIG, ./paycli.yaml, "
            "$XDG_CONFIG_HOME/paycli/config.yaml or ~/.config/paycli/config.yaml, /etc/paycli/config.yaml).",
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store URL or SQLite file path (default: PAYCLI_DB, the configuration, then the user's data "
            "folder). Only ingest, serve and db upgrade make a store where there is none.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    _State.debug = debug
    ctx.obj = Workspace(config_option=config, db_option=db_url, command=ctx.invoked_subcommand)


UNEXPECTED_ERROR = 70  # sysexits.h EX_SOFTWARE: a bug in paycli


# Commands that only read the store and print it: one whose reader goes away (paycli list | head)
# stops there. Every other command changes the store or writes files, and finishes that work.
READ_ONLY = {"list", "show", "order", "messages", "gateways", "status"}


def guarded(fn: Callable[..., Any], *, read_only: bool = False, stops: bool = True) -> Callable[..., Any]:
    """Turn paycli's errors into one line and an exit code; tracebacks only with --debug.

    A command that is not ``read_only`` does its work to the end when the reader of its output goes
    away (``paycli ingest inbox/ 2>&1 | head``): what it would have said is dropped, and its exit code
    is the work's. A read-only one stops there, exit 0: the reader had what it wanted.

    Ctrl-C abandons a long SQLite statement (``paycli.stopping``), but where not ``stops``: the
    receiver, whose callbacks in flight are committed and answered first.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with contextlib.nullcontext() if read_only else _output_may_close():
            return _run(*args, **kwargs)

    def _run(*args: Any, **kwargs: Any) -> Any:
        try:
            with stopping.noted() if stops else contextlib.nullcontext():
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except PaycliError as exc:
            if _State.debug:
                _traceback()
            err(f"paycli: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            if isinstance(exc, Terminated):  # SIGTERM, where a command takes it as Ctrl-C (report)
                typer.echo("paycli: terminated", err=True)
                raise typer.Exit(exc.exit_code) from None
            typer.echo("paycli: interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            if read_only and isinstance(exc, BrokenPipeError):
                # the reader had what it wanted (paycli list | head): not an error of paycli's. Any
                # other command drops its output instead (_output_may_close): a closed pipe that
                # reaches here is no reader's (a mail server's socket), and an error
                _stdout_to_devnull()
                raise typer.Exit(0) from None
            if _State.debug:
                # the traceback, then the line and the exit code as without --debug (a script that
                # runs with it must still tell a crash from work done, as exit 1 would say)
                _traceback()
            if isinstance(exc, UnicodeEncodeError) and "surrogates" in exc.reason:
                # an argument whose bytes are not UTF-8 (a txn id typed in a latin-1 terminal): Python
                # keeps them as surrogates, which no UTF-8 store or output takes
                typer.echo("paycli: an argument is not UTF-8 text: run it again in a UTF-8 locale", err=True)
                raise typer.Exit(2) from None
            # one line: a driver's error goes on with the SQL and its parameters (message bodies)
            said = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
            hint = "" if _State.debug else " (run with --debug for details)"
            err(f"paycli: unexpected error: {type(exc).__name__}: {said}{hint}")
            # not 1, which says the work was done: a script or cron must not take a crash for that
            raise typer.Exit(UNEXPECTED_ERROR) from None

    return wrapper


for module in (
    ingest,
    listing,
    show,
    order,
    resolve,
    messages,
    maintenance,
    gateways,
    report_command,
    serve_command,
):
    for name, function in module.COMMANDS.items():
        app.command(name)(guarded(function, read_only=name in READ_ONLY, stops=name != "serve"))
db_app = typer.Typer(
    help="The store's schema.\n\nExamples:\n\n  paycli db status\n\n  paycli db upgrade",
    no_args_is_help=True,
)
for name, function in db.COMMANDS.items():
    db_app.command(name)(guarded(function, read_only=name in READ_ONLY))
app.add_typer(db_app, name="db")


def _traceback() -> None:
    """--debug's traceback, its lines kept and a control character of what it quotes (a txn id, a
    driver's error with a message body in its parameters) written as its escape, as every message is."""
    sys.stderr.write(visible(traceback.format_exc(), lines=True))
    sys.stderr.flush()


def _stdout_to_devnull() -> None:
    """Point standard output at /dev/null, so that flushing what is left on the way out cannot fail."""
    _to_devnull(sys.stdout)


def _to_devnull(stream: IO[Any]) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


@contextlib.contextmanager
def _output_may_close() -> Iterator[None]:
    """Standard output and error that drop what is written once their reader is gone, for the command
    and for its error line; restored after it (the streams' own buffers then flush into /dev/null)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Dropping(sys.stdout), _Dropping(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class _Dropping:
    """A standard stream whose closed pipe (EPIPE) is no error: from then on what is written is
    dropped, and the stream's descriptor points at /dev/null, so that what its buffer still holds
    flushes on the way out. Anything else is the stream's own."""

    def __init__(self, stream: Any) -> None:  # a text stream, or the bytes below one
        self._stream = stream
        self._gone = False
        self._buffer: _Dropping | None = None

    def write(self, data: Any) -> int:
        if not self._gone:
            try:
                return self._stream.write(data)
            except BrokenPipeError:
                self._drop()
        return len(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    @property
    def buffer(self) -> Any:  # the bytes below (a report to --out -): dropped alike
        if self._buffer is None:
            self._buffer = _Dropping(self._stream.buffer)
        return self._buffer

    def _drop(self) -> None:
        self._gone = True
        with contextlib.suppress(OSError, ValueError):  # no descriptor (a test's stream): dropped alone
            _to_devnull(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    try:
        app(prog_name="paycli")
    finally:
        try:
            sys.stdout.flush()  # what a command wrote last may meet a closed pipe only here
        except BrokenPipeError:
            _stdout_to_devnull()


if __name__ == "__main__":  # pragma: no cover
    main()
