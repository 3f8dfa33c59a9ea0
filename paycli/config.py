"""Load and validate paycli's YAML configuration (design.md section 6).

``find_config_file`` applies the search order, ``load_config`` turns the file into a frozen ``Config``
and ``resolve_database_url`` picks the store's URL. Every problem is a ``ConfigError`` whose one-line
message names the file, the dotted key path and what is wrong, and never contains a secret's value.

Only light standard modules are imported at the top: PyYAML, platformdirs, tzlocal, zoneinfo and
hmac are imported inside the functions that need them, so that commands which never read the
configuration start fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, tzinfo
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from paycli.errors import ConfigError

__all__ = [
    "POLICIES",
    "Config",
    "GatewayConfig",
    "ProviderSpecs",
    "Secret",
    "Setting",
    "SettingProblem",
    "SettingsSpec",
    "check_address_text",
    "check_listen_host",
    "check_one_address_text",
    "default_database_url",
    "expand_home",
    "find_config_file",
    "load_config",
    "resolve_database_url",
    "zone_hint",
]

POLICIES = ("strict", "lifecycle")
DEFAULT_BATCH_SIZE = 10_000
MAX_BATCH_SIZE = 100_000
CONFIG_ENV = "PAYCLI_CONFIG"
DB_ENV = "PAYCLI_DB"
# A module constant rather than a literal inside find_config_file so that tests can point it elsewhere.
SYSTEM_CONFIG_FILE = Path("/etc/paycli/config.yaml")

_TOP_KEYS = (
    "database",
    "timezone",
    "policy",
    "operator",
    "batch_size",
    "requests",
    "gateways",
    "report",
    "smtp",
    "serve",
)
_GATEWAY_KEYS = ("provider", "require_verified", "txn_ids_unique")
# `${NAME}` is replaced from the environment; `$${NAME}` is the escape for a literal `${NAME}`.
_VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_BOOL_TEXT = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class SettingProblem(ValueError):
    """A structured setting is wrong at ``key`` (a dotted path inside it, or "" for the whole value)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class Secret:
    """A secret value: str() and repr() are '***', so it cannot leak into a log, an error or a report.

    A secret setting that declares ``earlier`` may hold, after the current value, earlier ones still
    accepted: a secret is rotated (Stripe's "roll secret" signs with both for a while, a leaked Skrill
    word or Nexi key is replaced), and what was signed with the earlier one must stay genuine, on
    reprocess --all and for a notification in flight during the switch."""

    __slots__ = ("_earlier", "_value")

    def __init__(self, value: str, *earlier: str) -> None:
        self._value = value
        self._earlier = earlier

    def reveal(self) -> str:
        """The real value, for the one place that needs it (a signature check)."""
        return self._value

    def reveal_all(self) -> tuple[str, ...]:
        """The current value, then each earlier one: a check accepts what any of them verifies."""
        return (self._value, *self._earlier)

    @property
    def count(self) -> int:
        """How many values it holds (the current one and the earlier ones); never which."""
        return 1 + len(self._earlier)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        # object.__format__ would reject a non-empty spec such as f"{s:>10}"; mask it the same way.
        return format("***", format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so that comparing with a guess tells nothing about how much of it matched.
        # Bytes, because compare_digest refuses non-ASCII str. hmac loads OpenSSL: imported only here.
        import hmac

        if self.count != other.count:
            return False
        same = [
            hmac.compare_digest(mine.encode(), theirs.encode())
            for mine, theirs in zip(self.reveal_all(), other.reveal_all(), strict=True)
        ]
        return all(same)

    __hash__ = None  # type: ignore[assignment]  # why: a hash would be a cheap oracle on the value


_KINDS: tuple[type, ...] = (str, int, bool, Secret, list, dict)


@dataclass(frozen=True)
class Setting:
    """One setting of a provider's spec: its type, default, whether it is required and its allowed values."""

    kind: type
    default: object = None
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] | None = None
    # Validates (and may convert) a value of a structured setting after its type check; raises
    # SettingProblem naming the key inside it, so the error names the whole dotted path.
    check: Callable[[Any], Any] | None = None
    # A Secret setting whose provider checks a message against each of several values: the key also
    # takes a list, the current secret then earlier ones still accepted (a secret being rotated). Only
    # where the provider reads them all: elsewhere a list is refused, never half used.
    earlier: bool = False

    def __post_init__(self) -> None:
        # A wrong spec is a programming error in a provider: fail when it is declared, not on a user's file.
        if self.kind not in _KINDS:
            raise TypeError(
                f"Setting kind must be one of str, int, bool, Secret, list, dict, not {self.kind!r}"
            )
        if self.choices is not None and self.kind is not str:
            raise TypeError("Setting choices are only allowed for kind str")
        if self.earlier and self.kind is not Secret:
            raise TypeError("Setting earlier is only allowed for kind Secret")


class SettingsSpec(dict[str, Setting]):
    """A provider's settings, with ``together``: a check of them all, completed with their defaults,
    for what no setting's own check can see (two keys that must differ); run on load as those are, it
    raises SettingProblem naming the key. A plain mapping of settings is a spec without one."""

    def __init__(
        self, settings: Mapping[str, Setting], together: Callable[[Mapping[str, object]], None]
    ) -> None:
        super().__init__(settings)
        self.together = together


