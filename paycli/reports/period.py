"""The period a report covers: whole local days of the configured zone (design.md 7).

A period is a first and a last local day, both included; its UTC bounds come from
``paycli.dates.local_day_bounds``, so a report of the last Sunday of March covers 23 hours and one of
the last Sunday of October 25, with neither gap nor overlap between consecutive reports.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from paycli.dates import local_day_bounds, to_utc
from paycli.errors import UsageError

PERIOD_WORDS = ("yesterday", "today", "last-7-days")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_DAYS_AGO = re.compile(r"([0-9]+)d")
MAX_DAYS = 3660  # ten years: beyond that, a typo rather than a report


@dataclass(frozen=True)
class Period:
    """Local days ``first`` to ``last`` (inclusive) in ``tz``; ``start``/``end`` are UTC, end exclusive."""

    first: date
    last: date
    start: datetime
    end: datetime
    label: str

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def slug(self) -> str:
        """For file names: ``2026-11-26``, ``2026-11`` or ``2026-11-20_2026-11-26``."""
        if self.first == self.last:
            return self.first.isoformat()
        if _whole_month(self.first, self.last):
            return month_label(self.first)
        return f"{self.first.isoformat()}_{self.last.isoformat()}"


class OutOfCalendar(UsageError):
    """A first day whose local start, or a last day whose end, has no UTC time: 9999-12-31 has no next
    day, and 0001-01-01 starts in year 0 east of UTC."""

    def __init__(self, day: date, *, end: bool) -> None:
        super().__init__(f"the period's {'last' if end else 'first'} day, {day}, is out of range")
        self.end = end


def make_period(first: date, last: date, tz: tzinfo) -> Period:
    if last < first:
        raise UsageError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_DAYS:
        raise UsageError(f"a period of {(last - first).days + 1} days is too long (at most {MAX_DAYS})")
    try:
        start = local_day_bounds(first, tz)[0]
    except OverflowError:
        raise OutOfCalendar(first, end=False) from None
    try:
        end = local_day_bounds(last, tz)[1]
    except OverflowError:
        raise OutOfCalendar(last, end=True) from None
    if first == last:
        label = first.isoformat()
    elif _whole_month(first, last):
        label = month_label(first)
    else:
        label = f"{first.isoformat()} to {last.isoformat()}"
    return Period(first, last, start, end, label)


def month_label(day: date) -> str:
    """``2026-11``, and ``0001-01`` in year 1 (``strftime("%Y")`` gives ``1`` there)."""
    return f"{day.year:04d}-{day.month:02d}"


def _whole_month(first: date, last: date) -> bool:
    return first.day == 1 and last == _month_end(first)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _day(text: str, today: date, option: str) -> date:
    keyword = text.strip().lower()
    if keyword == "today":
        return today
    try:
        if keyword == "yesterday":
            return today - timedelta(days=1)
        if match := _DAYS_AGO.fullmatch(keyword):
            return today - timedelta(days=int(match[1]))
        return date.fromisoformat(text.strip())
    except OverflowError:  # before year 1
        raise UsageError(f"{option}: '{text}' is out of range") from None
    except ValueError:
        raise UsageError(
            f"{option}: '{text}' is not a day (use YYYY-MM-DD, today, yesterday or Nd)"
        ) from None


Named = tuple[str, str] | None  # the option and the text a day of the period came from


def _named_period(first: date, last: date, tz: tzinfo, first_from: Named, last_from: Named) -> Period:
    """``make_period``, whose refusal of a day beyond the calendar names the option that gave it."""
    try:
        return make_period(first, last, tz)
    except OutOfCalendar as exc:
        named = last_from if exc.end else first_from
        if named is None:  # today, beyond the calendar only for a --now at its edge
            raise
        raise UsageError(f"{named[0]}: '{named[1]}' is out of range") from None


def resolve_period(
    tz: tzinfo,
    now: datetime,
    *,
    day: str | None = None,
    since: str | None = None,
    until: str | None = None,
    period: str | None = None,
) -> Period:
    """The period of ``--date``, ``--since``/``--until`` or ``--period`` (default: yesterday).

    ``--since`` alone runs to today; ``--until`` alone is that one day. Only one of the three forms may
    be given. Bad input raises ``UsageError`` naming the option.
    """
    today = to_utc(now).astimezone(tz).date()
    forms = [name for name, value in (("--date", day), ("--period", period)) if value]
    if since or until:
        forms.append("--since/--until")
    if len(forms) > 1:
        raise UsageError(f"give one of {' or '.join(forms)}, not both")
    if day:
        d = _day(day, today, "--date")
        return _named_period(d, d, tz, ("--date", day), ("--date", day))
    if since or until:
        last = _day(until, today, "--until") if until else today
        first = _day(since, today, "--since") if since else last
        last_from = ("--until", until) if until else None
        return _named_period(first, last, tz, ("--since", since) if since else last_from, last_from)
    named = ("--period", period or "yesterday")
    word = named[1].strip().lower()
    if match := _MONTH.fullmatch(word):
        try:
            first = date(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise UsageError(f"--period: '{period}' is not a month (use YYYY-MM, 01..12)") from None
        return _named_period(first, _month_end(first), tz, named, named)
    if word not in PERIOD_WORDS:
        raise UsageError(f"--period: '{period}' is not one of yesterday, today, last-7-days or YYYY-MM")
    try:
        if word == "today":
            first = last = today
        elif word == "yesterday":
            first = last = today - timedelta(days=1)
        else:  # last-7-days: the seven whole days before today
            first, last = today - timedelta(days=7), today - timedelta(days=1)
    except OverflowError:  # a --now in the first days of year 1
        raise UsageError(f"--period: '{named[1]}' is out of range") from None
    return _named_period(first, last, tz, named, named)
