"""The port the exporter reads a worker's aggregates through (`DealEngine`, `InProcessWorker`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey


class AggregateView(Protocol):
    @property
    def partitions(self) -> list[int]:
        """The partitions whose deals the aggregates hold, sorted."""
        ...

    @property
    def epoch(self) -> int:
        """Changes whenever the aggregates are rebuilt rather than folded into."""
        ...

    def deal_counts(self) -> dict[int, int]: ...

    def aggregates(self, ctx: MetricContext) -> Aggregates:
        """The aggregates, pruned to the retention of `ctx` (not a copy)."""
        ...

    def take_changes(self) -> set[ContributionKey]:
        """The keys whose sum changed since the last call (the first call starts the journal)."""
        ...

    def value(self, key: ContributionKey) -> Decimal | None: ...
