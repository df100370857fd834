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
from pathlib import Path
from typing import Any

import pytest

from streams.ingest.ingestor import Ingestor
from streams.metric_context import build_context
from streams.settings import Settings
from tests.support.fake_kafka import (
    PARTITIONS,
    TOPIC,
    Broker,
    Crash,
    Killed,
    consume,
    engine_for,
    produce,
)
from tests.support.oracle import accepted_events
from tests.support.reference import reference
from tests.support.workload import CLOCK, simulated


def crashed_copy(data_dir: Path, into: Path) -> Path:
    """The data directory as a `kill -9` leaves it: files as they are, no lock held."""
    shutil.copytree(data_dir, into, ignore=shutil.ignore_patterns("LOCK"))
    return into


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
