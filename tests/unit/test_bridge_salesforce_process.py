"""The Salesforce bridge's mapper in the shared Kafka → Kafka loop: records of the Connect
source's topic to events and dead letters, gaps dead-lettered with their reason and
counted once acknowledged."""

from __future__ import annotations

import asyncio
import hashlib
import json
from functools import partial

from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry

from streams.bridges.process.kafka_bridge import ValueMapper, translate_records
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import BridgeOutput
from streams.bridges.process.salesforce import map_change_event
from streams.bridges.refusal import RefusalReason
from streams.ingest.dead_letter import DIGEST_HEADER, REASON_HEADER, TRUNCATED_HEADER
from streams.ingest.ingestor import size_limits
from streams.settings import Settings
from tests.support.bridges import (
    RecordingSender,
    consumed,
    epoch_ms,
    opportunity_event,
    salesforce_mapping,
)

TOPIC = "salesforce.opportunity-changes"


def record(offset: int, value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return consumed(TOPIC, offset, value, key=b"006Hs00001AAAAAIA1")


def mapper() -> ValueMapper:
    return partial(map_change_event, mapping=salesforce_mapping())


def test_a_batch_maps_its_records_and_dead_letters_gaps_and_garbage() -> None:
    at = epoch_ms("2026-11-02T09:00:00")
    created = opportunity_event(
        "CREATE",
        ["006Hs00001AAAAAIA1"],
        at,
        "0001a2b3-c4d5",
        StageName="Prospecting",
        Amount=52000,
        OwnerId="005Hs00000AbCdEIAV",
        CloseDate="2026-12-31",
        IsClosed=False,
        IsWon=False,
    )
    gap = opportunity_event("GAP_UPDATE", ["006Hs00001AAAAAIA1"], at + 1000, "0001a2b3-c4d6")
    records = [
        record(0, json.dumps(created).encode()),
        record(1, json.dumps(gap).encode()),
        record(2, None),
        record(3, b"not json"),
    ]
    translation = translate_records(records, mapper())
    events, letters = translation.events, translation.letters
    assert [event.payload["type"] for event in events] == ["deal.created"]
    assert [letter.refusal.reason for letter in letters] == [
        RefusalReason.UNREPLAYABLE,
        RefusalReason.NOT_JSON,
    ]

    sender = RecordingSender()
    metrics = BridgeMetrics("salesforce", CollectorRegistry())
    output = BridgeOutput(
        sender,
        events_topic="events",
        dlq_topic="dlq",
        metrics=metrics,
        letter_limits=size_limits(Settings()),
    )
    asyncio.run(output.deliver(events, letters))
    assert [headers[REASON_HEADER] for _, _, headers in sender.on("dlq")] == [
        b"unreplayable",
        b"not_json",
    ]
    assert (
        metrics.registry.get_sample_value(
            "dealpulse_bridge_refusals_total", {"source": "salesforce", "reason": "unreplayable"}
        )
        == 1
    )


def test_a_record_near_kafkas_limit_is_dead_lettered_cut_to_the_ingest_limit() -> None:
    huge = b'{"ChangeEventHeader": "' + b"x" * 1_048_540 + b'"}'
    translation = translate_records([record(0, huge)], mapper())
    events, letters = translation.events, translation.letters
    assert not events
    sender = RecordingSender()
    metrics = BridgeMetrics("salesforce", CollectorRegistry())
    limits = size_limits(Settings())
    output = BridgeOutput(
        sender, events_topic="events", dlq_topic="dlq", metrics=metrics, letter_limits=limits
    )
    asyncio.run(output.deliver(events, letters))  # no MessageSizeTooLargeError
    [(key, value, headers)] = sender.on("dlq")
    assert value == huge[: limits.value_bytes]
    assert key == b"006Hs00001AAAAAIA1"
    assert headers[TRUNCATED_HEADER] == f"value {len(huge)}".encode()
    assert headers[DIGEST_HEADER] == hashlib.sha256(huge).hexdigest().encode()
    assert headers[REASON_HEADER] == b"malformed"
