"""``paycli ingest``: files, folders, globs and standard input into the store."""

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from paycli.commands import workspace
from paycli.commands.output import err, visible
from paycli.errors import UsageError


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[str], typer.Argument(help="Files, folders (read recursively), globs, or - for stdin.")
    ],
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            "-g",
            help="Read every input with this gateway (a name under gateways:, or a provider that needs no "
            "configuration, such as requests) instead of guessing.",
        ),
    ] = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="A request already stored with other values is replaced, not refused (of two lines of one "
            "request, the later stands); the line stays in its trail with what the request said before.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Say what would change; change nothing (no store is created, nor its folder or tables). "
            "It reads as one transaction it then undoes: on SQLite other writers (a receiver's callbacks, "
            "resolve) wait until it ends.",
        ),
    ] = False,
    archive: Annotated[
        str | None,
        typer.Option(
            "--archive",
            help="Move each input read to the end into this folder (one that changed meanwhile, still being "
            "written, stays for the next run). One inside a folder read is skipped "
            "by its walk, and a file already in it is read and left there; an input folder itself is "
            "refused.",
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print only what went wrong (refused inputs, quarantined records, with the summary): "
            "silent when all is well, so cron mails only problems.",
        ),
    ] = False,
) -> None:
    """Ingest payment requests and gateway messages.

    Each input goes to the provider that recognises it; a record that cannot be read is kept as
    quarantined and named with its file, line and reason, and the rest goes on. Ingesting the same
    input twice changes nothing. Exit code 1 when a record was quarantined, an input refused or not archived.

    Examples:

      paycli ingest requests.csv

      paycli ingest 'exports/*.csv' callbacks/ --archive done/

      cat requests.jsonl | paycli ingest -

      paycli ingest --quiet inbox/ --archive done/    # from cron
    """
    from paycli.gateways import broken
    from paycli.ingest import Ingest

    ws = workspace(ctx)
    providers = ws.providers()
    for name, why in broken().items():
        err(f"paycli: provider '{name}' is left out: {why}")
    if gateway is not None and gateway not in providers:
        raise UsageError(f"--gateway: no gateway '{gateway}' (available: {', '.join(providers)})")
    archive_dir = None
    if archive:
        archive_dir = ws.path(archive, "--archive")
        _check_archive(archive, archive_dir, create=not dry_run)
        _check_not_read(archive, archive_dir, paths)
    with _store(ws, dry_run=dry_run) as store, _progress(shown=not quiet) as advance:
        run = Ingest(
            store,
            ws.config,
            providers,
            gateway=gateway,
            update=update,
            dry_run=dry_run,
            archive=archive_dir,
            say=err,
            note=(lambda message: None) if quiet else err,
            progress=advance,
        )
        report = run.run(paths)
    if not quiet or not report.ok:
        _summary(report)
    if not report.ok:
        raise typer.Exit(1)


def _check_archive(given: str, folder: Path, *, create: bool) -> None:
    """Refuse an --archive folder that cannot take the files before any is read: a move that fails
    after its records are committed would leave the file to be read again on the next run."""
    import tempfile

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--archive: {given} is not a folder")
    if not create:  # --dry-run makes nothing, and refuses what a run would
        if problem := _cannot_make(folder):
            raise UsageError(f"--archive: cannot put files in {given} ({problem})")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # the one sure test that a file can be put there
            pass
    except OSError as exc:
        raise UsageError(f"--archive: cannot put files in {given} ({exc.strerror or exc})") from None


def _cannot_make(folder: Path) -> str | None:
    """Why files could not be put in ``folder``, made where it is not (its parents too), told without
    making it: what a run's check would say, as the kernel can tell it beforehand."""
    import errno
    import os

    here = folder.absolute()
    while not os.path.lexists(here):
        here = here.parent
    if not here.is_dir():
        return os.strerror(errno.ENOTDIR)
    if not os.access(here, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return None


def _check_not_read(given: str, folder: Path, paths: list[str]) -> None:
    """Refuse an --archive folder that is an input folder: its files would be moved onto themselves, or
    (skipped as the archive) none read. One inside an input folder is skipped by the walk."""
    import os

    for path in paths:
        with contextlib.suppress(OSError, ValueError):  # what is no folder is said when it is read
            if path != "-" and os.path.isdir(path) and os.path.samefile(path, folder):
                same = "an input folder" if path == given else f"the input folder {path}"
                raise UsageError(
                    f"--archive: {given} is also {same}: archive into another folder (one inside it is "
                    "skipped when it is read)"
                )


class _progress:
    """A Rich progress bar on a terminal (stderr); nothing otherwise (cron, pipes, --quiet)."""

    def __init__(self, *, shown: bool = True) -> None:
        self.shown = shown

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.shown or not sys.stderr.isatty():
            return None
        import time

        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),  # a file named [link=...] is a name
            TimeElapsedColumn(),
            console=Console(stderr=True),  # progress goes with the messages, never into the data
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("ingesting", total=None)
        started = time.monotonic()
        shown_at = -1.0

        def advance(inputs: int, source: Any, records: int) -> None:
            nonlocal shown_at
            now = time.monotonic()
            if now - shown_at < 0.1:  # called for every input of a folder: the bar shows 10 a second
                return
            shown_at = now
            size = None
            if source.path is not None:
                with contextlib.suppress(OSError):
                    size = source.path.stat().st_size
            width = self.bar.console.width - 14  # the spinner and the time beside the line
            said = describe_progress(
                inputs, source.name, source.position, size, records, now - started, width
            )
            self.bar.update(task, description=said)

        return advance

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "bar", None) is not None:
            self.bar.stop()


