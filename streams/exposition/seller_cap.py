"""Bounding the `seller` label: at most N sellers per tenant on /metrics, the rest as one.

The rule, and the pieces `export_cache` applies it with (it keeps `__other__`
as a running sum between scrapes).

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

Collapsing is a sum of samples with the same other labels and window, in exact
`Decimal`, so every total over sellers is unchanged, and histograms stay valid:
cumulative buckets, `_sum` and `_count` are each summed bucket by bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

from streams.domain.contributions import ZERO, ContributionKey, Labels
from streams.domain.money import EXACT
from streams.domain.windows import Granularity
from streams.exposition import catalogue as cat

DEFAULT_MAX_SELLERS_PER_TENANT = 1000
"""Default of `DEALPULSE_MAX_SELLERS_PER_TENANT`."""

OTHER_SELLER = "__other__"
"""The `seller` value that stands for every seller collapsed into it."""

SELLER_LABEL = "seller"
TENANT_LABEL = "tenant"

Samples = Mapping[ContributionKey, Decimal]
_TenantSeller = tuple[str, str]
_RANKING = (Granularity.MONTH, Granularity.WEEK, Granularity.DAY)
"""Won revenue per granularity that ranks sellers, longest first."""


def checked_cap(max_sellers: int) -> int:
    """`max_sellers` if it is a cap at all (at least one seller kept), else ValueError."""
    if max_sellers < 1:
        raise ValueError(f"max_sellers_per_tenant must be >= 1, got {max_sellers}")
    return max_sellers


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
    """What ranks one seller, given only that seller's samples (see `rank_key`)."""
    won: dict[Granularity, Decimal] = {}
    for key, value in samples.items():
        if key.metric == cat.WON_REVENUE.name and key.window is not None:
            granularity = key.window.granularity
            won[granularity] = EXACT.add(won.get(granularity, ZERO), value)
    return tuple(won.get(granularity, ZERO) for granularity in _RANKING)


RankKey = tuple[tuple[Decimal, ...], str]
"""Sorts sellers best first: the most won revenue (longest granularity first), then the
smaller seller id. A CRM seller literally named `__other__` is never kept: it would merge
with the collapsed sellers."""


def rank_key(revenue: tuple[Decimal, ...], seller: str) -> RankKey:
    return (tuple(-amount for amount in revenue), seller)


def as_other(labels: Labels) -> Labels:
    """`labels` with the seller replaced by `__other__`."""
    return tuple(
        [(name, OTHER_SELLER) if name == SELLER_LABEL else (name, value) for name, value in labels]
    )


class ShownSellers(NamedTuple):
    """One tenant's sellers at the last render of the business families."""

    kept: frozenset[str]
    """Shown as themselves."""
    collapsed: frozenset[str]
    """Summed into `__other__`."""


def quota_sellers_kept(
    shown: ShownSellers | None, sellers: Iterable[str], max_sellers: int
) -> frozenset[str]:
    """Which of a tenant's quota `sellers` keep their own label in `dealpulse_quota`.

    Label for label with the other metrics, so that won / quota divides like
    series: a seller kept there keeps its quota's label, a seller collapsed
    there is collapsed here too. A seller with a quota and no series on this
    worker takes one of the places the other metrics leave free (under the
    cap), in seller-id order, as a seller without a win ranks there; past
    `max_sellers` it is collapsed. So at most `max_sellers` sellers keep a label.
    """
    kept = shown.kept if shown is not None else frozenset()
    free = max(max_sellers - len(kept), 0)
    keeping: set[str] = set()
    newcomers: list[str] = []
    for seller in sellers:
        if seller in kept:
            keeping.add(seller)
        elif seller != OTHER_SELLER and (shown is None or seller not in shown.collapsed):
            newcomers.append(seller)
    keeping.update(sorted(set(newcomers))[:free])
    return frozenset(keeping)
