"""The fold adapter: per-deal history in a Faust table, aggregates per owned partition.

Only the per-deal history is changelogged; the aggregates are a view of it,
rebuilt from the recovered table whenever partitions are assigned and dropped
when they are revoked. A replayed event (at-least-once redelivery after a
crash) finds its `event_id` already in the history and changes no number, so
nothing is ever counted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import Any

from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext, is_too_late
from streams.domain.contributions import ContributionKey, contributions
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.metric_context import ContextSource
from streams.worker.fold_metrics import FoldMetrics

log = logging.getLogger(__name__)

PARTITION_FIELD = "partition"
HISTORY_FIELD = "history"


class DealFold:
    """The `EventSink` of the worker: folds events into state and keeps aggregates exact."""

    def __init__(
        self,
        table: MutableMapping[str, Any],
        contexts: ContextSource,
        metrics: FoldMetrics,
    ) -> None:
        self._table = table
        self._contexts = contexts
        self._metrics = metrics
        self._aggregates: dict[int, Aggregates] = {}
        self._deals: dict[int, int] = {}

    def accept(self, event: DealEvent, partition: int) -> None:
        stored = self._table.get(event.deal_id)
        old = (
            DealHistory.from_dict(stored[HISTORY_FIELD])
            if stored
            else DealHistory.empty(event.deal_id)
        )
        new = old.add(event)
        if new == old:
            # Written again on purpose: after a kill -9 the local RocksDB can hold a
            # state whose changelog message was never sent. The redelivered event is
            # a duplicate here, and this write is what puts that state in the changelog.
            self._table[event.deal_id] = stored
            self._metrics.duplicates.inc()
            return
        ctx = self._contexts.current()
        if is_too_late(event, ctx):
            self._metrics.too_late.inc()
        self._table[event.deal_id] = {PARTITION_FIELD: partition, HISTORY_FIELD: new.to_dict()}
        if not stored:
            self._deals[partition] = self._deals.get(partition, 0) + 1
        self._partition(partition).apply(_contributions(old, ctx), _contributions(new, ctx))
        self._metrics.folded.inc()

    def rebuild(self, partitions: Iterable[int], stored_deals: Iterable[Any]) -> None:
        """Aggregates of `partitions` recomputed from the recovered deal states."""
        owned = set(partitions)
        ctx = self._contexts.current()
        rebuilt = {partition: Aggregates() for partition in owned}
        deals = dict.fromkeys(owned, 0)
        for stored in stored_deals:
            partition = stored[PARTITION_FIELD]
            if partition in owned:
                history = DealHistory.from_dict(stored[HISTORY_FIELD])
                rebuilt[partition].add(_contributions(history, ctx))
                deals[partition] += 1
        self._aggregates = rebuilt
        self._deals = deals
        log.info("aggregates rebuilt", extra={"deals_by_partition": deals})

    def recompute(
        self, partitions: Iterable[int], stored_deals: Iterable[Any]
    ) -> dict[int, Aggregates]:
        """Aggregates recomputed from the table, without touching the live ones (a check)."""
        owned = set(partitions)
        ctx = self._contexts.current()
        fresh = {partition: Aggregates() for partition in owned}
        for stored in stored_deals:
            if stored[PARTITION_FIELD] in owned:
                history = DealHistory.from_dict(stored[HISTORY_FIELD])
                fresh[stored[PARTITION_FIELD]].add(_contributions(history, ctx))
        for aggregates in fresh.values():
            aggregates.prune(ctx)
        return fresh

    def drop(self, partitions: Iterable[int]) -> None:
        dropped = [p for p in partitions if self._aggregates.pop(p, None) is not None]
        for partition in dropped:
            self._deals.pop(partition, None)
        log.info("aggregates dropped", extra={"partitions": dropped})

    def deal_counts(self) -> dict[int, int]:
        """Deals in state per owned partition."""
        return {p: count for p, count in self._deals.items() if p in self._aggregates}

    @property
    def partitions(self) -> list[int]:
        return sorted(self._aggregates)

    def snapshot(self, ctx: MetricContext) -> dict[ContributionKey, Any]:
        """The sum over owned partitions, pruned to the retention of `ctx`."""
        return Aggregates.sum(self.partition_snapshots(ctx).values()).snapshot()

    def partition_snapshots(self, ctx: MetricContext) -> dict[int, Aggregates]:
        """Each owned partition's aggregates, pruned to the retention of `ctx`."""
        for aggregates in self._aggregates.values():
            aggregates.prune(ctx)
        return dict(self._aggregates)

    def _partition(self, partition: int) -> Aggregates:
        aggregates = self._aggregates.get(partition)
        if aggregates is None:
            aggregates = self._aggregates[partition] = Aggregates()
        return aggregates


def _contributions(history: DealHistory, ctx: MetricContext) -> dict[ContributionKey, Any]:
    if not len(history):
        return {}
    return contributions(fold(history), ctx)
