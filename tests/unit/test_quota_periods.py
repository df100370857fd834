"""Quota periods: one name per month or quarter, and the arithmetic the export needs."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.quota_periods import (
    PeriodGranularity,
    QuotaPeriod,
    parse_period,
    period_of,
)

MONTH, QUARTER = PeriodGranularity.MONTH, PeriodGranularity.QUARTER


@pytest.mark.parametrize(
    ("text", "period", "start"),
    [
        ("2026-12", QuotaPeriod(MONTH, 2026, 12), date(2026, 12, 1)),
        ("2026-01", QuotaPeriod(MONTH, 2026, 1), date(2026, 1, 1)),
        ("2026-Q4", QuotaPeriod(QUARTER, 2026, 4), date(2026, 10, 1)),
        ("2026-q1", QuotaPeriod(QUARTER, 2026, 1), date(2026, 1, 1)),
        ("2027-Q2", QuotaPeriod(QUARTER, 2027, 2), date(2027, 4, 1)),
    ],
)
def test_periods_are_read_from_their_names(text: str, period: QuotaPeriod, start: date) -> None:
    assert parse_period(text) == period
    assert period.start == start
    assert str(period) == text.upper()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("2026-13", "no month number 13"),
        ("2026-00", "no month number 0"),
        ("2026-Q5", "no quarter number 5"),
        ("2026-Q0", "no quarter number 0"),
        ("0999-12", "year 999"),
        ("2026-1", "not a month (2026-12) or a quarter (2026-Q4)"),
        ("26-12", "not a month"),
        ("2026/12", "not a month"),
        ("2026-W50", "not a month"),
        ("Dec 2026", "not a month"),
        ("2026-12-01", "not a month"),
        (" 2026-12", "not a month"),
        ("", "not a month"),
    ],
)
def test_anything_else_is_refused_saying_why(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        parse_period(text)


@pytest.mark.parametrize(
    ("day", "month", "quarter"),
    [
        (date(2026, 11, 1), "2026-11", "2026-Q4"),
        (date(2026, 12, 31), "2026-12", "2026-Q4"),
        (date(2027, 1, 1), "2027-01", "2027-Q1"),
        (date(2026, 3, 31), "2026-03", "2026-Q1"),
        (date(2026, 4, 1), "2026-04", "2026-Q2"),
    ],
)
def test_the_period_of_a_day(day: date, month: str, quarter: str) -> None:
    assert str(period_of(day, MONTH)) == month
    assert str(period_of(day, QUARTER)) == quarter


@pytest.mark.parametrize(
    ("period", "shift", "expected"),
    [
        ("2026-12", 1, "2027-01"),
        ("2026-01", -1, "2025-12"),
        ("2026-Q4", 1, "2027-Q1"),
        ("2026-Q1", -1, "2025-Q4"),
        ("2026-Q2", -6, "2024-Q4"),
        ("2026-05", 0, "2026-05"),
    ],
)
def test_shifting_crosses_years(period: str, shift: int, expected: str) -> None:
    assert str(parse_period(period).shifted(shift)) == expected


periods = st.builds(
    lambda granularity, year, number: QuotaPeriod(
        granularity, year, number % (12 if granularity is MONTH else 4) + 1
    ),
    st.sampled_from(PeriodGranularity),
    st.integers(1100, 9900),
    st.integers(0, 11),
)


@given(periods, st.integers(-300, 300))
def test_a_name_reads_back_and_shifts_undo(period: QuotaPeriod, shift: int) -> None:
    assert parse_period(str(period)) == period
    assert period.shifted(shift).shifted(-shift) == period
    assert period_of(period.start, period.granularity) == period
    assert (period.shifted(shift) > period) == (shift > 0)
