"""The fold adapter: per-deal history in a Faust table, aggregates per owned partition.

Only the per-deal history is changelogged; the aggregates are a view of it,
rebuilt from the recovered table whenever partitions are assigned and dropped
when they are revoked. A replayed event (at-least-once redelivery after a
crash) finds its `event_id` already in the history and changes no number, so
nothing is ever counted twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext, is_too_late
from streams.domain.contributions import ContributionKey, contributions
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory, encode_event
from streams.worker.fold_metrics import FoldMetrics

log = logging.getLogger(__name__)

PARTITION_FIELD = "partition"
HISTORY_FIELD = "history"
EVENTS_FIELD = "events"


class Contexts(Protocol):
    """Where the fold gets the current `MetricContext` (`streams.metric_context.ContextSource`)."""

    def current(self) -> MetricContext: ...


@dataclass(slots=True)
class _Folded:
    """A deal as last folded here: what the table holds, and what it contributes.

    Kept for recently folded deals so the next event of a deal neither decodes
    its stored history nor recomputes the contributions it is about to retract.
    Contributions computed with an older context are fine to retract: the
    aggregates are pruned to the current context before every export (see
    `Aggregates.prune`).
    """

    stored: dict[str, Any]
    history: DealHistory
    contributions: dict[ContributionKey, Decimal]


class DealFold:
    """The `EventSink` of the worker: folds events into state and keeps aggregates exact."""

    def __init__(
        self,
        table: MutableMapping[str, Any],
        contexts: Contexts,
        metrics: FoldMetrics,
        cache_deals: int = 0,
    ) -> None:
        self._table = table
        self._contexts = contexts
        self._metrics = metrics
        self._aggregates: dict[int, Aggregates] = {}
        self._deals: dict[int, int] = {}
        self._cache: OrderedDict[str, _Folded] = OrderedDict()
        self._cache_deals = cache_deals

    def accept(self, event: DealEvent, partition: int) -> None:
        ctx = self._contexts.current()
        known = self._cache.pop(event.deal_id, None) or self._load(event.deal_id, ctx)
        old = known.history if known else DealHistory.empty(event.deal_id)
        new = old.add(event)
        if new is old:
            # Written again on purpose: after a kill -9 the local RocksDB can hold a
            # state whose changelog message was never sent. The redelivered event is
            # a duplicate here, and this write is what puts that state in the changelog.
            if known is not None:
                self._table[event.deal_id] = known.stored
                self._remember(event.deal_id, known)
            self._metrics.duplicates.inc()
            return
        if is_too_late(event, ctx):
            self._metrics.too_late.inc()
        stored = {PARTITION_FIELD: partition, HISTORY_FIELD: _encode(new, known, event)}
        self._table[event.deal_id] = stored
        if known is None:
            self._deals[partition] = self._deals.get(partition, 0) + 1
        folded = _Folded(stored, new, _contributions(new, ctx))
        old_contributions = known.contributions if known else {}
        self._partition(partition).apply(old_contributions, folded.contributions)
        self._remember(event.deal_id, folded)
        self._metrics.folded.inc()

    def _load(self, deal_id: str, ctx: MetricContext) -> _Folded | None:
        stored = self._table.get(deal_id)
        if not stored:
            return None
        history = DealHistory.from_dict(stored[HISTORY_FIELD])
        return _Folded(stored, history, _contributions(history, ctx))

    def _remember(self, deal_id: str, folded: _Folded) -> None:
        if self._cache_deals <= 0:
            return
        self._cache[deal_id] = folded
        if len(self._cache) > self._cache_deals:
            self._cache.popitem(last=False)

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
        self._cache.clear()  # recovery may have changed any deal of these partitions
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
        self._cache.clear()
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


def _encode(new: DealHistory, known: _Folded | None, added: DealEvent) -> dict[str, Any]:
    """`new.to_dict()`, re-using the encoded events the table already holds."""
    if known is None or len(new) != len(known.history) + 1:
        return new.to_dict()  # an event replaced by its canonical twin: rare, encode all
    encoded = known.stored[HISTORY_FIELD][EVENTS_FIELD]
    index = new.events.index(added)
    return {
        **known.stored[HISTORY_FIELD],
        EVENTS_FIELD: [*encoded[:index], encode_event(added), *encoded[index:]],
    }
