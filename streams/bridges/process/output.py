"""Where a bridge's results go: canonical events to the events topic, refusals to the
bridge's dead-letter topic, each counted once Kafka has acknowledged it.

A dead letter's copy is cut to the ingest size limits (`within_limits`, as a
worker cuts its own), saying so in `dealpulse.truncated`: a source event near
Kafka's 1 MB limit, with the headers added, would be refused by the producer,
and the same request or record would fail for ever.

`deliver` returns only after every record is acknowledged (the producer has
`acks=all` and idempotence on), and raises `KafkaError` otherwise: a webhook is
then answered 503 and the CRM delivers it again; a Kafka → Kafka bridge does
not commit the offset. Redelivery is harmless: the event ids are the source's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.refusal import Refusal
from streams.ingest.dead_letter import (
    DETAIL_HEADER,
    MAX_DETAIL_BYTES,
    ORIGIN_HEADER,
    REASON_HEADER,
    within_limits,
)
from streams.ingest.decode import SizeLimits
from streams.ingest.message import RawMessage
from streams.kafka.availability import wait_for_kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

SOURCE_HEADER = "dealpulse.source"


@dataclass(frozen=True, slots=True)
class Letter:
    """A source event refused: its bytes as they came, and why; `origin` is the
    `topic/partition/offset` it was consumed from (a Kafka → Kafka bridge's)."""

    value: bytes
    refusal: Refusal
    key: bytes | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Translation:
    """What a request or a batch of records maps to: events to produce, source events
    to dead-letter."""

    events: Sequence[CanonicalEvent]
    letters: Sequence[Letter]


class Sender(Protocol):
    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]: ...


async def prepare_kafka(settings: Settings) -> None:
    """Wait for Kafka, then create the events topic and the bridge DLQ if missing (with
    DEALPULSE_TOPIC_PARTITIONS partitions; one that exists with another count is refused,
    as the worker refuses it)."""
    await wait_for_kafka(settings)
    partitions, replicas = settings.topic_partitions, settings.topic_replication_factor
    await ensure_topics(
        settings,
        [
            TopicSpec(settings.topic_events, partitions, replicas),
            TopicSpec(settings.topic_bridge_dlq, partitions, replicas),
        ],
    )


def bridge_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer whose acknowledgment means the record is on every in-sync replica."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **settings.kafka_client_options(),
    )


class BridgeOutput:
    def __init__(
        self,
        sender: Sender,
        *,
        events_topic: str,
        dlq_topic: str,
        metrics: BridgeMetrics,
        letter_limits: SizeLimits,
    ) -> None:
        self._sender = sender
        self._letter_limits = letter_limits
        self._events_topic = events_topic
        self._dlq_topic = dlq_topic
        self._metrics = metrics

    async def deliver(self, events: Sequence[CanonicalEvent], letters: Sequence[Letter]) -> None:
        """Produce both and wait for Kafka to acknowledge every record."""
        pending = [
            await self._sender.send(self._events_topic, event.encode(), key=event.key)
            for event in events
        ]
        pending += [await self._send_letter(letter) for letter in letters]
        await asyncio.gather(*pending)
        self._metrics.produced(events)
        self._metrics.refused(letter.refusal.reason for letter in letters)

    async def _send_letter(self, letter: Letter) -> Awaitable[Any]:
        cut, said = within_limits(RawMessage(letter.key, letter.value), self._letter_limits)
        detail = letter.refusal.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]
        headers = [
            (REASON_HEADER, letter.refusal.reason.value.encode()),
            (DETAIL_HEADER, detail),
            (SOURCE_HEADER, self._metrics.source.encode()),
            *said,
        ]
        if letter.origin is not None:
            headers.append((ORIGIN_HEADER, letter.origin.encode("utf-8", "replace")))
        return await self._sender.send(self._dlq_topic, cut.value, key=cut.key, headers=headers)
