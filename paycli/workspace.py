"""What a command works on: the configuration, the installed providers and the store.

Everything is loaded when first asked for, so that ``paycli --help`` or a configuration error costs
nothing more than it must.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from paycli.errors import UsageError

if TYPE_CHECKING:
    from paycli.config import Config
    from paycli.gateways.base import Provider
    from paycli.store import Store


@dataclass
class Workspace:
    config_option: str | None = None
    db_option: str | None = None
    command: str | None = None  # the command run: only `serve` needs the receiver's own secrets
    # the secrets of serve: and smtp: that could not be read, by key path: ``config`` left them unset
    _unread_secrets: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def provider_classes(self) -> dict[str, type[Provider]]:
        from paycli import gateways

        return gateways.installed()

    @cached_property
    def config(self) -> Config:
        # serve's token (`${PAYCLI_SERVE_TOKEN}`) is the receiver's, and smtp's password a mailed
        # report's (require_secrets): a cron ingest or an operator's list without those variables in its
        # environment is not stopped by them, nor the receiver by smtp's. Any other secret stops the load.
        problems: dict[str, str] = {}
        config = self._load_config(problems)
        if any(not path.startswith(("serve.", "smtp.")) for path in problems):
            return self._load_config()  # which says the first problem, as always
        self._unread_secrets = problems
        if self.command == "serve":
            _stop_for_secrets(config, problems, "serve")
        return config

    def require_secrets(self, section: str) -> None:
        """Stop, as a gateway's secret stops every command, when a secret of ``section`` (``smtp``)
        cannot be read: said by the command that uses it, before it does anything."""
        _stop_for_secrets(self.config, self._unread_secrets, section)

    def config_despite_secrets(self) -> tuple[Config, dict[str, str]]:
        """The configuration, except that a secret that cannot be read (its environment variable unset,
        its file unreadable) is left unset and its problem returned by key path: ``paycli gateways``
        shows every secret's state instead of stopping at the first."""
        problems: dict[str, str] = {}
        return self._load_config(problems), problems

    def _load_config(self, secret_problems: dict[str, str] | None = None) -> Config:
        from paycli import gateways
        from paycli.config import find_config_file, load_config

        return load_config(
            find_config_file(self.config_option),
            gateways.LazySpecs(),
            requests_spec=gateways.load(gateways.REQUESTS).settings,
            secret_problems=secret_problems,
        )

    @cached_property
    def database_url(self) -> str:
        from paycli.config import resolve_database_url

        return resolve_database_url(self.db_option, self.config)

    def providers(self) -> dict[str, Provider]:
        from paycli import gateways

        return gateways.instances(self.config, self.provider_classes)

    def open_store(
        self, *, upgrade: bool = False, rule: bool = True, create: bool = False, dry_run: bool = False
    ) -> Store:
        """The store, at this paycli's schema; ``rule``: say in one line when its outcomes follow
        another outcome rule than the configuration's (``paycli.rule``; recompute asks not to);
        ``create``: make a new one where there is none (only the commands that store what arrives);
        ``dry_run``: write nothing, not even the rule a store from before schema 0009 keeps at its
        first use."""
        from paycli.store import Store

        store = Store.open(self.database_url, upgrade=upgrade, create=create)
        if rule:
            from paycli import rule as outcome_rule

            try:
                said = outcome_rule.check(store, self.config, keep=not dry_run)
            except BaseException:
                store.close()
                raise
            if said:
                print(f"paycli: {said}", file=sys.stderr)
        return store

    def actor(self, option: str | None = None) -> str:
        """Who is acting, for the audit trail: --by, the configured operator, or the login name."""
        from paycli.config import ACTOR_WIDTH

        if option:
            if len(option) > ACTOR_WIDTH:  # the store's column: PostgreSQL refuses a longer one
                raise UsageError(f"--by: at most {ACTOR_WIDTH} characters, got {len(option)}")
            return option
        if self.config.operator:
            return self.config.operator
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return os.environ.get("USER") or f"uid {os.getuid()}"

    @staticmethod
    def path(value: str, option: str = "") -> Path:
        """An option's path with its ``~`` expanded; a ``~user`` of no user is a usage error naming
        ``option`` (Path.expanduser's RuntimeError ended the command as a crash)."""
        from paycli.config import expand_home
        from paycli.errors import UsageError

        path = expand_home(value)
        if path is None:
            raise UsageError(f"{option or 'a path'}: '{value}' names the home folder of no user")
        return path


def _stop_for_secrets(config: Config, unread: dict[str, str], section: str) -> None:
    """The error of the first secret of ``section`` that could not be read, as loading says it."""
    from paycli.errors import ConfigError

    for path, what in unread.items():
        if path.startswith(f"{section}."):
            raise ConfigError(f"{config.path or 'configuration'}: {path}: {what}", what)
