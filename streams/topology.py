"""The whole data flow in one place: topics, tables, agents and web pages.

Topic names come from the settings (operators may rename them); agent and table
names are constants because Faust derives changelog topic names from them and
those must never drift between releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.ingest.ingestor import Clock, Ingestor, utc_now
from streams.settings import Settings
from streams.worker.app import build_app
from streams.worker.fold_sink import CountingSink, EventSink
from streams.worker.ingest_agent import IngestHandler
from streams.worker.ingest_metrics import IngestMetrics

INGEST_AGENT = "dealpulse.ingest"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Topology:
    app: faust.App
    registry: CollectorRegistry
    sink: EventSink


def build_topology(settings: Settings, clock: Clock = utc_now) -> Topology:
    app = build_app(settings)
    registry = CollectorRegistry()
    sink = CountingSink()
    registry.register(sink)

    raw_bytes: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    events_topic = app.topic(
        settings.topic_events, partitions=settings.topic_partitions, **raw_bytes
    )
    dead_letter_topic = app.topic(
        settings.topic_dlq, partitions=settings.topic_partitions, **raw_bytes
    )
    handler = IngestHandler(
        Ingestor(settings, clock), sink, dead_letter_topic, IngestMetrics(registry)
    )

    @app.agent(events_topic, name=INGEST_AGENT)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event.message)

    @app.page(METRICS_PATH)
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return Topology(app=app, registry=registry, sink=sink)
