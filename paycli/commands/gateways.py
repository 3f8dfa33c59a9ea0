"""``paycli gateways``: the installed providers, what they read, whether their secrets are set."""

from typing import Annotated

import typer

from paycli.commands import workspace
from paycli.commands.output import Format, emit, grid


def gateways(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List the providers that read inputs: configured gateways and installed providers.

    Secrets are never shown: only whether each is configured.

    Example:

      paycli gateways
    """
    ws = workspace(ctx)
    classes = ws.provider_classes
    active = ws.providers()
    rows = []
    for name, provider in active.items():
        secrets = provider.secrets_configured()
        rows.append(
            {
                "name": name,
                "provider": provider.name,
                "configured": name in ws.config.gateways or (name == "requests" and bool(ws.config.requests)),
                "reads": "; ".join(provider.reads),
                "secrets": {k: "set" if v else "not set" for k, v in secrets.items()},
                "description": provider.description,
            }
        )
    for name, cls in classes.items():
        if not any(r["provider"] == name for r in rows):
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
    from paycli.gateways import broken

    for name, why in broken().items():
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
