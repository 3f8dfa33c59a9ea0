"""The providers installed on this machine, found through the ``paycli.gateways`` entry-point group.

Built-in providers are registered in paycli's own ``pyproject.toml`` the same way a third-party package
registers one, so ``paycli gateways`` lists them all alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
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
    So is a class that is no provider (``problem()``), and a name two distributions register.
    """
    found: dict[str, type[Provider]] = {}
    usable, left_out = _registered()
    _broken.clear()  # what this look finds: a plugin fixed, or uninstalled, since the last is not said
    _broken.update(left_out)
    for name, ep in usable.items():
        try:
            found[name] = _load(ep)
        except ConfigError as exc:
            _broken[name] = str(exc)
    return found


_broken: dict[str, str] = {}


def broken() -> dict[str, str]:
    """The providers whose entry point failed to load, with the reason."""
    return dict(_broken)


def _dist(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def distribution_of(name: str) -> str | None:
    """The distribution (``paycli-mybank 1.0``) that installed the provider ``name``, when it is a
    plugin; None for a provider paycli ships, or one no entry point registers (a test's own): where a
    refusal names a plugin, the operator learns which package to look at."""
    ep = _registered()[0].get(name)
    if ep is None or (ep.dist is not None and ep.dist.name == "paycli"):
        return None
    return _dist(ep)


def _registered() -> tuple[dict[str, EntryPoint], dict[str, str]]:
    """The entry point of each provider name, and why each one left out is, by name: a name two
    distributions register would be read by whichever Python lists first, another on the next machine
    (and a plugin named as a built-in would replace it, signature checks included). The built-in keeps
    its name; two plugins of one name are both left out, until one is uninstalled."""
    by_name: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        by_name.setdefault(ep.name, []).append(ep)
    usable: dict[str, EntryPoint] = {}
    left_out: dict[str, str] = {}
    for name, eps in by_name.items():
        if len(eps) == 1:
            usable[name] = eps[0]
            continue
        own = [ep for ep in eps if ep.dist is not None and ep.dist.name == "paycli"][:1]
        others = " and ".join(f"{ep.value} (distribution {_dist(ep)})" for ep in eps if ep not in own)
        if own:
            usable[name] = own[0]
            left_out[name] = f"'{name}' is a provider paycli ships: {others} is not used"
        else:
            left_out[name] = f"'{name}' is registered by {others}: neither is used, uninstall one"
    return usable, left_out


def _load(ep: EntryPoint) -> type[Provider]:
    """An entry point's provider class; ConfigError naming it and its distribution when it cannot be
    imported or is no provider."""
    where = f"{ep.value} (distribution {_dist(ep)})"
    try:
        cls = ep.load()
    except Exception as exc:
        from paycli.gateways.base import one_line

        text = one_line(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
        raise ConfigError(
            f"{where} cannot be loaded: {type(exc).__name__}{': ' + text if text else ''}"
        ) from exc
    wrong = problem(cls, ep.name)
    if wrong is not None:
        raise ConfigError(f"{where} {wrong}")
    return cls


def problem(cls: object, name: str) -> str | None:
    """What makes ``cls`` unusable as the provider ``name``, or None: the checks a plugin meets when it
    is loaded, so that a wrong declaration is said once, naming it, instead of failing each command."""
    from paycli.config import Setting
    from paycli.gateways.base import Provider

    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        return f"is not a subclass of paycli.gateways.base.Provider ({type(cls).__name__})"
    declared = getattr(cls, "name", None)
    if declared != name:
        return f"declares name {declared!r}: a provider's name is its entry point's, '{name}'"
    for attr in ("identify", "extract"):
        if getattr(cls, attr) is getattr(Provider, attr):
            return f"does not implement {attr}()"
    if not isinstance(getattr(cls, "description", None), str):
        return "has no description (a str)"
    reads = getattr(cls, "reads", None)
    if not isinstance(reads, tuple) or not all(isinstance(r, str) for r in reads):
        return "reads must be a tuple of str, what it reads"
    settings = cls.settings
    if not isinstance(settings, Mapping):
        return "settings must be a mapping of names to paycli.config.Setting"
    for key, setting in settings.items():
        if not isinstance(key, str) or not isinstance(setting, Setting):
            return f"setting {key!r} is not a paycli.config.Setting ({type(setting).__name__})"
    methods = cls.callback_methods
    if not isinstance(methods, tuple) or not methods or not set(methods) <= {"GET", "POST"}:
        return f"callback_methods must be a tuple of 'POST' and 'GET', not {methods!r}"
    headers = cls.callback_headers
    if not isinstance(headers, tuple) or not all(
        isinstance(h, str) and _HEADER.fullmatch(h) for h in headers
    ):
        return f"callback_headers must be a tuple of header names, not {headers!r}"
    from paycli.gateways.callback import is_secret_header

    if any(is_secret_header(h) for h in headers):
        return "callback_headers names a header that carries a credential: paycli never keeps one"
    for flag in ("txn_ids_unique", "needs_config"):
        if not isinstance(getattr(cls, flag), bool):
            return f"{flag} must be True or False"
    return None


_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # a field name's token (RFC 9110 5.1)


def settings_specs(classes: Mapping[str, type[Provider]]) -> dict[str, Mapping[str, Setting]]:
    return {name: cls.settings for name, cls in classes.items() if name != REQUESTS}


def load(name: str) -> type[Provider]:
    """One provider's class, importing only its module; a broken one is a configuration error."""
    usable, left_out = _registered()
    if name not in usable:
        raise ConfigError(
            f"provider {left_out[name]}" if name in left_out else f"no provider '{name}' is installed"
        )
    try:
        return _load(usable[name])
    except ConfigError as exc:
        raise ConfigError(f"provider '{name}': {exc}") from exc


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
        try:
            active[name] = classes[gateway.provider](name, gateway.settings, config)
        except ConfigError:
            raise
        except Exception as exc:  # a plugin's bug: the gateway configured cannot work, and says so
            raise ConfigError(f"gateways.{name}: provider '{gateway.provider}' {_failed(exc)}") from exc
    configured_providers = {g.provider for g in config.gateways.values()}
    for name, cls in classes.items():
        if name in active or cls.needs_config or name in configured_providers:
            continue
        try:
            active[name] = cls(name, {k: s.default for k, s in cls.settings.items()}, config)
        except Exception as exc:  # a plugin's bug: left out, as one that cannot be loaded is
            _broken[name] = f"{cls.__module__}:{cls.__qualname__} {_failed(exc)}"
    return active


def _failed(exc: Exception) -> str:
    from paycli.gateways.base import one_line

    text = str(exc).strip()
    first = one_line(text.splitlines()[0]) if text else ""
    return f"cannot be set up: {type(exc).__name__}{': ' + first if first else ''}"
