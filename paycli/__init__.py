"""paycli: know, for every electronic payment a shop started, whether the money really arrived.

The package is a library first: the store, the outcome rule, the providers and ingest are plain
Python with no command-line code in them. ``paycli.commands`` is a thin Typer layer on top.
"""

__version__ = "0.1.0"
