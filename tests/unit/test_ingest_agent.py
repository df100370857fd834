"""The ingest agent's body with a fake dead-letter topic: nothing it meets stops it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from streams.domain.events import DealEvent
from streams.worker import ingest_agent
from streams.worker.ingest_agent import IngestHandler
from streams.worker.ingest_metrics import IngestMetrics
from tests.support.ingest import make_ingestor

GOOD = {
    "event_id": "e-1",
    "schema_version": 1,
    "type": "deal.lost",
    "occurred_at": "2026-11-01T10:00:00Z",
    "deal_id": "deal-1",
    "reason": "price",
}


@dataclass
class Message:
    value: bytes | None
    key: bytes | None = b"deal-1"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "events"
    partition: int = 2
    offset: int = 7


class FlakyTopic:
    """Fails the first `failures` sends, like a broker that is briefly unavailable."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> asyncio.Future[None]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        self.sent.append(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class RecordingSink:
    def __init__(self, explode: bool = False) -> None:
        self.events: list[tuple[DealEvent, int]] = []
        self.explode = explode

    def accept(self, event: DealEvent, partition: int) -> None:
        if self.explode:
            raise RuntimeError("bug in the fold")
        self.events.append((event, partition))


def run(handler: IngestHandler, *messages: Message) -> None:
    async def all_of_them() -> None:
        for message in messages:
            await handler.handle(message)

    asyncio.run(all_of_them())


def handler_with(sink: RecordingSink, topic: FlakyTopic) -> tuple[IngestHandler, CollectorRegistry]:
    registry = CollectorRegistry()
    return IngestHandler(make_ingestor(), sink, topic, IngestMetrics(registry)), registry


def test_good_goes_to_the_sink_bad_to_the_dead_letter_topic() -> None:
    sink, topic = RecordingSink(), FlakyTopic()
    handler, registry = handler_with(sink, topic)
    run(handler, Message(json.dumps(GOOD).encode()), Message(b"nope"))
    assert [(event.event_id, partition) for event, partition in sink.events] == [("e-1", 2)]
    assert len(topic.sent) == 1
    assert dict(topic.sent[0]["headers"])["dealpulse.reason"] == b"not_json"
    assert registry.get_sample_value("dealpulse_ingest_rejected_total", {"reason": "not_json"}) == 1


def test_a_bug_in_the_fold_becomes_an_internal_error_dead_letter() -> None:
    sink, topic = RecordingSink(explode=True), FlakyTopic()
    handler, registry = handler_with(sink, topic)
    run(handler, Message(json.dumps(GOOD).encode()))
    assert dict(topic.sent[0]["headers"])["dealpulse.reason"] == b"internal_error"
    assert (
        registry.get_sample_value("dealpulse_ingest_messages_total", {"outcome": "accepted"}) == 0
    )


def test_dead_letter_writes_are_retried(monkeypatch: Any) -> None:
    monkeypatch.setattr(ingest_agent, "DEAD_LETTER_BACKOFF_SECONDS", 0.0)
    sink, topic = RecordingSink(), FlakyTopic(failures=2)
    handler, registry = handler_with(sink, topic)
    run(handler, Message(b"nope"))
    assert len(topic.sent) == 1
    assert registry.get_sample_value("dealpulse_ingest_dead_letter_failures_total") == 2


def test_an_unwritable_dead_letter_topic_does_not_stop_the_agent(monkeypatch: Any) -> None:
    monkeypatch.setattr(ingest_agent, "DEAD_LETTER_BACKOFF_SECONDS", 0.0)
    sink, topic = RecordingSink(), FlakyTopic(failures=1000)
    handler, registry = handler_with(sink, topic)
    run(handler, Message(b"nope"), Message(json.dumps(GOOD).encode()))
    assert topic.sent == []
    assert len(sink.events) == 1
    assert registry.get_sample_value("dealpulse_ingest_rejected_total", {"reason": "not_json"}) == 1
