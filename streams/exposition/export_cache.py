"""The business part of /metrics, kept up to date between scrapes instead of rebuilt.

Deriving every sample from all the aggregates at each scrape costs about 15 µs
per sample, seconds at 10,000 sellers, nearly all of it for sellers nothing
happened to since the last scrape. This keeps, per *group* of
series (one seller of a tenant, or a tenant's series without a seller), the
exported aggregates, their samples and their text, and derives again only the
groups whose aggregates changed since the last scrape
(`InProcessWorker.take_changes`). `seller="__other__"` of the seller cap is a running
sum of the collapsed sellers' aggregates, corrected for those that changed or
moved in or out of `__other__`, whose samples are derived like a seller's. What
changes every group (a new day, week or month moves the exported windows; a
rebalance rebuilds or drops aggregates) rebuilds it all, as every scrape did
before.

The body holds the samples of a fresh render of all the aggregates (a property
test folds random events and compares it with `tests/support/fresh_render.py`
after each step); only the order of the series within a family differs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from streams.domain.context import MetricContext
from streams.domain.contributions import ZERO, ContributionKey, Labels, new_key
from streams.domain.money import EXACT
from streams.domain.windows import Window
from streams.exposition.aggregate_view import AggregateView
from streams.exposition.catalogue import (
    ALL_METRICS,
    INF,
    LE,
    SELLERS_COLLAPSED,
    WINDOW_LABEL,
    WINDOW_LABELS,
    MetricSpec,
)
from streams.exposition.samples import (
    ActiveWindows,
    active_windows,
    exported_aggregates,
    exported_samples,
    exported_windows,
    is_exported,
)
from streams.exposition.seller_cap import (
    DEFAULT_MAX_SELLERS_PER_TENANT,
    OTHER_SELLER,
    SELLER_LABEL,
    TENANT_LABEL,
    RankKey,
    ShownSellers,
    as_other,
    checked_cap,
    rank_key,
    ranking_revenue,
    tenant_seller,
)
from streams.exposition.text import escape_label_value, go_float, header, label_text
from streams.metric_context import ContextSource

GroupKey = tuple[str, str | None, Labels]
"""A seller's series: tenant, seller and (). Others: tenant, None and their labels but `le`."""
Text = dict[str, bytes]
"""Sample lines per family name, encoded once (the body is joined from them every scrape)."""


class Changes(NamedTuple):
    """What the aggregates did since the last scrape, read on the worker's event loop."""

    ctx: MetricContext
    exported: dict[Window, str]
    whole: dict[ContributionKey, Decimal] | None
    """Every exported aggregate, summed over partitions, when everything must be rebuilt."""
    changed: dict[ContributionKey, Decimal | None]
    """Otherwise the new sum of every exported key that changed (None: now zero)."""


@dataclass(slots=True)
class _Group:
    aggregated: dict[ContributionKey, Decimal] = field(default_factory=dict)
    samples: dict[ContributionKey, Decimal] = field(default_factory=dict)
    revenue: tuple[Decimal, ...] = ()
    """What ranks the seller for the cap (`seller_cap.ranking_revenue`)."""
    text: Text | None = None  # rendered when first exported as itself


@dataclass(slots=True)
class _Other:
    """A tenant's `seller="__other__"`: the sum of its collapsed sellers' samples.

    Kept as the sum of their *aggregates*, whose samples are then derived like
    a seller's: deriving samples is linear (`streams.exposition.samples`), a
    seller has about a quarter as many aggregates as samples, and a sample is
    present when a collapsed seller has it either way — `counts` keeps a key
    whose sum is zero, and the running totals of active deals, which leave out
    zeros, are counts of deals, never below zero, so they cannot cancel out.
    """

    members: frozenset[str] = frozenset()
    kept: frozenset[str] = frozenset()
    """The sellers kept as themselves at the last ranking."""
    bounds: tuple[RankKey, RankKey] | None = None
    """At least the last kept seller's rank key, at most the first member's (see `_rank`)."""
    aggregated: dict[ContributionKey, Decimal] = field(default_factory=dict)
    counts: dict[ContributionKey, int] = field(default_factory=dict)
    """How many members hold each aggregate: a sum of zeros is still there."""
    text: Text | None = None


