"""`dealpulse replay`: the batch driver — the same ingest and domain code as the stream.

It reads every message of a JSONL file or of a topic (from its first offset up
to its end when the replay starts), ingests each one exactly as the worker does,
and computes the metrics of the distinct accepted events in one pass. It is the
oracle the stream is tested against, and the backfill tool.

It runs the worker's own step, `PartitionState`, over a dict: replay equals
the stream on every history, reused event ids included. Events too late for
the replay's clock (before the retention of every granularity) are counted in
`too_late` and change nothing, as in the worker
(rule R, `streams.domain.compaction`). A worker that folded such an event while
it was still in time keeps it, so a backfill of deals older than the retention
differs there from the live worker: a deal created before the horizon and won
after it, for instance, has no sales cycle in the replay.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.domain.compaction import Outcome
from streams.domain.partition_state import PartitionState
from streams.domain.snapshot_codec import encode_snapshot
from streams.errors import ConfigurationError
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage, normalise_headers
from streams.ingest.rejection import Rejection
from streams.metric_context import build_context, settings_clock
from streams.settings import Settings

Advance = Callable[[int], None]
FETCH_TIMEOUT_MS = 1000


@dataclass
class ReplayResult:
    messages: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    distinct_events: int = 0
    deals: int = 0
    too_late: int = 0
    rows: list[list[Any]] = field(default_factory=list)
    now: str = ""
    seconds: float = 0.0
    """Wall-clock time from the first message read to the metrics computed."""

    @property
    def events_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "messages": self.messages,
            "accepted": self.accepted,
            "rejected": dict(sorted(self.rejected.items())),
            "distinct_events": self.distinct_events,
            "deals": self.deals,
            "too_late": self.too_late,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
        }


def replay(settings: Settings, messages: Iterator[RawMessage], *, check_key: bool) -> ReplayResult:
    """Every accepted event through the worker's step (`PartitionState`), settled once.

    The same de-duplication as the stream's, per deal: a reused `event_id`
    is settled by the tie-break of `docs/events.md`, whatever the order.
    """
    clock = settings_clock(settings)
    ingestor = Ingestor(settings, clock)
    ctx = build_context(settings, clock())
    result = ReplayResult(now=ctx.now.isoformat())
    state = PartitionState(None)
    in_time: set[tuple[str, str]] = set()
    too_late: set[tuple[str, str]] = set()
    started = time.perf_counter()
    for message in messages:
        result.messages += 1
        outcome = ingestor.ingest(message, check_key=check_key)
        if isinstance(outcome, Rejection):
            result.rejected[outcome.reason.value] += 1
            continue
        result.accepted += 1
        known = (outcome.deal_id, outcome.event_id)
        if state.apply(outcome, ctx) is Outcome.TOO_LATE:
            too_late.add(known)
        else:
            in_time.add(known)
    state.settle(ctx)
    result.distinct_events = len(in_time | too_late)
    result.too_late = len(too_late - in_time)
    result.deals = state.deals
    result.rows = encode_snapshot(state.aggregates.snapshot())
    result.seconds = time.perf_counter() - started
    return result


def jsonl_messages(path: Path, advance: Advance) -> Iterator[RawMessage]:
    """Each line is one message value, as `dealpulse simulate --out` writes them."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            advance(len(line))
            value = line.rstrip(b"\n")
            if value:
                yield RawMessage(key=None, value=value, topic=str(path), partition=0, offset=number)


def topic_messages(settings: Settings, topic: str, advance: Advance) -> Iterator[RawMessage]:
    """Every message of `topic` up to its end offsets at the start of the replay."""
    batches: list[list[RawMessage]] = asyncio.run(_read_topic(settings, topic, advance))
    for batch in batches:
        yield from batch


async def _read_topic(settings: Settings, topic: str, advance: Advance) -> list[list[RawMessage]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        **settings.kafka_client_options(),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (await _partitions(settings, topic))]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}  # retention may empty one
        consumer.assign(list(pending))
        for tp in pending:
            # An explicit seek: `seek_to_beginning` right after `assign` could lose to the
            # assignment's own reset and leave the position at the end (the changelog reader).
            consumer.seek(tp, starts[tp])
        out: list[list[RawMessage]] = []
        while pending:
            fetched = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            for tp, records in fetched.items():
                batch = [
                    RawMessage(
                        key=record.key,
                        value=record.value,
                        headers=normalise_headers(record.headers),
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                    )
                    for record in records
                    if record.offset < ends[tp]
                ]
                out.append(batch)
                advance(len(batch))
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return out
    finally:
        await asyncio.sleep(0)  # aiokafka's group-less consumer needs one turn before stop
        await consumer.stop()


async def _partitions(settings: Settings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_client_options()
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        raise ConfigurationError(f"cannot replay topic {topic!r}: it does not exist")
    return sorted(partition["partition"] for partition in described["partitions"])


def run_replay(
    settings: Settings, source: Path | None, topic: str | None, *, show_progress: bool
) -> ReplayResult:
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    with progress:
        if source is not None:
            task = progress.add_task("replay", total=source.stat().st_size)
            messages = jsonl_messages(source, lambda n: progress.advance(task, n))
            return replay(settings, messages, check_key=False)
        assert topic is not None
        task = progress.add_task("replay", total=None)
        return replay(
            settings,
            topic_messages(settings, topic, lambda n: progress.advance(task, n)),
            check_key=True,
        )


def write_result(result: ReplayResult, out: Path) -> None:
    out.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
