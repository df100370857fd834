"""Running a webhook bridge: Kafka made ready, one producer, the HTTP server, until stopped.

What the HubSpot and Pipedrive bridges share; each brings its `WebhookSource`
(authentication and mapping) and its port.
"""

from __future__ import annotations

from streams.bridges.process.http_server import WebhookSource, serve_until_stopped, webhook_app
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import BridgeOutput, bridge_producer, prepare_kafka
from streams.ingest.ingestor import size_limits
from streams.settings import Settings


async def run_webhook_bridge(
    settings: Settings, source: WebhookSource, source_name: str, port: int
) -> None:
    """Serve `source`'s webhooks on `port` until SIGINT or SIGTERM; its events go to the
    events topic, what it cannot map to the bridge dead-letter topic, cut to the ingest's
    size limits."""
    await prepare_kafka(settings)
    metrics = BridgeMetrics(source_name)
    producer = bridge_producer(settings)
    await producer.start()
    try:
        output = BridgeOutput(
            producer,
            events_topic=settings.topic_events,
            dlq_topic=settings.topic_bridge_dlq,
            metrics=metrics,
            letter_limits=size_limits(settings),
        )
        app = webhook_app(source, output, metrics, max_body_bytes=settings.bridge_max_body_bytes)
        await serve_until_stopped(app, settings.bridge_host, port)
    finally:
        await producer.stop()
