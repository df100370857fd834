"""A bridge's own counters, on its own registry, served on its own /metrics.

Names are declared here once; docs/crm-bridges.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, generate_latest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.refusal import RefusalReason

EVENTS = "dealpulse_bridge_events"
REFUSALS = "dealpulse_bridge_refusals"
REQUESTS = "dealpulse_bridge_requests"


class BridgeMetrics:
    """What one bridge process produced, refused and answered."""

    def __init__(self, source: str, registry: CollectorRegistry | None = None) -> None:
        self.source = source
        self.registry = registry or CollectorRegistry()
        self._events = Counter(
            EVENTS,
            "Canonical events the bridge produced, acknowledged by Kafka, by type.",
            ["source", "type"],
            registry=self.registry,
        )
        self._refusals = Counter(
            REFUSALS,
            "Source events the bridge dead-lettered, acknowledged by Kafka, by reason.",
            ["source", "reason"],
            registry=self.registry,
        )
        self._requests = Counter(
            REQUESTS,
            "Webhook requests the bridge answered, by HTTP status.",
            ["source", "status"],
            registry=self.registry,
        )

    def produced(self, events: Iterable[CanonicalEvent]) -> None:
        for event in events:
            self._events.labels(self.source, str(event.payload["type"])).inc()

    def refused(self, reasons: Iterable[RefusalReason]) -> None:
        for reason in reasons:
            self._refusals.labels(self.source, reason.value).inc()

    def answered(self, status: int) -> None:
        self._requests.labels(self.source, str(status)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
