"""`InProcessWorker`: `PartitionState`s over one deal table and one aggregate, without a broker.

The worker runs `streams.engine.DealEngine`; this driver folds events one at a
time into one mapping (a dict, or bytes as a store would keep them) for the
benchmarks of the fold and the scrape (`bench/fold_rate.py`,
`bench/scrape_cost.py`, `bench/state_size.py`) and the exporters' tests. It
settles after every event, keeps one aggregate of its partitions, and sweeps
its table for deals to compact (`compact_some`), as the engine's timer does
per store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import Outcome, is_compactable_encoded
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey
from streams.domain.events import DealEvent
from streams.domain.partition_state import (
    EVENTS_FIELD,
    HISTORY_FIELD,
    PARTITION_FIELD,
    DealStore,
    PartitionState,
    prune_shared,
)
from streams.domain.windows import Granularity
from streams.worker.fold_metrics import FoldMetrics

__all__ = ["EVENTS_FIELD", "HISTORY_FIELD", "PARTITION_FIELD", "InProcessWorker"]

log = logging.getLogger(__name__)

COMPACT_LIMIT = 50
"""Deals `compact_some` compacts per call, at most."""
COMPACT_SCAN = 20 * COMPACT_LIMIT
"""Table rows the compaction sweep reads per call, at most."""
COMPACT_PENDING = 4 * COMPACT_LIMIT
"""Compactable deals the sweep remembers per partition until that partition's next call."""
COMPACT_EVERY_SECONDS = 5.0
"""`compact_when_due` runs `compact_some` at most this often per partition."""


class Contexts(Protocol):
    """Where the fold gets the current `MetricContext` (`streams.metric_context.ContextSource`)."""

    def current(self) -> MetricContext: ...


