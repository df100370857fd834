"""`contributions(view, ctx)`: what one deal adds to every metric, per labels and window.

A worker keeps `sum(contributions(view, ctx) for every deal)` by applying
*new - old* each time a deal's view changes. Everything is keyed by
`ContributionKey(metric, labels, window)`: `labels` is a tuple of `(name,
value)` pairs sorted by name, `window` a `Window` or `None` for the open
pipeline and the anomaly gauge. Windows before the retention cutoff are left out
(too late: they change nothing), except that the active-deal changes are
carried into the oldest retained window (see `metrics.DEALS_ACTIVE_CHANGE`).
A deleted deal, or one with no event, contributes nothing. Zero values are left out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import NamedTuple, Protocol

from streams.domain import metrics
from streams.domain.context import MetricContext
from streams.domain.history import StageKey
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
WINDOWS_MEMO_INSTANTS = 1 << 16
"""How many instants' windows a sink remembers: a deal's events share a few instants, and
one batch sink that sums a million deals must not remember every instant it saw."""


class ContributionKey(NamedTuple):
    metric: str
    labels: Labels
    window: Window | None


new_key = tuple.__new__
"""Builds a `ContributionKey` without its generated `__new__` (a Python-level call): the
fold builds about 30 keys per event, a scrape thousands. `new_key(ContributionKey, (m, l, w))`."""


def labels(**values: str | None) -> Labels:
    """Label pairs sorted by name; a missing value becomes `MISSING`."""
    return _sorted_labels(tuple(values.items()))


@lru_cache(maxsize=65_536)  # the hot path: the same few label sets, deal after deal
def _sorted_labels(pairs: tuple[tuple[str, str | None], ...]) -> Labels:
    return tuple(sorted((name, MISSING if value is None else value) for name, value in pairs))


@lru_cache(maxsize=65_536)
def _seller_labels(tenant: str, pipeline: str | None, seller: str | None) -> Labels:
    """`labels(tenant=, pipeline=, seller=)`, positional and cached: about 0.1 µs instead of 0.5."""
    return labels(tenant=tenant, pipeline=pipeline, seller=seller)


@lru_cache(maxsize=65_536)
def _stage_labels(tenant: str, pipeline: str | None, stage: str | None) -> Labels:
    """`labels(tenant=, pipeline=, stage=)`, positional and cached: the fold's commonest."""
    return labels(tenant=tenant, pipeline=pipeline, stage=stage)


@lru_cache(maxsize=65_536)
def _with_bucket(label_pairs: Labels, bucket: str) -> Labels:
    return tuple(sorted((*label_pairs, (metrics.BUCKET_LABEL, bucket))))


@lru_cache(maxsize=4_096)
def _window(granularity: Granularity, start: date) -> Window:
    """One `Window` per window, shared by the aggregate keys that hold it (not one each)."""
    return Window(granularity, start)


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


class Sections(NamedTuple):
    """What a deal's current fields contribute, one part per metric family.

    Each part is the data its metrics are computed from, or None when it adds
    nothing: two equal parts contribute the same keys, so a deal whose event
    changed one part recomputes that part alone (`streams.domain.live_deal`).
    """

    win: tuple[str, Win, datetime | None] | None
    active: tuple[str, Win, datetime | None] | None
    loss: tuple[str, Loss] | None
    churn: tuple[str, Churn] | None
    open: tuple[str, str | None, str | None, Money | None] | None
    anomalies: tuple[str, frozenset[Anomaly]] | None
    closing: tuple[str, str | None, str | None, str | None, Money | None, date] | None
    """An open deal with an expected close date: tenant, pipeline, owner, stage, amount and
    that date."""


class DealFields(Protocol):
    """The current fields of a deal: a `DealView`, or the replay it is made from."""

    @property
    def tenant(self) -> str: ...
    @property
    def status(self) -> DealStatus: ...
    @property
    def pipeline(self) -> str | None: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def amount(self) -> Money | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def win(self) -> Win | None: ...
    @property
    def loss(self) -> Loss | None: ...
    @property
    def churn(self) -> Churn | None: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def expected_close_date(self) -> date | None: ...


_NO_SECTIONS = Sections(None, None, None, None, None, None, None)


