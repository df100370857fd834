"""Exposition: cumulative histogram buckets and deals active at each window's start."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from streams.domain import metrics
from streams.domain.replay import compute
from streams.domain.windows import Granularity
from streams.exposition import catalogue as cat
from streams.exposition.samples import exposition_samples
from tests.support.builders import MONDAY, Deal, context, days, key, month

MONTHLY = context(now=datetime(2026, 7, 15, tzinfo=UTC), retention={Granularity.MONTH: 6})
SELLER = {"tenant": "acme", "pipeline": "new-business", "seller": "ann"}


def test_histograms_are_exported_cumulative_with_every_bucket() -> None:
    quick = Deal("d1")
    quick.created(MONDAY)
    quick.won(MONDAY + days(0.5), amount="50 EUR")  # 12 hours
    slow = Deal("d2")
    slow.created(MONDAY)
    slow.won(MONDAY + days(20), amount="3000 EUR")
    samples = exposition_samples(compute([*quick.written, *slow.written], MONTHLY), MONTHLY)
    march = month(2026, 3)
    cycle = {
        dict(k.labels)["le"]: v
        for k, v in samples.items()
        if k.metric == cat.SALES_CYCLE.bucket and k.window == march
    }
    assert cycle == {
        "3600": 0,
        "14400": 0,
        "86400": 1,
        "259200": 1,
        "604800": 1,
        "1209600": 1,
        "2592000": 2,
        "5184000": 2,
        "7776000": 2,
        "15552000": 2,
        "31536000": 2,
        "+Inf": 2,
    }
    assert samples[key(cat.SALES_CYCLE.count, march, **SELLER)] == 2
    assert samples[key(cat.SALES_CYCLE.sum, march, **SELLER)] == Decimal(20.5 * 86400)
    ticket = {
        dict(k.labels)["le"]: v for k, v in samples.items() if k.metric == cat.TICKET_SIZE.bucket
    }
    assert [ticket[le] for le in ("100", "2500", "5000", "+Inf")] == [1, 1, 2, 2]
    assert not any(k.metric.endswith("_in_bucket") for k in samples)


def test_active_deals_at_each_window_start() -> None:
    churned = Deal("d1")
    churned.created(datetime(2026, 2, 2, tzinfo=UTC))
    churned.won(datetime(2026, 2, 10, tzinfo=UTC))  # active from March 1st
    churned.churned(datetime(2026, 5, 1, tzinfo=UTC))  # churned at May's very start
    staying = Deal("d2")
    staying.created(MONDAY)
    staying.won(datetime(2026, 4, 1, tzinfo=UTC))  # at April's very start: counts in April
    samples = exposition_samples(compute([*churned.written, *staying.written], MONTHLY), MONTHLY)
    active = {
        k.window.start.month: v
        for k, v in samples.items()
        if k.metric == cat.DEALS_ACTIVE_AT_WINDOW_START.name and k.window is not None
    }
    # Retained: February to July; February has none active, so it is left out.
    assert active == {3: 1, 4: 2, 5: 1, 6: 1, 7: 1}
    assert not any(k.metric == metrics.DEALS_ACTIVE_CHANGE for k in samples)
