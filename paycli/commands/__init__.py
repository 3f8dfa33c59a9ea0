"""The command line's commands: thin wrappers that parse options, call the core, format output.

Each module exposes ``COMMANDS``, a mapping of command name to function, registered by
``paycli/cli.py``. Modules import the core inside the functions, so that ``--help`` stays fast.
"""

from typing import Annotated

import typer

from paycli.workspace import Workspace

# who takes an audited decision (resolve, dismiss)
By = Annotated[
    str | None,
    typer.Option("--by", help="Who decides (default: the configured operator, else the login name)."),
]


def workspace(ctx: typer.Context) -> Workspace:
    obj = ctx.find_root().obj
    assert isinstance(obj, Workspace)
    return obj
