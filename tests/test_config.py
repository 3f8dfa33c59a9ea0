"""The configuration file: where it is found, what it may contain, and how mistakes are reported.

Every test uses a temporary folder, a fake environment mapping and a fake working directory, so the
real home directory and environment are never read. The provider specs are made up for the tests.
"""

from __future__ import annotations

import logging
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from paycli import config as config_module
from paycli.config import (
    Config,
    GatewayConfig,
    Secret,
    Setting,
    default_database_url,
    find_config_file,
    load_config,
    resolve_database_url,
)
from paycli.errors import ConfigError
from tests.conftest import make_config

PROVIDERS = {
    "stripe": {
        "webhook_secret": Setting(Secret, earlier=True, help="signing secret of the webhook endpoint"),
        "tolerance_seconds": Setting(int, default=300),
        "reference_key": Setting(str, default="txn_id"),
    },
    "skrill": {"merchant_id": Setting(str, required=True), "secret_word": Setting(Secret)},
    "nexi": {
        "mac_key": Setting(Secret, required=True),
        "mac_algorithm": Setting(str, default="sha1", choices=("sha1", "sha256")),
    },
    "csv": {
        "columns": Setting(dict, default={}),
        "skip_lines": Setting(int, default=0),
        "aliases": Setting(list, default=[]),
        "strict": Setting(bool, default=False),
    },
}
REQUESTS_SPEC = {"amount_column": Setting(str, default="amount"), "delimiter": Setting(str, default=",")}


@pytest.fixture(autouse=True)
def no_system_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for /etc/paycli/config.yaml, which the test machine may or may not have."""
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG_FILE", tmp_path / "etc" / "paycli" / "config.yaml")


def write(folder: Path, text: str, name: str = "paycli.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), PROVIDERS, env=env or {}, requests_spec=REQUESTS_SPEC)


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env)
    message = str(caught.value)
    assert "\n" not in message, "a configuration error is one line"
    assert message.startswith(str(tmp_path / "paycli.yaml") + ": "), "it names the file first"
    return message


# --------------------------------------------------------------------------------------------------
# Search order: --config, PAYCLI_CONFIG, ./paycli.yaml, $XDG_CONFIG_HOME/paycli, /etc/paycli


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A working directory, a home, and a config folder, all empty."""
    result = {name: tmp_path / name for name in ("cwd", "home", "xdg")}
    for folder in result.values():
        folder.mkdir()
    return result


def find(places: dict[str, Path], explicit: str | None = None, **env: str) -> Path | None:
    return find_config_file(explicit, env={"HOME": str(places["home"]), **env}, cwd=places["cwd"])


def test_no_file_anywhere_gives_none(places: dict[str, Path]) -> None:
    assert find(places) is None


def test_explicit_config_wins_over_everything(places: dict[str, Path]) -> None:
    write(places["cwd"], "")
    chosen = write(places["cwd"], "", "other.yaml")
    named = write(places["home"], "", "named.yaml")
    assert find(places, "other.yaml", PAYCLI_CONFIG=str(named)) == chosen


def test_explicit_config_must_exist(places: dict[str, Path]) -> None:
    write(places["cwd"], "")  # a fallback is not used when --config names a missing file
    with pytest.raises(ConfigError, match=r"config file 'x\.yaml' not found"):
        find(places, "x.yaml")


