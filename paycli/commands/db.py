"""``paycli db``: the store's schema version, and its upgrade."""

import typer

from paycli.commands import workspace
from paycli.commands.output import err


def upgrade(ctx: typer.Context) -> None:
    """Upgrade the store's schema to this paycli's version (back it up first).

    A new store is created at the newest schema by any command; an existing one is upgraded only by
    this command, so that cron never migrates a production store by surprise. The requests whose
    responses a migration merged are then recomputed, and said.

    Example:

      paycli db upgrade
    """
    from paycli import recompute
    from paycli.migrations import HEAD
    from paycli.store import Store, describe

    ws = workspace(ctx)
    with Store.connect(ws.database_url) as store:
        before = store.schema_version()
    stale: list[int] = []
    with ws.open_store(upgrade=True) as store:
        if before is not None and before != HEAD:
            # a migration that merges responses (0003) leaves their requests' outcomes to recompute
            stale = [
                r["id"]
                for r in store.query(
                    "SELECT id FROM payment_request r WHERE response_count <> "
                    "(SELECT COUNT(*) FROM response s WHERE s.request_id = r.id)"
                )
            ]
        if stale:
            with store.transaction():
                changes = recompute.refresh(store, stale, ws.config)
    if before == HEAD:
        err(f"{describe(ws.database_url)} is already at schema {HEAD}")
    else:
        err(f"{describe(ws.database_url)} upgraded from schema {before or 'none'} to {HEAD}")
    if stale:
        err(
            f"{len(stale)} request(s) recomputed after their responses were merged: {len(changes)} changed outcome"
        )


def status(ctx: typer.Context) -> None:
    """Print the store's URL (without password), its schema version and this paycli's.

    Example:

      paycli db status
    """
    from paycli.migrations import HEAD
    from paycli.store import describe, peek_schema

    ws = workspace(ctx)
    exists, version = peek_schema(ws.database_url)
    if not exists:
        state = "new (no file yet: created on first use)"
    else:
        state = (
            "new (created on first use)"
            if version is None
            else "current"
            if version == HEAD
            else "needs 'paycli db upgrade'"
            if version < HEAD
            else "newer than this paycli"
        )
    typer.echo(f"store:   {describe(ws.database_url)}\nschema:  {version or '-'} ({state})\npaycli:  {HEAD}")


COMMANDS = {"upgrade": upgrade, "status": status}
