"""The seller cap: top sellers by won revenue keep their label, the rest sum into `__other__`.

The rule is checked here on `tests.support.fresh_render.cap_sellers`, the oracle's
plain version of it; `test_export_cache` holds the served body (`ExportCache`, which
keeps `__other__` as a running sum) to that oracle after random folds, and
`test_business_exposition` checks the cap on the served body itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from streams.domain.contributions import ContributionKey, Labels
from streams.domain.replay import compute
from streams.exposition import catalogue as cat
from streams.exposition.samples import exposition_samples
from streams.exposition.seller_cap import (
    DEFAULT_MAX_SELLERS_PER_TENANT,
    OTHER_SELLER,
    checked_cap,
)
from streams.settings import Settings
from tests.support import fresh_render
from tests.support.builders import MONDAY, Deal, context, days, key

CTX = context()
MARCH = ("month", MONDAY.date().replace(day=1))
Samples = Mapping[ContributionKey, Decimal]


class Capped(NamedTuple):
    samples: Samples
    folded: dict[str, int]


def cap_sellers(samples: Samples, max_sellers: int) -> Capped:
    return Capped(*fresh_render.cap_sellers(samples, max_sellers))


def revenue(seller: str, amount: str, tenant: str = "acme") -> dict[ContributionKey, Decimal]:
    """A seller's won revenue and one won deal, in March."""
    seller_labels = {"tenant": tenant, "pipeline": "new-business", "seller": seller}
    return {
        key(cat.WON_REVENUE.name, MARCH, **seller_labels): Decimal(amount),
        key(cat.DEALS_WON.name, MARCH, **seller_labels): Decimal(1),
    }


def sellers_of(samples: Samples, tenant: str = "acme") -> set[str]:
    found = set()
    for sample in samples:
        names = dict(sample.labels)
        if names.get("tenant") == tenant and "seller" in names:
            found.add(names["seller"])
    return found


def without_seller(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != "seller")


def totals(samples: Samples) -> dict[ContributionKey, Decimal]:
    """Every sample summed over sellers: what the cap must never change."""
    summed: defaultdict[ContributionKey, Decimal] = defaultdict(Decimal)
    for sample, value in samples.items():
        summed[ContributionKey(sample.metric, without_seller(sample.labels), sample.window)] += (
            value
        )
    return dict(summed)


def test_under_the_cap_nothing_changes() -> None:
    samples = {**revenue("ann", "10"), **revenue("bob", "20")}
    capped = cap_sellers(samples, max_sellers=2)
    assert capped.samples == samples
    assert capped.folded == {"acme": 0}


def test_the_sellers_with_least_revenue_are_summed_into_other() -> None:
    samples = {**revenue("ann", "10.25"), **revenue("bob", "30"), **revenue("cid", "20.50")}
    capped = cap_sellers(samples, max_sellers=1)
    assert sellers_of(capped.samples) == {"bob", OTHER_SELLER}
    other = {"tenant": "acme", "pipeline": "new-business", "seller": OTHER_SELLER}
    assert capped.samples[key(cat.WON_REVENUE.name, MARCH, **other)] == Decimal("30.75")
    assert capped.samples[key(cat.DEALS_WON.name, MARCH, **other)] == 2
    assert capped.folded == {"acme": 2}


def test_equal_revenue_keeps_the_smaller_seller_id() -> None:
    samples = {**revenue("cid", "5"), **revenue("ann", "5"), **revenue("bob", "5")}
    assert sellers_of(cap_sellers(samples, max_sellers=2).samples) == {"ann", "bob", OTHER_SELLER}


def test_sellers_rank_by_the_longest_windows_then_shorter_ones() -> None:
    sold = {"tenant": "acme", "pipeline": "new-business"}
    samples = {  # ann won more this month; bob's smaller win today counts in three windows
        key(cat.WON_REVENUE.name, ("month", date(2026, 6, 1)), **sold, seller="ann"): Decimal(100),
        key(cat.WON_REVENUE.name, ("month", date(2026, 6, 1)), **sold, seller="bob"): Decimal(60),
        key(cat.WON_REVENUE.name, ("week", date(2026, 6, 29)), **sold, seller="bob"): Decimal(60),
        key(cat.WON_REVENUE.name, ("day", date(2026, 6, 30)), **sold, seller="bob"): Decimal(60),
        key(cat.WON_REVENUE.name, ("month", date(2026, 6, 1)), **sold, seller="cid"): Decimal(60),
    }
    assert sellers_of(cap_sellers(samples, max_sellers=1).samples) == {"ann", OTHER_SELLER}
    # Equal this month: the week decides, and bob won this week.
    assert sellers_of(cap_sellers(samples, max_sellers=2).samples) == {"ann", "bob", OTHER_SELLER}


def test_a_seller_without_won_revenue_ranks_last() -> None:
    lost = key(cat.DEALS_CLOSED.name, MARCH, tenant="acme", pipeline="new-business", seller="aaa")
    samples = {**revenue("zed", "1"), lost: Decimal(3)}
    capped = cap_sellers(samples, max_sellers=1)
    assert sellers_of(capped.samples) == {"zed", OTHER_SELLER}


