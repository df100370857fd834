"""The business metrics on /metrics: built fresh from the worker's own partitions at scrape.

Nothing here is incremented: every value is the current sum over the deal states
of the partitions this worker owns, so after a crash, a replay or a rebalance
the export is simply right, and Prometheus' `sum by (...)` over the workers is
exact. Per granularity, only the most recent `DEALPULSE_EXPORT_WINDOWS`
calendar windows are exported (today and yesterday, this week and last...):
Prometheus keeps the history itself; older windows stay in the worker's state
and in `dealpulse replay`. Each windowed series also carries `window="current"` or
`window="previous"`, so a dashboard can select "today" without comparing dates.

The `seller` label is capped per tenant (`DEALPULSE_MAX_SELLERS_PER_TENANT`,
see `streams.exposition.seller_cap`): beyond the cap, the sellers with the least won
revenue are summed into `seller="__other__"`, and
`dealpulse_seller_labels_folded{tenant}` says how many were.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey
from streams.domain.windows import Window
from streams.exposition import catalogue as cat
from streams.exposition.aggregate_view import AggregateView
from streams.exposition.catalogue import SELLER_LABELS_FOLDED, WINDOW_LABEL
from streams.exposition.samples import exported_aggregates, exported_samples, exported_windows
from streams.exposition.seller_cap import (
    DEFAULT_MAX_SELLERS_PER_TENANT,
    cap_sellers,
    checked_cap,
)
from streams.metric_context import ContextSource

SeriesKey = tuple[str, ...]


class Captured(NamedTuple):
    ctx: MetricContext
    exported: dict[Window, str]
    snapshot: dict[ContributionKey, Decimal]


class BusinessCollector(Collector):
    def __init__(
        self,
        fold: AggregateView,
        contexts: ContextSource,
        export_windows: int,
        *,
        max_sellers_per_tenant: int = DEFAULT_MAX_SELLERS_PER_TENANT,
    ) -> None:
        self._fold = fold
        self._contexts = contexts
        self._export_windows = export_windows
        self._max_sellers_per_tenant = checked_cap(max_sellers_per_tenant)

    def collect(self) -> Iterator[Metric]:
        return self.families(self.capture())

    def capture(self) -> Captured:
        """The exported part of the owned partitions' aggregates, copied.

        Must run on the worker's event loop (the fold changes the aggregates);
        `families` can then run in a thread while the fold goes on. Only the
        exported windows are kept, and all the active-deal changes, since their
        running totals start at the oldest window.
        """
        ctx = self._contexts.current()
        exported = exported_windows(ctx, self._export_windows)
        return Captured(ctx, exported, exported_aggregates(self._fold.aggregates(ctx), exported))

    def families(self, captured: Captured) -> Iterator[Metric]:
        """The metric families of a capture: pure work on copies, safe off the event loop."""
        ctx, exported, snapshot = captured
        samples = exported_samples(snapshot, ctx, exported)
        capped = cap_sellers(samples, self._max_sellers_per_tenant)
        by_metric: defaultdict[str, dict[ContributionKey, Decimal]] = defaultdict(dict)
        for key, value in capped.samples.items():
            by_metric[key.metric][key] = value
        yield from business_families(by_metric, exported)
        yield folded_family(capped.folded)


def business_families(
    by_metric: Mapping[str, Mapping[ContributionKey, Decimal]], exported: Mapping[Window, str]
) -> Iterator[Metric]:
    """Every business family of `ALL_METRICS`, with the samples given per metric name."""
    for spec in cat.ALL_METRICS:
        if spec.kind == "histogram":
            yield _histogram(spec, by_metric, exported)
        else:
            yield _gauge(spec, by_metric.get(spec.name, {}), exported)


def _label_names(spec: cat.MetricSpec) -> list[str]:
    return [*spec.labels, *((*cat.WINDOW_LABELS, WINDOW_LABEL) if spec.windowed else ())]


def _label_values(
    key: ContributionKey, names: list[str], exported: Mapping[Window, str]
) -> list[str]:
    values = dict(key.labels)
    if key.window is not None:
        values["granularity"] = key.window.granularity.value
        values["window_start"] = key.window.start.isoformat()
        values[WINDOW_LABEL] = exported[key.window]
    return [values.get(name, "") for name in names]


def _gauge(
    spec: cat.MetricSpec,
    samples: Mapping[ContributionKey, Decimal],
    exported: Mapping[Window, str],
) -> Metric:
    names = _label_names(spec)
    family = GaugeMetricFamily(spec.name, spec.help, labels=names)
    for key, value in sorted(samples.items(), key=_order):
        family.add_metric(_label_values(key, names, exported), float(value))
    return family


def _histogram(
    spec: cat.MetricSpec,
    by_metric: Mapping[str, Mapping[ContributionKey, Decimal]],
    exported: Mapping[Window, str],
) -> Metric:
    names = _label_names(spec)
    family = HistogramMetricFamily(spec.name, spec.help, labels=names)
    buckets: defaultdict[SeriesKey, list[tuple[str, float]]] = defaultdict(list)
    for key, value in by_metric.get(spec.bucket, {}).items():
        le = dict(key.labels)["le"]
        series = ContributionKey(
            key.metric, tuple(p for p in key.labels if p[0] != "le"), key.window
        )
        buckets[tuple(_label_values(series, names, exported))].append((le, float(value)))
    sums = {
        tuple(_label_values(key, names, exported)): float(value)
        for key, value in by_metric.get(spec.sum, {}).items()
    }
    for series_values, series_buckets in sorted(buckets.items()):
        ordered = sorted(series_buckets, key=lambda bucket: _bound(bucket[0]))
        family.add_metric(list(series_values), ordered, sums.get(series_values, 0.0))
    return family


def folded_family(folded_by_tenant: Mapping[str, int]) -> Metric:
    spec = SELLER_LABELS_FOLDED
    family = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    for tenant, folded in sorted(folded_by_tenant.items()):
        family.add_metric([tenant], folded)
    return family


def _bound(le: str) -> float:
    return float("inf") if le == cat.INF else float(le)


def _order(
    item: tuple[ContributionKey, Decimal],
) -> tuple[str, tuple[tuple[str, str], ...], str, date]:
    key = item[0]
    window = key.window
    return (
        key.metric,
        key.labels,
        window.granularity.value if window else "",
        window.start if window else date.min,
    )
