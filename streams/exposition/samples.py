"""From aggregates to the samples Prometheus sees.

The aggregates keep two metrics in a form that sums and retracts cheaply (see
`streams.domain.metrics`); this turns a snapshot into exported samples, with the
same `ContributionKey` shape:

- `<histogram>_in_bucket` becomes cumulative `<histogram>_bucket`, with every
  bound of the histogram present (`le` up to `+Inf`, which equals `_count`);
- `dealpulse_deals_active_change` becomes
  `dealpulse_deals_active_at_window_start`: the running total of the changes up
  to each retained window, up to the one containing `now` (zeros left out).

- the won revenue per month and `metrics.CLOSING_METRICS` become the forecast
  and the slipped deals (`streams.exposition.forecast`); the closing metrics
  are not shown as they are.

All are linear, so summing the workers' exports equals exporting their sum.
Everything else passes through unchanged.

Per granularity, only the most recent `DEALPULSE_EXPORT_WINDOWS` calendar
windows are exported (today and yesterday, this week and last...): Prometheus
keeps the history itself; older windows stay in the worker's state and in
`dealpulse replay`. Each windowed series also carries `window="current"` or
`window="previous"`, so a dashboard can select "today" without comparing dates
(`exported_windows`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from streams.domain import metrics
from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext
from streams.domain.contributions import ZERO, ContributionKey, Labels, new_key
from streams.domain.money import EXACT
from streams.domain.windows import (
    Granularity,
    Window,
    retained_windows,
    shift_window,
    window_start,
)
from streams.exposition import catalogue as cat
from streams.exposition.forecast import SellerBook, forecast_samples, is_input, seller_labels

Snapshot = Mapping[ContributionKey, Decimal]
_GroupKey = tuple[str, Labels, Window | None]


def exposition_samples(
    snapshot: Snapshot,
    ctx: MetricContext,
    windows: Collection[Window] | None = None,
    *,
    active: ActiveWindows | None = None,
) -> dict[ContributionKey, Decimal]:
    """The samples of `snapshot`; the running totals only in `windows` when given.

    The running totals of the active-deal changes start at the oldest retained
    window, so `snapshot` must hold all of their changes even when only a few
    windows are wanted. `active` is `active_windows(ctx, windows)`, if the caller
    has it already.
    """
    samples: dict[ContributionKey, Decimal] = {}
    buckets: dict[_GroupKey, dict[str, Decimal]] = {}
    changes: defaultdict[tuple[Labels, Granularity], dict[date, Decimal]] = defaultdict(dict)
    books: defaultdict[Labels, SellerBook] = defaultdict(SellerBook)
    for key, value in snapshot.items():
        if is_input(key):
            books[seller_labels(key)].note(key, value)
            if key.metric in metrics.CLOSING_METRICS:
                continue
        spec = _HISTOGRAM_OF_IN_BUCKET.get(key.metric)
        if spec is not None:
            base, le = _without_le(key.labels)
            series = (spec.name, base, key.window)
            counts = buckets.get(series)
            if counts is None:
                counts = buckets[series] = {}
            counts[le] = value
        elif key.metric == metrics.DEALS_ACTIVE_CHANGE and key.window is not None:
            changes[(key.labels, key.window.granularity)][key.window.start] = value
        else:
            samples[key] = value
    if buckets:
        les = {spec.name: _bounds(spec, ctx) for spec in cat.HISTOGRAMS}
        for (name, base, window), counts in buckets.items():
            samples.update(_cumulate(_HISTOGRAM[name], base, window, les[name], counts))
    if changes:
        plan = active if active is not None else active_windows(ctx, windows)
        for (labels, granularity), steps in changes.items():
            if granularity in plan.retained:
                samples.update(
                    _running_totals(
                        labels,
                        granularity,
                        steps,
                        plan.retained[granularity],
                        plan.targets[granularity],
                    )
                )
    if books:
        samples.update(forecast_samples(books, ctx.now, ctx.timezone))
    return samples


_HISTOGRAM = {spec.name: spec for spec in cat.HISTOGRAMS}
_HISTOGRAM_OF_IN_BUCKET = {spec.metric.in_bucket: spec for spec in cat.HISTOGRAMS}


def _bounds(spec: cat.MetricSpec, ctx: MetricContext) -> tuple[str, ...]:
    """The `le` values of a histogram, `+Inf` last."""
    bounds = (
        ctx.ticket_size_buckets if spec is cat.TICKET_SIZE else metrics.DURATION_BUCKETS_SECONDS
    )
    return (*(metrics.bucket_label(bound) for bound in bounds), cat.INF)


def _without_le(labels: Labels) -> tuple[Labels, str]:
    """A bucket's labels without `le`, and its `le`."""
    for index, (name, value) in enumerate(labels):
        if name == cat.LE:
            return labels[:index] + labels[index + 1 :], value
    raise ValueError(f"a histogram bucket without an le label: {labels}")