def sections(deal: DealFields, anomalies: frozenset[Anomaly]) -> Sections:
    """The parts of a deal's contributions that its current fields decide."""
    tenant, win, churn = deal.tenant, deal.win, deal.churn
    is_open = deal.status is DealStatus.OPEN
    closes_on = deal.expected_close_date
    return Sections(
        win=None if win is None else (tenant, win, deal.created_at),
        active=None if win is None else (tenant, win, None if churn is None else churn.churned_at),
        loss=None if deal.loss is None else (tenant, deal.loss),
        churn=None if churn is None else (tenant, churn),
        open=(tenant, deal.pipeline, deal.stage, deal.amount) if is_open else None,
        anomalies=(tenant, anomalies) if anomalies else None,
        closing=(
            (tenant, deal.pipeline, deal.owner, deal.stage, deal.amount, closes_on)
            if is_open and closes_on is not None
            else None
        ),
    )


def contributions(view: DealView, ctx: MetricContext) -> dict[ContributionKey, Decimal]:
    sink = ContributionSink(ctx)
    add_contributions(view, sink)
    return {key: value for key, value in sink.values.items() if value != ZERO}


def add_contributions(view: DealView, sink: ContributionSink) -> None:
    """Add the deal's `contributions` to `sink` (a batch sums many deals in one sink)."""
    if view.status is DealStatus.DELETED or view.event_count == 0:
        return
    ctx = sink.ctx
    anomalies = view.anomalies | config_anomalies(view, ctx)
    add_sections(sections(view, anomalies), None, sink)
    StageTally().count(view.tenant, view.visits, view.transitions, ctx, sink)


def add_sections(parts: Sections, other: Sections | None, sink: ContributionSink) -> None:
    """Add to `sink` the parts of `parts` that differ from those of `other` (all when None).

    With `other` the deal's parts before an event, this adds what the event
    contributes anew; with the two swapped, what it retracts.
    """
    win, active, loss, churn, open_part, anomalies, closing = parts
    if other is None:
        other = _NO_SECTIONS
    if win is not None and win != other.win:
        _add_win(win, sink)
    if active is not None and active != other.active:
        _add_active(active, sink)
    if loss is not None and loss != other.loss:
        _add_loss(loss, sink)
    if churn is not None and churn != other.churn:
        _add_churn(churn, sink)
    if open_part is not None and open_part != other.open:
        _add_open(open_part, sink)
    if anomalies is not None and anomalies != other.anomalies:
        _add_anomalies(anomalies, sink)
    if closing is not None and closing != other.closing:
        _add_closing(closing, sink)


def config_anomalies(view: DealView, ctx: MetricContext) -> frozenset[Anomaly]:
    """Pipelines and stages the deal uses that the pipeline configuration lacks."""
    used = {(visit.pipeline, visit.stage) for visit in view.visits}
    used.update((t.pipeline, t.to_stage) for t in view.transitions)
    used.update((t.pipeline, t.from_stage) for t in view.transitions)
    return anomalies_of_use(used, view, ctx)


def anomalies_of_use(
    used: set[StageKey] | frozenset[StageKey], deal: DealFields, ctx: MetricContext
) -> frozenset[Anomaly]:
    """`config_anomalies` of a deal whose visits and transitions used the stages `used`."""
    found: set[Anomaly] = set()
    if deal.status is DealStatus.OPEN:
        if deal.stage is None:
            found.add(Anomaly.UNKNOWN_STAGE)
        elif (deal.pipeline, deal.stage) not in used:
            used = {*used, (deal.pipeline, deal.stage)}
    pipelines = {pipeline for pipeline, _ in used} | {deal.pipeline}
    if any(ctx.pipelines.get(pipeline) is None for pipeline in pipelines):
        found.add(Anomaly.UNKNOWN_PIPELINE)
    for pipeline, stage in used:
        spec = ctx.pipelines.get(pipeline)
        if spec is not None and stage not in RESERVED_STAGE_NAMES and not spec.knows(stage):
            found.add(Anomaly.UNKNOWN_STAGE)
    return frozenset(found)


