"""`contributions(view, ctx)`: what one deal adds to every metric, per labels and window.

A worker keeps `sum(contributions(view, ctx) for every deal)` by applying
*new - old* each time a deal's view changes. Everything is keyed by
`ContributionKey(metric, labels, window)`: `labels` is a tuple of `(name,
value)` pairs sorted by name, `window` a `Window` or `None` for the open
pipeline and the anomaly gauge. Windows before the retention cutoff are left out
(too late: they change nothing), except that the active-deal changes are
carried into the oldest retained window (see `catalogue.DEALS_ACTIVE_CHANGE`).
A deleted deal, or one with no event, contributes nothing. Zero values are left out.

The contributions come in *parts* (`contribution_parts`): one per piece of the
view they derive from (the win, each stage visit left, each transition...),
keyed by that piece. One event changes few pieces of a deal, so the worker
reuses the parts of the deal's previous view whose key is unchanged and applies
only the parts that differ (`Aggregates.apply_parts`); `contributions` is the
sum of the parts.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import NamedTuple, TypeVarTuple

from streams.domain import catalogue as cat
from streams.domain.context import MetricContext
from streams.domain.money import EXACT, Money, multiply_exact
from streams.domain.pipeline_config import RESERVED_STAGE_NAMES, WON
from streams.domain.view import (
    Anomaly,
    Churn,
    DealStatus,
    DealView,
    Loss,
    StageVisit,
    Transition,
    Win,
)
from streams.domain.windows import (
    Granularity,
    Window,
    first_window_start_at_or_after,
    local_date,
    window_start_of_date,
)

MISSING = "(none)"
"""Label value for a field the deal never had (no owner, no pipeline, no reason...)."""

Labels = tuple[tuple[str, str], ...]
ZERO = Decimal(0)
ONE = Decimal(1)
_MICROSECONDS = 1_000_000


class ContributionKey(NamedTuple):
    metric: str
    labels: Labels
    window: Window | None


Part = tuple[Hashable, ...]
"""What one part of a deal's contributions derives from: a kind and the view's pieces."""
PartValues = tuple[tuple[ContributionKey, Decimal], ...]
Parts = dict[Part, PartValues]

Inputs = TypeVarTuple("Inputs")
_new_key = tuple.__new__  # ContributionKey(...) goes through a Python-level __new__: hot path


def labels(**values: str | None) -> Labels:
    """Label pairs sorted by name; a missing value becomes `MISSING`."""
    return _sorted_labels(tuple(values.items()))


@lru_cache(maxsize=65_536)  # the hot path: the same few label sets, deal after deal
def _sorted_labels(pairs: tuple[tuple[str, str | None], ...]) -> Labels:
    return tuple(sorted((name, MISSING if value is None else value) for name, value in pairs))


@lru_cache(maxsize=65_536)
def stage_labels(tenant: str, pipeline: str | None, stage: str | None) -> Labels:
    """`labels(tenant=..., pipeline=..., stage=...)`, cached: the hot path's label set."""
    return labels(tenant=tenant, pipeline=pipeline, stage=stage)


@lru_cache(maxsize=65_536)
def seller_labels(tenant: str, pipeline: str | None, seller: str | None) -> Labels:
    """`labels(tenant=..., pipeline=..., seller=...)`, cached."""
    return labels(tenant=tenant, pipeline=pipeline, seller=seller)


@lru_cache(maxsize=65_536)
def _with_le(label_pairs: Labels, le: str) -> Labels:
    return tuple(sorted((*label_pairs, ("le", le))))


@lru_cache(maxsize=4_096)
def _retained_windows(
    day: date, cutoffs: tuple[tuple[Granularity, date], ...]
) -> tuple[Window, ...]:
    """The windows containing local date `day` that start at or after their cutoff."""
    found: list[Window] = []
    for granularity, cutoff in cutoffs:
        start = window_start_of_date(day, granularity)
        if start >= cutoff:
            found.append(Window(granularity, start))
    return tuple(found)


def seconds(duration: timedelta) -> Decimal:
    """`duration` in seconds, exact to the microsecond."""
    whole = duration.days * 86_400 + duration.seconds
    return EXACT.scaleb(Decimal(whole * _MICROSECONDS + duration.microseconds), -6)


