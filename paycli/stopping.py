"""A stop asked by a signal (Ctrl-C's SIGINT; SIGTERM where a command takes it as Ctrl-C), noted.

Python runs a signal's handler in the main thread, between two steps of Python code: a long SQLite
statement (a report's aggregate over a year of a large store) holds it off until the statement returns,
minutes later. The handlers installed by ``noted`` raise the stop as Python's own does, and first note
it; every SQLite connection of a store asks ``asked`` every few thousand steps of SQLite's virtual
machine (a progress handler, ``store.py``), which abandons the statement ("interrupted"), and the store
raises the noted stop in its place (``stop``). A handler that runs inside a finaliser (``__del__``, a
generator the collector closes) has its exception printed as "Exception ignored" and lost to the code
around it: a step that must not follow a stop (a report's files put in place) calls ``check`` first.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from paycli.errors import Terminated

_asked: type[KeyboardInterrupt] | None = None
_depth = 0


def asked() -> bool:
    """Whether a stop was asked (SQLite's progress handler: true abandons the statement)."""
    return _asked is not None


def stop() -> KeyboardInterrupt | None:
    """The exception of the stop asked (KeyboardInterrupt, or Terminated for SIGTERM), or None."""
    return None if _asked is None else _asked()


def check() -> None:
    """Raise the stop asked, if any (its exception may have been lost in a finaliser)."""
    if _asked is not None:
        raise _asked()


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's error of a statement abandoned for a stop asked."""
    import sqlite3

    return _asked is not None and isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted"


@contextlib.contextmanager
def noted(*, sigterm: bool = False) -> Iterator[None]:
    """While in it, Ctrl-C raises KeyboardInterrupt (a SIGINT ignored, as under ``nohup``, stays
    ignored) and, with ``sigterm``, SIGTERM raises ``Terminated`` (cron's timeout, systemd: the run
    cleans up as after Ctrl-C); each stop is noted first. A SQLite error of a statement abandoned for
    it leaves as the stop itself."""
    import signal

    global _asked, _depth
    if threading.current_thread() is not threading.main_thread():  # only the main thread takes signals
        yield
        return

    def take(signum: int, frame: object) -> None:
        global _asked
        _asked = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        raise _asked()

    wanted = [signal.SIGINT] if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else []
    if sigterm:
        wanted.append(signal.SIGTERM)
    before = {signum: signal.signal(signum, take) for signum in wanted}
    if _depth == 0:
        _asked = None
    _depth += 1
    try:
        yield
    except Exception as exc:
        if interrupted(exc):  # a statement read outside the store's own wrappers
            raise stop() from exc  # type: ignore[misc]
        raise
    finally:
        _depth -= 1
        if _depth == 0:
            _asked = None
        for signum, handler in before.items():
            signal.signal(signum, handler)