class ContributionSink:
    """Collects contributions (one deal's, or the change one settle makes); caches the
    windows of each instant."""

    __slots__ = ("_cutoffs", "_negate", "_windows", "ctx", "values")

    def __init__(self, ctx: MetricContext) -> None:
        self.ctx = ctx
        self.values: dict[ContributionKey, Decimal] = {}
        self._windows: dict[datetime, tuple[Window, ...]] = {}
        self._cutoffs = tuple(ctx.cutoffs.items())
        self._negate = False

    def retracting(self) -> ContributionSink:
        """A sink into the same values that subtracts what is added to it: with this one,
        `values` is the change from what it retracts to what this one adds."""
        other = ContributionSink.__new__(ContributionSink)
        other.ctx, other.values, other._windows = self.ctx, self.values, self._windows
        other._cutoffs, other._negate = self._cutoffs, not self._negate
        return other

    def windows(self, at: datetime) -> tuple[Window, ...]:
        """The retained windows containing instant `at`, one per granularity."""
        found = self._windows.get(at)
        if found is None:
            if len(self._windows) >= WINDOWS_MEMO_INSTANTS:  # a batch sink sees every instant
                self._windows.clear()
            found = _retained_windows(local_date(at, self.ctx.timezone), self._cutoffs)
            self._windows[at] = found
        return found

    def add(self, metric: str, label_pairs: Labels, window: Window | None, value: Decimal) -> None:
        if self._negate:
            value = EXACT.minus(value)
        key: ContributionKey = new_key(ContributionKey, (metric, label_pairs, window))
        known = self.values.get(key)
        self.values[key] = value if known is None else EXACT.add(known, value)

    def add_windowed(self, metric: str, label_pairs: Labels, at: datetime, value: Decimal) -> None:
        values = self.values  # `add` inlined: most of a deal's keys come through here
        if self._negate:
            value = EXACT.minus(value)
        for window in self.windows(at):
            key: ContributionKey = new_key(ContributionKey, (metric, label_pairs, window))
            known = values.get(key)
            values[key] = value if known is None else EXACT.add(known, value)

    def observe(
        self,
        metric: metrics.Metric,
        label_pairs: Labels,
        at: datetime,
        value: Decimal,
        bounds: tuple[Decimal, ...],
    ) -> None:
        """One histogram observation: its bucket, sum and count, in the windows of `at`."""
        bucket = _bucket_values(bounds)[bisect_left(bounds, value)]
        bucket_labels = _with_bucket(label_pairs, bucket)
        self.add_windowed(metric.in_bucket, bucket_labels, at, ONE)
        self.add_windowed(metric.sum, label_pairs, at, value)
        self.add_windowed(metric.count, label_pairs, at, ONE)


@cache
def _bucket_values(bounds: tuple[Decimal, ...]) -> tuple[str, ...]:
    return (*(metrics.bucket_label(bound) for bound in bounds), metrics.UNBOUNDED)


def _reporting(money: Money | None, ctx: MetricContext) -> Decimal:
    return ZERO if money is None else ctx.to_reporting(money)


def _add_win(part: tuple[str, Win, datetime | None], sink: ContributionSink) -> None:
    tenant, win, created_at = part
    ctx = sink.ctx
    seller = _seller_labels(tenant, win.pipeline, win.seller)
    revenue = _reporting(win.amount, ctx)
    sink.add_windowed(metrics.WON_REVENUE.name, seller, win.won_at, revenue)
    sink.add_windowed(metrics.DEALS_WON.name, seller, win.won_at, ONE)
    sink.add_windowed(metrics.DEALS_CLOSED.name, seller, win.won_at, ONE)
    sink.observe(metrics.TICKET_SIZE, seller, win.won_at, revenue, ctx.ticket_size_buckets)
    if created_at is not None and created_at <= win.won_at:
        cycle = seconds(win.won_at - created_at)
        sink.observe(
            metrics.SALES_CYCLE, seller, win.won_at, cycle, metrics.DURATION_BUCKETS_SECONDS
        )


def _add_loss(part: tuple[str, Loss], sink: ContributionSink) -> None:
    tenant, loss = part
    seller = _seller_labels(tenant, loss.pipeline, loss.seller)
    sink.add_windowed(metrics.DEALS_CLOSED.name, seller, loss.lost_at, ONE)
    reason = labels(tenant=tenant, pipeline=loss.pipeline, reason=loss.reason)
    sink.add_windowed(metrics.DEALS_LOST.name, reason, loss.lost_at, ONE)


