"""Specification of paycli.dates: zones, ISO 8601 input, UTC storage text, local days and durations."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tzlocal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from paycli.dates import (
    UTC,
    format_local,
    format_local_short,
    from_db,
    get_zone,
    local_day_bounds,
    machine_timezone,
    parse_duration,
    parse_timestamp,
    since_bound,
    to_db_text,
    to_utc,
    until_bound,
)
from paycli.errors import RecordError, UsageError

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Europe/Rome in 2026: clocks go 02:00 -> 03:00 on the last Sunday of March, 03:00 -> 02:00 on the last
# Sunday of October.
SPRING_DAY = date(2026, 3, 29)
AUTUMN_DAY = date(2026, 10, 25)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: a datetime with it counts as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


# --- zones ----------------------------------------------------------------------------------------------


def test_utc_is_the_standard_library_utc() -> None:
    assert UTC is timezone.utc  # noqa: UP017 - the name the contract gives


def test_machine_timezone_is_what_tzlocal_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tzlocal, "get_localzone", lambda: ROME)
    assert machine_timezone() is ROME


def test_machine_timezone_falls_back_to_utc_when_tzlocal_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> tzinfo:
        raise LookupError("no zone configured")

    monkeypatch.setattr(tzlocal, "get_localzone", broken)
    assert machine_timezone() is UTC


def test_machine_timezone_falls_back_to_utc_when_tzlocal_returns_no_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tzlocal, "get_localzone", lambda: None)
    assert machine_timezone() is UTC


def test_machine_timezone_keeps_tzlocal_warnings_off_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    def grumbling() -> tzinfo:
        warnings.warn("TZ and /etc/localtime disagree", UserWarning, stacklevel=1)
        return NEW_YORK

    monkeypatch.setattr(tzlocal, "get_localzone", grumbling)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert machine_timezone() is NEW_YORK


def test_machine_timezone_of_this_machine_is_a_usable_zone() -> None:
    zone = machine_timezone()
    assert isinstance(zone, tzinfo)
    assert utc(2026, 1, 1).astimezone(zone).utcoffset() is not None


@pytest.mark.parametrize(
    "name", ["Europe/Rome", "America/New_York", "UTC", "Australia/Lord_Howe", " Europe/Rome "]
)
def test_get_zone_returns_the_named_iana_zone(name: str) -> None:
    zone = get_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name.strip()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "Mars/Olympus",
        "Europe/rome",
        "Europe",
        "../etc/passwd",
        "/etc/localtime",
        "zone.tab",
        "a\x00b",
    ],
)
def test_get_zone_refuses_what_is_not_a_zone(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        get_zone(name)
    assert str(caught.value) == f"unknown time zone '{name}'"


# --- to_utc ---------------------------------------------------------------------------------------------


def test_to_utc_converts_an_aware_time_to_the_same_instant_in_utc() -> None:
    result = to_utc(datetime(2026, 11, 26, 10, 15, tzinfo=ROME))
    assert result == utc(2026, 11, 26, 9, 15)
    assert result.tzinfo is UTC


def test_to_utc_refuses_a_naive_time() -> None:
    with pytest.raises(TypeError, match="naive"):
        to_utc(datetime(2026, 11, 26, 10, 15))


def test_to_utc_refuses_a_time_whose_zone_has_no_offset() -> None:
    with pytest.raises(TypeError, match="naive"):
        to_utc(datetime(2026, 11, 26, 10, 15, tzinfo=_NoOffset()))


@pytest.mark.parametrize("value", [date(2026, 11, 26), "2026-11-26T10:15:00Z", 1764148500, None])
def test_to_utc_refuses_what_is_not_a_datetime(value: Any) -> None:
    with pytest.raises(TypeError):
        to_utc(value)


# --- parse_timestamp ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-26T10:15:00+01:00", utc(2026, 11, 26, 9, 15)),
        ("2026-11-26T10:15:00-05:00", utc(2026, 11, 26, 15, 15)),
        ("2026-11-26T10:15:00Z", utc(2026, 11, 26, 10, 15)),
        ("2026-11-26T10:15:00+00:00", utc(2026, 11, 26, 10, 15)),
        ("2026-11-26 10:15:00+0100", utc(2026, 11, 26, 9, 15)),
        ("2026-11-26T10:15:00.123456+01:00", utc(2026, 11, 26, 9, 15, 0, 123456)),
        ("  2026-11-26T10:15:00Z\n", utc(2026, 11, 26, 10, 15)),
    ],
)
def test_timestamp_with_an_offset_is_that_instant(text: str, instant: datetime) -> None:
    result = parse_timestamp(text, NEW_YORK)
    assert result == instant
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-26T10:15:00", utc(2026, 11, 26, 9, 15)),  # CET, +01:00
        ("2026-07-15T10:15:00", utc(2026, 7, 15, 8, 15)),  # CEST, +02:00
        ("2026-11-26 10:15", utc(2026, 11, 26, 9, 15)),
        ("20261126T101500", utc(2026, 11, 26, 9, 15)),
        ("2026-11-26T10", utc(2026, 11, 26, 9, 0)),
    ],
)
def test_timestamp_without_an_offset_is_a_wall_time_in_the_zone_of_its_date(
    text: str, instant: datetime
) -> None:
    result = parse_timestamp(text, ROME)
    assert result == instant
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-26", utc(2026, 11, 25, 23)),
        ("2026-07-15", utc(2026, 7, 14, 22)),
        ("20261126", utc(2026, 11, 25, 23)),
    ],
)
def test_date_only_timestamp_is_local_midnight(text: str, instant: datetime) -> None:
    assert parse_timestamp(text, ROME) == instant


def test_date_only_timestamp_on_a_day_without_midnight_is_the_first_instant_of_that_day() -> None:
    # Havana moves its clocks from 00:00 to 01:00: the day begins at 01:00 -04:00.
    assert parse_timestamp("2026-03-08", ZoneInfo("America/Havana")) == utc(2026, 3, 8, 5)


def test_naive_time_in_the_spring_gap_is_read_with_the_offset_before_the_change() -> None:
    # 02:30 does not exist in Rome on 2026-03-29. fold=0 (PEP 495, the zone's standard reading) uses the
    # offset in force before the change (+01:00): 01:30 UTC, which the clock shows as 03:30.
    result = parse_timestamp("2026-03-29T02:30:00", ROME)
    assert result == utc(2026, 3, 29, 1, 30)
    assert format_local(result, ROME) == "2026-03-29T03:30:00+02:00"


def test_naive_time_in_the_autumn_repeated_hour_is_its_first_occurrence() -> None:
    # 02:30 happens twice in Rome on 2026-10-25 (at +02:00, then at +01:00). fold=0 picks the first.
    result = parse_timestamp("2026-10-25T02:30:00", ROME)
    assert result == utc(2026, 10, 25, 0, 30)
    assert format_local(result, ROME) == "2026-10-25T02:30:00+02:00"


def test_an_explicit_offset_picks_the_second_occurrence_of_the_repeated_hour() -> None:
    assert parse_timestamp("2026-10-25T02:30:00+01:00", ROME) == utc(2026, 10, 25, 1, 30)


def test_naive_time_with_a_fixed_offset_zone() -> None:
    assert parse_timestamp("2026-11-26T10:15", timezone(timedelta(hours=5, minutes=30))) == utc(
        2026, 11, 26, 4, 45
    )


@pytest.mark.parametrize(
    "text",
    [
        "26/11/2026", "2026-11-26T25:00", "2026-02-30", "2026-13-01", "2026-11-26T10:15:00+25:00", "yesterday",
        "1764148500", "2026-11-26 10:15 CET", "2026-11-26T10:15:00 Europe/Rome", "Nov 26 2026", "abc", "T10:15",
    ],
)  # fmt: skip
def test_timestamp_that_is_not_iso_8601_is_refused(text: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_timestamp(text, ROME)
    assert str(caught.value) == f"created_at '{text}' is not an ISO 8601 date-time"


def test_timestamp_error_names_the_field_it_came_from() -> None:
    with pytest.raises(RecordError, match=r"^occurred_at '26/11/2026' is not an ISO 8601 date-time$"):
        parse_timestamp("26/11/2026", ROME, field="occurred_at")


@pytest.mark.parametrize("text", ["", "  "])
def test_empty_timestamp_is_refused(text: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_timestamp(text, ROME)
    assert str(caught.value) == f"created_at '{text}' is empty"


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00"]
)
def test_timestamp_outside_the_representable_range_is_refused(text: str) -> None:
    with pytest.raises(RecordError, match=r"is out of range$"):
        parse_timestamp(text, ROME)


def test_timestamp_that_is_not_text_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_timestamp(datetime(2026, 11, 26), ROME)  # type: ignore[arg-type]


# --- storage text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (utc(2026, 11, 26, 9, 15), "2026-11-26 09:15:00.000000"),
        (utc(2026, 11, 26, 9, 15, 0, 120), "2026-11-26 09:15:00.000120"),
        (datetime(2026, 11, 26, 10, 15, tzinfo=ROME), "2026-11-26 09:15:00.000000"),
        (datetime(2026, 1, 1, 0, 30, tzinfo=ROME), "2025-12-31 23:30:00.000000"),
        (utc(999, 1, 2, 3, 4, 5, 6), "0999-01-02 03:04:05.000006"),
    ],
)
def test_db_text_is_fixed_width_utc_with_microseconds(dt: datetime, text: str) -> None:
    assert to_db_text(dt) == text
    assert len(to_db_text(dt)) == 26


def test_db_text_refuses_a_naive_time() -> None:
    with pytest.raises(TypeError):
        to_db_text(datetime(2026, 11, 26, 9, 15))


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2026-11-26 09:15:00.000120", utc(2026, 11, 26, 9, 15, 0, 120)),
        ("2026-11-26 09:15:00", utc(2026, 11, 26, 9, 15)),
        ("2026-11-26 09:15:00.123", utc(2026, 11, 26, 9, 15, 0, 123000)),
        ("2026-11-26 09:15:00+00:00", utc(2026, 11, 26, 9, 15)),
        ("2026-11-26 09:15:00.5+00:00", utc(2026, 11, 26, 9, 15, 0, 500000)),
        ("2026-11-26 10:15:00+01:00", utc(2026, 11, 26, 9, 15)),
        ("2026-11-26T09:15:00Z", utc(2026, 11, 26, 9, 15)),
        (datetime(2026, 11, 26, 9, 15), utc(2026, 11, 26, 9, 15)),
        (datetime(2026, 11, 26, 10, 15, tzinfo=ROME), utc(2026, 11, 26, 9, 15)),
        (datetime(2026, 11, 26, 9, 15, tzinfo=_NoOffset()), utc(2026, 11, 26, 9, 15)),
    ],
)
def test_from_db_reads_stored_text_and_driver_datetimes_as_utc(
    value: str | datetime, instant: datetime
) -> None:
    result = from_db(value)
    assert result == instant
    assert result.tzinfo is UTC


@pytest.mark.parametrize("value", ["", "yesterday", "2026-11-26 25:00:00", "26/11/2026 09:15"])
def test_from_db_refuses_text_that_is_not_a_time(value: str) -> None:
    with pytest.raises(ValueError, match=r"^stored time '.*' is not a date-time$"):
        from_db(value)


@pytest.mark.parametrize("value", [None, 1764148500, date(2026, 11, 26), b"2026-11-26 09:15:00"])
def test_from_db_refuses_other_types(value: Any) -> None:
    with pytest.raises(TypeError):
        from_db(value)


_ZONES = [
    UTC,
    ROME,
    NEW_YORK,
    LORD_HOWE,
    ZoneInfo("Asia/Kolkata"),
    timezone(timedelta(hours=-3, minutes=-30)),
]
# Built from UTC instants: a wall time generated directly in a zone may not exist (a DST gap), and such a
# datetime is not a real instant to round-trip.
_ANY_INSTANT = st.builds(
    datetime.astimezone,
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(_ZONES),
)


def _clock_changes(zone: tzinfo, year: int) -> list[datetime]:
    """The UTC instants (to the half hour) at which ``zone`` changes its offset in ``year``."""
    step = timedelta(minutes=30)
    t, out = datetime(year, 1, 1, tzinfo=UTC), []
    while t.year == year:
        if (t + step).astimezone(zone).utcoffset() != t.astimezone(zone).utcoffset():
            out.append(t + step)
        t += step
    return out


# Instants over three centuries almost never fall in the hour a clock change repeats or skips, where
# times are hardest to store and show: about half are drawn within three hours of one, in its zone.
_NEAR_A_CLOCK_CHANGE = st.builds(
    lambda change, us: (change[0] + timedelta(microseconds=us)).astimezone(change[1]),
    st.sampled_from([(t, z) for z in (ROME, NEW_YORK, LORD_HOWE) for t in _clock_changes(z, 2026)]),
    st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6),
)
_AWARE = _ANY_INSTANT | _NEAR_A_CLOCK_CHANGE


@settings(max_examples=300, database=None)
@given(dt=_AWARE)
def test_db_text_round_trips_to_the_same_instant(dt: datetime) -> None:
    back = from_db(to_db_text(dt))
    # instants, not ==: see test_shown_time_parses_back_to_the_same_second
    assert back.timestamp() == dt.timestamp()
    assert back.tzinfo is UTC
    assert from_db(dt).timestamp() == dt.timestamp()


# the hour the end of summer time repeats in Rome: 02:45 of its first pass is before 02:15 of its second
_ROME_FIRST_0245 = datetime(2026, 10, 25, 0, 45, tzinfo=UTC).astimezone(ROME)
_ROME_SECOND_0215 = datetime(2026, 10, 25, 1, 15, tzinfo=UTC).astimezone(ROME)


@settings(max_examples=300, database=None)
@given(
    a=_AWARE,
    b=_AWARE,
    # two independent instants over three centuries are never seconds apart, nor in one repeated hour
    near=st.booleans(),
    shift=st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    zone=st.sampled_from(_ZONES),
)
@example(a=_ROME_FIRST_0245, b=_ROME_SECOND_0215, near=False, shift=timedelta(0), zone=UTC)
def test_db_text_sorts_in_time_order(
    a: datetime, b: datetime, near: bool, shift: timedelta, zone: tzinfo
) -> None:
    if near:
        b = (a.astimezone(UTC) + shift).astimezone(zone)
    # instants, compared in UTC: Python compares two times of one zone by their wall clocks, fold ignored
    # (PEP 495), so in a repeated hour 02:45+02:00 < 02:15+01:00 is False (see the test below)
    assert (to_db_text(a) < to_db_text(b)) == (a.astimezone(UTC) < b.astimezone(UTC))


def test_db_text_sorts_the_repeated_hour_by_instant_not_by_wall_clock() -> None:
    # hypothesis found it: the property compared the two times with <, which Python answers by wall clock
    # for two times of one zone; the stored text is right, and sorts them in the order they happened
    assert _ROME_FIRST_0245 > _ROME_SECOND_0215  # Python's same-zone comparison: wall clock only
    assert to_db_text(_ROME_FIRST_0245) == "2026-10-25 00:45:00.000000"
    assert to_db_text(_ROME_SECOND_0215) == "2026-10-25 01:15:00.000000"
    assert to_db_text(_ROME_FIRST_0245) < to_db_text(_ROME_SECOND_0215)


# --- display --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "text", "short"),
    [
        (utc(2026, 11, 26, 9, 15), ROME, "2026-11-26T10:15:00+01:00", "2026-11-26 10:15"),
        (utc(2026, 7, 15, 8, 15), ROME, "2026-07-15T10:15:00+02:00", "2026-07-15 10:15"),
        (utc(2026, 11, 26, 9, 15, 59, 999999), ROME, "2026-11-26T10:15:59+01:00", "2026-11-26 10:15"),
        (utc(2026, 11, 26, 9, 15), UTC, "2026-11-26T09:15:00+00:00", "2026-11-26 09:15"),
        (utc(2026, 11, 26, 9, 15), NEW_YORK, "2026-11-26T04:15:00-05:00", "2026-11-26 04:15"),
        (utc(2026, 11, 26, 9, 15), LORD_HOWE, "2026-11-26T20:15:00+11:00", "2026-11-26 20:15"),
        # the hour the end of summer time repeats is told apart by its offset, and only that hour
        (utc(2026, 10, 24, 23, 59), ROME, "2026-10-25T01:59:00+02:00", "2026-10-25 01:59"),
        (utc(2026, 10, 25, 0, 0), ROME, "2026-10-25T02:00:00+02:00", "2026-10-25 02:00+02:00"),
        (utc(2026, 10, 25, 0, 30), ROME, "2026-10-25T02:30:00+02:00", "2026-10-25 02:30+02:00"),
        (utc(2026, 10, 25, 1, 30), ROME, "2026-10-25T02:30:00+01:00", "2026-10-25 02:30+01:00"),
        (utc(2026, 10, 25, 2, 0), ROME, "2026-10-25T03:00:00+01:00", "2026-10-25 03:00"),
        (
            utc(2026, 3, 29, 1, 0),
            ROME,
            "2026-03-29T03:00:00+02:00",
            "2026-03-29 03:00",
        ),  # a gap repeats nothing
        # Lord Howe moves its clocks by half an hour: 01:30 to 02:00 is seen twice on 2026-04-05
        (utc(2026, 4, 4, 14, 45), LORD_HOWE, "2026-04-05T01:45:00+11:00", "2026-04-05 01:45+11:00"),
        (utc(2026, 4, 4, 15, 15), LORD_HOWE, "2026-04-05T01:45:00+10:30", "2026-04-05 01:45+10:30"),
    ],
)
def test_times_are_shown_in_the_configured_zone(
    instant: datetime, zone: tzinfo, text: str, short: str
) -> None:
    assert format_local(instant, zone) == text
    assert format_local_short(instant, zone) == short


def test_a_table_time_may_be_given_as_the_iso_text_a_query_wrote() -> None:
    assert format_local_short("2026-10-25T02:30:00+01:00", ROME) == "2026-10-25 02:30+01:00"
    assert format_local_short("2026-11-26T10:15:00+01:00", ROME) == "2026-11-26 10:15"


def test_display_of_a_non_utc_aware_time_converts_it() -> None:
    assert format_local(datetime(2026, 11, 26, 4, 15, tzinfo=NEW_YORK), ROME) == "2026-11-26T10:15:00+01:00"


def test_display_refuses_a_naive_time() -> None:
    with pytest.raises(TypeError):
        format_local(datetime(2026, 11, 26, 9, 15), ROME)
    with pytest.raises(TypeError):
        format_local_short(datetime(2026, 11, 26, 9, 15), ROME)


@settings(max_examples=200, database=None)
@given(dt=_AWARE, zone=st.sampled_from(_ZONES))
def test_shown_time_parses_back_to_the_same_second(dt: datetime, zone: tzinfo) -> None:
    # compared as instants: Python never calls a time in a repeated (DST) interval equal to a time in
    # another zone (PEP 495), so == would fail on the very times this test is about
    assert parse_timestamp(format_local(dt, zone), UTC).timestamp() == dt.replace(microsecond=0).timestamp()


# --- local days -----------------------------------------------------------------------------------------


def test_an_ordinary_day_in_rome_is_24_hours_from_local_midnight() -> None:
    assert local_day_bounds(date(2026, 11, 26), ROME) == (utc(2026, 11, 25, 23), utc(2026, 11, 26, 23))


def test_the_spring_day_in_rome_is_23_hours_long() -> None:
    start, end = local_day_bounds(SPRING_DAY, ROME)
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert end - start == 23 * HOUR


def test_the_autumn_day_in_rome_is_25_hours_long() -> None:
    start, end = local_day_bounds(AUTUMN_DAY, ROME)
    assert (start, end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert end - start == 25 * HOUR


def test_a_utc_day_is_the_calendar_day() -> None:
    assert local_day_bounds(date(2026, 3, 29), UTC) == (utc(2026, 3, 29), utc(2026, 3, 30))


def test_a_fixed_offset_day_is_shifted_by_the_offset() -> None:
    zone = timezone(timedelta(hours=-3))
    assert local_day_bounds(date(2026, 3, 29), zone) == (utc(2026, 3, 29, 3), utc(2026, 3, 30, 3))


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        # Clocks jump from 00:00 to 01:00: the day starts at 01:00 local.
        ("America/Havana", date(2026, 3, 8), utc(2026, 3, 8, 5), 23),
        ("America/Santiago", date(2026, 9, 6), utc(2026, 9, 6, 4), 23),
        ("Asia/Beirut", date(2026, 3, 29), utc(2026, 3, 28, 22), 23),
        # Clocks go back from 01:00 to 00:00: the day starts at the first of the two midnights.
        ("America/Havana", date(2026, 11, 1), utc(2026, 11, 1, 4), 25),
        # Clocks go back from 24:00 to 23:00: the day before gets the extra hour.
        ("America/Santiago", date(2026, 4, 4), utc(2026, 4, 4, 3), 25),
    ],
)
def test_days_whose_midnight_is_skipped_or_repeated(
    zone: str, day: date, start: datetime, hours: int
) -> None:
    bounds = local_day_bounds(day, ZoneInfo(zone))
    assert bounds[0] == start
    assert bounds[1] - bounds[0] == hours * HOUR


@pytest.mark.parametrize("day", [datetime(2026, 11, 26), "2026-11-26", None])
def test_local_day_bounds_takes_only_a_date(day: Any) -> None:
    with pytest.raises(TypeError):
        local_day_bounds(day, ROME)


_DST_DAYS: dict[tzinfo, dict[date, timedelta]] = {
    ROME: {SPRING_DAY: 23 * HOUR, AUTUMN_DAY: 25 * HOUR},
    NEW_YORK: {date(2026, 3, 8): 23 * HOUR, date(2026, 11, 1): 25 * HOUR},
    # Lord Howe moves its clocks by 30 minutes.
    LORD_HOWE: {date(2026, 4, 5): 24 * HOUR + HOUR / 2, date(2026, 10, 4): 23 * HOUR + HOUR / 2},
}


@pytest.mark.parametrize("zone", list(_DST_DAYS), ids=str)
def test_local_days_of_2026_tile_and_only_dst_days_differ_from_24_hours(zone: tzinfo) -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        start, end = local_day_bounds(day, zone)
        assert end == local_day_bounds(day + DAY, zone)[0], day
        assert end - start == _DST_DAYS[zone].get(day, 24 * HOUR), day
        assert start.astimezone(zone).replace(tzinfo=None) == datetime(day.year, day.month, day.day), day
        assert start.tzinfo is UTC and end.tzinfo is UTC
        day += DAY


@settings(max_examples=300, database=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    # Havana and Santiago change their clocks at midnight: some of their days have no midnight, or two
    zone=st.sampled_from(
        [ROME, NEW_YORK, LORD_HOWE, ZoneInfo("America/Havana"), ZoneInfo("America/Santiago")]
    ),
)
def test_every_instant_falls_inside_the_bounds_of_its_local_day(instant: datetime, zone: tzinfo) -> None:
    start, end = local_day_bounds(instant.astimezone(zone).date(), zone)
    assert start <= instant < end


# --- --since and --until --------------------------------------------------------------------------------

# 10:00 in Rome on Friday 2026-11-27.
NOW = utc(2026, 11, 27, 9)


US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026-11-20", utc(2026, 11, 19, 23), utc(2026, 11, 20, 23)),
        ("today", utc(2026, 11, 26, 23), utc(2026, 11, 27, 23)),
        ("yesterday", utc(2026, 11, 25, 23), utc(2026, 11, 26, 23)),
        ("0d", utc(2026, 11, 26, 23), utc(2026, 11, 27, 23)),
        ("1d", utc(2026, 11, 25, 23), utc(2026, 11, 26, 23)),
        ("7d", utc(2026, 11, 19, 23), utc(2026, 11, 20, 23)),
        ("60d", utc(2026, 9, 27, 22), utc(2026, 9, 28, 22)),
        # a moment is included by --until: its exclusive bound is the microsecond after it
        ("2026-11-20T10:00", utc(2026, 11, 20, 9), utc(2026, 11, 20, 9) + US),
        ("2026-11-20T10:00:00+05:00", utc(2026, 11, 20, 5), utc(2026, 11, 20, 5) + US),
        ("2026-11-20T10:00Z", utc(2026, 11, 20, 10), utc(2026, 11, 20, 10) + US),
    ],
)
def test_since_and_until_accept_dates_datetimes_and_relative_days(
    text: str, since: datetime, until: datetime
) -> None:
    assert since_bound(text, ROME, NOW) == since
    assert until_bound(text, ROME, NOW) == until
    assert since_bound(text, ROME, NOW).tzinfo is UTC
    assert until_bound(text, ROME, NOW).tzinfo is UTC


@pytest.mark.parametrize("text", ["TODAY", " Today ", "Yesterday", "\tyesterday\n", "7D", " 7d ", "7 d"])
def test_since_keywords_are_case_and_blank_insensitive(text: str) -> None:
    expected = since_bound(text.strip().lower().replace(" ", ""), ROME, NOW)
    assert since_bound(text, ROME, NOW) == expected


def test_today_is_the_local_day_not_the_utc_day() -> None:
    # 23:30 UTC on the 26th is already 00:30 on the 27th in Rome.
    now = utc(2026, 11, 26, 23, 30)
    assert since_bound("today", ROME, now) == utc(2026, 11, 26, 23)
    assert since_bound("today", UTC, now) == utc(2026, 11, 26)


def test_now_in_another_zone_is_the_same_instant() -> None:
    assert since_bound("today", ROME, NOW.astimezone(NEW_YORK)) == since_bound("today", ROME, NOW)


def test_since_and_until_on_the_spring_day_span_23_hours() -> None:
    since = since_bound("2026-03-29", ROME, NOW)
    until = until_bound("2026-03-29", ROME, NOW)
    assert (since, until) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))


def test_since_and_until_on_the_autumn_day_span_25_hours() -> None:
    since = since_bound("2026-10-25", ROME, NOW)
    until = until_bound("2026-10-25", ROME, NOW)
    assert (since, until) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))


def test_a_range_across_both_dst_changes_counts_whole_local_days() -> None:
    since = since_bound("2026-03-28", ROME, NOW)
    until = until_bound("2026-10-25", ROME, NOW)
    assert since == utc(2026, 3, 27, 23)
    assert until == utc(2026, 10, 25, 23)
    # 212 local days, one of 23 hours and one of 25.
    assert until - since == 212 * DAY


def test_relative_days_counted_back_across_a_dst_change_land_on_local_midnight() -> None:
    now = utc(2026, 3, 30, 10)  # Monday after the spring change
    assert since_bound("2d", ROME, now) == utc(2026, 3, 27, 23)  # Saturday 00:00 +01:00
    assert until_bound("1d", ROME, now) == utc(2026, 3, 29, 22)  # end of Sunday, 00:00 +02:00


def test_naive_datetime_bounds_in_the_dst_gap_and_repeated_hour_read_with_fold_0() -> None:
    assert since_bound("2026-03-29T02:30", ROME, NOW) == utc(2026, 3, 29, 1, 30)
    assert until_bound("2026-10-25T02:30", ROME, NOW) == utc(2026, 10, 25, 0, 30) + US


@pytest.mark.parametrize(
    "text",
    [
        "12/11",
        "",
        "  ",
        "tomorrow",
        "last week",
        "d",
        "-1d",
        "7",
        "7w",
        "1.5d",
        "2026-11-31",
        "26-11-2026",
        "now",
    ],
)
def test_since_refuses_what_is_not_a_date(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        since_bound(text, ROME, NOW)
    assert str(caught.value) == (
        f"--since: '{text}' is not a date (use YYYY-MM-DD, an ISO date-time, today, yesterday or Nd)"
    )


def test_until_refuses_what_is_not_a_date_naming_itself() -> None:
    with pytest.raises(UsageError, match=r"^--until: '12/11' is not a date \(use YYYY-MM-DD"):
        until_bound("12/11", ROME, NOW)


def test_bound_errors_name_the_option_given_by_the_caller() -> None:
    with pytest.raises(UsageError, match=r"^--from: 'soon' is not a date"):
        since_bound("soon", ROME, NOW, option="--from")
    with pytest.raises(UsageError, match=r"^--to: 'soon' is not a date"):
        until_bound("soon", ROME, NOW, option="--to")


@pytest.mark.parametrize(
    ("bound", "text"),
    [
        (since_bound, "1000000d"),
        (since_bound, "9" * 5000 + "d"),
        (until_bound, "9999-12-31"),
        (since_bound, "0001-01-01"),
    ],
)
def test_bounds_outside_the_calendar_are_refused(bound: Any, text: str) -> None:
    with pytest.raises(UsageError, match=r"is out of range$"):
        bound(text, ROME, NOW)


def test_bounds_need_an_aware_now() -> None:
    with pytest.raises(TypeError):
        since_bound("today", ROME, datetime(2026, 11, 27, 10))


# --- durations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("90s", timedelta(seconds=90)),
        ("2m", timedelta(minutes=2)),
        ("1h", timedelta(hours=1)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("1 h 30 m", timedelta(hours=1, minutes=30)),
        ("1H30M", timedelta(hours=1, minutes=30)),
        ("0s", timedelta(0)),
        ("0d", timedelta(0)),
        ("48h", timedelta(days=2)),
    ],
)
def test_durations_are_numbers_with_units(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "90",
        "h",
        "1x",
        "1.5h",
        "-1h",
        "+1h",
        "30m1h",
        "1h1h",
        "1d 2",
        "P1D",
        "1 hour",
        "one day",
        "1y",
        "1ms",
    ],
)
def test_bad_durations_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(text)
    assert str(caught.value) == (
        f"--older-than: '{text}' is not a duration "
        "(use a number and a unit s, m, h, d or w, such as 90s, 2m, 1h, 3d, 1w or 1h30m)"
    )


def test_duration_errors_name_the_option_given_by_the_caller() -> None:
    with pytest.raises(UsageError, match=r"^--max-age: '1y' is not a duration"):
        parse_duration("1y", option="--max-age")


@pytest.mark.parametrize("text", ["999999999999w", "9" * 5000 + "s"])
def test_durations_beyond_what_a_timedelta_holds_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--older-than: '.*' is too long a duration$"):
        parse_duration(text)
