"""``paycli resolve``: an operator's audited decision on one request."""

from typing import Annotated

import typer

from paycli.commands import By, workspace
from paycli.commands.output import err


def resolve(
    ctx: typer.Context,
    txn_id: Annotated[str, typer.Argument(help="The request's txn_id.")],
    outcome: Annotated[
        str | None, typer.Option("--as", help="POSITIVO or NEGATIVO: what the gateway's back office shows.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", "-m", help="Why: the audit record.")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Undo the resolution in force instead.")] = False,
    by: By = None,
) -> None:
    """Resolve a request by hand, after checking the gateway's back office; or undo that.

    The decision is recorded with who, when, why and the outcome before. A response that arrives
    later reopens the request (VERIFICARE, NEW_RESPONSE_AFTER_RESOLUTION).

    Examples:

      paycli resolve ORD-1001-2 --as POSITIVO --note "paid, seen in Nexi back office"

      paycli resolve ORD-1001-2 --undo --note "wrong request"
    """
    from paycli import resolutions
    from paycli.errors import UsageError

    ws = workspace(ctx)
    actor = ws.actor(by)
    with ws.open_store() as store:
        if undo:
            if outcome is not None:
                raise UsageError("--undo and --as cannot be used together")
            if note is None:
                raise UsageError("--undo needs --note: why the decision is undone (the audit record)")
            before, after = resolutions.undo(store, ws.config, txn_id, note, actor)
            err(f"{txn_id}: resolution undone by {actor}: {before} -> {after}")
            return
        if outcome is None or note is None:
            raise UsageError("resolve needs --as POSITIVO|NEGATIVO and --note (or --undo)")
        before, after = resolutions.resolve(store, ws.config, txn_id, outcome, note, actor)
    err(f"{txn_id}: resolved by {actor}: {before} -> {after}")


COMMANDS = {"resolve": resolve}
