"""Every business metric of dealpulse: name, kind, help (the formula), labels.

The collector, the recording and alert rules, the dashboards and
`docs/metrics.md` all refer to these names, so a rename is one change here.

All values are recomputed from per-deal state, so a value can go *down* (a
reopened deal retracts its win): nothing here is a Prometheus counter and no
name ends in `_total`. Ratios are exported as numerator and denominator;
recording rules divide after summing across workers.

Windowed metrics carry two more labels, `WINDOW_LABELS`: the granularity
(`day`, `week`, `month`) and the ISO date the window starts on, in the
configured timezone.

Two encodings differ between the aggregates and the exposition (see
`streams.domain.exposition`):

- a histogram is aggregated as `<name>_in_bucket` (each observation in the one
  bucket it falls in, labelled with that bucket's `le`) plus `_sum` and
  `_count`; the exposition cumulates it into Prometheus' `<name>_bucket`;
- `dealpulse_deals_active_at_window_start` is aggregated as
  `dealpulse_deals_active_change` (+1 in the first window starting at or after
  the win, -1 in the first starting at or after the churn); the exposition
  adds the changes up to each window.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Literal

Kind = Literal["gauge", "histogram"]

WINDOW_LABELS = ("granularity", "window_start")
INF = "+Inf"
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
"""Upper bounds of the sales-cycle and time-in-stage buckets: 1 hour to 1 year, then +Inf."""

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
"""Default upper bounds of the ticket-size buckets, in reporting currency units, then +Inf."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    windowed: bool

    @property
    def bucket(self) -> str:
        """Exported cumulative bucket sample (histograms)."""
        return _suffixed(self.name, "_bucket")

    @property
    def in_bucket(self) -> str:
        """Aggregated non-cumulative bucket sample (histograms)."""
        return _suffixed(self.name, "_in_bucket")

    @property
    def sum(self) -> str:
        return _suffixed(self.name, "_sum")

    @property
    def count(self) -> str:
        return _suffixed(self.name, "_count")


@cache
def _suffixed(name: str, suffix: str) -> str:
    """One string per sample name: every aggregate key of a histogram holds one, and
    strings built per key were 84,916 copies of 23 names at 250,000 events."""
    return f"{name}{suffix}"


_SELLER = ("tenant", "pipeline", "seller")
_STAGE = ("tenant", "pipeline", "stage")