def test_each_tenant_is_capped_on_its_own() -> None:
    samples = {
        **revenue("ann", "1", tenant="acme"),
        **revenue("bob", "2", tenant="acme"),
        **revenue("ann", "1", tenant="globex"),
    }
    capped = cap_sellers(samples, max_sellers=1)
    assert capped.folded == {"acme": 1, "globex": 0}
    assert sellers_of(capped.samples, "acme") == {"bob", OTHER_SELLER}
    assert sellers_of(capped.samples, "globex") == {"ann"}


def test_samples_without_a_seller_pass_through() -> None:
    stage = key(cat.OPEN_DEALS.name, None, tenant="acme", pipeline="new-business", stage="lead")
    samples = {**revenue("ann", "1"), **revenue("bob", "2"), stage: Decimal(4)}
    assert cap_sellers(samples, max_sellers=1).samples[stage] == 4


def test_a_crm_seller_named_other_is_always_folded() -> None:
    samples = {**revenue(OTHER_SELLER, "100"), **revenue("ann", "1"), **revenue("bob", "2")}
    capped = cap_sellers(samples, max_sellers=1)
    assert sellers_of(capped.samples) == {"bob", OTHER_SELLER}
    other = {"tenant": "acme", "pipeline": "new-business", "seller": OTHER_SELLER}
    assert capped.samples[key(cat.WON_REVENUE.name, MARCH, **other)] == 101


def test_the_cap_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_sellers"):
        checked_cap(0)
    assert checked_cap(1) == 1


def test_the_setting_defaults_to_the_domain_default() -> None:
    assert Settings().max_sellers_per_tenant == DEFAULT_MAX_SELLERS_PER_TENANT


# --- the property: exact totals, valid histograms, the right sellers kept --------------------


@st.composite
def deals(draw: st.DrawFn) -> list[Deal]:
    """Deals of two tenants and up to eight sellers: won, lost, churned or still open."""
    written = []
    for number in range(draw(st.integers(0, 14))):
        deal = Deal(f"d{number}", tenant=draw(st.sampled_from(["acme", "globex"])))
        created = MONDAY + days(draw(st.integers(0, 20)))
        deal.created(
            created,
            owner=f"s{draw(st.integers(0, 7))}",
            pipeline=draw(st.sampled_from(["new-business", "renewal"])),
            amount=f"{draw(st.decimals('0.01', '99999', places=2))} EUR",
        )
        closed = created + timedelta(hours=draw(st.integers(1, 24 * 60)))
        outcome = draw(st.sampled_from(["won", "lost", "churned", "open"]))
        if outcome in ("won", "churned"):
            deal.won(closed)
        if outcome == "churned":
            deal.churned(closed + days(draw(st.integers(1, 90))))
        if outcome == "lost":
            deal.lost(closed)
        written.append(deal)
    return written


def bucket_series(samples: Samples, spec: cat.MetricSpec) -> dict[ContributionKey, list[Decimal]]:
    """Each histogram series' cumulative buckets, in `le` order."""
    series: defaultdict[ContributionKey, list[tuple[float, Decimal]]] = defaultdict(list)
    for sample, value in samples.items():
        if sample.metric == spec.bucket:
            le = dict(sample.labels)["le"]
            base = tuple(pair for pair in sample.labels if pair[0] != "le")
            bound = float("inf") if le == cat.INF else float(le)
            series[ContributionKey(spec.name, base, sample.window)].append((bound, value))
    return {name: [value for _, value in sorted(buckets)] for name, buckets in series.items()}


def won_revenue(samples: Samples, tenant: str) -> dict[str, Decimal]:
    by_seller: defaultdict[str, Decimal] = defaultdict(Decimal)
    for sample, value in samples.items():
        names = dict(sample.labels)
        if sample.metric == cat.WON_REVENUE.name and names["tenant"] == tenant:
            by_seller[names["seller"]] += value
    return by_seller


@settings(max_examples=150)
@given(written=deals(), max_sellers=st.integers(1, 9))
def test_capping_keeps_totals_exact_and_histograms_valid(
    written: list[Deal], max_sellers: int
) -> None:
    events = [event for deal in written for event in deal.written]
    samples = exposition_samples(compute(events, CTX), CTX)
    capped = cap_sellers(samples, max_sellers)
    event("cap engaged" if any(capped.folded.values()) else "under the cap")

    assert totals(capped.samples) == totals(samples)
    for tenant, folded in capped.folded.items():
        before, after = sellers_of(samples, tenant), sellers_of(capped.samples, tenant)
        assert folded == max(len(before) - max_sellers, 0)
        if folded:
            kept = after - {OTHER_SELLER}
            assert len(kept) == max_sellers
            revenue_before = won_revenue(samples, tenant)
            folded_away = before - kept
            assert min(revenue_before[s] for s in kept) >= max(
                revenue_before[s] for s in folded_away
            )
        else:
            assert after == before
    for sample, value in capped.samples.items():
        if dict(sample.labels).get("seller", OTHER_SELLER) != OTHER_SELLER:
            assert samples[sample] == value, "a kept seller's series is untouched"
    for spec in cat.HISTOGRAMS:
        for series, buckets in bucket_series(capped.samples, spec).items():
            assert buckets == sorted(buckets), "cumulative buckets never decrease"
            count = ContributionKey(spec.count, series.labels, series.window)
            assert capped.samples[count] == buckets[-1], "+Inf equals _count"
