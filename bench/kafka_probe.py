"""Offsets seen from outside the engines: how far a consumer group has committed.

"Done" for every engine is the same test: the group's committed offsets equal
the end offsets of the source topic, and of every other topic the group
commits (the repartition topic that Faust's and Quix's `group_by` add).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.errors import ConfigurationError
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

LEADER_TOPIC_MARK = "__leader"  # Faust's assignor topic: committed, never consumed to its end
CREATE_ATTEMPTS = 20
CREATE_RETRY_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class GroupProgress:
    committed: int
    """Offsets committed on the source topic, summed over its partitions."""
    total: int
    """End offsets of the source topic, summed."""
    settled: bool
    """Source and repartition topics committed to their ends."""


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create `topic`, waiting out the moment a new topic is not yet described by the broker."""
    settings = Settings(kafka_bootstrap=bootstrap)
    for attempt in range(CREATE_ATTEMPTS):
        try:
            await ensure_topics(settings, [TopicSpec(topic, partitions, 1)])
            return
        except ConfigurationError:
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(CREATE_RETRY_SECONDS)


class OffsetProbe:
    """One admin client and one group-less consumer, kept open while a run is polled."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._partitions: dict[str, list[int]] = {}

    async def __aenter__(self) -> OffsetProbe:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.sleep(0)  # aiokafka's group-less consumer needs one turn before stop
        await self._consumer.stop()
        await self._admin.close()

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        try:
            offsets = await self._admin.list_consumer_group_offsets(group)
        except KafkaError:  # coordinator loading, or the group has not joined yet
            return {}
        return {tp: max(meta.offset, 0) for tp, meta in offsets.items()}

    async def ends(self, topic: str) -> dict[TopicPartition, int]:
        partitions = self._partitions.get(topic)
        if partitions is None:
            (described,) = await self._admin.describe_topics([topic])
            partitions = sorted(p["partition"] for p in described["partitions"])
            if partitions:
                self._partitions[topic] = partitions
        found: dict[TopicPartition, int] = await self._consumer.end_offsets(
            [TopicPartition(topic, p) for p in partitions]
        )
        return found

    async def progress(self, group: str, topic: str) -> GroupProgress:
        committed = await self.committed(group)
        ends = await self.ends(topic)
        done = sum(committed.get(tp, 0) for tp in ends)
        total = sum(ends.values())
        settled = done >= total
        if settled:
            # Faust names its repartition topics after the agent, not the group, and Quix
            # names changelogs after the group: what counts is what the group commits.
            others = {tp.topic for tp in committed} - {topic}
            for other in sorted(t for t in others if LEADER_TOPIC_MARK not in t):
                other_ends = await self.ends(other)
                if any(committed.get(tp, 0) < end for tp, end in other_ends.items()):
                    settled = False
                    break
        return GroupProgress(committed=done, total=total, settled=settled)
