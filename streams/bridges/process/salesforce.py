"""`dealpulse bridge salesforce`: Kafka → Kafka, OpportunityChangeEvents to canonical events.

Consumes the topic the Kafka Connect Salesforce CDC source writes (JSON), maps
each record with the pure `streams.bridges.salesforce`, produces the events and
the dead letters (GAP_* and overflow events, with their reason), and commits
the consumed offsets only once Kafka has acknowledged everything they gave. A
crash in between redelivers: the event ids are Salesforce's own, so the worker
counts each once. Its counters are on its own /metrics.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.mapping_file import SourceMapping
from streams.bridges.process.commit import commit_consumed
from streams.bridges.process.http_server import METRICS_CONTENT_TYPE, stop_signal
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import BridgeOutput, Letter, bridge_producer, prepare_kafka
from streams.bridges.refusal import Refusal
from streams.bridges.salesforce import map_salesforce
from streams.bridges.source_values import decode_source
from streams.ingest.ingestor import size_limits
from streams.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "salesforce"
BATCH_RECORDS = 500
POLL_MS = 1_000


def translate_records(
    records: list[ConsumerRecord[bytes, bytes]], mapping: SourceMapping
) -> tuple[list[CanonicalEvent], list[Letter]]:
    """The events and dead letters of a batch of change events, in offset order."""
    events: list[CanonicalEvent] = []
    letters: list[Letter] = []
    for record in records:
        if record.value is None:
            continue  # a tombstone says nothing about an opportunity
        change_event = decode_source(record.value)
        outcome = (
            change_event
            if isinstance(change_event, Refusal)
            else map_salesforce(change_event, mapping)
        )
        if isinstance(outcome, Refusal):
            log.warning(
                "salesforce %s[%d]@%d refused (%s): %s",
                record.topic,
                record.partition,
                record.offset,
                outcome.reason.value,
                outcome.detail,
            )
            letters.append(Letter(value=record.value, refusal=outcome, key=record.key))
        else:
            events.extend(outcome)
    return events, letters


async def bridge_loop(
    consumer: AIOKafkaConsumer, output: BridgeOutput, mapping: SourceMapping
) -> None:
    """Map, produce, commit; forever (until cancelled)."""
    while True:
        batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=BATCH_RECORDS)
        records = [record for batch in batches.values() for record in batch]
        if not records:
            continue
        events, letters = translate_records(records, mapping)
        await output.deliver(events, letters)
        await commit_consumed(consumer)


async def run_salesforce_bridge(settings: Settings, mapping: SourceMapping) -> None:
    """Bridge the Salesforce topic until SIGINT or SIGTERM."""
    await prepare_kafka(settings)
    metrics = BridgeMetrics(SOURCE)
    producer = bridge_producer(settings)
    consumer = AIOKafkaConsumer(
        settings.salesforce_topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.salesforce_group_id,
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

    async def exposition(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE}
        )

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    runner = web.AppRunner(app, access_log=None)
    await producer.start()
    await consumer.start()
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.bridge_host, settings.bridge_salesforce_port).start()
        loop = asyncio.create_task(bridge_loop(consumer, output, mapping))
        stop = asyncio.create_task(stop_signal())
        done, _ = await asyncio.wait({loop, stop}, return_when=asyncio.FIRST_COMPLETED)
        loop.cancel()
        stop.cancel()
        for task in done:
            if task is loop and not task.cancelled():
                task.result()  # a Kafka error ends the bridge, uncommitted
    finally:
        await runner.cleanup()
        await consumer.stop()
        await producer.stop()
