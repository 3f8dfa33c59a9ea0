"""The command line's commands: thin wrappers that parse options, call the core, format output.

Each module exposes ``COMMANDS``, a mapping of command name to function, registered by
``paycli/cli.py``. Modules import the core inside the functions, so that ``--help`` stays fast.
"""

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.workspace import Workspace

if TYPE_CHECKING:
    from paycli.store import Store

# who takes an audited decision (resolve, dismiss)
By = Annotated[
    str | None,
    typer.Option("--by", help="Who decides (default: the configured operator, else the login name)."),
]


def workspace(ctx: typer.Context) -> Workspace:
    obj = ctx.find_root().obj
    assert isinstance(obj, Workspace)
    return obj


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``Terminated``, a KeyboardInterrupt: the run cleans up as after Ctrl-C."""
    import signal
    import threading

    from paycli.errors import Terminated

    if threading.current_thread() is not threading.main_thread():  # only the main thread takes signals
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    before = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


# where a gateway's name is kept: the requests it was asked to take, the messages it sent
_NAMED_IN = {
    "request": "SELECT 1 AS x FROM payment_request WHERE gateway = :g LIMIT 1",
    "message": "SELECT 1 AS x FROM message WHERE provider = :g LIMIT 1",
}


def check_gateways(ws: Workspace, store: "Store", names: Sequence[str], *, kept_in: str = "request") -> None:
    """Refuse a --gateway that is neither configured nor named in the store (``kept_in``: by a request,
    or by a message): a typo matches nothing, and an empty list or report reads as all is well (a
    crontab's, every night, its --fail-on never firing)."""
    from paycli.config import closest
    from paycli.errors import UsageError

    known = set(ws.providers()) - ({"requests"} if kept_in == "request" else set())
    for name in names:
        if name in known or store.query(_NAMED_IN[kept_in], {"g": name}):
            continue  # in the store: a gateway no longer configured, or one paycli reads nothing from
        close = closest(name, sorted(known))
        hint = f"did you mean '{close}'? " if close else ""
        raise UsageError(
            f"--gateway: no gateway '{name}' in the configuration nor in the store "
            f"({hint}gateways: {', '.join(sorted(known))})"
        )
