"""One Debezium record in, the records the bridge writes out: canonical events or a dead letter.

Kafka-free so that it is tested without a broker. The mapping itself is
`streams.bridges.debezium`; this adds what a record needs around it: decoding,
skipping the tombstone that follows every delete, and a last check of every
canonical event with the worker's own `Ingestor`, so that the bridge never
writes an event a worker would dead-letter (such an event is the bridge's dead
letter instead, with the worker's reason).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.bridges.debezium import map_debezium
from streams.bridges.mapping_file import SourceMapping
from streams.bridges.refusal import Refusal
from streams.bridges.source_values import decode_source
from streams.ingest.dead_letter import refused_copy
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import Headers, RawMessage
from streams.ingest.rejection import Rejection

REJECTED_PREFIX = "rejected_by_ingest:"
"""A mapped event the worker's ingest refuses is dead-lettered with this before its reason."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record the bridge produces: to the events topic (`dead_letter` False) or its DLQ."""

    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    dead_letter: bool = False


@dataclass(slots=True)
class BridgeCounts:
    """What the bridge has done since it started, for its log lines."""

    records: int = 0
    events: int = 0
    tombstones: int = 0
    refusals: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        refused = ", ".join(f"{reason} {count}" for reason, count in sorted(self.refusals.items()))
        return (
            f"{self.records} change events, {self.events} canonical events, "
            f"{self.tombstones} tombstones skipped, refused: {refused or 'none'}"
        )


class DebeziumTranslator:
    def __init__(self, mapping: SourceMapping, ingestor: Ingestor) -> None:
        self._mapping = mapping
        self._ingestor = ingestor
        self.counts = BridgeCounts()

    def translate(self, message: RawMessage) -> list[Outgoing]:
        """The records to produce for `message`, in order; none for a tombstone."""
        self.counts.records += 1
        if message.value is None:
            self.counts.tombstones += 1
            return []
        document = decode_source(message.value)
        outcome = (
            document if isinstance(document, Refusal) else map_debezium(document, self._mapping)
        )
        if isinstance(outcome, Refusal):
            return [self._dead_letter(message, outcome.reason.value, outcome.detail)]
        produced = [Outgoing(event.key, event.encode()) for event in outcome]
        for event, record in zip(outcome, produced, strict=True):
            checked = self._ingestor.ingest(RawMessage(key=record.key, value=record.value))
            if isinstance(checked, Rejection):
                reason = REJECTED_PREFIX + checked.reason.value
                return [self._dead_letter(message, reason, f"{event.event_id}: {checked.detail}")]
        self.counts.events += len(produced)
        return produced

    def _dead_letter(self, message: RawMessage, reason: str, detail: str) -> Outgoing:
        """The record as it came, cut to the ingest limits as a worker's dead letter is."""
        self.counts.refusals[reason] += 1
        letter = refused_copy(message, reason, detail, self._ingestor.limits)
        return Outgoing(letter.key, letter.value, letter.headers, dead_letter=True)