@dataclass(frozen=True)
class GatewayConfig:
    """One entry under ``gateways:``, its provider settings validated and completed with defaults."""

    name: str
    provider: str
    require_verified: bool
    settings: Mapping[str, object]
    # whether its gateway_txn_id names one payment (SHARED_TRANSACTION): None, the provider's own answer
    txn_ids_unique: bool | None = None


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``load_config(None, ...)`` gives the defaults."""

    path: Path | None
    database: str | None
    timezone: tzinfo
    timezone_name: str
    policy: str
    operator: str | None
    batch_size: int
    requests: Mapping[str, object]
    gateways: Mapping[str, GatewayConfig]
    # ``paycli report`` (paycli/reports): its defaults, and the SMTP server that mails it (None: no mail)
    report: Mapping[str, object] = field(default_factory=lambda: _defaults(REPORT_SETTINGS))
    smtp: Mapping[str, object] | None = None
    # ``paycli serve`` (paycli/serve.py), the callback receiver: SERVE_SETTINGS with their defaults
    serve: Mapping[str, object] = field(default_factory=lambda: _defaults(SERVE_SETTINGS))
    # the files secrets were read from (``*_file``), resolved: never an input to ingest
    secret_files: frozenset[Path] = frozenset()


ProviderSpecs = Mapping[str, Mapping[str, Setting]]
ACTOR_WIDTH = 128  # who resolved or undid a resolution: resolution.actor, resolution.undone_by


# --------------------------------------------------------------------------------------------------
# Finding the file


def find_config_file(
    explicit: str | None, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """The configuration file to use, in the order of design.md section 6, or None when there is none.

    A file named by ``--config`` or ``PAYCLI_CONFIG`` must exist; the other places are optional.
    """
    environ = os.environ if env is None else env
    # Path() joined with a relative name stays relative, so messages say "paycli.yaml", not a long path.
    base = Path() if cwd is None else cwd
    # ~ expanded as a shell does: --config=~/x and a unit's Environment=PAYCLI_CONFIG=~/x keep it
    if explicit is not None:
        return _must_exist(base / (expand_home(explicit) or explicit), f"config file '{explicit}'")
    named = environ.get(CONFIG_ENV)
    if named:
        return _must_exist(
            base / (expand_home(named) or named), f"config file '{named}' (named by {CONFIG_ENV})"
        )
    candidates = [base / "paycli.yaml"]
    config_home = _config_home(environ, default_env=env is None)
    if config_home is not None:
        candidates.append(config_home / "paycli" / "config.yaml")
    candidates.append(SYSTEM_CONFIG_FILE)
    return next((path for path in candidates if path.is_file()), None)


def _must_exist(path: Path, what: str) -> Path:
    # not only a file: /dev/null (no configuration) and a shell's <(...) are read as well
    if path.exists() and not path.is_dir():
        return path
    raise ConfigError(f"{what} is a directory" if path.is_dir() else f"{what} not found")


def _config_home(environ: Mapping[str, str], *, default_env: bool) -> Path | None:
    xdg = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg)
    home = environ.get("HOME")
    if home:
        return Path(home) / ".config"
    if not default_env:
        # A caller-supplied environment without HOME must not fall back to the real home directory.
        return None
    try:
        return Path.home() / ".config"
    except RuntimeError:  # no home directory can be determined (e.g. a bare service account)
        return None


# --------------------------------------------------------------------------------------------------
# The report and its mail (paycli/reports; config.example.yaml documents each key)

REPORT_FORMATS = ("html", "csv")
CSV_DIALECTS = ("standard", "excel-it")
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


def _between(low: int, high: int, unit: str = "") -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise SettingProblem("", f"must be {low}..{high}{unit}, got {value}")
        return value

    return check


_GATEWAY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _defaults(settings: Mapping[str, Setting]) -> Mapping[str, object]:
    """A section's settings at their defaults: what ``Config`` holds when the file has no such section."""
    return MappingProxyType({name: _copy(setting.default) for name, setting in settings.items()})


def _check_formats(value: list[object]) -> list[str]:
    if not value:
        raise SettingProblem("", "give at least one of html, csv")
    formats: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or item.strip().lower() not in REPORT_FORMATS:
            raise SettingProblem("", f"item {index + 1}: expected html or csv, got {_show(item)}")
        if item.strip().lower() not in formats:
            formats.append(item.strip().lower())
    return formats


def _check_nonnegative(value: int) -> int:
    if value < 0:
        raise SettingProblem("", f"must be 0 or more, got {value}")
    return value


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise SettingProblem("", f"must be a port number 1..65535, got {value}")
    return value


def _check_header(value: str) -> str:
    """A mail header's text (smtp.subject): a line break would end the header, and Python refuses it
    only when the report is mailed, after it was written; another control character shows in no mail
    reader."""
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise SettingProblem(
            "",
            "must be one line of text, without a control character (a mail header cannot hold a line break)",
        )
    return value


def _check_address(value: str) -> str:
    if not _ADDRESS.fullmatch(value.strip()):
        raise SettingProblem("", f"{_show(value)} is not an e-mail address")
    _check_domain(value.strip())
    return value.strip()


def _check_domain(address: str) -> None:
    """A mail address's domain that is not ASCII (``ops@caffè.it``) is sent as IDNA
    (``xn--caff-8oa.it``): one that cannot be (an empty label, ``caffè..it``) is said on load, not when
    the first report is mailed."""
    domain = address.rpartition("@")[2]
    if domain.isascii():
        return
    try:
        domain.encode("idna")
    except UnicodeError:
        raise SettingProblem(
            "", f"{_show(address)}: its domain {_show(domain)} is no internationalised domain name (IDNA)"
        ) from None


def _check_sender(value: str) -> str:
    """smtp.from: an address, or a display name and an address (``Paycli <ops@shop.example>``, the
    name maybe in double quotes, ``"Rossi, Shop" <ops@shop.example>``), as RFC 5322 writes a mailbox."""
    text = value.strip()
    named = re.fullmatch(r"(?s)([^<>]*?)\s*<([^<>]*)>", text)
    if named is None:
        return _check_address(text)
    name, address = named[1], named[2].strip()
    if not _ADDRESS.fullmatch(address):
        raise SettingProblem("", f"{_show(address)} is not an e-mail address")
    _check_domain(address)
    if not name.isprintable():
        raise SettingProblem("", "the display name must be one line of text")
    if "@" in name and not (name.startswith('"') and name.endswith('"')):
        # a mail reader shows it as if it were the sender: put it in double quotes, or leave it out
        raise SettingProblem("", f"{_show(name)}: a display name with '@' must be in double quotes")
    return text


