"""The ingest pipeline: inputs in, requests and responses stored, outcomes current (design.md 5).

Each input goes to the one provider that recognises it; its records are applied in batches, each batch
one transaction that stores the messages verbatim, folds redeliveries, links orphans and recomputes
the outcomes it touched. So an interrupted run leaves whole batches behind, and running it again
completes it: every step is keyed (txn_id, message digest, response identity) and applying a record
twice changes nothing.
"""

from __future__ import annotations

import bisect
import errno
import gc
import glob
import hashlib
import heapq
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, TypeVar

from paycli import recompute
from paycli.config import Config, Secret, closest
from paycli.dates import from_db
from paycli.gateways import REQUESTS, distribution_of
from paycli.gateways.base import (
    RAW_STATUS_LIMIT,
    InfoRecord,
    Notice,
    Origin,
    Provider,
    QuarantinedRecord,
    Record,
    RequestData,
    RequestRecord,
    ResponseRecord,
    SettlementRecord,
    Source,
    SourceError,
    one_line,
    path_text,
    record_problem,
)
from paycli.gateways.callback import MAX_CALLBACK_BYTES, shown, without_secret_headers
from paycli.money import format_amount
from paycli.outcome import Authenticity, Status
from paycli.store import MAX_PARAMETERS, Store

SIDECAR_SUFFIX = ".headers"
# The words authenticities are stored as, compared for every record of an export of millions: an enum
# member's value is read by Python code, a module constant is not
_VALID = Authenticity.VALID.value
_INVALID = Authenticity.INVALID.value
_UNVERIFIABLE = Authenticity.UNVERIFIABLE.value
REQUEST_FIELDS = (
    "order_id",
    "kind",
    "created_at",
    "customer",
    "email",
    "amount_minor",
    "currency",
    "gateway",
)


@dataclass
class Tally:
    """What one provider's inputs did to the store."""

    records: int = 0
    requests_new: int = 0
    requests_unchanged: int = 0
    requests_updated: int = 0
    responses_new: int = 0
    redeliveries: int = 0  # a new message folded into a response already stored
    already_stored: int = 0  # a message byte-identical to one already stored
    informational: int = 0
    settlement_lines: int = 0
    orphans: int = 0  # new responses and messages whose request is not known yet
    quarantined: int = 0
    # quarantined records of a message already stored (a file read again): counted as already stored
    # too, where serve's delivery of a repeated body is a duplicate; the summary counts each once
    quarantined_again: int = 0


T = TypeVar("T")


@dataclass
class IngestReport:
    dry_run: bool = False
    files: int = 0
    tallies: dict[str, Tally] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    archived: list[tuple[str, str]] = field(default_factory=list)
    unarchived: list[tuple[str, str]] = field(default_factory=list)  # ingested, but left where it was
    # files a folder or a glob listed that another run (an ingest of the same inbox) took before this one
    # read them, or archived after both read them: not an error, the other run read them
    taken: list[str] = field(default_factory=list)
    # files that changed after they were looked at (an export still being written): read, and left where
    # they were for the next run to read again, not archived with lines no run would read
    changed: list[str] = field(default_factory=list)
    linked: int = 0  # orphans linked to a request that arrived
    unchanged: int = 0  # reprocess --all: messages that read as before
    elsewhere: int = 0  # reprocess: messages another command changed or took after they were listed
    verified: int = 0  # ... of which a response is now valid
    retied: int = 0  # ... of which a response now names another gateway transaction
    reworded: int = 0  # reprocess --all: responses whose gateway wording now reads otherwise
    renamed: int = 0  # ... whose guessed reference yielded to the one its transaction carries
    unchecked: int = 0  # ... of which a response that failed its check cannot be checked now: kept
    failing: int = 0  # reprocess --all: messages of a valid response that now fail their check
    unread: int = 0  # reprocess --all: messages read before that cannot be read now (quarantined)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tallies.values())

    @property
    def ok(self) -> bool:
        return not self.refused and not self.quarantined and not self.unarchived


Say = Callable[[str], None]


