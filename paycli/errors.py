"""Exceptions of the core, each carrying the exit code of design.md section 8.

The command line turns them into one readable line on stderr; a traceback is shown only with
``--debug``. Messages are written for people and never contain a secret.
"""


class PaycliError(Exception):
    """Base class: something the user can act on."""

    exit_code = 2


class UsageError(PaycliError):
    """A bad option value or combination."""

    exit_code = 2


class ConfigError(PaycliError):
    """The configuration is wrong; the message names the file and the key, ``what`` the problem alone."""

    exit_code = 2

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = message if what is None else what


class StoreError(PaycliError):
    """The store cannot be opened or used (not a database, behind the code, unreachable)."""

    exit_code = 2


class NotFound(PaycliError):
    """A txn_id or order_id that the store does not hold."""

    exit_code = 3


class RecordError(ValueError):
    """One input record cannot be interpreted; the record is quarantined with this reason."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (cron's ``timeout``, systemd stopping a unit) where a command cleans up as after Ctrl-C
    (``paycli report`` leaves no half a report); exit 143, the code of a process SIGTERM ended."""

    exit_code = 143