class InProcessWorker:
    """The `EventSink` of the worker: each owned partition's `PartitionState` over the table,
    sharing one aggregate."""

    def __init__(
        self,
        table: DealStore,
        contexts: Contexts,
        metrics: FoldMetrics,
        cache_deals: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._contexts = contexts
        self._metrics = metrics
        self._aggregates = Aggregates()
        self._states: dict[int, PartitionState] = {}
        self._cache_deals = cache_deals
        self._monotonic = monotonic
        self._sweep: Iterator[tuple[str, Any]] | None = None
        self._pending: dict[int, dict[str, None]] = {}
        self._last_compaction: dict[int, float] = {}
        self._epoch = 0
        self._pruned_at: Mapping[Granularity, date] | None = None

    def accept(self, event: DealEvent, partition: int) -> None:
        ctx = self._contexts.current()
        state = self._states.get(partition) or self._start(partition)
        outcome = state.apply(event, ctx)
        compacted = state.settle(ctx)
        state.take_written()  # the table writes its own changelog
        if compacted:
            self._metrics.compacted.inc(compacted)
        if outcome is Outcome.FOLDED:
            self._metrics.folded.inc()
        elif outcome is Outcome.DUPLICATE:
            self._metrics.duplicates.inc()
        elif outcome is Outcome.TOO_LATE:
            self._metrics.too_late.inc()  # and nothing else: rule R

    def _start(self, partition: int) -> PartitionState:
        """A partition first written to without a rebuild (its deals: none yet)."""
        state = PartitionState(
            self._table, partition, aggregates=self._aggregates, cache_deals=self._cache_deals
        )
        self._states[partition] = state
        return state

    # --- compaction ---------------------------------------------------------------

    def compact_when_due(self, partition: int) -> int:
        """`compact_some(partition)` if the last call for it is `COMPACT_EVERY_SECONDS` ago.

        Call it while an event of `partition` is being processed (see `compact_some`).
        Never raises: compaction only saves space, so a failure is logged and the
        sweep starts over.
        """
        now = self._monotonic()
        last = self._last_compaction.get(partition)
        if last is not None and now - last < COMPACT_EVERY_SECONDS:
            return 0
        self._last_compaction[partition] = now
        try:
            return self.compact_some(partition)
        except Exception:  # compaction must not stop the partition: logged, and retried later
            log.exception("compaction failed", extra={"partition": partition})
            self._reset_compaction()
            return 0

    def compact_some(self, partition: int, limit: int = COMPACT_LIMIT) -> int:
        """Compact up to `limit` compactable deals of `partition`; how many were.

        One sweep walks the table (every partition) with a cursor that resumes
        where the last call stopped, reading at most `COMPACT_SCAN` rows per
        call; the compactable deals it finds wait, per partition, for a call
        with their partition.
        """
        ctx = self._contexts.current()
        self._advance_sweep(ctx)
        pending = self._pending.get(partition, {})
        compacted = 0
        while pending and compacted < limit:
            deal_id = next(iter(pending))
            del pending[deal_id]
            compacted += self._compact(deal_id, partition, ctx)
        return compacted

    def _advance_sweep(self, ctx: MetricContext) -> None:
        if self._sweep is None:
            self._sweep = iter(self._table.items())
        for _ in range(COMPACT_SCAN):
            try:
                deal_id, stored = next(self._sweep)
            except StopIteration:
                self._sweep = None  # the next call starts the next sweep
                return
            except RuntimeError:  # the table changed under the cursor: start over
                log.debug("compaction sweep restarted")
                self._sweep = None
                return
            partition = stored.get(PARTITION_FIELD)
            if partition not in self._states:
                continue  # not (or no longer) owned here
            pending = self._pending.setdefault(partition, {})
            if len(pending) < COMPACT_PENDING and is_compactable_encoded(
                stored[HISTORY_FIELD], ctx
            ):
                pending[deal_id] = None

    def _compact(self, deal_id: str, partition: int, ctx: MetricContext) -> bool:
        """Compact one deal of `partition` if it (still) can be."""
        state = self._states.get(partition)
        if state is None or not state.compact(deal_id, ctx):
            return False
        state.take_written()
        self._metrics.compacted.inc()
        return True

    def _reset_compaction(self) -> None:
        """Forget the sweep: after a rebalance its cursor may hold a store that closed."""
        self._sweep = None
        self._pending.clear()

    def rebuild(self, partitions: Iterable[int], stored_deals: Iterable[Any]) -> None:
        """Aggregates of `partitions` recomputed from the recovered deal states."""
        ctx = self._contexts.current()
        self._aggregates = Aggregates()
        self._states = {
            partition: PartitionState(
                self._table, partition, aggregates=self._aggregates, cache_deals=self._cache_deals
            )
            for partition in partitions
        }
        for stored in stored_deals:
            state = self._states.get(stored[PARTITION_FIELD])
            if state is not None:
                state.restore(stored, ctx)
        self._epoch += 1
        self._pruned_at = None
        self._reset_compaction()
        log.info("aggregates rebuilt", extra={"deals_by_partition": self.deal_counts()})

    def recompute(self, partitions: Iterable[int], stored_deals: Iterable[Any]) -> Aggregates:
        """Aggregates recomputed from the table, without touching the live ones (a check)."""
        ctx = self._contexts.current()
        fresh = Aggregates()
        states = {p: PartitionState({}, p, aggregates=fresh) for p in partitions}
        for stored in stored_deals:
            state = states.get(stored[PARTITION_FIELD])
            if state is not None:
                state.restore(stored, ctx)
        fresh.prune(ctx)
        return fresh

    def drop(
        self,
        partitions: Collection[int],
        stored_deals: Callable[[set[int]], Iterable[Any]],
    ) -> None:
        """Forget the aggregates of `partitions`, revoked.

        They share one aggregate with the partitions kept, so it is cleared, and
        those kept (none in the worker: aiokafka's rebalances revoke the whole
        assignment) are rebuilt from `stored_deals(kept)`.
        """
        kept = set(self._states) - set(partitions)
        self.rebuild(kept, stored_deals(kept) if kept else ())
        log.info("aggregates dropped", extra={"partitions": sorted(partitions)})

    def deal_counts(self) -> dict[int, int]:
        """Deals in state per owned partition."""
        return {partition: state.deals for partition, state in self._states.items()}

    @property
    def partitions(self) -> list[int]:
        return sorted(self._states)

    def values(self, ctx: MetricContext) -> dict[ContributionKey, Any]:
        """The sum over owned partitions, pruned to the retention of `ctx`."""
        return self.aggregates(ctx).as_dict()

    def aggregates(self, ctx: MetricContext) -> Aggregates:
        """The owned partitions' aggregates, pruned to the retention of `ctx` (not a copy).

        Pruned again only when the cutoffs moved: pruning walks every key.
        """
        self._pruned_at = prune_shared(self._aggregates, self._pruned_at, ctx)
        return self._aggregates

    # --- what changed, for an export kept up to date (`ExportCache`) ---------------

    @property
    def epoch(self) -> int:
        """Changes whenever the aggregates are rebuilt or dropped rather than folded into."""
        return self._epoch

    def take_changes(self) -> set[ContributionKey]:
        """The keys whose sum changed since the last call (the first call starts the journal).

        Only folds and prunes are noted; a rebuild or drop changes `epoch` instead.
        """
        return self._aggregates.take_changes()

    def value(self, key: ContributionKey) -> Decimal | None:
        """The sum of `key` over the owned partitions (as last pruned); None when zero."""
        return self._aggregates.get(key)

    def _rebuilt(self) -> None:
        self._epoch += 1
        self._pruned_at = None
        self._stale = False
