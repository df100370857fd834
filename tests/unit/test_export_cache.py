"""The export cache serves what a fresh render of the aggregates gives, whatever happened.

Random deal histories are folded one event at a time over a few partitions,
with scrapes in between, a clock that moves across days, weeks and months,
rebuilds and dropped partitions, and a seller cap that folds sellers in and out
of `__other__`. After every scrape the cached body must hold exactly the
families and samples of `tests.support.fresh_render`, which derives everything
from the aggregates on its own and renders it with prometheus_client.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.domain.events import DealEvent, EventType
from streams.exposition import export_cache, samples
from streams.exposition.export_cache import ExportCache
from streams.exposition.seller_cap import OTHER_SELLER
from streams.metric_context import ContextSource
from streams.settings import Settings
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.in_process import InProcessWorker
from tests.support.fresh_render import fresh_body, parsed
from tests.support.served import NOW, fold_of, won_deal
from tests.support.strategies import BASE, deal_story, partition_of

START = BASE + timedelta(days=230)  # near the end of the simulated events


class MovingClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def full_body(fold: InProcessWorker, contexts: ContextSource, cap: int, windows: int = 2) -> bytes:
    """A fresh render of the fold's aggregates, now."""
    ctx = contexts.current()
    return fresh_body(dict(fold.aggregates(ctx).items()), ctx, windows, cap)


def cached_body(cache: ExportCache) -> bytes:
    return cache.render(cache.take())


def assert_same_export(cached: bytes, full: bytes) -> None:
    """The same families, in the same order, with the same HELP and samples (Prometheus
    reads both: the fresh render writes its labels in another order)."""
    assert parsed(cached) == parsed(full)


def assert_shown_sellers(cache: ExportCache, body: bytes, cap: int) -> None:
    """`shown_sellers` (what the quota families follow) says what the body shows."""
    labelled: dict[str, set[str]] = {}
    for _, _, _, family in parsed(body):
        for _, labels, _ in family:
            found = dict(labels)
            if "seller" in found:
                labelled.setdefault(found["tenant"], set()).add(found["seller"])
    shown = cache.shown_sellers()
    assert set(shown) == set(labelled)
    for tenant, sellers in shown.items():
        assert sellers.kept == labelled[tenant] - {OTHER_SELLER}
        assert (OTHER_SELLER in labelled[tenant]) == bool(sellers.collapsed)
        assert not sellers.kept & sellers.collapsed
        assert len(sellers.kept) <= cap


# After each event: nothing, a scrape, the clock moving (hours to weeks), a rebuild
# from the table (an assignment), or a partition dropped (a revocation).
ACTIONS = st.sampled_from(("none", "scrape", "scrape", "scrape", "tick", "rebuild", "drop"))
TICK_HOURS = st.sampled_from((1, 13, 30, 24 * 8, 24 * 40))


@st.composite
def many_deals(draw: st.DrawFn) -> list[DealEvent]:
    """Enough deals that a tenant has more sellers than a small cap."""
    deals = draw(st.integers(3, 12))
    return [event for n in range(deals) for event in draw(deal_story(f"deal-{n}"))]


@settings(max_examples=150, deadline=None)
@given(events=many_deals(), data=st.data())
def test_the_cache_exports_what_the_full_build_exports(
    events: list[DealEvent], data: st.DataObject
) -> None:
    clock = MovingClock(START)
    contexts = ContextSource(Settings(), clock)
    table: dict[str, Any] = {}
    cache_deals = data.draw(st.sampled_from((0, 50)))
    fold = InProcessWorker(table, contexts, FoldMetrics(CollectorRegistry()), cache_deals)
    partitions = data.draw(st.integers(1, 3))
    cap = data.draw(st.integers(1, 3))
    windows = data.draw(st.sampled_from((2, 40)))  # 40: nearly every event is on /metrics
    cache = ExportCache(fold, contexts, windows, max_sellers_per_tenant=cap)
    dropped: set[int] = set()  # revoked: their events go to another worker, until a rebuild
    for event in events:
        partition = partition_of(event.deal_id, partitions)
        if partition not in dropped:
            fold.accept(event, partition)
        action = data.draw(ACTIONS)
        if action == "scrape":
            body = cached_body(cache)
            assert_same_export(body, full_body(fold, contexts, cap, windows))
            assert_shown_sellers(cache, body, cap)
            ctx = contexts.current()  # and the live aggregates, pruned lazily, are right
            live = fold.aggregates(ctx)
            fresh = fold.recompute(fold.partitions, table.values())
            assert live.as_dict() == fresh.as_dict()
        elif action == "tick":
            clock.now += timedelta(hours=data.draw(TICK_HOURS))
        elif action == "rebuild":  # every partition assigned again, restored from the table
            fold.rebuild(range(partitions), table.values())
            dropped.clear()
        elif action == "drop":  # the partitions kept are rebuilt from the table
            revoked = data.draw(st.integers(0, partitions - 1))
            fold.drop([revoked], lambda kept: table.values())
            dropped.add(revoked)
    assert_same_export(cached_body(cache), full_body(fold, contexts, cap, windows))


