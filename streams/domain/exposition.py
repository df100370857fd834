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
from datetime import date
from decimal import Decimal

from streams.domain import catalogue as cat
from streams.domain.context import MetricContext
from streams.domain.contributions import ZERO, ContributionKey, Labels
from streams.domain.money import EXACT
from streams.domain.windows import Granularity, Window, retained_windows

Snapshot = Mapping[ContributionKey, Decimal]
_GroupKey = tuple[str, Labels, Window | None]


def exposition_samples(
    snapshot: Snapshot, ctx: MetricContext, windows: Collection[Window] | None = None
) -> dict[ContributionKey, Decimal]:
    """The samples of `snapshot`; the running totals only in `windows` when given.

    The running totals of the active-deal changes start at the oldest retained
    window, so `snapshot` must hold all of their changes even when only a few
    windows are wanted.
    """
    histograms = {spec.in_bucket: spec for spec in cat.HISTOGRAMS}
    samples: dict[ContributionKey, Decimal] = {}
    buckets: defaultdict[_GroupKey, dict[str, Decimal]] = defaultdict(dict)
    changes: defaultdict[tuple[Labels, Granularity], dict[date, Decimal]] = defaultdict(dict)
    for key, value in snapshot.items():
        if key.metric in histograms:
            le = dict(key.labels)["le"]
            base = tuple(pair for pair in key.labels if pair[0] != "le")
            buckets[(histograms[key.metric].name, base, key.window)][le] = value
        elif key.metric == cat.DEALS_ACTIVE_CHANGE and key.window is not None:
            changes[(key.labels, key.window.granularity)][key.window.start] = value
        else:
            samples[key] = value
    for spec in cat.HISTOGRAMS:
        bounds = (
            ctx.ticket_size_buckets if spec is cat.TICKET_SIZE else cat.DURATION_BUCKETS_SECONDS
        )
        les = (*(cat.le_label(bound) for bound in bounds), cat.INF)
        for (name, base, window), counts in buckets.items():
            if name == spec.name:
                samples.update(_cumulate(spec, base, window, les, counts))
    starts = {
        granularity: retained_windows(ctx.now, granularity, retention, ctx.timezone)
        for granularity, retention in ctx.retention.items()
    }
    for (labels, granularity), steps in changes.items():
        samples.update(_running_totals(labels, granularity, steps, starts, windows))
    return samples


def _cumulate(
    spec: cat.MetricSpec,
    base: Labels,
    window: Window | None,
    les: tuple[str, ...],
    counts: Mapping[str, Decimal],
) -> dict[ContributionKey, Decimal]:
    cumulated: dict[ContributionKey, Decimal] = {}
    running = ZERO
    for le in les:
        running = EXACT.add(running, counts.get(le, ZERO))
        labels = tuple(sorted((*base, ("le", le))))
        cumulated[ContributionKey(spec.bucket, labels, window)] = running
    return cumulated


def _running_totals(
    labels: Labels,
    granularity: Granularity,
    steps: Mapping[date, Decimal],
    starts: Mapping[Granularity, tuple[date, ...]],
    wanted: Collection[Window] | None,
) -> dict[ContributionKey, Decimal]:
    totals: dict[ContributionKey, Decimal] = {}
    running = ZERO
    for start in starts.get(granularity, ()):
        step = steps.get(start)
        if step is not None:
            running = EXACT.add(running, step)
        if running != ZERO:
            window = Window(granularity, start)
            if wanted is None or window in wanted:
                key = ContributionKey(cat.DEALS_ACTIVE_AT_WINDOW_START.name, labels, window)
                totals[key] = running
    return totals
