"""`dealpulse bridge debezium`: Debezium's crm_lead topic in, canonical events out.

The shared Kafka → Kafka loop (`streams.bridges.process.kafka_bridge`) over the
topic Debezium writes the lead changes to, in the bridge's own consumer group,
each record translated by `DebeziumTranslator`; its counters on /metrics at
`DEALPULSE_BRIDGE_DEBEZIUM_PORT`. The event ids come from the LSN, so a batch
re-read after a crash re-produces the same bytes, which the workers de-duplicate.
"""

from __future__ import annotations

import asyncio

from streams.bridges.mapping_file import load_mapping
from streams.bridges.process.kafka_bridge import KafkaBridge, run_kafka_bridge
from streams.cdc.translator import DebeziumTranslator
from streams.ingest.ingestor import Ingestor
from streams.metric_context import settings_clock
from streams.settings import Settings

SOURCE = "debezium"


def run_debezium_bridge(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; the batch in flight is finished and committed first."""
    asyncio.run(run_kafka_bridge(settings, debezium_bridge(settings)))


def debezium_bridge(settings: Settings) -> KafkaBridge:
    return KafkaBridge(
        source=SOURCE,
        topic=settings.debezium_topic,
        group_id=settings.debezium_group_id,
        metrics_port=settings.bridge_debezium_port,
        map_value=bridge_translator(settings).map_value,
    )


def bridge_translator(settings: Settings) -> DebeziumTranslator:
    """The translator with the worker's ingest checks, but for currencies: which ones a
    worker accepts is its own (rates loaded with `dealpulse rates load` included)."""
    ingestor = Ingestor(settings, clock=settings_clock(settings), check_currencies=False)
    return DebeziumTranslator(load_mapping(settings.debezium_mapping_file), ingestor)
