"""A `kill -9` at any step of a checkpoint loses nothing and counts nothing twice.

`DealEngine` runs over an in-memory broker (the unit tier's stand-in for Kafka:
the integration tests run the real one) and its real RocksDB stores. It is
killed at a chosen step of a chosen checkpoint: sent-but-unflushed records are
lost, nothing after the step happens, and the data directory is copied as it
is on disk, as a crash leaves it. A new engine restarts from that copy (or,
for a partition that moved, from the changelog), reads on, and must end with
exactly the independent reference's numbers, with every rejected message in
the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import shutil
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from streams.engine.deal_engine import DealEngine
from streams.ingest.ingestor import Ingestor
from streams.metric_context import ContextSource, build_context, settings_clock
from streams.settings import Settings
from streams.simulator import OutboundMessage
from streams.worker.engine_metrics import EngineMetrics
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.ingest_metrics import IngestMetrics
from tests.support.oracle import accepted_events
from tests.support.reference import reference
from tests.support.workload import CLOCK, simulated

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
    settings: Settings, broker: Broker, ingestor: type[Ingestor] = Ingestor
) -> DealEngine:
    registry = CollectorRegistry()
    clock = settings_clock(settings)
    return DealEngine(
        settings,
        ContextSource(settings, clock),
        ingestor(settings, clock),
        fold_metrics=FoldMetrics(registry),
        ingest_metrics=IngestMetrics(registry),
        engine_metrics=EngineMetrics(registry, PARTITIONS),
        clients=FakeClients(broker),  # type: ignore[arg-type]  # a duck-typed stand-in
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


def crashed_copy(data_dir: Path, into: Path) -> Path:
    """The data directory as a `kill -9` leaves it: files as they are, no lock held."""
    shutil.copytree(data_dir, into, ignore=shutil.ignore_patterns("LOCK"))
    return into


def produce(broker: Broker, messages: Sequence[OutboundMessage]) -> None:
    for message in messages:
        partition = zlib.crc32(message.key or b"") % PARTITIONS
        broker.append(TOPIC, partition, message.key, message.value, message.headers)


@pytest.mark.parametrize("step", ["before flush", "after flush", "before commit", "after commit"])
@pytest.mark.parametrize("nth", [1, 4])
@pytest.mark.parametrize("moves", [False, True])
def test_a_kill_at_any_checkpoint_step_loses_nothing(
    tmp_path: Path, step: str, nth: int, moves: bool
) -> None:
    messages = simulated(1_500, seed=7)
    settings = Settings(
        clock=CLOCK,
        topic_events=TOPIC,
        topic_partitions=PARTITIONS,
        data_dir=tmp_path / "first",
        engine_checkpoint_events=97,
        engine_checkpoint_seconds=3600,
    )
    broker = Broker()
    produce(broker, messages)
    crash = Crash(step, nth)
    first = engine_for(settings, broker)
    with pytest.raises(Killed):
        asyncio.run(consume(first, broker, range(PARTITIONS), crash))

    # Restarted from the crashed files; with `moves`, partition 0 goes to a worker
    # without local state, which restores it from the changelog.
    restarted = settings.model_copy(
        update={"data_dir": crashed_copy(tmp_path / "first", tmp_path / "second")}
    )
    second = engine_for(restarted, broker)
    kept = [1, 2] if moves else list(range(PARTITIONS))
    asyncio.run(consume(second, broker, kept, None))
    parts = [second]
    if moves:
        third = engine_for(settings.model_copy(update={"data_dir": tmp_path / "third"}), broker)
        asyncio.run(consume(third, broker, [0], None))
        parts.append(third)

    ctx = build_context(settings, CLOCK)
    summed: dict[Any, Any] = {}
    for engine in parts:
        for key, value in engine.aggregates(ctx).as_dict().items():
            summed[key] = summed.get(key, 0) + value
    expected = reference(accepted_events(messages, settings, CLOCK), ctx)
    assert {k: v for k, v in summed.items() if v != 0} == expected
    rejected = len(messages) - len(accepted_events(messages, settings, CLOCK))
    dead = {
        dict(r.headers)["dealpulse.origin"]
        for p in range(PARTITIONS)
        for r in broker.logs[(settings.topic_dlq, p)]
    }
    assert len(dead) == rejected > 0
    assert all(broker.committed[p] == len(broker.logs[(TOPIC, p)]) for p in range(PARTITIONS))


class FailingIngestor(Ingestor):
    """An ingest with a bug that shows on one message."""

    def ingest(self, message: Any, *, check_key: bool = True) -> Any:
        if message.offset == 5 and message.partition == 0:
            raise RuntimeError("a bug")
        return super().ingest(message, check_key=check_key)


def test_a_bug_in_ingest_stops_its_partition_at_the_message_and_dead_letters_nothing(
    tmp_path: Path,
) -> None:
    """A fault of ours never turns a good event into a dead letter: the partition waits at
    the message (committed up to it, not past it), and says why; the others go on."""
    messages = simulated(300, seed=3)
    settings = Settings(
        clock=CLOCK, topic_events=TOPIC, topic_partitions=PARTITIONS, data_dir=tmp_path
    )
    broker = Broker()
    produce(broker, messages)
    engine = engine_for(settings, broker, FailingIngestor)
    faults: dict[int, str] = {}

    async def run() -> None:
        await consume(engine, broker, range(PARTITIONS), None, close=False)
        faults.update(engine.faults)
        await engine.close()

    asyncio.run(run())
    letters = [r for p in range(PARTITIONS) for r in broker.logs[(settings.topic_dlq, p)]]
    assert b"internal_error" not in {dict(r.headers)["dealpulse.reason"] for r in letters}
    assert list(faults) == [0]
    assert faults[0].startswith(f"bug at {TOPIC}/0/5: RuntimeError: a bug")
    assert broker.committed[0] == 5
    assert all(broker.committed[p] == len(broker.logs[(TOPIC, p)]) for p in (1, 2))