def check_address_text(value: str, *, several: bool = True) -> str:
    """A gateway's e-mail setting: one address, or (``several``) addresses separated by commas, as
    PayPal's receiver_email. Checked on load: a message for none of them is taken as forged, so a
    typo, or a list separated otherwise, would make every message of the gateway a forgery. Empty
    items are skipped, as the gateway skips them (empty: nothing is checked)."""
    for item in value.split(",") if several else [value]:
        item = item.strip()
        if item and not _ADDRESS.fullmatch(item):
            if re.search(r"@.*[,;\s]", item):
                hint = " (separate addresses with commas)" if several else " (give one address)"
            else:
                hint = ""
            raise SettingProblem("", f"{_show(item)} is not an e-mail address{hint}")
    return value


def check_one_address_text(value: str) -> str:
    """One e-mail address, or empty (nothing is checked): Skrill's pay_to_email."""
    return check_address_text(value, several=False)


def _check_addresses(value: list[object]) -> list[str]:
    if not value:
        raise SettingProblem("", "give at least one address")
    result = []
    for index, item in enumerate(value):
        where = f"item {index + 1}: " if len(value) > 1 else ""
        if not isinstance(item, str) or not _ADDRESS.fullmatch(item.strip()):
            hint = " (several: a list, [a@b, c@d])" if re.search(r"@.*[,;\s]", str(item).strip()) else ""
            raise SettingProblem("", f"{where}{_show(item)} is not an e-mail address{hint}")
        try:
            _check_domain(item.strip())
        except SettingProblem as exc:
            raise SettingProblem("", f"{where}{exc.message}") from None
        result.append(item.strip())
    return result


def _check_host(value: str) -> str:
    """A host name or IP address alone: a scheme or a port written with it failed only when the
    first report was mailed (``smtp.example:587`` was looked up as smtp.example:587:587)."""
    import ipaddress

    text = value.strip()
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(text.strip("[]")))
    if "://" in text:
        raise SettingProblem("", f"{_show(value)}: give the host name alone, without a scheme")
    if re.fullmatch(r"[^\s:/]+:[0-9]+", text):
        raise SettingProblem(
            "", f"{_show(value)}: give the host name alone, and the port in its own key, port"
        )
    try:  # an internationalised name (posta.università.it) as the resolver looks it up
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = text
    if not re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?", ascii_name):
        raise SettingProblem("", f"{_show(value)} is not a host name")
    return text


def check_listen_host(value: str) -> str:
    """serve.host: a host name or address as ``_check_host``, or ``*``, every address of every family,
    as ``paycli serve --host '*'`` takes it (waitress's own spelling)."""
    return "*" if value.strip() == "*" else _check_host(value)


REPORT_SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        "formats": Setting(list, ["html", "csv"], help="html, csv or both", check=_check_formats),
        "out": Setting(str, None, help="the folder (or file) reports are written to; default: ."),
        "csv_dialect": Setting(str, "standard", choices=CSV_DIALECTS),
        "templates": Setting(str, None, help="a folder of templates overriding the built-in ones"),
        "title": Setting(str, None, help="the shop's name at the top of the report"),
        "lock_file": Setting(str, None, help="default: one for each store in the user's data folder"),
        "lock_wait": Setting(
            int, 0, help="seconds to wait for another report to finish", check=_check_nonnegative
        ),
        "email": Setting(bool, False, help="mail every report through smtp:"),
    }
)
SMTP_SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        "host": Setting(str, required=True, check=_check_host),
        "port": Setting(int, None, help="default: 465 with ssl, else 587", check=_check_port),
        "security": Setting(str, "starttls", choices=("starttls", "ssl", "none")),
        "username": Setting(str, None),
        "password": Setting(Secret, None),
        "from": Setting(str, required=True, check=_check_sender),
        "to": Setting(list, required=True, check=_check_addresses),
        "subject": Setting(str, "paycli report {period}", check=_check_header),
        "timeout": Setting(int, 30, help="seconds", check=_between(1, 600, " seconds")),
    }
)


# --------------------------------------------------------------------------------------------------
# The callback receiver (paycli serve; config.example.yaml documents each key)

PAYPAL_POSTBACK_URL = "https://ipnpb.paypal.com/cgi-bin/webscr"
PAYPAL_SANDBOX_POSTBACK_URL = "https://ipnpb.sandbox.paypal.com/cgi-bin/webscr"


def _check_url(value: str) -> str:
    text = value.strip()
    if not re.fullmatch(r"https?://[^\s/]+\S*", text):
        raise SettingProblem("", f"{_show(value)} is not an http:// or https:// URL")
    return text


def _check_ip(value: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise SettingProblem("", f"{_show(value)} is not an IP address") from None


SERVE_SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        "host": Setting(str, "127.0.0.1", help="the address to listen on", check=check_listen_host),
        "port": Setting(int, 8080, check=_check_port),
        "threads": Setting(int, 8, help="requests handled at once", check=_between(1, 256)),
        "token": Setting(Secret, None, help="the bearer token of POST /requests; unset: the route is off"),
        "max_body_bytes": Setting(int, 1024 * 1024, check=_between(1024, 64 * 1024 * 1024, " bytes")),
        "client_timeout_seconds": Setting(
            int, 30, help="a silent client is dropped", check=_between(1, 3600, " s")
        ),
        "connection_limit": Setting(
            int, 100, help="connections open at once; past it, new ones wait", check=_between(10, 1000)
        ),
        "store_timeout_seconds": Setting(
            int, 5, help="wait for the store's write lock; past it: 503", check=_between(1, 600, " s")
        ),
        "trusted_proxy": Setting(
            str, None, help="the proxy whose X-Forwarded-For is believed", check=_check_ip
        ),
        "paypal_postback": Setting(bool, True, help="verify each IPN with PayPal at receive time"),
        "paypal_postback_url": Setting(str, PAYPAL_POSTBACK_URL, check=_check_url),
        "paypal_sandbox_postback_url": Setting(str, PAYPAL_SANDBOX_POSTBACK_URL, check=_check_url),
        "paypal_postback_timeout_seconds": Setting(int, 10, check=_between(1, 120, " s")),
    }
)


# --------------------------------------------------------------------------------------------------
# Loading


