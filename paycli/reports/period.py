"""The period a report covers: whole local days of the configured zone (design.md 7).

A period is a first and a last local day, both included; its UTC bounds come from
``paycli.dates.local_day_bounds``, so a report of the last Sunday of March covers 23 hours and one of
the last Sunday of October 25, with neither gap nor overlap between consecutive reports.
"""

from __future__ import annotations

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
            return self.first.strftime("%Y-%m")
        return f"{self.first.isoformat()}_{self.last.isoformat()}"


def make_period(first: date, last: date, tz: tzinfo) -> Period:
    if last < first:
        raise UsageError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_DAYS:
        raise UsageError(f"a period of {(last - first).days + 1} days is too long (at most {MAX_DAYS})")
    start = local_day_bounds(first, tz)[0]
    end = local_day_bounds(last, tz)[1]
    if first == last:
        label = first.isoformat()
    elif _whole_month(first, last):
        label = first.strftime("%Y-%m")
    else:
        label = f"{first.isoformat()} to {last.isoformat()}"
    return Period(first, last, start, end, label)


def _whole_month(first: date, last: date) -> bool:
    return (
        first.day == 1
        and first.month == last.month
        and first.year == last.year
        and (last + timedelta(days=1)).month != last.month
    )


def _day(text: str, today: date, option: str) -> date:
    keyword = text.strip().lower()
    if keyword == "today":
        return today
    if keyword == "yesterday":
        return today - timedelta(days=1)
    try:
        if match := _DAYS_AGO.fullmatch(keyword):
            return today - timedelta(days=int(match[1]))
        return date.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option}: '{text}' is not a day (use YYYY-MM-DD, today, yesterday or Nd)"
        ) from None


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
        return make_period(d, d, tz)
    if since or until:
        last = _day(until, today, "--until") if until else today
        first = _day(since, today, "--since") if since else last
        return make_period(first, last, tz)
    word = (period or "yesterday").strip().lower()
    if word == "yesterday":
        return make_period(today - timedelta(days=1), today - timedelta(days=1), tz)
    if word == "today":
        return make_period(today, today, tz)
    if word == "last-7-days":  # the seven whole days before today
        return make_period(today - timedelta(days=7), today - timedelta(days=1), tz)
    if match := _MONTH.fullmatch(word):
        try:
            first = date(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise UsageError(f"--period: '{period}' is not a month (use YYYY-MM, 01..12)") from None
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return make_period(first, following - timedelta(days=1), tz)
    raise UsageError(f"--period: '{period}' is not one of yesterday, today, last-7-days or YYYY-MM")