def test_explicit_config_may_not_be_a_folder(places: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        find(places, str(places["home"]))


def test_dev_null_names_no_configuration_and_is_not_missing(places: dict[str, Path], cli, isolated) -> None:
    # the idiom for "no configuration" was refused as "config file '/dev/null' not found"
    write(places["cwd"], "")
    assert find(places, "/dev/null") == Path("/dev/null")
    result = cli("--config", "/dev/null", "gateways")
    assert result.code == 0 and "nexi" in result.stdout, result


def test_a_named_config_file_in_the_home_folder_is_found(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # --config=~/x (no shell expands it) and Environment=PAYCLI_CONFIG=~/x in a systemd unit
    home = places["home"]
    (home / "etc").mkdir()
    (home / "etc" / "paycli.yaml").write_text("policy: strict\n")
    monkeypatch.setenv("HOME", str(home))
    assert find_config_file("~/etc/paycli.yaml", env={}, cwd=places["cwd"]) == home / "etc" / "paycli.yaml"
    found = find_config_file(None, env={"PAYCLI_CONFIG": "~/etc/paycli.yaml"}, cwd=places["cwd"])
    assert found == home / "etc" / "paycli.yaml"


def test_paycli_config_comes_second(places: dict[str, Path]) -> None:
    write(places["cwd"], "")
    named = write(places["home"], "", "named.yaml")
    assert find(places, PAYCLI_CONFIG=str(named)) == named


def test_paycli_config_must_exist_and_the_message_says_where_the_name_came_from(
    places: dict[str, Path],
) -> None:
    with pytest.raises(ConfigError, match=r"config file 'gone\.yaml' \(named by PAYCLI_CONFIG\) not found"):
        find(places, PAYCLI_CONFIG="gone.yaml")


def test_empty_paycli_config_is_ignored(places: dict[str, Path]) -> None:
    local = write(places["cwd"], "")
    assert find(places, PAYCLI_CONFIG="") == local


def test_working_directory_comes_third(places: dict[str, Path]) -> None:
    local = write(places["cwd"], "")
    write(places["xdg"], "", "paycli/config.yaml")
    assert find(places, XDG_CONFIG_HOME=str(places["xdg"])) == local


def test_working_directory_defaults_to_a_relative_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative, so that error messages say "paycli.yaml: ..." rather than a long path.
    write(tmp_path, "")
    monkeypatch.chdir(tmp_path)
    assert find_config_file(None, env={"HOME": str(tmp_path / "nohome")}) == Path("paycli.yaml")


def test_xdg_config_home_comes_fourth(places: dict[str, Path]) -> None:
    user = write(places["xdg"], "", "paycli/config.yaml")
    write(places["home"], "", ".config/paycli/config.yaml")
    assert find(places, XDG_CONFIG_HOME=str(places["xdg"])) == user


def test_without_xdg_config_home_the_user_folder_is_home_dot_config(places: dict[str, Path]) -> None:
    user = write(places["home"], "", ".config/paycli/config.yaml")
    assert find(places) == user


def test_a_relative_xdg_config_home_is_ignored_as_the_xdg_spec_says(places: dict[str, Path]) -> None:
    write(places["cwd"], "", "rel/paycli/config.yaml")
    user = write(places["home"], "", ".config/paycli/config.yaml")
    assert find(places, XDG_CONFIG_HOME="rel") == user


def test_system_file_comes_last(places: dict[str, Path]) -> None:
    system = config_module.SYSTEM_CONFIG_FILE
    write(system.parent, "", system.name)
    assert find(places) == system
    user = write(places["home"], "", ".config/paycli/config.yaml")
    assert find(places) == user


# --------------------------------------------------------------------------------------------------
# Defaults


def test_no_file_gives_every_default() -> None:
    config = load_config(None, PROVIDERS, env={})
    assert config.path is None
    assert config.database is None
    assert isinstance(config.timezone, tzinfo)
    assert config.timezone_name
    assert config.policy == "strict"
    assert config.operator is None
    assert config.batch_size == 10000
    assert dict(config.requests) == {}
    assert dict(config.gateways) == {}


def test_the_request_spec_defaults_apply_without_a_file() -> None:
    config = load_config(None, PROVIDERS, env={}, requests_spec=REQUESTS_SPEC)
    assert dict(config.requests) == {"amount_column": "amount", "delimiter": ","}


def test_an_empty_file_is_an_empty_configuration(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.path == tmp_path / "paycli.yaml"
    assert config.policy == "strict" and config.batch_size == 10000 and dict(config.gateways) == {}


def test_a_file_of_only_comments_is_an_empty_configuration(tmp_path: Path) -> None:
    assert load(tmp_path, "# nothing yet\n").batch_size == 10000


def test_every_top_level_key(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        database: postgresql+psycopg://paycli@db/paycli
        timezone: Europe/Rome
        policy: lifecycle
        operator: anna
        batch_size: 500
        requests:
          delimiter: ";"
        gateways:
          stripe: {}
        """.replace("\n        ", "\n"),
    )
    assert config.database == "postgresql+psycopg://paycli@db/paycli"
    assert config.timezone == ZoneInfo("Europe/Rome")
    assert config.timezone_name == "Europe/Rome"
    assert config.policy == "lifecycle"
    assert config.operator == "anna"
    assert config.batch_size == 500
    assert dict(config.requests) == {"amount_column": "amount", "delimiter": ";"}
    assert list(config.gateways) == ["stripe"]


def test_a_key_with_no_value_means_the_default(tmp_path: Path) -> None:
    config = load(tmp_path, "timezone:\npolicy:\nbatch_size:\nrequests:\ngateways:\n")
    assert config.policy == "strict" and config.batch_size == 10000


def test_the_result_is_read_only(tmp_path: Path) -> None:
    config = load(tmp_path, "gateways:\n  stripe:\n")
    with pytest.raises(AttributeError):
        config.policy = "lifecycle"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.gateways["other"] = config.gateways["stripe"]  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# Top-level mistakes


def test_unknown_top_level_key_with_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, "timzone: Europe/Rome\n")
    assert message.endswith("paycli.yaml: timzone: unknown key (did you mean 'timezone'?)")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("gateways.stripe.webhook_secret: x\n", "'gateways.stripe.webhook_secret'"),
        ("report.title: Shop\n", "'report.title'"),
        ("gateways:\n  stripe.webhook_secret: x\n", "gateways.'stripe.webhook_secret'"),
        ("gateways:\n  stripe:\n    webhook_secret.file: x\n", "gateways.stripe.'webhook_secret.file'"),
    ],
)
def test_a_dotted_key_written_as_these_messages_name_keys_is_told_to_nest(
    tmp_path: Path, text: str, key: str
) -> None:
    # "gateways.stripe.webhook_secret: unknown key" read as if the nested key were unknown
    message = error_of(tmp_path, text)
    assert message.endswith(
        f"paycli.yaml: {key}: a key with dots is one key: write each part on its own line, indented under "
        "the one before"
    )
    assert ": x" not in message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # was "stripe: unknown key (did you mean 'smtp'?)"
        (
            "gateways:\nstripe:\n  webhook_secret: x\n",
            "stripe: unknown key here: a gateway goes under gateways:, indented",
        ),
        (
            "gateways:\n  stripe:\n  webhook_secret: x\n",
            "gateways.webhook_secret: unknown key here: is it a setting of gateways.stripe? Then indent it under that key",
        ),
        (
            "gateways:\n  stripe:\n  webhook_secret_file: x\n",
            "gateways.webhook_secret_file: unknown key here: is it a setting of gateways.stripe? Then indent it under "
            "that key",
        ),
        # below a gateway whose provider has no such setting: the gateways that have it, not the one above
        # (was "is it a setting of gateways.stripe?", and indented there it was an unknown key)
        (
            "gateways:\n  stripe:\n  mac_key: x\n",
            "gateways.mac_key: unknown key here: is it a setting of gateways.nexi? Then indent it under that key",
        ),
        (
            "gateways:\n  shop_eu:\n    provider: stripe\n  webhook_secret: x\n",
            "gateways.webhook_secret: unknown key here: is it a setting of gateways.shop_eu? Then indent it under "
            "that key",
        ),
        (
            "gateways:\n  stripe:\nwebhook_secret: x\n",
            "webhook_secret: unknown key here: is it a setting of gateways.stripe? Then indent it under that key",
        ),
        (
            "title: Shop\n",
            "title: unknown key here: is it a setting of report? Then indent it under that key",
        ),
        (
            "port: 8080\n",
            "port: unknown key here: is it a setting of smtp or serve? Then indent it under that key",
        ),
    ],
)
def test_a_key_one_level_off_says_where_it_belongs(tmp_path: Path, text: str, said: str) -> None:
    message = error_of(tmp_path, text)
    assert message.endswith(f"paycli.yaml: {said}")
    assert ": x" not in message and "'x'" not in message


def test_unknown_top_level_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    assert "xyzzy: unknown key (known keys: database, timezone, policy," in error_of(tmp_path, "xyzzy: 1\n")


def test_wrong_type_quotes_the_value(tmp_path: Path) -> None:
    assert error_of(tmp_path, "batch_size: lots\n").endswith(
        "paycli.yaml: batch_size: expected an integer, got 'lots'"
    )


def test_a_bool_is_not_an_integer(tmp_path: Path) -> None:
    assert error_of(tmp_path, "batch_size: true\n").endswith("batch_size: expected an integer, got true")


@pytest.mark.parametrize("size", ["0", "100001", "-5"])
def test_batch_size_range(tmp_path: Path, size: str) -> None:
    assert f"batch_size: must be between 1 and 100000, got {size}" in error_of(
        tmp_path, f"batch_size: {size}\n"
    )


def test_batch_size_limits_are_allowed(tmp_path: Path) -> None:
    assert load(tmp_path, "batch_size: 1\n").batch_size == 1
    assert load(tmp_path, "batch_size: 100000\n").batch_size == 100000


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("bogus-codec", "unknown encoding 'bogus-codec'"),
        ("utf-16", "'utf-16' is not an ASCII-compatible encoding; convert the file to UTF-8 first"),
    ],
)
def test_the_requests_encoding_is_checked_on_load(tmp_path: Path, value: str, problem: str) -> None:
    # it was taken as it came, and every line then read as Windows-1252 with a notice per file
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, f"requests:\n  encoding: {value}\n")
    assert f"requests.encoding: {problem}" in str(caught.value)
    assert make_config(tmp_path, "requests:\n  encoding: auto\n").requests["encoding"] == "auto"
    # in any letter case, as codec names are (Latin-1 below): AUTO was an unknown encoding
    assert make_config(tmp_path, "requests:\n  encoding: AUTO\n").requests["encoding"] == "auto"
    assert make_config(tmp_path, "requests:\n  encoding: Latin-1\n").requests["encoding"] == "iso8859-1"


@pytest.mark.parametrize(
    ("name", "hint"), [("MyBank", ": write 'mybank'"), ("'my bank'", ""), ("'x/y'", ""), ("'-a'", "")]
)
def test_a_gateway_name_is_lower_case_and_fit_for_a_url(tmp_path: Path, name: str, hint: str) -> None:
    # requests name their gateway in lower case: 'MyBank' matched none of them, and its
    # require_verified, its report filter and its trail were silently wrong
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, f"gateways:\n  {name}:\n    provider: skrill\n")
    assert str(caught.value).endswith(
        f"a gateway's name is lower-case letters, digits, '_' and '-' (at most 64){hint}"
    )


def test_policy_must_be_strict_or_lifecycle(tmp_path: Path) -> None:
    message = error_of(tmp_path, "policy: lifecycel\n")
    assert message.endswith(
        "policy: expected one of strict, lifecycle, got 'lifecycel' (did you mean 'lifecycle'?)"
    )


def test_unknown_timezone_names_the_value_and_suggests(tmp_path: Path) -> None:
    message = error_of(tmp_path, "timezone: Europe/Rom\n")
    assert "paycli.yaml: timezone: unknown time zone 'Europe/Rom'" in message
    assert "did you mean 'Europe/Rome'?" in message


@pytest.mark.parametrize("name", ["'+01:00'", "UTC+1", "GMT-5", "'-0500'"])
def test_an_offset_for_a_timezone_asks_for_a_zone_name(tmp_path: Path, name: str) -> None:
    assert error_of(tmp_path, f"timezone: {name}\n").endswith(
        "(give an IANA zone name such as Europe/Rome: an offset does not follow daylight saving)"
    )
    csv = "gateways:\n  bank:\n    provider: csv\n    columns: {reference: A, amount: B, status: C}\n"
    csv += f"    status_map: {{approved: [OK]}}\n    timezone: {name}\n"
    with pytest.raises(ConfigError) as raised:
        make_config(tmp_path, csv)  # the installed csv provider's own timezone
    assert str(raised.value).endswith("an offset does not follow daylight saving)")
    assert "gateways.bank.timezone: unknown time zone" in str(raised.value)


@pytest.mark.parametrize(("name", "zone"), [("Rome", "Europe/Rome"), ("'new york'", "America/New_York")])
def test_a_city_for_a_timezone_suggests_its_zone(tmp_path: Path, name: str, zone: str) -> None:
    assert error_of(tmp_path, f"timezone: {name}\n").endswith(f"(did you mean '{zone}'?)")


@pytest.mark.parametrize("name", ["Europe", "../../etc/passwd", "'  '", "Mars/Olympus_Mons"])
def test_timezone_that_is_not_a_zone(tmp_path: Path, name: str) -> None:
    assert "timezone: unknown time zone" in error_of(tmp_path, f"timezone: {name}\n")


def test_a_list_at_the_top_is_not_a_configuration(tmp_path: Path) -> None:
    message = error_of(tmp_path, "- database\n- timezone\n")
    assert message.endswith("the top level must be a mapping of keys to values, got a list")


def test_a_scalar_at_the_top_is_not_a_configuration(tmp_path: Path) -> None:
    assert "the top level must be a mapping" in error_of(tmp_path, "just words\n")


def test_invalid_yaml_gives_the_line_and_the_parser_problem(tmp_path: Path) -> None:
    message = error_of(tmp_path, "policy: strict\ngateways:\n  stripe:\n    reference_key: [txn_id\n")
    assert message.startswith(f"{tmp_path / 'paycli.yaml'}: line ")
    assert "not valid YAML (" in message


def test_invalid_yaml_line_number_is_the_offending_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "policy: strict\nbatch_size: 10\ndatabase: x\n\tbad: tab\n")
    assert ": line 4: not valid YAML (" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("!S3CRETxyz", "(a value that starts with ! is a YAML tag: put it in quotes)"),
        ("*S3CRETxyz", "(a value that starts with * is a YAML alias: put it in quotes)"),
        ("!S3CRET!xyz", "(found undefined tag handle"),  # PyYAML quotes the handle; libyaml does not
        ("@S3CRETxyz", "(found character"),
    ],
)
def test_a_yaml_error_never_quotes_the_value_it_could_not_read(
    tmp_path: Path, value: str, problem: str
) -> None:
    message = error_of(tmp_path, f"gateways:\n  nexi:\n    mac_key: {value}\n")
    assert ": line 3: not valid YAML " + problem in message, message
    assert "S3CRET" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "gateways:\n  nexi:\n    mac_key: !!int S3CRETxyz\n",
            "line 3: not valid YAML (a value that does not fit its tag !!int:",
        ),
        (
            "gateways:\n  nexi:\n    mac_key: !!bool S3CRETxyz\n",
            "line 3: not valid YAML (a value that does not fit its tag !!bool:",
        ),
        ("batch_size: !!float 1,5\n", "line 1: not valid YAML (a value that does not fit its tag !!float:"),
        (
            "batch_size: !!timestamp yesterday\n",
            "line 1: not valid YAML (a value that does not fit its tag !!timestamp:",
        ),
        ("batch_size: !!map [1]\n", "not valid YAML (a value that does not fit its explicit !! tag)"),
    ],
)
def test_a_value_its_explicit_tag_does_not_fit_is_a_config_error_without_the_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = error_of(tmp_path, text)
    assert expected in message and "S3CRET" not in message and "\n" not in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # indented as a gateway of its own
        (
            "gateways:\n  stripe:\n  webhook_secret: S3CRETxyz\n",
            "gateways.webhook_secret: unknown key here: is it a setting of gateways.stripe? Then indent it",
        ),
        (
            "gateways:\n  stripe:\n    webhook_secret:whsec_S3CRETxyz\n",
            "gateways.stripe: expected a mapping of keys to values, got text (a key needs a space after its colon",
        ),
        ("serve:\n  token:S3CRETxyz\n", "serve: expected a mapping of keys to values, got text (a key needs"),
        (
            "gateways: {stripe: whsec_S3CRETxyz}\n",
            "gateways.stripe: expected a mapping of keys to values, got text",
        ),
        ("S3CRETxyz\n", "the top level must be a mapping of keys to values, got text"),
    ],
)
def test_a_secret_where_a_mapping_belongs_is_never_quoted(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert expected in message and "S3CRET" not in message, message


def test_a_control_character_is_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "timezone: Europe/Rome\x01\n")
    assert "not valid YAML (unacceptable character #x0001: control characters are not allowed" in message
    assert "\n" not in message


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quote_never_closed_names_the_line_it_opens_on(tmp_path: Path, quote: str) -> None:
    text = f"policy: strict\ngateways:\n  nexi:\n    mac_key: {quote}S3CRET-KEY\n    alias: ALIAS_WEB_1\n"
    message = error_of(tmp_path, text)
    assert message.endswith("line 4: not valid YAML (a quoted value that starts here is never closed)")
    assert "S3CRET" not in message


def test_a_second_document_in_the_file_says_what_was_expected(tmp_path: Path) -> None:
    message = error_of(tmp_path, "policy: strict\n---\npolicy: lifecycle\n")
    assert message.endswith(
        "line 2: not valid YAML (expected a single document in the stream but found another document)"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("gateways:\n\tnexi: {}\n", 2),  # PyYAML: "found character that cannot start any token"
        ("gateways:\n  nexi:\n  \tmac_key: x\n", 3),
        ("gateways:\n  nexi:\n    mac_key: x\n\t\n", 4),  # "a tab character that violates indentation"
    ],
)
def test_a_tab_that_indents_is_named_as_such(tmp_path: Path, text: str, line: int) -> None:
    message = error_of(tmp_path, text)
    assert message.endswith(f"line {line}: not valid YAML (a tab character: YAML indents with spaces only)")


def test_a_duplicate_key_is_reported_not_silently_overwritten(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe: {}\n  stripe: {}\n")
    assert message.endswith("paycli.yaml: line 3: duplicate key 'stripe'")


def test_a_key_that_yaml_reads_as_a_bool_is_refused(tmp_path: Path) -> None:
    assert "gateways: key true is not text (quote it)" in error_of(tmp_path, "gateways:\n  on: {}\n")


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"paycli\.yaml: cannot read"):
        load_config(tmp_path / "paycli.yaml", PROVIDERS, env={})


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "paycli.yaml").write_bytes(b"operator: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"paycli\.yaml: not valid UTF-8"):
        load_config(tmp_path / "paycli.yaml", PROVIDERS, env={})


def test_python_tags_are_not_executed(tmp_path: Path) -> None:
    message = error_of(tmp_path, "operator: !!python/object/apply:os.system ['true']\n")
    assert "not valid YAML" in message


# --------------------------------------------------------------------------------------------------
# ${NAME} substitution


def test_variables_are_replaced_anywhere_inside_a_string(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "database: postgresql+psycopg://${DB_USER}@${DB_HOST}/paycli\n",
        {"DB_USER": "u", "DB_HOST": "h"},
    )
    assert config.database == "postgresql+psycopg://u@h/paycli"


def test_a_missing_variable_names_the_file_the_key_and_the_variable(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret: ${STRIPE_WEBHOOK_SECRET}\n")
    assert message.endswith(
        "paycli.yaml: gateways.stripe.webhook_secret: environment variable STRIPE_WEBHOOK_SECRET is not set"
    )


def test_a_missing_variable_in_a_top_level_key(tmp_path: Path) -> None:
    assert error_of(tmp_path, "operator: ${WHO}\n").endswith("operator: environment variable WHO is not set")


def test_a_doubled_dollar_keeps_a_literal(tmp_path: Path) -> None:
    assert load(tmp_path, "operator: a$${NOT_A_VAR}b\n").operator == "a${NOT_A_VAR}b"


def test_other_dollar_signs_are_left_alone(tmp_path: Path) -> None:
    assert load(tmp_path, "operator: pa$$word $HOME ${not closed\n").operator == "pa$$word $HOME ${not closed"


def test_variables_inside_lists_and_mappings(tmp_path: Path) -> None:
    text = (
        "gateways:\n  mybank:\n    provider: csv\n    aliases: [a, '${X}']\n    columns: {amount: '${Y}'}\n"
    )
    settings = load(tmp_path, text, {"X": "x", "Y": "importo"}).gateways["mybank"].settings
    assert settings["aliases"] == ["a", "x"]
    assert settings["columns"] == {"amount": "importo"}


def test_a_missing_variable_inside_a_list_gives_the_position(tmp_path: Path) -> None:
    text = "gateways:\n  mybank:\n    provider: csv\n    aliases: [a, '${X}']\n"
    assert "gateways.mybank.aliases[1]: environment variable X is not set" in error_of(tmp_path, text)


def test_a_variable_that_is_smtp_to_alone_is_said_of_smtp_to(tmp_path: Path) -> None:
    # `to: one@address` is read as a list of one: its variable was said of smtp.to[0], a key the file
    # has not
    text = "smtp:\n  host: smtp.example\n  from: a@shop.example\n  to: ${REPORT_TO}\n"
    assert error_of(tmp_path, text).endswith(
        "paycli.yaml: smtp.to: environment variable REPORT_TO is not set"
    )
    assert error_of(tmp_path, text, {"REPORT_TO": "nobody"}).endswith(
        "paycli.yaml: smtp.to: 'nobody' is not an e-mail address"
    )
    assert load(tmp_path, text, {"REPORT_TO": "o@shop.example"}).smtp["to"] == ["o@shop.example"]  # type: ignore[index]
    # what the variable holds is taken as it is, not expanded again
    odd = load(tmp_path, text, {"REPORT_TO": "${HOME}@shop.example", "HOME": "x"})
    assert odd.smtp["to"] == ["${HOME}@shop.example"]  # type: ignore[index]


@pytest.mark.parametrize(
    "text",
    [
        "gateways:\n  stripe:\n    webhook_secret: [whsec_new, ${OLD}]\n",
        "smtp:\n  host: smtp.example\n  from: a@shop.example\n  to: [a@shop.example,\n    ${TO}]\n",
        "gateways:\n  mybank:\n    provider: csv\n    columns: {amount: ${Y}}\n",
    ],
)
def test_a_variable_unquoted_inside_brackets_is_said_to_need_quotes(tmp_path: Path, text: str) -> None:
    # YAML reads the { of ${NAME} in [ ] or { } as a mapping's: "did not find expected ',' or ']'"
    assert error_of(tmp_path, text).endswith("a ${NAME} inside [ ] or { } must be in quotes: '${NAME}')")


def test_a_variable_can_fill_in_a_number_or_a_bool(tmp_path: Path) -> None:
    text = "batch_size: ${BATCH}\ngateways:\n  stripe:\n    require_verified: ${STRICT}\n"
    config = load(tmp_path, text, {"BATCH": "750", "STRICT": "true"})
    assert config.batch_size == 750
    assert config.gateways["stripe"].require_verified is True


def test_a_variable_that_is_not_a_number(tmp_path: Path) -> None:
    assert error_of(tmp_path, "batch_size: ${BATCH}\n", {"BATCH": "many"}).endswith(
        "batch_size: expected an integer, got 'many'"
    )


# --------------------------------------------------------------------------------------------------
# Gateways


def test_a_gateway_gets_its_defaults(tmp_path: Path) -> None:
    gateway = load(tmp_path, "gateways:\n  stripe:\n").gateways["stripe"]
    assert gateway == GatewayConfig(
        name="stripe",
        provider="stripe",
        require_verified=False,
        settings=gateway.settings,
    )
    assert dict(gateway.settings) == {
        "webhook_secret": None,
        "tolerance_seconds": 300,
        "reference_key": "txn_id",
    }


def test_the_provider_defaults_to_the_gateway_name_and_can_be_set(tmp_path: Path) -> None:
    text = "gateways:\n  mybank:\n    provider: csv\n    skip_lines: 2\n    require_verified: true\n"
    gateway = load(tmp_path, text).gateways["mybank"]
    assert (gateway.name, gateway.provider, gateway.require_verified) == ("mybank", "csv", True)
    assert gateway.settings["skip_lines"] == 2
    assert "provider" not in gateway.settings and "require_verified" not in gateway.settings


def test_any_gateway_may_say_its_transaction_ids_are_shared(tmp_path: Path) -> None:
    config = load(tmp_path, "gateways:\n  mybank:\n    provider: csv\n    txn_ids_unique: false\n  stripe:\n")
    assert (config.gateways["mybank"].txn_ids_unique, config.gateways["stripe"].txn_ids_unique) == (
        False,
        None,
    )
    assert "txn_ids_unique" not in config.gateways["mybank"].settings
    message = error_of(tmp_path, "gateways:\n  mybank:\n    provider: csv\n    txn_ids_unique: sometimes\n")
    assert "gateways.mybank.txn_ids_unique" in message and "sometimes" in message


def test_unknown_provider_lists_the_installed_ones(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  mybank:\n    provider: cvs\n")
    assert message.endswith(
        "gateways.mybank.provider: unknown provider 'cvs' (did you mean 'csv'?); "
        "installed providers: csv, nexi, skrill, stripe"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("gateways:\n  requests:\n    encoding: latin-1\n", "gateways.requests"),
        ("gateways:\n  shop:\n    provider: requests\n", "gateways.shop.provider"),
    ],
)
def test_the_request_files_under_gateways_say_where_their_settings_go(
    tmp_path: Path, text: str, key: str
) -> None:
    assert error_of(tmp_path, text).endswith(
        f"{key}: the shop's request files are read by paycli itself: their settings go under the top-level "
        "requests:, not under gateways:"
    )


def test_a_gateway_named_after_no_provider(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  strpe: {}\n")
    assert "paycli.yaml: gateways.strpe: unknown provider 'strpe' (did you mean 'stripe'?)" in message


def test_misspelt_setting_with_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhok_secret: x\n")
    assert message.endswith(
        "paycli.yaml: gateways.stripe.webhok_secret: unknown key (did you mean 'webhook_secret'?)"
    )


def test_misspelt_file_variant_is_suggested(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_fil: /x\n")
    assert "unknown key (did you mean 'webhook_secret_file'?)" in message


def test_require_verified_must_be_a_yaml_bool(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    require_verified: 'yes'\n")
    assert message.endswith("gateways.stripe.require_verified: expected true or false, got 'yes'")


def test_a_missing_required_setting(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  skrill: {}\n")
    assert message.endswith("paycli.yaml: gateways.skrill.merchant_id: required setting is missing")


def test_a_missing_required_secret_mentions_the_file_variant(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  nexi: {}\n")
    assert message.endswith(
        "gateways.nexi.mac_key: required setting is missing (give mac_key or mac_key_file)"
    )


def test_a_gateway_must_be_a_mapping(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe: yes\n")
    assert message.endswith("gateways.stripe: expected a mapping of keys to values, got true")


def test_an_int_merchant_id_is_accepted_for_a_string_setting(tmp_path: Path) -> None:
    settings = load(tmp_path, "gateways:\n  skrill:\n    merchant_id: 52918473\n").gateways["skrill"].settings
    assert settings["merchant_id"] == "52918473"


def test_a_number_that_yaml_would_change_must_be_quoted(tmp_path: Path) -> None:
    # YAML 1.1 reads a leading zero as octal: 00123 would silently become "83".
    message = error_of(tmp_path, "gateways:\n  skrill:\n    merchant_id: 00123\n")
    assert message.endswith(
        "gateways.skrill.merchant_id: YAML reads 00123 as the number 83; put it in quotes"
    )
    quoted = load(tmp_path, "gateways:\n  skrill:\n    merchant_id: '00123'\n")
    assert quoted.gateways["skrill"].settings["merchant_id"] == "00123"


def test_a_string_setting_refuses_other_types(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    reference_key: [a, b]\n")
    assert message.endswith("gateways.stripe.reference_key: expected a string, got a list")
    message = error_of(tmp_path, "gateways:\n  stripe:\n    reference_key: 1.5\n")
    assert message.endswith("gateways.stripe.reference_key: expected a string, got 1.5 (put it in quotes)")


def test_an_int_setting_refuses_a_bool_and_a_string(tmp_path: Path) -> None:
    assert "tolerance_seconds: expected an integer, got false" in error_of(
        tmp_path, "gateways:\n  stripe:\n    tolerance_seconds: no\n"
    )
    assert "tolerance_seconds: expected an integer, got '300'" in error_of(
        tmp_path, "gateways:\n  stripe:\n    tolerance_seconds: '300'\n"
    )


def test_list_dict_and_bool_settings(tmp_path: Path) -> None:
    text = (
        "gateways:\n  mybank:\n    provider: csv\n    aliases: [x]\n    columns: {a: b}\n    strict: true\n"
    )
    settings = load(tmp_path, text).gateways["mybank"].settings
    assert (settings["aliases"], settings["columns"], settings["strict"]) == (["x"], {"a": "b"}, True)
    assert "gateways.mybank.aliases: expected a list, got text" in error_of(
        tmp_path, "gateways:\n  mybank:\n    provider: csv\n    aliases: x\n"
    )
    assert "gateways.mybank.columns: expected a mapping of keys to values, got a list" in error_of(
        tmp_path, "gateways:\n  mybank:\n    provider: csv\n    columns: [a]\n"
    )
    assert "gateways.mybank.strict: expected true or false, got 1" in error_of(
        tmp_path, "gateways:\n  mybank:\n    provider: csv\n    strict: 1\n"
    )


def test_list_and_dict_defaults_are_not_shared(tmp_path: Path) -> None:
    first = load(tmp_path, "gateways:\n  a: {provider: csv}\n").gateways["a"].settings
    first["aliases"].append("changed")  # type: ignore[attr-defined]
    second = load(tmp_path, "gateways:\n  a: {provider: csv}\n").gateways["a"].settings
    assert second["aliases"] == []


def test_choices_are_enforced(tmp_path: Path) -> None:
    ok = load(tmp_path, "gateways:\n  nexi:\n    mac_key: k\n    mac_algorithm: sha256\n")
    assert ok.gateways["nexi"].settings["mac_algorithm"] == "sha256"
    message = error_of(tmp_path, "gateways:\n  nexi:\n    mac_key: k\n    mac_algorithm: md5\n")
    assert message.endswith("gateways.nexi.mac_algorithm: expected one of sha1, sha256, got 'md5'")


# --------------------------------------------------------------------------------------------------
# requests:


def test_requests_settings_are_checked_against_their_spec(tmp_path: Path) -> None:
    message = error_of(tmp_path, "requests:\n  delimeter: ';'\n")
    assert message.endswith("paycli.yaml: requests.delimeter: unknown key (did you mean 'delimiter'?)")


def test_without_a_requests_spec_no_key_is_allowed(tmp_path: Path) -> None:
    write(tmp_path, "requests:\n  delimiter: ';'\n")
    with pytest.raises(
        ConfigError, match=r"requests\.delimiter: unknown key \(no settings are accepted here\)"
    ):
        load_config(tmp_path / "paycli.yaml", PROVIDERS, env={})
    assert dict(load_config(write(tmp_path, "requests: {}\n"), PROVIDERS, env={}).requests) == {}


# --------------------------------------------------------------------------------------------------
# Secrets


def test_a_secret_from_the_environment_is_wrapped(tmp_path: Path) -> None:
    text = "gateways:\n  stripe:\n    webhook_secret: ${STRIPE_WEBHOOK_SECRET}\n"
    secret = (
        load(tmp_path, text, {"STRIPE_WEBHOOK_SECRET": "whsec_abc"})
        .gateways["stripe"]
        .settings["webhook_secret"]
    )
    assert isinstance(secret, Secret)
    assert secret.reveal() == "whsec_abc"


def test_a_literal_secret_is_wrapped_too(tmp_path: Path) -> None:
    secret = load(tmp_path, "gateways:\n  nexi:\n    mac_key: k3y\n").gateways["nexi"].settings["mac_key"]
    assert isinstance(secret, Secret) and secret.reveal() == "k3y"


def test_a_secret_from_a_file_loses_its_trailing_newline(tmp_path: Path) -> None:
    write(tmp_path, "whsec_from_file\n", "secrets/stripe")
    text = f"gateways:\n  stripe:\n    webhook_secret_file: {tmp_path / 'secrets' / 'stripe'}\n"
    secret = load(tmp_path, text).gateways["stripe"].settings["webhook_secret"]
    assert isinstance(secret, Secret) and secret.reveal() == "whsec_from_file"


def test_a_relative_secret_file_is_next_to_the_config_file(tmp_path: Path) -> None:
    write(tmp_path, "s3cret\r\n", "stripe.secret")
    secret = load(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: stripe.secret\n")
    assert secret.gateways["stripe"].settings["webhook_secret"] == Secret("s3cret")


def test_a_secret_file_path_may_use_a_variable(tmp_path: Path) -> None:
    write(tmp_path, "x\n", "run/secret")
    text = "gateways:\n  stripe:\n    webhook_secret_file: ${DIR}/secret\n"
    assert load(tmp_path, text, {"DIR": str(tmp_path / "run")}).gateways["stripe"].settings["webhook_secret"]


def test_an_unreadable_secret_file_names_the_key_and_the_path(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: folder\n")
    assert (
        "paycli.yaml: gateways.stripe.webhook_secret_file: cannot read 'folder' (Is a directory)" in message
    )


@pytest.mark.parametrize("value", ["/nonexistent/stripe", "whsec_T0PS3CRET", "~/nowhere"])
def test_a_secret_file_that_is_not_there_is_said_without_echoing_the_value(
    tmp_path: Path, value: str
) -> None:
    # the value may be the secret itself, typed where its file's path belongs: never printed
    message = error_of(tmp_path, f"gateways:\n  stripe:\n    webhook_secret_file: {value}\n")
    assert "gateways.stripe.webhook_secret_file: names no file (the value is the file's path" in message
    assert value not in message and message.count("\n") == 0
    assert (f"read from {tmp_path}" in message) is (value == "whsec_T0PS3CRET")


def test_a_secret_file_s_byte_order_mark_is_no_part_of_the_secret(tmp_path: Path) -> None:
    # Notepad saves UTF-8 with one: kept, every Stripe event failed its signature (BAD_SIGNATURE)
    (tmp_path / "whsec").write_bytes(b"\xef\xbb\xbfwhsec_abc\r\n")
    config = load(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: whsec\n")
    assert config.gateways["stripe"].settings["webhook_secret"] == Secret("whsec_abc")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"whsec_abc \n", "the secret begins or ends with a blank (a space, a tab): remove it"),
        (b"\twhsec_abc\n", "the secret begins or ends with a blank (a space, a tab): remove it"),
        (
            b"whsec_abc\nwhsec_def\n",
            "holds more than one line: the file must hold the secret alone: an earlier secret goes in a file "
            "of its own, listed after this one",
        ),
        (
            b"WEBHOOK=whsec_abc\r\n\r\nOTHER=x\r\n",
            "holds more than one line: the file must hold the secret alone: an earlier secret goes in a file "
            "of its own, listed after this one",
        ),
    ],
)
def test_a_secret_file_with_more_than_the_secret_is_an_error_without_the_secret(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    (tmp_path / "whsec").write_bytes(content)
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: whsec\n")
    assert message.endswith(
        f"gateways.stripe.webhook_secret_file: 'whsec'{':' if 'blank' in problem else ''} {problem}"
    )
    assert "abc" not in message


def test_an_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "\n", "empty")
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: empty\n")
    assert message.endswith("gateways.stripe.webhook_secret_file: 'empty' is empty")


def test_a_secret_and_its_file_together_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "x\n", "s")
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret: y\n    webhook_secret_file: s\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret: give either webhook_secret or webhook_secret_file, not both"
    )


def test_an_empty_secret_is_an_error_not_a_key_that_verifies_anything(tmp_path: Path) -> None:
    text = "gateways:\n  stripe:\n    webhook_secret: ${STRIPE_WEBHOOK_SECRET}\n"
    message = error_of(tmp_path, text, {"STRIPE_WEBHOOK_SECRET": ""})
    assert "gateways.stripe.webhook_secret: is empty" in message


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("webhook_secret:", "webhook_secret"),  # nothing after the key: YAML null
        ("webhook_secret: &secret", "webhook_secret"),  # an unquoted &...: an anchor on a null
        ("webhook_secret_file:", "webhook_secret_file"),
    ],
)
def test_a_secret_key_with_no_value_is_an_error_not_a_secret_left_out(
    tmp_path: Path, line: str, key: str
) -> None:
    message = error_of(tmp_path, f"gateways:\n  stripe:\n    {line}\n")
    assert message.endswith(f"gateways.stripe.{key}: is empty (leave the key out when there is no secret)")


def test_a_secret_of_the_wrong_type_is_not_quoted(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret: {a: hunter2}\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret: expected a string or a list of strings, got a mapping"
    )
    assert "hunter2" not in message
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret: 0777\n")
    assert "777" not in message and "511" not in message
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret: [new, {a: hunter2}]\n")
    assert message.endswith("gateways.stripe.webhook_secret[1]: expected a string, got a mapping")
    assert "hunter2" not in message


def test_a_secret_whose_provider_checks_one_value_refuses_a_list(tmp_path: Path) -> None:
    # a provider that reads only reveal() would use the first and ignore the others without a word
    message = error_of(
        tmp_path, "gateways:\n  skrill:\n    merchant_id: '1'\n    secret_word: [a, hunter2]\n"
    )
    assert message.endswith("gateways.skrill.secret_word: expected a string, got a list")
    assert "hunter2" not in message


# Rotation: the current secret, then earlier ones still accepted


def test_a_list_of_secrets_holds_the_current_one_then_the_earlier_ones(tmp_path: Path) -> None:
    text = "gateways:\n  stripe:\n    webhook_secret:\n      - ${NEW}\n      - whsec_old\n"
    secret = load(tmp_path, text, {"NEW": "whsec_new"}).gateways["stripe"].settings["webhook_secret"]
    assert isinstance(secret, Secret) and secret.count == 2
    assert secret.reveal() == "whsec_new"  # the current one, where a single value is needed
    assert secret.reveal_all() == ("whsec_new", "whsec_old")
    assert secret == Secret("whsec_new", "whsec_old") and secret != Secret("whsec_new")
    assert "whsec" not in repr(secret) and "whsec" not in str(secret)


def test_a_list_of_one_secret_is_that_secret(tmp_path: Path) -> None:
    secret = load(tmp_path, "gateways:\n  stripe:\n    webhook_secret: [whsec_new]\n")
    assert secret.gateways["stripe"].settings["webhook_secret"] == Secret("whsec_new")


def test_a_list_of_secret_files_holds_one_secret_a_file(tmp_path: Path) -> None:
    write(tmp_path, "whsec_new\n", "new")
    write(tmp_path, "\ufeffwhsec_old\r\n", "old")
    text = "gateways:\n  stripe:\n    webhook_secret_file: [new, old]\n"
    secret = load(tmp_path, text).gateways["stripe"].settings["webhook_secret"]
    assert secret == Secret("whsec_new", "whsec_old")


@pytest.mark.parametrize(
    ("value", "env", "problem"),
    [
        ("[]", {}, "webhook_secret: is an empty list (leave the key out when there is no secret)"),
        ("[whsec_new, '']", {}, "webhook_secret[1]: is empty (leave the key out when there is no secret)"),
        ("[whsec_new, '${OLD}']", {"OLD": ""}, "webhook_secret[1]: is empty"),
        (
            "\n      - whsec_new\n      -\n",
            {},
            "webhook_secret[1]: is empty (a `-` with nothing after it): give the secret or remove the item",
        ),
        ("[whsec_new, '${OLD}']", {}, "webhook_secret[1]: environment variable OLD is not set"),
        ("[whsec_new, yes]", {}, "webhook_secret[1]: expected a string; YAML reads this as true or false"),
        (
            "[whsec_hunter2, '${OLD}']",
            {"OLD": "whsec_hunter2"},
            "webhook_secret[1]: is the same secret as item [0]: list each secret once",
        ),
    ],
)
def test_a_wrong_list_of_secrets_is_a_one_line_error_naming_the_item(
    tmp_path: Path, value: str, env: dict[str, str], problem: str
) -> None:
    message = error_of(tmp_path, f"gateways:\n  stripe:\n    webhook_secret: {value}\n", env)
    assert f"gateways.stripe.{problem}" in message
    assert "hunter2" not in message and "whsec_new" not in message


def test_a_list_of_secret_files_is_checked_file_by_file(tmp_path: Path) -> None:
    write(tmp_path, "whsec_new\n", "new")
    write(tmp_path, "whsec_hunter2\n\nwhsec_older\n", "old")
    write(tmp_path, "whsec_new\n", "copy")
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: [new, old]\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret_file[1]: 'old' holds more than one line: the file must hold the "
        "secret alone: an earlier secret goes in a file of its own, listed after this one"
    )
    assert "hunter2" not in message
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: [new, copy]\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret_file[1]: is the same secret as item [0]: list each secret once"
    )
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: [new, '']\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret_file[1]: is empty (leave the key out when there is no secret)"
    )
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: []\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret_file: is an empty list (leave the key out when there is no secret)"
    )


def test_secret_equality_with_earlier_ones_is_constant_time_and_counts_them() -> None:
    assert Secret("a", "b") == Secret("a", "b")
    assert Secret("a", "b") != Secret("b", "a")  # which one is current matters
    assert Secret("a", "b") != Secret("a")
    assert Secret("a", "b") and not Secret("")
    assert Secret("a", "b").count == 2 and Secret("a").count == 1


@pytest.mark.parametrize(
    ("value", "read"),
    [("yes", "true or false"), ("2026-11-26", "a date"), ("1234.5678", "a number"), (".NaN", "a number")],
)
def test_a_secret_yaml_reads_as_another_type_says_to_quote_it_without_the_value(
    tmp_path: Path, value: str, read: str
) -> None:
    message = error_of(tmp_path, f"gateways:\n  nexi:\n    mac_key: {value}\n")
    assert message.endswith(
        f"gateways.nexi.mac_key: expected a string; YAML reads this as {read}: put the value in quotes"
    )
    assert value not in message


def test_a_numeric_secret_is_accepted_as_text(tmp_path: Path) -> None:
    secret = load(tmp_path, "gateways:\n  skrill:\n    merchant_id: '1'\n    secret_word: 12345\n")
    assert secret.gateways["skrill"].settings["secret_word"] == Secret("12345")


def test_no_error_contains_a_secret(tmp_path: Path) -> None:
    text = "gateways:\n  stripe:\n    webhook_secret: ${S}\n    tolerance_seconds: x\n"
    assert "TOPSECRET" not in error_of(tmp_path, text, {"S": "TOPSECRET"})


def test_secret_is_never_shown() -> None:
    secret = Secret("hunter2")
    assert str(secret) == "***"
    assert repr(secret) == "***"
    assert f"{secret}" == "***"
    assert f"{secret!r}" == "***"
    assert f"{secret:>5}" == "  ***"
    assert "%s %r" % (secret, secret) == "*** ***"  # noqa: UP031  # the logging style of formatting
    assert "hunter2" not in repr({"key": secret}) and "hunter2" not in repr([secret])


def test_secret_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("paycli.test").info("using %s / %r", Secret("hunter2"), Secret("hunter2"))
    assert "hunter2" not in caplog.text
    assert "using *** / ***" in caplog.text


def test_gateway_and_config_repr_hide_secrets(tmp_path: Path) -> None:
    config = load(tmp_path, "gateways:\n  stripe:\n    webhook_secret: ${S}\n", {"S": "hunter2"})
    assert "hunter2" not in repr(config)


def test_secret_truth_and_reveal() -> None:
    assert Secret("x") and not Secret("")
    assert Secret("x").reveal() == "x"


def test_secret_equality_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Secret("abc") == Secret("abc")
    assert Secret("abc") != Secret("abd")
    assert Secret("è") == Secret("è")  # non-ASCII works (compare_digest refuses non-ASCII str)
    assert len(calls) == 3


def test_a_secret_equals_only_a_secret_and_is_unhashable() -> None:
    assert Secret("abc") != "abc"
    with pytest.raises(TypeError):
        hash(Secret("abc"))


# --------------------------------------------------------------------------------------------------
# The spec itself


def test_a_spec_with_an_unsupported_kind_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        Setting(float)
    with pytest.raises(TypeError):
        Setting(int, choices=("1",))


# --------------------------------------------------------------------------------------------------
# The database URL: --db, then PAYCLI_DB, then the file, then the default


def test_database_url_precedence(tmp_path: Path) -> None:
    from_file = load(tmp_path, "database: sqlite:///from-file.db\n")
    env = {"PAYCLI_DB": "sqlite:///from-env.db"}
    assert resolve_database_url("sqlite:///option.db", from_file, env=env) == "sqlite:///option.db"
    assert resolve_database_url(None, from_file, env=env) == "sqlite:///from-env.db"
    # the file's relative path is relative to the file's folder, as every path in it is
    assert resolve_database_url(None, from_file, env={}) == f"sqlite:///{tmp_path.absolute()}/from-file.db"
    no_file = load_config(None, PROVIDERS, env={})
    assert resolve_database_url(None, no_file, env={}) == default_database_url()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("paycli.db", "{folder}/paycli.db"),
        ("data/paycli.db", "{folder}/data/paycli.db"),
        ("sqlite:///data/paycli.db", "sqlite:///{folder}/data/paycli.db"),
        ("/srv/paycli.db", "/srv/paycli.db"),
        ("sqlite:////srv/paycli.db", "sqlite:////srv/paycli.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        # no SQLite file: left as written, for the store to refuse with its own message
        ("host=db dbname=paycli password=s3cret", "host=db dbname=paycli password=s3cret"),
        ("postgresql:/db.example/paycli", "postgresql:/db.example/paycli"),
    ],
)
def test_a_relative_store_path_in_the_file_is_taken_from_the_file_s_folder_not_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, expected: str
) -> None:
    # cron runs `paycli ingest` in another folder: a store beside the configuration was made anew there
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "paycli.yaml").write_text(f"database: '{written}'\n")
    elsewhere = tmp_path / "cron"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../etc/paycli.yaml"), PROVIDERS, env={})
    assert resolve_database_url(None, config, env={}) == expected.format(folder=folder)
    # an option's or the environment's, like every option's path, is the current folder's
    assert resolve_database_url(written, config, env={}) == written
    assert resolve_database_url(None, config, env={"PAYCLI_DB": written}) == written


def test_a_store_left_where_a_relative_path_used_to_lead_is_said_not_replaced_by_an_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # database: paycli.db, and cron always started in /var/lib/paycli: the store is there, not beside
    # the configuration; taken from the configuration's folder, the next ingest would make a new one
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "paycli.yaml").write_text("database: paycli.db\n")
    work = tmp_path / "var"
    work.mkdir()
    (work / "paycli.db").write_bytes(b"SQLite format 3\x00")
    monkeypatch.chdir(work)
    config = load_config(folder / "paycli.yaml", PROVIDERS, env={})
    with pytest.raises(
        ConfigError, match=r"paycli\.yaml: database: 'paycli\.db' is taken from this file's folder"
    ) as raised:
        resolve_database_url(None, config, env={})
    assert f"there is one at {work / 'paycli.db'}" in str(raised.value)
    # moved there (or the configuration's folder has its own): taken, the other one is no concern
    (folder / "paycli.db").write_bytes(b"SQLite format 3\x00")
    assert resolve_database_url(None, config, env={}) == f"{folder}/paycli.db"
    assert resolve_database_url("paycli.db", config, env={}) == "paycli.db"  # --db: the current folder's


@pytest.mark.parametrize("written", ["~/shop/paycli.db", "sqlite:///~/shop/paycli.db"])
def test_a_sqlite_path_in_the_home_folder_is_expanded_not_made_a_folder_named_tilde(
    tmp_path: Path, written: str
) -> None:
    home = Path.home()
    expected = ("sqlite:///" if written.startswith("sqlite") else "") + str(home / "shop" / "paycli.db")
    assert resolve_database_url(None, load(tmp_path, f"database: '{written}'\n"), env={}) == expected
    assert (
        resolve_database_url(None, load_config(None, PROVIDERS, env={}), env={"PAYCLI_DB": written})
        == expected
    )
    assert resolve_database_url(written, load_config(None, PROVIDERS, env={}), env={}) == expected
    postgres = "postgresql+psycopg://u@h/db?options=~x"
    assert resolve_database_url(postgres, load_config(None, PROVIDERS, env={}), env={}) == postgres


def test_a_path_in_an_unknown_user_s_home_is_an_error_naming_where_it_came_from(tmp_path: Path) -> None:
    from paycli.errors import UsageError

    config = load(tmp_path, "database: ~no-such-user-x/paycli.db\n")
    with pytest.raises(
        ConfigError, match=r"paycli\.yaml: database: '~no-such-user-x/paycli\.db' names the home"
    ):
        resolve_database_url(None, config, env={})
    with pytest.raises(
        UsageError, match=r"^PAYCLI_DB: '~no-such-user-x/x' names the home folder of no user$"
    ):
        resolve_database_url(None, config, env={"PAYCLI_DB": "~no-such-user-x/x"})
    with pytest.raises(UsageError, match=r"^--db: '~no-such-user-x/x' names the home folder of no user$"):
        resolve_database_url("~no-such-user-x/x", config, env={})


def test_a_secret_file_in_an_unknown_user_s_home_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    message = error_of(tmp_path, "gateways:\n  stripe:\n    webhook_secret_file: ~no-such-user-x/whsec\n")
    assert message.endswith(
        "gateways.stripe.webhook_secret_file: names the home folder of no user ('~name'): give the file's path"
    )
    assert "no-such-user-x" not in message


def test_default_database_url_is_a_sqlite_file_in_the_user_data_folder() -> None:
    import platformdirs

    expected = platformdirs.user_data_path("paycli") / "paycli.db"
    assert default_database_url() == "sqlite:///" + expected.as_posix()


def test_a_structured_setting_error_names_the_key_inside_it(tmp_path: Path) -> None:
    from paycli.config import SettingProblem

    def columns(value: object) -> object:
        assert isinstance(value, dict)
        if "amount" not in value:
            raise SettingProblem("amount", "required column mapping is missing")
        return value

    spec = {"bank": {"columns": Setting(dict, required=True, check=columns)}}
    path = tmp_path / "paycli.yaml"
    path.write_text("gateways:\n  mybank:\n    provider: bank\n    columns: {date: Data}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, spec, env={})
    assert str(info.value) == f"{path}: gateways.mybank.columns.amount: required column mapping is missing"
