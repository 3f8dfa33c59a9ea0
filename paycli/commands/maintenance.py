"""Maintenance: ``paycli recompute`` and ``paycli reprocess``."""

from typing import Annotated

import typer

from paycli.commands import workspace
from paycli.commands.output import err
from paycli.errors import UsageError


def recompute(ctx: typer.Context) -> None:
    """Recompute the outcome of every request (after a policy change) and say what changed.

    Every other command says, until it is run, when the stored outcomes follow another rule (policy,
    a gateway's require_verified or txn_ids_unique) than the configuration's.

    Example:

      paycli recompute
    """
    from paycli.recompute import refresh_all

    ws = workspace(ctx)
    with ws.open_store(rule=False) as store:  # it makes the configuration's rule the store's
        done = refresh_all(store, ws.config)
    changed = sum(done.transitions.values())
    corrected = f", {done.corrected} corrected (response count or detail)" if done.corrected else ""
    err(
        f"recomputed {done.seen} request{'s' if done.seen != 1 else ''} with policy {ws.config.policy}: "
        f"{changed} changed{corrected}"
    )
    for (before, after), n in sorted(done.transitions.items(), key=lambda kv: (-kv[1], kv[0])):
        typer.echo(f"{n:>8}  {before} -> {after}")


def reprocess(
    ctx: typer.Context,
    gateway: Annotated[
        str | None,
        typer.Option("--gateway", "-g", help="Only the messages of this gateway (a name under gateways:)."),
    ] = None,
    everything: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also the messages already read (responses, informational, settlement lines no stored line "
            "holds): after a fix of a secret, a status word or a reference setting, or an upgrade.",
        ),
    ] = False,
) -> None:
    """Interpret quarantined messages again, after a configuration fix.

    A message that now reads well becomes a response (or a request); one that still does not stays
    quarantined with its reason. With --all, the messages already read are read again too: one that
    reads as before changes nothing (a copy now verified makes its response valid, a response now told
    of another gateway transaction moves to it, one whose gateway wording now reads fuller is
    reworded, one stored before schema 0007 whose messages do not carry its reference, such as a
    Stripe Session's client_reference_id, is marked a guess and takes its transaction's reference);
    one that reads otherwise (a wrong mac_key fixed: no longer a forgery) replaces its old response,
    as new from now on. A message that failed its authenticity check and cannot be checked now (its
    secret left out) stays failed, never unverifiable; one verified before that fails now (a changed
    secret: list the earlier one after the new, and what it signed stays verified) is read as failed,
    and said; one that cannot be read now (a gateway re-pointed to another
    provider) is quarantined, what it said withdrawn, and said. Exit code 1 when some remain
    quarantined.

    Examples:

      paycli reprocess --gateway mybank

      paycli reprocess --all --gateway nexi    # after fixing nexi's mac_key
    """
    from paycli.ingest import Ingest

    ws = workspace(ctx)
    providers = ws.providers()
    if gateway is not None and gateway not in providers:
        raise UsageError(f"--gateway: no gateway '{gateway}' (available: {', '.join(providers)})")
    with ws.open_store() as store:
        run = Ingest(store, ws.config, providers, say=err)
        tallies = run.reprocess(gateway, read=everything)
    total = sum(t.records for t in tallies.values())
    left = sum(t.quarantined for t in tallies.values())
    # dismissed, or read by another reprocess, between the listing and the reading: done, not undone
    taken = f"; {run.report.elsewhere} already handled by another command" if run.report.elsewhere else ""
    if everything:
        same = run.report.unchanged
        err(
            f"read {total + same} message{'s' if total + same != 1 else ''} again: {same} as before"
            + (f" ({run.report.verified} now verified)" if run.report.verified else "")
            + (f" ({run.report.retied} tied to another gateway transaction)" if run.report.retied else "")
            + (f" ({run.report.reworded} reworded)" if run.report.reworded else "")
            + (
                f" ({run.report.renamed} with a guessed reference given their transaction's)"
                if run.report.renamed
                else ""
            )
            + f", {total - left} otherwise, {left} quarantined{taken}"
        )
        if run.report.unchecked:
            err(
                f"{_messages(run.report.unchecked)} that failed the authenticity check cannot be checked now "
                "(its gateway's secret, or PayPal's receiver_email, left out?): kept as failed, never taken as "
                "unverifiable; configure it and reprocess --all to check them again"
            )
        if run.report.unread:
            err(
                f"{_messages(run.report.unread)} read before cannot be read now: quarantined, and what they "
                "said withdrawn from their requests (`paycli messages` lists them). Did a gateway's provider or "
                "settings change? Put the configuration back, and `paycli reprocess` reads them again"
            )
        if run.report.failing:
            err(
                f"{_messages(run.report.failing)} verified before now "
                + ("fails" if run.report.failing == 1 else "fail")
                + " the authenticity check: their requests are VERIFICARE (BAD_SIGNATURE). Did a secret change? "
                "A message signed with the earlier secret "
                "fails the new one: list the earlier one after it (the key takes a list: the current secret, "
                "then earlier ones) and reprocess --all to read them as before"
            )
    else:
        err(
            f"reprocessed {total} quarantined message{'s' if total != 1 else ''}: {total - left} now read, {left} still quarantined{taken}"
        )
    if left:
        raise typer.Exit(1)


def _messages(n: int) -> str:
    return f"{n} message" if n == 1 else f"{n} messages"


COMMANDS = {"recompute": recompute, "reprocess": reprocess}