def _cumulate(
    spec: cat.MetricSpec,
    base: Labels,
    window: Window | None,
    les: tuple[str, ...],
    counts: Mapping[str, Decimal],
) -> dict[ContributionKey, Decimal]:
    cumulated: dict[ContributionKey, Decimal] = {}
    running = ZERO
    at = sum(1 for name, _ in base if name < cat.LE)  # labels stay sorted by name
    before, after = base[:at], base[at:]
    for le in les:
        running = EXACT.add(running, counts.get(le, ZERO))
        key: ContributionKey = new_key(
            ContributionKey, (spec.bucket, (*before, (cat.LE, le), *after), window)
        )
        cumulated[key] = running
    return cumulated


def _running_totals(
    labels: Labels,
    granularity: Granularity,
    steps: Mapping[date, Decimal],
    retained: Collection[date],
    targets: tuple[date, ...],
) -> dict[ContributionKey, Decimal]:
    """The running total of `steps` at each of `targets` (retained windows), zeros left out.

    Only steps at retained windows count: the aggregates carry older ones into
    the oldest retained window when they are pruned.
    """
    totals: dict[ContributionKey, Decimal] = {}
    if not targets:
        return totals
    counted = sorted((start, step) for start, step in steps.items() if start in retained)
    running = ZERO
    index = 0
    for target in targets:
        while index < len(counted) and counted[index][0] <= target:
            running = EXACT.add(running, counted[index][1])
            index += 1
        if running != ZERO:
            key = ContributionKey(
                cat.DEALS_ACTIVE_AT_WINDOW_START.name, labels, Window(granularity, target)
            )
            totals[key] = running
    return totals


@dataclass(frozen=True, slots=True)
class ActiveWindows:
    """Where the running totals of active deals are: per granularity, the retained window
    starts (the steps that count) and those of them exported, oldest first."""

    retained: Mapping[Granularity, frozenset[date]]
    targets: Mapping[Granularity, tuple[date, ...]]


def active_windows(ctx: MetricContext, windows: Collection[Window] | None = None) -> ActiveWindows:
    """The `ActiveWindows` of `ctx`, exported in `windows` (all retained ones when None).

    An export that calls `exposition_samples` for many groups of series computes this
    once and passes it to each call.
    """
    wanted = None if windows is None else frozenset(windows)
    starts = {
        granularity: retained_windows(ctx.now, granularity, retention, ctx.timezone)
        for granularity, retention in ctx.retention.items()
    }
    return ActiveWindows(
        retained={granularity: frozenset(dates) for granularity, dates in starts.items()},
        targets={
            granularity: tuple(
                start for start in dates if wanted is None or Window(granularity, start) in wanted
            )
            for granularity, dates in starts.items()
        },
    )


def exported_windows(ctx: MetricContext, export_windows: int) -> dict[Window, str]:
    """The windows on /metrics, each with its `window` label ("current", "previous", ...)."""
    windows: dict[Window, str] = {}
    for granularity in ctx.cutoffs:
        current = window_start(ctx.now, granularity, ctx.timezone)
        for back in range(export_windows):
            window = Window(granularity, shift_window(current, granularity, -back))
            windows[window] = window_name(back)
    return windows


def window_name(windows_back: int) -> str:
    """The `window` label: which exported window a series is, relative to now."""
    if windows_back == 0:
        return "current"
    if windows_back == 1:
        return "previous"
    return f"previous_{windows_back}"


def is_exported(key: ContributionKey, exported: Mapping[Window, str]) -> bool:
    """Whether /metrics needs `key`: an exported window's, a step of a running total, or
    a month of won revenue.

    The running totals of the active-deal changes start at the oldest retained
    window, so all their steps are needed; a quarter's forecast needs each month's
    won revenue, even months no longer exported.
    """
    window = key.window
    return (
        window is None
        or window in exported
        or key.metric in metrics.CARRIED_METRICS
        or (key.metric == metrics.WON_REVENUE.name and window.granularity is Granularity.MONTH)
    )


def exported_aggregates(
    aggregates: Aggregates, exported: Mapping[Window, str]
) -> dict[ContributionKey, Decimal]:
    """A copy of the aggregates /metrics needs (see `is_exported`)."""
    return {key: value for key, value in aggregates.items() if is_exported(key, exported)}


def exported_samples(
    aggregated: Mapping[ContributionKey, Decimal],
    ctx: MetricContext,
    exported: Mapping[Window, str],
    active: ActiveWindows | None = None,
) -> dict[ContributionKey, Decimal]:
    """The samples of exported aggregates (see `is_exported`), in the exported windows only
    (`active`: `active_windows(ctx, exported)`, when the caller has it)."""
    return {
        key: value
        for key, value in exposition_samples(aggregated, ctx, exported, active=active).items()
        if key.window is None or key.window in exported
    }
