"""The forecast and the slipped deals, derived at export from aggregates that do not age.

Which month is "this month" and which dates have passed depend on *now*, so
the aggregates keep what does not: the won revenue per month window, and the
open deals per expected close date (`metrics.CLOSING_METRICS`). From one
seller's (tenant, pipeline, seller) aggregates, for the current and next month
and quarter in the window timezone:

- period won revenue = the won revenue of the months of the period;
- forecast = that + the weighted value of the open deals expected to close in
  it (`_unweighted`: their value whole);
- slipped = the open deals, and their value, whose expected close date is
  before today.

Both are sums, so a sum over workers or over the sellers of `__other__`
derives the same as deriving each and summing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal

from streams.domain import metrics
from streams.domain.contributions import ZERO, ContributionKey, Labels, new_key
from streams.domain.money import EXACT
from streams.domain.windows import Granularity, local_date, shift_window

MONTHS_IN_QUARTER = 3
GRANULARITY_LABEL = "granularity"
WINDOW_LABEL = "window"
PERIOD_NAMES = ("current", "next")


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month or quarter in the window timezone: `[start, end)` in local dates."""

    granularity: str
    window: str
    start: date
    end: date

    def months(self) -> Iterable[date]:
        month = self.start
        while month < self.end:
            yield month
            month = shift_window(month, Granularity.MONTH, 1)


def periods(now: datetime, timezone: tzinfo) -> tuple[Period, ...]:
    """This and next month, this and next quarter, as of `now`."""
    this_month = local_date(now, timezone).replace(day=1)
    this_quarter = this_month.replace(month=(this_month.month - 1) // 3 * 3 + 1)
    found = []
    for granularity, start, months in (
        ("month", this_month, 1),
        ("quarter", this_quarter, MONTHS_IN_QUARTER),
    ):
        for back, name in enumerate(PERIOD_NAMES):
            begins = shift_window(start, Granularity.MONTH, back * months)
            ends = shift_window(begins, Granularity.MONTH, months)
            found.append(Period(granularity, name, begins, ends))
    return tuple(found)


@dataclass(slots=True)
class SellerBook:
    """One seller's inputs: won revenue per month start, open deals per expected close date."""

    won: dict[date, Decimal] = field(default_factory=dict)
    deals: dict[date, Decimal] = field(default_factory=dict)
    value: dict[date, Decimal] = field(default_factory=dict)
    weighted: dict[date, Decimal] = field(default_factory=dict)

    def note(self, key: ContributionKey, value: Decimal) -> None:
        """Take `key` if it is an input; the closing metrics carry their date as a label."""
        if key.metric == metrics.WON_REVENUE.name:
            if key.window is not None and key.window.granularity is Granularity.MONTH:
                self.won[key.window.start] = value
            return
        closes_on = date.fromisoformat(dict(key.labels)[metrics.EXPECTED_CLOSE_LABEL])
        if key.metric == metrics.OPEN_DEALS_CLOSING.name:
            self.deals[closes_on] = value
        elif key.metric == metrics.OPEN_VALUE_CLOSING.name:
            self.value[closes_on] = value
        else:
            self.weighted[closes_on] = value


def is_input(key: ContributionKey) -> bool:
    return key.metric in metrics.CLOSING_METRICS or key.metric == metrics.WON_REVENUE.name


def seller_labels(key: ContributionKey) -> Labels:
    """The (pipeline, seller, tenant) labels of an input key: its book."""
    return tuple(pair for pair in key.labels if pair[0] != metrics.EXPECTED_CLOSE_LABEL)


def forecast_samples(
    books: Mapping[Labels, SellerBook], now: datetime, timezone: tzinfo
) -> dict[ContributionKey, Decimal]:
    """The forecast of every book with open deals or wins, and the slipped deals of every
    book with open deals (zeros included: a quota needs a forecast to compare with)."""
    samples: dict[ContributionKey, Decimal] = {}
    today = local_date(now, timezone)
    wanted = periods(now, timezone)
    for seller, book in books.items():
        if not (book.deals or book.won):
            continue
        for period in wanted:
            won = _within(book.won, period.start, period.end)
            weighted = _within(book.weighted, period.start, period.end)
            value = _within(book.value, period.start, period.end)
            shown = _with_period(seller, period)
            samples[new_key(ContributionKey, (metrics.PERIOD_WON_REVENUE.name, shown, None))] = won
            samples[new_key(ContributionKey, (metrics.FORECAST_REVENUE.name, shown, None))] = (
                EXACT.add(won, weighted)
            )
            unweighted = metrics.FORECAST_REVENUE_UNWEIGHTED.name
            samples[new_key(ContributionKey, (unweighted, shown, None))] = EXACT.add(won, value)
        if book.deals:
            slipped_deals = _within(book.deals, date.min, today)
            slipped_value = _within(book.value, date.min, today)
            samples[new_key(ContributionKey, (metrics.SLIPPED_DEALS.name, seller, None))] = (
                slipped_deals
            )
            samples[new_key(ContributionKey, (metrics.SLIPPED_VALUE.name, seller, None))] = (
                slipped_value
            )
    return samples


def _with_period(seller: Labels, period: Period) -> Labels:
    return tuple(
        sorted((*seller, (GRANULARITY_LABEL, period.granularity), (WINDOW_LABEL, period.window)))
    )


def _within(values: Mapping[date, Decimal], start: date, end: date) -> Decimal:
    """The sum of `values` at the dates `[start, end)` (each aggregate on its own: the
    sums stay linear)."""
    total = ZERO
    for day, value in values.items():
        if start <= day < end:
            total = EXACT.add(total, value)
    return total
