"""The consumer group's committed offsets, asked of the broker when the offset guard needs them.

Only consulted when a message arrives past a gap (rare), so one admin client,
started on first use, is enough.
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings


class GroupOffsets:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None

    async def of(self, topic: str, partition: int) -> int | None:
        """The group's committed offset of one partition; None if unknown or unreachable."""
        tp = TopicPartition(topic, partition)
        try:
            admin = await self._client()
            offsets = await admin.list_consumer_group_offsets(
                self._settings.app_id, partitions=[tp]
            )
        except (KafkaError, OSError):
            return None
        committed = offsets.get(tp)
        return committed.offset if committed is not None and committed.offset >= 0 else None

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._settings.bootstrap_servers,
                **self._settings.kafka_client_options(),
            )
            await admin.start()
            self._admin = admin
        return self._admin
