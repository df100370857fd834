"""Calendar windows in event time: day, ISO week (Monday) and month, in one timezone.

A window is named by its granularity and the local *date* it starts on; it
covers the local calendar span from that date's midnight to the next window's.
All arithmetic is on local dates, so a DST change only makes a day 23 or 25
hours long and never moves a boundary. Retention counts whole windows: with a
retention of `n`, the window containing `now` and the `n - 1` before it are kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import NamedTuple


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO week, starting on Monday
    MONTH = "month"


class Window(NamedTuple):
    """One calendar window: its granularity and the local date it starts on."""

    granularity: Granularity
    start: date


def local_date(at: datetime, tz: tzinfo) -> date:
    """The calendar date of instant `at` in timezone `tz`."""
    return at.astimezone(tz).date()


def window_start_of_date(day: date, granularity: Granularity) -> date:
    """The start of the window of `granularity` containing local date `day`."""
    if granularity == Granularity.DAY:
        return day
    if granularity == Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def window_start(occurred_at: datetime, granularity: Granularity, tz: tzinfo) -> date:
    """The start date of the window of `granularity` containing instant `occurred_at`."""
    return window_start_of_date(local_date(occurred_at, tz), granularity)


def shift_window(start: date, granularity: Granularity, windows: int) -> date:
    """The start of the window `windows` windows after (negative: before) `start`."""
    if granularity == Granularity.DAY:
        return start + timedelta(days=windows)
    if granularity == Granularity.WEEK:
        return start + timedelta(weeks=windows)
    months = start.year * 12 + start.month - 1 + windows
    return date(months // 12, months % 12 + 1, 1)


def window_start_instant(start: date, tz: tzinfo) -> datetime:
    """The instant, in UTC, a window starting on local date `start` begins: midnight in `tz`.

    In UTC because Python compares and subtracts datetimes sharing one tzinfo by wall
    clock, which is wrong across a DST change.
    """
    return datetime.combine(start, time(), tzinfo=tz).astimezone(UTC)


def first_window_start_at_or_after(at: datetime, granularity: Granularity, tz: tzinfo) -> date:
    """The first window whose start instant is at or after `at`."""
    start = window_start(at, granularity, tz)
    if window_start_instant(start, tz) >= at:
        return start
    return shift_window(start, granularity, 1)


def retention_cutoff(now: datetime, granularity: Granularity, retention: int, tz: tzinfo) -> date:
    """The oldest retained window's start: `retention - 1` windows before `now`'s window."""
    if retention < 1:
        raise ValueError(f"retention must be at least one window, not {retention}")
    return shift_window(window_start(now, granularity, tz), granularity, 1 - retention)


def retained_windows(
    now: datetime, granularity: Granularity, retention: int, tz: tzinfo
) -> tuple[date, ...]:
    """Starts of the retained windows, oldest first, ending with the one containing `now`."""
    oldest = retention_cutoff(now, granularity, retention, tz)
    return tuple(shift_window(oldest, granularity, index) for index in range(retention))
