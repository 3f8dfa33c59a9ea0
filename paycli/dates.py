"""Time: time zones, ISO 8601 parsing, UTC storage text, local display, local day bounds and durations.

Every instant paycli keeps is an aware ``datetime`` in UTC (design.md section 7); a zone is applied only when
reading input without an offset and when showing a time. Day boundaries for ``--since``, ``--until`` and
reports are local days, so they are computed from the zone's rules for that date and are right on the 23 h
and 25 h days of daylight saving changes. A naive local time that falls in a DST gap or repeated hour is
read with ``fold=0`` (PEP 495): in the repeated hour, the first occurrence; in the gap, the offset in force
before the change (Europe/Rome 02:30 on the spring day is 01:30 UTC, shown as 03:30).
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paycli.errors import RecordError, UsageError

__all__ = [
    "UTC",
    "format_local",
    "format_local_short",
    "from_db",
    "get_zone",
    "local_day_bounds",
    "machine_timezone",
    "parse_duration",
    "parse_timestamp",
    "since_bound",
    "to_db_text",
    "to_utc",
    "until_bound",
]

_DAYS_AGO = re.compile(r"([0-9]+)\s*d")
_DURATION = re.compile(
    r"(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?"
)
_DURATION_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def machine_timezone() -> tzinfo:
    """The machine's IANA zone (via tzlocal), or UTC when it cannot be determined."""
    # Imported here: tzlocal reads system files, and most commands never need the machine's zone.
    import tzlocal

    try:
        # tzlocal warns (rather than fails) about an inconsistent setup; from cron that would be mail
        # on every run, while the fallback below already gives a usable answer.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zone = tzlocal.get_localzone()
    except Exception:  # any failure of a system probe means "unknown", which is UTC
        return UTC
    return zone if isinstance(zone, tzinfo) else UTC


def get_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name`` (``Europe/Rome``); ``ValueError`` if there is no such zone."""
    try:
        return ZoneInfo(name.strip())
    # ValueError: not a relative key or not a TZif file; OSError: a folder such as "Europe".
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone '{name}'") from None


def to_utc(dt: datetime) -> datetime:
    """The same instant in UTC. A naive ``dt`` is a programming error: its zone is unknown."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, not {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TypeError(f"naive datetime {dt.isoformat()} has no time zone")
    return dt.astimezone(UTC)


