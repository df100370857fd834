"""A Kafka → Kafka bridge (Salesforce, Debezium): a source topic in, canonical events out,
at least once.

A loop of batches: poll up to `DEALPULSE_BRIDGE_BATCH_RECORDS` records (waiting
`DEALPULSE_BRIDGE_POLL_SECONDS` at most), map each record's value in offset order
(a tombstone says nothing and is skipped), produce the events keyed by deal id and
the refused records as dead letters (`BridgeOutput`), wait until Kafka has
acknowledged every one of them, then commit the batch's offsets. A crash in between
re-reads the batch and re-produces the same bytes (the event ids are the source's),
which the workers de-duplicate; a commit refused by a rebalance is logged and the
loop goes on (`commit_consumed`). A Kafka error ends the bridge, uncommitted; a bad
record never does. SIGINT or SIGTERM lets the batch in flight finish first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.process.commit import commit_consumed
from streams.bridges.process.http_server import metrics_app, stop_signal
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import (
    BridgeOutput,
    Letter,
    Translation,
    bridge_producer,
    prepare_kafka,
)
from streams.bridges.refusal import Refusal
from streams.ingest.ingestor import size_limits
from streams.settings import Settings

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
ValueMapper: TypeAlias = Callable[[bytes], Sequence[CanonicalEvent] | Refusal]
"""A source record's value to its canonical events, or the refusal to dead-letter it."""


@dataclass(frozen=True, slots=True)
class KafkaBridge:
    """One Kafka → Kafka bridge: where it reads, how it maps, where its /metrics are."""

    source: str
    """The `source` label of its counters and the `dealpulse.source` of its dead letters."""
    topic: str
    group_id: str
    metrics_port: int
    map_value: ValueMapper


@dataclass(frozen=True, slots=True)
class Polling:
    batch_records: int
    poll_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> Polling:
        return cls(settings.bridge_batch_records, settings.bridge_poll_seconds)


class BatchConsumer(Protocol):
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = ..., max_records: int | None = ...
    ) -> dict[TopicPartition, list[Record]]: ...

    async def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None: ...


def translate_records(records: Iterable[Record], map_value: ValueMapper) -> Translation:
    """The events and dead letters of `records`, in offset order."""
    events: list[CanonicalEvent] = []
    letters: list[Letter] = []
    for record in records:
        if record.value is None:
            continue
        outcome = map_value(record.value)
        if isinstance(outcome, Refusal):
            origin = f"{record.topic}/{record.partition}/{record.offset}"
            log.warning("%s refused (%s): %s", origin, outcome.reason.value, outcome.detail)
            letters.append(Letter(record.value, outcome, key=record.key, origin=origin))
        else:
            events.extend(outcome)
    return Translation(events, letters)


async def bridge_batch(
    consumer: BatchConsumer, output: BridgeOutput, map_value: ValueMapper, polling: Polling
) -> None:
    """Poll one batch; produce what it maps to, wait for every acknowledgement, commit it."""
    batch = await consumer.getmany(
        timeout_ms=round(polling.poll_seconds * 1000), max_records=polling.batch_records
    )
    consumed = {partition: records for partition, records in batch.items() if records}
    if not consumed:
        return
    translation = translate_records(
        (record for records in consumed.values() for record in records), map_value
    )
    await output.deliver(translation.events, translation.letters)  # raises: nothing committed
    await commit_consumed(
        consumer, {partition: records[-1].offset + 1 for partition, records in consumed.items()}
    )


async def bridge_batches(
    consumer: BatchConsumer,
    output: BridgeOutput,
    map_value: ValueMapper,
    polling: Polling,
    stopping: asyncio.Future[Any],
) -> None:
    """Batch after batch until `stopping` is done."""
    while not stopping.done():
        await bridge_batch(consumer, output, map_value, polling)


async def run_kafka_bridge(settings: Settings, bridge: KafkaBridge) -> None:
    """Bridge `bridge.topic` until SIGINT or SIGTERM, serving /metrics meanwhile."""
    await prepare_kafka(settings)
    metrics = BridgeMetrics(bridge.source)
    producer = bridge_producer(settings)
    consumer = AIOKafkaConsumer(
        bridge.topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=bridge.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **settings.kafka_client_options(),
    )
    output = BridgeOutput(
        producer,
        events_topic=settings.topic_events,
        dlq_topic=settings.topic_bridge_dlq,
        metrics=metrics,
        letter_limits=size_limits(settings),
    )
    runner = web.AppRunner(metrics_app(metrics), access_log=None)
    stopping = asyncio.ensure_future(stop_signal())
    await producer.start()
    await consumer.start()
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.bridge_host, bridge.metrics_port).start()
        log.warning(
            "bridging %s to %s (dead letters: %s); /metrics on http://%s:%d",
            bridge.topic,
            settings.topic_events,
            settings.topic_bridge_dlq,
            settings.bridge_host,
            bridge.metrics_port,
        )
        await bridge_batches(consumer, output, bridge.map_value, Polling.of(settings), stopping)
    finally:
        stopping.cancel()
        await runner.cleanup()
        await consumer.stop()
        await producer.stop()