class ExportCache:
    """The business exposition, updated from the aggregates' changes (see the module doc).

    Call `take` on the worker's event loop (it reads the aggregates) and then
    `render` with its result, anywhere, one scrape at a time.
    """

    def __init__(
        self,
        source: AggregateView,
        contexts: ContextSource,
        export_windows: int,
        *,
        max_sellers_per_tenant: int = DEFAULT_MAX_SELLERS_PER_TENANT,
    ) -> None:
        self._source = source
        self._contexts = contexts
        self._export_windows = export_windows
        self._max_sellers = checked_cap(max_sellers_per_tenant)
        self._taken: Hashable | None = None  # what the groups were last built for
        self._intact = True  # False when a render failed half-way: rebuild
        self._groups: dict[GroupKey, _Group] = {}
        self._sellers: dict[str, set[str]] = {}  # per tenant, the sellers with samples
        self._unsold: dict[GroupKey, None] = {}  # the groups without a seller, with samples
        self._others: dict[str, _Other] = {}
        self._located: dict[Labels, GroupKey] = {}
        self._other_labels: dict[Labels, Labels] = {}
        self._places: dict[Labels, tuple[Labels, float]] = {}  # see `_place`
        self._shapes: dict[Labels, tuple[Labels, str]] = {}  # see `_shape`
        self._window_values: dict[Window, tuple[str, ...]] = {}
        self._templates: dict[tuple[str, Labels], str] = {}

    def take(self) -> Changes:
        ctx = self._contexts.current()
        exported = exported_windows(ctx, self._export_windows)
        aggregates = self._source.aggregates(ctx)  # prunes first, noting the changes
        changed = self._source.take_changes()
        built_for = (
            tuple(exported.items()),
            tuple(ctx.cutoffs.items()),
            ctx.ticket_size_buckets,
            self._source.epoch,
            tuple(self._source.partitions),
        )
        if built_for != self._taken or not self._intact:
            self._taken = built_for
            self._intact = True
            return Changes(ctx, exported, exported_aggregates(aggregates, exported), {})
        values = {key: self._source.value(key) for key in changed if is_exported(key, exported)}
        return Changes(ctx, exported, None, values)

    def render(self, changes: Changes) -> bytes:
        try:
            return self._render(changes)
        except BaseException:
            self._intact = False
            raise

    def _render(self, changes: Changes) -> bytes:
        ctx, exported, whole, changed = changes
        before: dict[GroupKey, dict[ContributionKey, Decimal]] = {}  # aggregates, if changed
        if whole is not None:
            self._groups = {}
            self._sellers = {}
            self._unsold = {}
            self._others = {}
            self._other_labels = {}
            self._places = {}
            self._shapes = {}
            self._window_values = {}  # the `window` label of a window may have moved
            self._templates = {}
            self._located = {}
            for key, value in whole.items():
                self._group(key).aggregated[key] = value
            dirty = set(self._groups)
        else:
            for key, now in changed.items():
                group = self._group(key)
                where = self._located[key.labels]
                if where not in before:
                    before[where] = dict(group.aggregated)
                if now is None:
                    group.aggregated.pop(key, None)
                else:
                    group.aggregated[key] = now
            dirty = set(before)
        active = active_windows(ctx, exported)
        for where in dirty:
            group = self._groups[where]
            group.samples = exported_samples(group.aggregated, ctx, exported, active)
            group.revenue = ranking_revenue(group.samples)
            group.text = None
            self._note_shown(where, bool(group.samples))
            if not group.aggregated:
                del self._groups[where]
        sellers = self._sellers
        changed_tenants = {tenant for tenant, seller, _ in dirty if seller is not None}
        collapsed: dict[str, int] = {}
        for tenant, names in sellers.items():
            collapsed[tenant] = max(len(names) - self._max_sellers, 0)
            if tenant in changed_tenants or tenant not in self._others:
                self._update_other(tenant, names, dirty, before)
        for tenant in set(self._others) - set(sellers):
            del self._others[tenant]
        return self._body(ctx, exported, active, collapsed)

    def shown_sellers(self) -> dict[str, ShownSellers]:
        """Per tenant, the sellers the last `render` showed as themselves and those it summed
        into `__other__` (what the quota families follow, label for label)."""
        shown: dict[str, ShownSellers] = {}
        for tenant, names in self._sellers.items():
            other = self._others.get(tenant)
            collapsed = other.members if other is not None else frozenset()
            shown[tenant] = ShownSellers(frozenset(names) - collapsed, collapsed)
        return shown

    def _note_shown(self, where: GroupKey, shown: bool) -> None:
        """Keep `_sellers` and `_unsold` up to date: a scrape does not scan every group."""
        tenant, seller, _ = where
        if seller is None:
            if shown:
                self._unsold[where] = None
            else:
                self._unsold.pop(where, None)
            return
        names = self._sellers.get(tenant)
        if shown:
            if names is None:
                names = self._sellers[tenant] = set()
            names.add(seller)
        elif names is not None:
            names.discard(seller)
            if not names:
                del self._sellers[tenant]

    def _group(self, key: ContributionKey) -> _Group:
        where = self._located.get(key.labels)
        if where is None:
            found = tenant_seller(key.labels)
            if found is not None:
                where = (*found, ())
            else:  # a histogram's buckets and a running total's windows stay together
                tenant = dict(key.labels).get(TENANT_LABEL, "")
                where = (tenant, None, tuple(pair for pair in key.labels if pair[0] != LE))
            self._located[key.labels] = where
        group = self._groups.get(where)
        if group is None:
            group = self._groups[where] = _Group()
        return group

    def _update_other(
        self,
        tenant: str,
        names: set[str],
        dirty: set[GroupKey],
        before: dict[GroupKey, dict[ContributionKey, Decimal]],
    ) -> None:
        """Fold the sellers beyond the cap into `__other__`, adjusting its running sums."""
        other = self._others.setdefault(tenant, _Other())
        members = self._members(tenant, names, dirty, other)
        touched = set(other.members ^ members)
        collapsed_now_or_before = other.members | members
        touched.update(
            seller
            for where_tenant, seller, _ in dirty
            if where_tenant == tenant and seller in collapsed_now_or_before
        )
        for seller in touched:
            where = (tenant, seller, ())
            now = self._aggregated(where)
            was = before.get(where, now) if seller in other.members else {}
            self._move_into_other(other, was, now if seller in members else {})
        if touched:
            other.text = None
        other.members = members

    def _members(
        self, tenant: str, names: set[str], dirty: set[GroupKey], other: _Other
    ) -> frozenset[str]:
        """The sellers beyond the cap: those `seller_cap.rank_key` does not put first.

        Ranking every seller at every scrape costs tens of milliseconds at 10,000.
        Between two scrapes only the changed sellers move (a seller appears or goes
        away only by changing): if they stayed on their side of the last boundary,
        the kept sellers are the same; if no kept seller fell past it or went away,
        they are the best of the kept and the changed others (every other seller
        still ranks behind them all).
        """
        if len(names) <= self._max_sellers:
            other.bounds = None
            other.kept = frozenset()
            return frozenset()
        if other.bounds is not None and other.kept <= names:
            kept_at_most, members_at_least = other.bounds
            changed = {
                seller: self._rank(tenant, seller)
                for where_tenant, seller, _ in dirty
                if where_tenant == tenant and seller in names and seller != OTHER_SELLER
            }
            rose = [key for seller, key in changed.items() if seller not in other.kept]
            stayed = [key for seller, key in changed.items() if seller in other.kept]
            if max([kept_at_most, *stayed]) < min([members_at_least, *rose]):
                return frozenset(names) - other.kept
            if all(key < members_at_least for key in stayed):
                pool = [self._rank(tenant, seller) for seller in other.kept] + rose
                return self._cut(names, sorted(pool), other, members_at_least)
        ranked = sorted(self._rank(tenant, seller) for seller in names if seller != OTHER_SELLER)
        return self._cut(names, ranked, other, None)

    def _cut(
        self,
        names: set[str],
        ranked: list[RankKey],
        other: _Other,
        members_at_least: RankKey | None,
    ) -> frozenset[str]:
        """Keep the first `max_sellers` of `ranked`; note the new boundary."""
        kept = ranked[: self._max_sellers]
        beyond = ranked[self._max_sellers :]
        lowest = [key for key in (*beyond[:1], members_at_least) if key is not None]
        other.bounds = (kept[-1], min(lowest)) if kept and lowest else None
        other.kept = frozenset(key[1] for key in kept)
        return frozenset(names) - other.kept

    def _rank(self, tenant: str, seller: str) -> RankKey:
        return rank_key(self._groups[(tenant, seller, ())].revenue, seller)

    def _aggregated(self, where: GroupKey) -> dict[ContributionKey, Decimal]:
        group = self._groups.get(where)
        return group.aggregated if group is not None else {}

    def _move_into_other(
        self,
        other: _Other,
        was: dict[ContributionKey, Decimal],
        now: dict[ContributionKey, Decimal],
    ) -> None:
        """Replace a seller's aggregates `was` by `now` in `__other__` (either may be empty)."""
        if not was:  # a seller collapsed away: some 40 aggregates at once
            self._add_to_other(other, [(key, value, 1) for key, value in now.items()])
            return
        if not now:  # a seller kept again
            self._add_to_other(other, [(key, EXACT.minus(was[key]), -1) for key in was])
            return
        changes: list[tuple[ContributionKey, Decimal, int]] = []
        for key, value in now.items():
            before = was.get(key)
            if before is None:
                changes.append((key, value, 1))
            elif before != value:  # most of a seller's aggregates do not change between scrapes
                changes.append((key, EXACT.subtract(value, before), 0))
        changes.extend((key, EXACT.minus(was[key]), -1) for key in was.keys() - now.keys())
        self._add_to_other(other, changes)

    def _add_to_other(
        self, other: _Other, changes: list[tuple[ContributionKey, Decimal, int]]
    ) -> None:
        """Add each (key, delta, holders added) to the sums of `__other__`, one loop."""
        sums, counts, relabelled = other.aggregated, other.counts, self._other_labels
        for key, delta, holders in changes:
            labels = relabelled.get(key.labels)
            if labels is None:  # shared by the key's windows and metrics
                labels = relabelled[key.labels] = as_other(key.labels)
            target: ContributionKey = new_key(ContributionKey, (key.metric, labels, key.window))
            count = counts.get(target, 0) + holders
            if count == 0:
                del sums[target], counts[target]
            else:
                sums[target] = EXACT.add(sums.get(target, ZERO), delta)
                counts[target] = count

    def _body(
        self,
        ctx: MetricContext,
        exported: dict[Window, str],
        active: ActiveWindows,
        collapsed: dict[str, int],
    ) -> bytes:
        texts: list[Text] = []
        shown = [
            (tenant, seller, ())
            for tenant, names in sorted(self._sellers.items())
            for seller in sorted(names - self._others[tenant].members)
        ]
        for where in (*shown, *self._unsold):
            group = self._groups[where]
            if group.text is None:
                group.text = self._text(group.samples, exported)
            texts.append(group.text)
        for _, other in sorted(self._others.items()):
            if other.members:
                if other.text is None:
                    samples = exported_samples(other.aggregated, ctx, exported, active)
                    other.text = self._text(samples, exported)
                texts.append(other.text)
        out: list[bytes] = []
        for spec in ALL_METRICS:
            out.append(header(spec.name, spec.kind, spec.help).encode())
            out.extend(text[spec.name] for text in texts if spec.name in text)
        out.append(_collapsed_text(collapsed))
        return b"".join(out)

    def _text(self, samples: dict[ContributionKey, Decimal], exported: dict[Window, str]) -> Text:
        """The sample lines of `samples` per family, as `text.render` writes them."""
        lines: defaultdict[str, list[str]] = defaultdict(list)
        series: dict[ContributionKey, _Series] = {}
        for key, value in samples.items():
            found = _ROLES.get(key.metric)
            if found is None:
                continue
            spec, role = found
            if role == "gauge":
                lines[spec.name].append(
                    f"{self._start(spec.name, key, spec, exported)}{_go(value)}"
                )
                continue
            place = self._places.get(key.labels)
            if place is None:  # shared by the key's windows
                place = self._places[key.labels] = _place(key.labels)
            base_labels, bound = place
            base: ContributionKey = new_key(ContributionKey, (spec.name, base_labels, key.window))
            histogram = series.get(base)
            if histogram is None:
                histogram = series[base] = _Series(spec)
            if role == "bucket":
                histogram.buckets.append((bound, key, value))
            else:
                histogram.total = value
        for base, histogram in series.items():
            if not histogram.buckets:
                continue  # as `HistogramMetricFamily`: a sum alone is no series
            spec = histogram.spec
            out = lines[spec.name]
            histogram.buckets.sort(key=lambda bucket: bucket[0])
            for _, key, value in histogram.buckets:
                out.append(f"{self._start(spec.bucket, key, spec, exported)}{_go(value)}")
            count = histogram.buckets[-1][2]
            out.append(f"{self._start(spec.count, base, spec, exported)}{_go(count)}")
            total = histogram.total if histogram.total is not None else ZERO
            out.append(f"{self._start(spec.sum, base, spec, exported)}{_go(total)}")
        return {name: "".join(found).encode() for name, found in lines.items()}

    def _start(
        self, name: str, key: ContributionKey, spec: MetricSpec, exported: dict[Window, str]
    ) -> str:
        """`name{labels} ` of a sample: the spec's labels and, if windowed, the window's."""
        shape = self._shapes.get(key.labels)
        if shape is None:
            shape = self._shapes[key.labels] = _shape(key.labels)
        labels, seller = shape
        template = self._templates.get((name, labels))
        if template is None:  # shared by every seller and window of the label set
            template = self._templates[(name, labels)] = _template(name, labels, spec)
        return template.format(*self._window_text(key.window, exported), seller)

    def _window_text(self, window: Window | None, exported: dict[Window, str]) -> tuple[str, ...]:
        """The escaped values of a window's labels, in `_template`'s field order."""
        if window is None:
            return ("", "", "")
        found = self._window_values.get(window)
        if found is None:
            values = (window.granularity.value, window.start.isoformat(), exported[window])
            found = self._window_values[window] = tuple(map(escape_label_value, values))
        return found


