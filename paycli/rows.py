"""Rows that can be read more than once, a query run again each time: a table aligned over rows it
does not hold reads them twice (``paycli.commands.output.write_table``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Reread:
    """Rows that can be read again: each iteration calls ``read`` for a new iterator of the same rows.
    ``read`` must give the same rows each time: queries run inside one ``Store.snapshot``."""

    def __init__(self, read: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._read = read

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._read())
