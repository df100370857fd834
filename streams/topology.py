"""The whole data flow in one place: topics, the deal table, agents and web pages.

Topic names come from the settings (operators may rename them); agent and table
names are constants because Faust derives changelog topic names from them and
those must never drift between releases.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import faust
import orjson
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.domain.contributions import ContributionKey
from streams.domain.snapshot_codec import encode_rows, snapshot_digest, sorted_items
from streams.ingest.ingestor import Ingestor
from streams.metric_context import ContextSource, settings_clock
from streams.settings import Settings
from streams.worker.app import build_app, changelog_topic_configs, rocksdb_options
from streams.worker.deal_fold import DealFold
from streams.worker.engine_metrics import EngineCollector, EngineMetrics
from streams.worker.export_cache import ExportCache
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.ingest_agent import IngestHandler
from streams.worker.ingest_metrics import IngestMetrics
from streams.worker.offset_guard import OffsetGuard, PartitionKey
from streams.worker.partition_reader import PartitionReader

log = logging.getLogger(__name__)

INGEST_AGENT = "dealpulse.ingest"
DEALS_TABLE = "deals"  # changelog topic: <app_id>-deals-changelog
STARTS_TIMEOUT_SECONDS = 10.0
START_PARTITIONS_EVERY_SECONDS = 5.0
STALLED_PERIODS = 3  # a busy or loaded worker can leave a partition alone for a period or two
METRICS_PATH = "/metrics"
STATE_PATH = "/state/aggregates"
STATE_ROWS_PER_CHUNK = 5_000  # rows built and encoded at a time by `state_body`


def drop_unacknowledged(app: faust.App, message: Any) -> None:
    """Let go of a message of a partition this worker no longer owns, without committing it.

    Folding it would write a stale deal state into a changelog partition
    another worker now owns. Faust has no public "drop without acknowledging":
    mark it done so a rebalance does not wait for it, but keep its offset out of
    the commit.
    """
    message.acked = True
    consumer: Any = app.consumer
    consumer._unacked_messages.discard(message)


@dataclass(eq=False)  # hashed by identity, like Faust's messages
class _ReadOffset:
    """What Faust's `Consumer.ack` reads of a message: enough to acknowledge an offset."""

    tp: TP
    offset: int
    acked: bool = False

    @property
    def topic(self) -> str:
        return self.tp.topic


def acknowledge_offset(app: faust.App, tp: TP, offset: int) -> None:
    """Acknowledge an offset folded from a direct read, so Faust's commit can pass it.

    Faust commits only a consecutive run of acknowledged offsets from the last
    commit; offsets it dropped as "already read" would hold the partition's
    commit back for good.
    """
    consumer: Any = app.consumer
    consumer.ack(_ReadOffset(tp, offset))


async def start_partitions(guard: OffsetGuard, reader: PartitionReader, topic: str) -> None:
    """Give the offset guard the committed offsets of the partitions just assigned."""
    waiting = guard.unstarted()
    try:
        starts = await asyncio.wait_for(
            reader.starts(topic, [key.partition for key in waiting]), STARTS_TIMEOUT_SECONDS
        )
    except TimeoutError:
        log.warning("committed offsets not known in time", extra={"partitions": len(waiting)})
        starts = {}
    for key in waiting:
        guard.start(key, starts.get(key.partition))


def forget_faust_gap(app: faust.App, tp: TP, start: int, end: int) -> None:
    """Drop Faust's own record of offsets [start, end) as a gap it may commit over.

    Faust noted them (and the message that jumped) when its fetcher jumped past
    them, and adds them to the acknowledged offsets at its next commit; they are
    acknowledged one by one here, and an offset listed twice ends Faust's run of
    consecutive offsets, so the commit crawled forward one duplicate per commit
    interval (a partition 2,800 offsets behind for many minutes).
    """
    gaps = getattr(app.consumer, "_gap", None)
    if gaps is not None and tp in gaps:
        gaps[tp].chop(start, end)


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


def state_body(
    now: datetime,
    partitions: Iterable[int],
    keys: Sequence[ContributionKey],
    values: Sequence[Decimal],
) -> bytearray:
    """`{"now", "partitions": [...], "rows": [...]}`, encoded a few thousand rows at a time.

    Building every row before encoding, then joining the encoded parts, held
    several copies of a large state at once: one request made up the most of a
    worker's peak RSS (docs/performance.md). This holds the body and a few
    thousand rows.
    """
    body = bytearray(
        b'{"now":%s,"partitions":%s,"rows":['
        % (orjson.dumps(now.isoformat()), orjson.dumps(sorted(partitions)))
    )
    items = sorted_items(zip(keys, values, strict=True))
    for start in range(0, len(items), STATE_ROWS_PER_CHUNK):
        if start:
            body += b","
        body += orjson.dumps(encode_rows(items[start : start + STATE_ROWS_PER_CHUNK]))[1:-1]
    body += b"]}"
    return body


