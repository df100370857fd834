"""An in-memory broker for `DealEngine`: the unit tier's stand-in for Kafka.

The integration tests run the real broker. This one keeps topics as lists of
records and the group's committed offsets, and can be told to die (`Crash`) at a
chosen step of a checkpoint.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from streams.domain.settings_record import ControlSettings
from streams.engine.deal_engine import DealEngine
from streams.ingest.ingestor import Ingestor
from streams.metric_context import ContextSource, settings_clock
from streams.settings import Settings
from streams.simulator import OutboundMessage
from streams.worker.engine_metrics import EngineMetrics
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.ingest_metrics import IngestMetrics

PARTITIONS = 3
TOPIC = "events"
BATCH = 40


class Killed(BaseException):
    """The process died here: no `except Exception` in the engine may catch it."""


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp: int = 0


@dataclass
class Broker:
    """Topics as lists of records, and the group's committed offsets."""

    logs: defaultdict[tuple[str, int], list[Record]] = field(
        default_factory=lambda: defaultdict(list)
    )
    committed: dict[int, int] = field(default_factory=dict)

    def append(self, topic: str, partition: int, key: Any, value: Any, headers: Any) -> None:
        log = self.logs[(topic, partition)]
        log.append(Record(topic, partition, len(log), key, value, tuple(headers or ())))


@dataclass
class Crash:
    """Raise `Killed` at the `nth` time the engine reaches `step`."""

    step: str
    nth: int
    seen: int = 0

    def at(self, step: str) -> None:
        if step == self.step:
            self.seen += 1
            if self.seen == self.nth:
                raise Killed(step)


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class FakeProducer:
    def __init__(self, broker: Broker, crash: Crash | None) -> None:
        self.broker, self.crash = broker, crash
        self.pending: list[tuple[str, int, Any, Any, Any]] = []

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        headers: Any = None,
    ) -> asyncio.Future[None]:
        target = partition if partition is not None else zlib.crc32(key or b"") % PARTITIONS
        self.pending.append((topic, target, key, value, headers))
        return _done()

    async def flush(self) -> None:
        if self.crash:
            self.crash.at("before flush")  # nothing sent reaches the broker
        for topic, partition, key, value, headers in self.pending:
            self.broker.append(topic, partition, key, value, headers)
        self.pending.clear()
        if self.crash:
            self.crash.at("after flush")  # delivered, but no store written, nothing committed


class FakeConsumer:
    def __init__(self, broker: Broker, crash: Crash | None) -> None:
        self.broker, self.crash = broker, crash
        self.positions: dict[int, int] = {}
        self.paused: set[int] = set()

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.broker.committed.get(tp.partition)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp.partition] = offset

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.crash:
            self.crash.at("before commit")  # stores written, offsets not committed
        for tp, meta in offsets.items():
            self.broker.committed[tp.partition] = meta.offset
        if self.crash:
            self.crash.at("after commit")

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.broker.logs[(tp.topic, tp.partition)])

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(tp.partition for tp in partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(tp.partition for tp in partitions)


class FakeClients:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def changelog(self, topic: str, partition: int) -> dict[bytes, bytes]:
        return {r.key: r.value for r in self.broker.logs[(topic, partition)] if r.key and r.value}


def engine_for(
    settings: Settings,
    broker: Broker,
    ingestor: type[Ingestor] = Ingestor,
    control: Callable[[], ControlSettings] | None = None,
    registry: CollectorRegistry | None = None,
) -> DealEngine:
    registry = CollectorRegistry() if registry is None else registry
    clock = settings_clock(settings)
    return DealEngine(
        settings,
        ContextSource(settings, clock),
        ingestor(settings, clock),
        fold_metrics=FoldMetrics(registry),
        ingest_metrics=IngestMetrics(registry),
        engine_metrics=EngineMetrics(registry, PARTITIONS),
        clients=FakeClients(broker),  # type: ignore[arg-type]  # a duck-typed stand-in
        control=control,
    )


async def consume(
    engine: DealEngine,
    broker: Broker,
    owned: Sequence[int],
    crash: Crash | None,
    *,
    close: bool = True,
) -> None:
    """Assign `owned`, then feed their logs from where the engine starts, batch by batch."""
    consumer, producer = FakeConsumer(broker, crash), FakeProducer(broker, crash)
    engine.attach(consumer, producer)
    await engine.assign(owned)
    positions = {p: consumer.positions.get(p, broker.committed.get(p, 0)) for p in owned}
    while True:
        batch = {}
        for partition in owned:
            log = broker.logs[(TOPIC, partition)]
            start = positions[partition]
            if start < len(log):
                batch[TopicPartition(TOPIC, partition)] = log[start : start + BATCH]
                positions[partition] = min(start + BATCH, len(log))
        if not batch:
            break
        await engine.handle(batch)
    if close:
        await engine.close()


def produce(broker: Broker, messages: Sequence[OutboundMessage]) -> None:
    for message in messages:
        partition = zlib.crc32(message.key or b"") % PARTITIONS
        broker.append(TOPIC, partition, message.key, message.value, message.headers)
