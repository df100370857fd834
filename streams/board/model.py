"""What the board shows, computed from the samples of a worker's /metrics as PromQL would.

Pure: samples in, a frozen `BoardSnapshot` out, no I/O and no clock (the caller
says when it scraped). Every number sums the series over tenants and pipelines
first and divides after, as the recording rules do, so a ratio here is the one
a Grafana panel shows for the same worker. Values stay floats: they were
floats in the Prometheus text already.

"Today" is the series of `granularity="day"` and `window="current"`, "this
month" those of `granularity="month"` and `window="current"`: the worker's
clock decides which windows those are, and the snapshot keeps their dates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol

from streams.board.quantile import histogram_quantile
from streams.domain.pipeline_config import PipelineConfig
from streams.domain.windows import Granularity
from streams.exposition import catalogue as cat
from streams.exposition.samples import window_name
from streams.exposition.seller_cap import SELLER_LABEL, TENANT_LABEL
from streams.worker.engine_metrics import NEWEST_EVENT_TIMESTAMP

CURRENT = window_name(0)
MEDIAN = 0.5

Period = Literal["today", "month"]
_PERIODS: Mapping[str, Period] = {Granularity.DAY.value: "today", Granularity.MONTH.value: "month"}


class Sample(Protocol):
    """One sample of the page: prometheus_client's parser yields these."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SellerRow:
    """One seller this month (and today's won revenue); ratios None on a zero denominator."""

    seller: str
    won_revenue_today: float
    won_revenue_month: float
    deals_won: int
    deals_closed: int
    win_rate: float | None
    average_ticket: float | None
    median_cycle_seconds: float | None
    deals_churned: int
    deals_active_at_month_start: int
    churn_rate: float | None


@dataclass(frozen=True, slots=True)
class PipelineRow:
    """The open deals of one pipeline, now (every stage and tenant)."""

    pipeline: str
    open_deals: int
    open_value: float
    weighted_value: float


@dataclass(frozen=True, slots=True)
class StageConversion:
    stage: str
    entered: int
    advanced: int
    conversion: float | None
    """advanced ÷ entered this month; None when none entered."""


@dataclass(frozen=True, slots=True)
class Funnel:
    """A pipeline's stages this month, in the configured order, then the others."""

    pipeline: str
    stages: tuple[StageConversion, ...]


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    scraped_at: datetime
    today: date | None
    """The day of the `current` daily series; None when the page has none."""
    month_start: date | None
    newest_event_at: datetime | None
    """The newest event time any owned partition folded; None before the first event."""
    tenants: tuple[str, ...]
    sellers: tuple[SellerRow, ...]
    """By won revenue this month, largest first."""
    seller_totals: SellerRow
    pipelines: tuple[PipelineRow, ...]
    pipeline_totals: PipelineRow
    funnels: tuple[Funnel, ...]
    sellers_folded: int
    """Sellers the worker summed into `__other__` (the seller cap), over every tenant."""


ALL_SELLERS = "all sellers"
ALL_PIPELINES = "all pipelines"


def board_snapshot(
    samples: Iterable[Sample], pipelines: PipelineConfig, scraped_at: datetime
) -> BoardSnapshot:
    """The board for a page's samples; `pipelines` orders the pipelines and each funnel."""
    reading = _Reading()
    for sample in samples:
        reading.take(sample)
    in_funnels = reading.funnel_pipelines()
    order = _pipeline_order(pipelines, {*reading.open_by_pipeline, *in_funnels})
    sellers = sorted(
        (sums.row(seller) for seller, sums in reading.sellers.items()),
        key=lambda row: (-row.won_revenue_month, row.seller),
    )
    open_rows = [reading.open_by_pipeline.get(name, _OpenSums()).row(name) for name in order]
    return BoardSnapshot(
        scraped_at=scraped_at,
        today=max(reading.starts["today"], default=None),
        month_start=max(reading.starts["month"], default=None),
        newest_event_at=(
            None if reading.newest is None else datetime.fromtimestamp(reading.newest, UTC)
        ),
        tenants=tuple(sorted(reading.tenants)),
        sellers=tuple(sellers),
        seller_totals=_SellerSums.total(reading.sellers.values()).row(ALL_SELLERS),
        pipelines=tuple(open_rows),
        pipeline_totals=_OpenSums.total(reading.open_by_pipeline.values()).row(ALL_PIPELINES),
        funnels=tuple(
            _funnel(name, pipelines, reading.entered, reading.advanced)
            for name in order
            if name in in_funnels
        ),
        sellers_folded=round(reading.folded),
    )


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


