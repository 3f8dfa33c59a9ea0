"""``paycli list``: payment requests, filtered, in a table, CSV, JSON or NDJSON."""

from datetime import tzinfo
from typing import Annotated

import typer

from paycli.commands import check_gateways, workspace
from paycli.commands.output import Columns, Format, emit, shorten
from paycli.rows import Reread

OUTCOMES = ("POSITIVO", "NEGATIVO", "VERIFICARE")


def list_requests(
    ctx: typer.Context,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", "-o", help="POSITIVO, NEGATIVO or VERIFICARE; repeat for several."),
    ] = None,
    reason: Annotated[
        list[str] | None, typer.Option("--reason", "-r", help="A reason code, e.g. NO_RESPONSE; repeatable.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Created on or after: YYYY-MM-DD, an ISO date-time, today, yesterday, Nd."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Created on or before (that whole local day, for a date).")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Created at least this long ago: 90s, 10m, 2h, 3d, 1w.")
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="Part of the customer's name or e-mail, any case.")
    ] = None,
    gateway: Annotated[
        list[str] | None, typer.Option("--gateway", "-g", help="Gateway name; repeatable.")
    ] = None,
    order: Annotated[str | None, typer.Option(help="Only the requests of this order.")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="order, deposit or other; repeatable.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many, newest first.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List payment requests, newest first, with their outcome.

    Examples:

      paycli list --outcome VERIFICARE --older-than 10m

      paycli list --customer rossi --since 7d --format csv

      paycli list --reason MULTIPLE_RESPONSES --since 2026-11-01 --until 2026-11-30
    """
    from datetime import UTC, datetime

    from paycli.dates import parse_duration, since_bound, until_bound
    from paycli.errors import UsageError
    from paycli.queries import REQUEST_FIELDS, Filters
    from paycli.queries import list_requests as query

    ws = workspace(ctx)
    tz = ws.config.timezone
    now = datetime.now(UTC)
    from paycli.gateways.requests import KINDS
    from paycli.outcome import Reason

    # a typo would match nothing, and an empty list reads as all is well
    for option, values, allowed, norm in (
        ("--outcome", outcome, OUTCOMES, str.upper),
        ("--reason", reason, tuple(Reason), str.upper),
        ("--kind", kind, KINDS, str.lower),
    ):
        for value in values or ():
            if norm(value) not in allowed:
                raise UsageError(f"{option}: '{value}' is not one of {', '.join(allowed)}")
    created_before = None
    if older_than:
        try:
            created_before = now - parse_duration(older_than)
        except OverflowError:  # before year 1
            raise UsageError(f"--older-than: '{older_than}' is too long a duration") from None
    first = since_bound(since, tz, now) if since else None
    end = until_bound(until, tz, now) if until else None
    if first is not None and end is not None and end <= first:
        raise UsageError(f"--until {until} is before --since {since}: no request could match")
    filters = Filters(
        outcomes=outcome or (),
        reasons=reason or (),
        since=first,
        until=end,
        created_before=created_before,
        customer=customer,
        gateways=gateway or (),
        order_id=order,
        kinds=kind or (),
        limit=limit,
    )
    # one moment of the store: a long table reads its rows twice, for its columns' widths and its lines
    with ws.open_store() as store, store.snapshot():
        check_gateways(ws, store, gateway or ())
        # written as they are read: a list of the whole store goes out in bounded memory
        emit(
            Reread(lambda: query(store, filters, tz)),
            fmt,
            table=_table(tz),
            empty="No payment request matches.",
            fields=REQUEST_FIELDS,
        )


def _table(tz: tzinfo) -> Columns:
    from paycli.dates import format_local_short

    return Columns(
        cells=lambda r: (
            r["txn_id"],
            r["order_id"],
            format_local_short(r["created_at"], tz),
            shorten(r["customer"], 28),
            r["amount"],
            r["currency"],
            r["gateway"],
            r["outcome"],
            r["reason"],
            shorten(r["detail"], 40),
            r["responses"],
        ),
        headers=(
            "txn_id",
            "order",
            "created",
            "customer",
            "amount",
            "cur",
            "gateway",
            "outcome",
            "reason",
            "detail",
            "resp",
        ),
    )


COMMANDS = {"list": list_requests}
