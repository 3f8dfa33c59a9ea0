"""Where a report goes (a file, a folder of dated files, standard output) and the lock that keeps two
cron runs from overlapping.

Files are written beside their final name and renamed into place when complete, so a reader (a web
server, a mail job, a person) never opens half a report; the files of one run are put in place together
once all are complete, or none is (a template error, Ctrl-C, SIGTERM): no HTML without its CSV, no
temporary file left behind. What is there and is no regular file (``/dev/null``, a named pipe) is written
into as it is: renaming over it would replace the device itself. A dated name is built from the period alone
(``paycli-report-2026-11-26.html``): nothing a user or a store holds can steer it out of its folder.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from paycli.errors import PaycliError, UsageError

STDOUT = "-"
SUFFIXES = {"html": ".html", "csv": ".csv"}
_SAFE_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")


class ReportBusy(PaycliError):
    """Another ``paycli report`` holds the lock."""

    exit_code = 2


@dataclass(frozen=True)
class Target:
    fmt: str
    path: Path | None  # None: standard output


def targets(out: str, formats: Sequence[str], slug: str) -> list[Target]:
    """The file of each format: ``-`` (one format only), a folder (dated names) or a file.

    A folder is a path that exists as one or ends with ``/``; for several formats, a file name gets
    each format's suffix (``--out daily`` gives ``daily.html`` and ``daily.csv``, ``--out cassa-2026.10.24``
    ``cassa-2026.10.24.html`` and ``.csv``), in place of its own when that is one of them
    (``--out daily.html`` gives ``daily.html`` and ``daily.csv``).
    """
    if out == STDOUT:
        if len(formats) != 1:
            raise UsageError("--out -: standard output takes one format; add --format html or --format csv")
        return [Target(formats[0], None)]
    path = Path(out).expanduser()
    if out.endswith(("/", os.sep)) or path.is_dir():
        name = f"paycli-report-{slug}"
        if not _SAFE_NAME.fullmatch(name):  # the slug is dates only; a guard, never expected to fire
            raise UsageError(f"'{name}' is not a safe file name")
        if not path.is_dir():
            _check_folder(path.parent, "makes the last folder of a path ending in /, not the ones above it")
        return [Target(f, path / (name + SUFFIXES[f])) for f in formats]
    _check_folder(path.parent, "makes no folder for a file")
    if len(formats) == 1:
        return [Target(formats[0], path)]
    if path.suffix.lower() in SUFFIXES.values():
        return [Target(f, path.with_suffix(SUFFIXES[f])) for f in formats]
    return [Target(f, path.with_name(path.name + SUFFIXES[f])) for f in formats]


def _check_folder(folder: Path, rule: str) -> None:
    """The folder a report goes into must be there: a folder named with a final ``/`` is made, but not
    the folders above it, and a file's folder never is. Made silently, a typo in a crontab's
    ``--out /srv/reprots/daily/`` would have filled a new tree nobody reads, night after night."""
    if folder.is_dir():
        return
    if folder.exists():
        raise UsageError(f"--out: cannot write in '{folder}' (not a folder)")
    raise UsageError(
        f"--out: cannot write in '{folder}' (no such folder: paycli {rule}; create it first, or check "
        "the path for a typo)"
    )


class Staged:
    """The outputs of one report run: each file written into a temporary ``.part`` beside its final
    name (made here, so that a forked renderer writes into one its parent knows), all put in place by
    ``commit`` once every one is complete, or all removed by ``discard``. Standard output, a device
    and a named pipe are written as they are."""

    def __init__(self, plan: Sequence[Target]) -> None:
        self.parts: dict[Target, Path] = {}
        try:
            for target in plan:
                if target.path is not None and not _special(target.path):
                    self.parts[target] = _part(target.path)
        except BaseException:
            self.discard()
            raise

    @contextlib.contextmanager
    def open(self, target: Target, *, newline: str | None = None) -> Iterator[IO[str]]:
        """A text stream for ``target``."""
        if target.path is None:
            yield from _into_stdout(newline)
            return
        part = self.parts.get(target)
        if part is None:
            yield from _into_special(target.path, newline)
            return
        try:
            with part.open("w", encoding="utf-8", newline=newline) as stream:
                yield stream
        except OSError as exc:
            raise UsageError(f"--out: cannot write '{target.path}' ({exc.strerror or exc})") from None

    def commit(self) -> None:
        """Every file in place, with no signal between two of them (one that comes meanwhile is taken
        once they are)."""
        import signal

        held = {signal.SIGINT, signal.SIGTERM}
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        # a file of an earlier run under a final name is moved aside first, and put back if a later
        # file cannot be put in place (a folder under its name, a file another user owns in a sticky
        # folder): the run leaves all its files or none, and the earlier report as it was
        aside: list[tuple[Path, Path]] = []  # (final name, where the earlier file waits)
        placed: list[Path] = []
        try:
            for target, part in self.parts.items():
                assert target.path is not None
                try:
                    _put_in_place(part, target.path, aside)
                except OSError as exc:
                    _take_back(placed, aside)
                    raise UsageError(f"--out: cannot write '{target.path}' ({exc.strerror or exc})") from None
                placed.append(target.path)
            self.parts.clear()
            for _, earlier in aside:
                with contextlib.suppress(OSError):
                    earlier.unlink()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)

    def discard(self) -> None:
        for part in self.parts.values():
            with contextlib.suppress(OSError):
                part.unlink()
        self.parts.clear()


def _put_in_place(part: Path, path: Path, aside: list[tuple[Path, Path]]) -> None:
    """A complete part under its final name; a file already there is moved aside first (``aside``)."""
    os.chmod(part, 0o640)  # a report names customers: not for every user of the machine
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if os.path.lexists(path):
        earlier = path.with_name(f".{path.name}.{os.getpid()}.earlier")
        os.replace(path, earlier)
        aside.append((path, earlier))
    os.replace(part, path)


def _take_back(placed: list[Path], aside: list[tuple[Path, Path]]) -> None:
    """The files of a run that could not put all of them in place removed, and the earlier ones back."""
    for path in placed:
        with contextlib.suppress(OSError):
            path.unlink()
    for path, earlier in aside:
        with contextlib.suppress(OSError):
            os.replace(earlier, path)


def _special(path: Path) -> bool:
    return path.exists() and not path.is_file() and not path.is_dir()


def _part(path: Path) -> Path:
    folder = path.parent
    try:
        folder.mkdir(exist_ok=True)  # a folder --out named with a final /; the one above it is there
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise UsageError(f"--out: cannot write in '{folder}' ({exc.strerror or exc})") from None
    os.close(fd)
    return Path(tmp)


def _into_stdout(newline: str | None) -> Iterator[IO[str]]:
    """Standard output, as UTF-8 whatever its own encoding (a server's ISO-8859-1 locale,
    ``PYTHONIOENCODING``): the same bytes a file gets, which the HTML's ``<meta charset="utf-8">``
    and the CSV's byte-order mark promise."""
    import sys

    sys.stdout.flush()  # what was written to it before goes first
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream put in its place: it can take text alone
        yield sys.stdout
        sys.stdout.flush()
        return
    stream = io.TextIOWrapper(_Lent(buffer), encoding="utf-8", newline=newline)
    try:
        yield stream
    finally:
        stream.close()  # flushes into sys.stdout's buffer, which stays open
    buffer.flush()