def _localise(naive: datetime, tz: tzinfo) -> datetime:
    # fold=0 is the zone's standard reading of a repeated or skipped wall time (see the module docstring).
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant (UTC) whose wall date in ``tz`` is ``day``."""
    midnight = datetime.combine(day, time())
    early = midnight.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = midnight.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(early, late), max(early, late)
    if lo.astimezone(tz).replace(tzinfo=None) == midnight:
        return lo
    if hi.astimezone(tz).replace(tzinfo=None) == midnight:
        return hi
    # Midnight itself is skipped (Havana, Santiago and others change their clocks at 00:00), so the day
    # starts at the change. It lies between the two readings of midnight; transitions are whole seconds.
    lo_s, hi_s = 0, int((hi - lo).total_seconds())
    while lo_s < hi_s:
        mid = (lo_s + hi_s) // 2
        if (lo + timedelta(seconds=mid)).astimezone(tz).replace(tzinfo=None) >= midnight:
            hi_s = mid
        else:
            lo_s = mid + 1
    return lo + timedelta(seconds=lo_s)


def parse_timestamp(text: str, tz: tzinfo, *, field: str = "created_at") -> datetime:
    """An ISO 8601 date-time (or a date, meaning the start of that local day) as an aware UTC datetime.

    Anything ``datetime.fromisoformat`` accepts is accepted, ``Z`` included; a value without an offset is
    a wall time in ``tz``. Bad input raises ``RecordError`` naming ``field`` and quoting the text.
    """
    if not isinstance(text, str):
        raise TypeError(f"{field} must be a str, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise RecordError(f"{field} '{text}' is empty")
    try:
        try:
            return _day_start(date.fromisoformat(stripped), tz)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(stripped)
        except ValueError:
            raise RecordError(f"{field} '{text}' is not an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            return _localise(parsed, tz)
        return parsed.astimezone(UTC)
    except OverflowError:
        # Year 1 or 9999 next to an offset: the instant has no UTC representation.
        raise RecordError(f"{field} '{text}' is out of range") from None


def to_db_text(dt: datetime) -> str:
    """The UTC time as ``YYYY-MM-DD HH:MM:SS.ffffff``: fixed width, so it sorts as text (SQLite)."""
    # what the providers hand over is UTC already: no conversion to pay for, a million times an ingest
    if getattr(dt, "tzinfo", None) is not UTC:
        dt = to_utc(dt)
    return dt.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def from_db(value: str | datetime) -> datetime:
    """The aware UTC datetime of a stored time: ``to_db_text`` output or a driver's datetime.

    Text may lack the fraction or carry an offset; a naive datetime or text is taken as UTC, since that is
    how paycli stores every time. Unreadable text raises ``ValueError``.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"stored time '{value}' is not a date-time") from None
    else:
        raise TypeError(f"expected a str or datetime, not {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_local(dt: datetime, tz: tzinfo) -> str:
    """ISO 8601 with the offset of ``tz``, to the second: ``2026-11-26T10:15:00+01:00``; in UTC where
    ``tz``'s calendar has no room for it (``_shown_in``)."""
    return _shown_in(to_utc(dt), tz).isoformat(timespec="seconds")


def _shown_in(utc: datetime, tz: tzinfo) -> datetime:
    """``utc`` in ``tz``, or left in UTC where that falls outside years 1..9999: 0001-01-01T00:30Z, an
    ERP's "no date", is in year 0 west of UTC, and every list, show and report failed on it (exit 70)."""
    try:
        return utc.astimezone(tz)
    except OverflowError:
        return utc


def format_local_short(dt: datetime | str, tz: tzinfo) -> str:
    """The wall time in ``tz`` to the minute, for tables: ``2026-11-26 10:15``. In the hour that the end
    of daylight saving time repeats, with its offset (``2026-10-25 02:30+02:00``, then ``+01:00``), so
    that the two are told apart. ``dt`` may be an ISO 8601 text with its offset."""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    local = _shown_in(to_utc(dt), tz)
    text = local.replace(tzinfo=None).isoformat(sep=" ", timespec="minutes")
    if local.tzinfo is UTC and tz is not UTC:  # outside tz's calendar: said to be UTC
        return text + "Z"
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return text + local.isoformat(timespec="minutes")[16:]
    return text


def local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The UTC start (inclusive) and end (exclusive) of the local ``day`` in ``tz``.

    The end is the start of the next day, so consecutive days tile with neither gap nor overlap.
    """
    # datetime is a date subclass: passing one is almost always a caller who meant something else.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, not {type(day).__name__}")
    return _day_start(day, tz), _day_start(day + timedelta(days=1), tz)


def _bad_date(option: str, text: str) -> UsageError:
    return UsageError(
        f"{option}: '{text}' is not a date (use YYYY-MM-DD, an ISO date-time, today, yesterday or Nd)"
    )


_MICROSECOND = timedelta(microseconds=1)


def _bound(text: str, tz: tzinfo, now: datetime, option: str, end_of_day: bool) -> datetime:
    stripped = text.strip()
    keyword = stripped.lower()
    today = to_utc(now).astimezone(tz).date()
    try:
        day: date | None
        if keyword == "today":
            day = today
        elif keyword == "yesterday":
            day = today - timedelta(days=1)
        elif match := _DAYS_AGO.fullmatch(keyword):
            day = today - timedelta(days=int(match[1]))
        else:
            try:
                day = date.fromisoformat(stripped)
            except ValueError:
                day = None
        if day is not None:
            return _day_start(day + timedelta(days=1) if end_of_day else day, tz)
        try:
            parsed = datetime.fromisoformat(stripped)
        except ValueError:
            raise _bad_date(option, text) from None
        moment = _localise(parsed, tz) if parsed.tzinfo is None else parsed.astimezone(UTC)
        # "on or before" a moment: the store keeps microseconds, so the exclusive bound is the next one
        return moment + _MICROSECOND if end_of_day else moment
    except (OverflowError, ValueError):
        # int() of thousands of digits, or a day before year 1 or after 9999.
        raise UsageError(f"{option}: '{text}' is out of range") from None


def since_bound(text: str, tz: tzinfo, now: datetime, *, option: str = "--since") -> datetime:
    """The inclusive UTC lower bound that ``--since`` means: a named day counts from its local start.

    Accepts ``YYYY-MM-DD``, an ISO date-time (naive means in ``tz``), ``today``, ``yesterday`` and ``Nd``
    (the local day N days before today, ``0d`` being today), case-insensitive. Bad: ``UsageError``.
    """
    return _bound(text, tz, now, option, end_of_day=False)


def until_bound(text: str, tz: tzinfo, now: datetime, *, option: str = "--until") -> datetime:
    """The exclusive UTC upper bound that ``--until`` means: a named day is included to its local end.

    Same forms as ``since_bound``; an ISO date-time is included too (the bound is the microsecond after).
    """
    return _bound(text, tz, now, option, end_of_day=True)


def parse_duration(text: str, option: str = "--older-than") -> timedelta:
    """A duration such as ``90s``, ``2m``, ``1h``, ``3d``, ``1w`` or ``1h30m`` (units largest first).

    Blanks are ignored and units are case-insensitive; zero is allowed. Bad or empty: ``UsageError``.
    """
    compact = "".join(text.split()).lower()
    match = _DURATION.fullmatch(compact)
    if not compact or match is None:
        raise UsageError(
            f"{option}: '{text}' is not a duration "
            "(use a number and a unit s, m, h, d or w, such as 90s, 2m, 1h, 3d, 1w or 1h30m)"
        )
    try:
        return timedelta(
            **{_DURATION_UNITS[unit]: int(amount) for unit, amount in match.groupdict().items() if amount}
        )
    except (OverflowError, ValueError):
        raise UsageError(f"{option}: '{text}' is too long a duration") from None
