"""The metrics the domain computes: identifier, labels, windowing, histogram buckets.

Every value is recomputed from per-deal state, so a value can go *down* (a
reopened deal retracts its win). How each is computed is in `contributions`;
how it is shown to Prometheus (HELP texts, types, cumulative buckets, the
`window` label, the seller cap) is `streams.exposition`'s business, and the
domain imports nothing from there.

The identifiers are kept equal to the exported Prometheus names
(`dealpulse_won_revenue`), on purpose: most aggregates are then exported as
they are, and they are also the metric column of `dealpulse replay`'s rows and
of the snapshot digests that compare workers and replays, which a rename would
change. For the same reasons a histogram bucket is keyed by the label `le`
holding its upper bound as plain digits, and `+Inf` for the last bucket.

Two metrics are aggregated in a form that sums and retracts cheaply, and the
exposition turns them into what Prometheus reads (`streams.exposition.samples`):

- a histogram is aggregated as `<name>_in_bucket` (each observation in the one
  bucket it falls in) plus `<name>_sum` and `<name>_count`;
- the deals active at a window's start are aggregated as
  `dealpulse_deals_active_change` (+1 in the first window starting at or after
  the win, -1 in the first starting at or after the churn).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

_HOUR = 3600
_DAY = 24 * _HOUR

DURATION_BUCKETS_SECONDS: tuple[Decimal, ...] = tuple(
    Decimal(seconds)
    for seconds in (
        _HOUR,
        4 * _HOUR,
        _DAY,
        3 * _DAY,
        7 * _DAY,
        14 * _DAY,
        30 * _DAY,
        60 * _DAY,
        90 * _DAY,
        180 * _DAY,
        365 * _DAY,
    )
)
"""Upper bounds of the sales-cycle and time-in-stage buckets: 1 hour to 1 year, then unbounded."""

DEFAULT_TICKET_SIZE_BUCKETS: tuple[Decimal, ...] = tuple(
    Decimal(amount)
    for amount in (
        100,
        500,
        1_000,
        2_500,
        5_000,
        10_000,
        25_000,
        50_000,
        100_000,
        250_000,
        500_000,
        1_000_000,
        5_000_000,
    )
)
"""Default upper bounds of the ticket-size buckets, in reporting currency units, then unbounded."""

BUCKET_LABEL = "le"
"""The label that names a histogram aggregate's bucket (see the module doc)."""

UNBOUNDED = "+Inf"
"""The `BUCKET_LABEL` value of the last bucket, above every bound."""


