"""Engine health on /metrics: how much flows, how late, how far behind, who owns what.

Delays and rebalances are process observations (histograms and counters);
lag, ownership and state size are read at scrape time from the worker's own
bookkeeping, so they never describe a partition the worker no longer owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.exposition.aggregate_view import AggregateView

EVENT_DELAY_BUCKETS_SECONDS = (1, 5, 15, 60, 300, 900, 3600, 14_400, 86_400, 604_800, 2_592_000)
KAFKA_DELAY_BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

LagSource = Callable[[], dict[int, int]]

NEWEST_EVENT_TIMESTAMP = "dealpulse_newest_event_timestamp_seconds"
"""Per owned partition (label `partition`): `dealpulse top` reads the newest of them."""


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry, partitions_total: int) -> None:
        self.event_delay = Histogram(
            "dealpulse_event_delay_seconds",
            "Seconds from an event's occurred_at (event time) to its fold, wall clock.",
            buckets=EVENT_DELAY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.kafka_delay = Histogram(
            "dealpulse_kafka_delay_seconds",
            "Seconds from the Kafka message timestamp to the event's fold.",
            buckets=KAFKA_DELAY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.rebalances = Counter(
            "dealpulse_rebalances", "Partition assignments this worker received.", registry=registry
        )
        self.scrape_duration = Gauge(
            "dealpulse_scrape_duration_seconds",
            "Seconds the previous /metrics scrape of this worker took to build.",
            registry=registry,
        )
        self.newest_event = Gauge(
            NEWEST_EVENT_TIMESTAMP,
            "Unix time of the newest event time folded, per owned partition.",
            ["partition"],
            registry=registry,
        )
        self.restatements = Counter(
            "dealpulse_restatements",
            "Times this worker recomputed its aggregates from the stored deals because the "
            "pipeline configuration or the rates loaded on the control plane changed.",
            registry=registry,
        )
        self.restatement_duration = Gauge(
            "dealpulse_restatement_duration_seconds",
            "Seconds the last restatement took (no batch is folded meanwhile).",
            registry=registry,
        )
        self.settings_refused = Gauge(
            "dealpulse_loaded_settings_refused",
            "1 while this worker cannot apply the pipelines or rates loaded on the control "
            "plane (rates for another reporting currency, or without a currency a stored deal "
            "is in): it computes under the settings it had, and logged why.",
            registry=registry,
        )
        self._newest: dict[int, float] = {}
        self._faulted: set[int] = set()
        self.faulted = Gauge(
            "dealpulse_partition_faulted",
            "1 while the partition is stopped by a fault of ours: its store cannot write (a "
            "full disk, an I/O error; retried) or a bug (until a fixed release). It holds its "
            "numbers as they were; /health says why.",
            ["partition"],
            registry=registry,
        )
        Gauge(
            "dealpulse_partitions_total",
            "Partitions of the event topic (the number every worker together must own).",
            registry=registry,
        ).set(partitions_total)

    def restated(self, seconds: float) -> None:
        self.restatements.inc()
        self.restatement_duration.set(seconds)

    def observe_fold(
        self, partition: int, occurred_at: datetime, kafka_timestamp_seconds: float, now: datetime
    ) -> None:
        self.event_delay.observe(max((now - occurred_at).total_seconds(), 0.0))
        self.kafka_delay.observe(max(now.timestamp() - kafka_timestamp_seconds, 0.0))
        seconds = occurred_at.timestamp()
        if seconds > self._newest.get(partition, float("-inf")):
            self._newest[partition] = seconds
            self.newest_event.labels(str(partition)).set(seconds)

    def forget_partitions(self, partitions: list[int]) -> None:
        for partition in partitions:
            if self._newest.pop(partition, None) is not None:
                self.newest_event.remove(str(partition))
            self.mark_faulted(partition, faulted=False)

    def mark_faulted(self, partition: int, *, faulted: bool) -> None:
        if faulted:
            self._faulted.add(partition)
            self.faulted.labels(str(partition)).set(1)
        elif partition in self._faulted:
            self._faulted.discard(partition)
            self.faulted.remove(str(partition))


class EngineCollector(Collector):
    """Ownership, state size and lag, read at scrape time."""

    def __init__(self, fold: AggregateView, lag: LagSource) -> None:
        self._fold = fold
        self._lag = lag

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "dealpulse_partitions_owned",
            "Partitions of the event topic this worker owns and exports.",
            value=len(self._fold.partitions),
        )
        yield GaugeMetricFamily(
            "dealpulse_state_deals",
            "Deals kept in the state of this worker's owned partitions.",
            value=sum(self._fold.deal_counts().values()),
        )
        lag = GaugeMetricFamily(
            "dealpulse_consumer_lag",
            "Messages of the partition not yet folded here (high watermark - next offset).",
            labels=["partition"],
        )
        for partition, behind in sorted(self._lag().items()):
            lag.add_metric([str(partition)], behind)
        yield lag
