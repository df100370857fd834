"""`dealpulse replay`: the batch driver — the same ingest and domain code as the stream.

It reads every message of a JSONL file or of a topic (from its first offset up
to its end when the replay starts), ingests each one exactly as the worker does,
and computes the metrics of the distinct accepted events in one pass. It is the
backfill tool, and a second way to the stream's numbers.

It computes in several processes (`DEALPULSE_REPLAY_PROCESSES`, one per CPU by
default): each reads every message and ingests and folds those of the deals
whose id hashes to it, so a deal is whole in one process, and the processes'
sums add up to the one-process result exactly.

A topic is replayed under the pipelines and rates loaded on the control topic,
if any (`dealpulse pipelines load`, `dealpulse rates load`), as the workers
compute; a file under the settings alone.

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
import multiprocessing
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import Outcome
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey
from streams.domain.metric_rows import to_rows
from streams.domain.partition_state import PartitionState
from streams.domain.settings_record import ControlSettings
from streams.errors import ConfigurationError, ReplayError
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage, normalise_headers
from streams.ingest.rejection import Reason, Rejection
from streams.kafka.availability import wait_for_kafka
from streams.kafka.loaded_settings import read_loaded_settings
from streams.kafka.topics import existing_partitions
from streams.metric_context import build_context, check_loaded, effective_rates, settings_clock
from streams.settings import Settings

Advance = Callable[[int], None]
NOTHING_LOADED = ControlSettings()
FETCH_TIMEOUT_MS = 1000


@dataclass
class ReplayResult:
    messages: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    """Where the first few messages refused for each reason are (`line N` in a file)."""
    distinct_events: int = 0
    deals: int = 0
    too_late: int = 0
    rows: list[list[Any]] = field(default_factory=list)
    now: str = ""
    seconds: float = 0.0
    """Wall-clock time from the first message read to the metrics computed."""
    processes: int = 1

    @property
    def events_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "messages": self.messages,
            "accepted": self.accepted,
            "rejected": dict(sorted(self.rejected.items())),
            "examples": dict(sorted(self.examples.items())),
            "distinct_events": self.distinct_events,
            "deals": self.deals,
            "too_late": self.too_late,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
        }


MessageSource = Callable[[], Iterable[RawMessage]]
"""Every message to replay, from the first each time it is called (once per process)."""
PROGRESS_POLL_SECONDS = 0.2
EXAMPLES_PER_REASON = 3
PROGRESS_EVERY_MESSAGES = 1024


@dataclass
class _Part:
    """What one process found in the messages it owns (every deal is whole in one)."""

    messages: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """The first (partition, offset) refused for each reason, at most `EXAMPLES_PER_REASON`."""
    distinct_events: int = 0
    too_late: int = 0
    deals: int = 0
    sums: dict[ContributionKey, Decimal] = field(default_factory=dict)

    def refuse(self, reason: str, message: RawMessage) -> None:
        self.rejected[reason] += 1
        found = self.examples.setdefault(reason, [])
        found.append((message.partition, message.offset))
        if len(found) > EXAMPLES_PER_REASON:
            found.sort()
            del found[EXAMPLES_PER_REASON:]


def replay(
    settings: Settings,
    source: MessageSource,
    *,
    check_key: bool,
    processes: int = 1,
    advance: Advance = lambda _: None,
    loaded: ControlSettings = NOTHING_LOADED,
) -> ReplayResult:
    """Every accepted event through the worker's step (`PartitionState`), settled once,
    under the settings, changed by those `loaded` on the control plane as a worker's are.

    The same de-duplication as the stream's, per deal: a reused `event_id`
    is settled by the tie-break of `docs/events.md`, whatever the order. With
    several `processes`, each one reads every message and computes the deals
    whose id hashes to it (`owner`); their sums add up exactly, since the
    aggregates are sums of per-deal contributions.
    """
    clock = settings_clock(settings)
    check_loaded(settings, loaded)
    under = settings.model_copy(update={"currency_rates": effective_rates(settings, loaded)})
    ingestor = Ingestor(under, clock)
    ctx = build_context(under, clock(), pipelines=loaded.pipelines)
    started = time.perf_counter()
    step = _Step(ingestor, ctx, settings.max_deal_bytes, check_key)
    if processes <= 1:
        parts = [_replay_part(step, source(), advance)]
    else:
        parts = _in_processes(step, source, processes, advance)
    total = Aggregates()
    examples: dict[str, list[tuple[int, int]]] = {}
    result = ReplayResult(now=ctx.now.isoformat(), processes=max(processes, 1))
    for part in parts:
        result.messages += part.messages
        result.accepted += part.accepted
        result.rejected.update(part.rejected)
        for reason, found in part.examples.items():
            examples.setdefault(reason, []).extend(found)
        result.distinct_events += part.distinct_events
        result.too_late += part.too_late
        result.deals += part.deals
        total.add(part.sums)
    result.examples = {
        reason: [
            f"line {offset}" if not check_key else f"partition {partition} offset {offset}"
            for partition, offset in sorted(found)[:EXAMPLES_PER_REASON]
        ]
        for reason, found in examples.items()
    }
    result.rows = to_rows(total.as_dict())
    result.seconds = time.perf_counter() - started
    return result


def owner(message: RawMessage, processes: int, *, by_key: bool) -> int:
    """The process that replays `message`: the same for every message of one deal.

    A topic's messages are keyed by deal id (a key that is not the deal id is
    refused anyway), a file's are not: its lines go by the `deal_id` in the
    body, and a line without one (refused whatever the process) to the first.
    """
    token = (message.key or b"") if by_key else _body_deal_id(message.value)
    return zlib.crc32(token) % processes


def _body_deal_id(value: bytes | None) -> bytes:
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return b""
    deal_id = body.get("deal_id") if isinstance(body, dict) else None
    return deal_id.encode("utf-8", "replace") if isinstance(deal_id, str) else b""


@dataclass(frozen=True)
class _Step:
    """What every process of one replay applies to its messages."""

    ingestor: Ingestor
    ctx: MetricContext
    max_deal_bytes: int
    check_key: bool


def _replay_part(step: _Step, messages: Iterable[RawMessage], advance: Advance) -> _Part:
    ingestor, ctx, check_key = step.ingestor, step.ctx, step.check_key
    part = _Part()
    state = PartitionState(None, max_deal_bytes=step.max_deal_bytes)
    in_time: set[tuple[str, str]] = set()
    too_late: set[tuple[str, str]] = set()
    unreported = 0
    for message in messages:
        part.messages += 1
        unreported += 1
        if unreported == PROGRESS_EVERY_MESSAGES:
            advance(unreported)
            unreported = 0
        outcome = ingestor.ingest(message, check_key=check_key)
        if isinstance(outcome, Rejection):
            part.refuse(outcome.reason.value, message)
            continue
        known = (outcome.deal_id, outcome.event_id)
        folded = state.apply(outcome, ctx)
        if folded is Outcome.TOO_LONG:
            part.refuse(Reason.DEAL_TOO_LONG.value, message)
            continue
        part.accepted += 1
        if folded is Outcome.TOO_LATE:
            too_late.add(known)
        else:
            in_time.add(known)
    advance(unreported)
    state.settle(ctx)
    part.distinct_events = len(in_time | too_late)
    part.too_late = len(too_late - in_time)
    part.deals = state.deals
    part.sums = state.aggregates.as_dict()
    return part


def _in_processes(
    step: _Step, source: MessageSource, processes: int, advance: Advance
) -> list[_Part]:
    """`_replay_part` in `processes` forked children, one share of the deals each."""
    context = multiprocessing.get_context("fork")  # the children inherit the source as is
    progress = [context.Value("q", 0, lock=False) for _ in range(processes)]
    results: list[Connection] = []
    children: list[BaseProcess] = []
    for index in range(processes):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=_part_in_child,
            args=(sender, step, source, (index, processes), progress[index]),
            name=f"dealpulse-replay-{index}",
            daemon=True,
        )
        child.start()
        sender.close()
        results.append(receiver)
        children.append(child)
    reported = 0
    parts: list[_Part] = []
    try:
        for receiver, running in zip(results, children, strict=True):
            while not receiver.poll(PROGRESS_POLL_SECONDS):
                done = sum(counter.value for counter in progress)
                advance(done - reported)
                reported = done
            try:
                found: _Part | str = receiver.recv()
            except EOFError:
                running.join()
                raise ReplayError(
                    f"replay process {running.name} ended (exit code {running.exitcode}) "
                    "before it sent its result"
                ) from None
            if isinstance(found, str):
                raise ReplayError(f"replay process {running.name} failed: {found}")
            parts.append(found)
        advance(sum(counter.value for counter in progress) - reported)
    finally:
        for process in children:
            if process.is_alive():
                process.terminate()
            process.join()
    return parts


def _part_in_child(
    sender: Connection,
    step: _Step,
    source: MessageSource,
    shard: tuple[int, int],
    progress: Synchronized[int],
) -> None:
    index, processes = shard

    def count(messages: int) -> None:
        progress.value += messages

    try:
        mine = (
            message
            for message in source()
            if owner(message, processes, by_key=step.check_key) == index
        )
        sender.send(_replay_part(step, mine, count))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
        sender.send(f"{type(error).__name__}: {error}")
    finally:
        sender.close()


def jsonl_messages(path: Path) -> Iterator[RawMessage]:
    """Each line is one message value, as `dealpulse simulate --out` writes them."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            value = line.rstrip(b"\n")
            if value:
                yield RawMessage(key=None, value=value, topic=str(path), partition=0, offset=number)


