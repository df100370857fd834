"""`DealEngine`: the deal-event firehose on one batched aiokafka consumer.

The loop: `getmany` a batch → ingest each message (bad ones become dead
letters) → `PartitionState.apply` → `settle` (the aggregates are current after
every batch) → now and then a checkpoint. Offsets advance in order, one
partition at a time, so there is no gap to track and no private attribute of
aiokafka or Faust to touch.

A checkpoint, for every partition that moved since the last one:

1. produce each deal written since to the changelog (one record per deal, keyed
   by deal id, to the partition's own changelog partition) and the dead
   letters to the DLQ, then flush the producer and check every delivery;
2. write the deals and the partition's next input offset to its RocksDB in one
   `WriteBatch`;
3. commit the input offsets.

Why this order is safe after a `kill -9` between any two steps is argued in
`docs/architecture.md`: the fold is idempotent by `event_id`, so the only
thing to prevent is an offset committed before what it covers is durable;
and the local store's offset is never behind the committed one, so a store
found at least as far as the commit is complete.

Assignment restores each partition: from its local store when that store has
reached the committed offset (then reading on from the store's offset), else
from the changelog (then reading on from the committed offset). Revocation
checkpoints, then drops the partition's state and its share of the aggregates.

A change of the pipeline configuration or the rates on the control plane
restates: before its next batch the engine recomputes the aggregates of every
owned partition from the stored deals under the new settings, and swaps them
in whole (docs/metrics.md, "Pipelines and rates on the control plane").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import Outcome, is_compactable_encoded
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey
from streams.domain.errors import DomainError
from streams.domain.events import DealEvent
from streams.domain.partition_state import (
    HISTORY_FIELD,
    PARTITION_FIELD,
    PartitionState,
    prune_shared,
)
from streams.domain.settings_record import ControlSettings
from streams.engine.changelog import read_changelog
from streams.engine.partition_store import PartitionStore, store_options
from streams.errors import ConfigurationError, DealpulseError
from streams.ingest.dead_letter import DeadLetter, dead_letter
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage, normalise_headers
from streams.ingest.rejection import Reason, Rejection
from streams.kafka.topics import changelog_topic
from streams.metric_context import ContextSource
from streams.settings import Settings
from streams.worker.engine_metrics import EngineMetrics
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.ingest_metrics import IngestMetrics

log = logging.getLogger(__name__)

CHANGELOG_RECORD_LIMIT = 1_000_000
"""The largest changelog record the engine sends: under Kafka's default max.message.bytes
(1,048,588) and aiokafka's max_request_size (1,048,576) with room for the key and the batch.
`DEALPULSE_MAX_DEAL_BYTES` (at most 512 KiB) keeps every deal's record well under it."""
COMPACT_LIMIT = 50
"""Deals `compact_some` compacts per call, at most."""
COMPACT_SCAN = 1_000
"""Stored records `compact_some` reads per call, at most."""
RESTORE_YIELD_EVERY = 500
"""Deals restored between two turns of the event loop (about 50 ms of work)."""


class EngineError(DealpulseError):
    """A fault of our own (broker, disk): the engine stops rather than lose an event."""


@dataclass(slots=True)
class _Owned:
    """One owned partition: its store, its state, and how far it has read and checkpointed."""

    store: PartitionStore
    state: PartitionState
    next_offset: int | None
    """The offset after the last message processed (None: nothing read yet)."""
    checkpointed: int | None
    letters: list[DeadLetter] = field(default_factory=list)
    fault: str | None = None
    """Why the partition stopped (paused), while it is: its store failed, or a bug."""
    store_failed: bool = False
    """The fault is the store's: retried by reopening it. A bug is not retried: the
    partition waits at the message, for a fixed release."""


class KafkaClients:
    """The engine's Kafka clients, built from the settings (a test passes its own)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._common = {
            "bootstrap_servers": settings.bootstrap_servers,
            **settings.kafka_client_options(),
        }

    def producer(self) -> AIOKafkaProducer:
        linger_ms = int(self._settings.producer_linger_seconds * 1000)
        return AIOKafkaProducer(**self._common, linger_ms=linger_ms, acks="all")

    def consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**self.consumer_options())

    def consumer_options(self) -> dict[str, Any]:
        """The group consumer's options: offsets committed by hand, static membership."""
        settings = self._settings
        return {
            **self._common,
            "group_id": settings.app_id,
            "group_instance_id": settings.consumer_group_instance_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": int(settings.session_timeout_seconds * 1000),
            "heartbeat_interval_ms": int(settings.session_timeout_seconds * 1000 / 5),
            "max_poll_records": settings.engine_batch_events,
        }

    async def changelog(self, topic: str, partition: int) -> dict[bytes, bytes]:
        return await read_changelog(self._settings, topic, partition)


