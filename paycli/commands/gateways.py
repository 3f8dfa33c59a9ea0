"""``paycli gateways``: the installed providers, what they read, whether their secrets are set."""

from typing import Annotated

import typer

from paycli.commands import workspace
from paycli.commands.output import Format, emit, err, grid


def gateways(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List the providers that read inputs: configured gateways and installed providers.

    Secrets are never shown: only whether each is configured, and how many earlier ones it still
    accepts while a secret is rotated. A secret whose environment variable is unset, or whose file
    cannot be read, is listed as not set with the reason, instead of stopping the command as it stops
    the others. A gateway the store's requests name that the configuration no
    longer has (renamed, removed) is listed too, with how many requests name it. An installed plugin
    that cannot be used (it fails to import, is no provider, or takes the name of another) is listed
    as BROKEN, with why and its distribution; the others work.

    Example:

      paycli gateways
    """
    from paycli import gateways as plugins

    ws = workspace(ctx)
    classes = ws.provider_classes
    config, problems = ws.config_despite_secrets()
    active = plugins.instances(config, classes)
    rows = []
    for name, provider in active.items():
        secrets = {}
        for key, count in provider.secrets_configured().items():
            path = f"gateways.{name}.{key}"
            problem = problems.pop(path, None) or problems.pop(f"{path}_file", None)
            earlier = f", with {count - 1} earlier still accepted" if count > 1 else ""
            secrets[key] = f"set{earlier}" if count else f"not set ({problem})" if problem else "not set"
        rows.append(
            {
                "name": name,
                "provider": provider.name,
                "configured": name in config.gateways or (name == "requests" and bool(config.requests)),
                "reads": "; ".join(provider.reads),
                "secrets": secrets,
                "description": provider.description,
            }
        )
    left_out = plugins.broken()  # and those that failed to be set up, as they were just now
    for name, cls in classes.items():
        if not any(r["provider"] == name for r in rows) and name not in left_out:
            rows.append(
                {
                    "name": "-",
                    "provider": name,
                    "configured": False,
                    "reads": "; ".join(cls.reads),
                    "secrets": {},
                    "description": cls.description + " (needs a `gateways:` entry in the configuration)",
                }
            )
    for name, n in _stored_only(ws, config, set(active)).items():
        rows.append(
            {
                "name": name,
                "provider": "-",
                "configured": False,
                "reads": f"nothing: {n} stored request{'s name' if n != 1 else ' names'} it",
                "secrets": {},
                "description": f"not in the configuration, named by {n} stored request{'s' if n != 1 else ''}: "
                "a gateway renamed or removed (their responses come under another name now, or under none)",
            }
        )
    for name, why in left_out.items():
        rows.append(
            {
                "name": "-",
                "provider": name,
                "configured": False,
                "reads": "",
                "secrets": {},
                "description": f"BROKEN: {why}",
            }
        )
    emit(rows, fmt, table=_table, empty="No provider is installed.")
    for path, problem in problems.items():  # the secrets of other sections (serve.token, smtp.password)
        err(f"note: {path}: {problem}")


def _stored_only(ws, config, configured: set[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The gateways the store's requests name that are not configured, with how many requests name
    each; none where there is no store to read (this command needs none, nor every secret)."""
    from paycli.config import resolve_database_url
    from paycli.errors import PaycliError
    from paycli.store import Store

    try:
        store = Store.open(resolve_database_url(ws.db_option, config))
    except PaycliError:
        return {}
    with store:
        rows = store.query(
            "SELECT gateway, count(*) AS n FROM payment_request GROUP BY gateway ORDER BY gateway"
        )
    return {r["gateway"]: int(r["n"]) for r in rows if r["gateway"] not in configured}


def _table(rows) -> str:  # type: ignore[no-untyped-def]
    return grid(
        [
            (
                r["name"],
                r["provider"],
                "yes" if r["configured"] else "no",
                r["reads"],
                ", ".join(f"{k}: {v}" for k, v in r["secrets"].items()) or "-",
            )
            for r in rows
        ],
        ["name", "provider", "configured", "reads", "secrets"],
        widths=[None, None, None, 60, 30],
    ) + "".join(
        f"\n{r['provider']}: {r['description']}" for r in rows if r["description"].startswith("BROKEN")
    )


COMMANDS = {"gateways": gateways}