def count_messages(path: Path) -> int:
    """The messages of a JSONL file (its non-empty lines), for the progress bar."""
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.rstrip(b"\n"))


def topic_messages(settings: Settings, topic: str, advance: Advance) -> list[RawMessage]:
    """Every message of `topic` up to its end offsets at the start of the replay."""
    batches: list[list[RawMessage]] = asyncio.run(_read_topic(settings, topic, advance))
    return [message for batch in batches for message in batch]


async def _read_topic(settings: Settings, topic: str, advance: Advance) -> list[list[RawMessage]]:
    await wait_for_kafka(settings)
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
    partitions = await existing_partitions(settings, topic)
    if partitions is None:
        raise ConfigurationError(f"cannot replay topic {topic!r}: it does not exist")
    return partitions


def replay_processes(settings: Settings, requested: int | None = None) -> int:
    """The processes to replay in: `requested`, else the setting, where 0 means one per CPU."""
    processes = settings.replay_processes if requested is None else requested
    return processes if processes > 0 else (os.cpu_count() or 1)


def run_replay(
    settings: Settings,
    source: Path | None,
    topic: str | None,
    *,
    show_progress: bool,
    processes: int | None = None,
) -> ReplayResult:
    """`replay` of a JSONL file or a topic, with a progress bar in messages."""
    progress = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("messages"),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    workers = replay_processes(settings, processes)
    with progress:
        if source is not None:
            task = progress.add_task("replaying", total=count_messages(source))
            return replay(
                settings,
                lambda: jsonl_messages(source),
                check_key=False,
                processes=workers,
                advance=lambda n: progress.advance(task, n),
            )
        assert topic is not None
        started = time.perf_counter()
        reading = progress.add_task("reading", total=None)
        messages = topic_messages(settings, topic, lambda n: progress.advance(reading, n))
        loaded = asyncio.run(read_loaded_settings(settings))  # what the workers follow
        read_seconds = time.perf_counter() - started
        task = progress.add_task("replaying", total=len(messages))
        result = replay(
            settings,
            lambda: messages,
            check_key=True,
            processes=workers,
            advance=lambda n: progress.advance(task, n),
            loaded=loaded,
        )
        result.seconds += read_seconds
        return result


def write_result(result: ReplayResult, out: Path) -> None:
    out.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
