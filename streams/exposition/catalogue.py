"""Every family dealpulse exports: its name, Prometheus type, HELP text (the formula), labels.

The collector, the recording and alert rules, the dashboards and
`docs/metrics.md` all refer to these specs, so a rename is one change here and
in `streams.domain.metrics`, where each spec's metric is defined.

All values are recomputed from per-deal state, so a value can go *down* (a
reopened deal retracts its win): nothing here is a Prometheus counter and no
name ends in `_total`. Ratios are exported as numerator and denominator;
recording rules divide after summing across workers.

Windowed families carry three more labels: the granularity (`day`, `week`,
`month`), the ISO date the window starts on in the configured timezone
(`WINDOW_LABELS`), and `window` (`WINDOW_LABEL`: `current`, `previous`, ...).
A histogram is exported as cumulative `<name>_bucket` samples, one per `le`
up to `+Inf`, plus `<name>_sum` and `<name>_count`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.domain import metrics
from streams.domain.metrics import Metric, suffixed

Kind = Literal["gauge", "histogram"]

WINDOW_LABELS = ("granularity", "window_start")
WINDOW_LABEL = "window"
"""Which exported window a series is, relative to now: `current`, `previous`, `previous_2`..."""

LE = metrics.BUCKET_LABEL
INF = metrics.UNBOUNDED
"""The `le` of the last bucket: the domain's bucket labels are Prometheus' `le` values."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    metric: Metric
    help: str

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def kind(self) -> Kind:
        return "histogram" if self.metric.histogram else "gauge"

    @property
    def labels(self) -> tuple[str, ...]:
        """The domain's labels, without the window's (see `label_names`)."""
        return self.metric.labels

    @property
    def windowed(self) -> bool:
        return self.metric.windowed

    @property
    def bucket(self) -> str:
        """Exported cumulative bucket sample (histograms)."""
        return suffixed(self.metric.name, "_bucket")

    @property
    def sum(self) -> str:
        return self.metric.sum

    @property
    def count(self) -> str:
        return self.metric.count


WON_REVENUE = MetricSpec(
    metrics.WON_REVENUE,
    "Won revenue in reporting currency units: sum of each won deal's amount in force at the win "
    "(the won event's own amount when it has one) times the currency's rate, credited to the "
    "owner at the win, in the window of the win. Labels: tenant, pipeline, seller.",
)
DEALS_WON = MetricSpec(
    metrics.DEALS_WON,
    "Deals won: count of deals whose current win falls in the window, credited to the owner at "
    "the win; win-rate numerator. Labels: tenant, pipeline, seller.",
)
DEALS_CLOSED = MetricSpec(
    metrics.DEALS_CLOSED,
    "Deals closed, won plus lost, in the window of closing, credited to the owner at the close; "
    "win-rate denominator. Labels: tenant, pipeline, seller.",
)
SALES_CYCLE = MetricSpec(
    metrics.SALES_CYCLE,
    "Sales cycle of deals won in the window: won_at - created_at in seconds, for deals with a "
    "created event. Labels: tenant, pipeline, seller.",
)
TICKET_SIZE = MetricSpec(
    metrics.TICKET_SIZE,
    "Ticket size of deals won in the window, in reporting currency units (average ticket = "
    "_sum / _count). Labels: tenant, pipeline, seller.",
)
TIME_IN_STAGE = MetricSpec(
    metrics.TIME_IN_STAGE,
    "Time deals spent in a stage, left_at - entered_at in seconds, recorded in the window the "
    "stage was left. Labels: tenant, pipeline, stage.",
)
STAGE_TRANSITIONS = MetricSpec(
    metrics.STAGE_TRANSITIONS,
    "Moves of open deals from one stage to another (to_stage won or lost when closed; "
    "from_stage won, lost or churned when reopened), in the window of the move. "
    "Labels: tenant, pipeline, from_stage, to_stage.",
)
STAGE_ENTERED = MetricSpec(
    metrics.STAGE_ENTERED,
    "Deals that entered the stage, each deal once per stage (its first entry), in the window of "
    "that entry; per-stage conversion denominator. Labels: tenant, pipeline, stage.",
)
STAGE_ADVANCED = MetricSpec(
    metrics.STAGE_ADVANCED,
    "Deals that left the stage for a later stage of the pipeline or for won, each deal once per "
    "stage (its first advance), in the window it left; per-stage conversion numerator. "
    "Labels: tenant, pipeline, stage.",
)
DEALS_LOST = MetricSpec(
    metrics.DEALS_LOST,
    "Deals lost, in the window of the loss. Labels: tenant, pipeline, reason.",
)
DEALS_CHURNED = MetricSpec(
    metrics.DEALS_CHURNED,
    "Won deals churned (cancelled after the win), in the window of the churn, credited to the "
    "seller and pipeline of the win; logo-churn numerator. Labels: tenant, pipeline, seller, "
    "reason.",
)
CHURNED_REVENUE = MetricSpec(
    metrics.CHURNED_REVENUE,
    "Won revenue of churned deals (the amount of the win, reporting currency units), in the "
    "window of the churn, credited to the seller and pipeline of the win. Labels: tenant, "
    "pipeline, seller, reason.",
)
DEALS_ACTIVE_AT_WINDOW_START = MetricSpec(
    metrics.DEALS_ACTIVE_AT_WINDOW_START,
    "Deals active at the window's start (won at or before it, not churned by then), credited "
    "to the seller and pipeline of the win; logo-churn denominator. Exported for retained "
    "windows up to the current one. Labels: tenant, pipeline, seller.",
)
OPEN_PIPELINE_VALUE = MetricSpec(
    metrics.OPEN_PIPELINE_VALUE,
    "Value of open deals now, in reporting currency units, by current stage. "
    "Labels: tenant, pipeline, stage.",
)
OPEN_PIPELINE_WEIGHTED_VALUE = MetricSpec(
    metrics.OPEN_PIPELINE_WEIGHTED_VALUE,
    "Value of open deals now times their stage's win probability (0 for a stage the pipeline "
    "config lacks), in reporting currency units. Labels: tenant, pipeline, stage.",
)
OPEN_DEALS = MetricSpec(
    metrics.OPEN_DEALS,
    "Open deals now, by current stage. Labels: tenant, pipeline, stage.",
)
DEAL_ANOMALIES = MetricSpec(
    metrics.DEAL_ANOMALIES,
    "Live (not deleted) deals whose history shows the anomaly (unknown stage, churn without a "
    "win, events before created, ...); the deal is still counted. Labels: tenant, anomaly.",
)

