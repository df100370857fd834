"""The ceiling: a bare consumer reading and JSON-decoding (orjson) the whole topic.

No engine on this stack can go faster than its client library reads, so these
rates are the yardstick: aiokafka (what Faust runs on) and confluent-kafka
(librdkafka, what Quix Streams runs on). Timed from the first fetch to the last
message, in this process, with nothing else running.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

FETCH_TIMEOUT_MS = 1000
CONFLUENT_BATCH = 1_000
CONFLUENT_TIMEOUT_SECONDS = 0.05  # consume() waits this long for a full batch


async def aiokafka_ceiling(bootstrap: str, topic: str, partitions: int) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        consumer.assign(list(pending))
        await consumer.seek_to_beginning(*pending)
        events = 0
        started = time.perf_counter()
        while pending:
            fetched = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            for tp, records in fetched.items():
                for record in records:
                    orjson.loads(record.value)
                events += len(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        seconds = time.perf_counter() - started
    finally:
        await asyncio.sleep(0)  # aiokafka's group-less consumer needs one turn before stop
        await consumer.stop()
    return _rate("aiokafka", events, seconds)


def confluent_ceiling(bootstrap: str, topic: str, partitions: int, group: str) -> dict[str, Any]:
    try:
        from confluent_kafka import (  # type: ignore[import-not-found, unused-ignore]
            OFFSET_BEGINNING,
            Consumer,
        )
        from confluent_kafka import (  # type: ignore[import-not-found, unused-ignore]
            TopicPartition as ConfluentPartition,
        )
    except ImportError:
        return {"skipped": "confluent-kafka is not installed: pip install -e '.[bench]'"}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(ConfluentPartition(topic, p))[1]
            for p in range(partitions)
        }
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([ConfluentPartition(topic, p, OFFSET_BEGINNING) for p in sorted(pending)])
        events = 0
        started = time.perf_counter()
        while pending:
            for message in consumer.consume(CONFLUENT_BATCH, CONFLUENT_TIMEOUT_SECONDS):
                if message.error() is not None:
                    continue
                orjson.loads(message.value() or b"null")
                events += 1
                partition = message.partition()
                offset = message.offset()
                if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                    pending.discard(partition)
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    return _rate("confluent-kafka", events, seconds)


def _rate(client: str, events: int, seconds: float) -> dict[str, Any]:
    return {
        "client": client,
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds, 1) if seconds > 0 else None,
    }