_SELLER_SLOT = 3
"""The seller's field in a template: after the window's granularity, start and name."""


def _shape(labels: Labels) -> tuple[Labels, str]:
    """`labels` with the seller's value left out, and that value escaped ("" if none)."""
    seller = ""
    shape: list[tuple[str, str]] = []
    for name, value in labels:
        if name == SELLER_LABEL:
            seller = escape_label_value(value)
            value = ""
        shape.append((name, value))
    return tuple(shape), seller


def _template(name: str, labels: Labels, spec: MetricSpec) -> str:
    """`name{labels} ` as `label_text` writes it, as a format string of the label values.

    A scrape that adds series (a seller's first win of the day adds dozens, a
    seller who enters the cap's kept sellers some 170) then fills a template
    instead of sorting and escaping every label again: a label set without its
    seller is shared by every seller and window. `labels` is a `_shape`. The
    fields are `_start`'s values: {0} granularity, {1} window start, {2} window
    name, {3} seller.
    """
    values: dict[str, str | int] = dict(labels)
    if SELLER_LABEL in values:
        values[SELLER_LABEL] = _SELLER_SLOT
    window_names = (*WINDOW_LABELS, WINDOW_LABEL) if spec.windowed else ()
    values.update((label, index) for index, label in enumerate(window_names))
    items = [(label, values.get(label, "")) for label in (*spec.labels, *window_names)]
    if LE in values and name == spec.bucket:
        items.append((LE, values[LE]))
    if not items:
        return _literal(f"{name} ")
    pairs = [
        f'{label}="{{{value}}}"'
        if isinstance(value, int)
        else _literal(f'{label}="{escape_label_value(value)}"')
        for label, value in sorted(items, key=lambda item: item[0])
    ]
    return _literal(f"{name}{{") + ",".join(pairs) + _literal("} ")


