"""The business collector: built at scrape time from the fold, recent windows only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from streams.domain import catalogue as cat
from streams.domain.events import DealEvent, EventType
from streams.domain.money import Money
from streams.metric_context import ContextSource
from streams.settings import Settings
from streams.worker.business_collector import BusinessCollector
from streams.worker.deal_fold import DealFold
from streams.worker.fold_metrics import FoldMetrics

BUSINESS_PREFIXES = tuple(spec.name for spec in cat.ALL_METRICS)
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def won_deal(deal_id: str, won_at: datetime, amount: str) -> list[DealEvent]:
    created = DealEvent(
        event_id=f"{deal_id}-c",
        type=EventType.CREATED,
        occurred_at=won_at - timedelta(days=10),
        deal_id=deal_id,
        pipeline="new-business",
        owner="seller-1",
        stage="lead",
        amount=Money(Decimal(amount), "USD"),
    )
    won = DealEvent(
        event_id=f"{deal_id}-w", type=EventType.WON, occurred_at=won_at, deal_id=deal_id
    )
    return [created, won]


def collector_with(*deals: list[DealEvent]) -> CollectorRegistry:
    settings = Settings(clock=NOW)
    contexts = ContextSource(settings, lambda: NOW)
    registry = CollectorRegistry()
    table: dict[str, Any] = {}
    fold = DealFold(table, contexts, FoldMetrics(registry))
    for events in deals:
        for event in events:
            fold.accept(event, partition=0)
    fold.rebuild([0], table.values())  # as after an assignment, from the recovered table...
    for events in deals:  # ...then the events arrive again: duplicates change nothing
        for event in events:
            fold.accept(event, partition=0)
    registry.register(BusinessCollector(fold, contexts, export_windows=2))
    return registry


def revenue(
    registry: CollectorRegistry, granularity: str, start: str, window: str = "current"
) -> float | None:
    labels = {
        "tenant": "default",
        "pipeline": "new-business",
        "seller": "seller-1",
        "granularity": granularity,
        "window_start": start,
        "window": window,
    }
    return registry.get_sample_value("dealpulse_won_revenue", labels)


def test_exports_current_and_previous_windows_only() -> None:
    registry = collector_with(
        won_deal("d1", NOW - timedelta(hours=1), "100.50"),
        won_deal("d2", NOW - timedelta(days=1), "200"),
        won_deal("d3", NOW - timedelta(days=3), "300"),
    )
    assert revenue(registry, "day", "2026-11-18") == 100.5
    assert revenue(registry, "day", "2026-11-17", "previous") == 200
    assert revenue(registry, "day", "2026-11-15") is None  # three days back: not exported
    assert revenue(registry, "week", "2026-11-16") == 300.5  # Monday the 16th
    assert revenue(registry, "week", "2026-11-09", "previous") == 300
    assert revenue(registry, "month", "2026-11-01") == 600.5


def test_histograms_are_cumulative_with_inf() -> None:
    registry = collector_with(won_deal("d1", NOW - timedelta(hours=1), "100.50"))
    labels = {
        "tenant": "default",
        "pipeline": "new-business",
        "seller": "seller-1",
        "granularity": "day",
        "window_start": "2026-11-18",
        "window": "current",
    }
    assert registry.get_sample_value("dealpulse_ticket_size_bucket", {**labels, "le": "100"}) == 0
    assert registry.get_sample_value("dealpulse_ticket_size_bucket", {**labels, "le": "500"}) == 1
    assert registry.get_sample_value("dealpulse_ticket_size_bucket", {**labels, "le": "+Inf"}) == 1
    assert registry.get_sample_value("dealpulse_ticket_size_count", labels) == 1
    assert registry.get_sample_value("dealpulse_ticket_size_sum", labels) == 100.5
    cycle = registry.get_sample_value("dealpulse_sales_cycle_seconds_sum", labels)
    assert cycle == 10 * 86400


def test_every_family_has_help_and_no_total_suffix() -> None:
    text = generate_latest(collector_with(won_deal("d1", NOW, "1"))).decode()
    helps = [line for line in text.splitlines() if line.startswith("# HELP dealpulse_")]
    assert len(helps) >= 17
    business = [line for line in text.splitlines() if line.startswith(BUSINESS_PREFIXES)]
    assert business
    assert not any("_total" in line for line in business)


def test_active_deals_count_wins_older_than_the_exported_windows() -> None:
    registry = collector_with(won_deal("old", NOW - timedelta(days=60), "10"))
    labels = {
        "tenant": "default",
        "pipeline": "new-business",
        "seller": "seller-1",
        "granularity": "month",
        "window_start": "2026-11-01",
        "window": "current",
    }
    assert registry.get_sample_value("dealpulse_deals_active_at_window_start", labels) == 1