def state_digest_body(
    now: datetime,
    partitions: Iterable[int],
    keys: Sequence[ContributionKey],
    values: Sequence[Decimal],
) -> bytes:
    """`{"now", "partitions": [...], "keys", "digest"}` of a worker's aggregates.

    What `?digest=1` answers: a check that knows the expected state compares
    the digest (`snapshot_codec.snapshot_digest`) instead of reading every row.
    """
    return orjson.dumps(
        {
            "now": now.isoformat(),
            "partitions": sorted(partitions),
            "keys": len(keys),
            "digest": snapshot_digest(zip(keys, values, strict=True)),
        }
    )


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
        options=rocksdb_options(settings),
        extra_topic_configs=changelog_topic_configs(settings),
    )
    deal_fold = DealFold(deals, contexts, FoldMetrics(registry), settings.fold_cache_deals)
    engine = EngineMetrics(registry, settings.topic_partitions)
    guard = OffsetGuard()
    business = ExportCache(  # rendered by itself, not `generate_latest`: see there
        deal_fold,
        contexts,
        settings.export_windows,
        max_sellers_per_tenant=settings.max_sellers_per_tenant,
    )
    one_scrape_at_a_time = asyncio.Lock()  # each scrape applies the changes since the last
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
    reader = PartitionReader(settings)

    @app.agent(events_topic, name=INGEST_AGENT)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        # Acknowledged by hand, after folding: see OffsetGuard for why.
        async for event in cast(faust.Stream[bytes], stream).noack().events():
            message = event.message
            if app.consumer is None or message.tp not in app.consumer.assignment():
                drop_unacknowledged(app, message)
                continue
            if guard.starting:
                await start_partitions(guard, reader, settings.topic_events)
            missing_from = guard.gap_before(message.topic, message.partition, message.offset)
            if missing_from is not None:
                missed = await reader.read(
                    message.topic, message.partition, missing_from, message.offset
                )
                log.warning(
                    "message past a gap; folded the missed offsets first",
                    extra={"tp": str(message.tp), "from": missing_from, "read": len(missed)},
                )
                engine.refetched.inc(len(missed))
                for record in missed:
                    await handler.handle(record)
                    acknowledge_offset(app, message.tp, record.offset)
                forget_faust_gap(app, message.tp, missing_from, message.offset + 1)
            await handler.handle(message)
            # Bounded state: now and then, compact a few deals beyond retention. Here,
            # because Faust writes a table row to the current event's partition.
            deal_fold.compact_when_due(message.partition)
            guard.processed(message.topic, message.partition, message.offset)
            event.ack()

    stalled_at: dict[TP, tuple[int, int]] = {}  # expected offset, periods without progress

    @app.timer(START_PARTITIONS_EVERY_SECONDS)  # type: ignore[untyped-decorator]  # untyped
    async def watch_partitions() -> None:
        """Start idle partitions (so their lag is exported) and unstick undelivered ones.

        faust-streaming can fetch a partition's messages right after an
        assignment and skip them all in the stream (they arrive while its flow
        control is still suspended): the fetch position is then at the end, the
        agent never saw them, and nothing is committed, for good. Outside
        rebalances and recovery, a partition behind its high watermark whose
        expected offset did not move for STALLED_PERIODS checks is sought back to
        that offset; redelivery is harmless.
        """
        if guard.starting:
            await start_partitions(guard, reader, settings.topic_events)
        consumer: Any = app.consumer
        if consumer is None or app.rebalancing or getattr(app, "in_recovery", False):
            stalled_at.clear()  # Faust seeks itself when it resumes the streams
            return
        for tp in consumer.assignment():
            expected = guard.next_offset(tp.topic, tp.partition)
            high = consumer.highwater(tp) if tp.topic == settings.topic_events else None
            if expected is None or high is None or high <= expected:
                stalled_at.pop(tp, None)
            elif stalled_at.get(tp, (None, 0))[0] != expected:
                stalled_at[tp] = (expected, 1)  # behind: watch it
            elif stalled_at[tp][1] < STALLED_PERIODS:
                stalled_at[tp] = (expected, stalled_at[tp][1] + 1)
            else:
                log.warning(
                    "partition not delivered; seeking back",
                    extra={"tp": str(tp), "offset": expected, "highwater": high},
                )
                engine.reseeks.inc()
                stalled_at.pop(tp, None)
                await consumer.seek(tp, expected)

    @app.on_partitions_assigned.connect
    async def restart_offset_guard(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (assigned,) = args
        topic = settings.topic_events
        guard.assigned(PartitionKey(tp.topic, tp.partition) for tp in assigned if tp.topic == topic)
        engine.rebalances.inc()

    def stored_deals(partitions: set[int]) -> Iterable[Any]:
        open_partition_stores(deals, partitions)
        return cast(Iterable[Any], deals.values())

    @deals.on_recover
    async def rebuild_aggregates() -> None:
        owned = owned_partitions()
        deal_fold.rebuild(owned, stored_deals(owned))

    @app.on_partitions_revoked.connect
    async def drop_aggregates(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (revoked,) = args  # mode signals pass the payload positionally
        partitions = [tp.partition for tp in revoked if tp.topic == settings.topic_events]
        deal_fold.drop(partitions, stored_deals)
        engine.forget_partitions(partitions)

    async def expose_business() -> bytes:
        async with one_scrape_at_a_time:
            changes = business.take()  # on the loop: it reads the aggregates
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, business.render, changes)

    @app.page(METRICS_PATH)
    async def metrics(web: Any, request: Any) -> Any:
        started = time.perf_counter()
        # Shielded: a scrape given up by its client must still finish applying the
        # changes it took, before the next one takes more.
        exposed = await asyncio.shield(asyncio.ensure_future(expose_business()))
        body = generate_latest(registry) + exposed
        engine.scrape_duration.set(time.perf_counter() - started)
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page(STATE_PATH)
    async def aggregates(web: Any, request: Any) -> Any:
        ctx = contexts.current()
        owned = deal_fold.partitions
        found = deal_fold.aggregates(ctx)
        if request.query.get("recompute"):  # a check: from the table, not the live aggregates
            found = deal_fold.recompute(owned, stored_deals(set(owned)))
        # Copied on the loop (the fold changes the aggregates), encoded off it: seconds
        # for a large state, and the loop must keep heartbeating meanwhile.
        keys, values = found.columns()
        encode = state_digest_body if request.query.get("digest") else state_body
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, encode, ctx.now, owned, keys, values)
        return web.bytes(body, headers={"Content-Type": "application/json"})

    return Topology(app=app, registry=registry, fold=deal_fold)
