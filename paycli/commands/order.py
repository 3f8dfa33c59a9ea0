"""``paycli order``: every request of one order, and the order verdict."""

from datetime import tzinfo
from typing import Annotated, Any

import typer

from paycli.commands import workspace
from paycli.commands.output import Format, emit_one, grid


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
    with ws.open_store() as store, store.snapshot():  # the order's requests and verdict of one moment
        result = show_order(store, order_id, ws.config.timezone)
    if fmt is Format.csv or fmt is Format.ndjson:
        from paycli.commands.output import emit

        rows = [{**r, "verdict": result["verdict"]} for r in result["requests"]]
        emit(rows, fmt, table=lambda rows: "", empty="")
        return
    emit_one(result, fmt, text=lambda r: _text(r, ws.config.timezone))


def _text(r: dict[str, Any], tz: tzinfo) -> str:
    from paycli.dates import format_local_short

    rows = [
        (
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
        )
        for q in r["requests"]
    ]
    table = grid(
        rows,
        [
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
        ],
    )
    return f"Order {r['order_id']}: {r['verdict']}\n\n{table}"


COMMANDS = {"order": order}
