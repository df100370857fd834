"""Publishing records onto the control topic: what every `dealpulse ... load` command sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence

from aiokafka import AIOKafkaProducer

from streams.kafka.availability import wait_for_kafka
from streams.kafka.topics import control_topic, ensure_topics
from streams.settings import Settings

Record = tuple[bytes, bytes]
"""A control record: key, value."""
Publisher = Callable[[Settings, Sequence[Record]], Coroutine[None, None, None]]


async def publish_records(settings: Settings, records: Sequence[Record]) -> None:
    """Send `records` to the control topic, in order, each acknowledged by every replica."""
    await wait_for_kafka(settings)
    await ensure_topics(settings, [control_topic(settings)])
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,  # a retried send is not written twice, nor out of order
        **settings.kafka_client_options(),
    )
    await producer.start()
    try:
        sent = [
            await producer.send(settings.topic_control, key=key, value=value)
            for key, value in records
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
