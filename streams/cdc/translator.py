"""One Debezium record's value to canonical events, or the refusal that dead-letters it.

Kafka-free so that it is tested without a broker; the shared Kafka → Kafka loop
(`streams.bridges.process.kafka_bridge`) runs it. The mapping itself is
`streams.bridges.debezium`; this adds decoding and a last check of every
canonical event with the worker's own `Ingestor`, so that the bridge never
writes an event a worker would dead-letter (the record is the bridge's dead
letter instead, `rejected_by_ingest`, the worker's reason first in the detail).
"""

from __future__ import annotations

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.debezium import map_debezium
from streams.bridges.mapping_file import SourceMapping
from streams.bridges.refusal import Refusal, RefusalReason
from streams.bridges.source_values import decode_source
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection


class DebeziumTranslator:
    def __init__(self, mapping: SourceMapping, ingestor: Ingestor) -> None:
        self._mapping = mapping
        self._ingestor = ingestor

    def map_value(self, value: bytes) -> tuple[CanonicalEvent, ...] | Refusal:
        """The events of a change event, in order, each one a worker accepts; or why not."""
        document = decode_source(value)
        if isinstance(document, Refusal):
            return document
        events = map_debezium(document, self._mapping)
        if isinstance(events, Refusal):
            return events
        for event in events:
            checked = self._ingestor.ingest(RawMessage(key=event.key, value=event.encode()))
            if isinstance(checked, Rejection):
                return Refusal(
                    RefusalReason.REJECTED_BY_INGEST,
                    f"{checked.reason.value}: {event.event_id}: {checked.detail}",
                )
        return events