def _literal(text: str) -> str:
    """`text` inside a format string."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(slots=True)
class _Series:
    """One histogram series of a group: its buckets (bound, key, value) and its sum."""

    spec: MetricSpec
    buckets: list[tuple[float, ContributionKey, Decimal]] = field(default_factory=list)
    total: Decimal | None = None


_ROLES: dict[str, tuple[MetricSpec, str]] = {
    **{spec.name: (spec, "gauge") for spec in ALL_METRICS if spec.kind != "histogram"},
    **{spec.bucket: (spec, "bucket") for spec in ALL_METRICS if spec.kind == "histogram"},
    **{spec.sum: (spec, "sum") for spec in ALL_METRICS if spec.kind == "histogram"},
}
"""What each exported sample name is: a gauge, or a histogram's bucket or sum."""


def _collapsed_text(collapsed: dict[str, int]) -> bytes:
    """`dealpulse_seller_labels_folded`, header and samples."""
    spec = SELLERS_COLLAPSED
    lines = [header(spec.name, spec.kind, spec.help)]
    for tenant, count in sorted(collapsed.items()):
        lines.append(f"{spec.name}{label_text(((TENANT_LABEL, tenant),))} {_go(count)}")
    return "".join(lines).encode()


def _go(value: Decimal | int) -> str:
    return f"{go_float(float(value))}\n"


def _place(labels: Labels) -> tuple[Labels, float]:
    """The labels of the histogram series a bucket or sum belongs to, and a bucket's bound."""
    le = dict(labels).get(LE, INF)
    base = tuple(pair for pair in labels if pair[0] != LE)
    return base, float("inf") if le == INF else float(le)
