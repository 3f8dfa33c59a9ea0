"""``paycli order``: every request of one order, and the order verdict."""

from datetime import tzinfo
from typing import Annotated, Any

import typer

from paycli.commands import workspace
from paycli.commands.output import Columns, Format, emit_one, write_table


def order(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The shop's order id.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Show every payment request of one order, and whether the order is paid.

    The verdict: PAID (exactly one request POSITIVO), UNPAID (none POSITIVO and none VERIFICARE),
    PAID_TWICE (a retry charged the customer again), TO_VERIFY (otherwise). Exit code 3 when the
    store has no request for the order.

    Example:

      paycli order ORD-1001
    """
    from paycli.queries import show_order

    ws = workspace(ctx)
    # the order's requests and verdict of one moment, its requests written as they are read
    with ws.open_store() as store, store.snapshot():
        result = show_order(store, order_id, ws.config.timezone)
        if fmt is Format.csv or fmt is Format.ndjson:
            from paycli.commands.output import emit
            from paycli.rows import Reread

            requests, verdict = result["requests"], result["verdict"]
            emit(
                Reread(lambda: ({**r, "verdict": verdict} for r in requests)),
                fmt,
                table=lambda rows: "",
                empty="",
            )
            return
        emit_one(result, fmt, text=lambda r: _write(r, ws.config.timezone))


def _write(r: dict[str, Any], tz: tzinfo) -> None:
    from paycli.dates import format_local_short

    typer.echo(f"Order {r['order_id']}: {r['verdict']}\n")
    columns = Columns(
        cells=lambda q: (
            q["txn_id"],
            format_local_short(q["created_at"], tz),
            q["kind"],
            f"{q['amount']} {q['currency']}",
            q["gateway"],
            q["outcome"],
            q["reason"],
            q["detail"],
            q["responses"],
            q["last_status"],
        ),
        headers=(
            "txn_id",
            "created",
            "kind",
            "amount",
            "gateway",
            "outcome",
            "reason",
            "detail",
            "resp",
            "last status",
        ),
    )
    write_table(r["requests"], columns, None)


COMMANDS = {"order": order}
