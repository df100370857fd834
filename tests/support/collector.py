"""A business collector over a fold of a few deals, at a fixed clock, for the exporter's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry

from streams.domain.events import DealEvent, EventType
from streams.domain.money import Money
from streams.metric_context import ContextSource
from streams.settings import Settings
from streams.worker.business_collector import BusinessCollector
from streams.worker.deal_fold import DealFold
from streams.worker.fold_metrics import FoldMetrics

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def won_deal(
    deal_id: str, won_at: datetime, amount: str, owner: str = "seller-1"
) -> list[DealEvent]:
    created = DealEvent(
        event_id=f"{deal_id}-c",
        type=EventType.CREATED,
        occurred_at=won_at - timedelta(days=10),
        deal_id=deal_id,
        pipeline="new-business",
        owner=owner,
        stage="lead",
        amount=Money(Decimal(amount), "USD"),
    )
    won = DealEvent(
        event_id=f"{deal_id}-w", type=EventType.WON, occurred_at=won_at, deal_id=deal_id
    )
    return [created, won]


def collector_with(
    *deals: list[DealEvent], max_sellers_per_tenant: int = 1000
) -> CollectorRegistry:
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
    registry.register(
        BusinessCollector(
            fold, contexts, export_windows=2, max_sellers_per_tenant=max_sellers_per_tenant
        )
    )
    return registry