def contributions(view: DealView, ctx: MetricContext) -> dict[ContributionKey, Decimal]:
    """Everything the deal adds, per key: the sum of its parts, zeros left out."""
    total: dict[ContributionKey, Decimal] = {}
    for values in contribution_parts(view, ctx).values():
        for key, value in values:
            known = total.get(key)
            total[key] = value if known is None else EXACT.add(known, value)
    return {key: value for key, value in total.items() if value != ZERO}


def contribution_parts(
    view: DealView, ctx: MetricContext, reuse: Mapping[Part, PartValues] | None = None
) -> Parts:
    """The deal's contributions in parts, each keyed by what it derives from.

    A part of `reuse` (the parts of an earlier view of the same deal, computed
    with a context of the same `contribution_basis`) is taken as it is when its
    key recurs: equal keys mean equal contributions.
    """
    if view.status is DealStatus.DELETED or view.event_count == 0:
        return {}
    parts = _Parts(ctx, reuse or {})
    _sales(view, parts)
    _losses(view, parts)
    _churn(view, parts)
    _active(view, parts)
    _stages(view, ctx, parts)
    _open_pipeline(view, parts)
    anomalies = view.anomalies | config_anomalies(view, ctx)
    if anomalies:
        parts.add(("anomalies", view.tenant, anomalies), _anomalies, view.tenant, anomalies)
    return parts.found


def contribution_basis(ctx: MetricContext) -> Hashable:
    """What contributions depend on in `ctx`: two contexts with equal bases give equal parts.

    Everything but `now`, which enters only through the retention cutoffs.
    """
    return (
        tuple(ctx.cutoffs.items()),
        ctx.timezone,
        id(ctx.pipelines),
        ctx.reporting_currency,
        tuple(sorted(ctx.rates.items())),
        ctx.ticket_size_buckets,
    )


def _anomalies(sink: _Sink, tenant: str, anomalies: frozenset[Anomaly]) -> None:
    for anomaly in anomalies:
        sink.add(cat.DEAL_ANOMALIES.name, labels(tenant=tenant, anomaly=anomaly.value), None, ONE)


def config_anomalies(view: DealView, ctx: MetricContext) -> frozenset[Anomaly]:
    """Pipelines and stages the deal uses that the pipeline configuration lacks."""
    used = {(visit.pipeline, visit.stage) for visit in view.visits}
    used.update((t.pipeline, t.to_stage) for t in view.transitions)
    used.update((t.pipeline, t.from_stage) for t in view.transitions)
    found: set[Anomaly] = set()
    if view.status is DealStatus.OPEN:
        if view.stage is None:
            found.add(Anomaly.UNKNOWN_STAGE)
        else:
            used.add((view.pipeline, view.stage))
    pipelines = {pipeline for pipeline, _ in used} | {view.pipeline}
    if any(ctx.pipelines.get(pipeline) is None for pipeline in pipelines):
        found.add(Anomaly.UNKNOWN_PIPELINE)
    for pipeline, stage in used:
        spec = ctx.pipelines.get(pipeline)
        if spec is not None and stage not in RESERVED_STAGE_NAMES and not spec.knows(stage):
            found.add(Anomaly.UNKNOWN_STAGE)
    return frozenset(found)


class _Sink:
    """Collects the values of one part at a time; caches the windows of each instant.

    A part's values may hold a key twice or a zero: `contributions` sums them
    and leaves zeros out, `Aggregates` adds each and ignores zeros.
    """

    __slots__ = ("_cutoffs", "_windows", "ctx", "values")

    def __init__(self, ctx: MetricContext) -> None:
        self.ctx = ctx
        self.values: list[tuple[ContributionKey, Decimal]] = []
        self._windows: dict[datetime, tuple[Window, ...]] = {}
        self._cutoffs = tuple(ctx.cutoffs.items())

    def take(self) -> PartValues:
        """The values collected since the last `take`; the sink is emptied."""
        taken = tuple(self.values)
        self.values.clear()
        return taken

    def windows(self, at: datetime) -> tuple[Window, ...]:
        """The retained windows containing instant `at`, one per granularity."""
        found = self._windows.get(at)
        if found is None:
            found = _retained_windows(local_date(at, self.ctx.timezone), self._cutoffs)
            self._windows[at] = found
        return found

    def add(self, metric: str, label_pairs: Labels, window: Window | None, value: Decimal) -> None:
        self.values.append((_new_key(ContributionKey, (metric, label_pairs, window)), value))

    def add_windowed(self, metric: str, label_pairs: Labels, at: datetime, value: Decimal) -> None:
        append = self.values.append
        for window in self.windows(at):
            append((_new_key(ContributionKey, (metric, label_pairs, window)), value))

    def observe(
        self,
        spec: cat.MetricSpec,
        label_pairs: Labels,
        at: datetime,
        value: Decimal,
        bounds: tuple[Decimal, ...],
    ) -> None:
        """One histogram observation: its bucket, sum and count, in the windows of `at`."""
        le = _le_labels(bounds)[bisect_left(bounds, value)]
        bucket_labels = _with_le(label_pairs, le)
        self.add_windowed(spec.in_bucket, bucket_labels, at, ONE)
        self.add_windowed(spec.sum, label_pairs, at, value)
        self.add_windowed(spec.count, label_pairs, at, ONE)