class Ingest:
    """One ``paycli ingest`` run over some inputs."""

    def __init__(
        self,
        store: Store,
        config: Config,
        providers: dict[str, Provider],
        *,
        gateway: str | None = None,
        update: bool = False,
        dry_run: bool = False,
        archive: Path | None = None,
        say: Say | None = None,
        note: Say | None = None,
        # (inputs begun, the current one, records committed): as an input begins and at each commit
        progress: Callable[[int, Source, int], None] | None = None,
        gateways: Iterable[str] | None = None,  # the names a request may give (default: the providers')
    ) -> None:
        self.store = store
        self.config = config
        self.providers = providers
        self.gateways = frozenset(providers if gateways is None else gateways) - {REQUESTS}
        self.forced = gateway
        self.update = update
        self.archive = archive
        # say: what went wrong (an input refused, a record quarantined); note: what loses nothing (an
        # empty folder, a fallback encoding), which --quiet leaves out
        self.say: Say = say or (lambda message: None)
        self.note: Say = self.say if note is None else note
        self.progress = progress
        self.report = IngestReport(dry_run=dry_run)
        self._distributions: dict[str, str | None] = {}  # a claiming plugin's, by provider name
        self.live = False  # a receiver's callback (receive): shares the writer lock
        self._pending: list[tuple[Provider, Source, list[Record]]] = []
        self._pending_count = 0
        # reprocess --all: response id -> the wordings its messages now read with, where not as stored
        self._wordings: dict[int, list[str | None]] = {}
        self._unread: set[str] = set()  # reprocess: providers no longer configured, said once
        # (file, its sidecar, its size and time of change before it was read)
        self._to_archive: list[tuple[Path, Path | None, tuple[int, int] | None]] = []
        # the files this run met, as (their folder's real path, name): one named twice is read once
        self._met: set[tuple[str, str]] = set()
        self._real_folders: dict[Path, str] = {}
        self._walked: set[tuple[int, int]] = set()  # the folders walked, as (device, inode): each once
        self._dry_names: set[Path] = set()  # a dry run's archive names, given to files it did not move
        self._inputs: Sequence[str] = ()  # what run() was given
        self._named_inputs: tuple[set[Path], set[Path]] | None = None  # _named_elsewhere's, once a run
        self._archive_key: tuple[int, int] | None = None  # the archive folder's (device, inode)
        self._archived_here: dict[Path, bool] = {}  # a folder: whether it is the archive folder
        self._unknown_gateways: set[str] = set()
        # never an input: paycli's configuration and its secret files (a resolved path is checked only
        # for a file of one of their names)
        config_file = {config.path.resolve()} if config.path is not None else set()
        self._protected = config.secret_files | config_file
        self._protected_names = {p.name for p in self._protected}

    # -- inputs --------------------------------------------------------------------------------
    def run(self, inputs: Sequence[str], stdin: IO[bytes] | None = None) -> IngestReport:
        self._inputs, self._named_inputs = inputs, None
        self.store.prepare_bulk()
        self._archive_key = self._archive_identity()
        with (
            _fewer_collections(),
            self.store.transaction(rollback=True) if self.report.dry_run else nullcontext(),
        ):
            for item in inputs:
                if item == "-":
                    stream = stdin if stdin is not None else sys.stdin.buffer
                    self._ingest(Source.from_stream("<stdin>", stream))
                    continue
                for path, listed in self._expand(item):
                    if not self._first_time(path):
                        continue
                    if path.name in self._protected_names and path.resolve() in self._protected:
                        # stored, a secret would sit in the store (and a forced --gateway would store it)
                        self._refuse(
                            path_text(path), "is paycli's configuration or a secret file: never ingested"
                        )
                        continue
                    try:
                        looked = _size_and_time(path) if self.archive is not None else None
                        source = Source.from_path(path)
                    except OSError as exc:
                        if not self._taken_meanwhile(path, listed, exc):
                            self._refuse(path_text(path), f"cannot be read ({exc.strerror})")
                        continue
                    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
                    try:
                        has_sidecar = sidecar.is_file()
                    except OSError as exc:
                        if exc.errno != errno.ENAMETOOLONG:
                            self._refuse(
                                path_text(path),
                                f"its sidecar {sidecar.name} cannot be read ({exc.strerror or exc})",
                            )
                            continue
                        has_sidecar = False  # a name too long for one (Python 3.11 raises it): none can exist
                    if not has_sidecar and self._taken_meanwhile(path, listed):
                        # a run that archives moves the file, then its sidecar: none here, and the file
                        # gone too, it may have had one, and read without it would say otherwise
                        continue
                    if has_sidecar:
                        try:
                            with sidecar.open("rb") as stream:  # never more than headers can be
                                data = stream.read(MAX_CALLBACK_BYTES + 1)
                            headers = data.decode("utf-8", errors="replace")
                        except OSError as exc:
                            # not read without it: a Stripe body without its signature reads otherwise
                            if not self._taken_meanwhile(path, listed, exc):
                                self._refuse(
                                    path_text(path),
                                    f"its sidecar {sidecar.name} cannot be read ({exc.strerror})",
                                )
                            continue
                        if len(data) > MAX_CALLBACK_BYTES:
                            self._refuse(
                                path_text(path),
                                f"its sidecar {sidecar.name} is larger than {MAX_CALLBACK_BYTES >> 10} KiB: "
                                "not the HTTP headers of a callback, which are a few lines",
                            )
                            continue
                        # never a credential: no provider reads one, and show --raw prints the rest
                        source.headers = without_secret_headers(headers)
                        if problem := _sidecar_problem(headers):
                            self.note(f"{path_text(sidecar)}: {problem}")
                    # moved once its records are committed, at the next flush; one already in the
                    # archive folder (named, or matched by a glob) stays: moved, it would only be
                    # renamed, a run after another
                    archived = self.archive is not None and not self._is_archive(path.parent)
                    if self._ingest(source, listed) and archived:
                        self._to_archive.append(
                            (path, sidecar if source.headers is not None else None, looked)
                        )
            self._flush()
        return self.report

    def receive(self, source: Source) -> IngestReport:
        """Read one source that arrived live (a callback ``paycli serve`` received) and apply it now.

        Inside the caller's transaction when there is one, so that the receiver commits the message,
        what it means and its delivery together, before it answers the gateway."""
        self.live = True
        self._ingest(source)
        self._flush()
        return self.report

    def _expand(self, item: str) -> Iterator[tuple[Path, bool]]:
        """The files an argument names, each with whether a folder or a glob listed it (one named
        itself must be there; one listed may be gone since, taken by another run)."""
        path = Path(item)
        try:
            folder = path.is_dir()
        except OSError as exc:  # a name too long for the file system (Python 3.11 raises it)
            self._refuse(item, f"cannot be read ({exc.strerror or exc})")
            return
        if folder:
            if self._is_archive(path):
                self._refuse(item, "is the --archive folder: what is archived is not read again")
                return
            found = False
            for file in _walk(path, self._refuse, skip=self._archive_key, walked=self._walked):
                found = True
                yield file, True
            if not found:
                self.note(f"{item}: folder holds no file to ingest")
        elif path.is_file():
            if not path.name.endswith(SIDECAR_SUFFIX):
                yield path, False
            elif not (file := path.with_name(path.name.removesuffix(SIDECAR_SUFFIX))).is_file():
                self._refuse(item, "a .headers sidecar without the file it goes with")
            elif not self._named_elsewhere(file):
                # named alone, it would be skipped and its file never read: cron would hear of nothing
                self._refuse(item, f"a .headers sidecar: name its file {path_text(file)}, read with it")
            # else: read with its file (a shell's callbacks/* names both)
        elif path.exists():
            self._refuse(item, "not a regular file (a pipe, socket or device): give - to read standard input")
        elif glob.has_magic(item):
            found, refused = False, len(self.report.refused)
            for file in self._matches(item):
                found = True
                yield file, True
            if not found and len(self.report.refused) == refused:
                # an empty inbox, as an empty folder: said, not refused (cron mails refusals)
                self.note(f"{item}: no file matches, nothing to ingest")
        else:
            self._refuse(item, "no such file or folder")

    def _matches(self, pattern: str) -> Iterator[Path]:
        """The files a glob matches, read as if each match were named: a folder is walked (cron's
        quoted 'in/*' reads what the shell's in/* reads), the archive folder skipped as a walk skips
        it, and what a walk refuses (a pipe, a broken link, a sidecar alone) refused."""
        for match in sorted(Path(m) for m in glob.glob(pattern, recursive=True)):
            if match.is_dir():
                if not self._is_archive(match):
                    yield from _walk(match, self._refuse, skip=self._archive_key, walked=self._walked)
            elif match.is_file():
                if _editor_copy(match.name):
                    continue
                if not match.name.endswith(SIDECAR_SUFFIX):
                    yield match
                elif not _taken(match.with_name(match.name.removesuffix(SIDECAR_SUFFIX))) and _taken(match):
                    self._refuse(path_text(match), "a .headers sidecar without the file it goes with")
            elif match.is_symlink():
                self._refuse(path_text(match), "a broken symbolic link")
            elif _taken(match):  # else gone since the glob listed it: another run took it
                self._refuse(path_text(match), "not a regular file (a pipe, socket or device)")

    def _first_time(self, path: Path) -> bool:
        """Whether this run meets the file ``path`` names for the first time, however it is spelled (a
        folder and a glob over it, ``in/a`` and ``./in/../in/a``, a link to its folder): read twice, it
        was counted twice, and its second move, finding it gone, said another run took it. A link to a
        file is an entry of its own (archived, the link is moved, as a rename moves it)."""
        folder = self._real_folders.get(path.parent)
        if folder is None:
            folder = self._real_folders[path.parent] = os.path.realpath(path.parent)
        key = (folder, path.name)
        if key in self._met:
            return False
        self._met.add(key)
        return True

    def _named_elsewhere(self, file: Path) -> bool:
        """Whether an input of this run reads ``file``: names it, matches it by a glob, or holds it in a
        folder its walk reads (not under a hidden entry). The inputs are resolved once a run, at the
        first sidecar named on its own: a shell's ``in/*`` names thousands of sidecars."""
        if self._named_inputs is None:
            files: set[Path] = set()
            folders: set[Path] = set()
            for item in self._inputs:
                if item == "-":
                    continue
                with suppress(OSError):
                    magic = glob.has_magic(item) and not Path(item).exists()
                    for name in glob.glob(item, recursive=True) if magic else [item]:
                        named = Path(name).resolve()
                        (folders if named.is_dir() else files).add(named)  # a glob's folder is walked too
            self._named_inputs = (files, folders)
        files, folders = self._named_inputs
        target = file.resolve()
        if target in files:
            return True
        return any(
            folder in folders and not any(part.startswith(".") for part in target.relative_to(folder).parts)
            for folder in target.parents
        )

    def _archive_identity(self) -> tuple[int, int] | None:
        """The archive folder's (device, inode), to know it however it is named; made first, so that a
        walk meets it the same before and after the first move into it."""
        if self.archive is None:
            return None
        if not self.report.dry_run:
            with suppress(OSError):  # one that cannot be made is said file by file, when moving
                self.archive.mkdir(parents=True, exist_ok=True)
        try:
            found = os.stat(self.archive)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def _is_archive(self, folder: Path) -> bool:
        if self._archive_key is None:
            return False
        known = self._archived_here.get(folder)
        if known is None:
            try:
                found = os.stat(folder)
            except OSError:
                return False
            known = self._archived_here[folder] = (found.st_dev, found.st_ino) == self._archive_key
        return known

    def _taken_meanwhile(self, path: Path, listed: bool, exc: OSError | None = None) -> bool:
        """Whether a file a folder or a glob listed is gone (``exc``: the error reading it, a missing
        file): another run (an ingest of the same inbox) took it, which reads it. Counted, and said once
        in the summary, not as an error; a file named itself that is gone is one."""
        if not listed or (exc is not None and exc.errno != errno.ENOENT) or _taken(path):
            return False
        self.report.taken.append(path_text(path))
        return True

    def _refuse(self, name: str, reason: str) -> None:
        # a file name may hold a line break too, and bytes that are not UTF-8 (as path_text writes them)
        name, reason = one_line(path_text(name)), one_line(reason)
        self.report.refused.append((name, reason))
        self.say(f"{name}: {reason}")

    def choose(self, source: Source) -> Provider | None:
        """The provider for a source; a source that none or several claim is refused (beangulp's rule)."""
        if self.forced is not None:
            return self.providers[self.forced]
        if not source.head:
            self.note(f"{source.name}: empty file, nothing to ingest")
            return None
        claims = [name for name, p in self.providers.items() if self._asks(p, p.identify, source, False)]
        if len(claims) > 1:  # two gateways of one provider: the account the message names decides
            addressed = [
                name
                for name in claims
                if not self._asks(self.providers[name], self.providers[name].elsewhere, source, False)
            ]
            if len(addressed) == 1:
                return self.providers[addressed[0]]
        if len(claims) == 1:
            return self.providers[claims[0]]
        if not claims:
            near = [why for p in self.providers.values() if (why := self._asks(p, p.near_miss, source, None))]
            hint = f"; {'; '.join(near)}" if near else ""
            self._refuse(source.name, f"no provider recognises it (tried: {', '.join(self.providers)}){hint}")
        else:
            self._refuse(source.name, self._claimed_by(claims))
        return None

    def _claimed_by(self, claims: list[str]) -> str:
        """The refusal of a source several providers claim, each plugin among them named with its
        distribution: one whose ``identify`` claims every file refuses every file another provider
        reads, and the operator must learn which package to blame (``--gateway`` still reads it)."""
        named = []
        plugin = False
        for name in claims:
            provider = self.providers[name].name
            if provider not in self._distributions:
                self._distributions[provider] = distribution_of(provider)
            dist = self._distributions[provider]
            if dist is None:
                named.append(name)
                continue
            plugin = True
            what = f"provider {provider}, " if provider != name else ""
            named.append(f"{name} ({what}a plugin of distribution {dist})")
        hint = (
            "; a plugin that claims another's files is its bug: tell its authors, or uninstall it"
            if plugin
            else ""
        )
        return f"claimed by {' and '.join(named)}: choose one with --gateway{hint}"

    def _asks(self, provider: Provider, question: Callable[[Source], T], source: Source, default: T) -> T:
        """A provider's answer about a source; one that fails (a plugin's bug) is said, and counts as
        ``default``, the answer that claims nothing: the other providers still read the source."""
        try:
            answer = question(source)
        except Exception as exc:  # a plugin boundary, as in _guarded
            self.note(
                f"{source.name}: the {provider.instance} provider failed looking at it "
                f"({_error_text(exc, provider)}): taken as not its"
            )
            return default
        if isinstance(default, bool):
            return bool(answer)  # type: ignore[return-value]
        return answer if isinstance(answer, str) or answer is None else default

    def _ingest(self, source: Source, listed: bool = False) -> bool:
        """Read one source into the pending batch; True when it was read to the end (so it may be
        archived). Batches span sources: a folder of small callbacks is committed ``batch_size``
        records at a time, not one file at a time. ``listed``: a file a folder or a glob listed, which
        another run may take meanwhile."""
        provider = self.choose(source)
        if provider is None:
            return False
        self.report.files += 1
        first_of_its_gateway = provider.instance not in self.report.tallies
        self.report.tallies.setdefault(provider.instance, Tally())
        read = 0
        self._progressed(source)
        try:
            for record in _guarded(provider, source):
                if isinstance(record, Notice):
                    self.note(record.message)
                    continue
                read += 1
                if self.live and isinstance(record, SettlementRecord):
                    # a report the operator downloads from the gateway: posted to a callback route
                    # by anybody, its lines would say that money arrived
                    raise SourceError("a settlement report is no notification: ingest the file instead")
                if not self._pending or self._pending[-1][1] is not source:
                    self._pending.append((provider, source, []))
                self._pending[-1][2].append(record)
                self._pending_count += 1
                if self._pending_count >= self.config.batch_size:
                    self._flush()
        except SourceError as exc:
            if self.live:  # one body, taken whole or not at all
                self._pending = [group for group in self._pending if group[1] is not source]
                self._pending_count = sum(len(group[2]) for group in self._pending)
                read = 0
            self._flush()
            self._refuse(source.name, str(exc))
            self._uncount(provider, read, first_of_its_gateway)
            return False
        except OSError as exc:
            self._flush()
            if source.path is None or not self._taken_meanwhile(source.path, listed, exc):
                self._refuse(source.name, f"cannot be read ({exc.strerror or exc})")
            self._uncount(provider, read, first_of_its_gateway)
            return False
        return True

    def _uncount(self, provider: Provider, read: int, first_of_its_gateway: bool) -> None:
        """An input left before any record of it was read (refused at its header, gone) was not
        ingested: the summary does not count it, nor name its gateway for it alone."""
        if read:
            return
        self.report.files -= 1
        if first_of_its_gateway and self.report.tallies.get(provider.instance) == Tally():
            del self.report.tallies[provider.instance]

    def _archive_name(self, path: Path, sidecar: Path | None) -> Path:
        """A dry run's: the name in the archive folder that ``_archive`` would move ``path`` to, none of
        the names this run gave before (whose files it did not move) either."""
        assert self.archive is not None
        target = _free_name(self.archive / path.name, sidecar=sidecar is not None, given=self._dry_names)
        self._dry_names.add(target)
        return target

    def _archive(self, path: Path, sidecar: Path | None) -> None:
        """Move an input, and the sidecar read with it, into the archive folder: both or neither, and
        never a copy left behind one that stays where it was (an OSError says why it stays)."""
        assert self.archive is not None
        self.archive.mkdir(parents=True, exist_ok=True)
        # the base name only: nothing escapes the folder
        for _ in range(_ARCHIVE_ATTEMPTS):  # another ingest may take a name between look and move
            target = _free_name(self.archive / path.name, sidecar=sidecar is not None)
            try:
                _move(path, target)
            except FileExistsError:
                continue
            except FileNotFoundError:
                if _taken(path):
                    raise
                # read by both, archived by the other run (an ingest of the same inbox): stored, and moved
                self.report.taken.append(path_text(path))
                return
            if sidecar is None:
                break
            try:
                _move(sidecar, target.with_name(target.name + SIDECAR_SUFFIX))
                break
            except OSError as exc:
                try:
                    _move(target, path)  # back beside its sidecar, which a provider reads with it
                except OSError:
                    reason = (
                        f"ingested and moved to {path_text(target)}, but its sidecar {sidecar.name} was not "
                        f"({exc.strerror or exc}): it stays where it was"
                    )
                    self.report.unarchived.append((path_text(path), reason))
                    self.say(f"{path_text(path)}: {reason}")
                    return
                if not isinstance(exc, FileExistsError):
                    raise
        else:
            raise FileExistsError(
                errno.EEXIST, os.strerror(errno.EEXIST), path_text(self.archive / path.name)
            )
        self.report.archived.append((path_text(path), path_text(target)))

    # -- reprocess -----------------------------------------------------------------------------
    def reprocess(self, only: str | None = None, *, read: bool = False) -> dict[str, Tally]:
        """Interpret quarantined messages again (after a configuration fix) with their provider.

        Each message is applied on its own, as if it arrived again at the time it first arrived: a
        record that now reads well becomes a response, an informational message or a request; one that
        still does not stays quarantined with the new reason.

        With ``read``, the messages already read as responses or informational messages are read
        again too: a fixed secret, status word or reference setting changes what they say; and so are
        the settlement lines no stored line holds (a line an older paycli took for a repeat). One that
        reads as before changes nothing (but a copy now verified makes its response valid); one that
        reads otherwise leaves its old response (deleted when no other message holds it) for the one
        it now makes, as new from now on.
        """
        store = self.store
        # messages re-read well are stored anew, past this bound: each quarantined message is read once
        bound = store.query("SELECT MAX(id) AS m FROM message")[0]["m"] or 0
        states = "state IN ('quarantined', 'response', 'informational')" if read else "state = 'quarantined'"
        if read:
            # a settlement line that no line stored holds (one an older paycli dropped as a repeat)
            states = (
                f"({states} OR (state = 'settlement' AND NOT EXISTS "
                "(SELECT 1 FROM settlement s WHERE s.message_id = message.id)))"
            )
        columns = (
            "id, provider, source, line, received_at, raw, headers, context, state, reference, note, response_id, "
            "gateway_txn_id, occurred_at"
        )
        # a page is listed outside any transaction: each message is read again under the writer lock
        # before anything is decided about it (_reprocess_one)
        again = f"SELECT {columns} FROM message WHERE {states} AND id = :id"
        last = 0
        while True:
            params: dict[str, Any] = {"last": last, "bound": bound}
            sql = f"SELECT {columns} FROM message WHERE {states} AND id > :last AND id <= :bound"
            if only is not None:
                sql += " AND provider = :provider"
                params["provider"] = only
            rows = store.query(sql + " ORDER BY id LIMIT 200", params)
            if not rows:
                self._reword()
                return self.report.tallies
            for row in rows:
                self._reprocess_one(row, again)
            last = rows[-1]["id"]

    def _reprocess_one(self, listed: Any, again: str) -> None:
        """Read one listed message again with its provider and apply what it now says. ``again`` reads
        it anew, inside the transaction that applies it: another command may have changed or taken it
        since it was listed (a dismissal, another reprocess), and what was listed is then out of date."""
        provider = self.providers.get(listed["provider"])
        if provider is None:
            self._unconfigured(listed)
            return
        if type(provider).reinterpret is Provider.reinterpret:
            # a plugin that reads files only: what it read stays, rather than be withdrawn as unreadable
            self._unconfigured(listed, "cannot read a stored message again (it has no reinterpret)")
            return
        # what a provider reads (provider, source, line, raw, headers, context) never changes under
        # one id: read outside the lock, the longest part of the work
        origin = _stored_origin(listed)
        record = read_again(provider, origin)
        if isinstance(record, Notice):
            return
        record = _storable(record)
        with self.store.transaction():
            self._lock_writers()
            fresh = self.store.query(again, {"id": listed["id"]})
            if not fresh or fresh[0]["state"] != listed["state"]:
                # dismissed, or read by another reprocess (which stored what it reads as anew), since
                # it was listed: done as if that command had run first, not undone here
                self.report.elsewhere += 1
                return
            # and the rest as it is now: a message read before it may have moved it to another response
            self._apply_again(fresh[0], provider, origin, record)

    def _unconfigured(self, row: Any, why: str = "is not configured") -> None:
        tally = self.report.tallies.setdefault(row["provider"], Tally())
        if row["state"] != "quarantined":
            # read well before, and nobody to read it again: it stays as it was read
            self.report.unchanged += 1
            if row["provider"] not in self._unread:
                self._unread.add(row["provider"])
                self.say(f"provider '{row['provider']}' {why}: its messages stay as they were read")
            return
        tally.records += 1
        tally.quarantined += 1
        self.say(f"{row['source']}: provider '{row['provider']}' {why}; left quarantined")

    def _apply_again(self, row: Any, provider: Provider, origin: Origin, record: Record) -> None:
        """Apply what a message reads as now, inside the transaction that holds the writer lock."""
        tally = self.report.tallies.setdefault(row["provider"], Tally())
        if row["state"] != "quarantined" and self._reads_as_before(row, provider, record):
            self.report.unchanged += 1
            return
        tally.records += 1
        if isinstance(record, QuarantinedRecord) and row["state"] == "quarantined":
            tally.quarantined += 1
            self.store.execute(
                "UPDATE message SET error = :e WHERE id = :id", {"e": record.reason, "id": row["id"]}
            )
            self.say(f"{_where(row['source'], origin)}: {record.reason}")
            return
        arrived = from_db(row["received_at"])
        source = Source(name=row["source"], path=None, head=b"")
        self._check_gateway(source, record)
        self.store.execute("DELETE FROM message WHERE id = :id", {"id": row["id"]})
        left, left_txn = (
            self._leave_response(row["response_id"], provider)
            if row["state"] == "response"
            else (set(), None)
        )
        if isinstance(record, QuarantinedRecord):
            self.say(f"{_where(row['source'], origin)}: {record.reason}")
            if row["state"] != "quarantined":
                self.report.unread += 1
        if isinstance(record, RequestRecord):
            touched = self._requests(provider, source, [record], tally, arrived)
            digest = message_digest(origin)
            if self.store.query("SELECT 1 FROM message WHERE digest = :d", {"d": digest}):
                if row["state"] == "quarantined" and row["note"]:  # quarantined again (a conflict)
                    self.store.execute(
                        "UPDATE message SET note = :n WHERE digest = :d AND note IS NULL",
                        {"n": row["note"], "d": digest},
                    )
            else:
                # read well now: kept as the verbatim record of the request it registered
                self.store.execute(
                    "INSERT INTO message (digest, provider, source, line, received_at, raw, headers, context, "
                    "state, note, reference, request_id) VALUES (:digest, :provider, :source, :line, :at, :raw, "
                    ":headers, :context, 'request', :note, :ref, "
                    "(SELECT id FROM payment_request WHERE txn_id = :txn))",
                    {
                        # a dismissal put back: its audit stays with the line
                        "note": row["note"] if row["state"] == "quarantined" else None,
                        "digest": digest,
                        "provider": row["provider"],
                        "source": row["source"],
                        "line": row["line"],
                        "at": self.store.time(arrived),
                        "raw": origin.raw,
                        "headers": origin.headers,
                        "context": origin.context,
                        "ref": record.data.txn_id,
                        "txn": record.data.txn_id,
                    },
                )
        else:
            # The message keeps when it arrived; a response it now reads as is new from now on, so
            # that it reopens a request resolved while it was quarantined (design.md 3.2 step 5).
            messages = self._messages(row, provider, responded_at=datetime.now(UTC))
            if row["state"] == "quarantined" and row["note"]:  # a dismissal put back: its audit stays
                messages.carried[message_digest(origin)] = row["note"]
            touched = messages.apply([record], tally)
        if left_txn is not None:
            # the responses that took their reference from the one it left may have lost their source
            touched |= self._messages(row, provider)._rekey_waiting({left_txn})
        recompute.refresh(self.store, touched | left, self.config)
        if row["state"] == "response":
            self._follow_if_guessed(row, provider)

    def _reword(self) -> None:
        """Give the responses whose messages now read with other wording the wording an ingest of them
        would give today: the least of their messages' (``fold``'s rule), those not read otherwise
        keeping the stored one. A refusal's wording is its request's detail: recomputed."""
        if not self._wordings:
            return
        store = self.store
        touched: set[int] = set()
        with store.transaction():
            self._lock_writers()
            for response_id, wordings in sorted(self._wordings.items()):
                rows = store.query(
                    "SELECT r.raw_status, r.request_id, (SELECT COUNT(*) FROM message m WHERE m.response_id = r.id) "
                    "AS n FROM response r WHERE r.id = :id",
                    {"id": response_id},
                )
                if not rows:
                    continue  # a later message of it read otherwise, and it went
                held = rows[0]
                kept = [held["raw_status"]] if len(wordings) < held["n"] else []
                said = [w for w in [*wordings, *kept] if w is not None]
                wording = min(said) if said else None
                if wording != held["raw_status"]:
                    store.execute(
                        "UPDATE response SET raw_status = :w WHERE id = :id",
                        {"w": wording, "id": response_id},
                    )
                    self.report.reworded += 1
                    if held["request_id"] is not None:
                        touched.add(held["request_id"])
            recompute.refresh(store, touched, self.config)
        self._wordings.clear()

    def _reads_as_before(self, row: Any, provider: Provider, record: Record) -> bool:
        """Whether a message already read (a response, an informational message) reads the same again;
        a copy of a response now verified makes the response valid on the way. Inside the transaction
        of ``_reprocess_one``, which read the message anew under the writer lock."""
        if row["state"] == "informational":
            if not isinstance(record, InfoRecord):
                return False
            reference = record.reference
            if record.gateway_txn_id and (reference is None or record.reference_guessed):
                # the reference an ingest of it would give it now: its transaction's, else its own guess
                txn = record.gateway_txn_id
                reference = references_of(self.store, provider.instance, [txn]).target(txn, "") or reference
            return (reference, record.note, record.gateway_txn_id, record.occurred_at) == (
                row["reference"],
                row["note"],
                row["gateway_txn_id"],
                Store.from_time(row["occurred_at"]),
            )
        if row["state"] == "settlement":
            # a line another report's message holds (the same money, or other figures counted there)
            return (
                isinstance(record, SettlementRecord)
                and record.line_id is not None
                and bool(
                    self.store.query(
                        "SELECT 1 FROM settlement WHERE provider = :p AND line_id = :l",
                        {"p": row["provider"], "l": record.line_id},
                    )
                )
            )
        if not isinstance(record, ResponseRecord):
            return False
        found = self.store.query(
            "SELECT identity, authenticity, request_id, gateway_txn_id, raw_status, reference, reference_guessed "
            "FROM response WHERE id = :id",
            {"id": row["response_id"]},
        )
        if not found:
            return False  # no response to read as: what it reads as now is stored as new
        held = found[0]
        # a message that now carries the reference its response holds as a guess (a refund without the
        # configured reference field, read again once the setting names the field it has)
        carried = (
            bool(held["reference_guessed"]) and record.reference is not None and not record.reference_guessed
        )
        if (
            (record.reference is None or record.reference_guessed)
            and held["reference"] is not None
            and record.gateway_txn_id is not None
            # the reference an ingest of it would give it now: its transaction's (the response's own, or
            # another id it is filed beside: one_transaction), else its own guess; not one whose source
            # has since read otherwise (a payment now forged, or quarantined)
            and (
                references_of(self.store, provider.instance, [record.gateway_txn_id]).target(
                    record.gateway_txn_id, record.dedupe_key
                )
                or record.reference
            )
            == held["reference"]
        ):
            # a reference the message does not carry: the one its transaction gave it on ingest
            if self._follow_if_guessed(row, provider):
                return True  # stored before paycli told the two apart (schema 0007): marked now
            record = _as_held(record, held)
        if (
            record.authenticity is Authenticity.UNVERIFIABLE
            and held["authenticity"] == _INVALID
            and response_identity(provider.instance, replace(record, authenticity=Authenticity.INVALID))
            == held["identity"]
        ):
            # read now without a check (its secret left out of the configuration, its gateway renamed):
            # that says nothing against the check it failed. Taken as unverifiable, a forgery would
            # decide its request (a forged approval: POSITIVO); a check that passes replaces it.
            self.report.unchecked += 1
            return True
        if response_identity(provider.instance, record) != held["identity"]:
            if record.authenticity is Authenticity.INVALID and held["authenticity"] == _VALID:
                self.report.failing += 1  # said: a changed secret fails every message signed before
            return False
        if record.raw_status != held["raw_status"]:
            # the gateway's wording is no part of a response's identity: a provider that now reads more
            # of it (Nexi's codiceEsito) rewords the response once all its messages are read
            self._wordings.setdefault(row["response_id"], []).append(record.raw_status)
        verified = (
            record.authenticity is Authenticity.VALID and held["authenticity"] != Authenticity.VALID.value
        )
        # the same response, told of another transaction by a provider that now reads more (a PayPal
        # capture names its authorization): the response moves, its other ids go with it. Where its
        # messages name several, the one all of them read now give (not the last one read).
        txn = held["gateway_txn_id"]
        if record.gateway_txn_id is not None and record.gateway_txn_id != txn:
            txn = self._transaction_of(row["response_id"], provider) or txn
        retied = txn != held["gateway_txn_id"]
        if verified or retied or carried:
            # the requests that shared its old transaction no longer find it from here
            touched = recompute.partners(self.store, [row["response_id"]]) if retied else set()
            if held["request_id"] is not None:
                touched.add(held["request_id"])
            self.store.execute(
                "UPDATE response SET authenticity = :a, gateway_txn_id = :g, reference_guessed = :guessed "
                "WHERE id = :id",
                {
                    "a": Authenticity.VALID.value if verified else held["authenticity"],
                    "guessed": False if carried else held["reference_guessed"],
                    "g": txn,
                    "id": row["response_id"],
                },
            )
            if retied:
                touched |= keep_aliases(self.store, provider.instance, [record], provider.payment_of)
            if verified or carried:
                # a verified or carried reference ranks higher: a waiting response of its transaction
                # may take it now, as it would have on ingest (References.target)
                touched |= self._messages(row, provider)._rekey_waiting({txn} if txn else set())
            # and those its new transaction (or, now genuine, its transaction) answers, which an
            # orphan's request cannot lead to
            touched |= recompute.partners(self.store, [row["response_id"]])
            recompute.refresh(self.store, touched, self.config)
            self.report.verified += verified
            self.report.retied += retied
        return True

    def _read_again(self, response_id: int, provider: Provider) -> Iterator[Record | None]:
        """Each message of this response as the provider reads it now (None: it fails on it)."""
        return self._read_stored(provider, "response_id = :id", response_id)

    def _read_stored(self, provider: Provider, where: str, key: int) -> Iterator[Record | None]:
        for m in self.store.query(
            f"SELECT line, raw, headers, context, source FROM message WHERE {where}", {"id": key}
        ):
            record = _reading(provider, _stored_origin(m))
            yield None if isinstance(record, str) else record  # what it fails on says nothing here

    def _all_guessed(self, response_id: int, provider: Provider) -> bool:
        """Whether no message of this response carries its reference itself."""
        for record in self._read_again(response_id, provider):
            if not isinstance(record, ResponseRecord) or (
                record.reference is not None and not record.reference_guessed
            ):
                return False
        return True

    def _own_reference(self, response_id: int, provider: Provider) -> str | None:
        """The least reference this response's messages, read now, name themselves (a guess of their
        own, as a Stripe Refund's metadata); None when they name none."""
        named = [
            r.reference
            for r in self._read_again(response_id, provider)
            if isinstance(r, ResponseRecord) and r.reference is not None
        ]
        return min(named) if named else None

    def _message_reference(self, message_id: int, provider: Provider) -> str | None:
        """The reference an informational message, read now, names itself (None: none, or it no
        longer reads as one)."""
        for record in self._read_stored(provider, "id = :id", message_id):
            return record.reference if isinstance(record, InfoRecord) else None
        return None

    def _messages(self, row: Any, provider: Provider, **options: Any) -> Messages:
        """A batch for a message read again: at the time it first arrived, its guesses checked anew."""
        return Messages(
            self.store,
            row["provider"],
            row["source"],
            from_db(row["received_at"]),
            own_reference=lambda response_id: self._own_reference(response_id, provider),
            message_reference=lambda message_id: self._message_reference(message_id, provider),
            payment_of=provider.payment_of,
            **options,
        )

    def _transaction_of(self, response_id: int, provider: Provider) -> str | None:
        """The gateway transaction this response's messages, read now, file it under: those that still
        read as this response (one read otherwise is on its way out); None when the response is gone."""
        found = self.store.query(
            "SELECT identity, reference, reference_guessed FROM response WHERE id = :id", {"id": response_id}
        )
        if not found:
            return None
        held = found[0]
        read = [
            r
            for r in self._read_again(response_id, provider)
            if isinstance(r, ResponseRecord)
            and response_identity(provider.instance, _as_held(r, held)) == held["identity"]
        ]
        txns = {r.gateway_txn_id for r in read if r.gateway_txn_id}
        aliases = {(a, r.gateway_txn_id) for r in read if r.gateway_txn_id for a in r.aliases}
        return one_transaction(txns, owners_of(aliases | alias_pairs(self.store, provider.instance, [txns])))

    def _follow_if_guessed(self, row: Any, provider: Provider) -> bool:
        """When none of the messages a response holds carries its reference (one stored before schema
        0007, or one the message that did has just left), it is a guess: marked, and moved to the
        reference its transaction prefers. Whether it was."""
        held = self.store.query(
            "SELECT reference, reference_guessed, gateway_txn_id FROM response WHERE id = :id",
            {"id": row["response_id"]},
        )
        if (
            held
            and held[0]["reference"] is not None
            and held[0]["gateway_txn_id"] is not None
            and not held[0]["reference_guessed"]
            and self._all_guessed(row["response_id"], provider)
        ):
            self._settle_guess(row, held[0], provider)
            return True
        return False

    def _settle_guess(self, row: Any, held: Any, provider: Provider) -> None:
        self.store.execute(
            "UPDATE response SET reference_guessed = :yes WHERE id = :id",
            {"yes": True, "id": row["response_id"]},
        )
        touched = self._messages(row, provider)._rekey_waiting({held["gateway_txn_id"]})
        recompute.refresh(self.store, touched, self.config)
        now = self.store.query("SELECT reference FROM response WHERE id = :id", {"id": row["response_id"]})
        if not now or now[0]["reference"] != held["reference"]:
            self.report.renamed += 1

    def _leave_response(self, response_id: int, provider: Provider) -> tuple[set[int], str | None]:
        """A message (already deleted) leaves its response: one delivery less, the gateway transaction
        the messages left name (it may have been the one that named it), and the response goes when no
        message holds it. The requests to recompute, and the transaction it was filed under."""
        held = self.store.query(
            "SELECT request_id, gateway_txn_id FROM response WHERE id = :id", {"id": response_id}
        )
        if not held:
            return set(), None
        touched = recompute.partners(self.store, [response_id])
        remaining = self.store.query(
            "SELECT COUNT(*) AS n FROM message WHERE response_id = :id", {"id": response_id}
        )[0]["n"]
        if remaining:
            txn = self._transaction_of(response_id, provider) or held[0]["gateway_txn_id"]
            self.store.execute(
                "UPDATE response SET deliveries = CASE WHEN deliveries - 1 > :n THEN deliveries - 1 ELSE :n END, "
                "gateway_txn_id = :g WHERE id = :id",
                {"n": remaining, "g": txn, "id": response_id},
            )
            if txn != held[0]["gateway_txn_id"]:
                touched |= recompute.partners(self.store, [response_id])  # those of its new transaction
        else:
            self.store.execute("DELETE FROM response WHERE id = :id", {"id": response_id})
        request_id = held[0]["request_id"]
        return (touched if request_id is None else touched | {request_id}), held[0]["gateway_txn_id"]

    # -- one batch -----------------------------------------------------------------------------
    def _flush(self) -> None:
        """Apply the pending records in one transaction, then move the inputs they completed."""
        groups = [g for g in self._pending if g[2]]
        self._pending, self._pending_count = [], 0
        said: list[str] = []
        if groups:
            with self.store.transaction():
                self._lock_writers()
                # taken once the store is ours: a resolution committed while this batch waited for the
                # lock is older than its responses, which then reopen the request (design.md 3.2 step 5)
                now = datetime.now(UTC)
                touched: set[int] = set()
                settled: set[str] = set()  # quarantined records whose reason is no news (Messages.settled)
                for provider, source, records in groups:
                    tally = self.report.tallies[provider.instance]
                    tally.records += len(records)
                    records[:] = [_storable(r) for r in records]
                    requests = [r for r in records if isinstance(r, RequestRecord)]
                    for request in requests:
                        self._check_gateway(source, request)
                    touched |= self._requests(provider, source, requests, tally, now)
                    messages = [r for r in records if not isinstance(r, RequestRecord)]
                    batch = Messages(
                        self.store, provider.instance, source.name, now, payment_of=provider.payment_of
                    )
                    touched |= batch.apply(messages, tally)
                    said.extend(batch.said)
                    settled |= batch.settled
                recompute.refresh(self.store, touched, self.config)
            for _, source, records in groups:
                for record in records:
                    if isinstance(record, QuarantinedRecord) and (
                        not settled or message_digest(record.origin) not in settled
                    ):
                        self.say(f"{_where(source.name, record.origin)}: {record.reason}")
            for line in said:
                self.say(line)
            self._progressed(groups[-1][1])
        for path, sidecar, looked in self._to_archive:
            with suppress(OSError):  # one gone is said by _archive
                if _size_and_time(path) != looked:
                    self.report.changed.append(path_text(path))
                    self.note(
                        f"{path_text(path)}: changed while it was read (still being written?): left where it "
                        "was, for the next run to read again"
                    )
                    continue
            if self.report.dry_run:  # said, not moved: the name each would take, as a run would give it
                self.report.archived.append((path_text(path), path_text(self._archive_name(path, sidecar))))
                continue
            try:
                self._archive(path, sidecar)
            except OSError as exc:
                # its records are committed: said, and read again (as already stored) by the next run
                reason = f"ingested, but not archived ({exc.strerror or exc}): it stays where it was"
                self.report.unarchived.append((path_text(path), reason))
                self.say(f"{path_text(path)}: {reason}")
        self._to_archive = []

    def _progressed(self, source: Source) -> None:
        if self.progress is not None:
            self.progress(self.report.files, source, sum(t.records for t in self.report.tallies.values()))

    def _lock_writers(self) -> None:
        # a dry run commits nothing, so it can make nobody miss anything: it leaves receivers alone
        if not self.report.dry_run:
            self.store.lock_writers(shared=self.live)

    def _check_gateway(self, source: Source, record: Record) -> None:
        """Say, once a run for each name, that requests name a gateway no provider here reads: a typo
        (nexl) would wait for a response for ever. The request is kept: a shop may record payments it
        checks by hand (a bank transfer), and the configuration may come later."""
        if not isinstance(record, RequestRecord):
            return
        name = record.data.gateway
        if name in self.gateways or name in self._unknown_gateways:
            return
        self._unknown_gateways.add(name)
        self.note(f"{_where(source.name, record.origin)}: {unknown_gateway(name, self.gateways)}")

    def _requests(
        self, provider: Provider, source: Source, records: list[RequestRecord], tally: Tally, now: datetime
    ) -> set[int]:
        if not records:
            return set()
        store = self.store
        marks, params = store.placeholders("t", sorted({r.data.txn_id for r in records}))
        stored = {
            row["txn_id"]: row
            for row in store.query(
                f"SELECT id, txn_id, {', '.join(REQUEST_FIELDS)} FROM payment_request WHERE txn_id IN {marks}",
                params,
            )
        }
        fresh: dict[str, RequestRecord] = {}
        conflicts: list[QuarantinedRecord] = []
        updates: dict[int, RequestRecord] = {}
        # what the lines before left of each request: a line is compared with it, as it would be in a
        # run of its own after them (with --update, two lines of one request in a file: the later wins)
        current: dict[str, RequestData] = {}
        for record in records:
            data = record.data
            known = current.get(data.txn_id)
            if known is None and data.txn_id in stored:
                known = current[data.txn_id] = _as_data(stored[data.txn_id])
            if known is None:
                fresh[data.txn_id] = record
                current[data.txn_id] = data
                continue
            diff = _differences(known, data, self.config)
            if not diff:
                tally.requests_unchanged += 1
            elif self.update:
                if data.txn_id in fresh:
                    fresh[data.txn_id] = record
                else:
                    updates[stored[data.txn_id]["id"]] = record
                current[data.txn_id] = data
                tally.requests_updated += 1
            else:
                conflicts.append(
                    QuarantinedRecord(
                        record.origin,
                        f"txn_id {data.txn_id} is already stored with another {', '.join(diff)}; "
                        "use --update to replace it",
                    )
                )
        touched: set[int] = set()
        if fresh:
            store.executemany(
                "INSERT INTO payment_request (txn_id, order_id, kind, created_at, customer, email, search_text, "
                "amount_minor, currency, gateway, source, registered_at, outcome, reason, detail, response_count) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'VERIFICARE', 'NO_RESPONSE', NULL, 0) "
                # another writer (a receiver beside a cron ingest) may register it first
                "ON CONFLICT (txn_id) DO NOTHING",
                [
                    (*_request_values(store, r.data), _where(source.name, r.origin), store.time(now))
                    for r in fresh.values()
                ],
            )
            tally.requests_new += len(fresh)
            touched |= self._link_orphans(sorted(fresh))
        if updates:
            store.executemany(
                "UPDATE payment_request SET order_id = ?, kind = ?, created_at = ?, customer = ?, email = ?, "
                "search_text = ?, amount_minor = ?, currency = ?, gateway = ?, updated_at = ? WHERE id = ?",
                [(*_request_values(store, r.data)[1:], store.time(now), rid) for rid, r in updates.items()],
            )
            touched |= set(updates)
            # The line is kept as the verbatim record of what the request now says, in its trail, with
            # what it said before: the values replaced are otherwise gone, and a resolution made on the
            # old amount, or a report sent with it, could no longer be told from one made on the new.
            # The same line, refused before as a conflict, is no longer quarantined but that record (as
            # reprocess keeps one); one dismissed since stays dismissed.
            previous = {row["id"]: row for row in stored.values()}
            store.executemany(
                "INSERT INTO message (digest, provider, source, line, received_at, raw, headers, context, "
                "state, note, reference, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'request', ?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET state = 'request', error = NULL, "
                "reference = excluded.reference, request_id = excluded.request_id, note = CASE WHEN "
                "message.note IS NULL THEN excluded.note ELSE message.note || '; ' || excluded.note END "
                "WHERE message.state IN ('quarantined', 'request')",
                [
                    (
                        message_digest(r.origin),
                        provider.instance,
                        source.name,
                        r.origin.line,
                        store.time(now),
                        r.origin.raw,
                        r.origin.headers,
                        r.origin.context,
                        _replaced(_as_data(previous[rid]), r.data, self.config, now),
                        r.data.txn_id,
                        rid,
                    )
                    for rid, r in updates.items()
                    # not a line that put back what an earlier line of the run changed: nothing replaced
                    if _differences(_as_data(previous[rid]), r.data, self.config)
                ],
            )
        if conflicts:
            batch = Messages(store, provider.instance, source.name, now, payment_of=provider.payment_of)
            touched |= batch.apply(conflicts, tally)
            for conflict in conflicts:
                if message_digest(conflict.origin) not in batch.settled:
                    self.say(f"{_where(source.name, conflict.origin)}: {conflict.reason}")
        return touched

    def _link_orphans(self, txn_ids: list[str]) -> set[int]:
        """Link the responses and messages that arrived before their request (design.md 2, orphan)."""
        store = self.store
        marks, params = store.placeholders("t", txn_ids)
        waiting = store.query(
            f"SELECT DISTINCT reference FROM message WHERE request_id IS NULL AND reference IN {marks}",
            params,
        )
        if not waiting:
            return set()
        refs = [r["reference"] for r in waiting]
        marks, params = store.placeholders("t", refs)
        ids = store.query(f"SELECT id, txn_id FROM payment_request WHERE txn_id IN {marks}", params)
        pairs = [{"id": r["id"], "ref": r["txn_id"]} for r in ids]
        store.executemany(
            "UPDATE response SET request_id = :id WHERE reference = :ref AND request_id IS NULL", pairs
        )
        store.executemany(
            "UPDATE message SET request_id = :id WHERE reference = :ref AND request_id IS NULL", pairs
        )
        self.report.linked += len(pairs)
        return {r["id"] for r in ids}


