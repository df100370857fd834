"""`MetricContext`: everything a deal's contributions depend on besides the deal itself.

The pipeline configuration, the reporting currency and its rate table, the
window timezone, the retention of each granularity, the ticket-size buckets and
`now` (the clock, injected). Contributions depend on `now` only through the
retention cutoffs, which only move forward; that is what lets the worker keep
its aggregates exact by pruning (see `Aggregates.prune`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

from streams.domain.errors import UnknownCurrencyError
from streams.domain.events import DealEvent
from streams.domain.metrics import DEFAULT_TICKET_SIZE_BUCKETS
from streams.domain.money import Money, multiply_exact, rate_problem, round_reporting
from streams.domain.pipeline_config import PipelineConfig
from streams.domain.windows import Granularity, retention_cutoff, window_start_instant

UTC_ZONE = ZoneInfo("UTC")
DEFAULT_RETENTION: Mapping[Granularity, int] = MappingProxyType(
    {Granularity.DAY: 92, Granularity.WEEK: 53, Granularity.MONTH: 25}
)
"""Windows kept per granularity: a quarter of days, a year of weeks, two years of months."""


@dataclass(frozen=True, slots=True)
class MetricContext:
    pipelines: PipelineConfig
    reporting_currency: str
    rates: Mapping[str, Decimal]
    """Amount in reporting currency = amount * rate. The reporting currency itself is 1."""
    now: datetime
    timezone: tzinfo = UTC_ZONE
    retention: Mapping[Granularity, int] = field(default_factory=lambda: DEFAULT_RETENTION)
    """Granularities to aggregate, each with how many windows to keep (at least 1)."""
    ticket_size_buckets: tuple[Decimal, ...] = DEFAULT_TICKET_SIZE_BUCKETS
    cutoffs: Mapping[Granularity, date] = field(init=False, compare=False, repr=False)
    """Start of the oldest retained window per granularity, derived from `now`."""
    horizon: datetime | None = field(init=False, compare=False, repr=False)
    """The earliest instant any retained window covers (None when nothing is windowed):
    the start of the oldest retained window over every granularity."""

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        own_rate = self.rates.get(self.reporting_currency, Decimal(1))
        if own_rate != 1:
            raise ValueError(f"the rate of {self.reporting_currency} to itself must be 1")
        for currency, rate in self.rates.items():
            problem = rate_problem(rate)
            if problem is not None:
                raise ValueError(f"the rate of {currency}: {problem}")
        buckets = self.ticket_size_buckets
        if any(not b.is_finite() for b in buckets) or list(buckets) != sorted(set(buckets)):
            raise ValueError("ticket-size buckets must be finite and strictly increasing")
        cutoffs = {
            granularity: retention_cutoff(self.now, granularity, windows, self.timezone)
            for granularity, windows in sorted(self.retention.items())
        }
        object.__setattr__(self, "cutoffs", MappingProxyType(cutoffs))
        starts = (window_start_instant(cutoff, self.timezone) for cutoff in cutoffs.values())
        object.__setattr__(self, "horizon", min(starts, default=None))

    def with_now(self, now: datetime) -> MetricContext:
        """The same context with the clock at `now`."""
        return dataclasses.replace(self, now=now)

    def to_reporting(self, money: Money) -> Decimal:
        """`money` in reporting currency units, rounded half-even to 6 decimals."""
        if money.currency == self.reporting_currency:
            return money.amount
        rate = self.rates.get(money.currency)
        if rate is None:
            raise UnknownCurrencyError(money.currency, self.reporting_currency)
        return round_reporting(multiply_exact(money.amount, rate))


def is_too_late(event: DealEvent, ctx: MetricContext) -> bool:
    """True when `event` falls before the retention of every granularity.

    Such an event changes nothing: the worker and `compute` drop it (rule R,
    `streams.domain.compaction`). Windows are calendar-aligned, so an instant
    is in no retained window exactly when it is before the horizon, the start
    of the oldest retained window. With no granularity configured nothing is
    windowed, so nothing is too late.
    """
    return ctx.horizon is not None and event.occurred_at < ctx.horizon
