"""Calendar windows: ISO weeks, months, a timezone with DST, retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streams.domain.windows import (
    Granularity,
    first_window_start_at_or_after,
    retained_windows,
    retention_cutoff,
    shift_window,
    window_start,
    window_start_instant,
)

PARIS = ZoneInfo("Europe/Paris")
UTC_ZONE = ZoneInfo("UTC")
DAY, WEEK, MONTH = Granularity.DAY, Granularity.WEEK, Granularity.MONTH


@pytest.mark.parametrize(
    ("instant", "granularity", "expected"),
    [
        # ISO week: Sunday night belongs to the week that started on the Monday before.
        (datetime(2026, 3, 8, 23, 59, 59, 999999, tzinfo=UTC), WEEK, date(2026, 3, 2)),
        (datetime(2026, 3, 9, 0, 0, tzinfo=UTC), WEEK, date(2026, 3, 9)),
        # A week across a year boundary starts in the old year (ISO week 1 of 2026).
        (datetime(2026, 1, 1, 12, tzinfo=UTC), WEEK, date(2025, 12, 29)),
        (datetime(2026, 1, 1, 12, tzinfo=UTC), MONTH, date(2026, 1, 1)),
        # Month boundaries, leap day included.
        (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), MONTH, date(2024, 2, 1)),
        (datetime(2024, 3, 1, 0, 0, tzinfo=UTC), MONTH, date(2024, 3, 1)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), MONTH, date(2026, 12, 1)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), DAY, date(2026, 12, 31)),
    ],
)
def test_window_start_in_utc(instant: datetime, granularity: Granularity, expected: date) -> None:
    assert window_start(instant, granularity, UTC_ZONE) == expected


@pytest.mark.parametrize(
    ("instant", "granularity", "expected"),
    [
        # 23:30 UTC on March 31st is already April 1st in Paris (UTC+2 in summer).
        (datetime(2026, 3, 31, 22, 30, tzinfo=UTC), MONTH, date(2026, 4, 1)),
        (datetime(2026, 3, 31, 21, 59, tzinfo=UTC), MONTH, date(2026, 3, 1)),
        # Sunday 2026-03-29 is the DST change (02:00 -> 03:00). 23:00 UTC Saturday is
        # 00:00 Sunday in Paris (UTC+1); 22:00 UTC Sunday is 00:00 Monday (UTC+2).
        (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), DAY, date(2026, 3, 28)),
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), DAY, date(2026, 3, 29)),
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), DAY, date(2026, 3, 29)),
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), DAY, date(2026, 3, 30)),
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), WEEK, date(2026, 3, 23)),
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), WEEK, date(2026, 3, 30)),
        # Back to winter time on 2026-10-25: that local day has 25 hours.
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), DAY, date(2026, 10, 25)),
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), DAY, date(2026, 10, 25)),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), DAY, date(2026, 10, 26)),
    ],
)
def test_window_start_in_paris_across_dst(
    instant: datetime, granularity: Granularity, expected: date
) -> None:
    assert window_start(instant, granularity, PARIS) == expected


def test_window_start_instant_is_local_midnight_whatever_the_day_length() -> None:
    def utc_start(day: date) -> datetime:
        return window_start_instant(day, PARIS).astimezone(UTC)

    assert utc_start(date(2026, 3, 29)) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert utc_start(date(2026, 3, 30)) - utc_start(date(2026, 3, 29)) == timedelta(hours=23)
    assert utc_start(date(2026, 10, 26)) - utc_start(date(2026, 10, 25)) == timedelta(hours=25)


@pytest.mark.parametrize(
    ("start", "granularity", "steps", "expected"),
    [
        (date(2026, 3, 30), DAY, 3, date(2026, 4, 2)),
        (date(2026, 3, 30), WEEK, -2, date(2026, 3, 16)),
        (date(2026, 11, 1), MONTH, 3, date(2027, 2, 1)),
        (date(2026, 2, 1), MONTH, -14, date(2024, 12, 1)),
    ],
)
def test_shift_window(start: date, granularity: Granularity, steps: int, expected: date) -> None:
    assert shift_window(start, granularity, steps) == expected


def test_first_window_start_at_or_after() -> None:
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    assert first_window_start_at_or_after(midnight, MONTH, UTC_ZONE) == date(2026, 3, 1)
    just_after = midnight + timedelta(microseconds=1)
    assert first_window_start_at_or_after(just_after, MONTH, UTC_ZONE) == date(2026, 4, 1)
    assert first_window_start_at_or_after(just_after, DAY, UTC_ZONE) == date(2026, 3, 2)
    # 2026-03-01 00:30 UTC is 01:30 in Paris: the next Paris day starts at 23:00 UTC.
    assert first_window_start_at_or_after(
        datetime(2026, 3, 1, 0, 30, tzinfo=UTC), DAY, PARIS
    ) == date(2026, 3, 2)


def test_retained_windows_end_with_the_current_one() -> None:
    now = datetime(2026, 3, 4, 10, tzinfo=UTC)  # a Wednesday
    assert retained_windows(now, MONTH, 3, UTC_ZONE) == (
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    )
    assert retained_windows(now, WEEK, 2, UTC_ZONE) == (date(2026, 2, 23), date(2026, 3, 2))
    assert retained_windows(now, DAY, 1, UTC_ZONE) == (date(2026, 3, 4),)
    assert retention_cutoff(now, MONTH, 13, UTC_ZONE) == date(2025, 3, 1)


def test_retention_is_at_least_one_window() -> None:
    with pytest.raises(ValueError, match="at least one"):
        retention_cutoff(datetime(2026, 3, 4, tzinfo=UTC), DAY, 0, UTC_ZONE)
