"""CloudEvents in binary and structured mode go through the real worker like plain events."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from streams.ingest.dead_letter import REASON_HEADER
from streams.kafka.topics import ensure_topics
from streams.simulator import OutboundMessage
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce, read_topic
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

EACH = 25


def canonical(index: int) -> dict[str, object]:
    return {
        "event_id": f"ce-{index}",
        "schema_version": 1,
        "type": "deal.created",
        "occurred_at": "2026-10-01T09:00:00Z",
        "deal_id": f"deal-{index}",
        "pipeline": "new-business",
        "stage": "lead",
        "owner": "seller-001",
        "amount": "1200.00",
        "currency": "EUR",
        "source": "/crm/test",
    }


def plain(index: int) -> OutboundMessage:
    event = canonical(index)
    return OutboundMessage(key=str(event["deal_id"]).encode(), value=json.dumps(event).encode())


def binary(index: int) -> OutboundMessage:
    event = canonical(index)
    attributes = {name: event.pop(name) for name in ("event_id", "type", "occurred_at", "source")}
    headers = (
        ("ce_specversion", b"1.0"),
        ("ce_id", str(attributes["event_id"]).encode()),
        ("ce_type", b"com.example.crm.deal.created"),
        ("ce_source", str(attributes["source"]).encode()),
        ("ce_time", str(attributes["occurred_at"]).encode()),
        ("content-type", b"application/json"),
    )
    return OutboundMessage(
        key=str(event["deal_id"]).encode(), value=json.dumps(event).encode(), headers=headers
    )


def structured(index: int) -> OutboundMessage:
    event = canonical(index)
    envelope = {
        "specversion": "1.0",
        "id": event.pop("event_id"),
        "type": event.pop("type"),
        "time": event.pop("occurred_at"),
        "source": event.pop("source"),
        "datacontenttype": "application/json",
        "data": event,
    }
    return OutboundMessage(
        key=str(event["deal_id"]).encode(),
        value=json.dumps(envelope).encode(),
        headers=(("content-type", b"application/cloudevents+json"),),
    )


MALFORMED = [
    OutboundMessage(key=b"deal-x", value=b"{}", headers=(("ce_specversion", b"1.0"),)),
    OutboundMessage(
        key=b"deal-x",
        value=b'{"specversion": "1.0", "type": "deal.won", "source": "/x", "data": {}}',
        headers=(("content-type", b"application/cloudevents+json"),),
    ),
    OutboundMessage(
        key=b"deal-x",
        value=b"{}",
        headers=(
            ("ce_specversion", b"1.0"),
            ("ce_id", b"1"),
            ("ce_type", b"deal.won"),
            ("ce_source", b"/x"),
            ("ce_time", b"last tuesday"),
        ),
    ),
]


def test_cloudevents_are_accepted_like_plain_events(flow: Flow) -> None:
    messages = (
        [plain(i) for i in range(EACH)]
        + [binary(i) for i in range(EACH, 2 * EACH)]
        + [structured(i) for i in range(2 * EACH, 3 * EACH)]
        + MALFORMED
    )
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    with WorkerProcess(flow.env(), flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=120,
            what="the worker to commit every offset",
        )
        samples = worker.scrape()
    assert samples['dealpulse_ingest_messages_total{outcome="accepted"}'] == 3 * EACH
    assert samples["dealpulse_fold_events_total"] == 3 * EACH
    letters = read_topic(flow.kafka.bootstrap, flow.dlq)
    assert Counter(dict(letter.headers)[REASON_HEADER] for letter in letters) == {
        b"bad_cloudevent": len(MALFORMED)
    }
