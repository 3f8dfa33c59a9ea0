"""The period of a report (local days across daylight saving) and the report: and smtp: settings."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from paycli.config import Secret
from paycli.errors import ConfigError, UsageError
from paycli.reports.period import resolve_period
from tests.conftest import make_config

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)  # 07:30 in Rome


def test_the_default_period_is_yesterday_as_a_local_day():
    p = resolve_period(ROME, NOW)
    assert (p.first, p.last, p.label, p.slug) == (
        date(2026, 11, 26),
        date(2026, 11, 26),
        "2026-11-26",
        "2026-11-26",
    )
    assert p.start == datetime(2026, 11, 25, 23, tzinfo=UTC) and p.end == datetime(
        2026, 11, 26, 23, tzinfo=UTC
    )


def test_yesterday_is_the_local_day_even_just_after_local_midnight():
    just_after = datetime(2026, 11, 26, 23, 5, tzinfo=UTC)  # 00:05 on the 27th in Rome
    assert resolve_period(ROME, just_after).first == date(2026, 11, 26)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_daylight_saving_days_last_23_and_25_hours(day, hours):
    p = resolve_period(ROME, NOW, day=day)
    assert p.end - p.start == timedelta(hours=hours)


def test_periods_by_name_and_by_bounds():
    week = resolve_period(ROME, NOW, period="last-7-days")
    assert (week.first, week.last) == (date(2026, 11, 20), date(2026, 11, 26))
    assert week.slug == "2026-11-20_2026-11-26"
    march = resolve_period(ROME, NOW, period="2026-03")
    assert (march.first, march.last, march.slug) == (date(2026, 3, 1), date(2026, 3, 31), "2026-03")
    assert march.end - march.start == timedelta(days=31, hours=-1)  # March loses an hour in Rome
    december = resolve_period(ROME, NOW, period="2026-12")
    assert december.last == date(2026, 12, 31)
    today = resolve_period(ROME, NOW, period="today")
    assert today.first == date(2026, 11, 27)
    since = resolve_period(ROME, NOW, since="3d")
    assert (since.first, since.last) == (date(2026, 11, 24), date(2026, 11, 27))
    until = resolve_period(ROME, NOW, until="yesterday")
    assert (until.first, until.last) == (date(2026, 11, 26), date(2026, 11, 26))


def test_consecutive_daily_reports_tile_without_gap_or_overlap():
    days = [
        resolve_period(ROME, NOW, day=(date(2026, 3, 27) + timedelta(days=i)).isoformat()) for i in range(4)
    ]
    assert all(a.end == b.start for a, b in itertools.pairwise(days))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"day": "9999-12-31"}, "--date: '9999-12-31' is out of range"),  # it has no day after it
        ({"day": "0001-01-01"}, "--date: '0001-01-01' is out of range"),  # it starts in year 0 in Rome
        ({"day": "800000d"}, "--date: '800000d' is out of range"),
        ({"period": "9999-12"}, "--period: '9999-12' is out of range"),
        ({"since": "0001-01-01", "until": "0001-01-02"}, "--since: '0001-01-01' is out of range"),
        ({"since": "9999-12-01", "until": "9999-12-31"}, "--until: '9999-12-31' is out of range"),
        ({"until": "9999-12-31"}, "--until: '9999-12-31' is out of range"),
    ],
)
def test_a_period_beyond_the_calendar_is_refused_naming_its_option(kwargs, message):
    with pytest.raises(UsageError) as refused:
        resolve_period(ROME, NOW, **kwargs)
    assert str(refused.value) == message


def test_the_edges_of_the_calendar_are_periods_where_their_days_have_bounds():
    assert resolve_period(UTC, NOW, day="0001-01-01").start == datetime(1, 1, 1, tzinfo=UTC)
    november = resolve_period(ROME, NOW, period="9999-11")
    assert (november.last, november.label) == (date(9999, 11, 30), "9999-11")
    assert resolve_period(ROME, NOW, day="9999-12-30").end == datetime(9999, 12, 30, 23, tzinfo=UTC)
    january = resolve_period(UTC, NOW, period="0001-01")  # four digits, as every other year
    assert (january.label, january.slug) == ("0001-01", "0001-01")


def test_an_absurdly_long_period_is_refused():
    with pytest.raises(UsageError, match="too long"):
        resolve_period(ROME, NOW, since="1990-01-01", until="2026-01-01")


# -- configuration ----------------------------------------------------------------------------------


def test_report_and_smtp_defaults_and_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert make_config(tmp_path).smtp is None
    assert make_config(tmp_path).report["formats"] == ["html", "csv"]
    monkeypatch.setenv("SMTP_PASSWORD", "env-secret")
    config = make_config(
        tmp_path,
        "report:\n  formats: [csv]\n  csv_dialect: excel-it\n  out: /srv/reports/\n  lock_wait: 30\n  email: true\n"
        "smtp:\n  host: mail.example\n  security: ssl\n  username: shop\n  password: ${SMTP_PASSWORD}\n"
        "  from: paycli@shop.example\n  to: [owner@shop.example]\n",
    )
    assert config.report["formats"] == ["csv"] and config.report["csv_dialect"] == "excel-it"
    assert config.report["lock_wait"] == 30 and config.report["email"] is True
    assert config.smtp is not None and config.smtp["port"] == 465  # the default port of ssl
    assert isinstance(config.smtp["password"], Secret) and config.smtp["password"].reveal() == "env-secret"


def test_smtp_to_may_be_one_address_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OWNER", "owner@shop.example")
    for to in ("owner@shop.example", "' owner@shop.example '", "${OWNER}"):
        config = make_config(
            tmp_path, f"smtp:\n  host: mail.example\n  from: paycli@shop.example\n  to: {to}\n"
        )
        assert config.smtp is not None and config.smtp["to"] == ["owner@shop.example"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("report:\n  format: [html]\n", "report.format: unknown key (did you mean 'formats'?)"),
        ("report:\n  formats: [pdf]\n", "report.formats: item 1: expected html or csv, got 'pdf'"),
        ("report:\n  formats: []\n", "report.formats: give at least one of html, csv"),
        ("report:\n  csv_dialect: excel\n", "report.csv_dialect: expected one of standard, excel-it"),
        ("report:\n  lock_wait: -1\n", "report.lock_wait: must be 0 or more"),
        ("report:\n  email: true\n", "report.email: true needs an smtp: section"),
        ("smtp:\n  from: a@b.example\n  to: [c@d.example]\n", "smtp.host: required setting is missing"),
        (
            "smtp:\n  host: h\n  from: nobody\n  to: [c@d.example]\n",
            "smtp.from: 'nobody' is not an e-mail address",
        ),
        (
            "smtp:\n  host: h\n  from: a@b.example\n  to: [c@d.example, x]\n",
            "smtp.to: item 2: 'x' is not an e-mail",
        ),
        (
            "smtp:\n  host: h\n  from: a@b.example\n  to: c@d.example, e@f.example\n",
            "smtp.to: 'c@d.example, e@f.example' is not an e-mail address (several: a list, [a@b, c@d])",
        ),
        (
            "smtp:\n  host: h\n  from: a@b.example\n  to: []\n",
            "smtp.to: give at least one address",
        ),
        (
            "smtp:\n  host: h\n  port: 0\n  from: a@b.example\n  to: [c@d.example]\n",
            "smtp.port: must be a port number",
        ),
        (
            "smtp:\n  host: h\n  security: tls\n  from: a@b.example\n  to: [c@d.example]\n",
            "smtp.security: expected one of starttls, ssl, none",
        ),
        # a host that only the first mail would have refused, after the nightly report was written
        (
            "smtp:\n  host: smtp.example:587\n  from: a@b.example\n  to: [c@d.example]\n",
            "smtp.host: 'smtp.example:587': give the host name alone, and the port in its own key, port",
        ),
        (
            "smtp:\n  host: smtps://smtp.example\n  from: a@b.example\n  to: [c@d.example]\n",
            "smtp.host: 'smtps://smtp.example': give the host name alone, without a scheme",
        ),
        (
            "smtp:\n  host: smtp .example\n  from: a@b.example\n  to: [c@d.example]\n",
            "smtp.host: 'smtp .example' is not a host name",
        ),
    ],
)
def test_report_and_smtp_errors_name_the_key(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=r"paycli\.yaml: ") as info:
        make_config(tmp_path, text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "host",
    # an internationalised name, which smtplib looks up (IDNA) as it always did, was refused once the
    # host was checked on load
    ["smtp.shop.example", "localhost", "127.0.0.1", "'::1'", "'[::1]'", "relay_1.", "posta.università.it"],
)
def test_an_smtp_host_is_a_name_or_an_address(tmp_path: Path, host: str):
    config = make_config(tmp_path, f"smtp:\n  host: {host}\n  from: a@b.example\n  to: [c@d.example]\n")
    assert config.smtp is not None and config.smtp["host"] == host.strip("'[]")


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("smtp.shop.example", True),
        ("192.168.1.10", True),
        ("'::2'", True),
        ("localhost", False),
        ("LocalHost.", False),
        ("127.0.0.2", False),
        ("'[::1]'", False),
    ],
)
def test_security_none_logs_in_only_on_this_machine(tmp_path: Path, host: str, refused: bool):
    # smtplib logs in without TLS as readily as with it: the password would cross the network in clear
    text = (
        f"smtp:\n  host: {host}\n  security: none\n  username: paycli\n  password: Sup3rSecret\n"
        "  from: a@b.example\n  to: c@d.example\n"
    )
    if not refused:
        assert make_config(tmp_path, text).smtp is not None
        return
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, text)
    said = str(info.value)
    assert said.endswith(
        f"smtp.security: none would send the password of smtp.username unencrypted to {host.strip(chr(39))}: "
        "use starttls or ssl (none is for a relay on this machine, localhost)"
    ), said
    assert "Sup3rSecret" not in said
    # without a login, none is a relay's plain SMTP, wherever it is
    assert make_config(tmp_path, text.replace("  username: paycli\n  password: Sup3rSecret\n", "")).smtp


def test_an_smtp_password_never_appears_in_an_error(tmp_path: Path):
    text = "smtp:\n  host: h\n  from: a@b.example\n  to: [c@d.example]\n  password: Sup3rSecret\n"
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, text)
    assert "smtp.password: a password needs a username" in str(info.value)
    assert "Sup3rSecret" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, text.replace("password:", "username: u\n  password:") + "  password_file: x\n")
    assert "Sup3rSecret" not in str(info.value)


def test_config_example_documents_every_report_and_smtp_setting():
    import re

    from paycli.config import REPORT_SETTINGS, SMTP_SETTINGS

    text = (Path(__file__).resolve().parents[2] / "config.example.yaml").read_text()
    section = text[text.index("\nreport:") :]
    for key in [*REPORT_SETTINGS, *SMTP_SETTINGS, "password_file"]:
        assert re.search(rf"^  #? ?{key}:", section, flags=re.MULTILINE), key
