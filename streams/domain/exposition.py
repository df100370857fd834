"""From aggregates to the samples Prometheus sees.

The aggregates keep two metrics in a form that sums and retracts cheaply (see
`catalogue`); this turns a snapshot into exported samples, with the same
`ContributionKey` shape:

- `<histogram>_in_bucket` becomes cumulative `<histogram>_bucket`, with every
  bound of the histogram present (`le` up to `+Inf`, which equals `_count`);
- `dealpulse_deals_active_change` becomes
  `dealpulse_deals_active_at_window_start`: the running total of the changes up
  to each retained window, up to the one containing `now` (zeros left out).

Both are linear, so summing the workers' exports equals exporting their sum.
Everything else passes through unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from streams.domain import catalogue as cat
from streams.domain.context import MetricContext
from streams.domain.contributions import ZERO, ContributionKey, Labels, new_key
from streams.domain.money import EXACT
from streams.domain.windows import Granularity, Window, retained_windows

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
    for key, value in snapshot.items():
        spec = _HISTOGRAM_OF_IN_BUCKET.get(key.metric)
        if spec is not None:
            base, le = _without_le(key.labels)
            series = (spec.name, base, key.window)
            counts = buckets.get(series)
            if counts is None:
                counts = buckets[series] = {}
            counts[le] = value
        elif key.metric == cat.DEALS_ACTIVE_CHANGE and key.window is not None:
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
    return samples


_HISTOGRAM = {spec.name: spec for spec in cat.HISTOGRAMS}
_HISTOGRAM_OF_IN_BUCKET = {spec.in_bucket: spec for spec in cat.HISTOGRAMS}


def _bounds(spec: cat.MetricSpec, ctx: MetricContext) -> tuple[str, ...]:
    """The `le` values of a histogram, `+Inf` last."""
    bounds = ctx.ticket_size_buckets if spec is cat.TICKET_SIZE else cat.DURATION_BUCKETS_SECONDS
    return (*(cat.le_label(bound) for bound in bounds), cat.INF)


def _without_le(labels: Labels) -> tuple[Labels, str]:
    """A bucket's labels without `le`, and its `le`."""
    for index, (name, value) in enumerate(labels):
        if name == "le":
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
    at = sum(1 for name, _ in base if name < "le")  # labels stay sorted by name
    before, after = base[:at], base[at:]
    for le in les:
        running = EXACT.add(running, counts.get(le, ZERO))
        key: ContributionKey = new_key(
            ContributionKey, (spec.bucket, (*before, ("le", le), *after), window)
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
