"""Creating the topics dealpulse reads and writes, with the partition count it expects.

The event topic's partition count fixes how deals spread over workers and must
equal that of the changelog topics, so it is created on purpose here rather
than by a broker's auto-creation with whatever default it has.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.errors import ConfigurationError
from streams.settings import Settings

VISIBLE_WITHIN_SECONDS = 15.0
"""How long a topic just created may take to appear in the broker's metadata."""
VISIBLE_POLL_SECONDS = 0.2


MB = 1024 * 1024
CHANGELOG_DIRTY_RATIO = 0.1
"""Kafka compacts a changelog partition once this share of it is overwritten (its default
is 0.5): a restore from the changelog reads at most about this much more than one record
per deal, plus the open segment."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: tuple[tuple[str, str], ...] = ()
    partitions_setting: str | None = "DEALPULSE_TOPIC_PARTITIONS"
    """The setting that gives the partition count; None when the count is fixed."""


CONTROL_PARTITIONS = 1
"""The control topic's partitions: one, so every record is read in the order it was sent, and
Faust's global tables fed from it are co-partitioned with it (one partition too)."""


def changelog_topic(settings: Settings) -> str:
    """The per-deal changelog: compacted, one partition per event-topic partition."""
    return f"{settings.app_id}-deals-changelog"


def changelog_configs(settings: Settings) -> tuple[tuple[str, str], ...]:
    return (
        ("cleanup.policy", "compact"),
        ("segment.bytes", str(settings.changelog_segment_mb * MB)),
        ("min.cleanable.dirty.ratio", str(CHANGELOG_DIRTY_RATIO)),
    )


def control_topic(settings: Settings) -> TopicSpec:
    """The control plane: compacted, so it keeps the newest record of every key for ever."""
    return TopicSpec(
        settings.topic_control,
        CONTROL_PARTITIONS,
        settings.topic_replication_factor,
        (("cleanup.policy", "compact"),),
        partitions_setting=None,
    )


def required_topics(settings: Settings) -> list[TopicSpec]:
    partitions, replicas = settings.topic_partitions, settings.topic_replication_factor
    return [
        TopicSpec(settings.topic_events, partitions, replicas),
        TopicSpec(settings.topic_dlq, partitions, replicas),
        TopicSpec(changelog_topic(settings), partitions, replicas, changelog_configs(settings)),
        control_topic(settings),
    ]


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> None:
    """Create missing topics; refuse to go on if one exists with other partitions."""
    specs = required_topics(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_client_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):  # created meanwhile by another worker
                await admin.create_topics([_new_topic(spec) for spec in missing])
        await _check_partitions(admin, specs)
    finally:
        await admin.close()


def _new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(
        spec.name, spec.partitions, spec.replication_factor, topic_configs=dict(spec.configs)
    )


async def _check_partitions(admin: Any, specs: list[TopicSpec]) -> None:
    partitions = await _partition_counts(admin, specs)
    for spec in specs:
        found = partitions.get(spec.name, 0)
        if not found:
            raise ConfigurationError(
                f"topic {spec.name!r} does not exist and could not be created "
                f"({spec.partitions} partitions, replication factor {spec.replication_factor})"
            )
        if found != spec.partitions and spec.partitions_setting is None:
            raise ConfigurationError(
                f"topic {spec.name!r} has {found} partitions where dealpulse needs "
                f"{spec.partitions}; use another topic"
            )
        if found != spec.partitions:
            raise ConfigurationError(
                f"topic {spec.name!r} has {found} partitions but {spec.partitions_setting} is "
                f"{spec.partitions}; set it to {found} or use another topic"
            )


async def _partition_counts(admin: Any, specs: list[TopicSpec]) -> dict[str, int]:
    """Partitions per topic, waiting up to `VISIBLE_WITHIN_SECONDS` for topics not yet listed.

    The broker answers `create_topics` before its metadata shows the topic: a
    describe right after it could find no partition (seen on the local broker).
    """
    deadline = time.monotonic() + VISIBLE_WITHIN_SECONDS
    while True:
        described = await admin.describe_topics([spec.name for spec in specs])
        partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
        if all(partitions.get(spec.name) for spec in specs) or time.monotonic() >= deadline:
            return partitions
        await asyncio.sleep(VISIBLE_POLL_SECONDS)


async def topic_message_count(settings: Settings, spec: TopicSpec) -> int:
    """Messages the topic holds now (end offsets minus first offsets), once it exists."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        **settings.kafka_client_options(),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()


async def existing_partitions(settings: Settings, topic: str) -> list[int] | None:
    """The partitions of `topic`, sorted; None when it does not exist."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_client_options()
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        return None
    return sorted(partition["partition"] for partition in described["partitions"])
