"""The providers installed on this machine, found through the ``paycli.gateways`` entry-point group.

Built-in providers are registered in paycli's own ``pyproject.toml`` the same way a third-party package
registers one, so ``paycli gateways`` lists them all alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from paycli.errors import ConfigError

if TYPE_CHECKING:
    from paycli.config import Config, Setting
    from paycli.gateways.base import Provider

GROUP = "paycli.gateways"
REQUESTS = "requests"  # the shop's own payment request files


def installed() -> dict[str, type[Provider]]:
    """Provider classes by name. A plugin that fails to load is an error naming it, not a silent gap."""
    found: dict[str, type[Provider]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:
            raise ConfigError(f"provider '{ep.name}' ({ep.value}) cannot be loaded: {exc}") from exc
        found[ep.name] = cls
    return found


def settings_specs(classes: Mapping[str, type[Provider]]) -> dict[str, Mapping[str, Setting]]:
    return {name: cls.settings for name, cls in classes.items() if name != REQUESTS}


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
