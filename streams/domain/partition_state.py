"""`PartitionState`: one partition's deals and what they contribute — the one step.

Every driver applies events through `PartitionState.apply`: the worker (one per
owned partition), `dealpulse replay` (one over a dict) and the property tests.
An event is admitted under rule R (`streams.domain.compaction.admit`): a new
distinct event changes its deal's history, a duplicate or a too-late event
changes nothing. `apply` only touches the deal's history; `settle` then writes
every deal changed since the last settle to the store and applies each one's
*new - old* contributions to the aggregates, once per deal however many of its
events came in between. The worker settles after every message today; a
batching driver settles once per checkpoint, and replay once at the end.

The store maps a deal id to its stored record (`StoredDeal`, the deal codec
below): a dict in tests, the worker's RocksDB-backed table. A batch that
settles once (`dealpulse replay`, `compute`) passes no store: every deal then
stays in memory and no record is encoded.

Several partitions may share one `Aggregates` (the worker holds one for every
partition it owns: a key is then held once, not once per partition).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import Outcome, admit, compact
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey, contributions
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory, encode_event
from streams.domain.windows import Granularity

StoredDeal = dict[str, Any]
"""A deal as its store holds it: `{"partition": p, "history": DealHistory.to_dict()}`."""
DealStore = MutableMapping[str, StoredDeal]

PARTITION_FIELD = "partition"
HISTORY_FIELD = "history"
EVENTS_FIELD = "events"


def encode_deal(history: DealHistory, partition: int) -> StoredDeal:
    """The stored record of a deal of `partition` (the history's versioned form)."""
    return {PARTITION_FIELD: partition, HISTORY_FIELD: history.to_dict()}


def decode_deal(stored: Mapping[str, Any]) -> DealHistory:
    """The history of a stored record (any version `DealHistory.from_dict` reads)."""
    return DealHistory.from_dict(stored[HISTORY_FIELD])


def deal_contributions(history: DealHistory, ctx: MetricContext) -> dict[ContributionKey, Any]:
    """What one deal adds to every metric under `ctx` (nothing for a deal without state)."""
    if history.is_empty:
        return {}
    return contributions(fold(history), ctx)


@dataclass(slots=True)
class _Deal:
    """A deal held in memory: its history, its record as stored, what it contributes.

    `contributed` is what the aggregates hold for the deal, computed with
    `cutoffs`; retracting it under later cutoffs is exact once the aggregates
    are pruned (see `Aggregates.prune`). `stored` is None until the deal is
    written at the next settle.
    """

    history: DealHistory
    stored: StoredDeal | None
    """The record last written (None for a new deal): `_encode` re-uses its encoded events."""
    contributed: dict[ContributionKey, Decimal] | None
    """None for a deal held without them (a batch): recomputed if the deal changes again."""
    cutoffs: Mapping[Granularity, date]
    changed: bool = False
    """The history changed since the last settle: contributions to recompute."""
    added: list[DealEvent] | None = None
    """The events added to the stored record's since, in arrival order; None when one
    replaced a twin (an id reused): the record is then encoded whole."""


class PartitionState:
    """The deals of one partition in a store, and their share of the aggregates."""

    def __init__(
        self,
        store: DealStore | None,
        partition: int = 0,
        *,
        aggregates: Aggregates | None = None,
        cache_deals: int = 0,
    ) -> None:
        self.store = store
        self.partition = partition
        self.aggregates = Aggregates() if aggregates is None else aggregates
        self.deals = 0
        """Deals with a stored record (known when built by `restored`, or from empty)."""
        self.stale = False
        """True once contributions computed under other retention cutoffs were retracted:
        the aggregates must be pruned before they are read."""
        self._cache_deals = cache_deals
        self._held: OrderedDict[str, _Deal] = OrderedDict()  # least recently used first
        self._unsettled: dict[str, _Deal] = {}
        self._written: dict[str, None] = {}

    @classmethod
    def restored(
        cls,
        store: DealStore,
        partition: int,
        stored_deals: Iterable[Mapping[str, Any]],
        ctx: MetricContext,
        *,
        aggregates: Aggregates | None = None,
        cache_deals: int = 0,
    ) -> PartitionState:
        """The state of `partition` whose records `stored_deals` are: their contributions summed
        into `aggregates` (records of other partitions are skipped)."""
        state = cls(store, partition, aggregates=aggregates, cache_deals=cache_deals)
        for stored in stored_deals:
            if stored[PARTITION_FIELD] == partition:
                state.restore(stored, ctx)
        return state

    def restore(self, stored: Mapping[str, Any], ctx: MetricContext) -> None:
        """Count a recovered record of this partition in: its contributions join the aggregates."""
        self.aggregates.add(deal_contributions(decode_deal(stored), ctx))
        self.deals += 1

    # --- the step ---------------------------------------------------------------

    def apply(self, event: DealEvent, ctx: MetricContext) -> Outcome:
        """Admit `event` into its deal (rule R); the aggregates follow at `settle`.

        A duplicate or too-late event still has its deal written again at the
        next settle: after a crash the store can hold a state its changelog
        never received, and the redelivered event is what puts it there.
        """
        deal = self._unsettled.get(event.deal_id) or self._load(event.deal_id, ctx)
        history = DealHistory.empty(event.deal_id) if deal is None else deal.history
        admission = admit(history, event, ctx)
        if admission.outcome is Outcome.FOLDED:
            if deal is None:
                deal = _Deal(admission.history, None, {}, ctx.cutoffs)
                self.deals += 1
            elif not deal.changed:
                deal.added = [] if event.event_id not in history else None
            elif deal.added is not None and event.event_id in history:
                deal.added = None
            if deal.added is not None:
                deal.added.append(event)
            deal.history = admission.history
            deal.changed = True
        elif deal is None:
            return admission.outcome
        self._unsettled[event.deal_id] = deal
        return admission.outcome

    def settle(self, ctx: MetricContext) -> int:
        """Write the deals changed since the last settle and bring the aggregates up to date;
        the number of deals compacted on the way (a deleted deal shrinks to a tombstone)."""
        compacted = 0
        for deal_id, deal in self._unsettled.items():
            history = compact(deal.history, ctx)
            if history is not deal.history:
                compacted += 1
            if deal.changed:
                fresh = deal_contributions(history, ctx)
                if deal.cutoffs != ctx.cutoffs:
                    self.stale = True
                assert deal.contributed is not None  # recomputed when the deal was loaded
                self.aggregates.apply(deal.contributed, fresh)
                deal.contributed, deal.cutoffs, deal.changed = fresh, ctx.cutoffs, False
                if self.store is not None:
                    deal.stored = self._encode(history, deal)
            elif history is not deal.history and self.store is not None:
                deal.stored = encode_deal(history, self.partition)
            deal.history = history
            if self.store is None:  # a batch: every deal stays in memory, no record is kept
                deal.contributed = None  # a batch rarely changes a deal again: not kept
                self._held[deal_id] = deal
                continue
            assert deal.stored is not None  # a new deal is a changed one
            self.store[deal_id] = deal.stored
            self._written[deal_id] = None
            self._hold(deal_id, deal)
        self._unsettled.clear()
        return compacted

    def compact(self, deal_id: str, ctx: MetricContext) -> bool:
        """Shrink one settled deal to its snapshot if it can be now; whether it was.

        The contributions do not change, for this context and later ones.
        """
        if deal_id in self._unsettled or self.store is None:
            return False
        deal = self._held.get(deal_id)
        stored = deal.stored if deal is not None else self.store.get(deal_id)
        if not stored or stored[PARTITION_FIELD] != self.partition:
            return False
        history = deal.history if deal is not None else decode_deal(stored)
        compacted = compact(history, ctx)
        if compacted is history:
            return False
        written = encode_deal(compacted, self.partition)
        self.store[deal_id] = written
        self._written[deal_id] = None
        if deal is not None:
            deal.history, deal.stored = compacted, written
        return True

    # --- what changed -------------------------------------------------------------

    def take_written(self) -> list[str]:
        """The deals written to the store since the last call, each once."""
        written = list(self._written)
        self._written.clear()
        return written

    # --- holding deals in memory ----------------------------------------------------

    def _load(self, deal_id: str, ctx: MetricContext) -> _Deal | None:
        held = self._held.pop(deal_id, None)
        if held is not None and held.contributed is None:
            held.contributed, held.cutoffs = deal_contributions(held.history, ctx), ctx.cutoffs
        if held is not None or self.store is None:
            return held
        stored = self.store.get(deal_id)
        if not stored:
            return None
        history = decode_deal(stored)
        return _Deal(history, stored, deal_contributions(history, ctx), ctx.cutoffs)

    def _hold(self, deal_id: str, deal: _Deal) -> None:
        if self._cache_deals <= 0:
            return
        self._held[deal_id] = deal
        self._held.move_to_end(deal_id)
        if len(self._held) > self._cache_deals:
            self._held.popitem(last=False)

    def _encode(self, history: DealHistory, deal: _Deal) -> StoredDeal:
        """`encode_deal`, re-using the encoded events of the record last stored if it can."""
        previous, added = deal.stored, deal.added
        if previous is None or history.base is not None or added is None or len(added) != 1:
            return encode_deal(history, self.partition)
        before: list[Any] = previous[HISTORY_FIELD][EVENTS_FIELD]
        index = history.events.index(added[0])
        events = [*before[:index], encode_event(added[0]), *before[index:]]
        return {
            PARTITION_FIELD: self.partition,
            HISTORY_FIELD: {**previous[HISTORY_FIELD], EVENTS_FIELD: events},
        }


def prune_shared(
    aggregates: Aggregates,
    states: Iterable[PartitionState],
    pruned_at: Mapping[Granularity, date] | None,
    ctx: MetricContext,
) -> Mapping[Granularity, date]:
    """Prune the aggregates `states` share to `ctx` when it is due; the cutoffs pruned to.

    Due when the cutoffs moved since `pruned_at`, or a state retracted contributions
    computed with older ones (`stale`): pruning walks every key, so not otherwise.
    """
    stale = [state for state in states if state.stale]
    if stale or pruned_at != ctx.cutoffs:
        aggregates.prune(ctx)
        for state in stale:
            state.stale = False
    return ctx.cutoffs
