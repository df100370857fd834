"""Reading the log directly, outside the consumer group: missed offsets and committed positions.

Used rarely (after a rebalance, and when the offset guard finds a gap), so one
group-less consumer and one admin client, started on first use, are enough.
Failures are retried with a growing pause: the partition waits rather than
folding past events it could not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings

log = logging.getLogger(__name__)

FETCH_TIMEOUT_MS = 1_000
RETRY_PAUSE_SECONDS = 0.5
RETRY_PAUSE_MAX_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class LogMessage:
    """A record read outside Faust, shaped like the Faust message the ingest handler takes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: float  # seconds, like faust's Message.timestamp


class PartitionReader:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()  # the agent and a timer share one consumer

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[LogMessage]:
        """Every record of `topic`/`partition` with `start <= offset < end`."""
        pause = RETRY_PAUSE_SECONDS
        while True:
            try:
                async with self._lock:
                    return await self._read(TopicPartition(topic, partition), start, end)
            except (KafkaError, OSError) as error:
                log.warning(
                    "reading missed offsets failed; retrying",
                    extra={"topic": topic, "partition": partition, "error": repr(error)},
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_PAUSE_MAX_SECONDS)

    async def starts(self, topic: str, partitions: Iterable[int]) -> dict[int, int | None]:
        """Where the group resumes each partition: its committed offset, else the log start."""
        tps = [TopicPartition(topic, partition) for partition in partitions]
        if not tps:
            return {}
        try:
            async with self._lock:
                admin = await self._admin_client()
                committed = await admin.list_consumer_group_offsets(
                    self._settings.app_id, partitions=tps
                )
                consumer = await self._consumer_client()
                beginnings = await consumer.beginning_offsets(tps)
        except (KafkaError, OSError) as error:
            log.warning("committed offsets unknown", extra={"error": repr(error)})
            return dict.fromkeys((tp.partition for tp in tps), None)
        starts: dict[int, int | None] = {}
        for tp in tps:
            meta = committed.get(tp)
            known = meta is not None and meta.offset >= 0
            starts[tp.partition] = meta.offset if meta is not None and known else beginnings[tp]
        return starts

    async def _read(self, tp: TopicPartition, start: int, end: int) -> list[LogMessage]:
        consumer = await self._consumer_client()
        consumer.assign([tp])
        consumer.seek(tp, start)
        records: list[LogMessage] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS)
            records.extend(
                LogMessage(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=tuple(record.headers),
                    timestamp=record.timestamp / 1000,
                )
                for record in batch.get(tp, [])
                if start <= record.offset < end
            )
        return records

    async def _consumer_client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                **self._settings.kafka_client_options(),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._settings.bootstrap_servers,
                **self._settings.kafka_client_options(),
            )
            await admin.start()
            self._admin = admin
        return self._admin