class Messages:
    """Stores a batch of gateway messages: verbatim, deduplicated, folded into responses, linked."""

    def __init__(
        self,
        store: Store,
        provider: str,
        source: str,
        now: datetime,
        *,
        responded_at: datetime | None = None,
        own_reference: Callable[[int], str | None] | None = None,
        message_reference: Callable[[int], str | None] | None = None,
        payment_of: Callable[[str, str, str], str] = Provider.payment_of,
    ) -> None:
        self.store = store
        self.provider = provider
        # digest -> the audit note (dismissed, put back: who, when, why) of a message read anew
        self.carried: dict[str, str] = {}
        self.payment_of = payment_of  # the provider's (Provider.payment_of), for an id two transactions claim
        self.source = source
        self.now = now  # when the messages arrived
        self.responded_at = now if responded_at is None else responded_at  # when their new responses did
        self.said: list[str] = []  # what the operator must hear of the batch, once it is committed
        # the digests of records read as quarantined whose message is stored otherwise (dismissed by the
        # operator, or read well before): the one stored stands, and their reason is no news
        self.settled: set[str] = set()
        # reprocess: the reference a response's messages suggest themselves (None: none), for a guess
        # whose transaction no longer gives one (its source read otherwise since)
        self.own_reference = own_reference
        # reprocess: the same for an informational message, by its id
        self.message_reference = message_reference

    def apply(self, records: Sequence[Record], tally: Tally) -> set[int]:
        store = self.store
        received_at = store.time(self.now)
        unique: dict[str, Record] = {}
        bad: list[str] = []  # the digests of the quarantined records
        for record in records:
            key = message_digest(record.origin)  # type: ignore[union-attr]
            if isinstance(record, QuarantinedRecord):
                bad.append(key)
            if key in unique:
                tally.already_stored += 1
            else:
                unique[key] = record
        if not unique:
            tally.quarantined += len(bad)
            return set()
        marks, params = store.placeholders("d", list(unique))
        stored: dict[str, str] = {}
        for row in store.query(
            f"SELECT digest, provider, state, note FROM message WHERE digest IN {marks}", params
        ):
            record = unique[row["digest"]]
            if (
                row["state"] in ("quarantined", "dismissed")
                and row["provider"] != self.provider
                and not isinstance(record, QuarantinedRecord)
            ):
                # quarantined by another provider (an ingest forced with the wrong --gateway), perhaps
                # dismissed since, read by this one now: the message is this provider's from now on, as
                # if it had come only now, and keeps the audit of its dismissal
                store.execute("DELETE FROM message WHERE digest = :d", {"d": row["digest"]})
                if row["note"]:
                    self.carried[row["digest"]] = row["note"]
                self.said.append(
                    f"{_where(self.source, record.origin)}: {row['state']} before as {row['provider']}'s, "  # type: ignore[union-attr]
                    f"read now as {self.provider}'s"
                )
                continue
            del unique[row["digest"]]
            stored[row["digest"]] = row["state"]
            tally.already_stored += 1
        # a record read badly now of a message stored well (a file forced on the wrong provider again)
        # is no quarantined message: the one stored stands
        self.settled = {key for key in bad if stored.get(key, "quarantined") != "quarantined"}
        still = [key for key in bad if key not in self.settled]
        tally.quarantined += len(still)
        # each but the first of a message new here was counted as already stored too
        tally.quarantined_again += len(still) - len({key for key in still if key not in stored})
        if not unique:
            return set()
        self._adopt_references(unique)
        refs = sorted(
            {
                r.reference
                for r in unique.values()
                if isinstance(r, ResponseRecord | InfoRecord | SettlementRecord) and r.reference
            }
        )
        request_ids: dict[str, int] = {}
        if refs:
            marks, params = store.placeholders("t", refs)
            request_ids = dict(
                store.tuples(f"SELECT txn_id, id FROM payment_request WHERE txn_id IN {marks}", params)
            )
        touched: set[int] = set()
        response_ids = self._responses(
            {k: r for k, r in unique.items() if isinstance(r, ResponseRecord)}, request_ids, tally, touched
        )
        rows = []
        orphans: list[int] = []  # responses to a reference without a request: no request leads to them
        for key, record in unique.items():
            origin: Origin = record.origin  # type: ignore[union-attr]
            reference = getattr(record, "reference", None)
            request_id = request_ids.get(reference) if reference else None
            # an informational message's payment (Message.gateway_txn_id), and its own time
            txn, guessed, occurred = None, False, None
            if isinstance(record, ResponseRecord):
                state, error, note = "response", None, None
                response_id = response_ids[key]
                if request_id is not None:
                    # a new response, or a redelivery that may word it differently (the detail shows it)
                    touched.add(request_id)
                elif reference and record.gateway_txn_id:
                    orphans.append(response_id)
            elif isinstance(record, InfoRecord):
                state, error, response_id = "informational", None, None
                note = record.note
                txn, guessed = record.gateway_txn_id, record.reference_guessed and reference is not None
                occurred = store.time(record.occurred_at) if record.occurred_at is not None else None
                tally.informational += 1
            elif isinstance(record, SettlementRecord):
                state, error, response_id, note = "settlement", None, None, None
                tally.settlement_lines += 1
            else:
                assert isinstance(record, QuarantinedRecord)
                state, error, response_id, note = "quarantined", record.reason, None, None
            if key in self.carried:  # the audit of a dismissal and its undo goes with the message
                note = self.carried[key] if note is None else f"{note}; {self.carried[key]}"
            if reference and request_id is None and state != "settlement":
                tally.orphans += 1
            rows.append(
                (
                    key,
                    self.provider,
                    self.source,
                    origin.line,
                    received_at,
                    origin.raw,
                    origin.headers,
                    origin.context,
                    state,
                    error,
                    note,
                    reference,
                    request_id,
                    response_id,
                    txn,
                    guessed,
                    occurred,
                )
            )
        store.executemany(
            "INSERT INTO message (digest, provider, source, line, received_at, raw, headers, context, state, "
            "error, note, reference, request_id, response_id, gateway_txn_id, reference_guessed, occurred_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
            rows,
        )
        self._settlements({k: r for k, r in unique.items() if isinstance(r, SettlementRecord)})
        touched |= self._aliases([r for r in unique.values() if isinstance(r, ResponseRecord) and r.aliases])
        # an orphan whose gateway transaction answers a request too makes that request SHARED_TRANSACTION
        touched |= recompute.partners(store, orphans) if orphans else set()
        touched |= self._rekey_waiting(
            {
                r.gateway_txn_id
                for r in unique.values()
                if isinstance(r, ResponseRecord) and r.reference is not None and r.gateway_txn_id is not None
            }
        )
        return touched

    def _settlements(self, records: dict[str, SettlementRecord]) -> None:
        if not records:
            return
        store = self.store
        marks, params = store.placeholders("d", list(records))
        ids = {
            r["digest"]: r["id"]
            for r in store.query(f"SELECT id, digest FROM message WHERE digest IN {marks}", params)
        }
        store.executemany(
            f"INSERT INTO settlement (message_id, provider, {', '.join(_SETTLED)}) "
            # a line already stored from another report (the same line_id) is the same money
            f"VALUES (?, ?, {', '.join('?' * len(_SETTLED))}) ON CONFLICT DO NOTHING",
            [(ids[digest], self.provider, *self._settled(r)) for digest, r in records.items()],
        )
        self._other_figures(records, ids)

    def _settled(self, r: SettlementRecord) -> tuple[Any, ...]:
        """A settlement line's values, in the order of ``_SETTLED``."""
        return tuple(
            self.store.time(getattr(r, name)) if name in ("occurred_at", "available_on") else getattr(r, name)
            for name in _SETTLED
        )

    def _other_figures(self, records: dict[str, SettlementRecord], ids: dict[str, int]) -> None:
        """A line that met a line of the same id from another report: the one that says most (a reference,
        then a transaction id), then the one of the least message digest, is the one stored, whichever
        came first, so that the store does not depend on the order of arrival (design.md 5.3), and a copy
        downloaded with fewer columns does not take the line from its request. One with other figures (a
        report re-issued with a correction, or two lines an id cannot tell apart) is said, and the line
        not counted keeps a note saying so."""
        lines = {r.line_id: (digest, r) for digest, r in records.items() if r.line_id is not None}
        if not lines:
            return
        store = self.store
        marks, params = store.placeholders("l", sorted(lines))
        params["p"] = self.provider
        for held in store.query(
            "SELECT s.id, s.line_id, s.message_id, s.kind, s.gross_minor, s.fee_minor, s.currency, s.reference, "
            "s.gateway_txn_id, m.digest, "
            f"m.source, m.line FROM settlement s JOIN message m ON m.id = s.message_id "
            f"WHERE s.provider = :p AND s.line_id IN {marks}",
            params,
        ):
            digest, r = lines[held["line_id"]]
            if held["message_id"] == ids[digest]:
                continue
            held_here = _holder_rank(r.reference, r.gateway_txn_id, digest) < _holder_rank(
                held["reference"], held["gateway_txn_id"], held["digest"]
            )
            if held_here:
                # the line that says most, then the least digest, holds it, whatever came first: its
                # reference and dates too
                store.execute(
                    f"UPDATE settlement SET message_id = ?, {', '.join(f'{n} = ?' for n in _SETTLED)} WHERE id = ?",
                    (ids[digest], *self._settled(r), held["id"]),
                )
            stored = (held["kind"], held["gross_minor"], held["fee_minor"], held["currency"])
            if stored == (r.kind, r.gross_minor, r.fee_minor, r.currency):
                continue  # the same money again: one line, nothing to say
            said_here = _figures(r.kind, r.gross_minor, r.fee_minor, r.currency)
            said_there = _figures(*stored)
            there = _where(held["source"], Origin(held["line"], b""))
            if held_here:
                dropped, dropped_id = said_there, held["message_id"]
                words = f"{there} said {said_there}; this line says {said_here}, and is counted instead"
            else:
                dropped, dropped_id = said_here, ids[digest]
                words = f"{there} said {said_there}, and is counted; this line says {said_here}"
            line = shown(held["line_id"], 80)
            store.execute(
                "UPDATE message SET note = :n WHERE id = :id",
                {
                    "n": f"not counted: settlement line {line} says {dropped} here; a line of the same id "
                    "with other figures in another report is counted (of such lines, the one that says most, "
                    "then the least digest's)",
                    "id": dropped_id,
                },
            )
            self.said.append(
                f"{_where(self.source, r.origin)}: settlement line {line} read from two reports with other "
                f"figures: {words} (of two such lines, the one that says most, then the one of the least digest, "
                "counts, whatever their order)"
            )

    def _aliases(self, records: Sequence[ResponseRecord]) -> set[int]:
        return keep_aliases(self.store, self.provider, records, self.payment_of)

    # -- responses that do not name the merchant reference ---------------------------------------
    # Some messages about a payment do not carry the merchant reference (a Stripe charge, refund or
    # dispute event: only the PaymentIntent holds the shop's metadata), or only suggest one (a Stripe
    # Session's client_reference_id, a Refund's own metadata), but do name the gateway transaction. Their
    # responses take the reference the transaction's responses carry (``References.target``) and keep
    # it as a guess (``reference_guessed``), so that whatever arrives later moves them to the reference
    # the whole transaction then prefers: the store does not depend on the order of inputs (design.md 5.3).
    def _adopt_references(self, unique: dict[str, Record]) -> None:
        waiting: dict[str, ResponseRecord | InfoRecord] = {
            digest: r  # an informational one: a refund that failed, a dispute won; it steers no reference
            for digest, r in unique.items()
            if isinstance(r, ResponseRecord | InfoRecord)
            and r.gateway_txn_id
            and (r.reference is None or r.reference_guessed)
        }
        if not waiting:
            return  # the usual case (a bank export: every row names its reference)
        named: list[Named] = [
            (txn, r.reference, r.reference_guessed, r.status.value, r.dedupe_key, r.authenticity.value)
            for r in unique.values()
            if isinstance(r, ResponseRecord) and r.gateway_txn_id and r.reference is not None
            for txn in (r.gateway_txn_id, *r.aliases)  # a refund may name the payment by an alias
        ]
        txns = sorted({r.gateway_txn_id for r in waiting.values() if r.gateway_txn_id})
        found = references_of(self.store, self.provider, txns, named)
        for digest, record in waiting.items():
            key = record.dedupe_key if isinstance(record, ResponseRecord) else ""
            reference = found.target(record.gateway_txn_id or "", key)
            if reference is not None:
                unique[digest] = replace(record, reference=reference, reference_guessed=True)

    def _rekey_waiting(self, txns: set[str]) -> set[int]:
        """Give the responses of these transactions stored without a reference, or with a guessed one,
        the reference each transaction now prefers, folding each into an equal response when there is
        one; returns the requests they leave and now belong to. Their informational messages follow."""
        touched = self._rekey_responses(txns)
        if txns:
            self._relink_informational(txns)
        return touched

    def _relink_informational(self, txns: set[str]) -> None:
        """Move the informational messages of these transactions that carry no reference of their own,
        or a guess, to the request the transaction's responses now answer (``References.target``), as
        ``_rekey_waiting`` moves its responses: they carry no outcome, so no request is recomputed."""
        store = self.store
        if not store.query(
            "SELECT 1 FROM message WHERE provider = :p AND gateway_txn_id IS NOT NULL LIMIT 1",
            {"p": self.provider},
        ):
            return  # the common case, a bank export: no message names a transaction that way
        named = sorted(txns | {alias for alias, _ in _aliases_of(store, self.provider, txns, "txn")})
        rows = []
        for start in range(0, len(named), MAX_PARAMETERS):
            marks, params = store.placeholders("g", named[start : start + MAX_PARAMETERS])
            params["p"] = self.provider
            rows += store.query(
                "SELECT id, gateway_txn_id, reference, reference_guessed FROM message WHERE provider = :p "
                f"AND gateway_txn_id IN {marks} AND (reference IS NULL OR reference_guessed)",
                params,
            )
        if not rows:
            return
        references = references_of(store, self.provider, sorted({r["gateway_txn_id"] for r in rows}))
        moves = []
        for row in rows:
            reference = references.target(row["gateway_txn_id"], "")
            if reference is None and row["reference_guessed"] and self.message_reference is not None:
                # its transaction gives none now (its source read otherwise since): its own guess, if any
                reference = self.message_reference(row["id"])
            elif reference is None:
                continue
            if reference != row["reference"]:
                moves.append(
                    {"ref": reference, "txn": reference, "guessed": reference is not None, "id": row["id"]}
                )
        if not moves:
            return
        store.executemany(
            "UPDATE message SET reference = :ref, reference_guessed = :guessed, "
            "request_id = (SELECT id FROM payment_request WHERE txn_id = :txn) WHERE id = :id",
            moves,
        )

    def _rekey_responses(self, txns: set[str]) -> set[int]:
        store = self.store
        touched: set[int] = set()
        if not txns:
            return touched
        # both looked up through a small index: responses without a reference, and guessed ones
        unnamed = bool(
            store.query(
                "SELECT 1 FROM response WHERE reference IS NULL AND provider = :p LIMIT 1",
                {"p": self.provider},
            )
        )
        guessed = bool(
            store.query(
                "SELECT 1 FROM response WHERE reference_guessed AND provider = :p LIMIT 1",
                {"p": self.provider},
            )
        )
        if not unnamed and not guessed:
            return touched
        # a response waiting under another id of these transactions (a PayPal refund names the capture)
        txns = txns | {alias for alias, _ in _aliases_of(store, self.provider, txns, "txn")}
        waiting = " OR ".join(
            w for w, on in (("reference IS NULL", unnamed), ("reference_guessed", guessed)) if on
        )
        marks, params = store.placeholders("g", sorted(txns))
        params["p"] = self.provider
        found = sorted(
            row["gateway_txn_id"]
            for row in store.query(
                f"SELECT DISTINCT gateway_txn_id FROM response WHERE provider = :p AND ({waiting}) "
                f"AND gateway_txn_id IN {marks}",
                params,
            )
        )
        references = references_of(store, self.provider, found)
        for gateway_txn_id in found:
            for row in store.query(
                f"SELECT * FROM response WHERE provider = :p AND gateway_txn_id = :g AND ({waiting}) ORDER BY id",
                {"p": self.provider, "g": gateway_txn_id},
            ):
                reference = references.target(gateway_txn_id, row["dedupe_key"])
                if reference is None and row["reference_guessed"] and self.own_reference is not None:
                    # no response of its transaction gives one now: what its own messages suggest, if any
                    reference = self.own_reference(row["id"])
                    if reference == row["reference"]:
                        continue
                elif reference is None or reference == row["reference"]:
                    continue
                request = (
                    store.query("SELECT id FROM payment_request WHERE txn_id = :t", {"t": reference})
                    if reference is not None
                    else []
                )
                request_id = request[0]["id"] if request else None
                key = identity_of(
                    self.provider,
                    row["dedupe_key"],
                    row["status"],
                    row["amount_minor"],
                    row["currency"],
                    reference,
                    row["authenticity"],
                )
                equal = store.query("SELECT id FROM response WHERE identity = :i", {"i": key})
                target = equal[0]["id"] if equal else row["id"]
                store.execute(
                    "UPDATE message SET response_id = :t, reference = :ref, request_id = :r WHERE response_id = :id",
                    {"t": target, "ref": reference, "r": request_id, "id": row["id"]},
                )
                if equal:
                    self.fold([(target, *(row[k] for k in _FOLDED), True)])
                    store.execute("DELETE FROM response WHERE id = :id", {"id": row["id"]})
                    # the transaction of both: the same as had they arrived in the other order
                    self._refile({target: {gateway_txn_id}}, set(), touched)
                else:
                    store.execute(
                        "UPDATE response SET identity = :i, reference = :ref, reference_guessed = :yes, "
                        "request_id = :r WHERE id = :id",
                        {
                            "i": key,
                            "ref": reference,
                            "yes": reference is not None,
                            "r": request_id,
                            "id": row["id"],
                        },
                    )
                if row["request_id"] is not None:
                    touched.add(row["request_id"])  # the request it leaves
                if request_id is not None:
                    touched.add(request_id)
        return touched

    def _refile(self, named: dict[int, set[str]], aliases: set[tuple[str, str]], touched: set[int]) -> None:
        """File the responses that copies just folded into under the gateway transaction all their
        copies name (``one_transaction``): not the first copy's, so that the order of arrival does not
        decide it (a bank export whose batch id comes with a later export, a copy without auth_id)."""
        store = self.store
        if not named:
            return
        marks, params = store.placeholders("r", sorted(named))
        rows = store.query(f"SELECT id, gateway_txn_id, request_id FROM response WHERE id IN {marks}", params)
        candidates = {
            r["id"]: named[r["id"]] | ({r["gateway_txn_id"]} if r["gateway_txn_id"] else set()) for r in rows
        }
        owners = owners_of(aliases | alias_pairs(store, self.provider, candidates.values()))
        moved = {}
        for row in rows:
            txn = one_transaction(candidates[row["id"]], owners)
            if txn != row["gateway_txn_id"]:
                moved[row["id"]] = txn
                if row["request_id"] is not None:
                    touched.add(row["request_id"])
        if moved:
            # the requests that shared their old transactions no longer find them from there
            touched |= recompute.partners(store, moved)
            store.executemany(
                "UPDATE response SET gateway_txn_id = :g WHERE id = :id",
                [{"g": txn, "id": response_id} for response_id, txn in sorted(moved.items())],
            )

    def fold(self, folds: Sequence[tuple[int, int, str | None, Any, str, bool]]) -> None:
        """Add deliveries to responses (id, deliveries, wording, event time, authenticity, whether their
        reference is only guessed), keeping the least wording and event time, the stronger authenticity
        and a reference any of them carries, so that what is stored does not depend on the order of
        arrival."""
        rows = []
        for response_id, deliveries, raw_status, occurred_at, authenticity, guessed in folds:
            at = (
                occurred_at
                if occurred_at is None or isinstance(occurred_at, str)
                else self.store.time(occurred_at)
            )
            rows.append(
                {
                    "n": deliveries,
                    "rs1": raw_status,
                    "rs2": raw_status,
                    "at1": at,
                    "at2": at,
                    "valid": authenticity == Authenticity.VALID.value,
                    "carried": not guessed,
                    "no": False,
                    "id": response_id,
                }
            )
        wording = self.store.bytewise("raw_status")  # the least by bytes, as min() here, on PostgreSQL too
        self.store.executemany(
            "UPDATE response SET deliveries = deliveries + :n, "
            "reference_guessed = CASE WHEN :carried THEN :no ELSE reference_guessed END, "
            "authenticity = CASE WHEN :valid THEN 'valid' ELSE authenticity END, "
            f"raw_status = CASE WHEN raw_status IS NULL OR :rs1 < {wording} THEN COALESCE(:rs2, raw_status) "
            "ELSE raw_status END, "
            "occurred_at = CASE WHEN occurred_at IS NULL OR :at1 < occurred_at THEN COALESCE(:at2, occurred_at) "
            "ELSE occurred_at END WHERE id = :id",
            rows,
        )

    def _responses(
        self, records: dict[str, ResponseRecord], request_ids: dict[str, int], tally: Tally, touched: set[int]
    ) -> dict[str, int]:
        """The response each message belongs to, creating what is missing; the requests a response
        filed under another gateway transaction now leaves go into ``touched``."""
        if not records:
            return {}
        store = self.store
        received_at = store.time(self.responded_at)
        identities = {digest: response_identity(self.provider, r) for digest, r in records.items()}
        marks, params = store.placeholders("i", sorted(set(identities.values())))
        known = {
            r["identity"]: r["id"]
            for r in store.query(f"SELECT id, identity FROM response WHERE identity IN {marks}", params)
        }
        count = Counter(identities.values())
        # What the folded messages may word differently (Stripe's charge.succeeded and
        # payment_intent.succeeded) is kept as the least value, and the authenticity as valid when any
        # copy was verified, so that neither depends on the order of arrival (design.md 5.3).
        words: dict[str, tuple[str | None, datetime | None]] = {}
        strongest: dict[str, str] = {}
        guessed: dict[str, bool] = {}  # only while no message of it carries the reference
        txns: dict[str, set[str]] = {}  # the gateway transactions its copies name (one_transaction)
        for digest, identity in identities.items():
            r = records[digest]
            if identity not in words:  # its first copy in the batch (an export's every row)
                words[identity] = (r.raw_status, r.occurred_at)
                strongest[identity] = r.authenticity.value
                guessed[identity] = r.reference_guessed
                txns[identity] = {r.gateway_txn_id} if r.gateway_txn_id else set()
                continue
            words[identity] = _least(words[identity], (r.raw_status, r.occurred_at))
            strongest[identity] = _stronger(strongest[identity], r.authenticity.value)
            guessed[identity] = guessed[identity] and r.reference_guessed
            if r.gateway_txn_id:
                txns[identity].add(r.gateway_txn_id)
        aliases = {(a, r.gateway_txn_id) for r in records.values() if r.gateway_txn_id for a in r.aliases}
        aliases |= alias_pairs(store, self.provider, (t for i, t in txns.items() if i not in known))
        owners = owners_of(aliases)
        new: dict[str, ResponseRecord] = {}
        for digest, identity in identities.items():
            if identity not in known and identity not in new:
                record = records[digest]
                if count[identity] > 1:  # what its copies say together (one copy says what it says)
                    raw_status, occurred_at = words[identity]
                    if (record.raw_status, record.occurred_at) != (raw_status, occurred_at):
                        record = replace(record, raw_status=raw_status, occurred_at=occurred_at)
                    if len(txns[identity]) > 1:
                        record = replace(record, gateway_txn_id=one_transaction(txns[identity], owners))
                    if record.authenticity.value != strongest[identity]:
                        record = replace(record, authenticity=Authenticity(strongest[identity]))
                    if record.reference_guessed != guessed[identity]:
                        record = replace(record, reference_guessed=guessed[identity])
                new[identity] = record
        if new:
            rows = [
                (
                    identity,
                    request_ids.get(r.reference) if r.reference else None,
                    r.reference,
                    r.reference_guessed,
                    self.provider,
                    r.dedupe_key,
                    r.status.value,
                    r.raw_status,
                    r.amount_minor,
                    r.currency,
                    r.gateway_txn_id,
                    r.authenticity.value,
                    store.time(r.occurred_at),
                    received_at,
                    count[identity],
                )
                for identity, r in new.items()
            ]
            insert = (
                "INSERT INTO response (identity, request_id, reference, reference_guessed, provider, dedupe_key, "
                "status, raw_status, "
                "amount_minor, currency, gateway_txn_id, authenticity, occurred_at, received_at, deliveries) "
                "VALUES {values} ON CONFLICT (identity) DO NOTHING"
            )
            if store.serialised:
                # Nobody writes between these statements: every new identity is ours. Each row takes the
                # rowid one past the largest (SQLite's documented rule for an INTEGER PRIMARY KEY), so
                # the ids follow from the largest before and after, without selecting 10,000 keys again.
                largest = "SELECT COALESCE(MAX(id), 0) AS m FROM response"
                before = store.query(largest)[0]["m"]
                store.executemany(insert.format(values="(" + ", ".join("?" * len(rows[0])) + ")"), rows)
                after = store.query(largest)[0]["m"]
                if after == before + len(rows):
                    known.update(zip(new, range(before + 1, after + 1), strict=True))
                    missing = []
                else:
                    missing = list(new)
            else:
                inserted = store.insert_returning(insert + " RETURNING id, identity", rows)
                known.update({r["identity"]: r["id"] for r in inserted})
                # another receiver stored these at the same instant: they are folded into its rows below
                missing = [i for i in new if i not in known]
                for identity in missing:
                    del new[identity]
            if missing:
                marks, params = store.placeholders("i", missing)
                known.update(
                    {
                        r["identity"]: r["id"]
                        for r in store.query(
                            f"SELECT id, identity FROM response WHERE identity IN {marks}", params
                        )
                    }
                )
            tally.responses_new += len(new)
        folded = [
            (known[i], n, *words[i], strongest[i], guessed[i]) for i, n in count.items() if i not in new
        ]
        if folded:
            self.fold(folded)
            self._refile({known[i]: txns[i] for i in count if i not in new and txns[i]}, aliases, touched)
        tally.redeliveries += sum(n for n in count.values()) - len(new)
        return {digest: known[identity] for digest, identity in identities.items()}


