"""`dealpulse bridge salesforce`: Kafka → Kafka, OpportunityChangeEvents to canonical events.

Consumes the topic the Kafka Connect Salesforce CDC source writes (JSON) with the
shared `kafka_bridge` loop, mapping each record with the pure
`streams.bridges.salesforce`; GAP_* and overflow events are dead letters
(`unreplayable`). The event ids are Salesforce's own, so a redelivered record is
counted once by the workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.mapping_file import SourceMapping
from streams.bridges.process.kafka_bridge import KafkaBridge, run_kafka_bridge
from streams.bridges.refusal import Refusal
from streams.bridges.salesforce import map_salesforce
from streams.bridges.source_values import decode_source
from streams.settings import Settings

SOURCE = "salesforce"


def map_change_event(value: bytes, mapping: SourceMapping) -> Sequence[CanonicalEvent] | Refusal:
    """A record of the Connect source's topic to its events, or why it has none."""
    change_event = decode_source(value)
    if isinstance(change_event, Refusal):
        return change_event
    return map_salesforce(change_event, mapping)


def salesforce_bridge(settings: Settings, mapping: SourceMapping) -> KafkaBridge:
    return KafkaBridge(
        source=SOURCE,
        topic=settings.salesforce_topic,
        group_id=settings.salesforce_group_id,
        metrics_port=settings.bridge_salesforce_port,
        map_value=partial(map_change_event, mapping=mapping),
    )


async def run_salesforce_bridge(settings: Settings, mapping: SourceMapping) -> None:
    """Bridge the Salesforce topic until SIGINT or SIGTERM."""
    await run_kafka_bridge(settings, salesforce_bridge(settings, mapping))
