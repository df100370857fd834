"""The business part of /metrics as the worker serves it: recent windows only, cumulative
histograms, the seller cap."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from streams.exposition import catalogue as cat
from streams.exposition.catalogue import SELLERS_COLLAPSED
from streams.exposition.seller_cap import OTHER_SELLER
from tests.support.served import NOW, Scrape, scrape_of, won_deal

BUSINESS_PREFIXES = tuple(spec.name for spec in cat.ALL_METRICS)


def revenue(
    scrape: Scrape,
    granularity: str,
    start: str,
    window: str = "current",
    seller: str = "seller-1",
) -> float | None:
    labels = {
        "tenant": "default",
        "pipeline": "new-business",
        "seller": seller,
        "granularity": granularity,
        "window_start": start,
        "window": window,
    }
    return scrape.value("dealpulse_won_revenue", labels)


def test_exports_current_and_previous_windows_only() -> None:
    scrape = scrape_of(
        won_deal("d1", NOW - timedelta(hours=1), "100.50"),
        won_deal("d2", NOW - timedelta(days=1), "200"),
        won_deal("d3", NOW - timedelta(days=3), "300"),
    )
    assert revenue(scrape, "day", "2026-11-18") == 100.5
    assert revenue(scrape, "day", "2026-11-17", "previous") == 200
    assert revenue(scrape, "day", "2026-11-15") is None  # three days back: not exported
    assert revenue(scrape, "week", "2026-11-16") == 300.5  # Monday the 16th
    assert revenue(scrape, "week", "2026-11-09", "previous") == 300
    assert revenue(scrape, "month", "2026-11-01") == 600.5


def test_histograms_are_cumulative_with_inf() -> None:
    scrape = scrape_of(won_deal("d1", NOW - timedelta(hours=1), "100.50"))
    labels = {
        "tenant": "default",
        "pipeline": "new-business",
        "seller": "seller-1",
        "granularity": "day",
        "window_start": "2026-11-18",
        "window": "current",
    }
    assert scrape.value("dealpulse_ticket_size_bucket", {**labels, "le": "100"}) == 0
    assert scrape.value("dealpulse_ticket_size_bucket", {**labels, "le": "500"}) == 1
    assert scrape.value("dealpulse_ticket_size_bucket", {**labels, "le": "+Inf"}) == 1
    assert scrape.value("dealpulse_ticket_size_count", labels) == 1
    assert scrape.value("dealpulse_ticket_size_sum", labels) == 100.5
    cycle = scrape.value("dealpulse_sales_cycle_seconds_sum", labels)
    assert cycle == 10 * 86400


def test_every_family_has_help_and_no_total_suffix() -> None:
    text = scrape_of(won_deal("d1", NOW, "1")).text
    helps = [line for line in text.splitlines() if line.startswith("# HELP dealpulse_")]
    assert len(helps) >= 17
    business = [line for line in text.splitlines() if line.startswith(BUSINESS_PREFIXES)]
    assert business
    assert not any("_total" in line for line in business)


def test_active_deals_count_wins_older_than_the_exported_windows() -> None:
    scrape = scrape_of(won_deal("old", NOW - timedelta(days=60), "10"))
    labels = {
        "tenant": "default",
        "pipeline": "new-business",
        "seller": "seller-1",
        "granularity": "month",
        "window_start": "2026-11-01",
        "window": "current",
    }
    assert scrape.value("dealpulse_deals_active_at_window_start", labels) == 1


# --- the seller cap --------------------------------------------------------------------------

SIX_SELLERS = [  # seller-6 has the most revenue, seller-1 the least; windows vary
    won_deal(f"d{number}", NOW - timedelta(days=number % 3, hours=1), f"{number}00.25", owner)
    for number, owner in enumerate([f"seller-{n}" for n in range(1, 7)] * 2, start=1)
]


def folded(scrape: Scrape) -> float | None:
    return scrape.value(SELLERS_COLLAPSED.name, {"tenant": "default"})


def sellers_in(scrape: Scrape) -> set[str]:
    return {sample.labels["seller"] for sample in scrape.samples() if "seller" in sample.labels}


def test_sellers_beyond_the_cap_are_summed_into_other() -> None:
    scrape = scrape_of(
        won_deal("d1", NOW - timedelta(hours=1), "300", owner="seller-a"),
        won_deal("d2", NOW - timedelta(hours=1), "200", owner="seller-b"),
        won_deal("d3", NOW - timedelta(hours=1), "100", owner="seller-c"),
        won_deal("d4", NOW - timedelta(hours=2), "50.5", owner="seller-d"),
        max_sellers_per_tenant=2,
    )
    assert revenue(scrape, "day", "2026-11-18", seller="seller-a") == 300
    assert revenue(scrape, "day", "2026-11-18", seller="seller-b") == 200
    assert revenue(scrape, "day", "2026-11-18", seller="seller-c") is None
    assert revenue(scrape, "day", "2026-11-18", seller=OTHER_SELLER) == 150.5
    assert folded(scrape) == 2


def test_the_folded_gauge_is_zero_under_the_cap_and_has_help() -> None:
    scrape = scrape_of(*SIX_SELLERS)
    assert folded(scrape) == 0
    assert f"# HELP {SELLERS_COLLAPSED.name} " in scrape.text
    assert sellers_in(scrape) == {f"seller-{n}" for n in range(1, 7)}


def totals_over_sellers(scrape: Scrape) -> dict[tuple[str, frozenset[Any]], float]:
    """Every business sample summed over sellers, as Prometheus' `sum without (seller)`."""
    parts: defaultdict[tuple[str, frozenset[Any]], list[float]] = defaultdict(list)
    for sample in scrape.samples():
        if sample.name.startswith(BUSINESS_PREFIXES):
            rest = frozenset((k, v) for k, v in sample.labels.items() if k != "seller")
            parts[(sample.name, rest)].append(sample.value)
    return {series: math.fsum(values) for series, values in parts.items()}


def assert_valid_histograms(scrape: Scrape) -> None:
    for family in scrape.families:
        if family.type != "histogram":
            continue
        series: defaultdict[frozenset[Any], dict[str, float]] = defaultdict(dict)
        for sample in family.samples:
            rest = frozenset((k, v) for k, v in sample.labels.items() if k != "le")
            le = sample.labels.get("le", sample.name.removeprefix(family.name))
            series[rest][le] = sample.value
        for values in series.values():
            buckets = [v for le, v in values.items() if not le.startswith("_")]
            assert buckets == sorted(buckets)
            assert values["+Inf"] == values["_count"]


@pytest.mark.parametrize("cap", [1, 2, 3, 5, 6])
def test_totals_over_sellers_do_not_depend_on_the_cap(cap: int) -> None:
    uncapped = scrape_of(*SIX_SELLERS)
    capped = scrape_of(*SIX_SELLERS, max_sellers_per_tenant=cap)
    assert totals_over_sellers(capped) == totals_over_sellers(uncapped)
    assert folded(capped) == max(6 - cap, 0)
    assert_valid_histograms(capped)
    kept = {f"seller-{n}" for n in range(7 - cap, 7)}  # the top revenue ones
    assert sellers_in(capped) == (kept if cap >= 6 else kept | {OTHER_SELLER})
