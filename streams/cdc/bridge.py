"""`dealpulse bridge debezium`: Debezium's topic in, canonical events out, at least once.

A loop of batches: `getmany` from the Debezium topic (the bridge's own consumer
group), translate each record in order (`DebeziumTranslator`), produce the
canonical events keyed by deal id to the events topic and the refusals to the
bridge's dead-letter topic, wait until the broker has acknowledged every one of
them, then commit the batch's offsets. A crash between produce and commit
re-reads the batch; the events it re-produces are byte-identical (their ids come
from the LSN), so the workers de-duplicate them. A broker error stops the bridge
with the error rather than skipping records; a bad record never does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from streams.bridges.mapping_file import load_mapping
from streams.bridges.process.commit import commit_consumed
from streams.cdc.translator import DebeziumTranslator, Outgoing
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage, normalise_headers
from streams.kafka.availability import wait_for_kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.metric_context import settings_clock
from streams.settings import Settings

log = logging.getLogger(__name__)
BATCH_RECORDS = 1000
POLL_TIMEOUT_MS = 500
REPORT_EVERY_SECONDS = 30.0


def run_debezium_bridge(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; the batch in flight is finished and committed first."""
    asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    translator = bridge_translator(settings)
    await wait_for_kafka(settings)
    await ensure_topics(settings, bridge_topics(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    consumer = AIOKafkaConsumer(
        settings.debezium_topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.debezium_group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_client_options(),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **settings.kafka_client_options(),
    )
    await producer.start()
    await consumer.start()
    log.info(
        "bridging %s to %s (dead letters: %s)",
        settings.debezium_topic,
        settings.topic_events,
        settings.topic_bridge_dlq,
    )
    reported_at = time.monotonic()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=BATCH_RECORDS)
            if batch:
                await bridge_batch(batch, translator, producer, consumer, settings)
            if time.monotonic() - reported_at >= REPORT_EVERY_SECONDS:
                log.info("bridge: %s", translator.counts.describe())
                reported_at = time.monotonic()
    finally:
        log.info("bridge stopping: %s", translator.counts.describe())
        await consumer.stop()
        await producer.stop()


def bridge_translator(settings: Settings) -> DebeziumTranslator:
    """The translator with the worker's ingest checks, but for currencies: which ones a
    worker accepts is its own (rates loaded with `dealpulse rates load` included)."""
    ingestor = Ingestor(settings, clock=settings_clock(settings), check_currencies=False)
    return DebeziumTranslator(load_mapping(settings.debezium_mapping_file), ingestor)


def bridge_topics(settings: Settings) -> list[TopicSpec]:
    """The events topic (as the workers create it) and the bridge's dead-letter topic."""
    partitions, replicas = settings.topic_partitions, settings.topic_replication_factor
    return [
        TopicSpec(settings.topic_events, partitions, replicas),
        TopicSpec(settings.topic_bridge_dlq, partitions, replicas),  # as the other bridges
    ]


async def bridge_batch(
    batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    translator: DebeziumTranslator,
    producer: AIOKafkaProducer,
    consumer: AIOKafkaConsumer,
    settings: Settings,
) -> None:
    """Produce what the batch maps to, wait for every acknowledgement, then commit it."""
    sends = []
    for partition, records in batch.items():
        for record in records:
            for outgoing in translator.translate(_raw(partition, record)):
                if outgoing.dead_letter:
                    _log_dead_letter(outgoing, record)
                topic = settings.topic_bridge_dlq if outgoing.dead_letter else settings.topic_events
                sends.append(
                    await producer.send(
                        topic,
                        value=outgoing.value,
                        key=outgoing.key,
                        headers=list(outgoing.headers),
                    )
                )
    await asyncio.gather(*sends)  # raises on a failed send: nothing is committed then
    await commit_consumed(
        consumer,
        {partition: records[-1].offset + 1 for partition, records in batch.items() if records},
    )


def _raw(partition: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> RawMessage:
    headers: Iterable[tuple[str, bytes]] = record.headers or ()
    return RawMessage(
        key=record.key,
        value=record.value,
        headers=normalise_headers(headers),
        topic=partition.topic,
        partition=partition.partition,
        offset=record.offset,
    )


def _log_dead_letter(outgoing: Outgoing, record: ConsumerRecord[bytes, bytes]) -> None:
    reason = dict(outgoing.headers).get("dealpulse.reason", b"").decode()
    log.warning("dead-lettered %s/%d/%d: %s", record.topic, record.partition, record.offset, reason)
