"""The Kafka → Kafka bridges' loop: a batch's events and dead letters produced and
acknowledged before its offsets are committed, whatever the mapper."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.process.kafka_bridge import Polling, bridge_batch, bridge_batches
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import BridgeOutput
from streams.bridges.refusal import Refusal, RefusalReason
from streams.ingest.dead_letter import DETAIL_HEADER, ORIGIN_HEADER, REASON_HEADER
from streams.ingest.ingestor import size_limits
from streams.settings import Settings
from tests.support.bridges import BatchesConsumer, LoopStoppedError, RecordingSender, consumed

TOPIC = "source.changes"
POLLING = Polling(batch_records=10, poll_seconds=0.01)
FIRST, SECOND = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


def map_value(value: bytes) -> tuple[CanonicalEvent, ...] | Refusal:
    """`deal:type` to one event of that deal; anything else refused."""
    deal_id, colon, kind = value.decode().partition(":")
    if not colon:
        return Refusal(RefusalReason.MALFORMED, f"no type in {value!r}")
    return (CanonicalEvent(deal_id, {"type": kind, "event_id": value.decode()}),)


class Bridge:
    def __init__(self, *, fail: bool = False) -> None:
        self.sender = RecordingSender(fail=fail)
        self.metrics = BridgeMetrics("test", CollectorRegistry())
        self.output = BridgeOutput(
            self.sender,
            events_topic="events",
            dlq_topic="dlq",
            metrics=self.metrics,
            letter_limits=size_limits(Settings()),
        )

    def run(self, consumer: BatchesConsumer) -> None:
        async def until_no_batch_is_left() -> None:
            stopping = asyncio.get_running_loop().create_future()
            with pytest.raises(LoopStoppedError):
                await bridge_batches(consumer, self.output, map_value, POLLING, stopping)

        asyncio.run(until_no_batch_is_left())

    def count(self, name: str, labels: Mapping[str, str]) -> float | None:
        return self.metrics.registry.get_sample_value(name, {"source": "test", **labels})


def batch(
    partition: TopicPartition, first_offset: int, *values: bytes | None
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    records = [
        consumed(TOPIC, first_offset + i, value, key=b"k", partition=partition.partition)
        for i, value in enumerate(values)
    ]
    return {partition: records}


def test_a_batch_is_produced_then_committed_at_the_offsets_after_it() -> None:
    bridge = Bridge()
    consumer = BatchesConsumer(
        [
            {**batch(FIRST, 5, b"d1:deal.created", None), **batch(SECOND, 9, b"d2:deal.won")},
            {},  # a poll that found nothing commits nothing
        ]
    )
    bridge.run(consumer)
    assert [key for key, _, _ in bridge.sender.on("events")] == [b"d1", b"d2"]
    assert consumer.commits == [{FIRST: 7, SECOND: 10}]
    assert bridge.count("dealpulse_bridge_events_total", {"type": "deal.won"}) == 1


def test_a_refused_record_is_a_dead_letter_saying_where_it_came_from() -> None:
    bridge = Bridge()
    bridge.run(BatchesConsumer([batch(SECOND, 41, b"garbage", b"d1:deal.created")]))
    [(key, value, headers)] = bridge.sender.on("dlq")
    assert (key, value) == (b"k", b"garbage")
    assert headers[REASON_HEADER] == b"malformed"
    assert headers[DETAIL_HEADER] == b"no type in b'garbage'"
    assert headers[ORIGIN_HEADER] == f"{TOPIC}/1/41".encode()
    assert headers["dealpulse.source"] == b"test"
    assert len(bridge.sender.on("events")) == 1
    assert bridge.count("dealpulse_bridge_refusals_total", {"reason": "malformed"}) == 1


def test_a_commit_refused_by_a_rebalance_does_not_stop_the_bridge() -> None:
    bridge = Bridge()
    consumer = BatchesConsumer(
        [batch(FIRST, 0, b"d1:deal.created"), batch(FIRST, 1, b"d1:deal.won")], rebalanced=True
    )
    bridge.run(consumer)  # went on to the next polls, until the batches ran out
    assert len(consumer.commits) == 2
    assert len(bridge.sender.on("events")) == 2


def test_a_batch_kafka_does_not_acknowledge_is_not_committed() -> None:
    bridge = Bridge(fail=True)
    consumer = BatchesConsumer([batch(FIRST, 0, b"d1:deal.created")])
    with pytest.raises(KafkaTimeoutError):
        asyncio.run(bridge_batch(consumer, bridge.output, map_value, POLLING))
    assert consumer.commits == []
    assert bridge.count("dealpulse_bridge_events_total", {"type": "deal.created"}) is None


def test_a_stopped_bridge_polls_no_more() -> None:
    bridge = Bridge()
    consumer = BatchesConsumer([batch(FIRST, 0, b"d1:deal.created")])

    async def stopped_at_once() -> None:
        stopping = asyncio.get_running_loop().create_future()
        stopping.set_result(None)
        await bridge_batches(consumer, bridge.output, map_value, POLLING, stopping)

    asyncio.run(stopped_at_once())
    assert len(consumer.batches) == 1
