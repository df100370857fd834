"""The business part of /metrics rendered from scratch, deliberately simply: the exporter's oracle.

`fresh_body(aggregates, ctx, export_windows, max_sellers)` reads the rules of
`docs/metrics.md` and `streams.exposition` straight off the aggregates: the
exported windows, cumulative histogram buckets, the running totals of active
deals, the seller cap, then prometheus_client's own families and
`generate_latest`. It shares nothing with `streams.exposition` but the
catalogue (names, HELP texts, labels) and the domain's windows; speed is no
concern. `same_exposition` compares two bodies sample by sample.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from streams.domain import metrics
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey, Labels
from streams.domain.windows import Granularity, Window, retained_windows, shift_window, window_start
from streams.exposition import catalogue as cat

OTHER = "__other__"
Sample = ContributionKey
"""An exported sample: its name, its labels (sorted, `le` among them) and its window."""


def fresh_body(
    aggregates: Mapping[ContributionKey, Decimal],
    ctx: MetricContext,
    export_windows: int,
    max_sellers: int,
) -> bytes:
    registry = CollectorRegistry()
    registry.register(Fixed(fresh_families(aggregates, ctx, export_windows, max_sellers)))
    return generate_latest(registry)


def fresh_families(
    aggregates: Mapping[ContributionKey, Decimal],
    ctx: MetricContext,
    export_windows: int,
    max_sellers: int,
) -> list[Metric]:
    exported = _exported_windows(ctx, export_windows)
    samples = _samples(aggregates, ctx, exported)
    capped, folded = cap_sellers(samples, max_sellers)
    families = [_family(spec, capped, exported) for spec in cat.ALL_METRICS]
    spec = cat.SELLERS_COLLAPSED
    folded_family = GaugeMetricFamily(spec.name, spec.help, labels=["tenant"])
    for tenant, count in sorted(folded.items()):
        folded_family.add_metric([tenant], count)
    return [*families, folded_family]


Parsed = list[tuple[str, str, str, list[tuple[str, tuple[tuple[str, str], ...], float]]]]


def parsed(body: bytes) -> Parsed:
    """Each family in order: name, type, HELP, and its samples sorted."""
    return [
        (
            family.name,
            family.type,
            family.documentation,
            sorted(
                (sample.name, tuple(sorted(sample.labels.items())), sample.value)
                for sample in family.samples
            ),
        )
        for family in text_string_to_metric_families(body.decode())
    ]


def same_exposition(served: bytes, fresh: bytes) -> bool:
    return parsed(served) == parsed(fresh)


class Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _exported_windows(ctx: MetricContext, export_windows: int) -> dict[Window, str]:
    names = ["current", "previous", *(f"previous_{back}" for back in range(2, export_windows))]
    windows = {}
    for granularity in ctx.cutoffs:
        current = window_start(ctx.now, granularity, ctx.timezone)
        for back in range(export_windows):
            windows[Window(granularity, shift_window(current, granularity, -back))] = names[back]
    return windows


def _samples(
    aggregates: Mapping[ContributionKey, Decimal],
    ctx: MetricContext,
    exported: Mapping[Window, str],
) -> dict[Sample, Decimal]:
    samples: dict[Sample, Decimal] = {}
    histograms = {spec.metric.in_bucket: spec for spec in cat.HISTOGRAMS}
    in_bucket: defaultdict[tuple[str, Labels, Window | None], dict[str, Decimal]]
    in_bucket = defaultdict(dict)
    steps: defaultdict[tuple[Labels, Granularity], dict[date, Decimal]] = defaultdict(dict)
    books: defaultdict[Labels, dict[str, dict[date, Decimal]]] = defaultdict(dict)
    for (metric, labels, window), value in aggregates.items():
        if metric in metrics.CLOSING_METRICS:
            named = dict(labels)
            closes_on = date.fromisoformat(named.pop("expected_close"))
            books[_sorted(named)].setdefault(metric, {})[closes_on] = value
            continue
        if metric == cat.WON_REVENUE.name and window and window.granularity is Granularity.MONTH:
            books[labels].setdefault(metric, {})[window.start] = value
        if metric == metrics.DEALS_ACTIVE_CHANGE:
            assert window is not None
            steps[(labels, window.granularity)][window.start] = value
        elif window is not None and window not in exported:
            continue
        elif metric in histograms:
            le = dict(labels)["le"]
            rest = tuple(pair for pair in labels if pair[0] != "le")
            in_bucket[(histograms[metric].name, rest, window)][le] = value
        else:
            samples[Sample(metric, labels, window)] = value
    for (name, rest, window), counts in in_bucket.items():
        bounds = [*_bounds(name, ctx), "+Inf"]
        running = Decimal(0)
        for le in bounds:
            running += counts.get(le, Decimal(0))
            samples[Sample(f"{name}_bucket", tuple(sorted((*rest, ("le", le)))), window)] = running
    for (labels, granularity), changes in steps.items():
        retention = ctx.retention[granularity]
        retained = set(retained_windows(ctx.now, granularity, retention, ctx.timezone))
        for window in exported:
            if window.granularity != granularity or window.start not in retained:
                continue
            total = Decimal(0)
            for start, step in changes.items():
                if start in retained and start <= window.start:
                    total += step
            if total != 0:
                samples[Sample(cat.DEALS_ACTIVE_AT_WINDOW_START.name, labels, window)] = total
    for labels, book in books.items():
        samples.update(_forecast(labels, book, ctx))
    return samples


def _sorted(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _month_plus(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _forecast(
    labels: Labels, book: Mapping[str, Mapping[date, Decimal]], ctx: MetricContext
) -> dict[Sample, Decimal]:
    """docs/metrics.md, "Forecast and slipped deals", read plainly."""
    today = ctx.now.astimezone(ctx.timezone).date()
    month = today.replace(day=1)
    quarter = month.replace(month=(month.month - 1) // 3 * 3 + 1)
    won = book.get(cat.WON_REVENUE.name, {})
    deals = book.get(metrics.OPEN_DEALS_CLOSING.name, {})
    value = book.get(metrics.OPEN_VALUE_CLOSING.name, {})
    weighted = book.get(metrics.OPEN_WEIGHTED_VALUE_CLOSING.name, {})
    found: dict[Sample, Decimal] = {}
    if not (won or deals):
        return found
    for granularity, start, length in (("month", month, 1), ("quarter", quarter, 3)):
        for name, begins in (("current", start), ("next", _month_plus(start, length))):
            ends = _month_plus(begins, length)
            won_in = sum((v for m, v in won.items() if begins <= m < ends), Decimal(0))
            weighted_in = sum((v for d, v in weighted.items() if begins <= d < ends), Decimal(0))
            value_in = sum((v for d, v in value.items() if begins <= d < ends), Decimal(0))
            shown = _sorted({**dict(labels), "granularity": granularity, "window": name})
            found[Sample(cat.PERIOD_WON_REVENUE.name, shown, None)] = won_in
            found[Sample(cat.FORECAST_REVENUE.name, shown, None)] = won_in + weighted_in
            found[Sample(cat.FORECAST_REVENUE_UNWEIGHTED.name, shown, None)] = won_in + value_in
    if deals:
        found[Sample(cat.SLIPPED_DEALS.name, labels, None)] = sum(
            (v for d, v in deals.items() if d < today), Decimal(0)
        )
        found[Sample(cat.SLIPPED_VALUE.name, labels, None)] = sum(
            (v for d, v in value.items() if d < today), Decimal(0)
        )
    return found


def _bounds(histogram: str, ctx: MetricContext) -> list[str]:
    if histogram == cat.TICKET_SIZE.name:
        bounds = ctx.ticket_size_buckets
    else:
        bounds = metrics.DURATION_BUCKETS_SECONDS
    return [format(bound.normalize(), "f") for bound in bounds]


def cap_sellers(
    samples: Mapping[Sample, Decimal], max_sellers: int
) -> tuple[dict[Sample, Decimal], dict[str, int]]:
    """The samples with at most `max_sellers` sellers per tenant, the others summed as
    `__other__`; and per tenant, how many sellers were summed."""
    sellers: defaultdict[str, set[str]] = defaultdict(set)
    won: defaultdict[tuple[str, str, Granularity], Decimal] = defaultdict(Decimal)
    for (name, labels, window), value in samples.items():
        found = dict(labels)
        if "seller" in found:
            sellers[found.get("tenant", "")].add(found["seller"])
            if name == cat.WON_REVENUE.name and window is not None:
                won[(found.get("tenant", ""), found["seller"], window.granularity)] += value
    longest_first = (Granularity.MONTH, Granularity.WEEK, Granularity.DAY)
    kept: dict[str, set[str]] = {}
    for tenant, names in sellers.items():
        if len(names) > max_sellers:
            ranked = sorted(
                names - {OTHER},
                key=lambda seller: (
                    [-won[(tenant, seller, granularity)] for granularity in longest_first],
                    seller,
                ),
            )
            kept[tenant] = set(ranked[:max_sellers])
    capped: defaultdict[Sample, Decimal] = defaultdict(Decimal)
    for (name, labels, window), value in samples.items():
        found = dict(labels)
        tenant, seller = found.get("tenant", ""), found.get("seller")
        if seller is not None and tenant in kept and seller not in kept[tenant]:
            labels = tuple(sorted({**found, "seller": OTHER}.items()))
        capped[Sample(name, labels, window)] += value
    folded = {tenant: max(len(names) - max_sellers, 0) for tenant, names in sellers.items()}
    return dict(capped), folded


def _label_values(
    spec: cat.MetricSpec, labels: Labels, window: Window | None, exported: Mapping[Window, str]
) -> list[str]:
    values = [dict(labels)[name] for name in spec.labels]
    if window is not None:
        values += [window.granularity.value, window.start.isoformat(), exported[window]]
    return values


def _family(
    spec: cat.MetricSpec, samples: Mapping[Sample, Decimal], exported: Mapping[Window, str]
) -> Metric:
    names = [*spec.labels, *(("granularity", "window_start", "window") if spec.windowed else ())]
    if spec.kind == "gauge":
        gauge = GaugeMetricFamily(spec.name, spec.help, labels=names)
        for (name, labels, window), value in samples.items():
            if name == spec.name:
                gauge.add_metric(_label_values(spec, labels, window, exported), float(value))
        return gauge
    buckets: defaultdict[tuple[Labels, Window | None], list[tuple[str, float]]] = defaultdict(list)
    for (name, labels, window), value in samples.items():
        if name == spec.bucket:
            rest = tuple(pair for pair in labels if pair[0] != "le")
            buckets[(rest, window)].append((dict(labels)["le"], float(value)))
    histogram = HistogramMetricFamily(spec.name, spec.help, labels=names)
    for (rest, window), series in buckets.items():
        series.sort(key=lambda bucket: float(bucket[0]))
        total = samples.get(Sample(spec.sum, rest, window), Decimal(0))
        histogram.add_metric(_label_values(spec, rest, window, exported), series, float(total))
    return histogram