def load_config(
    path: Path | None,
    providers: ProviderSpecs,
    *,
    env: Mapping[str, str] | None = None,
    requests_spec: Mapping[str, Setting] | None = None,
    secret_problems: dict[str, str] | None = None,
) -> Config:
    """Read, check and complete the configuration at ``path``; None gives every default.

    Given a ``secret_problems`` dict, a secret that cannot be had (its environment variable unset, its
    file unreadable or empty) is left unset and its problem recorded there by key path, instead of
    stopping the load: what ``paycli gateways`` needs to show every secret's state at once. The
    problems, like every message here, never contain a secret's value.
    """
    environ = os.environ if env is None else env
    if path is None:
        reader = _Reader("configuration", environ, Path(), secret_problems)
        data: dict[str, object] = {}
    else:
        reader = _Reader(str(path), environ, path.parent, secret_problems)
        data = reader.top_level(_parse_yaml(path))

    for key in data:
        if key not in _TOP_KEYS:
            raise reader.misplaced(key, key, providers, requests_spec) or reader.unknown_key(
                key, key, _TOP_KEYS
            )

    database = reader.optional_text(data.get("database"), "database")
    timezone, timezone_name = reader.timezone(data.get("timezone"))
    policy = reader.choice(data.get("policy"), "policy", POLICIES, default="strict")
    operator = reader.optional_text(data.get("operator"), "operator")
    if operator is not None and len(operator) > ACTOR_WIDTH:
        raise reader.error("operator", f"at most {ACTOR_WIDTH} characters, got {len(operator)}")
    batch_size = reader.batch_size(data.get("batch_size"))
    requests = reader.settings(
        reader.mapping(data.get("requests"), "requests"), requests_spec or {}, "requests"
    )
    gateways = reader.gateways(data.get("gateways"), providers)
    report = reader.settings(reader.mapping(data.get("report"), "report"), REPORT_SETTINGS, "report")
    smtp = None
    if data.get("smtp") is not None:
        raw_smtp = reader.mapping(data.get("smtp"), "smtp")
        if isinstance(raw_smtp.get("to"), str):  # `to: owner@shop.example`: one address, as a list of one
            # expanded here, where an unset ${VAR} is said of smtp.to (not smtp.to[0], an item the file
            # has not); what it gave is not expanded again as the list is read
            one = reader.text(raw_smtp["to"], "smtp.to").replace("${", "$${")
            raw_smtp = {**raw_smtp, "to": [one]}
        smtp = reader.settings(raw_smtp, SMTP_SETTINGS, "smtp")
        if smtp["password"] is not None and smtp["username"] is None:
            raise reader.error("smtp.password", "a password needs a username (smtp.username)")
        if (
            smtp["security"] == "none"
            and smtp["username"] is not None
            and not _this_machine(str(smtp["host"]))
        ):
            # smtplib logs in on a connection without TLS as readily as on one with it: the password
            # would cross the network readable by anyone on the way
            raise reader.error(
                "smtp.security",
                f"none would send the password of smtp.username unencrypted to {smtp['host']}: use starttls "
                "or ssl (none is for a relay on this machine, localhost)",
            )
        if smtp["port"] is None:
            smtp["port"] = 465 if smtp["security"] == "ssl" else 587
    if report["email"] and smtp is None:
        raise reader.error("report.email", "true needs an smtp: section to send through")
    serve = reader.settings(reader.mapping(data.get("serve"), "serve"), SERVE_SETTINGS, "serve")
    return Config(
        path=path,
        database=database,
        timezone=timezone,
        timezone_name=timezone_name,
        policy=policy,
        operator=operator,
        batch_size=batch_size,
        requests=MappingProxyType(requests),
        gateways=MappingProxyType(gateways),
        report=MappingProxyType(report),
        smtp=None if smtp is None else MappingProxyType(smtp),
        serve=MappingProxyType(serve),
        secret_files=frozenset(reader.secret_files),
    )


def _this_machine(host: str) -> bool:
    """A host name that leads to this machine only: localhost, 127.0.0.0/8, ::1."""
    import ipaddress

    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _YamlInt(int):
    """An int that remembers how it was written, to catch `merchant_id: 00123` (octal 83 in YAML 1.1)."""

    source: str


def _parse_yaml(path: Path) -> object:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when compiled in: much faster

    class Loader(base):
        # PyYAML silently keeps the last of two equal keys; a doubled gateway is a mistake worth a message.
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if duplicate:
                    raise ConfigError(f"{path}: line {key_node.start_mark.line + 1}: duplicate key '{key}'")
            return super().construct_mapping(node, deep=deep)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except _BAD_TAGGED_VALUE:  # a value its explicit tag does not fit: !!int abc, !!bool xyz
                raise ConfigError(
                    f"{path}: line {node.start_mark.line + 1}: not valid YAML ({_tagged(node)})"
                ) from None

    def construct_int(loader: Any, node: Any) -> _YamlInt:
        number = _YamlInt(yaml.constructor.SafeConstructor.construct_yaml_int(loader, node))
        number.source = str(node.value)
        return number

    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    try:
        return yaml.load(text, Loader=Loader)  # safe: Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        said = exc.problem or exc.context or "syntax error"
        if exc.context and said.startswith("but "):
            # "but found another document" reads only after its context: "expected a single document ..."
            said = f"{exc.context} {said}"
        problem = _yaml_problem(said)
        if mark is not None and _tab_at(text, mark.line, mark.column):
            # PyYAML says "found character that cannot start any token": the tab is what to fix
            problem = "a tab character: YAML indents with spaces only"
        elif exc.context == "while scanning a quoted scalar" and exc.context_mark is not None:
            # PyYAML names where it gave up (the end of the file, often): the quote to close is here
            mark = exc.context_mark
            problem = "a quoted value that starts here is never closed"
        where = f"line {mark.line + 1}: " if mark is not None else ""
        if mark is not None and _FLOW_VARIABLE.search(_lines_before(text, exc.context_mark or mark, mark)):
            # `[a, ${B}]`: in [ ] or { }, YAML reads the { of ${B} as the start of a mapping
            problem += "; a ${NAME} inside [ ] or { } must be in quotes: '${NAME}'"
        raise ConfigError(f"{path}: {where}not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(str(exc))})") from None
    except _BAD_TAGGED_VALUE:  # one built after its node (!!map [1]): no line to name
        raise ConfigError(f"{path}: not valid YAML (a value that does not fit its explicit !! tag)") from None


