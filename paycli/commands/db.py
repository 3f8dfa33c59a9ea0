"""``paycli db``: the store's schema version, and its upgrade."""

import typer

from paycli.commands import workspace
from paycli.commands.output import err, visible

# the first schema whose settlement lines keep what the customer was charged (a Stripe balance line)
CHARGED_SINCE = "0004"
# the first schema of the paycli that looks across requests for one gateway transaction answering two
SHARED_SINCE = "0006"
# the first schema that tells a reference a gateway only suggests (a Stripe Session's client_reference_id)
GUESSED_SINCE = "0007"
# the first schema whose informational messages keep the gateway transaction they name (Stripe's)
MESSAGE_TXN_SINCE = "0008"
# the first schema sure to keep their own time: 0008 as it first shipped did not (0011 repairs it)
MESSAGE_TIME_SINCE = "0011"


def upgrade(ctx: typer.Context) -> None:
    """Upgrade the store's schema to this paycli's version (back it up first); create it where there is none.

    A new store is created at the newest schema by this command, ingest or serve (the other commands
    refuse a store that is not there); an existing one is upgraded only by this command, so that cron
    never migrates a production store by surprise. The requests whose
    responses a migration merged, and those a newer rule judges otherwise (a gateway transaction that
    also answers another reference), are then recomputed, and said.

    Example:

      paycli db upgrade
    """
    from paycli import recompute
    from paycli.ingest import fill_charged
    from paycli.migrations import HEAD
    from paycli.store import Store, describe, peek_schema

    ws = workspace(ctx)
    before = peek_schema(ws.database_url)[1]
    timeless = False
    if before is not None and MESSAGE_TXN_SINCE <= before < MESSAGE_TIME_SINCE:
        with Store.connect(ws.database_url) as store:
            timeless = "occurred_at" not in store.column_names("message")
    stale: list[int] = []
    shared: list[int] = []
    charged = 0
    with ws.open_store(upgrade=True, create=True) as store:
        # the schema upgraded from, kept until the recompute below is committed: also that of a run
        # stopped after its migrations, which this one finishes
        since = store.unfinished_upgrade()
        if since is not None:
            # a migration that merges responses (0003) leaves their requests' outcomes to recompute
            stale = [
                r["id"]
                for r in store.query(
                    "SELECT id FROM payment_request r WHERE response_count <> "
                    "(SELECT COUNT(*) FROM response s WHERE s.request_id = r.id)"
                )
            ]
        unheld = 0
        if since is not None and since < SHARED_SINCE:
            # an older paycli kept one line per PayPal Transaction ID: a conversion's second line was
            # taken for a repeat, kept only as its message
            unheld = store.query(
                "SELECT COUNT(*) AS n FROM message m WHERE state = 'settlement' "
                "AND NOT EXISTS (SELECT 1 FROM settlement s WHERE s.message_id = m.id)"
            )[0]["n"]
        sessions: list[str] = []
        if since is not None and since < GUESSED_SINCE:
            # a paycli before 0006 judged each request alone: one transaction answering two stayed
            # POSITIVO; one of 0006 counted a refusal too (a retry read as SHARED_TRANSACTION)
            flagged = store.query("SELECT id FROM payment_request WHERE reason = 'SHARED_TRANSACTION'")
            candidates = recompute.shared_requests(store) | {r["id"] for r in flagged}
            shared = sorted(candidates.difference(stale))
            # Stripe Sessions stored before their client_reference_id was told a guess
            sessions = [
                r["provider"]
                for r in store.query(
                    "SELECT DISTINCT provider FROM response WHERE raw_status LIKE 'checkout.session.%' "
                    "ORDER BY provider"
                )
            ]
        unlinked: list[str] = []
        if since is not None and (since < MESSAGE_TXN_SINCE or timeless):
            # a refund that failed, a dispute won: named by the payment only, out of their request's trail;
            # and those in a trail are placed at the time they were received, not at the gateway's own
            unlinked = [
                r["provider"]
                for r in store.query(
                    "SELECT DISTINCT provider FROM message WHERE state = 'informational' ORDER BY provider"
                )
            ]
        if since is not None:
            with store.transaction():
                store.lock_writers()  # what it reads is what it writes back, as recompute's
                changes = recompute.refresh(store, stale, ws.config) if stale else []
                shared_changes = recompute.refresh(store, shared, ws.config) if shared else []
                charged = fill_charged(store, ws.providers()) if since < CHARGED_SINCE else 0
                store.finish_upgrade()
    if since is not None:
        finished = " (the run before stopped after its migrations)" if before == HEAD else ""
        err(f"{describe(ws.database_url)} upgraded from schema {since} to {HEAD}{finished}")
    elif before == HEAD:
        err(f"{describe(ws.database_url)} is already at schema {HEAD}")
    else:
        err(f"{describe(ws.database_url)} upgraded from schema {before or 'none'} to {HEAD}")
    if stale:
        err(
            f"{len(stale)} request(s) recomputed after their responses were merged: {len(changes)} changed outcome"
        )
    if charged:
        err(
            f"{charged} settlement line(s) stored before schema {CHARGED_SINCE} now say what the customer was "
            "charged (a Stripe balance report's customer_facing_amount), which reports compare with the request"
        )
    if unheld:
        err(
            f"{unheld} settlement line(s) an older paycli took for repeats are not counted: "
            "run 'paycli reprocess --all' to read them again"
        )
    for gateway in sessions:
        err(
            f"{gateway}: Checkout Session events stored before schema {GUESSED_SINCE} may name the shop's "
            f"order or customer instead of the request: run 'paycli reprocess --all --gateway {gateway}'"
        )
    for gateway in unlinked:
        err(
            f"{gateway}: informational messages stored before schema {MESSAGE_TXN_SINCE} (or by its first version) "
            "that name their payment "
            "only by the gateway's id (a refund that failed, a dispute won) are not in its request's trail, and "
            "the others are placed at the time they were received rather than the gateway's own: "
            f"run 'paycli reprocess --all --gateway {gateway}'"
        )
    if shared:
        err(
            f"{len(shared)} request(s) recomputed for a gateway transaction that also answers another "
            f"reference (SHARED_TRANSACTION, judged since schema {SHARED_SINCE}, as now since {GUESSED_SINCE}): "
            f"{len(shared_changes)} changed outcome"
        )


def status(ctx: typer.Context) -> None:
    """Print the store's URL (without password), its schema version and this paycli's.

    Where there is no store (no file, an empty database), says so in one line and exits 2, as every
    command but ingest, serve and db upgrade does.

    Example:

      paycli db status
    """
    from paycli.migrations import HEAD
    from paycli.store import Store, describe, no_store, peek_schema

    ws = workspace(ctx)
    version = peek_schema(ws.database_url)[1]
    if version is None:
        raise no_store(ws.database_url)
    since = None
    if version == HEAD:
        with Store.connect(ws.database_url) as store:
            since = store.unfinished_upgrade()
    state = (
        f"upgrade from {since} unfinished: needs 'paycli db upgrade'"
        if since is not None
        else "current"
        if version == HEAD
        else "needs 'paycli db upgrade'"
        if version < HEAD
        else "newer than this paycli"
    )
    # the URL (a file name, a PAYCLI_DB) and the version read from the store are text from outside
    store_line, schema_line = visible(describe(ws.database_url)), visible(version or "-")
    typer.echo(f"store:   {store_line}\nschema:  {schema_line} ({state})\npaycli:  {HEAD}")


COMMANDS = {"upgrade": upgrade, "status": status}
