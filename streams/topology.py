"""The whole data flow in one place: topics, the deal table, agents and web pages.

Topic names come from the settings (operators may rename them); agent and table
names are constants because Faust derives changelog topic names from them and
those must never drift between releases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.domain.snapshot_codec import encode_snapshot
from streams.ingest.ingestor import Ingestor
from streams.metric_context import ContextSource, settings_clock
from streams.settings import Settings
from streams.worker.app import build_app
from streams.worker.deal_fold import DealFold
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.ingest_agent import IngestHandler
from streams.worker.ingest_metrics import IngestMetrics

INGEST_AGENT = "dealpulse.ingest"
DEALS_TABLE = "deals"  # changelog topic: <app_id>-deals-changelog
METRICS_PATH = "/metrics"
STATE_PATH = "/state/aggregates"


@dataclass(frozen=True)
class Topology:
    app: faust.App
    registry: CollectorRegistry
    fold: DealFold


def build_topology(settings: Settings) -> Topology:
    app = build_app(settings)
    registry = CollectorRegistry()
    clock = settings_clock(settings)
    contexts = ContextSource(settings, clock)

    raw_bytes: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    events_topic = app.topic(
        settings.topic_events, partitions=settings.topic_partitions, **raw_bytes
    )
    dead_letter_topic = app.topic(
        settings.topic_dlq, partitions=settings.topic_partitions, **raw_bytes
    )
    deals = app.Table(
        DEALS_TABLE,
        partitions=settings.topic_partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )
    deal_fold = DealFold(deals, contexts, FoldMetrics(registry))
    handler = IngestHandler(
        Ingestor(settings, clock), deal_fold, dead_letter_topic, IngestMetrics(registry)
    )

    def owned_partitions() -> set[int]:
        return {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == settings.topic_events
        }

    @app.agent(events_topic, name=INGEST_AGENT)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event.message)

    @deals.on_recover
    async def rebuild_aggregates() -> None:
        deal_fold.rebuild(owned_partitions(), deals.values())

    @app.on_partitions_revoked.connect
    async def drop_aggregates(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (revoked,) = args  # mode signals pass the payload positionally
        deal_fold.drop(tp.partition for tp in revoked if tp.topic == settings.topic_events)

    @app.page(METRICS_PATH)
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page(STATE_PATH)
    async def aggregates(web: Any, request: Any) -> Any:
        ctx = contexts.current()
        body = {
            "now": ctx.now.isoformat(),
            "partitions": deal_fold.partitions,
            "rows": encode_snapshot(deal_fold.snapshot(ctx)),
        }
        return web.bytes(json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    return Topology(app=app, registry=registry, fold=deal_fold)
