"""Process counters of ingest: true counters, so they are `inc()`-ed as messages pass.

They count what *this process* consumed since it started; Prometheus' `rate()`
copes with restarts. Business numbers are never counted this way: they are
computed from state at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from streams.ingest.rejection import Reason

ACCEPTED = "accepted"
REJECTED = "rejected"


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "dealpulse_ingest_messages",
            "Messages consumed from the event topic, by outcome (accepted or rejected).",
            ["outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "dealpulse_ingest_rejected",
            "Messages sent to the dead-letter topic, by machine-readable reason.",
            ["reason"],
            registry=registry,
        )
        self.dead_letter_failures = Counter(
            "dealpulse_ingest_dead_letter_failures",
            "Rejected messages whose dead-letter write failed and was retried.",
            registry=registry,
        )
        for outcome in (ACCEPTED, REJECTED):
            self.messages.labels(outcome)
        for reason in Reason:
            self.rejected.labels(reason.value)

    def record_accepted(self) -> None:
        self.messages.labels(ACCEPTED).inc()

    def record_rejected(self, reason: Reason) -> None:
        self.messages.labels(REJECTED).inc()
        self.rejected.labels(reason.value).inc()
