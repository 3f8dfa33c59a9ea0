"""``paycli report``: the reconciliation report of a period, in HTML and CSV, made for cron."""

from typing import Annotated

import typer

from paycli import stopping
from paycli.commands import check_gateways, workspace
from paycli.commands.output import err


def report(
    ctx: typer.Context,
    date: Annotated[
        str | None, typer.Option("--date", "-d", help="One local day: YYYY-MM-DD, today, yesterday, Nd.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First local day of the period (to today by default).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Last local day of the period, included (alone: that one day, as --date)."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="yesterday (the default), today, last-7-days (before today) or a month YYYY-MM."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="html, csv or html,csv (default: report.formats, else both)."),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="A folder (files named paycli-report-PERIOD.html/.csv: 2026-11-26, 2026-11, "
            "2026-11-20_2026-11-26; one ending in / is made if missing, never the folders above it), a file "
            "(in a folder that exists), or - for stdout (default: report.out, else the current folder).",
        ),
    ] = None,
    template: Annotated[
        str | None, typer.Option("--template", help="A folder of templates overriding the built-in ones.")
    ] = None,
    gateway: Annotated[
        list[str] | None, typer.Option("--gateway", "-g", help="Only this gateway; repeatable.")
    ] = None,
    csv_dialect: Annotated[
        str | None,
        typer.Option(
            "--csv-dialect",
            help="standard (comma, decimal point) or excel-it (semicolon, decimal comma, UTF-8 BOM).",
        ),
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 when the period has any: VERIFICARE, NEGATIVO, ORPHANS, ANOMALIES, SETTLEMENT; repeatable.",
        ),
    ] = None,
    email: Annotated[
        bool | None,
        typer.Option("--email/--no-email", help="Mail the report through smtp: (default: report.email)."),
    ] = None,
    wait: Annotated[
        int | None,
        typer.Option(
            min=0, help="Seconds to wait for another report run to finish (default: report.lock_wait)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say nothing on success.")] = False,
    now: Annotated[
        str | None,
        typer.Option(hidden=True, help="Pretend it is this ISO time (tests, reproducible reports)."),
    ] = None,
) -> None:
    """Write the reconciliation report of a period: totals, what needs a look, settlement match.

    A period is whole local days of the configured time zone (right across daylight saving):
    --date, --since/--until, or --period (default: yesterday). The HTML file is self-contained
    (no script, no external asset); the CSV file has one row a line, a section column first.
    Never prompts, never colours; a lock keeps two runs of a store from overlapping. Exit codes: 0 done,
    1 done and a --fail-on condition is met, 2 usage, configuration, store (no store at the path:
    never an empty report), template, output, lock or mail error, 130 interrupted, 143 terminated
    (SIGTERM); a run stopped or failed writes none of its files, but for a mail that fails: it is
    tried once they are written, and they stay (its error names them and the smtp: setting to check).

    Examples:

      paycli report

      paycli report --date 2026-11-26 --out reports/

      paycli report --period 2026-11 --format csv --csv-dialect excel-it

      paycli report --period last-7-days -g stripe -f html --out - > week.html

      paycli report --out /srv/reports/ --fail-on VERIFICARE --email -q
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from paycli.config import expand_home
    from paycli.dates import parse_timestamp
    from paycli.errors import ConfigError, RecordError, UsageError
    from paycli.reports import make_report, resolve_period
    from paycli.reports.outputs import default_lock_file

    ws = workspace(ctx)
    config = ws.config
    settings = config.report
    tz = config.timezone
    if now:
        try:
            moment = parse_timestamp(now, tz, field="--now")
            moment.astimezone(tz)  # its local day too: 9999-12-31T23:00Z is in year 10000 in Rome
        except RecordError as exc:
            raise UsageError(str(exc)) from None
        except OverflowError:
            raise UsageError(f"--now '{now}' is out of range") from None
    else:
        moment = datetime.now(UTC)
    chosen = resolve_period(tz, moment, day=date, since=since, until=until, period=period)
    if fmt is None:
        formats = list(settings["formats"])  # type: ignore[call-overload]
    else:
        formats = []
        for item in fmt.split(","):
            name = item.strip().lower()
            if name not in ("html", "csv"):
                raise UsageError(f"--format: '{item.strip()}' is not html or csv")
            if name not in formats:
                formats.append(name)

    def configured(key: str) -> str | None:
        """A path of the report: section; a relative one is taken from the configuration file's folder
        (as *_file secrets are), so that cron, which starts in the home folder, finds it."""
        value = settings[key]
        if not value:
            return None
        path = expand_home(str(value))
        if path is None:
            raise ConfigError(f"{config.path}: report.{key}: '{value}' names the home folder of no user")
        if not path.is_absolute() and config.path is not None:
            path = config.path.parent / path
        return str(path) + ("/" if str(value).endswith("/") else "")

    for option, given in (("--out", out), ("--template", template)):
        if given and expand_home(given) is None:
            raise UsageError(f"{option}: '{given}' names the home folder of no user")
    if gateway:
        with ws.open_store() as store:
            check_gateways(ws, store, gateway)
    template_dir = template or configured("templates")
    if template is None and template_dir is not None and not Path(template_dir).is_dir():
        # the key's, not the option's: the option was not given
        raise ConfigError(
            f"{config.path}: report.templates: '{template_dir}' is not a folder (of report.html.j2 and "
            "report.csv.j2; a relative one is read from the configuration file's folder)"
        )
    lock_file = configured("lock_file")
    email_by = "--email" if email is not None else "report.email is true"
    email = bool(settings["email"]) if email is None else email
    if email:
        ws.require_secrets("smtp")
    # cron's timeout, systemd: no half a report, no renderer left running, no statement run to its end
    with stopping.noted(sigterm=True):
        run = make_report(
            ws.open_store,
            config,
            chosen,
            moment,
            formats=formats,
            out=out or configured("out") or ".",
            gateways=gateway or (),
            template_dir=ws.path(str(template_dir)) if template_dir else None,
            csv_dialect=csv_dialect or str(settings["csv_dialect"]),
            fail_on=[f.strip().upper() for f in fail_on or ()],
            email=email,
            email_by=email_by,
            lock_file=ws.path(str(lock_file)) if lock_file else default_lock_file(ws.database_url),
            lock_wait=int(settings["lock_wait"]) if wait is None else wait,  # type: ignore[call-overload]
        )
    if not quiet:
        for target in run.written:
            if target.path is not None:
                err(f"wrote {target.path}")
        if run.report.empty:
            err(f"nothing happened in {chosen.label}: the report says so")
        if run.mailed_to:
            err(f"mailed to {', '.join(run.mailed_to)}")
    if run.failing:
        what = ", ".join(f"{n} {name}" for name, n in run.failing.items())
        err(f"paycli report {chosen.label}: needs a look: {what}")
        raise typer.Exit(1)


COMMANDS = {"report": report}
