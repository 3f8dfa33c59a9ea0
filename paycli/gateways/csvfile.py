"""A provider described entirely in the configuration (work in progress)."""

from __future__ import annotations

from collections.abc import Iterator

from paycli.gateways.base import Provider, Record, Source


class CsvProvider(Provider):
    name = "csv"
    description = "any bank or gateway CSV export, described in the configuration"
    reads = ("csv export",)
    needs_config = True

    def identify(self, source: Source) -> bool:
        return False

    def extract(self, source: Source) -> Iterator[Record]:
        return iter(())
