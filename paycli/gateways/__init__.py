"""The providers installed on this machine, found through the ``paycli.gateways`` entry-point group.

Built-in providers are registered in paycli's own ``pyproject.toml`` the same way a third-party package
registers one, so ``paycli gateways`` lists them all alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from paycli.errors import ConfigError

if TYPE_CHECKING:
    from paycli.config import Config, Setting
    from paycli.gateways.base import Provider

GROUP = "paycli.gateways"
REQUESTS = "requests"  # the shop's own payment request files


def installed() -> dict[str, type[Provider]]:
    """Provider classes by name.

    A plugin that fails to load does not take the whole tool down with it (``paycli list`` must keep
    working): it is left out, and ``broken()`` says why, for ``paycli gateways`` and ``paycli ingest``.
    """
    found: dict[str, type[Provider]] = {}
    for ep in entry_points(group=GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:
            _broken[ep.name] = f"{ep.value} cannot be loaded: {type(exc).__name__}: {exc}"
    return found


_broken: dict[str, str] = {}


def broken() -> dict[str, str]:
    """The providers whose entry point failed to load, with the reason."""
    return dict(_broken)


def settings_specs(classes: Mapping[str, type[Provider]]) -> dict[str, Mapping[str, Setting]]:
    return {name: cls.settings for name, cls in classes.items() if name != REQUESTS}


def load(name: str) -> type[Provider]:
    """One provider's class, importing only its module; a broken one is a configuration error."""
    for ep in entry_points(group=GROUP, name=name):
        try:
            cls: type[Provider] = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"provider '{name}' ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        return cls
    raise ConfigError(f"no provider '{name}' is installed")


class LazySpecs(Mapping[str, Mapping[str, "Setting"]]):
    """The settings of every installed gateway provider, importing a provider only when its settings are
    asked for: a query command validates the configured gateways without importing every provider
    (each import costs start-up time on every command)."""

    def __init__(self) -> None:
        self._names = sorted({ep.name for ep in entry_points(group=GROUP)} - {REQUESTS})
        self._loaded: dict[str, Mapping[str, Setting]] = {}

    def __getitem__(self, name: str) -> Mapping[str, Setting]:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = load(name).settings
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def instances(config: Config, classes: Mapping[str, type[Provider]]) -> dict[str, Provider]:
    """The providers that read inputs: every configured gateway, plus each installed provider that
    works without configuration and is not configured under its own name."""
    active: dict[str, Provider] = {}
    if REQUESTS in classes:
        active[REQUESTS] = classes[REQUESTS](REQUESTS, config.requests, config)
    for name, gateway in config.gateways.items():
        active[name] = classes[gateway.provider](name, gateway.settings, config)
    configured_providers = {g.provider for g in config.gateways.values()}
    for name, cls in classes.items():
        if name in active or cls.needs_config or name in configured_providers:
            continue
        active[name] = cls(name, {k: s.default for k, s in cls.settings.items()}, config)
    return active
