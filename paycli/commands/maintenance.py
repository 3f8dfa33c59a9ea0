"""Maintenance: ``paycli recompute`` and ``paycli reprocess``."""

from typing import Annotated

import typer

from paycli.commands import workspace
from paycli.commands.output import err
from paycli.errors import UsageError


def recompute(ctx: typer.Context) -> None:
    """Recompute the outcome of every request (after a policy change) and say what changed.

    Example:

      paycli recompute
    """
    from paycli.recompute import refresh_all

    ws = workspace(ctx)
    with ws.open_store() as store:
        seen, transitions = refresh_all(store, ws.config)
    changed = sum(transitions.values())
    err(
        f"recomputed {seen} request{'s' if seen != 1 else ''} with policy {ws.config.policy}: {changed} changed"
    )
    for (before, after), n in sorted(transitions.items(), key=lambda kv: (-kv[1], kv[0])):
        typer.echo(f"{n:>8}  {before} -> {after}")


def reprocess(
    ctx: typer.Context,
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway", "-g", help="Only the quarantined messages of this gateway (a name under gateways:)."
        ),
    ] = None,
) -> None:
    """Interpret quarantined messages again, after a configuration fix.

    A message that now reads well becomes a response (or a request); one that still does not stays
    quarantined with its reason. Exit code 1 when some remain quarantined.

    Example:

      paycli reprocess --gateway mybank
    """
    from paycli.ingest import Ingest

    ws = workspace(ctx)
    providers = ws.providers()
    if gateway is not None and gateway not in providers:
        raise UsageError(f"--gateway: no gateway '{gateway}' (available: {', '.join(providers)})")
    with ws.open_store() as store:
        run = Ingest(store, ws.config, providers, say=err)
        tallies = run.reprocess(gateway)
    total = sum(t.records for t in tallies.values())
    left = sum(t.quarantined for t in tallies.values())
    err(
        f"reprocessed {total} quarantined message{'s' if total != 1 else ''}: {total - left} now read, {left} still quarantined"
    )
    if left:
        raise typer.Exit(1)


COMMANDS = {"recompute": recompute, "reprocess": reprocess}
