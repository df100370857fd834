"""The business part of /metrics as the worker serves it, over a fold of a few deals at a fixed
clock, and read back as Prometheus would (for the exporter's tests)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.domain.events import DealEvent, EventType
from streams.domain.money import Money
from streams.exposition.export_cache import ExportCache
from streams.metric_context import ContextSource
from streams.settings import Settings
from streams.worker.engine_metrics import EngineMetrics
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.in_process import InProcessWorker

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday
EXPORT_WINDOWS = 2


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


def fold_of(
    *deals: list[DealEvent], rebuilt: bool = False
) -> tuple[InProcessWorker, ContextSource]:
    """The deals folded into partition 0 at `NOW`; `rebuilt`: as after an assignment, from
    the recovered table, and then the events arrive again (duplicates change nothing)."""
    contexts = ContextSource(Settings(clock=NOW), lambda: NOW)
    table: dict[str, Any] = {}
    fold = InProcessWorker(table, contexts, FoldMetrics(CollectorRegistry()))
    for events in deals:
        for event in events:
            fold.accept(event, partition=0)
    if rebuilt:
        fold.rebuild([0], table.values())
        for events in deals:
            for event in events:
                fold.accept(event, partition=0)
    return fold, contexts


class Scrape:
    """A body of /metrics, parsed."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.text = body.decode()
        self.families = list(text_string_to_metric_families(self.text))

    def samples(self) -> Iterator[Sample]:
        for family in self.families:
            yield from family.samples

    def value(self, name: str, labels: dict[str, str]) -> float | None:
        """As `CollectorRegistry.get_sample_value`: the sample's value, or None."""
        for sample in self.samples():
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
        return None


def scrape_of(*deals: list[DealEvent], max_sellers_per_tenant: int = 1000) -> Scrape:
    """The business body the worker serves for `deals`, at its first scrape."""
    fold, contexts = fold_of(*deals, rebuilt=True)
    cache = ExportCache(
        fold, contexts, EXPORT_WINDOWS, max_sellers_per_tenant=max_sellers_per_tenant
    )
    return Scrape(cache.render(cache.take()))


def worker_page(
    *deals: list[DealEvent],
    max_sellers_per_tenant: int = 1000,
    newest_events: Mapping[int, datetime] | None = None,
) -> str:
    """The whole /metrics of a worker that folded `deals`, as its web view joins it: the
    engine's families (each partition's newest event among them; by default the newest of
    `deals`, in partition 0), then the business body."""
    registry = CollectorRegistry()
    engine = EngineMetrics(registry, partitions_total=8)
    if newest_events is None:
        newest_events = {0: max(event.occurred_at for events in deals for event in events)}
    for partition, occurred_at in newest_events.items():
        engine.observe_fold(partition, occurred_at, occurred_at.timestamp(), NOW)
    business = scrape_of(*deals, max_sellers_per_tenant=max_sellers_per_tenant).body
    return (generate_latest(registry) + business).decode()