WON_REVENUE = MetricSpec(
    "dealpulse_won_revenue",
    "gauge",
    "Won revenue in reporting currency units: sum of each won deal's amount in force at the win "
    "(the won event's own amount when it has one) times the currency's rate, credited to the "
    "owner at the win, in the window of the win. Labels: tenant, pipeline, seller.",
    _SELLER,
    windowed=True,
)
DEALS_WON = MetricSpec(
    "dealpulse_deals_won",
    "gauge",
    "Deals won: count of deals whose current win falls in the window, credited to the owner at "
    "the win; win-rate numerator. Labels: tenant, pipeline, seller.",
    _SELLER,
    windowed=True,
)
DEALS_CLOSED = MetricSpec(
    "dealpulse_deals_closed",
    "gauge",
    "Deals closed, won plus lost, in the window of closing, credited to the owner at the close; "
    "win-rate denominator. Labels: tenant, pipeline, seller.",
    _SELLER,
    windowed=True,
)
SALES_CYCLE = MetricSpec(
    "dealpulse_sales_cycle_seconds",
    "histogram",
    "Sales cycle of deals won in the window: won_at - created_at in seconds, for deals with a "
    "created event. Labels: tenant, pipeline, seller.",
    _SELLER,
    windowed=True,
)
TICKET_SIZE = MetricSpec(
    "dealpulse_ticket_size",
    "histogram",
    "Ticket size of deals won in the window, in reporting currency units (average ticket = "
    "_sum / _count). Labels: tenant, pipeline, seller.",
    _SELLER,
    windowed=True,
)
TIME_IN_STAGE = MetricSpec(
    "dealpulse_time_in_stage_seconds",
    "histogram",
    "Time deals spent in a stage, left_at - entered_at in seconds, recorded in the window the "
    "stage was left. Labels: tenant, pipeline, stage.",
    _STAGE,
    windowed=True,
)
STAGE_TRANSITIONS = MetricSpec(
    "dealpulse_stage_transitions",
    "gauge",
    "Moves of open deals from one stage to another (to_stage won or lost when closed; "
    "from_stage won, lost or churned when reopened), in the window of the move. "
    "Labels: tenant, pipeline, from_stage, to_stage.",
    ("tenant", "pipeline", "from_stage", "to_stage"),
    windowed=True,
)
STAGE_ENTERED = MetricSpec(
    "dealpulse_stage_entered",
    "gauge",
    "Deals that entered the stage, each deal once per stage (its first entry), in the window of "
    "that entry; per-stage conversion denominator. Labels: tenant, pipeline, stage.",
    _STAGE,
    windowed=True,
)
STAGE_ADVANCED = MetricSpec(
    "dealpulse_stage_advanced",
    "gauge",
    "Deals that left the stage for a later stage of the pipeline or for won, each deal once per "
    "stage (its first advance), in the window it left; per-stage conversion numerator. "
    "Labels: tenant, pipeline, stage.",
    _STAGE,
    windowed=True,
)
DEALS_LOST = MetricSpec(
    "dealpulse_deals_lost",
    "gauge",
    "Deals lost, in the window of the loss. Labels: tenant, pipeline, reason.",
    ("tenant", "pipeline", "reason"),
    windowed=True,
)
DEALS_CHURNED = MetricSpec(
    "dealpulse_deals_churned",
    "gauge",
    "Won deals churned (cancelled after the win), in the window of the churn, credited to the "
    "seller and pipeline of the win; logo-churn numerator. Labels: tenant, pipeline, seller, "
    "reason.",
    ("tenant", "pipeline", "seller", "reason"),
    windowed=True,
)
CHURNED_REVENUE = MetricSpec(
    "dealpulse_churned_revenue",
    "gauge",
    "Won revenue of churned deals (the amount of the win, reporting currency units), in the "
    "window of the churn, credited to the seller and pipeline of the win. Labels: tenant, "
    "pipeline, seller, reason.",
    ("tenant", "pipeline", "seller", "reason"),
    windowed=True,
)
DEALS_ACTIVE_AT_WINDOW_START = MetricSpec(
    "dealpulse_deals_active_at_window_start",
    "gauge",
    "Deals active at the window's start (won at or before it, not churned by then), credited "
    "to the seller and pipeline of the win; logo-churn denominator. Exported for retained "
    "windows up to the current one. Labels: tenant, pipeline, seller.",
    _SELLER,
    windowed=True,
)
OPEN_PIPELINE_VALUE = MetricSpec(
    "dealpulse_open_pipeline_value",
    "gauge",
    "Value of open deals now, in reporting currency units, by current stage. "
    "Labels: tenant, pipeline, stage.",
    _STAGE,
    windowed=False,
)
OPEN_PIPELINE_WEIGHTED_VALUE = MetricSpec(
    "dealpulse_open_pipeline_weighted_value",
    "gauge",
    "Value of open deals now times their stage's win probability (0 for a stage the pipeline "
    "config lacks), in reporting currency units. Labels: tenant, pipeline, stage.",
    _STAGE,
    windowed=False,
)
OPEN_DEALS = MetricSpec(
    "dealpulse_open_deals",
    "gauge",
    "Open deals now, by current stage. Labels: tenant, pipeline, stage.",
    _STAGE,
    windowed=False,
)
DEAL_ANOMALIES = MetricSpec(
    "dealpulse_deal_anomalies",
    "gauge",
    "Live (not deleted) deals whose history shows the anomaly (unknown stage, churn without a "
    "win, events before created, ...); the deal is still counted. Labels: tenant, anomaly.",
    ("tenant", "anomaly"),
    windowed=False,
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    WON_REVENUE,
    DEALS_WON,
    DEALS_CLOSED,
    SALES_CYCLE,
    TICKET_SIZE,
    TIME_IN_STAGE,
    STAGE_TRANSITIONS,
    STAGE_ENTERED,
    STAGE_ADVANCED,
    DEALS_LOST,
    DEALS_CHURNED,
    CHURNED_REVENUE,
    DEALS_ACTIVE_AT_WINDOW_START,
    OPEN_PIPELINE_VALUE,
    OPEN_PIPELINE_WEIGHTED_VALUE,
    OPEN_DEALS,
    DEAL_ANOMALIES,
)
HISTOGRAMS: tuple[MetricSpec, ...] = tuple(m for m in ALL_METRICS if m.kind == "histogram")

DEALS_ACTIVE_CHANGE = "dealpulse_deals_active_change"
"""Aggregated (never exported) form of `DEALS_ACTIVE_AT_WINDOW_START`."""

CARRIED_METRICS = frozenset({DEALS_ACTIVE_CHANGE})
"""Aggregated samples whose out-of-retention windows are carried into the oldest retained
window instead of being dropped (they are changes of a running total)."""


def le_label(bound: Decimal) -> str:
    """A bucket bound as the `le` label value: plain digits, no exponent, no trailing zeros."""
    return format(bound.normalize(), "f")
