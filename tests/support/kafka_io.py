"""Talking to the real broker from tests: produce, read a whole topic, measure lag."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams.simulator import OutboundMessage


@dataclass(frozen=True)
class ConsumedMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def produce(bootstrap: str, topic: str, messages: Sequence[OutboundMessage]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=10, max_request_size=1_048_576
        )
        await producer.start()
        try:
            futures = [
                await producer.send(
                    topic, message.value, key=message.key, headers=list(message.headers)
                )
                for message in messages
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


async def _stop(consumer: AIOKafkaConsumer) -> None:
    # aiokafka's group-less consumer raises CancelledError from stop() when its
    # background task never ran; one turn of the loop lets it start.
    await asyncio.sleep(0)
    await consumer.stop()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async def run() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        partitions = [partition["partition"] for partition in described["partitions"]]
        assert partitions, f"topic {topic} has no partitions: {described}"
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return {tp.partition: offset for tp, offset in ends.items()}
        finally:
            await _stop(consumer)

    return asyncio.run(run())


def committed_lag(bootstrap: str, group: str, topic: str) -> int | None:
    """Messages of `topic` the group has not committed yet; None while the group is unknown."""

    async def committed() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    ends = end_offsets(bootstrap, topic)
    try:
        done = asyncio.run(committed())
    except KafkaError:
        return None  # coordinator still loading, or the group has not joined yet
    if not done:
        return None
    return sum(max(end - max(done.get(partition, 0), 0), 0) for partition, end in ends.items())


def read_topic(bootstrap: str, topic: str) -> list[ConsumedMessage]:
    """Every message of `topic` from the beginning up to its current end."""
    ends = end_offsets(bootstrap, topic)

    async def run() -> list[ConsumedMessage]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=1_048_576,
        )
        await consumer.start()
        out: list[ConsumedMessage] = []
        try:
            assigned = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
            if not assigned:
                return out
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            remaining = {tp.partition: ends[tp.partition] for tp in assigned}
            while remaining:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset < ends[tp.partition]:
                            out.append(
                                ConsumedMessage(
                                    tp.partition,
                                    record.offset,
                                    record.key,
                                    record.value,
                                    tuple(record.headers),
                                )
                            )
                    if records and records[-1].offset + 1 >= ends[tp.partition]:
                        remaining.pop(tp.partition, None)
        finally:
            await _stop(consumer)
        return out

    return asyncio.run(asyncio.wait_for(run(), timeout=120))


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Offsets of `topic` the group has committed, summed over partitions."""
    lag = committed_lag(bootstrap, group, topic)
    if lag is None:
        return 0
    return sum(end_offsets(bootstrap, topic).values()) - lag


def topic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    """The configuration of `topic` as the broker describes it (defaults included)."""

    async def describe() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
        finally:
            await admin.close()
        ((_error, _message, _type, _name, entries),) = response.resources
        return {entry[0]: entry[1] for entry in entries}

    return asyncio.run(describe())


def consumer_groups(bootstrap: str) -> set[str]:
    """The ids of the consumer groups the broker knows."""

    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return {group[0] for group in await admin.list_consumer_groups()}
        finally:
            await admin.close()

    return asyncio.run(listed())
