"""Bounding the `seller` label: at most N sellers per tenant on /metrics, the rest as one.

Every metric with a `seller` label grows a series per seller, so a tenant with
tens of thousands of sellers would flood Prometheus. At scrape time, per
tenant, if more than `max_sellers` distinct sellers appear among the exported
samples, the `max_sellers` with the largest won revenue in those samples are
kept, and the samples of every other seller are summed into
`seller="__other__"`. Sellers are ranked by `dealpulse_won_revenue` summed over
every pipeline and exported window of the longest granularity (this month and
last, by default); equal revenue is decided by the weekly, then the daily
windows, then the smaller seller id. Summing all granularities together would
count a win of today three times and one of last month once.

Folding is a sum of samples with the same other labels and window, in exact
`Decimal`, so every total over sellers is unchanged, and histograms stay valid:
cumulative buckets, `_sum` and `_count` are each summed bucket by bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from streams.domain.contributions import ZERO, ContributionKey, Labels
from streams.domain.money import EXACT
from streams.domain.windows import Granularity
from streams.exposition import catalogue as cat

DEFAULT_MAX_SELLERS_PER_TENANT = 1000
"""Default of `DEALPULSE_MAX_SELLERS_PER_TENANT`."""

OTHER_SELLER = "__other__"
"""The `seller` value that stands for every seller folded away."""

SELLER_LABEL = "seller"
TENANT_LABEL = "tenant"

Samples = Mapping[ContributionKey, Decimal]
_TenantSeller = tuple[str, str]
_RANKING = (Granularity.MONTH, Granularity.WEEK, Granularity.DAY)
"""Won revenue per granularity that ranks sellers, longest first."""


@dataclass(frozen=True, slots=True)
class CappedSamples:
    samples: dict[ContributionKey, Decimal]
    folded: dict[str, int]
    """Per tenant with a seller-labelled sample: how many sellers went into `__other__`."""


def checked_cap(max_sellers: int) -> int:
    """`max_sellers` if it is a cap at all (at least one seller kept), else ValueError."""
    if max_sellers < 1:
        raise ValueError(f"max_sellers_per_tenant must be >= 1, got {max_sellers}")
    return max_sellers


def cap_sellers(samples: Samples, max_sellers: int) -> CappedSamples:
    """`samples` with at most `max_sellers` sellers per tenant, plus `__other__`."""
    checked_cap(max_sellers)
    # Many samples share their labels (windows, metrics): look each label set up once.
    located = {labels: tenant_seller(labels) for labels in {key.labels for key in samples}}
    sellers: defaultdict[str, set[str]] = defaultdict(set)
    for where in located.values():
        if where is not None:
            sellers[where[0]].add(where[1])
    folded = {tenant: max(len(names) - max_sellers, 0) for tenant, names in sellers.items()}
    if not any(folded.values()):
        return CappedSamples(dict(samples), folded)
    won = _won_revenue(samples, located)
    kept = {
        tenant: top_sellers(names, _revenue_in(won, tenant), max_sellers)
        for tenant, names in sellers.items()
        if folded[tenant]
    }
    relabelled = {labels: _relabel(labels, where, kept) for labels, where in located.items()}
    capped: dict[ContributionKey, Decimal] = {}
    for key, value in samples.items():
        labels = relabelled[key.labels]
        target = key if labels is key.labels else ContributionKey(key.metric, labels, key.window)
        before = capped.get(target)
        capped[target] = value if before is None else EXACT.add(before, value)
    return CappedSamples(capped, folded)


def tenant_seller(labels: Labels) -> _TenantSeller | None:
    tenant = ""
    seller = None
    for name, value in labels:
        if name == TENANT_LABEL:
            tenant = value
        elif name == SELLER_LABEL:
            seller = value
    return None if seller is None else (tenant, seller)


def ranking_revenue(samples: Samples) -> tuple[Decimal, ...]:
    """What ranks one seller, given only that seller's samples (see `top_sellers`)."""
    won: dict[Granularity, Decimal] = {}
    for key, value in samples.items():
        if key.metric == cat.WON_REVENUE.name and key.window is not None:
            granularity = key.window.granularity
            won[granularity] = EXACT.add(won.get(granularity, ZERO), value)
    return tuple(won.get(granularity, ZERO) for granularity in _RANKING)


def _won_revenue(
    samples: Samples, located: Mapping[Labels, _TenantSeller | None]
) -> dict[tuple[str, str, Granularity], Decimal]:
    """Won revenue per tenant, seller and granularity."""
    won: dict[tuple[str, str, Granularity], Decimal] = {}
    for key, value in samples.items():
        where = located[key.labels]
        if key.metric == cat.WON_REVENUE.name and key.window is not None and where is not None:
            won_in = (*where, key.window.granularity)
            won[won_in] = EXACT.add(won.get(won_in, ZERO), value)
    return won


RankKey = tuple[tuple[Decimal, ...], str]
"""Sorts sellers best first: the most won revenue (longest granularity first), then the
smaller seller id."""


def rank_key(revenue: tuple[Decimal, ...], seller: str) -> RankKey:
    return (tuple(-amount for amount in revenue), seller)


def top_sellers(
    names: Collection[str], revenue: Callable[[str], tuple[Decimal, ...]], count: int
) -> frozenset[str]:
    """The `count` sellers first by `rank_key`.

    A CRM seller literally named `__other__` is never kept: it would merge with the fold.
    """
    ranked = sorted(rank_key(revenue(seller), seller) for seller in set(names) - {OTHER_SELLER})
    return frozenset(seller for _, seller in ranked[:count])


def _revenue_in(
    won: Mapping[tuple[str, str, Granularity], Decimal], tenant: str
) -> Callable[[str], tuple[Decimal, ...]]:
    def revenue(seller: str) -> tuple[Decimal, ...]:
        return tuple(won.get((tenant, seller, granularity), ZERO) for granularity in _RANKING)

    return revenue


def _relabel(
    labels: Labels, where: _TenantSeller | None, kept: Mapping[str, frozenset[str]]
) -> Labels:
    """`labels` itself, or a copy naming `__other__` for a seller folded away."""
    if where is None:
        return labels
    tenant, seller = where
    keep = kept.get(tenant)
    if keep is None or seller in keep:
        return labels
    return as_other(labels)


def as_other(labels: Labels) -> Labels:
    """`labels` with the seller replaced by `__other__`."""
    return tuple(
        [(name, OTHER_SELLER) if name == SELLER_LABEL else (name, value) for name, value in labels]
    )
