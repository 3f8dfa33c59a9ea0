"""``paycli db``: the store's schema version, and its upgrade."""

import typer

from paycli.commands import workspace
from paycli.commands.output import err


def upgrade(ctx: typer.Context) -> None:
    """Upgrade the store's schema to this paycli's version (back it up first).

    A new store is created at the newest schema by any command; an existing one is upgraded only by
    this command, so that cron never migrates a production store by surprise.

    Example:

      paycli db upgrade
    """
    from paycli.migrations import HEAD
    from paycli.store import Store, describe

    ws = workspace(ctx)
    with Store.connect(ws.database_url) as store:
        before = store.schema_version()
    with ws.open_store(upgrade=True):
        pass
    if before == HEAD:
        err(f"{describe(ws.database_url)} is already at schema {HEAD}")
    else:
        err(f"{describe(ws.database_url)} upgraded from schema {before or 'none'} to {HEAD}")


def status(ctx: typer.Context) -> None:
    """Print the store's URL (without password), its schema version and this paycli's.

    Example:

      paycli db status
    """
    from paycli.migrations import HEAD
    from paycli.store import Store, describe

    ws = workspace(ctx)
    with Store.connect(ws.database_url) as store:
        version = store.schema_version()
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
