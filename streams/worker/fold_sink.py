"""Where accepted events go: the per-deal fold.

`EventSink` is the port the ingest agent hands events to. Until the fold of the
metrics issue lands, `CountingSink` stands in for it and counts what reaches it
(total and distinct `event_id`s), which is what the ingest tests check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.domain.events import DealEvent


class EventSink(Protocol):
    def accept(self, event: DealEvent, partition: int) -> None: ...


class CountingSink(Collector):
    def __init__(self) -> None:
        self.received = 0
        self._event_ids: set[str] = set()

    def accept(self, event: DealEvent, partition: int) -> None:
        self.received += 1
        self._event_ids.add(event.event_id)

    @property
    def distinct(self) -> int:
        return len(self._event_ids)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "dealpulse_fold_events",
            "Accepted events handed to the fold by this process (duplicates included).",
            value=self.received,
        )
        yield GaugeMetricFamily(
            "dealpulse_fold_distinct_events",
            "Distinct event_ids handed to the fold by this process.",
            value=self.distinct,
        )
