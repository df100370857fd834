"""The whole data flow in one place: topics, the deal table, agents and web pages.

Topic names come from the settings (operators may rename them); agent and table
names are constants because Faust derives changelog topic names from them and
those must never drift between releases.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.domain.snapshot_codec import encode_snapshot
from streams.ingest.ingestor import Ingestor
from streams.metric_context import ContextSource, settings_clock
from streams.settings import Settings
from streams.worker.app import build_app
from streams.worker.business_collector import BusinessCollector
from streams.worker.deal_fold import DealFold
from streams.worker.engine_metrics import EngineCollector, EngineMetrics
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.group_offsets import GroupOffsets
from streams.worker.ingest_agent import IngestHandler
from streams.worker.ingest_metrics import IngestMetrics
from streams.worker.offset_guard import OffsetGuard

log = logging.getLogger(__name__)

INGEST_AGENT = "dealpulse.ingest"
GAP_RESEEK_SECONDS = 5.0
DEALS_TABLE = "deals"  # changelog topic: <app_id>-deals-changelog
METRICS_PATH = "/metrics"
STATE_PATH = "/state/aggregates"


async def refuse_past_gap(app: faust.App, guard: OffsetGuard, message: Any, expected: int) -> None:
    """Leave a message that skipped offsets unacknowledged and fetch from the gap again."""
    log.warning(
        "message past a gap in its partition; fetching the gap again",
        extra={
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "expected": expected,
        },
    )
    # Faust has no public "drop without acknowledging": mark it done so a
    # rebalance does not wait for it, but keep its offset out of the commit.
    message.acked = True
    consumer: Any = app.consumer
    consumer._unacked_messages.discard(message)
    if guard.needs_seek(message.topic, message.partition, expected):
        await consumer.seek(message.tp, expected)


def open_partition_stores(table: Any, partitions: set[int]) -> None:
    """Open the RocksDB database of every owned partition before iterating the table.

    Faust's RocksDB store iterates only databases it has open, and closes those
    of revoked partitions at a rebalance without reopening the ones it keeps
    until they are next written: iterating right after recovery would miss
    their deals. `_db_for_partition` is the store's own (private) opener.
    """
    opener = getattr(table.data, "_db_for_partition", None)
    if opener is not None:
        for partition in partitions:
            opener(partition)


@dataclass(frozen=True)
class Topology:
    app: faust.App
    registry: CollectorRegistry
    fold: DealFold


def build_topology(settings: Settings) -> Topology:
    app = build_app(settings)
    registry = CollectorRegistry()
    clock = settings_clock(settings)
    contexts = ContextSource(settings, clock)

    raw_bytes: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    events_topic = app.topic(
        settings.topic_events, partitions=settings.topic_partitions, **raw_bytes
    )
    dead_letter_topic = app.topic(
        settings.topic_dlq, partitions=settings.topic_partitions, **raw_bytes
    )
    deals = app.Table(
        DEALS_TABLE,
        partitions=settings.topic_partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )
    deal_fold = DealFold(deals, contexts, FoldMetrics(registry))
    engine = EngineMetrics(registry, settings.topic_partitions)
    guard = OffsetGuard()
    registry.register(BusinessCollector(deal_fold, contexts, settings.export_windows))
    handler = IngestHandler(
        Ingestor(settings, clock), deal_fold, dead_letter_topic, IngestMetrics(registry), engine
    )

    def owned_partitions() -> set[int]:
        return {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == settings.topic_events
        }

    def lag() -> dict[int, int]:
        behind: dict[int, int] = {}
        for partition in deal_fold.partitions:
            tp = TP(settings.topic_events, partition)
            high = app.consumer.highwater(tp) if app.consumer else None
            next_offset = guard.next_offset(settings.topic_events, partition)
            if high is not None and next_offset is not None:
                behind[partition] = max(high - next_offset, 0)
        return behind

    registry.register(EngineCollector(deal_fold, lag))
    committed_offsets = GroupOffsets(settings)

    @app.agent(events_topic, name=INGEST_AGENT)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        # Acknowledged by hand, after folding: see OffsetGuard for why some are not.
        async for event in cast(faust.Stream[bytes], stream).noack().events():
            message = event.message
            expected = guard.gap_before(message.topic, message.partition, message.offset)
            if expected is not None:
                committed = await committed_offsets.of(message.topic, message.partition)
                if committed is not None:
                    guard.rebase(message.topic, message.partition, committed)
                expected = guard.gap_before(message.topic, message.partition, message.offset)
            if expected is not None:
                await refuse_past_gap(app, guard, message, expected)
                continue
            await handler.handle(message)
            guard.processed(message.topic, message.partition, message.offset)
            event.ack()

    @app.timer(GAP_RESEEK_SECONDS)  # type: ignore[untyped-decorator]  # faust leaves it untyped
    async def reseek_open_gaps() -> None:
        consumer: Any = app.consumer
        owned = consumer.assignment() if consumer else set()
        for key, expected in guard.open_gaps().items():
            tp = TP(key.topic, key.partition)
            if tp in owned:
                log.warning(
                    "gap still open; seeking again", extra={"tp": str(tp), "offset": expected}
                )
                await consumer.seek(tp, expected)

    @app.on_partitions_assigned.connect
    async def forget_moved_partitions(
        sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        (assigned,) = args
        guard.keep_only(assigned)
        engine.rebalances.inc()

    @deals.on_recover
    async def rebuild_aggregates() -> None:
        owned = owned_partitions()
        open_partition_stores(deals, owned)
        deal_fold.rebuild(owned, deals.values())

    @app.on_partitions_revoked.connect
    async def drop_aggregates(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (revoked,) = args  # mode signals pass the payload positionally
        partitions = [tp.partition for tp in revoked if tp.topic == settings.topic_events]
        deal_fold.drop(partitions)
        engine.forget_partitions(partitions)

    @app.page(METRICS_PATH)
    async def metrics(web: Any, request: Any) -> Any:
        started = time.perf_counter()
        body = generate_latest(registry)
        engine.scrape_duration.set(time.perf_counter() - started)
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page(STATE_PATH)
    async def aggregates(web: Any, request: Any) -> Any:
        ctx = contexts.current()
        per_partition = deal_fold.partition_snapshots(ctx)
        if request.query.get("recompute"):  # a check: from the table, not the live aggregates
            owned = set(deal_fold.partitions)
            open_partition_stores(deals, owned)
            per_partition = deal_fold.recompute(owned, deals.values())
        body = {
            "now": ctx.now.isoformat(),
            "partitions": {
                str(partition): encode_snapshot(aggregates.snapshot())
                for partition, aggregates in sorted(per_partition.items())
            },
        }
        return web.bytes(json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    return Topology(app=app, registry=registry, fold=deal_fold)