def bucket_label(bound: Decimal) -> str:
    """A bucket's upper bound as its `BUCKET_LABEL` value: plain digits, no exponent, no
    trailing zeros."""
    return format(bound.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    labels: tuple[str, ...]
    windowed: bool
    """Computed per calendar window (day, week, month) rather than for now."""
    histogram: bool = False

    @property
    def in_bucket(self) -> str:
        """Aggregated non-cumulative bucket (histograms)."""
        return suffixed(self.name, "_in_bucket")

    @property
    def sum(self) -> str:
        return suffixed(self.name, "_sum")

    @property
    def count(self) -> str:
        return suffixed(self.name, "_count")


@cache
def suffixed(name: str, suffix: str) -> str:
    """One string per sample name: every aggregate key of a histogram holds one, and
    strings built per key were 84,916 copies of 23 names at 250,000 events."""
    return f"{name}{suffix}"


_SELLER = ("tenant", "pipeline", "seller")
_STAGE = ("tenant", "pipeline", "stage")

WON_REVENUE = Metric("dealpulse_won_revenue", _SELLER, windowed=True)
DEALS_WON = Metric("dealpulse_deals_won", _SELLER, windowed=True)
DEALS_CLOSED = Metric("dealpulse_deals_closed", _SELLER, windowed=True)
SALES_CYCLE = Metric("dealpulse_sales_cycle_seconds", _SELLER, windowed=True, histogram=True)
TICKET_SIZE = Metric("dealpulse_ticket_size", _SELLER, windowed=True, histogram=True)
TIME_IN_STAGE = Metric("dealpulse_time_in_stage_seconds", _STAGE, windowed=True, histogram=True)
STAGE_TRANSITIONS = Metric(
    "dealpulse_stage_transitions",
    ("tenant", "pipeline", "from_stage", "to_stage"),
    windowed=True,
)
STAGE_ENTERED = Metric("dealpulse_stage_entered", _STAGE, windowed=True)
STAGE_ADVANCED = Metric("dealpulse_stage_advanced", _STAGE, windowed=True)
DEALS_LOST = Metric("dealpulse_deals_lost", ("tenant", "pipeline", "reason"), windowed=True)
DEALS_CHURNED = Metric(
    "dealpulse_deals_churned", ("tenant", "pipeline", "seller", "reason"), windowed=True
)
CHURNED_REVENUE = Metric(
    "dealpulse_churned_revenue", ("tenant", "pipeline", "seller", "reason"), windowed=True
)
DEALS_ACTIVE_AT_WINDOW_START = Metric(
    "dealpulse_deals_active_at_window_start", _SELLER, windowed=True
)
OPEN_PIPELINE_VALUE = Metric("dealpulse_open_pipeline_value", _STAGE, windowed=False)
OPEN_PIPELINE_WEIGHTED_VALUE = Metric(
    "dealpulse_open_pipeline_weighted_value", _STAGE, windowed=False
)
OPEN_DEALS = Metric("dealpulse_open_deals", _STAGE, windowed=False)
DEAL_ANOMALIES = Metric("dealpulse_deal_anomalies", ("tenant", "anomaly"), windowed=False)

EXPECTED_CLOSE_LABEL = "expected_close"
_CLOSING = ("tenant", "pipeline", "seller", EXPECTED_CLOSE_LABEL)
OPEN_DEALS_CLOSING = Metric("dealpulse_open_deals_closing", _CLOSING, windowed=False)
OPEN_VALUE_CLOSING = Metric("dealpulse_open_value_closing", _CLOSING, windowed=False)
OPEN_WEIGHTED_VALUE_CLOSING = Metric(
    "dealpulse_open_weighted_value_closing", _CLOSING, windowed=False
)
"""The open deals that have an expected close date, per owner and that date (ISO): what the
forecast and the slipped deals are derived from at export, for whichever `now`."""
CLOSING_METRICS = frozenset(
    {OPEN_DEALS_CLOSING.name, OPEN_VALUE_CLOSING.name, OPEN_WEIGHTED_VALUE_CLOSING.name}
)

_PERIOD = ("tenant", "pipeline", "seller", "granularity", "window")
PERIOD_WON_REVENUE = Metric("dealpulse_period_won_revenue", _PERIOD, windowed=False)
FORECAST_REVENUE = Metric("dealpulse_forecast_revenue", _PERIOD, windowed=False)
FORECAST_REVENUE_UNWEIGHTED = Metric(
    "dealpulse_forecast_revenue_unweighted", _PERIOD, windowed=False
)
SLIPPED_DEALS = Metric("dealpulse_slipped_deals", _SELLER, windowed=False)
SLIPPED_VALUE = Metric("dealpulse_slipped_value", _SELLER, windowed=False)
"""Derived at export from the won revenue and the `CLOSING_METRICS` (see
`streams.exposition.forecast`)."""

DEALS_ACTIVE_CHANGE = "dealpulse_deals_active_change"
"""Aggregated form of `DEALS_ACTIVE_AT_WINDOW_START`: the changes of a running total."""

CARRIED_METRICS = frozenset({DEALS_ACTIVE_CHANGE})
"""Aggregated samples whose out-of-retention windows are carried into the oldest retained
window instead of being dropped (they are changes of a running total)."""
