"""The periods a quota is set for: a calendar month (`2026-12`) or quarter (`2026-Q4`).

Quotas are monthly or quarterly targets, so they have periods of their own
rather than the day/week/month windows the deal metrics are kept in. A period
is named by its text form, which is also how the quota file and the control
topic write it; `parse_period` accepts only that form (and a lower-case `q`),
so one period has one name and duplicates are found by comparing names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class PeriodGranularity(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


MONTHS_PER = {PeriodGranularity.MONTH: 1, PeriodGranularity.QUARTER: 3}
"""How many calendar months one period of each granularity spans."""
PERIODS_PER_YEAR = {PeriodGranularity.MONTH: 12, PeriodGranularity.QUARTER: 4}
FIRST_YEAR = 1000
LAST_YEAR = 9999
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq](\d)")


@dataclass(frozen=True, order=True, slots=True)
class QuotaPeriod:
    """One month or quarter: its granularity, year and number in the year (1-12 or 1-4)."""

    granularity: PeriodGranularity
    year: int
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.number <= PERIODS_PER_YEAR[self.granularity]:
            raise ValueError(f"no {self.granularity} number {self.number} in a year")
        if not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise ValueError(f"year {self.year} is outside {FIRST_YEAR}-{LAST_YEAR}")

    def __str__(self) -> str:
        if self.granularity is PeriodGranularity.MONTH:
            return f"{self.year:04d}-{self.number:02d}"
        return f"{self.year:04d}-Q{self.number}"

    @property
    def start(self) -> date:
        """The local date the period starts on."""
        return date(self.year, (self.number - 1) * MONTHS_PER[self.granularity] + 1, 1)

    def shifted(self, periods: int) -> QuotaPeriod:
        """The period `periods` periods after (negative: before) this one."""
        per_year = PERIODS_PER_YEAR[self.granularity]
        index = self.year * per_year + self.number - 1 + periods
        return QuotaPeriod(self.granularity, index // per_year, index % per_year + 1)


def parse_period(text: str) -> QuotaPeriod:
    """The period `text` names (`2026-12`, `2026-Q4`); ValueError saying why when none."""
    if found := _MONTH.fullmatch(text):
        granularity = PeriodGranularity.MONTH
    elif found := _QUARTER.fullmatch(text):
        granularity = PeriodGranularity.QUARTER
    else:
        raise ValueError(f"{text!r} is not a month (2026-12) or a quarter (2026-Q4)")
    year, number = int(found[1]), int(found[2])
    try:
        return QuotaPeriod(granularity, year, number)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None


def period_of(day: date, granularity: PeriodGranularity) -> QuotaPeriod:
    """The period of `granularity` that local date `day` falls in."""
    number = (day.month - 1) // MONTHS_PER[granularity] + 1
    return QuotaPeriod(granularity, day.year, number)