class _Lent(io.BufferedIOBase):
    """Standard output's bytes lent to a text stream: closing that stream, or its collection after a
    failed write (a closed pipe), leaves them open, where a TextIOWrapper would close them."""

    def __init__(self, buffer: IO[bytes]) -> None:
        super().__init__()
        self._buffer = buffer

    @property
    def name(self) -> str:
        return "<stdout>"

    def writable(self) -> bool:
        return True

    def write(self, data: Any, /) -> int:
        return self._buffer.write(data)

    def flush(self) -> None:
        if not self.closed:
            self._buffer.flush()


def _into_special(path: Path, newline: str | None) -> Iterator[IO[str]]:
    """A device or a named pipe, written into as it is (never renamed over)."""
    try:
        stream = path.open("w", encoding="utf-8", newline=newline)
    except OSError as exc:
        raise UsageError(f"--out: cannot write '{path}' ({exc.strerror or exc})") from None
    try:
        with stream:
            yield stream
    except OSError as exc:
        raise UsageError(f"--out: cannot write '{path}' ({exc.strerror or exc})") from None


def default_lock_file(store_url: str) -> Path:
    """The lock of the reports of the store at ``store_url``, in the user's data folder: two runs of one
    store never overlap (cron's, an operator's), and two shops a user keeps on one machine, each its
    configuration and store, do not wait for each other. Named by the store: a SQLite file by its real
    path (a relative one, a link, ``..`` name the same file), a PostgreSQL one by its URL, password left
    out."""
    import hashlib

    import platformdirs

    from paycli.store import _libpq_url, describe, sqlite_path

    path = sqlite_path(store_url)
    if path is None:
        name = describe(_libpq_url(store_url))
    else:
        try:
            name = str(path.resolve())
        except (OSError, RuntimeError):  # a loop of links: the store's own error follows
            name = str(path.absolute())
    key = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return platformdirs.user_data_path("paycli") / f"report-{key}.lock"


@contextlib.contextmanager
def report_lock(path: Path, wait_seconds: int = 0) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the whole run; waits up to ``wait_seconds``, then fails.

    The kernel drops the lock when the process ends, however it ends: a killed run leaves no stale lock.
    """
    import fcntl

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(f"report lock '{path}': cannot open ({exc.strerror or exc})") from None
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait_seconds} s" if wait_seconds else ""
                    raise ReportBusy(
                        f"another paycli report is running (lock {path} is held){waited}; try again later"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