# a ${NAME} after a [ or { still open
_FLOW_VARIABLE = re.compile(r"[\[{][^\]}]*\$\{[A-Za-z_]")


def _lines_before(text: str, first: Any, last: Any) -> str:
    """The lines of ``text`` from the line of one YAML mark to that of another."""
    lines = text.splitlines()
    return "\n".join(lines[min(first.line, last.line) : last.line + 1])


def _tab_at(text: str, line: int, column: int) -> bool:
    """Whether the character at this 0-based line and column (a YAML error's mark) is a tab."""
    lines = text.splitlines()
    return line < len(lines) and lines[line][column : column + 1] == "\t"


# what PyYAML's constructors raise, not as YAMLError, for a value its tag does not fit
_BAD_TAGGED_VALUE = (ValueError, KeyError, AttributeError, TypeError, OverflowError)


def _tagged(node: Any) -> str:
    """What is wrong with a tagged value, without the value (maybe a secret)."""
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    return f"a value that does not fit its tag {tag}: remove the tag or fix the value"


def _yaml_problem(problem: str) -> str:
    """PyYAML's problem without the text it quotes from the file, which may be a secret (an unquoted
    ``mac_key: !x...`` is a tag); a quoted character ('\\t', '@') stays: it says what to fix."""
    if "constructor for the tag" in problem:
        return "a value that starts with ! is a YAML tag: put it in quotes"
    if "undefined alias" in problem:
        return "a value that starts with * is a YAML alias: put it in quotes"
    problem = re.sub(r"'[^']{5,}'|\"[^\"]{5,}\"", "...", problem)
    return " ".join(problem.split())  # one line: PyYAML breaks some problems in two


def zone_hint(name: str) -> str:
    """What to add to "unknown time zone NAME": an IANA name for an offset (+01:00, UTC+1, CET+1),
    which would not follow daylight saving, else the zone a mistyped name most likely meant."""
    from zoneinfo import available_timezones

    if re.fullmatch(r"(?i)(utc|gmt|z)?\s*[+-]\s*\d{1,2}(:?\d\d)?|[A-Z]{3,4}[+-]\d{1,2}", name.strip()):
        return " (give an IANA zone name such as Europe/Rome: an offset does not follow daylight saving)"
    if not name:
        return ""
    zones = sorted(available_timezones())
    # a city alone (Rome, new york): the zone named after it
    city = [
        z for z in zones if "/" in z and z.rsplit("/", 1)[1].lower() == name.strip().lower().replace(" ", "_")
    ]
    return f" (did you mean '{city[0]}'?)" if city else _suggest(name, zones)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate a mistyped ``word`` most likely meant (the same in another letter case first), or
    None: the "did you mean" of every message that names a wrong name."""
    import difflib  # only on the error path

    candidates = list(candidates)
    lowered = {candidate.lower(): candidate for candidate in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, candidates, n=1)
    return close[0] if close else None


def _suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    close = closest(word, candidates)
    return f" (did you mean '{close}'?)" if close else ""


def _show(value: object) -> str:
    """How a wrong (never secret) value is quoted in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return str(getattr(value, "source", value))


def _kind(value: object) -> str:
    """What a value is, never the value: where a mapping or a list was expected, a secret written at
    the wrong indentation, or without the space after its colon, lands as text."""
    if isinstance(value, str):
        if re.match(r"[A-Za-z_][\w-]*:[^\s/]", value):  # mac_key:abc, not http://
            return "text (a key needs a space after its colon: 'key: value')"
        return "text"
    if isinstance(value, bool):
        return _show(value)
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, date):
        return "a date"
    return _show(value) if value is None or isinstance(value, dict | list) else type(value).__name__


_DOTTED = "a key with dots is one key: write each part on its own line, indented under the one before"


