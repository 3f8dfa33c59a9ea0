"""``paycli messages``: the stored messages no request shows: quarantined, orphans, unlinked."""

from datetime import tzinfo
from typing import Annotated

import typer

from paycli.commands import workspace
from paycli.commands.output import Format, emit, grid, shorten


def messages(
    ctx: typer.Context,
    state: Annotated[
        str,
        typer.Option(
            "--state",
            "-s",
            help="quarantined (default), orphan (names a request not in the store yet), unlinked (names no "
            "request), informational, response, settlement, request.",
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

    A quarantined record waits for a configuration fix and `paycli reprocess`; an orphan waits for
    its request; an unlinked message names no request at all.

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
    with ws.open_store() as store:
        rows = list_messages(
            store,
            tz,
            state=state,
            providers=gateway or (),
            since=since_bound(since, tz, datetime.now(UTC)) if since else None,
            limit=limit,
        )
    emit(rows, fmt, table=lambda rows: _table(rows, tz), empty=f"No {state} message.", fields=MESSAGE_FIELDS)


def _table(rows, tz: tzinfo) -> str:  # type: ignore[no-untyped-def]
    from paycli.dates import format_local_short

    return grid(
        [
            (
                format_local_short(r["received_at"], tz),
                r["provider"],
                r["state"],
                shorten(r["source"], 40),
                r["reference"],
                shorten(r["reason"], 70),
            )
            for r in rows
        ],
        ["received", "provider", "state", "source", "reference", "reason / note"],
    )


COMMANDS = {"messages": messages}
