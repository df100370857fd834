"""The fold adapter: per-deal history in a Faust table, one aggregate of the owned partitions.

Only the per-deal history is changelogged; the aggregates are a view of it,
rebuilt from the recovered table whenever partitions are assigned and dropped
when they are revoked. One aggregate holds every owned partition (a key
appears once, not once per partition holding a deal that contributes to it:
half the entries at full scale, docs/performance.md); the worker exports its
partitions' sum anyway, and a revocation clears it all — aiokafka revokes the
whole assignment at every rebalance, and the rebuild follows at recovery.

A replayed event (at-least-once redelivery after a crash) finds its `event_id`
already in the history and changes no number, so nothing is ever counted twice.
An event too late for the retention changes nothing either (rule R, `streams.domain.compaction`).

State stays bounded: a deal beyond the retention horizon (or deleted) is
compacted to a snapshot of its fold, when it is written and by a sweep over the
table (`compact_some`), which the ingest agent runs for the partition of the
message it is processing, because Faust writes a table row to the changelog
partition of the current event.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import Outcome, admit, compact, is_compactable_encoded
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey, contributions
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory, encode_event
from streams.domain.windows import Granularity
from streams.worker.fold_metrics import FoldMetrics

log = logging.getLogger(__name__)

PARTITION_FIELD = "partition"
HISTORY_FIELD = "history"
EVENTS_FIELD = "events"

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
    cutoffs: Mapping[Granularity, date]
    """The retention cutoffs `contributions` were computed with."""


class DealFold:
    """The `EventSink` of the worker: folds events into state and keeps aggregates exact."""

    def __init__(
        self,
        table: MutableMapping[str, Any],
        contexts: Contexts,
        metrics: FoldMetrics,
        cache_deals: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._contexts = contexts
        self._metrics = metrics
        self._aggregates = Aggregates()
        self._owned: set[int] = set()
        self._deals: dict[int, int] = {}
        self._cache: OrderedDict[str, _Folded] = OrderedDict()
        self._cache_deals = cache_deals
        self._monotonic = monotonic
        self._sweep: Iterator[tuple[str, Any]] | None = None
        self._pending: dict[int, dict[str, None]] = {}
        self._last_compaction: dict[int, float] = {}
        self._changes: set[ContributionKey] | None = None
        self._epoch = 0
        self._pruned_at: Mapping[Granularity, date] | None = None
        self._stale = False

    def accept(self, event: DealEvent, partition: int) -> None:
        ctx = self._contexts.current()
        known = self._cache.pop(event.deal_id, None) or self._load(event.deal_id, ctx)
        old = known.history if known else DealHistory.empty(event.deal_id)
        admission = admit(old, event, ctx)
        if admission.outcome is not Outcome.FOLDED:
            # Written again on purpose: after a kill -9 the local RocksDB can hold a
            # state whose changelog message was never sent. The redelivered event is
            # a duplicate here (or too late, if the state holds it compacted into a
            # tombstone), and this write is what puts that state in the changelog.
            if known is not None:
                self._remember(event.deal_id, self._write_again(known, partition, ctx))
            if admission.outcome is Outcome.DUPLICATE:
                self._metrics.duplicates.inc()
            else:
                self._metrics.too_late.inc()  # and nothing else: rule R
            return
        new = compact(admission.history, ctx)  # a deleted deal shrinks to a tombstone
        if new is not admission.history:
            self._metrics.compacted.inc()
        encoded = _encode(new, known, event) if new is admission.history else new.to_dict()
        stored = {PARTITION_FIELD: partition, HISTORY_FIELD: encoded}
        self._table[event.deal_id] = stored
        if known is None:
            self._deals[partition] = self._deals.get(partition, 0) + 1
        folded = _Folded(stored, new, _contributions(new, ctx), ctx.cutoffs)
        old_contributions = known.contributions if known else {}
        if known is not None and known.cutoffs != ctx.cutoffs:
            self._stale = True  # retracts windows the retention may have dropped
        self._owned.add(partition)
        self._aggregates.apply(old_contributions, folded.contributions, self._changes)
        self._remember(event.deal_id, folded)
        self._metrics.folded.inc()

    def _write_again(self, known: _Folded, partition: int, ctx: MetricContext) -> _Folded:
        """Write a deal's state again, compacted if it can be now."""
        compacted = compact(known.history, ctx)
        if compacted is known.history:
            self._table[known.history.deal_id] = known.stored
            return known
        # Same contributions for this context and later ones: the aggregates keep them.
        self._metrics.compacted.inc()
        stored = {PARTITION_FIELD: partition, HISTORY_FIELD: compacted.to_dict()}
        self._table[known.history.deal_id] = stored
        return _Folded(stored, compacted, known.contributions, known.cutoffs)

    def _load(self, deal_id: str, ctx: MetricContext) -> _Folded | None:
        stored = self._table.get(deal_id)
        if not stored:
            return None
        history = DealHistory.from_dict(stored[HISTORY_FIELD])
        return _Folded(stored, history, _contributions(history, ctx), ctx.cutoffs)

    def _remember(self, deal_id: str, folded: _Folded) -> None:
        if self._cache_deals <= 0:
            return
        self._cache[deal_id] = folded
        if len(self._cache) > self._cache_deals:
            self._cache.popitem(last=False)

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

        Faust writes a table row to the changelog partition of the event being
        processed, so this must run while an event of `partition` is. One sweep
        walks the table (every owned partition: Faust iterates the local stores)
        with a cursor that resumes where the last call stopped, reading at most
        `COMPACT_SCAN` rows per call; the compactable deals it finds wait, per
        partition, for a call with their partition.
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
            if partition not in self._owned:
                continue  # not (or no longer) owned here
            pending = self._pending.setdefault(partition, {})
            if len(pending) < COMPACT_PENDING and is_compactable_encoded(
                stored[HISTORY_FIELD], ctx
            ):
                pending[deal_id] = None

    def _compact(self, deal_id: str, partition: int, ctx: MetricContext) -> bool:
        """Compact one deal of `partition` if it (still) can be."""
        cached = self._cache.get(deal_id)
        stored: dict[str, Any] | None = cached.stored if cached else self._table.get(deal_id)
        if not stored or stored.get(PARTITION_FIELD) != partition:
            return False
        history = cached.history if cached else DealHistory.from_dict(stored[HISTORY_FIELD])
        compacted = compact(history, ctx)
        if compacted is history:
            return False
        written = {PARTITION_FIELD: partition, HISTORY_FIELD: compacted.to_dict()}
        self._table[deal_id] = written
        self._metrics.compacted.inc()
        if cached is not None:  # kept in place: a compaction is no reason to keep a deal
            self._cache[deal_id] = _Folded(written, compacted, cached.contributions, cached.cutoffs)
        return True

    def _reset_compaction(self) -> None:
        """Forget the sweep: after a rebalance its cursor may hold a store that closed."""
        self._sweep = None
        self._pending.clear()

    def rebuild(self, partitions: Iterable[int], stored_deals: Iterable[Any]) -> None:
        """Aggregates of `partitions` recomputed from the recovered deal states."""
        owned = set(partitions)
        deals = dict.fromkeys(owned, 0)
        self._aggregates = _summed(owned, stored_deals, self._contexts.current(), deals)
        self._owned = owned
        self._deals = deals
        self._rebuilt()
        self._cache.clear()  # recovery may have changed any deal of these partitions
        self._reset_compaction()
        log.info("aggregates rebuilt", extra={"deals_by_partition": deals})

    def recompute(self, partitions: Iterable[int], stored_deals: Iterable[Any]) -> Aggregates:
        """Aggregates recomputed from the table, without touching the live ones (a check)."""
        ctx = self._contexts.current()
        fresh = _summed(set(partitions), stored_deals, ctx, {})
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
        kept = self._owned - set(partitions)
        self.rebuild(kept, stored_deals(kept) if kept else ())
        log.info("aggregates dropped", extra={"partitions": sorted(partitions)})

    def deal_counts(self) -> dict[int, int]:
        """Deals in state per owned partition."""
        return dict(self._deals)

    @property
    def partitions(self) -> list[int]:
        return sorted(self._owned)

    def snapshot(self, ctx: MetricContext) -> dict[ContributionKey, Any]:
        """The sum over owned partitions, pruned to the retention of `ctx`."""
        return self.aggregates(ctx).snapshot()

    def aggregates(self, ctx: MetricContext) -> Aggregates:
        """The owned partitions' aggregates, pruned to the retention of `ctx` (not a copy).

        Pruned again only when the cutoffs moved or a deal retracted contributions
        computed with older ones: pruning walks every key.
        """
        if self._stale or self._pruned_at != ctx.cutoffs:
            self._aggregates.prune(ctx, self._changes)
            self._pruned_at = ctx.cutoffs
            self._stale = False
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
        changes = self._changes if self._changes is not None else set()
        self._changes = set()
        return changes

    def value(self, key: ContributionKey) -> Decimal | None:
        """The sum of `key` over the owned partitions (as last pruned); None when zero."""
        return self._aggregates.get(key)

    def _rebuilt(self) -> None:
        self._epoch += 1
        self._pruned_at = None
        self._stale = False


