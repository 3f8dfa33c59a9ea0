"""Reconciliation reports (design.md 9): what the merchant reads every morning.

- ``period``: the local days a report covers (``--date``, ``--since``/``--until``, ``--period``);
- ``build``: the report's data, read from the store with set-based SQL bounded by the period;
- ``settlement``: settlement lines matched against POSITIVO requests;
- ``render``: HTML and CSV from Jinja templates (``templates/``), overridable with ``--template DIR``;
- ``outputs``: files, dated names in a folder, standard output, and the lock for cron;
- ``mail``: the report by e-mail through the configured SMTP server.

``make_report`` runs them in that order; the command line (``paycli/commands/report.py``) only parses
options and says what happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from paycli import rule as outcome_rule
from paycli import stopping
from paycli.config import Config
from paycli.errors import PaycliError, UsageError
from paycli.reports.build import Report, build_report
from paycli.reports.outputs import Staged, Target, report_lock, targets
from paycli.reports.period import Period, resolve_period
from paycli.reports.render import DIALECTS, render_csv, render_html
from paycli.reports.settlement import EXCEPTIONS
from paycli.store import Store

__all__ = ["FAIL_ON", "Period", "Report", "ReportRun", "build_report", "make_report", "resolve_period"]

# what --fail-on can watch: each a count of things that need a person
FAIL_ON: dict[str, Callable[[Report], int]] = {
    # of the period, and from before it after a response, resolution or update of the period
    "VERIFICARE": lambda r: r.count("VERIFICARE") + r.late_verificare,
    "NEGATIVO": lambda r: r.count("NEGATIVO") + r.late_negativo,
    "ORPHANS": lambda r: len(r.orphans),
    "ANOMALIES": lambda r: len(r.anomalies),
    "SETTLEMENT": lambda r: (
        0 if r.settlement is None else sum(r.settlement.count(c) for c in (*EXCEPTIONS, "not_settled"))
    ),
}


@dataclass
class ReportRun:
    report: Report
    written: list[Target] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)  # --fail-on conditions met, with their counts
    mailed_to: list[str] = field(default_factory=list)


def make_report(
    open_store: Callable[[], Store],
    config: Config,
    period: Period,
    now: datetime,
    *,
    formats: Sequence[str],
    out: str,
    gateways: Sequence[str] = (),
    template_dir: Path | None = None,
    csv_dialect: str = "standard",
    fail_on: Sequence[str] = (),
    email: bool = False,
    email_by: str = "--email",
    lock_file: Path,
    lock_wait: int = 0,
) -> ReportRun:
    """Build the report of ``period``, write each format, mail it if asked (``email_by``: by the option
    or by ``report.email``, for the errors); under the report lock ``lock_file``
    (``outputs.default_lock_file``: the store's)."""
    if csv_dialect not in DIALECTS:
        raise UsageError(f"--csv-dialect: '{csv_dialect}' is not one of {', '.join(DIALECTS)}")
    unknown = [f for f in fail_on if f not in FAIL_ON]
    if unknown:
        raise UsageError(f"--fail-on: '{unknown[0]}' is not one of {', '.join(FAIL_ON)}")
    if email and config.smtp is None:
        raise UsageError("--email: the configuration has no smtp: section")
    if template_dir is not None and not template_dir.is_dir():
        raise UsageError(f"--template: '{template_dir}' is not a folder")
    plan = targets(out, formats, period.slug)
    if email and any(t.path is None for t in plan):
        raise UsageError(
            f"{email_by}: write the report to a file or folder (--out), not to standard output"
            + (", or give --no-email" if email_by != "--email" else "")
        )
    with report_lock(lock_file, lock_wait), open_store() as store:
        # every section of one moment (an ingest beside it commits batches meanwhile), held while the
        # report is read and written, not while it is mailed
        with store.snapshot(), _totals_fit():
            run = _build_and_write(
                store, config, period, now, plan, gateways, template_dir, csv_dialect, fail_on
            )
        if email:
            _mail(run, config)
    return run


def _build_and_write(
    store: Store,
    config: Config,
    period: Period,
    now: datetime,
    plan: Sequence[Target],
    gateways: Sequence[str],
    template_dir: Path | None,
    csv_dialect: str,
    fail_on: Sequence[str],
) -> ReportRun:
    report = build_report(
        store,
        period,
        config.timezone,
        now,
        gateways=gateways,
        title=str(config.report.get("title") or "") or None,
    )
    report.stale_rule = outcome_rule.check(store, config, keep=False)
    run = ReportRun(report)
    outputs = Staged(plan)

    def render(target: Target) -> None:
        if target.fmt == "html":
            with outputs.open(target) as stream:
                render_html(report, stream, template_dir=template_dir)
        else:
            with outputs.open(target, newline="") as stream:
                render_csv(report, stream, dialect=csv_dialect, template_dir=template_dir)

    try:
        if len(plan) > 1 and hasattr(os, "fork"):
            # The formats are rendered side by side, one in a forked process: a report of a busy day
            # is CPU-bound Python, and the 2-core machines paycli runs on halve its time so. Every
            # section is read first: the forked process never touches the store.
            report.prefetch()
            _side_by_side(render, plan[0], plan[1:])
        else:
            for target in plan:
                render(target)
        # a stop whose exception a finaliser lost ("Exception ignored") still stops the run here
        stopping.check()
        outputs.commit()  # all the files of the run, or none (a template error, Ctrl-C, SIGTERM)
    finally:
        outputs.discard()
    run.written.extend(plan)
    run.failing = {name: n for name in fail_on if (n := FAIL_ON[name](report))}
    return run


@contextlib.contextmanager
def _totals_fit() -> Iterator[None]:
    """SQLite sums 64-bit integers and fails past them: amounts that large (each fits a column, their
    total does not) are no payments; said in one line, as any other bad input."""
    import sqlite3

    try:
        yield
    except sqlite3.OperationalError as exc:
        if str(exc) != "integer overflow":
            raise
        raise ReportError(
            "the amounts of the period are too large to total (past 2^63 minor units in one currency): "
            "look for a request or settlement line with an absurd amount (paycli list --format csv)"
        ) from None


def _side_by_side(render: Callable[[Target], None], here: Target, there: Sequence[Target]) -> None:
    """``render(here)`` in this process while a forked child renders ``there``; the child's error, if
    any, is raised here once both are done. When this process fails or is stopped first (a template
    error, Ctrl-C, SIGTERM), the child is stopped with it: no renderer outlives the run."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    # No SIGINT or SIGTERM is taken during the fork: the at-fork hooks of libraries (logging's lock)
    # are Python code, and a stop's exception raised in one is printed as "Exception ignored" and lost,
    # the run going on to write its report. Held, it is taken once the mask is restored, in the try
    # below, which stops the child.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    if pid == 0:  # the child: render, report, and leave without running the parent's clean-ups
        os.close(read_end)
        code, message = 0, ""
        try:
            _die_with(parent)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            for target in there:
                render(target)
        except PaycliError as exc:
            code, message = 2, str(exc)
        except BaseException as exc:  # whatever it is, the parent says it in one line
            code, message = 1, f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            os.write(write_end, message.encode("utf-8", "replace"))
            os._exit(code)
    try:
        os.close(write_end)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a stop that came meanwhile is raised here
        with os.fdopen(read_end, "rb") as pipe:
            render(here)
            stopping.check()  # not waiting for the child after a stop lost in a finaliser
            message = pipe.read().decode("utf-8", "replace")
        _, status = os.waitpid(pid, 0)
    except BaseException:
        with contextlib.suppress(OSError):  # its files are not wanted: it stops now, not when done
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    if status != 0:
        raise (UsageError if os.waitstatus_to_exitcode(status) == 2 else ReportError)(
            message or f"rendering {', '.join(t.fmt for t in there)} failed (status {status})"
        )


def _die_with(parent: int) -> None:
    """Have the kernel kill this (forked) process when its parent dies, SIGKILL included (Linux); a
    renderer whose run is gone has nothing left to do."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the kernel was told
        os._exit(1)


class ReportError(PaycliError):
    """A renderer failed for a reason that is not the user's (exit 1 would hide it: exit 2)."""

    exit_code = 2


def summary_text(report: Report) -> str:
    """A few plain lines: the mail's body, and what a person reads first."""
    lines = [
        f"paycli reconciliation report {report.period.label}" + (f" ({report.title})" if report.title else "")
    ]
    if report.stale_rule:
        lines.append(f"Warning: {report.stale_rule}.")
    if report.empty:
        lines.append("Nothing happened in this period.")
    lines.append(
        f"Requests: {report.count()} (POSITIVO {report.count('POSITIVO')}, NEGATIVO {report.count('NEGATIVO')}, "
        f"VERIFICARE {report.count('VERIFICARE')})"
    )
    if report.late_verificare:
        lines.append(
            f"VERIFICARE from before the period, after a response, resolution or update of it: {report.late_verificare}"
        )
    if report.late_negativo:
        lines.append(
            f"NEGATIVO from before the period, after a response, resolution or update of it: {report.late_negativo}"
        )
    if report.older_verificare:
        lines.append(f"VERIFICARE from before the period, still open, nothing new: {report.older_verificare}")
    lines.append(f"Orphan responses: {len(report.orphans)}; order anomalies: {len(report.anomalies)}")
    lines.append(f"Resolutions made or undone: {len(report.resolutions)}")
    s = report.settlement
    if s is not None and s.summary:
        lines.append(
            f"Settlement ({', '.join(s.covered)}): matched {s.count('matched')}, charged twice "
            f"{s.count('charged_twice')}, amount differs {s.count('amount_differs')}, settled not POSITIVO "
            f"{s.count('settled_not_positivo')}, unknown here {s.count('unknown_here')}, other gateway {s.count('other_gateway')}, approved not settled "
            f"{s.count('not_settled')}, chargebacks {s.count('chargeback')}"
        )
    return "\n".join(lines) + "\n"


def _mail(run: ReportRun, config: Config) -> None:
    from paycli.reports.mail import MailError, build_message, send

    smtp = config.smtp
    assert smtp is not None
    report = run.report
    subject = str(smtp["subject"]).replace("{period}", report.period.label)
    if verificare := FAIL_ON["VERIFICARE"](report):
        subject += f" [{verificare} VERIFICARE]"
    paths = [t.path for t in run.written if t.path is not None]
    attachments = [(path.name, path.read_bytes()) for path in paths]
    # the files are in place: said with the error, as the "wrote" lines of a run that succeeds are not
    written = f"; the report is written: {', '.join(str(path) for path in paths)}"
    try:
        refused = send(smtp, build_message(smtp, subject, summary_text(report), attachments))
    except MailError as exc:
        raise MailError(f"{exc}{written}") from None
    mailed = [str(a) for a in smtp["to"] if str(a) not in refused]  # type: ignore[attr-defined]
    if refused:  # the others got it: a cron job must still hear of the one that did not
        raise MailError(
            f"cannot mail the report through {smtp['host']}:{smtp['port']}: the server refused smtp.to "
            f"{', '.join(refused)} ({next(iter(refused.values()))}): mailed to {', '.join(mailed)} only"
            f"{written}"
        )
    run.mailed_to = mailed