def derived_sellers(monkeypatch: Any) -> list[str | None]:
    """The seller of each group the cache derives samples for from now on (None: no seller)."""
    derived: list[str | None] = []
    original = samples.exported_samples

    def counting(aggregated: Any, *args: Any) -> Any:
        sellers = {dict(key.labels).get("seller") for key in aggregated}
        assert len(sellers) == 1, "a group holds one seller's series, or series without one"
        derived.extend(sellers)
        return original(aggregated, *args)

    monkeypatch.setattr(export_cache, "exported_samples", counting)
    return derived


def test_a_scrape_derives_only_the_sellers_that_changed(monkeypatch: Any) -> None:
    sellers = [f"seller-{n}" for n in range(20)]
    fold, contexts = fold_of(
        *(won_deal(f"d-{seller}", NOW - timedelta(hours=2), "100", seller) for seller in sellers)
    )
    cache = ExportCache(fold, contexts, 2, max_sellers_per_tenant=5)
    cached_body(cache)
    derived = derived_sellers(monkeypatch)

    for event in won_deal("late-win", NOW - timedelta(hours=1), "50", "seller-3"):
        fold.accept(event, partition=0)
    body = cached_body(cache)

    # and a few series without a seller, and `__other__` (from its sellers' summed aggregates)
    assert set(derived) == {"seller-3", OTHER_SELLER, None}
    assert derived.count("seller-3") == 1
    assert derived.count(OTHER_SELLER) == 1
    assert_same_export(body, full_body(fold, contexts, 5))


def test_a_rebalance_rebuilds_everything(monkeypatch: Any) -> None:
    fold, contexts = fold_of(
        won_deal("d1", NOW - timedelta(hours=2), "100", "ann"),
        won_deal("d2", NOW - timedelta(hours=2), "200", "bob"),
    )
    cache = ExportCache(fold, contexts, 2)
    cached_body(cache)
    derived = derived_sellers(monkeypatch)

    fold.drop([0], lambda kept: [])
    body = cached_body(cache)

    assert derived == []  # nothing left to derive: the partition is gone
    assert b'seller="ann"' not in body
    assert_same_export(body, full_body(fold, contexts, 1000))


def test_a_failed_render_rebuilds_at_the_next_scrape(monkeypatch: Any) -> None:
    fold, contexts = fold_of(won_deal("d1", NOW - timedelta(hours=2), "100", "ann"))
    cache = ExportCache(fold, contexts, 2)
    cached_body(cache)
    for event in won_deal("d2", NOW - timedelta(hours=1), "5", "ann"):
        fold.accept(event, partition=0)
    changes = cache.take()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    with monkeypatch.context() as patch:
        patch.setattr(export_cache, "exported_samples", broken)
        with pytest.raises(RuntimeError):
            cache.render(changes)

    assert_same_export(cached_body(cache), full_body(fold, contexts, 1000))


@pytest.mark.parametrize("later", [EventType.CHURNED, EventType.REOPENED])
def test_a_deal_folded_before_the_cutoff_moved_is_pruned_again(later: EventType) -> None:
    """Its cached contributions hold the active-deal step of its win, now before the
    cutoff; retracting them after the aggregates were pruned to the new cutoff must
    be pruned again, or the active deals count the win twice; and the export must
    see the window the retraction was carried into even when nothing else changed
    it (a reopened deal no longer contributes there)."""
    clock = MovingClock(NOW)
    contexts = ContextSource(Settings(), clock)
    table: dict[str, Any] = {}
    fold = InProcessWorker(table, contexts, FoldMetrics(CollectorRegistry()), cache_deals=10)
    for event in won_deal("d1", NOW - timedelta(days=70), "100", "ann"):
        fold.accept(event, partition=0)
    cache = ExportCache(fold, contexts, 2)
    cached_body(cache)

    clock.now += timedelta(days=30)  # the daily cutoff passes the win
    cached_body(cache)  # prunes: the step moves to the new cutoff window
    later_at = clock.now - timedelta(hours=1)
    fold.accept(DealEvent("d1-later", later, later_at, "d1"), partition=0)
    body = cached_body(cache)

    live = fold.aggregates(contexts.current())
    assert live.as_dict() == fold.recompute([0], table.values()).as_dict()
    assert_same_export(body, full_body(fold, contexts, 1000))
    active = b'dealpulse_deals_active_at_window_start{granularity="day"'
    assert (active in body) is (later is EventType.CHURNED)


def test_label_values_are_escaped_as_the_full_build_escapes_them() -> None:
    fold, contexts = fold_of(
        won_deal("d1", NOW - timedelta(hours=2), "100", 'ann "the best" \\ co'),
        won_deal("d2", NOW - timedelta(days=40), "200", "bob\nsmith"),
    )
    cache = ExportCache(fold, contexts, 2)

    body = cached_body(cache)

    assert b'seller="ann \\"the best\\" \\\\ co"' in body
    assert_same_export(body, full_body(fold, contexts, 1000))


def test_the_exporter_refuses_a_cap_of_no_seller() -> None:
    fold, contexts = fold_of(won_deal("d1", NOW - timedelta(hours=2), "100", "ann"))
    with pytest.raises(ValueError, match="max_sellers_per_tenant must be >= 1, got 0"):
        ExportCache(fold, contexts, 2, max_sellers_per_tenant=0)