PERIOD_WON_REVENUE = MetricSpec(
    metrics.PERIOD_WON_REVENUE,
    "Won revenue of the period so far (granularity month or quarter, window current or next, "
    "in the window timezone): dealpulse_won_revenue of its months, summed; what quota "
    "attainment divides. Labels: tenant, pipeline, seller, granularity, window.",
)
FORECAST_REVENUE = MetricSpec(
    metrics.FORECAST_REVENUE,
    "Forecast of the period (granularity month or quarter, window current or next, in the "
    "window timezone): won revenue of the wins in the period so far, plus the open deals "
    "expected to close in it times their stage's win probability, in reporting currency "
    "units; seller is the owner now. Labels: tenant, pipeline, seller, granularity, window.",
)
FORECAST_REVENUE_UNWEIGHTED = MetricSpec(
    metrics.FORECAST_REVENUE_UNWEIGHTED,
    "The forecast with every open deal expected to close in the period counted whole: won "
    "revenue so far plus the open value expected. "
    "Labels: tenant, pipeline, seller, granularity, window.",
)
SLIPPED_DEALS = MetricSpec(
    metrics.SLIPPED_DEALS,
    "Open deals whose expected close date has passed (before today in the window timezone). "
    "Seller is the owner now. Labels: tenant, pipeline, seller.",
)
SLIPPED_VALUE = MetricSpec(
    metrics.SLIPPED_VALUE,
    "Value of the slipped deals, in reporting currency units. Labels: tenant, pipeline, seller.",
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
    PERIOD_WON_REVENUE,
    FORECAST_REVENUE,
    FORECAST_REVENUE_UNWEIGHTED,
    SLIPPED_DEALS,
    SLIPPED_VALUE,
)
"""The business families, in the order of /metrics."""
HISTOGRAMS: tuple[MetricSpec, ...] = tuple(m for m in ALL_METRICS if m.kind == "histogram")

SELLERS_COLLAPSED = MetricSpec(
    Metric("dealpulse_seller_labels_folded", ("tenant",), windowed=False),
    'Sellers of the tenant whose series this worker summed into seller="__other__" at this '
    "scrape, because more than DEALPULSE_MAX_SELLERS_PER_TENANT sellers appeared; 0 under the "
    "cap. Labels: tenant.",
)
"""Not a business metric (not in `ALL_METRICS`): it describes the export itself."""

PERIOD_ELAPSED = MetricSpec(
    Metric("dealpulse_period_elapsed_ratio", (), windowed=True),
    "Fraction of the current month or quarter (granularity; window is current) elapsed by "
    "the worker's clock, from 0 at the period's local midnight start in the window timezone "
    "to 1 at its end: what pace divides quota attainment by. The same on every worker: "
    "aggregate with max, not sum. Labels: granularity, window.",
)
"""Not a business metric: it describes the worker's calendar, for the pace rules."""

QUOTA = MetricSpec(
    Metric("dealpulse_quota", ("tenant", "seller", "team"), windowed=True),
    "Sales quota of the seller for the month or quarter (granularity), in reporting currency "
    "units, as last loaded with `dealpulse quotas load`; the previous, current and next period "
    'by the worker\'s clock (window). team is the team the quota row names, "(none)" if none. '
    'A seller summed into seller="__other__" in the other metrics has its quota summed there '
    "too. The same on every worker (every worker holds all quotas): aggregate with max, not "
    "sum. Labels: tenant, seller, team.",
)
TEAM_QUOTA = MetricSpec(
    Metric("dealpulse_team_quota", ("tenant", "team"), windowed=True),
    "Sales quota of the team itself for the month or quarter (granularity), in reporting "
    "currency units, as last loaded with `dealpulse quotas load` (a quota row with a team and "
    "no seller); the previous, current and next period by the worker's clock (window). The "
    "same on every worker: aggregate with max, not sum. Labels: tenant, team.",
)
QUOTA_METRICS: tuple[MetricSpec, ...] = (QUOTA, TEAM_QUOTA)
"""The quota families: from the control plane's global table, not from deal state."""