class _Parts:
    """Collects a deal's parts; a part whose key `reuse` holds is not computed again."""

    __slots__ = ("_reuse", "_sink", "found")

    def __init__(self, ctx: MetricContext, reuse: Mapping[Part, PartValues]) -> None:
        self._sink = _Sink(ctx)
        self._reuse = reuse
        self.found: Parts = {}

    def add(self, part: Part, compute: Callable[[_Sink, *Inputs], None], *inputs: *Inputs) -> None:
        """Add the part `part`, computed by `compute(sink, *inputs)` unless reused.

        A key seen before in this deal (two equal transitions at the same
        instant) is told apart by its occurrence, so each counts.
        """
        occurrence = 1
        key = part
        while key in self.found:
            occurrence += 1
            key = (part, occurrence)
        values = self._reuse.get(key)
        if values is None:
            compute(self._sink, *inputs)
            values = self._sink.take()
        self.found[key] = values


@cache
def _le_labels(bounds: tuple[Decimal, ...]) -> tuple[str, ...]:
    return (*(cat.le_label(bound) for bound in bounds), cat.INF)


def _reporting(money: Money | None, ctx: MetricContext) -> Decimal:
    return ZERO if money is None else ctx.to_reporting(money)


def _sales(view: DealView, parts: _Parts) -> None:
    win = view.win
    if win is not None:
        parts.add(("win", view.tenant, win, view.created_at), _win, view, win)


def _win(sink: _Sink, view: DealView, win: Win) -> None:
    ctx = sink.ctx
    seller = seller_labels(view.tenant, win.pipeline, win.seller)
    revenue = _reporting(win.amount, ctx)
    sink.add_windowed(cat.WON_REVENUE.name, seller, win.won_at, revenue)
    sink.add_windowed(cat.DEALS_WON.name, seller, win.won_at, ONE)
    sink.add_windowed(cat.DEALS_CLOSED.name, seller, win.won_at, ONE)
    sink.observe(cat.TICKET_SIZE, seller, win.won_at, revenue, ctx.ticket_size_buckets)
    if view.created_at is not None and view.created_at <= win.won_at:
        cycle = seconds(win.won_at - view.created_at)
        sink.observe(cat.SALES_CYCLE, seller, win.won_at, cycle, cat.DURATION_BUCKETS_SECONDS)


def _losses(view: DealView, parts: _Parts) -> None:
    loss = view.loss
    if loss is not None:
        parts.add(("loss", view.tenant, loss), _loss, view.tenant, loss)


def _loss(sink: _Sink, tenant: str, loss: Loss) -> None:
    seller = seller_labels(tenant, loss.pipeline, loss.seller)
    sink.add_windowed(cat.DEALS_CLOSED.name, seller, loss.lost_at, ONE)
    reason = labels(tenant=tenant, pipeline=loss.pipeline, reason=loss.reason)
    sink.add_windowed(cat.DEALS_LOST.name, reason, loss.lost_at, ONE)


def _churn(view: DealView, parts: _Parts) -> None:
    churn = view.churn
    if churn is not None:
        parts.add(("churn", view.tenant, churn), _churned, view.tenant, churn)


def _churned(sink: _Sink, tenant: str, churn: Churn) -> None:
    churn_labels = labels(
        tenant=tenant, pipeline=churn.pipeline, seller=churn.seller, reason=churn.reason
    )
    sink.add_windowed(cat.DEALS_CHURNED.name, churn_labels, churn.churned_at, ONE)
    revenue = _reporting(churn.amount, sink.ctx)
    sink.add_windowed(cat.CHURNED_REVENUE.name, churn_labels, churn.churned_at, revenue)