def _add_churn(part: tuple[str, Churn], sink: ContributionSink) -> None:
    tenant, churn = part
    churn_labels = labels(
        tenant=tenant, pipeline=churn.pipeline, seller=churn.seller, reason=churn.reason
    )
    sink.add_windowed(metrics.DEALS_CHURNED.name, churn_labels, churn.churned_at, ONE)
    revenue = _reporting(churn.amount, sink.ctx)
    sink.add_windowed(metrics.CHURNED_REVENUE.name, churn_labels, churn.churned_at, revenue)


def _add_active(part: tuple[str, Win, datetime | None], sink: ContributionSink) -> None:
    """+1 from the first window starting at or after the win, -1 from the churn's."""
    tenant, win, churned_at = part
    ctx = sink.ctx
    seller = _seller_labels(tenant, win.pipeline, win.seller)
    changes = [(win.won_at, ONE)]
    if churned_at is not None:
        changes.append((churned_at, -ONE))
    for at, change in changes:
        for granularity, cutoff in ctx.cutoffs.items():
            start = first_window_start_at_or_after(at, granularity, ctx.timezone)
            window = _window(granularity, max(start, cutoff))
            sink.add(metrics.DEALS_ACTIVE_CHANGE, seller, window, change)


def _add_open(
    part: tuple[str, str | None, str | None, Money | None], sink: ContributionSink
) -> None:
    tenant, pipeline, stage_name, amount = part
    stage = _stage_labels(tenant, pipeline, stage_name)
    value, weighted = _open_values(pipeline, stage_name, amount, sink.ctx)
    sink.add(metrics.OPEN_DEALS.name, stage, None, ONE)
    sink.add(metrics.OPEN_PIPELINE_VALUE.name, stage, None, value)
    sink.add(metrics.OPEN_PIPELINE_WEIGHTED_VALUE.name, stage, None, weighted)


def _open_values(
    pipeline: str | None, stage_name: str | None, amount: Money | None, ctx: MetricContext
) -> tuple[Decimal, Decimal]:
    """An open deal's value in the reporting currency, and that times its stage's win
    probability (0 for a stage or pipeline the configuration lacks)."""
    value = _reporting(amount, ctx)
    spec = ctx.pipelines.get(pipeline)
    probability = None if spec is None or stage_name is None else spec.win_probability(stage_name)
    return value, multiply_exact(value, probability) if probability is not None else ZERO


def _add_closing(
    part: tuple[str, str | None, str | None, str | None, Money | None, date],
    sink: ContributionSink,
) -> None:
    tenant, pipeline, seller, stage_name, amount, closes_on = part
    closing = labels(
        tenant=tenant, pipeline=pipeline, seller=seller, expected_close=closes_on.isoformat()
    )
    value, weighted = _open_values(pipeline, stage_name, amount, sink.ctx)
    sink.add(metrics.OPEN_DEALS_CLOSING.name, closing, None, ONE)
    sink.add(metrics.OPEN_VALUE_CLOSING.name, closing, None, value)
    sink.add(metrics.OPEN_WEIGHTED_VALUE_CLOSING.name, closing, None, weighted)


def _add_anomalies(part: tuple[str, frozenset[Anomaly]], sink: ContributionSink) -> None:
    tenant, anomalies = part
    for anomaly in anomalies:
        sink.add(
            metrics.DEAL_ANOMALIES.name, labels(tenant=tenant, anomaly=anomaly.value), None, ONE
        )