def _summed(
    owned: set[int], stored_deals: Iterable[Any], ctx: MetricContext, deals: dict[int, int]
) -> Aggregates:
    """The contributions of the stored deals of `owned` partitions, summed; each
    partition's deals counted into `deals`."""
    total = Aggregates()
    for stored in stored_deals:
        partition = stored[PARTITION_FIELD]
        if partition in owned:
            total.add(_contributions(DealHistory.from_dict(stored[HISTORY_FIELD]), ctx))
            deals[partition] = deals.get(partition, 0) + 1
    return total


def _contributions(history: DealHistory, ctx: MetricContext) -> dict[ContributionKey, Any]:
    if history.is_empty:
        return {}
    return contributions(fold(history), ctx)


def _encode(new: DealHistory, known: _Folded | None, added: DealEvent) -> dict[str, Any]:
    """`new.to_dict()`, re-using the encoded events the table already holds."""
    if known is None or len(new) != len(known.history) + 1:
        return new.to_dict()  # an event replaced by its canonical twin: rare, encode all
    encoded = known.stored[HISTORY_FIELD][EVENTS_FIELD]  # after the snapshot, if any
    index = new.events.index(added)
    return {
        **known.stored[HISTORY_FIELD],
        EVENTS_FIELD: [*encoded[:index], encode_event(added), *encoded[index:]],
    }