def _active(view: DealView, parts: _Parts) -> None:
    """+1 from the first window starting at or after the win, -1 from the churn's."""
    win = view.win
    if win is None:
        return
    seller = seller_labels(view.tenant, win.pipeline, win.seller)
    parts.add(("active", seller, win.won_at, ONE), _active_change, seller, win.won_at, ONE)
    if view.churn is not None:
        churned_at = view.churn.churned_at
        parts.add(("active", seller, churned_at, -ONE), _active_change, seller, churned_at, -ONE)


def _active_change(sink: _Sink, seller: Labels, at: datetime, change: Decimal) -> None:
    ctx = sink.ctx
    for granularity, cutoff in ctx.cutoffs.items():
        start = first_window_start_at_or_after(at, granularity, ctx.timezone)
        window = Window(granularity, max(start, cutoff))
        sink.add(cat.DEALS_ACTIVE_CHANGE, seller, window, change)


def _stages(view: DealView, ctx: MetricContext, parts: _Parts) -> None:
    tenant = view.tenant
    first_entry: dict[tuple[str | None, str], datetime] = {}
    first_advance: dict[tuple[str | None, str], datetime] = {}
    for visit in view.visits:
        key = (visit.pipeline, visit.stage)
        first_entry.setdefault(key, visit.entered_at)
        if visit.left_at is None:
            continue
        parts.add(("stay", tenant, visit), _stay, tenant, visit)
        if key not in first_advance and _advances(visit, ctx):
            first_advance[key] = visit.left_at
    for (pipeline, stage), at in first_entry.items():
        entered = ("entered", tenant, pipeline, stage, at)
        parts.add(entered, _once, cat.STAGE_ENTERED.name, tenant, pipeline, stage, at)
    for (pipeline, stage), at in first_advance.items():
        advanced = ("advanced", tenant, pipeline, stage, at)
        parts.add(advanced, _once, cat.STAGE_ADVANCED.name, tenant, pipeline, stage, at)
    for transition in view.transitions:
        parts.add(("move", tenant, transition), _move, tenant, transition)


def _stay(sink: _Sink, tenant: str, visit: StageVisit) -> None:
    assert visit.left_at is not None  # only stages left are recorded
    stage = stage_labels(tenant, visit.pipeline, visit.stage)
    dwell = seconds(visit.left_at - visit.entered_at)
    sink.observe(cat.TIME_IN_STAGE, stage, visit.left_at, dwell, cat.DURATION_BUCKETS_SECONDS)


def _once(
    sink: _Sink, metric: str, tenant: str, pipeline: str | None, stage: str, at: datetime
) -> None:
    sink.add_windowed(metric, stage_labels(tenant, pipeline, stage), at, ONE)


def _move(sink: _Sink, tenant: str, transition: Transition) -> None:
    move = labels(
        tenant=tenant,
        pipeline=transition.pipeline,
        from_stage=transition.from_stage,
        to_stage=transition.to_stage,
    )
    sink.add_windowed(cat.STAGE_TRANSITIONS.name, move, transition.at, ONE)


def _advances(visit: StageVisit, ctx: MetricContext) -> bool:
    if visit.left_to is None:
        return False
    if visit.left_to == WON:
        return True
    spec = ctx.pipelines.get(visit.pipeline)
    return spec is not None and spec.is_advance(visit.stage, visit.left_to)


def _open_pipeline(view: DealView, parts: _Parts) -> None:
    if view.status is not DealStatus.OPEN:
        return
    part = ("open", view.tenant, view.pipeline, view.stage, view.amount)
    parts.add(part, _open, view.tenant, view.pipeline, view.stage, view.amount)


def _open(
    sink: _Sink, tenant: str, pipeline: str | None, stage: str | None, amount: Money | None
) -> None:
    ctx = sink.ctx
    stage_set = stage_labels(tenant, pipeline, stage)
    value = _reporting(amount, ctx)
    spec = ctx.pipelines.get(pipeline)
    probability = None if spec is None or stage is None else spec.win_probability(stage)
    weighted = multiply_exact(value, probability) if probability is not None else ZERO
    sink.add(cat.OPEN_DEALS.name, stage_set, None, ONE)
    sink.add(cat.OPEN_PIPELINE_VALUE.name, stage_set, None, value)
    sink.add(cat.OPEN_PIPELINE_WEIGHTED_VALUE.name, stage_set, None, weighted)