class StageTally:
    """What a deal's stage history has contributed so far, counted once per visit.

    The stage metrics of a deal: time in stage per closed visit, a transition
    per move, and each stage's first entry and first advance (once in the
    deal's lifetime, `docs/metrics.md`). A replay's closed visits and
    transitions only grow, so the tally counts each once and remembers the
    first entries and advances: the next events add only what they append. The
    visit in progress is counted as an entry while its stage has none before.
    """

    __slots__ = ("advanced", "entered", "open_entry", "transitions", "used", "visits")

    def __init__(self) -> None:
        self.entered: dict[StageKey, datetime] = {}
        self.advanced: set[StageKey] = set()
        self.used: set[StageKey] = set()
        """Every stage its closed visits and transitions named (for the configuration
        anomalies); `count` adds a visit in progress too, `count_live` does not."""
        self.visits = 0
        """Closed visits of the live replay counted (its compacted visits apart)."""
        self.transitions = 0
        self.open_entry: tuple[StageKey, datetime] | None = None
        """The visit in progress, when it counts as its stage's first entry."""

    def count(
        self,
        tenant: str,
        visits: Iterable[StageVisit],
        transitions: Iterable[Transition],
        ctx: MetricContext,
        sink: ContributionSink | None,
    ) -> None:
        """Count `visits` (in order; a visit in progress too) and `transitions` into `sink`."""
        for visit in visits:
            self._visit(tenant, visit, ctx, sink)
        for transition in transitions:
            self._transition(tenant, transition, sink)

    def count_live(
        self,
        tenant: str,
        closed: Sequence[StageVisit],
        transitions: Sequence[Transition],
        in_progress: StageVisit | None,
        ctx: MetricContext,
        added: ContributionSink | None,
        retracted: ContributionSink | None,
    ) -> None:
        """Count a live replay's closed visits and transitions not counted yet, and move the
        entry of the visit in progress: what it adds to `added`, what it retracts to
        `retracted` (the entry of an in-progress visit that ended where it did not start)."""
        open_before = self.open_entry
        for visit in closed[self.visits :]:
            key = (visit.pipeline, visit.stage)
            if open_before is not None and open_before[0] == key and key not in self.entered:
                if open_before[1] == visit.entered_at:
                    self.entered[key] = visit.entered_at  # counted while in progress
                    self.used.add(key)
                    self._left(tenant, visit, ctx, added)
                    open_before = None
                    continue
                if retracted is not None:
                    _add_entry(tenant, open_before, retracted)
                open_before = None
            self._visit(tenant, visit, ctx, added)
        self.visits = len(closed)
        for transition in transitions[self.transitions :]:
            self._transition(tenant, transition, added)
        self.transitions = len(transitions)
        open_now = None
        if in_progress is not None:
            key = (in_progress.pipeline, in_progress.stage)  # its pipeline can still be learnt
            if key not in self.entered:
                open_now = (key, in_progress.entered_at)
        if open_before != open_now:
            if open_before is not None and retracted is not None:
                _add_entry(tenant, open_before, retracted)
            if open_now is not None and added is not None:
                _add_entry(tenant, open_now, added)
        self.open_entry = open_now

    def _visit(
        self, tenant: str, visit: StageVisit, ctx: MetricContext, sink: ContributionSink | None
    ) -> None:
        key = (visit.pipeline, visit.stage)
        self.used.add(key)
        if key not in self.entered:
            self.entered[key] = visit.entered_at
            if sink is not None:
                _add_entry(tenant, (key, visit.entered_at), sink)
        self._left(tenant, visit, ctx, sink)

    def _left(
        self, tenant: str, visit: StageVisit, ctx: MetricContext, sink: ContributionSink | None
    ) -> None:
        if visit.left_at is None:
            return
        key = (visit.pipeline, visit.stage)
        advances = key not in self.advanced and _advances(visit, ctx)
        if advances:
            self.advanced.add(key)
        if sink is None:
            return
        stage = _stage_labels(tenant, visit.pipeline, visit.stage)
        dwell = seconds(visit.left_at - visit.entered_at)
        sink.observe(
            metrics.TIME_IN_STAGE, stage, visit.left_at, dwell, metrics.DURATION_BUCKETS_SECONDS
        )
        if advances:
            sink.add_windowed(metrics.STAGE_ADVANCED.name, stage, visit.left_at, ONE)

    def _transition(
        self, tenant: str, transition: Transition, sink: ContributionSink | None
    ) -> None:
        self.used.add((transition.pipeline, transition.to_stage))
        self.used.add((transition.pipeline, transition.from_stage))
        if sink is None:
            return
        move = labels(
            tenant=tenant,
            pipeline=transition.pipeline,
            from_stage=transition.from_stage,
            to_stage=transition.to_stage,
        )
        sink.add_windowed(metrics.STAGE_TRANSITIONS.name, move, transition.at, ONE)


def _add_entry(tenant: str, entry: tuple[StageKey, datetime], sink: ContributionSink) -> None:
    (pipeline, stage_name), at = entry
    sink.add_windowed(
        metrics.STAGE_ENTERED.name, _stage_labels(tenant, pipeline, stage_name), at, ONE
    )


def _advances(visit: StageVisit, ctx: MetricContext) -> bool:
    if visit.left_to is None:
        return False
    if visit.left_to == WON:
        return True
    spec = ctx.pipelines.get(visit.pipeline)
    return spec is not None and spec.is_advance(visit.stage, visit.left_to)
