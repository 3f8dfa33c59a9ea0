"""``paycli show``: one request, its outcome and reason, its trail and its resolutions."""

from typing import Annotated, Any

import typer

from paycli.commands import workspace
from paycli.commands.output import Columns, Format, emit_one, grid, write_table


def show(
    ctx: typer.Context,
    txn_id: Annotated[str, typer.Argument(help="The request's txn_id (the merchant reference).")],
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="Also print the stored messages, as stored (a control character escaped)."
        ),
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Show one payment request: the request with its outcome, then its trail in time order.

    Like the two panels of the original screen: above, the request; below, every response the
    gateway sent, with its status, amount, authenticity and how many times it was delivered. A
    message that came to `paycli serve` also lists each HTTP delivery: when, from which address,
    what paycli answered and, for PayPal, the postback's answer.
    Exit code 3 when the txn_id is not in the store.

    Examples:

      paycli show ORD-1001-2

      paycli show ORD-1001-2 --raw

      paycli show ORD-1001-2 --format json
    """
    from paycli.queries import show_request

    ws = workspace(ctx)
    with ws.open_store() as store, store.snapshot():  # the request and its trail of one moment
        result = show_request(store, txn_id, ws.config.timezone, raw=raw, config=ws.config)
        # its deliveries are read as they are written, in the same moment
        emit_one(result, fmt, text=_write, verbatim=("body", "headers"))


def _write(r: dict[str, Any]) -> None:
    """The request and its trail; its HTTP deliveries, which may be many, a row at a time."""
    typer.echo(_text(r))
    write_table(
        r["deliveries"],
        Columns(
            cells=lambda d: (
                d["at"][:19].replace("T", " "),
                f"{d['method']} {d['path']}",
                d["remote_addr"] or "-",
                d["status"],
                d["result"] + (" (again)" if d["duplicate"] else ""),
                d["postback"],
            ),
            headers=("when", "request", "from", "answered", "carried", "PayPal postback"),
        ),
        None,
        heading=lambda count: f"\nReceived over HTTP (paycli serve): {count}",
    )
    if after := _after_deliveries(r):
        typer.echo(after)


def _text(r: dict[str, Any]) -> str:
    lines = [
        f"Payment request {r['txn_id']}",
        f"  order       {r['order_id'] or '-'} ({r['kind']})",
        f"  created     {r['created_at']}",
        f"  customer    {r['customer']}" + (f" <{r['email']}>" if r["email"] else ""),
        f"  amount      {r['amount']} {r['currency']} via {r['gateway']}",
        f"  outcome     {r['outcome']}"
        + (f"  {r['reason']}" if r["reason"] else "")
        + (f" ({r['detail']})" if r["detail"] else ""),
        f"  registered  {r['registered_at']} from {r['source'] or '-'}"
        + (f", updated {r['updated_at']}" if r["updated_at"] else ""),
        "",
    ]
    trail = r["trail"]
    responses = sum(1 for t in trail if t["type"] == "response")
    lines.append(
        f"Trail: {responses} response{'s' if responses != 1 else ''}, {len(trail) - responses} other message{'s' if len(trail) - responses != 1 else ''}"
    )
    if trail:
        lines.append(
            grid(
                [
                    (
                        t["at"][:19].replace("T", " "),
                        t["type"]
                        + (" (!)" if t["suspicious"] else "")
                        + (" (shared)" if t["also_answers"] else "")
                        + (" (gw)" if t["other_gateway"] else ""),
                        t["provider"],
                        t["status"],
                        t["gateway_status"],
                        f"{t['amount']} {t['currency']}" if t["amount"] is not None else "",
                        t["authenticity"],
                        t["deliveries"],
                        t["gateway_txn_id"] or t.get("note"),
                    )
                    for t in trail
                ],
                [
                    "when",
                    "type",
                    "provider",
                    "status",
                    "gateway says",
                    "amount",
                    "authenticity",
                    "delivered",
                    "gateway txn / note",
                ],
            )
        )
        if any(t["other_gateway"] for t in trail):
            lines.append(
                f"(gw) came from another gateway than {r['gateway']}, the one this request was sent to"
            )
        shared = {(t["gateway_txn_id"], ", ".join(t["also_answers"])) for t in trail if t["also_answers"]}
        lines.extend(
            f"(shared) gateway transaction {txn} also answers {others}: one payment cannot pay them all; "
            "check the gateway's back office"
            for txn, others in sorted(shared)
        )
        if any(t["suspicious"] for t in trail):
            lines.append(
                "(!) shares its gateway key with a response that says something else: check the gateway's back office"
            )
    else:
        lines.append("  no response from the gateway yet")
    return "\n".join(lines)


def _after_deliveries(r: dict[str, Any]) -> str:
    lines: list[str] = []
    if r["resolutions"]:
        lines += ["", "Resolutions"]
        for res in r["resolutions"]:
            state = (
                f", undone {res['undone_at']} by {res['undone_by']}"
                + (f": {res['undo_note']}" if res["undo_note"] else "")
                if res["undone_at"]
                else ""
            )
            lines.append(
                f"  {res['at']} {res['by']}: {res['before']} -> {res['outcome']}: {res['note']}{state}"
            )
    for t in r["trail"]:
        for m in t.get("messages", []):
            lines += ["", f"--- {m['source']} ({m['encoding']})"]
            if m["headers"]:
                lines.append(m["headers"].rstrip("\n"))
                lines.append("")
            lines.append(m["body"].rstrip("\n"))
    return "\n".join(lines)


COMMANDS = {"show": show}