# what a response folded into another brings to it (Messages.fold)
_FOLDED = ("deliveries", "raw_status", "occurred_at", "authenticity")  # and then reference_guessed


def _holder_rank(reference: str | None, gateway_txn_id: str | None, digest: str) -> tuple[bool, bool, str]:
    """Of the copies of one settlement line, the least rank holds it: one naming its request, then one
    naming its transaction, then the least digest. A total order, so the holder is the same whatever
    order the reports came in."""
    return (reference is None, gateway_txn_id is None, digest)


def _least(
    a: tuple[str | None, datetime | None] | None, b: tuple[str | None, datetime | None]
) -> tuple[str | None, datetime | None]:
    if a is None:
        return b
    words = [w for w in (a[0], b[0]) if w is not None]
    times = [t for t in (a[1], b[1]) if t is not None]
    return (min(words) if words else None, min(times) if times else None)


# The cycle collector looks at the newest objects once 700 more have been made than freed (its default),
# and at the older ones every tenth and hundredth time: a pending batch (batch_size records, a few
# objects each, held until it is committed) was walked over and over, for no cycle: records go by
# reference counting. That was 1.2 to 1.8 s of the 17 to 20 s of CPU a 200,000-row export took;
# once every 50,000, 0.4 s, and the same peak memory.
_YOUNG_OBJECTS = 50_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cycle collector run less often during an ingest run, and as before after it."""
    thresholds = gc.get_threshold()
    if not 0 < thresholds[0] < _YOUNG_OBJECTS:  # 0: the caller turned it off
        yield
        return
    gc.set_threshold(_YOUNG_OBJECTS, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


# -- keys ------------------------------------------------------------------------------------------
def _guarded(provider: Provider, source: Source) -> Iterator[Record | Notice]:
    """The provider's records of a source; a provider that fails on it (a bug, or a third-party
    plugin's) refuses that source only, naming the error, and the rest of the run goes on. A record a
    plugin gives that is unfit to store (``record_problem``) is kept quarantined, saying why."""
    checked = _plugin(provider)
    try:
        # what the caller does with a record never raises in here: only extract and its iteration can
        for record in provider.extract(source):
            yield _fit(provider, record, None) if checked else record
    except (SourceError, OSError):
        raise
    except Exception as exc:  # a plugin boundary: one input's failure is not the run's
        raise SourceError(
            f"the {provider.instance} provider failed on it ({_error_text(exc, provider)})"
        ) from exc


def _plugin(provider: Provider) -> bool:
    """Whether a provider comes from outside paycli, so that its records are checked before they are
    stored (paycli's own are tested against their golden samples, and read a million rows a run).
    ``inner``: the provider ``paycli serve`` wraps (serve.py, _Capture)."""
    module = type(getattr(provider, "inner", provider)).__module__
    return module != "paycli" and not module.startswith("paycli.")


def _fit(provider: Provider, record: object, stored: Origin | None) -> Record:
    """A plugin's record, or quarantined when it is unfit to store; ``stored``: the origin the record
    was read again from (reprocess), else the record's own. A record that holds no message to quarantine
    (not a record, an origin whose bytes are not bytes) fails its whole source, as an error in the
    provider does."""
    problem = record_problem(record)
    if problem is None:
        return record  # type: ignore[return-value]
    origin = stored if stored is not None else getattr(record, "origin", None)
    if not isinstance(origin, Origin) or record_problem(QuarantinedRecord(origin, "")) is not None:
        raise SourceError(f"the {provider.instance} provider gave what paycli cannot store: {problem}")
    return QuarantinedRecord(origin, f"the {provider.instance} provider read it wrongly: {problem}")


def read_again(provider: Provider, origin: Origin) -> Record:
    """``provider.reinterpret`` at the plugin boundary: what it fails on, or reads unfit to store, is
    quarantined, saying why."""
    record = _reading(provider, origin)
    return QuarantinedRecord(origin, record) if isinstance(record, str) else record


def _reading(provider: Provider, origin: Origin) -> Record | str:
    """What a provider reads a stored message as, or why it cannot."""
    try:
        record = provider.reinterpret(origin)
    except Exception as exc:  # a plugin boundary, as in _guarded
        return f"the {provider.instance} provider failed on it ({_error_text(exc, provider)})"
    if not _plugin(provider):
        return record
    try:
        return _fit(provider, record, origin)
    except SourceError as exc:
        return str(exc)


def _storable(record: Record) -> Record:
    """The record, or quarantined when the store could not hold what it says (``_without_nul``,
    ``_within_columns``)."""
    return _within_columns(_without_nul(record))


# The widths of the store's columns a record's values go into (models.py), by record type: PostgreSQL
# refuses a longer value, and the refusal would fail the whole batch, every run (SQLite takes it).
_COLUMN_WIDTHS: dict[type, tuple[tuple[str, int], ...]] = {
    ResponseRecord: (("reference", 128), ("dedupe_key", 255), ("gateway_txn_id", 128)),
    InfoRecord: (("reference", 128),),
    SettlementRecord: (("reference", 128), ("gateway_txn_id", 128), ("parent_txn_id", 128), ("line_id", 128)),
}
_ALIAS_WIDTH = 128
_TXN_WIDTH = 128  # message.gateway_txn_id
# The store's BIGINT amounts: a provider checks each figure it reads, but one it works out (a PayPal
# STL line's net, gross - fee) may fall outside, and either backend then refused the whole batch
_AMOUNTS: dict[type, tuple[str, ...]] = {
    ResponseRecord: ("amount_minor",),
    SettlementRecord: ("gross_minor", "fee_minor", "net_minor", "charged_minor"),
}
_BIGINT = range(-(2**63), 2**63)


def _within_columns(record: Record) -> Record:
    """The record, or quarantined when a value is longer than the store's column for it: a provider
    that reads a field without a limit (a codTrans of 200 characters) must not fail its batch."""
    widths = _COLUMN_WIDTHS.get(type(record))
    if widths is None or isinstance(record, Notice):
        return record  # requests are checked by their provider; quarantined records keep no value
    if isinstance(record, InfoRecord) and record.gateway_txn_id and len(record.gateway_txn_id) > _TXN_WIDTH:
        # only a way to the request's trail: a message that carries no outcome is kept without it
        record = replace(record, gateway_txn_id=None)
    if isinstance(record, ResponseRecord) and record.raw_status and len(record.raw_status) > RAW_STATUS_LIMIT:
        # the gateway's wording, shown to people: cut to its column, as the providers cut theirs
        record = replace(record, raw_status=record.raw_status[:RAW_STATUS_LIMIT])
    for name, width in widths:
        value = getattr(record, name)
        if value is not None and len(value) > width:
            return QuarantinedRecord(
                record.origin,
                f"its {name.replace('_', ' ')} is longer than {width} characters: no store column takes it",
            )
    for name in _AMOUNTS.get(type(record), ()):
        amount = getattr(record, name)
        if amount is None:
            continue
        what = name.removesuffix("_minor")
        if type(amount) is not int:  # a float's "in range(...)" walks the range: never asked of one
            return QuarantinedRecord(
                record.origin,
                f"its {what} amount is not a whole number of minor units ({type(amount).__name__})",
            )
        if amount not in _BIGINT:
            return QuarantinedRecord(
                record.origin, f"its {what} amount is past what the store holds (64-bit minor units)"
            )
    if (
        isinstance(record, ResponseRecord)
        and record.aliases
        and any(len(alias) > _ALIAS_WIDTH for alias in record.aliases)
    ):
        return QuarantinedRecord(
            record.origin, f"another id it gives the transaction is longer than {_ALIAS_WIDTH} characters"
        )
    return record


def _without_nul(record: Record) -> Record:
    """The record, or quarantined when a value it stores as text holds a NUL character: PostgreSQL's
    text columns take none, and one would fail its whole batch (every run, as the file is read again).
    The headers and context a message keeps have it replaced, so that it can be stored quarantined."""
    if isinstance(record, Notice):
        return record
    origin = record.origin
    if "\x00" in (origin.headers or "") or "\x00" in (origin.context or ""):
        origin = replace(
            origin,
            headers=origin.headers and origin.headers.replace("\x00", "\ufffd"),
            context=origin.context and origin.context.replace("\x00", "\ufffd"),
        )
        return QuarantinedRecord(
            origin, "a NUL character (0x00) in its headers or header row: no text column takes one"
        )
    if isinstance(record, QuarantinedRecord):
        return record  # its reason is one line, a NUL written as \x00
    raw = origin.raw
    if _NUL_MARKS.search(raw) is None:
        return record  # the common case, at a million rows an export: no byte a NUL could come from
    values = record.data if isinstance(record, RequestRecord) else record
    for f in fields(values):
        value = getattr(values, f.name)
        if any(isinstance(t, str) and "\x00" in t for t in (value if isinstance(value, tuple) else (value,))):
            return QuarantinedRecord(
                origin, f"a NUL character (0x00) in {f.name.replace('_', ' ')}: no text column takes one"
            )
    return record


_RECEIVED = re.compile(r"http [A-Z]+ /")  # the source of a message paycli serve received


def _stored_origin(m: Any) -> Origin:
    """A stored message as its provider first read it: live when paycli serve received it (its
    source is "http POST /callbacks/<gateway>", serve.py)."""
    live = _RECEIVED.match(str(m["source"])) is not None
    return Origin(m["line"], bytes(m["raw"]), m["context"], m["headers"], live)


# What a value read from a message's bytes can hold a NUL from: the byte itself (UTF-16 text too), a
# JSON escape, a form's %-escape, an XML character reference (one search of each record's bytes)
_NUL_MARKS = re.compile(rb"\x00|\\u0000|%00|&#")


def unknown_gateway(name: str, gateways: Iterable[str]) -> str:
    """What to say of a request sent to a gateway no provider here reads, with the closest name."""
    names = sorted(gateways)
    close = closest(name, names)
    hint = f"did you mean '{close}'? " if close else ""
    return (
        f"gateway '{name}' is not a gateway of this configuration ({hint}gateways: {', '.join(names)}): "
        "its requests wait for responses no provider reads"
    )


def _error_text(exc: BaseException, provider: Provider | None = None) -> str:
    """An exception as one line; a provider's: without the values of its secrets, which a plugin's
    error may quote (an HMAC key in a message), and an error goes to the terminal and the store."""
    text = str(exc).strip()
    text = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    if provider is not None:
        for value in provider.options.values():
            if isinstance(value, Secret):
                for secret in value.reveal_all():
                    if secret:
                        text = text.replace(secret, "***")
    return text


def message_digest(origin: Origin) -> str:
    """A message is its bytes, the headers that came with them and the context they need."""
    h = _digest_prefix(origin.headers or "", origin.context or "").copy()
    h.update(origin.raw)
    return h.hexdigest()


@lru_cache(maxsize=256)
def _digest_prefix(headers: str, context: str) -> Any:
    """The hash of a message's headers and context, each length-prefixed. Every record of a file shares
    one (its header row, no headers): hashed once, not once a record."""
    h = hashlib.sha256()
    for part in (headers, context):
        data = part.encode("utf-8", "surrogateescape")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h


def keep_aliases(
    store: Store,
    provider: str,
    records: Sequence[ResponseRecord],
    payment_of: Callable[[str, str, str], str] = Provider.payment_of,
) -> set[int]:
    """Keep the other ids a response names for its transaction: reports match a settlement line by
    any of them. A message that failed its signature check vouches for nothing. An id two transactions
    claim (never seen from a gateway: a forgery, a broken export) is kept as the least's, whichever came
    first, and the responses that are the payment of that id (``payment_of``: a PayPal capture whose
    copies name two authorizations) are filed under that least transaction too, so that copies of one
    payment answering two references meet there (SHARED_TRANSACTION) in any order of arrival; the
    requests of the responses either way round then find other partners: returned, to recompute."""
    pairs = {
        (alias, r.gateway_txn_id)
        for r in records
        if r.gateway_txn_id is not None and r.authenticity is not Authenticity.INVALID
        for alias in r.aliases
    }
    if not pairs:
        return set()
    held = dict(_aliases_of(store, provider, {alias for alias, _ in pairs}, "alias"))
    claims = owners_of([*pairs, *held.items()])
    contested = {alias: txns for alias, txns in claims.items() if len(txns) > 1}
    store.executemany(
        "INSERT INTO gateway_alias (provider, alias, gateway_txn_id) VALUES (?, ?, ?) "
        "ON CONFLICT (provider, alias) DO UPDATE SET gateway_txn_id = excluded.gateway_txn_id "
        # the least by bytes, as min() below and one_transaction: on PostgreSQL too, whatever its collation
        f"WHERE excluded.gateway_txn_id < {store.bytewise('gateway_alias.gateway_txn_id')}",
        [(provider, alias, txn) for alias, txn in sorted(pairs)],
    )
    if not contested:
        return set()
    txns = sorted({t for alias, claimants in contested.items() for t in (alias, *claimants)})
    marks, params = store.placeholders("t", txns)
    params["p"] = provider
    rows = store.query(
        "SELECT id, request_id, dedupe_key, status, gateway_txn_id FROM response "
        f"WHERE provider = :p AND gateway_txn_id IN {marks}",
        params,
    )
    moves = []
    for row in rows:
        for alias, claimants in contested.items():
            least = min(claimants)
            if (
                row["gateway_txn_id"] in claimants
                and row["gateway_txn_id"] != least
                and payment_of(row["dedupe_key"], row["status"], row["gateway_txn_id"]) == alias
            ):
                moves.append({"g": least, "id": row["id"]})
    if moves:
        store.executemany("UPDATE response SET gateway_txn_id = :g WHERE id = :id", moves)
    return {row["request_id"] for row in rows if row["request_id"] is not None}


def response_identity(provider: str, r: ResponseRecord) -> str:
    """What must agree for two messages to be one response (design.md 3.1), plus whether the signature
    check failed: a forged copy of a genuine notification is a distinct, suspicious response, never
    folded into it. A copy that could not be checked (an IPN whose postback failed, a body kept without
    its signature header) is the same response as a verified one, which it then counts as."""
    return identity_of(
        provider, r.dedupe_key, r.status.value, r.amount_minor, r.currency, r.reference, r.authenticity.value
    )


def identity_of(
    provider: str,
    dedupe_key: str,
    status: str,
    amount_minor: int | None,
    currency: str | None,
    reference: str | None,
    authenticity: str,
) -> str:
    """The stored identity of a response of these values (migration 0003 re-keys with it too)."""
    parts = (
        provider,
        dedupe_key,
        status,
        "" if amount_minor is None else str(amount_minor),
        currency or "",
        reference or "",
        # valid and unverifiable hash alike, as the word unverifiable responses always hashed with, so
        # that only the valid ones of an older store needed re-keying
        _INVALID if authenticity == _INVALID else _UNVERIFIABLE,
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _stronger(a: str, b: str) -> str:
    """The authenticity of one response that copies of both authenticities were folded into: valid wins
    (the identity keeps invalid copies apart), so the result does not depend on the order of arrival."""
    return _VALID if _VALID in (a, b) else a


# -- small pieces ----------------------------------------------------------------------------------
def _sidecar_problem(text: str) -> str | None:
    """What in a ``.headers`` sidecar no provider reads: lines that are not ``Name: value``."""
    # lines as header_fields reads them: to each line feed
    odd = [n for n, line in enumerate(text.split("\n"), start=1) if line.strip() and ":" not in line]
    if not odd:
        return None
    more = f" (and {len(odd) - 1} more)" if len(odd) > 1 else ""
    return f"line {odd[0]}{more} is not 'Name: value', ignored"


# (transaction, reference, whether guessed, status, dedupe key, authenticity) of a response or a record
Named = tuple[str, str, bool, str, str, str]


@dataclass
class References:
    """The references a gateway transaction's genuine responses carry (else, when none carries one, the
    guessed ones), for the responses that carry none of their own to take (``target``)."""

    # transaction -> guessed or not -> (reference, status, dedupe key, whether its check passed)
    pools: dict[str, dict[bool, set[tuple[str, str, str, bool]]]] = field(default_factory=dict)

    def add(self, named: Named) -> None:
        txn, reference, guessed, status, key, authenticity = named
        if authenticity == Authenticity.INVALID.value:
            return  # a forged message steers nothing
        if guessed and status in _UNDONE:
            return  # a Refund's or a Dispute's own metadata may name the refund: never the payment
        valid = authenticity == Authenticity.VALID.value
        self.pools.setdefault(txn, {}).setdefault(bool(guessed), set()).add((reference, status, key, valid))

    def target(self, txn: str, key: str) -> str | None:
        """The reference of the response with the same dedupe key (the same event of the payment: a
        Stripe charge.failed beside its payment_intent.payment_failed), else of the attempt that took
        money, an approval first (not a refund's own metadata, nor an attempt refused before it); a
        verified one before one that could not be checked; else the least."""
        kinds = self.pools.get(txn, {})
        pool = kinds.get(False) or kinds.get(True)
        if not pool:
            return None
        same = [p for p in pool if p[2] == key]
        if same:
            return min(same, key=lambda p: (not p[3], p[0]))[0]
        return min(pool, key=lambda p: (_RANK.get(p[1], len(_RANK)), not p[3], p[0]))[0]


# which response's reference a response without one of its own takes first (References.target)
_RANK = {Status.APPROVED.value: 0, Status.REFUNDED.value: 1, Status.REVERSED.value: 1}
_UNDONE = frozenset({Status.REFUNDED.value, Status.REVERSED.value})


def references_of(store: Store, provider: str, txns: Sequence[str], more: Iterable[Named] = ()) -> References:
    """The references of these transactions' stored responses, and of ``more`` records not stored yet.
    A transaction named by another of its ids (``gateway_alias``: a PayPal refund's parent is the capture,
    which is filed under its authorization) finds the references of the transaction that id names."""
    found = References()
    names: dict[str, set[str]] = {t: {t} for t in txns}  # a transaction -> the asked ids it answers for
    for alias, txn in _aliases_of(store, provider, txns, "alias"):
        names.setdefault(txn, set()).add(alias)
    asked = sorted(names)
    for start in range(0, len(asked), MAX_PARAMETERS):
        marks, params = store.placeholders("t", asked[start : start + MAX_PARAMETERS])
        params["p"] = provider
        for row in store.query(
            "SELECT DISTINCT gateway_txn_id, reference, reference_guessed, status, dedupe_key, authenticity "
            f"FROM response WHERE provider = :p AND reference IS NOT NULL AND gateway_txn_id IN {marks}",
            params,
        ):
            named = (
                row["gateway_txn_id"],
                row["reference"],
                bool(row["reference_guessed"]),
                row["status"],
                row["dedupe_key"],
                row["authenticity"],
            )
            for txn in names[row["gateway_txn_id"]]:
                found.add((txn, *named[1:]))
    for named in more:
        for txn in names.get(named[0], ()):
            found.add((txn, *named[1:]))
    return found


def _as_held(record: ResponseRecord, held: Any) -> ResponseRecord:
    """A record that carries no reference of its own (or a guess) read with the reference its stored
    response ``held`` has: the one its transaction gave it on ingest."""
    if (record.reference is None or record.reference_guessed) and held["reference"] is not None:
        return replace(record, reference=held["reference"], reference_guessed=bool(held["reference_guessed"]))
    return record


def one_transaction(txns: set[str], owners: Mapping[str, set[str]]) -> str | None:
    """Of the gateway transaction ids the copies of one response name, the one it is filed under: an id
    that is another's alias (``owners``: alias -> the transactions that claim it) yields to it, and of
    the rest the least, whatever the order the copies came in."""
    if len(txns) <= 1:
        return next(iter(txns), None)
    names = {t for t in txns if not owners.get(t, set()) & txns}
    return min(names or txns)


def owners_of(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """(alias, transaction) pairs as ``one_transaction`` looks them up: once a batch, not once an id."""
    owners: dict[str, set[str]] = {}
    for alias, txn in pairs:
        owners.setdefault(alias, set()).add(txn)
    return owners


def alias_pairs(store: Store, provider: str, candidates: Iterable[set[str]]) -> set[tuple[str, str]]:
    """The stored (alias, transaction) pairs ``one_transaction`` needs for these sets of ids: one look
    for all of them, and none where no set holds two ids (the usual case)."""
    ids = {t for txns in candidates if len(txns) > 1 for t in txns}
    return set(_aliases_of(store, provider, ids, "alias")) if ids else set()


def _aliases_of(store: Store, provider: str, txns: Iterable[str], by: str) -> list[tuple[str, str]]:
    """(alias, transaction) of the stored aliases whose ``alias`` (or whose ``gateway_txn_id``) is one
    of ``txns``; nothing asked when the store holds no alias at all (most stores: one look)."""
    wanted = sorted(set(txns))
    if not wanted or not store.query(
        "SELECT 1 FROM gateway_alias WHERE provider = :p LIMIT 1", {"p": provider}
    ):
        return []
    column = {"alias": "alias", "txn": "gateway_txn_id"}[by]
    out = []
    for start in range(0, len(wanted), MAX_PARAMETERS):
        marks, params = store.placeholders("t", wanted[start : start + MAX_PARAMETERS])
        params["p"] = provider
        out += [
            (row["alias"], row["gateway_txn_id"])
            for row in store.query(
                f"SELECT alias, gateway_txn_id FROM gateway_alias WHERE provider = :p AND {column} IN {marks}",
                params,
            )
        ]
    return out


# the columns of a settlement line after its message and provider
_SETTLED = (
    "kind",
    "gateway_txn_id",
    "parent_txn_id",
    "reference",
    "gross_minor",
    "fee_minor",
    "net_minor",
    "currency",
    "occurred_at",
    "available_on",
    "line_id",
    "charged_minor",
    "charged_currency",
)


def fill_charged(store: Store, providers: Mapping[str, Provider]) -> int:
    """Give the settlement lines stored before schema 0004 what the customer was charged, read again from
    their messages (a Stripe balance report's ``customer_facing_amount``, which that paycli did not
    read): a line is stored once, so neither its report ingested again nor reprocess would; returns
    how many lines took it. Only reports whose header has such a column are read."""
    filled = 0
    last = 0
    while True:
        rows = store.query(
            "SELECT s.id, m.provider, m.source, m.line, m.raw, m.headers, m.context FROM settlement s "
            "JOIN message m ON m.id = s.message_id WHERE s.id > :last AND s.charged_minor IS NULL "
            "AND m.context LIKE '%customer!_facing!_amount%' ESCAPE '!' ORDER BY s.id LIMIT 500",
            {"last": last},
        )
        if not rows:
            return filled
        for row in rows:
            provider = providers.get(row["provider"])
            if provider is None:
                continue  # a gateway no longer configured: the line stays as it was stored
            record = read_again(provider, _stored_origin(row))  # what it fails on: stays as stored
            if isinstance(record, SettlementRecord) and record.charged_minor is not None:
                store.execute(
                    "UPDATE settlement SET charged_minor = :m, charged_currency = :c WHERE id = :id",
                    {"m": record.charged_minor, "c": record.charged_currency, "id": row["id"]},
                )
                filled += 1
        last = rows[-1]["id"]


def _figures(kind: str, gross: int, fee: int, currency: str) -> str:
    return f"{kind} {format_amount(gross, currency)} {currency} (fee {format_amount(fee, currency)})"


def _where(source: str, origin: Origin) -> str:
    return f"{source}:{origin.line}" if origin.line is not None else source


SEARCH_WIDTH = 600  # payment_request.search_text


def _request_values(store: Store, d: RequestData) -> tuple[Any, ...]:
    # cut to its column: a customer and an e-mail within theirs may grow when casefolded (ß is ss, the
    # ligature ﬃ is ffi), and PostgreSQL would refuse the batch
    search = " ".join(x for x in (d.customer, d.email) if x).casefold()[:SEARCH_WIDTH]
    return (
        d.txn_id,
        d.order_id,
        d.kind,
        store.time(d.created_at),
        d.customer,
        d.email,
        search,
        d.amount_minor,
        d.currency,
        d.gateway,
    )


def _as_data(row: Any) -> RequestData:
    return RequestData(
        txn_id=row["txn_id"],
        order_id=row["order_id"],
        kind=row["kind"],
        created_at=from_db(row["created_at"]),
        customer=row["customer"],
        email=row["email"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        gateway=row["gateway"],
    )


def _differences(a: RequestData, b: RequestData, config: Config) -> list[str]:
    out = []
    for name in REQUEST_FIELDS:
        if getattr(a, name) != getattr(b, name):
            if name == "amount_minor":
                out.append(f"amount ({format_amount(a.amount_minor, a.currency)} stored)")
            elif name == "created_at":
                out.append(_created_difference(a.created_at, b.created_at, config))
            else:
                out.append(name)
    return out


def _replaced(before: RequestData, now: RequestData, config: Config, at: datetime) -> str:
    """What an ``ingest --update`` line replaced of a stored request, for its trail: the values before."""
    said = []
    for name in REQUEST_FIELDS:
        old = getattr(before, name)
        if old == getattr(now, name):
            continue
        if name == "amount_minor":
            said.append(f"amount {format_amount(before.amount_minor, before.currency)} {before.currency}")
        elif name == "created_at":
            said.append(f"created_at {_in_zone(old, config)}")
        elif name != "currency" or before.amount_minor == now.amount_minor:  # said with the amount
            said.append(f"{name} {'(none)' if old is None else old}")
    when = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"updated by ingest --update at {when}; before: {', '.join(said)}"


def _created_difference(stored: datetime, given: datetime, config: Config) -> str:
    """created_at, with both times: a shop's export without offsets is read in the configured zone, so
    after ``timezone`` changed every request of it seems moved by the zones' difference. Said then,
    or the operator sees one conflict per request and no cause."""
    said = f"created_at ({_in_zone(stored, config)} stored, {_in_zone(given, config)} here"
    seconds = abs((given - stored).total_seconds())
    if seconds % 900 == 0 and seconds <= 26 * 3600:
        said += (
            f"; a time without an offset is read in the configured timezone, {config.timezone_name}: "
            "if it changed since, keep the old one or give the times their offset"
        )
    return said + ")"


def _in_zone(moment: datetime, config: Config) -> str:
    """``moment`` in the configured zone, or in UTC where that zone's calendar has no room for it (an
    ERP's 0001-01-01T00:30Z "no date" is in year 0 west of UTC): the conflict is said, never a crash."""
    try:
        return moment.astimezone(config.timezone).isoformat()
    except OverflowError:
        return moment.astimezone(UTC).isoformat()


def _walk(
    folder: Path,
    refuse: Callable[[str, str], None],
    skip: tuple[int, int] | None = None,
    walked: set[tuple[int, int]] | None = None,
) -> Iterator[Path]:
    """The files of a folder tree in a stable order (by name, folder by folder); hidden entries and
    sidecars are skipped, and so is the folder whose (device, inode) is ``skip`` (the archive: read
    again, its files would be moved into it again, renamed each run). A folder in ``walked`` (by an
    earlier walk of the run: a glob matched it and a folder above it) is not walked again. A link to a
    folder is not followed (it may lead anywhere, back up the tree or to /, whose files --archive would
    move) but refused, as what cannot be read is: skipped unsaid, what an operator linked into the inbox
    was never read and cron heard nothing; named as an input, it is read. A folder that cannot be
    listed, and an entry that is not a regular file (a pipe would block the run), are refused by name.

    One folder is listed at a time, and of it only the names are kept: a folder of 200,000 callbacks
    costs about 19 MB as sorted names, where its ``os.DirEntry`` objects took 70."""
    pending = [folder]
    walked = set() if walked is None else walked
    while pending:
        current = pending.pop()
        try:
            found = os.stat(current)
        except OSError as exc:
            refuse(str(current), f"cannot be read ({exc.strerror or exc})")
            continue
        if (found.st_dev, found.st_ino) in walked:
            continue
        walked.add((found.st_dev, found.st_ino))
        files: list[str] = []
        subfolders: list[str] = []
        odd: dict[str, str] = {}  # name: why it is refused (rare)
        try:
            with os.scandir(current) as listing:
                for entry in listing:
                    name = entry.name
                    if name.startswith(".") or _editor_copy(name):
                        continue
                    if entry.is_dir():
                        if skip is not None and _identity(entry) == skip:
                            continue  # the archive, or a link to it
                        if entry.is_symlink():
                            odd[name] = "a link to a folder: not followed (name it as an input to read it)"
                        else:
                            subfolders.append(name)
                    elif entry.is_file():
                        files.append(name)
                    elif entry.is_symlink():
                        odd[name] = "a broken symbolic link"
                    else:
                        odd[name] = "not a regular file (a pipe, socket or device)"
        except OSError as exc:
            refuse(str(current), f"cannot be read ({exc.strerror or exc})")
            continue
        files.sort()
        for name in heapq.merge(files, sorted(odd)):
            if name in odd:
                refuse(str(current / name), odd[name])
            elif not name.endswith(SIDECAR_SUFFIX):
                yield current / name
            elif not _listed(files, name.removesuffix(SIDECAR_SUFFIX)) and _taken(current / name):
                # (one gone since the listing went with its file, which another run moved just before)
                refuse(str(current / name), "a .headers sidecar without the file it goes with")
        pending.extend(current / name for name in sorted(subfolders, reverse=True))


def _editor_copy(name: str) -> bool:
    """An editor's backup (``x.csv~``) or auto-save (``#x.csv#``) of a file beside it: read in a folder
    with it, an old copy of a request file fixed by hand is read after the fix (``~`` sorts last), and
    with --update its old values stand. A hidden entry (vim's ``.x.csv.swp``) is skipped anyway."""
    return name.endswith("~") or (len(name) > 2 and name.startswith("#") and name.endswith("#"))


def _identity(entry: os.DirEntry[str]) -> tuple[int, int] | None:
    try:
        found = entry.stat()  # a link's folder, as a walk reads it
    except OSError:  # gone since it was listed: said when it is listed in turn
        return None
    return found.st_dev, found.st_ino


def _listed(names: list[str], name: str) -> bool:
    """Whether ``name`` is in the sorted list ``names``."""
    at = bisect.bisect_left(names, name)
    return at < len(names) and names[at] == name


def _move(source: Path, target: Path) -> None:
    """Move a file to a name no file holds, whole or not at all; FileExistsError if one took the name
    since it was found free (two ingests archiving into one folder). A link then an unlink, as a
    rename would replace the file now there; a rename where the file system makes no links; across
    file systems a copy (``_copy_across``)."""
    try:
        os.link(source, target, follow_symlinks=False)  # the link itself, as a rename moves it
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _copy_across(source, target)
        elif exc.errno in _NO_LINKS:
            _rename_unless_taken(source, target)
        else:
            raise  # FileExistsError among them
        return
    try:
        os.unlink(source)
    except BaseException:
        with suppress(OSError):
            os.unlink(target)
        raise


def _rename_unless_taken(source: Path, target: Path) -> None:
    """A rename, on a file system that makes no links: the name checked just before, not by the call."""
    if _taken(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_across(source, target)


def _copy_across(source: Path, target: Path) -> None:
    """A copy to another file system, never over a file, removed again when the original cannot be
    (``shutil.move`` leaves it behind, and copies after any failed rename, one refused for want of
    permission too)."""
    made = False
    try:
        with open(source, "rb") as reading, open(target, "xb") as writing:  # never over a file
            made = True
            shutil.copyfileobj(reading, writing)
            os.fsync(writing.fileno())  # on disk before the original goes
        shutil.copystat(source, target)
        os.unlink(source)
    except BaseException:
        if made:
            with suppress(OSError):
                os.unlink(target)
        raise


_ARCHIVE_ATTEMPTS = 100  # names taken by other ingests in the instant between look and move, at most

# what link() says on a file system that makes no hard links (vfat, some network and FUSE mounts), or
# where the kernel refuses one to a file the user does not own (fs.protected_hardlinks)
_NO_LINKS = frozenset({errno.EPERM, errno.EMLINK, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})


def _free_name(target: Path, *, sidecar: bool = False, given: Collection[Path] = ()) -> Path:
    """A name in target's folder that no entry holds, nor its ``.headers`` when ``sidecar``, nor is
    one of ``given``: target's own, else ``stem.N.suffix``; cut, its stem first, to what the folder's
    file system takes with room for the sidecar's suffix (a name of 250 bytes has none for ``.1``, nor
    for ``.headers``)."""
    folder = target.parent
    limit = _name_max(folder) - (len(SIDECAR_SUFFIX) if sidecar else 0)
    n = 0
    while True:
        tail = f".{n}{target.suffix}" if n else target.suffix
        room = limit - len(os.fsencode(tail))
        if room >= 1:
            name = _cut(target.stem, room) + tail
        else:  # a "suffix" too long to keep (a.<250 bytes>): the number goes last
            tail = f".{n}" if n else ""
            name = _cut(target.name, limit - len(tail)) + tail
        candidate = folder / name
        if (
            candidate not in given
            and not _taken(candidate)
            and not (sidecar and _taken(folder / (name + SIDECAR_SUFFIX)))
        ):
            return candidate
        n += 1


def _name_max(folder: Path) -> int:
    """The longest file name, in bytes, that the file system of ``folder`` takes."""
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
    return longest if longest > 0 else 255


def _cut(name: str, size: int) -> str:
    """``name`` cut to at most ``size`` bytes as the file system stores it, never in a character."""
    while len(os.fsencode(name)) > size:
        name = name[:-1]
    return name


def _size_and_time(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_size, found.st_mtime_ns


def _taken(path: Path) -> bool:
    try:
        os.lstat(path)  # a link that leads nowhere holds its name too
    except FileNotFoundError:
        return False
    return True
