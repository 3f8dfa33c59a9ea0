"""Third-party providers for the tests: a distribution of their own, found by ``importlib.metadata``
as pip would leave it (a ``.dist-info`` folder beside the modules, on ``sys.path``)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from paycli import gateways


class Plugins:
    """Installs fake distributions into one folder put first on ``sys.path``."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.modules: list[str] = []
        folder.mkdir()
        monkeypatch.syspath_prepend(str(folder))

    def install(self, dist: str, entry_points: Mapping[str, str], modules: Mapping[str, str]) -> None:
        """A distribution ``dist`` holding ``modules`` (name: source) and registering ``entry_points``
        (provider name: ``module:attribute``) in the ``paycli.gateways`` group."""
        # named as pip names it: importlib.metadata takes the name before the first "-" for the
        # distribution's (paycli-odd-1.0.dist-info would hide paycli itself)
        info = self.folder / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{gateways.GROUP}]\n{lines}")
        for name, source in modules.items():
            (self.folder / f"{name}.py").write_text(textwrap.dedent(source))
            self.modules.append(name)

    def forget(self) -> None:
        for name in self.modules:
            sys.modules.pop(name, None)


@pytest.fixture(name="plugins")
def plugins_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugins]:
    installed = Plugins(tmp_path / "site", monkeypatch)
    yield installed
    installed.forget()


def readme_example() -> tuple[str, str, str]:
    """The provider README's "Writing a provider" shows: its module's source, its entry point's line
    (``name = "module:Class"``) and the configuration it gives."""
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### Writing a provider\n", 1)[1].split("\n### ", 1)[0]
    blocks = dict(re.findall(r"```(python|toml|yaml)\n(.*?)```", section, re.DOTALL))
    return blocks["python"], blocks["toml"].splitlines()[1], blocks["yaml"]
