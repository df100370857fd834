"""Builders for the bridge tests: source payloads written from the vendors' public
field lists, mapping files, and the checks every canonical output must pass."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaTimeoutError, MessageSizeTooLargeError

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.mapping_file import SourceMapping, parse_mapping
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.view import DealView
from streams.ingest.message import RawMessage
from tests.support.ingest import make_ingestor

PIPEDRIVE_TOML = """\
source = "pipedrive"
tenant = "acme"
lost_reason = "no reason given"

[pipelines]
1 = "new-business"
2 = "renewals"

[stages]
1 = "lead"
2 = "qualified"
3 = "proposal"
4 = "negotiation"
7 = "renewal-due"

[outcomes]
won = [5]
lost = [6]
"""

SALESFORCE_TOML = """\
source = "salesforce"
pipeline = "new-business"
currency = "USD"
lost_reason = "closed lost in Salesforce"

[stages]
Prospecting = "lead"
Qualification = "qualified"
"Proposal/Price Quote" = "proposal"
"Negotiation/Review" = "negotiation"
"""


def pipedrive_mapping() -> SourceMapping:
    return parse_mapping(PIPEDRIVE_TOML, where="pipedrive.toml")


def salesforce_mapping() -> SourceMapping:
    return parse_mapping(SALESFORCE_TOML, where="salesforce.toml")


# --- Pipedrive webhooks v2 ---------------------------------------------------------


def pipedrive_deal(**fields: Any) -> dict[str, Any]:
    """A deal as webhooks v2 `data` holds it; fields override an open deal in stage 1."""
    deal: dict[str, Any] = {
        "id": 4711,
        "title": "Acme renewal",
        "creator_user_id": 900,
        "owner_id": 900,
        "person_id": 31,
        "org_id": 12,
        "pipeline_id": 1,
        "stage_id": 1,
        "status": "open",
        "value": Decimal("12500.50"),
        "currency": "EUR",
        "probability": None,
        "lost_reason": None,
        "expected_close_date": "2026-12-31",
        "add_time": "2026-11-02T09:00:00Z",
        "update_time": "2026-11-02T09:00:00Z",
        "won_time": None,
        "lost_time": None,
        "custom_fields": {},
    }
    deal.update(fields)
    return deal


def pipedrive_webhook(
    action: str,
    delivery_id: str,
    timestamp: str,
    data: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None = None,
    *,
    entity: str = "deal",
    attempt: int = 1,
) -> dict[str, Any]:
    """A v2 webhook body (`meta`, `data`, `previous`), as the Guide for Webhooks v2 lists it."""
    entity_id = (data or previous or {}).get("id", 4711)
    return {
        "meta": {
            "action": action,
            "entity": entity,
            "company_id": "15747575",
            "correlation_id": "0b8f3a52-6c1e-4f7a-9d2b-1e5c7a9b3d40",
            "entity_id": str(entity_id),
            "id": delivery_id,
            "is_bulk_edit": False,
            "timestamp": timestamp,
            "type": "general",
            "user_id": "900",
            "version": "2.0",
            "webhook_id": "1872755",
            "webhook_owner_id": "900",
            "change_source": "app",
            "attempt": attempt,
            "host": "acme.pipedrive.com",
            "permitted_user_ids": ["900"],
        },
        "data": None if data is None else dict(data),
        "previous": None if previous is None else dict(previous),
    }


# --- Salesforce Change Data Capture ------------------------------------------------


def opportunity_event(
    change_type: str,
    record_ids: list[str],
    commit_timestamp_ms: int,
    transaction_key: str,
    sequence_number: int = 1,
    changed_fields: list[str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    """An `OpportunityChangeEvent` as JSON: the header, then the body fields."""
    return {
        "ChangeEventHeader": {
            "entityName": "Opportunity",
            "recordIds": record_ids,
            "changeType": change_type,
            "changeOrigin": "com/salesforce/api/rest/60.0",
            "transactionKey": transaction_key,
            "sequenceNumber": sequence_number,
            "commitTimestamp": commit_timestamp_ms,
            "commitNumber": 11853405432431,
            "commitUser": "005Hs00000AbCdEIAV",
            "changedFields": changed_fields or [],
            "nulledFields": [],
            "diffFields": [],
        },
        **body,
    }


def epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# --- what every output must pass ---------------------------------------------------


def ingested(events: Iterable[CanonicalEvent]) -> list[DealEvent]:
    """Each event through the worker's own ingest; fails the test on any rejection."""
    ingestor = make_ingestor()
    accepted: list[DealEvent] = []
    for event in events:
        outcome = ingestor.ingest(RawMessage(key=event.key, value=event.encode()))
        assert isinstance(outcome, DealEvent), (outcome, event.payload)
        accepted.append(outcome)
    return accepted


def deal_view(deal_id: str, events: Iterable[CanonicalEvent]) -> DealView:
    """The deal as the worker would fold these events, in whatever order they came."""
    return fold(DealHistory.of(deal_id, ingested(events)))


def summary(events: Iterable[CanonicalEvent]) -> list[tuple[str, dict[str, Any]]]:
    """Each event's type and its fields beyond the common ones, for table-driven checks."""
    common = {"event_id", "schema_version", "type", "occurred_at", "deal_id", "source", "tenant"}
    return [
        (
            str(event.payload["type"]),
            {field: value for field, value in event.payload.items() if field not in common},
        )
        for event in events
    ]


# --- a Kafka producer that records what a bridge sends ----------------------------


class RecordingSender:
    """Stands in for the bridge's producer: keeps each record; with `fail`, every
    acknowledgment fails as a broker that is gone makes it fail."""

    def __init__(self, *, fail: bool = False, max_request_bytes: int = 1_048_576) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, dict[str, bytes]]] = []
        self.fail = fail
        self.max_request_bytes = max_request_bytes
        """aiokafka's default `max_request_size`: `send` raises past it."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[None]:
        size = len(value or b"") + len(key or b"")
        size += sum(len(name) + len(content) for name, content in headers or [])
        if size > self.max_request_bytes:
            raise MessageSizeTooLargeError(f"{size} bytes")
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            acknowledged.set_exception(KafkaTimeoutError())
        else:
            self.records.append((topic, key, value, dict(headers or [])))
            acknowledged.set_result(None)
        return acknowledged

    def on(self, topic: str) -> list[tuple[bytes | None, bytes | None, dict[str, bytes]]]:
        return [
            (key, value, headers) for name, key, value, headers in self.records if name == topic
        ]


# --- Kafka → Kafka bridges ---------------------------------------------------------


def consumed(
    topic: str, offset: int, value: bytes | None, key: bytes | None = None, partition: int = 0
) -> ConsumerRecord[bytes, bytes]:
    """A record as a bridge's consumer hands it out."""
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=(),
    )


class BatchesConsumer:
    """Stands in for a bridge's consumer: hands out `batches` one by one, then raises
    `LoopStoppedError`; records each commit, refusing them all with `rebalanced`."""

    def __init__(
        self,
        batches: Iterable[Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]],
        *,
        rebalanced: bool = False,
    ) -> None:
        self.batches = [dict(batch) for batch in batches]
        self.rebalanced = rebalanced
        self.commits: list[dict[TopicPartition, int] | None] = []

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        if not self.batches:
            raise LoopStoppedError
        return self.batches.pop(0)

    async def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        self.commits.append(None if offsets is None else dict(offsets))
        if self.rebalanced:
            raise CommitFailedError("the group rebalanced")


class LoopStoppedError(Exception):
    """Ends a bridge loop in a test: its consumer has no more batches."""