@dataclass
class _SellerSums:
    won_revenue_today: float = 0.0
    won_revenue_month: float = 0.0
    deals_won: float = 0.0
    deals_closed: float = 0.0
    ticket_sum: float = 0.0
    ticket_count: float = 0.0
    cycle_buckets: defaultdict[float, float] = field(default_factory=lambda: defaultdict(float))
    deals_churned: float = 0.0
    deals_active: float = 0.0

    def add(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """One sample of this month's seller series (today's revenue is added apart)."""
        if name == cat.WON_REVENUE.name:
            self.won_revenue_month += value
        elif name == cat.DEALS_WON.name:
            self.deals_won += value
        elif name == cat.DEALS_CLOSED.name:
            self.deals_closed += value
        elif name == cat.TICKET_SIZE.sum:
            self.ticket_sum += value
        elif name == cat.TICKET_SIZE.count:
            self.ticket_count += value
        elif name == cat.SALES_CYCLE.bucket and (bound := _upper_bound(labels)) is not None:
            self.cycle_buckets[bound] += value
        elif name == cat.DEALS_CHURNED.name:
            self.deals_churned += value
        elif name == cat.DEALS_ACTIVE_AT_WINDOW_START.name:
            self.deals_active += value

    @classmethod
    def total(cls, parts: Iterable[_SellerSums]) -> _SellerSums:
        total = cls()
        for part in parts:
            total.won_revenue_today += part.won_revenue_today
            total.won_revenue_month += part.won_revenue_month
            total.deals_won += part.deals_won
            total.deals_closed += part.deals_closed
            total.ticket_sum += part.ticket_sum
            total.ticket_count += part.ticket_count
            for bound, count in part.cycle_buckets.items():
                total.cycle_buckets[bound] += count
            total.deals_churned += part.deals_churned
            total.deals_active += part.deals_active
        return total

    def row(self, seller: str) -> SellerRow:
        return SellerRow(
            seller=seller,
            won_revenue_today=self.won_revenue_today,
            won_revenue_month=self.won_revenue_month,
            deals_won=round(self.deals_won),
            deals_closed=round(self.deals_closed),
            win_rate=ratio(self.deals_won, self.deals_closed),
            average_ticket=ratio(self.ticket_sum, self.ticket_count),
            median_cycle_seconds=histogram_quantile(MEDIAN, self.cycle_buckets),
            deals_churned=round(self.deals_churned),
            deals_active_at_month_start=round(self.deals_active),
            churn_rate=ratio(self.deals_churned, self.deals_active),
        )


@dataclass
class _OpenSums:
    deals: float = 0.0
    value: float = 0.0
    weighted: float = 0.0

    def add(self, name: str, value: float) -> None:
        if name == cat.OPEN_DEALS.name:
            self.deals += value
        elif name == cat.OPEN_PIPELINE_VALUE.name:
            self.value += value
        elif name == cat.OPEN_PIPELINE_WEIGHTED_VALUE.name:
            self.weighted += value

    @classmethod
    def total(cls, parts: Iterable[_OpenSums]) -> _OpenSums:
        total = cls()
        for part in parts:
            total.deals += part.deals
            total.value += part.value
            total.weighted += part.weighted
        return total

    def row(self, pipeline: str) -> PipelineRow:
        return PipelineRow(pipeline, round(self.deals), self.value, self.weighted)


_SELLER_MONTH = frozenset(
    {
        cat.WON_REVENUE.name,
        cat.DEALS_WON.name,
        cat.DEALS_CLOSED.name,
        cat.TICKET_SIZE.sum,
        cat.TICKET_SIZE.count,
        cat.SALES_CYCLE.bucket,
        cat.DEALS_CHURNED.name,
        cat.DEALS_ACTIVE_AT_WINDOW_START.name,
    }
)
_OPEN = frozenset(
    {cat.OPEN_DEALS.name, cat.OPEN_PIPELINE_VALUE.name, cat.OPEN_PIPELINE_WEIGHTED_VALUE.name}
)
_STAGE_MONTH = frozenset({cat.STAGE_ENTERED.name, cat.STAGE_ADVANCED.name})
_NOW = frozenset({*_OPEN, NEWEST_EVENT_TIMESTAMP, cat.SELLERS_COLLAPSED.name})
_CURRENT_WINDOW = f'{cat.WINDOW_LABEL}="{CURRENT}"'
_READ_GRANULARITIES = tuple(f'granularity="{name}"' for name in _PERIODS)
_StageKey = tuple[str, str]
"""(pipeline, stage)"""


def reads_line(line: str) -> bool:
    """Whether the board may need a line of the page: a cheap look at the text before it
    is parsed (Prometheus' parser takes most of a frame's time on a page of a thousand
    sellers, most of it other windows). Comments stay, so families stay; `board_snapshot`
    checks the parsed labels again, so a line kept needlessly changes nothing."""
    if line.startswith("#"):
        return True
    name = line.split("{", 1)[0].split(" ", 1)[0]
    if name in _NOW:
        return True
    if name in _SELLER_MONTH or name in _STAGE_MONTH or name == cat.WON_REVENUE.name:
        return _CURRENT_WINDOW in line and any(g in line for g in _READ_GRANULARITIES)
    return False


@dataclass
class _Reading:
    """The page's samples summed into what the board needs, one sample at a time."""

    sellers: defaultdict[str, _SellerSums] = field(default_factory=lambda: defaultdict(_SellerSums))
    open_by_pipeline: defaultdict[str, _OpenSums] = field(
        default_factory=lambda: defaultdict(_OpenSums)
    )
    entered: defaultdict[_StageKey, float] = field(default_factory=lambda: defaultdict(float))
    advanced: defaultdict[_StageKey, float] = field(default_factory=lambda: defaultdict(float))
    starts: dict[Period, set[date]] = field(
        default_factory=lambda: {"today": set(), "month": set()}
    )
    tenants: set[str] = field(default_factory=set)
    newest: float | None = None
    folded: float = 0.0

    def take(self, sample: Sample) -> None:
        name, labels, value = sample.name, sample.labels, float(sample.value)
        if not name.startswith("dealpulse_"):
            return
        if TENANT_LABEL in labels:
            self.tenants.add(labels[TENANT_LABEL])
        if name == NEWEST_EVENT_TIMESTAMP:
            self.newest = value if self.newest is None else max(self.newest, value)
        elif name == cat.SELLERS_COLLAPSED.name:
            self.folded += value
        elif name in _OPEN:
            self.open_by_pipeline[labels.get("pipeline", "")].add(name, value)
        else:
            self._take_windowed(name, labels, value)

    def _take_windowed(self, name: str, labels: Mapping[str, str], value: float) -> None:
        period = _current_period(labels)
        if period is None:
            return
        start = _window_start(labels)
        if start is not None:
            self.starts[period].add(start)
        seller = labels.get(SELLER_LABEL)
        if period == "today":
            if name == cat.WON_REVENUE.name and seller is not None:
                self.sellers[seller].won_revenue_today += value
        elif name in _SELLER_MONTH and seller is not None:
            self.sellers[seller].add(name, labels, value)
        elif name == cat.STAGE_ENTERED.name:
            self.entered[(labels.get("pipeline", ""), labels.get("stage", ""))] += value
        elif name == cat.STAGE_ADVANCED.name:
            self.advanced[(labels.get("pipeline", ""), labels.get("stage", ""))] += value

    def funnel_pipelines(self) -> set[str]:
        return {pipeline for pipeline, _ in (*self.entered, *self.advanced)}


def _current_period(labels: Mapping[str, str]) -> Period | None:
    if labels.get(cat.WINDOW_LABEL) != CURRENT:
        return None
    return _PERIODS.get(labels.get("granularity", ""))


def _upper_bound(labels: Mapping[str, str]) -> float | None:
    try:
        return float(labels.get(cat.LE, ""))  # "+Inf" reads as infinity
    except ValueError:
        return None


def _window_start(labels: Mapping[str, str]) -> date | None:
    try:
        return date.fromisoformat(labels.get("window_start", ""))
    except ValueError:
        return None


def _pipeline_order(pipelines: PipelineConfig, seen: Iterable[str]) -> list[str]:
    """The configured pipelines in the file's order, then the others by name."""
    present = set(seen)
    configured = [name for name in pipelines.pipelines if name in present]
    return configured + sorted(present - set(configured))


def _funnel(
    pipeline: str,
    pipelines: PipelineConfig,
    entered: Mapping[_StageKey, float],
    advanced: Mapping[_StageKey, float],
) -> Funnel:
    def conversion(stage: str) -> StageConversion:
        into = entered.get((pipeline, stage), 0.0)
        onward = advanced.get((pipeline, stage), 0.0)
        return StageConversion(stage, round(into), round(onward), ratio(onward, into))

    spec = pipelines.get(pipeline)
    configured: Sequence[str] = [] if spec is None else [stage.name for stage in spec.stages]
    seen = {stage for name, stage in (*entered, *advanced) if name == pipeline}
    others = sorted(
        seen - set(configured), key=lambda stage: (-entered.get((pipeline, stage), 0.0), stage)
    )
    return Funnel(pipeline, tuple(conversion(stage) for stage in (*configured, *others)))
