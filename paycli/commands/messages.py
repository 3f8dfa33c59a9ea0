"""``paycli messages``: the stored messages no request shows: quarantined, orphans, unlinked."""

from datetime import tzinfo
from typing import Annotated

import typer

from paycli.commands import By, check_gateways, workspace
from paycli.commands.output import Columns, Format, emit, err, shorten
from paycli.rows import Reread


def messages(
    ctx: typer.Context,
    state: Annotated[
        str,
        typer.Option(
            "--state",
            "-s",
            help="quarantined (default), orphan (names a request not in the store yet), unlinked (names no "
            "request), dismissed (set aside with paycli dismiss), informational, response, settlement, request.",
        ),
    ] = "quarantined",
    gateway: Annotated[
        list[str] | None,
        typer.Option(
            "--gateway", "-g", help="The gateway that sent it (its name under gateways:); repeatable."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Received on or after: YYYY-MM-DD, an ISO date-time, today, yesterday, Nd."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many, newest first.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List stored messages by state, newest first, with where they came from and why.

    A quarantined record waits for a configuration fix and `paycli reprocess`, or for `paycli dismiss`
    with its id; an orphan waits for its request; an unlinked message names no request at all.

    Examples:

      paycli messages

      paycli messages --state orphan --since 7d

      paycli messages --state unlinked --gateway axerve --format json
    """
    from datetime import UTC, datetime

    from paycli.dates import since_bound
    from paycli.errors import UsageError
    from paycli.queries import MESSAGE_FIELDS, MESSAGE_STATES, list_messages

    if state not in MESSAGE_STATES:
        raise UsageError(f"--state: '{state}' is not one of {', '.join(MESSAGE_STATES)}")
    ws = workspace(ctx)
    tz = ws.config.timezone
    # written as they are read, in one moment of the store (a long table reads them twice, as list's)
    with ws.open_store() as store, store.snapshot():
        check_gateways(ws, store, gateway or (), kept_in="message")
        first = since_bound(since, tz, datetime.now(UTC)) if since else None
        emit(
            Reread(
                lambda: list_messages(
                    store, tz, state=state, providers=gateway or (), since=first, limit=limit
                )
            ),
            fmt,
            table=_table(tz),
            empty=f"No {state} message.",
            fields=MESSAGE_FIELDS,
        )


def _table(tz: tzinfo) -> Columns:
    from paycli.dates import format_local_short

    return Columns(
        cells=lambda r: (
            r["id"],
            format_local_short(r["received_at"], tz),
            r["provider"],
            r["state"],
            shorten(r["source"], 40),
            r["reference"],
            shorten(r["reason"], 70),
        ),
        headers=("id", "received", "provider", "state", "source", "reference", "reason / note"),
    )


def dismiss(
    ctx: typer.Context,
    ids: Annotated[list[int], typer.Argument(help="The messages' ids, as paycli messages lists them.")],
    note: Annotated[str | None, typer.Option("--note", "-m", help="Why: the audit record.")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Put dismissed messages back in quarantine.")] = False,
    by: By = None,
) -> None:
    """Set quarantined messages aside after a look; or put them back.

    For a record whose corrected copy is stored since (a request line fixed and ingested again, a
    Stripe event ingested later with its signature header), or one that will never read well. The
    message is kept whole, with its reason and a note of who, when and why; `paycli messages` and
    `paycli reprocess` leave it out; `paycli messages --state dismissed` lists it.

    Examples:

      paycli dismiss 4182 --note "line fixed, requests-2026-11-26.csv ingested again"

      paycli dismiss 4182 --undo --note "dismissed by mistake"
    """
    from paycli import resolutions
    from paycli.errors import UsageError

    if note is None:
        raise UsageError("dismiss needs --note: why (the audit record)")
    ws = workspace(ctx)
    actor = ws.actor(by)
    with ws.open_store() as store:
        n = resolutions.dismiss(store, ids, note, actor, undo=undo)
    err(f"{n} message{'s' if n != 1 else ''} {'put back in quarantine' if undo else 'dismissed'} by {actor}")


COMMANDS = {"messages": messages, "dismiss": dismiss}