class DealEngine:
    """One worker's consumer, its partitions' states and their checkpoints."""

    def __init__(
        self,
        settings: Settings,
        contexts: ContextSource,
        ingestor: Ingestor,
        *,
        fold_metrics: FoldMetrics,
        ingest_metrics: IngestMetrics,
        engine_metrics: EngineMetrics,
        clients: KafkaClients | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        control: Callable[[], ControlSettings] | None = None,
    ) -> None:
        self._settings = settings
        self._clients = clients if clients is not None else KafkaClients(settings)
        self._contexts = contexts
        self._ingestor = ingestor
        self._fold_metrics = fold_metrics
        self._ingest_metrics = ingest_metrics
        self._engine_metrics = engine_metrics
        self._monotonic = monotonic
        self._topic = settings.topic_events
        self._changelog = changelog_topic(settings)
        self._aggregates = Aggregates()
        self._owned: dict[int, _Owned] = {}
        self._lock = asyncio.Lock()  # a batch and a checkpoint, or a rebalance: never both
        self._last_checkpoint = monotonic()
        self._since_checkpoint = 0
        self._epoch = 0
        self._pruned_at: Any = None
        self._consumer: Any = None
        self._producer: Any = None
        self._highwater: dict[int, int] = {}
        self._next_recovery = 0.0
        self._store_options = store_options(settings.rocksdb_memory_mb)
        self.caught_up = False
        self._sweep_partition: int | None = None
        self._sweep_after: str | None = None
        self._control = control
        self._refused: ControlSettings | None = None
        self._rebalance_failure: Exception | None = None

    # --- lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        """Consume until cancelled; a fault of our own raises `EngineError`."""
        producer = self._clients.producer()
        consumer = self._clients.consumer()
        await producer.start()
        try:
            await consumer.start()
            try:
                self.attach(consumer, producer)
                async with self._lock:
                    await self._follow_control()  # before any partition is restored
                consumer.subscribe([self._topic], listener=_Rebalance(self))
                wait_ms = int(self._settings.engine_checkpoint_seconds * 1000)
                while True:
                    batch = await consumer.getmany(
                        timeout_ms=wait_ms, max_records=self._settings.engine_batch_events
                    )
                    await self.handle(batch)
            finally:
                await self.close()
                await consumer.stop()
        finally:
            await producer.stop()

    def attach(self, consumer: Any, producer: Any) -> None:
        """The started clients the engine reads, writes and commits with."""
        self._consumer, self._producer = consumer, producer

    def rebalance_failed(self, error: Exception) -> None:
        """A revocation or an assignment raised: the engine stops at its next batch."""
        log.error("rebalance failed", extra={"error": _one_line(error)})
        self._rebalance_failure = error

    async def handle(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        """One fetched batch: ingested, applied, settled; a checkpoint if one is due."""
        if self._rebalance_failure is not None:
            failure = self._rebalance_failure
            raise EngineError(f"a rebalance failed: {_one_line(failure)}") from failure
        async with self._lock:
            await self._follow_control()
            for tp, records in batch.items():
                owned = self._owned.get(tp.partition)
                if owned is not None and owned.fault is None and tp.topic == self._topic:
                    self._process(owned, tp.partition, records)
            self._settle()
            if self._checkpoint_due():
                await self._checkpoint_all()
            if self.faults and self._monotonic() >= self._next_recovery:
                self._recover()
        self._refresh_lag()

    async def close(self) -> None:
        """A last checkpoint, then every store closed (a clean stop)."""
        async with self._lock:
            await self._checkpoint_all()
            self._close_all()

    # --- one batch -------------------------------------------------------------------

    def _process(self, owned: _Owned, partition: int, records: list[Any]) -> None:
        ctx = self._contexts.current()
        now = datetime.now(UTC)
        for record in records:
            raw = RawMessage(
                key=record.key,
                value=record.value,
                headers=normalise_headers(record.headers),
                topic=record.topic,
                partition=partition,
                offset=record.offset,
            )
            try:
                outcome = self._ingestor.ingest(raw)
            except Exception as error:
                # A good event must never become a dead letter: the partition stops at this
                # message (nothing after it is read or committed) until a fixed release.
                log.exception("ingest failed", extra={"origin": raw.origin})
                self._set_aside(partition, owned, f"bug at {raw.origin}: {_one_line(error)}")
                return
            if not isinstance(outcome, Rejection):
                folded = owned.state.apply(outcome, ctx)
                if folded is Outcome.TOO_LONG:
                    outcome = self._too_long(outcome)
                else:
                    self._ingest_metrics.record_accepted()
                    self._count(folded)
                    self._engine_metrics.observe_fold(
                        partition, outcome.occurred_at, record.timestamp, now
                    )
            if isinstance(outcome, Rejection):
                owned.letters.append(dead_letter(raw, outcome, self._ingestor.limits))
                self._ingest_metrics.record_rejected(outcome.reason)
                log.info(
                    "message rejected",
                    extra={"reason": outcome.reason.value, "origin": raw.origin},
                )
            owned.next_offset = record.offset + 1
            self._since_checkpoint += 1

    def _too_long(self, event: DealEvent) -> Rejection:
        return Rejection(
            Reason.DEAL_TOO_LONG,
            f"deal {event.deal_id!r} would hold more than DEALPULSE_MAX_DEAL_BYTES "
            f"({self._settings.max_deal_bytes}) bytes of history with event {event.event_id!r}",
        )

    def _count(self, outcome: Outcome) -> None:
        if outcome is Outcome.FOLDED:
            self._fold_metrics.folded.inc()
        elif outcome is Outcome.DUPLICATE:
            self._fold_metrics.duplicates.inc()
        else:
            self._fold_metrics.too_late.inc()

    def _settle(self) -> None:
        ctx = self._contexts.current()
        for owned in self._owned.values():
            compacted = owned.state.settle(ctx)
            if compacted:
                self._fold_metrics.compacted.inc(compacted)

    # --- the control plane's settings ---------------------------------------------------

    async def _follow_control(self) -> None:
        """Restate the aggregates if the control plane's settings changed (under the lock).

        Settings that cannot be applied (rates for another reporting currency, or
        missing a currency a stored deal is in) are refused, said once, and the
        numbers stay as they are.
        """
        if self._control is None:
            return
        wanted = self._control()
        if wanted is self._contexts.control or wanted == self._contexts.control:
            if self._refused is not None:  # back to what is applied: nothing refused any more
                self._refused = None
                self._engine_metrics.settings_refused.set(0)
            return
        if wanted == self._refused:
            return
        started = self._monotonic()
        try:
            ctx = self._contexts.configured(wanted)
            aggregates, states = await self._restated(ctx)
        except (ConfigurationError, DomainError, ArithmeticError) as error:
            self._refused = wanted
            self._engine_metrics.settings_refused.set(1)
            log.error("loaded settings refused", extra={"error": str(error)})
            return
        self._aggregates = aggregates
        for partition, state in states.items():
            self._owned[partition].state = state
        self._contexts.adopt(wanted, ctx)
        self._ingestor.accept_currencies(self._contexts.currencies())
        self._epoch += 1
        self._pruned_at = None
        self._refused = None
        self._engine_metrics.settings_refused.set(0)
        if not states:  # at start, before any partition: nothing was restated
            return
        seconds = self._monotonic() - started
        self._engine_metrics.restated(seconds)
        log.info(
            "aggregates restated under the loaded settings",
            extra={"seconds": round(seconds, 3), "deals": sum(self.deal_counts().values())},
        )

    async def _restated(self, ctx: MetricContext) -> tuple[Aggregates, dict[int, PartitionState]]:
        """Every owned partition's state and their aggregates, recomputed under `ctx`; the
        live ones are untouched (the scrapes read them meanwhile)."""
        fresh = Aggregates()
        states = {
            partition: await self._restored(owned.store, partition, ctx, fresh)
            for partition, owned in self._owned.items()
        }
        return fresh, states

    # --- checkpoints -----------------------------------------------------------------

    def _checkpoint_due(self) -> bool:
        elapsed = self._monotonic() - self._last_checkpoint
        return (
            self._since_checkpoint >= self._settings.engine_checkpoint_events
            or elapsed >= self._settings.engine_checkpoint_seconds
        )

    async def _checkpoint_all(self) -> None:
        await self._checkpoint(list(self._owned))

    async def _checkpoint(self, partitions: Iterable[int]) -> None:
        """Changelog and dead letters flushed, then the stores written, then offsets committed."""
        assert self._producer is not None
        assert self._consumer is not None
        moving = {
            p: self._owned[p]
            for p in partitions
            if p in self._owned and (self._owned[p].next_offset != self._owned[p].checkpointed)
        }
        self._last_checkpoint = self._monotonic()
        self._since_checkpoint = 0
        if not moving:
            return
        deliveries = []
        for partition, owned in moving.items():
            owned.state.take_written()
            for deal_id, encoded in owned.store.pending.items():
                if len(encoded) > CHANGELOG_RECORD_LIMIT:
                    raise EngineError(
                        f"deal {deal_id!r}'s record is {len(encoded)} bytes, over the "
                        f"{CHANGELOG_RECORD_LIMIT} a changelog record may hold (a record "
                        "written before DEALPULSE_MAX_DEAL_BYTES bounded it, or a bug)"
                    )
                deliveries.append(
                    await self._producer.send(
                        self._changelog, key=deal_id.encode(), value=encoded, partition=partition
                    )
                )
            for letter in owned.letters:
                deliveries.append(
                    await self._producer.send(
                        self._settings.topic_dlq,
                        key=letter.key,
                        value=letter.value,
                        headers=list(letter.headers),
                    )
                )
        try:
            await self._producer.flush()
            for delivery in deliveries:
                await delivery  # raises the delivery's error, if any
        except Exception as error:
            raise EngineError(f"changelog or dead letters not written: {error}") from error
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for partition, owned in moving.items():
            assert owned.next_offset is not None
            owned.letters.clear()
            try:
                owned.store.write(owned.next_offset)
            except Exception as error:  # noqa: BLE001 - RocksDB raises plain Exceptions
                # The changelog holds the partition's state up to here (flushed above), so
                # its offsets are committed: nothing is read, folded or dead-lettered twice.
                owned.store_failed = True
                self._set_aside(partition, owned, f"store: {_one_line(error)}")
            owned.checkpointed = owned.next_offset
            offsets[TopicPartition(self._topic, partition)] = OffsetAndMetadata(
                owned.next_offset, ""
            )
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group moved on: the next owner reads from the last commit, and the fold
            # is idempotent, so re-reading is harmless. Nothing is lost.
            log.warning("offsets not committed", extra={"error": str(error)})

    # --- storage faults ------------------------------------------------------------

    @property
    def faults(self) -> dict[int, str]:
        """The partitions whose store failed, and why: they stop advancing until it writes."""
        return {p: owned.fault for p, owned in self._owned.items() if owned.fault is not None}

    def _set_aside(self, partition: int, owned: _Owned, why: str) -> None:
        """Stop reading a partition (its store failed, or a bug); its state stays, as exact
        as it was."""
        assert self._consumer is not None
        owned.fault = why
        self._consumer.pause(TopicPartition(self._topic, partition))
        self._engine_metrics.mark_faulted(partition, faulted=True)
        self._next_recovery = self._monotonic() + self._settings.engine_fault_retry_seconds
        self.caught_up = False
        log.error("partition stopped", extra={"partition": partition, "why": owned.fault})

    def _recover(self) -> None:
        """Reopen each failed store and write what it held; resume the partitions that wrote.

        A RocksDB handle that failed to write keeps failing ("Writer has previous
        error"): it is closed and the store opened again, from its last good write,
        and the records written since (still pending) are written over it.
        """
        assert self._consumer is not None
        self._next_recovery = self._monotonic() + self._settings.engine_fault_retry_seconds
        for partition, owned in self._owned.items():
            if owned.fault is None or not owned.store_failed:
                continue
            failed = owned.store
            with contextlib.suppress(Exception):  # the failed handle may refuse to close
                failed.close()
            try:
                store = PartitionStore(self._store_path(partition), self._store_options)
                store.pending.update(failed.pending)
                assert owned.checkpointed is not None
                store.write(owned.checkpointed)
            except Exception as error:  # noqa: BLE001 - still failing: tried again later
                owned.fault = f"store: {_one_line(error)}"
                log.info("partition store still failing", extra={"partition": partition})
                continue
            owned.store = owned.state.store = store
            owned.fault = None
            owned.store_failed = False
            self._consumer.resume(TopicPartition(self._topic, partition))
            self._engine_metrics.mark_faulted(partition, faulted=False)
            log.warning("partition resumed: its store writes again", extra={"partition": partition})

    # --- assignment ------------------------------------------------------------------

    async def revoke(self, partitions: Iterable[int]) -> None:
        async with self._lock:
            revoked = [p for p in partitions if p in self._owned]
            await self._checkpoint(revoked)
            for partition in revoked:
                self._close(self._owned.pop(partition))
                self._highwater.pop(partition, None)
            await self._rebuild()
            self._engine_metrics.forget_partitions(revoked)
            log.info("partitions revoked", extra={"partitions": sorted(revoked)})

    async def assign(self, partitions: Iterable[int]) -> None:
        assert self._consumer is not None
        async with self._lock:
            self._engine_metrics.rebalances.inc()
            await self._follow_control()  # restored under the settings loaded by now
            ctx = self._contexts.current()
            for partition in sorted(partitions):
                if partition in self._owned:
                    continue
                tp = TopicPartition(self._topic, partition)
                committed = await self._consumer.committed(tp)
                store = PartitionStore(self._store_path(partition), self._store_options)
                local = store.next_offset
                if local is not None and (committed is None or local >= committed):
                    start = local
                    source = "local"
                else:
                    records = await self._clients.changelog(self._changelog, partition)
                    store.replace_all(records.items(), committed)
                    start = committed
                    source = "changelog"
                state = await self._restored(store, partition, ctx)
                self._owned[partition] = _Owned(store, state, start, start)
                if start is not None:
                    self._consumer.seek(tp, start)
                log.info(
                    "partition restored",
                    extra={"partition": partition, "from": source, "deals": state.deals},
                )
            self._epoch += 1
            self._pruned_at = None

    async def _restored(
        self,
        store: PartitionStore,
        partition: int,
        ctx: MetricContext,
        aggregates: Aggregates | None = None,
    ) -> PartitionState:
        """The partition's state from its store, its deals summed into `aggregates` (by
        default the shared ones).

        It yields to the event loop every `RESTORE_YIELD_EVERY` deals: a restore takes
        seconds to a minute at a million events, and the consumer's heartbeats must go on
        meanwhile, or the group expels this worker and rebalances again.
        """
        state = PartitionState(
            store,
            partition,
            aggregates=self._aggregates if aggregates is None else aggregates,
            cache_deals=self._settings.fold_cache_deals,
            max_deal_bytes=self._settings.max_deal_bytes,
        )
        for count, stored in enumerate(store.records(), start=1):
            state.restore(stored, ctx)
            if count % RESTORE_YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return state

    async def _rebuild(self) -> None:
        """The shared aggregates of the partitions kept, recomputed from their stores."""
        ctx = self._contexts.current()
        self._aggregates = Aggregates()
        for partition, owned in list(self._owned.items()):
            owned.state = await self._restored(owned.store, partition, ctx)
        self._epoch += 1
        self._pruned_at = None

    @staticmethod
    def _close(owned: _Owned) -> None:
        """Close a partition's store; one that failed may refuse, and is left to the next
        owner, which restores from the changelog (its offsets are committed past it)."""
        if not owned.store_failed:
            owned.store.close()
            return
        with contextlib.suppress(Exception):
            owned.store.close()

    def _store_path(self, partition: int) -> Path:
        return self._settings.worker_data_dir / "deals" / f"{self._topic}-{partition}"

    def _close_all(self) -> None:
        for owned in self._owned.values():
            self._close(owned)
        self._owned.clear()

    # --- compaction ----------------------------------------------------------------------

    async def compact_some(self) -> int:
        """Compact up to `COMPACT_LIMIT` deals, scanning at most `COMPACT_SCAN` records of one
        owned partition from where the last call stopped; how many were compacted.

        Compaction only saves space: a failure is logged, and the scan starts over.
        """
        async with self._lock:
            if not self._owned:
                return 0
            partition = self._next_sweep_partition()
            owned = self._owned[partition]
            if owned.fault is not None:  # its store is not written to until it recovers
                return 0
            ctx = self._contexts.current()
            try:
                found, self._sweep_after = owned.store.scan(self._sweep_after, COMPACT_SCAN)
                compacted = 0
                for deal_id, stored in found:
                    if compacted >= COMPACT_LIMIT:
                        break
                    if is_compactable_encoded(stored[HISTORY_FIELD], ctx):
                        compacted += owned.state.compact(deal_id, ctx)
            except Exception:  # compaction must not stop the partition: logged, retried later
                log.exception("compaction failed", extra={"partition": partition})
                self._sweep_after = None
                return 0
            if self._sweep_after is None:
                self._sweep_partition = None  # this partition is done: the next one
            if compacted:
                self._fold_metrics.compacted.inc(compacted)  # written at the next checkpoint
            return compacted

    def _next_sweep_partition(self) -> int:
        owned = sorted(self._owned)
        if self._sweep_partition not in self._owned:
            later = [p for p in owned if self._sweep_partition is None or p > self._sweep_partition]
            self._sweep_partition = later[0] if later else owned[0]
            self._sweep_after = None
        assert self._sweep_partition is not None
        return self._sweep_partition

    # --- what the web pages read -------------------------------------------------------

    def _refresh_lag(self) -> None:
        if self._consumer is None:
            return
        behind = 0
        for partition, owned in self._owned.items():
            high = self._consumer.highwater(TopicPartition(self._topic, partition))
            if high is not None and owned.next_offset is not None:
                self._highwater[partition] = max(high - owned.next_offset, 0)
                behind += self._highwater[partition]
        self.caught_up = bool(self._owned) and behind == 0

    def lag(self) -> dict[int, int]:
        """Messages behind the high watermark, per owned partition (as last fetched)."""
        return {p: lag for p, lag in self._highwater.items() if p in self._owned}

    @property
    def partitions(self) -> list[int]:
        return sorted(self._owned)

    def deal_counts(self) -> dict[int, int]:
        return {partition: owned.state.deals for partition, owned in self._owned.items()}

    @property
    def epoch(self) -> int:
        """Changes whenever the aggregates are rebuilt rather than folded into."""
        return self._epoch

    def aggregates(self, ctx: MetricContext) -> Aggregates:
        """The owned partitions' aggregates, pruned to the retention of `ctx` (not a copy)."""
        self._pruned_at = prune_shared(self._aggregates, self._pruned_at, ctx)
        return self._aggregates

    def take_changes(self) -> set[ContributionKey]:
        return self._aggregates.take_changes()

    def value(self, key: ContributionKey) -> Decimal | None:
        return self._aggregates.get(key)

    async def recompute(self) -> tuple[MetricContext, list[int], Aggregates]:
        """The context, the owned partitions and their aggregates recomputed from their
        stores, all as of one moment (a check).

        It holds the engine's lock: no batch is folded and no rebalance closes a store
        while it reads them (a revocation in the middle closed the store it was reading,
        and the check answered 500). It yields to the event loop every
        `RESTORE_YIELD_EVERY` deals, as a restore does, so the consumer's heartbeats and
        the scrapes go on; at 200,000 deals it takes tens of seconds.
        """
        async with self._lock:
            ctx = self._contexts.current()
            fresh = Aggregates()
            for partition, owned in list(self._owned.items()):
                state = PartitionState({}, partition, aggregates=fresh)
                for count, stored in enumerate(owned.store.records(), start=1):
                    if stored[PARTITION_FIELD] == partition:
                        state.restore(stored, ctx)
                    if count % RESTORE_YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            fresh.prune(ctx)
            return ctx, self.partitions, fresh


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped upstream
    """The engine's side of a rebalance. aiokafka only logs what a listener raises, and would
    go on with the partitions unrestored: the engine keeps the error and stops at its next
    batch instead (`DealEngine.handle`)."""

    def __init__(self, engine: DealEngine) -> None:
        self._engine = engine

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        try:
            await self._engine.revoke(tp.partition for tp in revoked)
        except Exception as error:  # noqa: BLE001 - kept, and raised by the engine's loop
            self._engine.rebalance_failed(error)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        try:
            await self._engine.assign(tp.partition for tp in assigned)
        except Exception as error:  # noqa: BLE001 - kept, and raised by the engine's loop
            self._engine.rebalance_failed(error)


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())
