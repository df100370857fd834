"""Process counters of the fold: events folded, duplicates ignored, events too late, compactions."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class FoldMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.folded = Counter(
            "dealpulse_fold_events",
            "Accepted events that changed a deal's state (new distinct event_ids).",
            registry=registry,
        )
        self.duplicates = Counter(
            "dealpulse_fold_duplicates",
            "Accepted events whose event_id the deal already had: ignored.",
            registry=registry,
        )
        self.too_late = Counter(
            "dealpulse_fold_too_late",
            "Events older than every window's retention: they change no window.",
            registry=registry,
        )
        self.compacted = Counter(
            "dealpulse_fold_compactions",
            "Deal states shrunk to a snapshot (all events beyond the retention, or deleted), "
            "when written or by the sweep.",
            registry=registry,
        )