def describe_progress(
    inputs: int, name: str, position: int, size: int | None, records: int, seconds: float, width: int = 0
) -> str:
    """The progress bar's line: the input being read (and which, after the first), how far into it,
    the records stored so far and at what rate; a name too long for ``width`` columns keeps its end.
    The name is shown as ``visible`` writes it: the bar is drawn on the terminal too."""
    name = visible(name)
    # no size: standard input, or an empty file
    done = f"{min(position, size) * 100 // size}% of {_bytes(size)}" if size else f"{_bytes(position)} read"
    rate = f" ({records / seconds:,.0f}/s)" if records and seconds >= 1 else ""
    which = f" (input {inputs:,})" if inputs > 1 else ""
    stats = f"{which}: {done}, {records:,} record{'' if records == 1 else 's'}{rate}"
    room = max(12, width - len("ingesting ") - len(stats)) if width else len(name)
    if len(name) > room:
        name = "…" + name[len(name) - room + 1 :]
    return f"ingesting {name}{stats}"


def _bytes(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


@contextlib.contextmanager
def _store(ws: Any, *, dry_run: bool) -> Iterator[Any]:
    """The store to ingest into; for a dry run where there is none yet (no SQLite file, a PostgreSQL
    database without paycli's tables), an empty one made aside and thrown away: a dry run creates
    nothing."""
    from paycli.store import Store, describe

    if dry_run and _no_store_yet(ws.database_url):
        import tempfile

        err(
            f"no store at {describe(ws.database_url)} yet: the dry run reads against an empty one, "
            "and creates none"
        )
        with (
            tempfile.TemporaryDirectory(prefix="paycli-dry-run-") as folder,
            Store.open(f"sqlite:///{folder}/paycli.db", create=True) as store,
        ):
            yield store
        return
    with ws.open_store(create=not dry_run, dry_run=dry_run) as store:
        yield store


def _no_store_yet(url: str) -> bool:
    from paycli.store import peek_schema

    return peek_schema(url)[1] is None


def _summary(report) -> None:  # type: ignore[no-untyped-def]
    verb = "would ingest" if report.dry_run else "ingested"
    err(f"{verb} {_count(report.files, 'input')}")
    for name, t in sorted(report.tallies.items()):
        parts = []
        if t.requests_new or t.requests_unchanged or t.requests_updated:
            parts.append(
                f"{_count(t.requests_new, 'new request')}, {t.requests_unchanged} unchanged, {t.requests_updated} updated"
            )
        if t.responses_new or t.redeliveries:
            parts.append(
                f"{_count(t.responses_new, 'new response')}, {_count(t.redeliveries, 'redelivery', 'redeliveries')}"
            )
        for n, word, plural in (
            (t.informational, "informational message", None),
            (t.settlement_lines, "settlement line", None),
            (t.orphans, "orphan (request not known yet)", "orphans (request not known yet)"),
            (t.already_stored - t.quarantined_again, "already stored", "already stored"),
            (t.quarantined, "quarantined", "quarantined"),
        ):
            if n:
                parts.append(_count(n, word, plural))
        if t.quarantined_again:  # counted once, as quarantined: the records add up
            parts[-1] += f" ({t.quarantined_again} already stored)"
        err(f"  {name}: {_count(t.records, 'record')}: " + ("; ".join(parts) or "nothing new"))
    if report.linked:
        err(
            f"  {_count(report.linked, 'waiting response')} linked to {'its' if report.linked == 1 else 'their'} request"
        )
    for source, target in report.archived:
        err(f"  {'would archive' if report.dry_run else 'archived'} {source} -> {target}")
    if report.refused:
        err(f"  {_count(len(report.refused), 'input')} refused")
    if report.unarchived:
        err(f"  {_count(len(report.unarchived), 'input')} ingested but not archived")
    if report.taken:
        # two runs over one inbox (cron overlapping itself): what one listed, the other read and archived
        err(
            f"  {_count(len(report.taken), 'listed input')} taken by another run meanwhile (ingested and archived there)"
        )
    if report.changed:
        err(
            f"  {_count(len(report.changed), 'input')} changed while read, left for the next run to read again (not archived)"
        )
    if report.quarantined:
        kept = "would be kept" if report.dry_run else "are kept"
        err(
            f"  quarantined records {kept}: `paycli messages` lists them, `paycli reprocess` reads them again"
        )
    if report.dry_run:
        err("  dry run: nothing was changed")


COMMANDS = {"ingest": ingest}