class _Reader:
    """The checks of one load: the file name, the environment, the folder `*_file` is relative to."""

    def __init__(
        self, where: str, env: Mapping[str, str], base: Path, secret_problems: dict[str, str] | None = None
    ) -> None:
        self.where = where
        self.env = env
        self.base = base
        self.secret_problems = secret_problems
        self.secret_files: set[Path] = set()

    def error(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {what}" if key else f"{self.where}: {what}", what)

    def unknown_key(self, key: str, path: str, known: list[str] | tuple[str, ...]) -> ConfigError:
        if "." in key and key.split(".")[0] in known:
            # the dotted paths of these messages, written back as one key: it reads as the nested one
            return self.error(path[: -len(key)] + f"'{key}'", _DOTTED)
        hint = _suggest(key, known)
        if not hint:
            hint = f" (known keys: {', '.join(known)})" if known else " (no settings are accepted here)"
        return self.error(path, f"unknown key{hint}")

    def misplaced(
        self,
        key: str,
        path: str,
        providers: ProviderSpecs,
        requests_spec: Mapping[str, Setting] | None = None,
        *,
        under: str | None = None,
        above_provider: str | None = None,
    ) -> ConfigError | None:
        """A key written one level off (a gateway at the top, a gateway's setting beside the gateways):
        said so, where "unknown key (did you mean 'smtp'?)" sent the reader elsewhere. ``under``: the
        entry above it at its level, when there is one; ``above_provider``: that gateway's provider,
        named only when it has such a setting (a mac_key below stripe: is a Nexi gateway's)."""
        if under is None and key in providers:
            return self.error(path, "unknown key here: a gateway goes under gateways:, indented")
        # a key beside the gateways is a gateway's, not a top-level section's
        sections: dict[str, Mapping[str, Setting]] = (
            {}
            if under is not None
            else {
                "report": REPORT_SETTINGS,
                "smtp": SMTP_SETTINGS,
                "serve": SERVE_SETTINGS,
                "requests": requests_spec or {},
            }
        )
        owners = [name for name, spec in sections.items() if _names_setting(spec, key)]
        if not owners:
            gateways = [name for name in providers if _names_setting(providers[name], key)]
            fits = above_provider is None or above_provider in gateways
            owners = (
                [under] if under is not None and gateways and fits else [f"gateways.{g}" for g in gateways]
            )
        if not owners:
            return None
        where = " or ".join(owners[:3]) + (" or another" if len(owners) > 3 else "")
        return self.error(
            path, f"unknown key here: is it a setting of {where}? Then indent it under that key"
        )

    # -- structure ---------------------------------------------------------------------------------

    def top_level(self, data: object) -> dict[str, object]:
        if data is None:  # an empty file (or only comments) is an empty configuration
            return {}
        if not isinstance(data, dict):
            raise self.error("", f"the top level must be a mapping of keys to values, got {_kind(data)}")
        return self.mapping(data, "")

    def mapping(self, value: object, path: str) -> dict[str, object]:
        # A key written with nothing after it (`requests:`) means "all defaults".
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"expected a mapping of keys to values, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                # `on:` or `123:` are read by YAML as a bool or a number, never what was meant.
                raise self.error(path or "top level", f"key {_show(key)} is not text (quote it)")
        return value

    def expand(self, value: object, path: str) -> object:
        """Replace `${NAME}` inside every string, recursively."""
        if isinstance(value, str):
            return self._expand_text(value, path)
        if isinstance(value, list):
            return [self.expand(item, f"{path}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: self.expand(item, f"{path}.{key}") for key, item in value.items()}
        return value

    def _expand_text(self, text: str, path: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(1):
                return match.group(0)[1:]
            name = match.group(2)
            if name not in self.env:
                raise self.error(path, f"environment variable {name} is not set")
            return self.env[name]

        return _VARIABLE.sub(replace, text)

    # -- scalars -----------------------------------------------------------------------------------

    def text(self, value: object, path: str, *, secret: bool = False) -> str:
        """A string; a plain integer is accepted and converted (`merchant_id: 52918473`)."""
        if isinstance(value, str):
            return self._expand_text(value, path)
        if isinstance(value, int) and not isinstance(value, bool):
            source = getattr(value, "source", str(value))
            if source == str(int(value)):
                return source
            if secret:
                raise self.error(path, "YAML reads this as a different number; put the value in quotes")
            raise self.error(path, f"YAML reads {source} as the number {int(value)}; put it in quotes")
        if secret:  # the value itself is never shown, nor what YAML made of it (`yes` read as true)
            if isinstance(value, list | dict):
                raise self.error(path, f"expected a string, got {_kind(value)}")
            read = "true or false" if isinstance(value, bool) else _kind(value)
            raise self.error(path, f"expected a string; YAML reads this as {read}: put the value in quotes")
        quote = " (put it in quotes)" if not isinstance(value, list | dict) and value is not None else ""
        raise self.error(path, f"expected a string, got {_show(value)}{quote}")

    def optional_text(self, value: object, path: str) -> str | None:
        if value is None:
            return None
        text = self.text(value, path).strip()
        if not text:
            raise self.error(path, "is empty (leave the key out to use the default)")
        return text

    def integer(self, value: object, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        # `${VAR}` always yields text; when the whole point was to fill in a number, read it as one.
        if isinstance(value, str) and _VARIABLE.search(value):
            expanded = self._expand_text(value, path).strip()
            if _INTEGER_TEXT.fullmatch(expanded):
                return int(expanded)
            raise self.error(path, f"expected an integer, got {_show(expanded)}")
        raise self.error(path, f"expected an integer, got {_show(value)}")

    def boolean(self, value: object, path: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and _VARIABLE.search(value):
            expanded = self._expand_text(value, path).strip()
            if expanded.lower() in _BOOL_TEXT:
                return _BOOL_TEXT[expanded.lower()]
            raise self.error(path, f"expected true or false, got {_show(expanded)}")
        raise self.error(path, f"expected true or false, got {_show(value)}")

    def choice(self, value: object, path: str, choices: tuple[str, ...], *, default: str) -> str:
        if value is None:
            return default
        return self.one_of(self.text(value, path), path, choices)

    def one_of(self, text: str, path: str, choices: tuple[str, ...]) -> str:
        if text not in choices:
            hint = _suggest(text, choices)
            raise self.error(path, f"expected one of {', '.join(choices)}, got {_show(text)}{hint}")
        return text

    # -- top-level keys ----------------------------------------------------------------------------

    def timezone(self, value: object) -> tuple[tzinfo, str]:
        if value is None:
            return _local_timezone()
        from zoneinfo import ZoneInfo

        name = self.text(value, "timezone").strip()
        try:
            return ZoneInfo(name), name
        # Not found is a KeyError; an empty or path-like name a ValueError; a folder such as "Europe" OSError.
        except (KeyError, ValueError, OSError):
            pass
        raise self.error("timezone", f"unknown time zone {_show(name)}{zone_hint(name)}")

    def batch_size(self, value: object) -> int:
        if value is None:
            return DEFAULT_BATCH_SIZE
        size = self.integer(value, "batch_size")
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise self.error("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}, got {size}")
        return size

    def gateways(self, value: object, providers: ProviderSpecs) -> dict[str, GatewayConfig]:
        installed = sorted(providers)
        result: dict[str, GatewayConfig] = {}
        above: str | None = None
        above_provider: str | None = None
        for name, raw in self.mapping(value, "gateways").items():
            path = f"gateways.{name}"
            if not isinstance(raw, dict | None) and isinstance(name, str) and name not in providers:
                # `webhook_secret: x` beside the gateways, not under its own: never quoted
                said = self.misplaced(
                    name,
                    path,
                    providers,
                    under=f"gateways.{above}" if above else "a gateway",
                    above_provider=above_provider,
                )
                if said is not None:
                    raise said
            if isinstance(name, str):
                above = name
                given = raw.get("provider") if isinstance(raw, dict) else None
                above_provider = given if isinstance(given, str) else name
            if isinstance(name, str) and "." in name and name.split(".")[0] in providers:
                raise self.error(f"gateways.'{name}'", _DOTTED)
            if not isinstance(name, str) or not _GATEWAY_NAME.fullmatch(name):
                # requests name their gateway in lower case, stores keep it in 64 characters, and the
                # receiver serves it at /callbacks/<name>: a name that differs from all three is refused
                hint = (
                    f": write '{name.lower()}'"
                    if isinstance(name, str) and _GATEWAY_NAME.fullmatch(name.lower())
                    else ""
                )
                raise self.error(
                    path, f"a gateway's name is lower-case letters, digits, '_' and '-' (at most 64){hint}"
                )
            entry = self.mapping(raw, path)
            if "provider" in entry:
                provider = self.text(entry["provider"], f"{path}.provider")
                where = f"{path}.provider"
            else:
                provider, where = name, path
            if provider == "requests":  # paycli.gateways.REQUESTS, not imported: config stays light
                raise self.error(
                    where,
                    "the shop's request files are read by paycli itself: their settings go under the "
                    "top-level requests:, not under gateways:",
                )
            if provider not in providers:
                hint = _suggest(provider, installed)
                listing = ", ".join(installed) or "none"
                raise self.error(
                    where, f"unknown provider '{provider}'{hint}; installed providers: {listing}"
                )
            verified = entry.get("require_verified")
            unique = entry.get("txn_ids_unique")
            spec = providers[provider]
            settings = self.settings(
                {key: item for key, item in entry.items() if key not in _GATEWAY_KEYS},
                spec,
                path,
                _GATEWAY_KEYS,
            )
            if isinstance(spec, SettingsSpec):
                try:
                    spec.together(settings)
                except SettingProblem as problem:
                    raise self.error(
                        f"{path}.{problem.key}" if problem.key else path, problem.message
                    ) from None
            result[name] = GatewayConfig(
                name=name,
                provider=provider,
                require_verified=verified is not None and self.boolean(verified, f"{path}.require_verified"),
                settings=MappingProxyType(settings),
                txn_ids_unique=None if unique is None else self.boolean(unique, f"{path}.txn_ids_unique"),
            )
        return result

    # -- provider settings -------------------------------------------------------------------------

    def settings(
        self,
        raw: dict[str, object],
        spec: Mapping[str, Setting],
        prefix: str,
        reserved: tuple[str, ...] = (),
    ) -> dict[str, object]:
        """Check ``raw`` against ``spec``: unknown and missing keys, types, choices; defaults filled in."""
        file_keys = {f"{name}_file": name for name, setting in spec.items() if setting.kind is Secret}
        for name in spec:
            file_keys.pop(name, None)  # a spec that really has an `x_file` setting keeps it as such
        known = [*reserved, *spec, *file_keys]
        for key in raw:
            if key not in spec and key not in file_keys:
                raise self.unknown_key(key, f"{prefix}.{key}", known)

        result: dict[str, object] = {}
        for name, setting in spec.items():
            path = f"{prefix}.{name}"
            file_key = f"{name}_file" if f"{name}_file" in file_keys else None
            value = raw.get(name)
            file_value = raw.get(file_key) if file_key else None
            if setting.kind is Secret:
                # `mac_key:` with nothing after it (or only an &anchor) is a secret left out by mistake
                if name in raw and value is None:
                    value = ""
                if file_key and file_key in raw and file_value is None:
                    file_value = ""
                if value is not None and file_value is not None:
                    raise self.error(path, f"give either {name} or {file_key}, not both")
                if file_value is not None and file_key:
                    read = self.secret_file if not setting.earlier else self.secret_files_listed
                    result[name] = self.unless_unavailable(read, file_value, f"{prefix}.{file_key}")
                elif value is not None:
                    read = self.secret if not setting.earlier else self.secrets_listed
                    result[name] = self.unless_unavailable(read, value, path)
                elif setting.required:
                    raise self.error(path, f"required setting is missing (give {name} or {file_key})")
                else:
                    default = setting.default
                    result[name] = Secret(default) if isinstance(default, str) else default
            elif value is None:
                if setting.required:
                    raise self.error(path, "required setting is missing")
                result[name] = _copy(setting.default)
            else:
                result[name] = self.typed(value, setting, path)
                if setting.check is not None:
                    try:
                        result[name] = setting.check(result[name])
                    except SettingProblem as problem:
                        raise self.error(
                            f"{path}.{problem.key}" if problem.key else path, problem.message
                        ) from None
        return result

    def typed(self, value: object, setting: Setting, path: str) -> object:
        kind = setting.kind
        if kind is bool:
            return self.boolean(value, path)
        if kind is int:
            return self.integer(value, path)
        if kind is str:
            text = self.text(value, path)
            return text if setting.choices is None else self.one_of(text, path, setting.choices)
        if kind is list:
            if not isinstance(value, list):
                raise self.error(path, f"expected a list, got {_kind(value)}")
            return self.expand(value, path)
        # dict
        return self.expand(self.mapping(value, path), path)

    def unless_unavailable(
        self, read: Callable[[object, str], Secret], value: object, path: str
    ) -> Secret | None:
        """``read(value, path)``; when secret problems are being collected, a value that cannot be read
        (a variable unset, a file missing, a value of the wrong type) is recorded there and left unset
        (None), as if the key were absent."""
        try:
            return read(value, path)
        except ConfigError as exc:
            if self.secret_problems is None:
                raise
            self.secret_problems[path] = exc.what
            return None

    def secrets_listed(self, value: object, path: str) -> Secret:
        """A secret, or a list of them: the current one, then earlier ones still accepted."""
        return self.listed(self.secret, value, path)

    def secret_files_listed(self, value: object, path: str) -> Secret:
        """A secret's file, or a list of them: the current secret's, then earlier ones', one a file."""
        return self.listed(partial(self.secret_file, earlier=True), value, path)

    def listed(self, read: Callable[[object, str], Secret], value: object, path: str) -> Secret:
        # One file, one secret, as for a single one: a file of several lines stays an error (an editor's
        # second line, or a secret pasted twice), so no secret is ever taken from a line by mistake.
        if isinstance(value, dict):
            raise self.error(path, f"expected a string or a list of strings, got {_kind(value)}")
        if not isinstance(value, list):
            return read(value, path)
        if not value:
            raise self.error(path, "is an empty list (leave the key out when there is no secret)")
        import hmac  # loads OpenSSL: only where a list is read, as in Secret.__eq__

        values: list[str] = []
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            if item is None:
                raise self.error(
                    where, "is empty (a `-` with nothing after it): give the secret or remove the item"
                )
            text = read(item, where).reveal()
            for before, seen in enumerate(values):
                # listed twice is a slip (the new secret pasted over the earlier one, which is then
                # not accepted at all): refused, naming the two places in the list, never the value
                if hmac.compare_digest(seen.encode(), text.encode()):
                    raise self.error(where, f"is the same secret as item [{before}]: list each secret once")
            values.append(text)
        return Secret(*values)

    def secret(self, value: object, path: str) -> Secret:
        text = self.text(value, path, secret=True)
        if not text:
            raise self.error(path, "is empty (leave the key out when there is no secret)")
        return Secret(text)

    def secret_file(self, value: object, path: str, *, earlier: bool = False) -> Secret:
        name = self.text(value, path)
        if not name:
            raise self.error(path, "is empty (leave the key out when there is no secret)")
        # A relative name is taken from the config file's folder, wherever paycli is started from.
        home = expand_home(name)
        if home is None:
            # not echoed, as below: a secret typed where its file's path belongs would be printed
            raise self.error(path, "names the home folder of no user ('~name'): give the file's path")
        file = self.base / home
        self.secret_files.add(file.resolve())
        try:
            # a byte-order mark (Notepad's UTF-8) is no part of a secret: kept, it failed every signature
            text = file.read_text(encoding="utf-8").removeprefix("\ufeff").rstrip("\r\n")
        except UnicodeDecodeError:
            raise self.error(path, f"'{name}' is not UTF-8 text") from None
        except OSError as exc:
            if not file.exists() and not file.is_symlink():
                # never echoed: a secret typed where its file's path belongs would be printed
                where = "" if home.is_absolute() else f"; a relative one is read from {self.base}"
                raise self.error(
                    path, f"names no file (the value is the file's path, not the secret{where})"
                ) from None
            raise self.error(path, f"cannot read '{name}' ({exc.strerror or type(exc).__name__})") from None
        if not text:
            raise self.error(path, f"'{name}' is empty")
        # the secret is compared exactly: what an editor or a copy adds would fail every message's check
        if "\n" in text or "\r" in text:
            also = ": an earlier secret goes in a file of its own, listed after this one" if earlier else ""
            raise self.error(
                path, f"'{name}' holds more than one line: the file must hold the secret alone{also}"
            )
        if text != text.strip():
            raise self.error(
                path, f"'{name}': the secret begins or ends with a blank (a space, a tab): remove it"
            )
        return Secret(text)


def _names_setting(spec: Mapping[str, Setting], key: str) -> bool:
    """Whether ``key`` is a setting of ``spec``, or the ``_file`` variant of one of its secrets."""
    if key in spec:
        return True
    secret = spec.get(key.removesuffix("_file")) if key.endswith("_file") else None
    return secret is not None and secret.kind is Secret


def _copy(default: object) -> object:
    # A spec's list or dict default must not be shared (and mutated) between configurations.
    if isinstance(default, list):
        return list(default)
    if isinstance(default, dict):
        return dict(default)
    return default


def _local_timezone() -> tuple[tzinfo, str]:
    """The machine's zone and its name (dates.machine_timezone: UTC when it cannot be told)."""
    from paycli.dates import machine_timezone

    zone = machine_timezone()
    return zone, str(getattr(zone, "key", None) or zone)


# --------------------------------------------------------------------------------------------------
# The database URL


def default_database_url() -> str:
    """A SQLite file in the user's data folder (the folder is created by the store, not here)."""
    import platformdirs

    return "sqlite:///" + (platformdirs.user_data_path("paycli") / "paycli.db").as_posix()


def resolve_database_url(option: str | None, config: Config, *, env: Mapping[str, str] | None = None) -> str:
    """``--db``, else ``PAYCLI_DB``, else the file's ``database``, else ``default_database_url()``; a
    SQLite file's ``~`` or ``~user`` is expanded, as a shell does, wherever the path came from (a
    YAML value, ``--db=~/x``, a unit's Environment=), never made a folder named ``~``. A relative
    SQLite path in the file is relative to the file's folder, as every path in it is (a cron job
    started in another folder would otherwise make a second store there); one given to ``--db`` or
    ``PAYCLI_DB``, to the current folder."""
    from paycli.errors import UsageError

    environ = os.environ if env is None else env
    given = ((option, "--db"), (environ.get(DB_ENV), DB_ENV), (config.database, f"{config.path}: database"))
    url, where = next(((url, where) for url, where in given if url), (None, ""))
    if not url:
        return default_database_url()
    prefix = "sqlite:///" if url.startswith("sqlite:///") else "" if "://" not in url else None
    if prefix is None:
        return url
    if not url.startswith(prefix + "~"):
        from paycli.store import sqlite_path

        file = sqlite_path(url)  # None: no SQLite file (a mistyped URL, a libpq string: said when opened)
        in_file = where not in ("--db", DB_ENV) and config.path is not None
        relative = file is not None and not file.is_absolute() and str(file) not in (".", ":memory:")
        if in_file and relative and not str(file).startswith("file:"):
            assert config.path is not None and file is not None
            taken = os.path.abspath(config.path.parent / file)
            earlier = os.path.abspath(file)  # where a relative path led before: the current folder
            if earlier != taken and os.path.isfile(earlier) and not os.path.lexists(taken):
                # a store made where the path used to lead would be left behind for a new, empty one
                problem = (
                    f"'{file}' is taken from this file's folder ({taken}), where there is no store, and "
                    f"there is one at {earlier} (the current folder's, where it was taken from before): "
                    "move that store there, or write its absolute path"
                )
                raise ConfigError(f"{where}: {problem}", problem)
            return prefix + taken
        return url
    home = expand_home(url[len(prefix) :])
    if home is not None:
        return prefix + str(home)
    problem = f"'{url}' names the home folder of no user"
    if where in ("--db", DB_ENV):
        raise UsageError(f"{where}: {problem}")
    raise ConfigError(f"{where}: {problem}", problem)


def expand_home(path: str) -> Path | None:
    """``path`` with a leading ``~`` or ``~user`` expanded; None when that user, or the home folder,
    cannot be found (Path.expanduser raises RuntimeError, which would end a command as a crash)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return None
