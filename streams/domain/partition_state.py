"""`PartitionState`: one partition's deals and what they contribute — the one step.

Every driver applies events through `PartitionState.apply`: the worker (one per
owned partition), `dealpulse replay` (one over a dict) and the property tests.
An event is admitted under rule R (`streams.domain.compaction.admit`): a new
distinct event changes its deal's history, a duplicate or a too-late event
changes nothing. `apply` touches the deal's history and, for an event in order,
its live replay (`streams.domain.live_deal`); `settle` then writes every deal
changed since the last settle to the store and applies each one's *new - old*
contributions to the aggregates, once per deal however many of its events came
in between: what the events in order appended and changed, or, after an event
out of order, an id reused or a deletion, the deal recomputed whole. The engine
settles after every batch it reads, `InProcessWorker` after every message, and replay
once at the end.

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
from typing import Any

import orjson

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import Outcome, admit, compact
from streams.domain.context import MetricContext
from streams.domain.contributions import (
    ContributionKey,
    ContributionSink,
    add_contributions,
    contributions,
)
from streams.domain.deal_record import encode_event
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.live_deal import LiveDeal
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


def history_bytes(history: DealHistory) -> int:
    """The bytes of a history's stored form, encoded: what `max_deal_bytes` bounds."""
    return len(orjson.dumps(history.to_dict()))


def grown_bytes(history: DealHistory, size: int, event: DealEvent) -> int:
    """`history_bytes` of `history` (of `size` bytes) once `event` joins it: one more
    encoded event in its list of events (and a comma), or one in place of its twin."""
    added = len(orjson.dumps(encode_event(event)))
    twin = history.event(event.event_id)
    if twin is not None:
        return size + added - len(orjson.dumps(encode_event(twin)))
    return size + added + (1 if history.events else 0)


def deal_contributions(history: DealHistory, ctx: MetricContext) -> dict[ContributionKey, Any]:
    """What one deal adds to every metric under `ctx` (nothing for a deal without state)."""
    if history.is_empty:
        return {}
    return contributions(fold(history), ctx)


def add_deal_contributions(history: DealHistory, sink: ContributionSink) -> None:
    """`deal_contributions`, added to `sink`."""
    if not history.is_empty:
        add_contributions(fold(history), sink)


@dataclass(slots=True)
class _Deal:
    """A deal held in memory: its history, its record as stored, and its live replay."""

    history: DealHistory
    stored: StoredDeal | None
    """The record last written (None for a new deal): `_encode` re-uses its encoded events."""
    settled: DealHistory
    """The history whose contributions the aggregates hold (as of the last settle)."""
    live: LiveDeal | None
    """The replay after `history`, whose next settle counts what changed since `settled`;
    None in a batch (which settles once), or once an event out of order made it stale:
    the deal is then recomputed whole at the settle."""
    changed: bool = False
    """The history changed since the last settle: contributions to bring up to date."""
    added: list[DealEvent] | None = None
    """The events added to the stored record's since, in arrival order; None when one
    replaced a twin (an id reused): the record is then encoded whole."""
    size: int = 0
    """The bytes of `history`'s stored form, encoded (`history_bytes`); kept only under a
    ceiling (`PartitionState.max_deal_bytes`)."""


class PartitionState:
    """The deals of one partition in a store, and their share of the aggregates."""

    def __init__(
        self,
        store: DealStore | None,
        partition: int = 0,
        *,
        aggregates: Aggregates | None = None,
        cache_deals: int = 0,
        max_deal_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.partition = partition
        self.max_deal_bytes = max_deal_bytes
        """The ceiling of a deal's stored history, encoded: an event that would grow one past
        it is refused (`Outcome.TOO_LONG`), so no deal's cost or record grows without bound.
        None: no ceiling."""
        self.aggregates = Aggregates() if aggregates is None else aggregates
        self.deals = 0
        """Deals with a stored record (known when built by `restored`, or from empty)."""
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
        max_deal_bytes: int | None = None,
    ) -> PartitionState:
        """The state of `partition` whose records `stored_deals` are: their contributions summed
        into `aggregates` (records of other partitions are skipped)."""
        state = cls(
            store,
            partition,
            aggregates=aggregates,
            cache_deals=cache_deals,
            max_deal_bytes=max_deal_bytes,
        )
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
        never received, and the redelivered event is what puts it there. An
        event that would grow its deal's stored history past `max_deal_bytes`
        changes nothing either (`Outcome.TOO_LONG`).
        """
        deal = self._unsettled.get(event.deal_id) or self._load(event.deal_id, ctx)
        history = DealHistory.empty(event.deal_id) if deal is None else deal.history
        admission = admit(history, event, ctx)
        size = 0
        if admission.outcome is Outcome.FOLDED and self.max_deal_bytes is not None:
            size = grown_bytes(history, deal.size if deal else history_bytes(history), event)
            if size > self.max_deal_bytes:
                if deal is not None and event.deal_id not in self._unsettled:
                    self._put_back(event.deal_id, deal)  # unchanged: not written again
                return Outcome.TOO_LONG
        if admission.outcome is Outcome.FOLDED:
            if deal is None:
                live = None if self.store is None else LiveDeal.empty(event.deal_id, event.tenant)
                deal = _Deal(admission.history, None, history, live)
                self.deals += 1
            elif not deal.changed:
                deal.added = [] if event.event_id not in history else None
            elif deal.added is not None and event.event_id in history:
                deal.added = None
            if deal.added is not None:
                deal.added.append(event)
            live = deal.live
            if live is not None and live.follows(history, event):
                live.apply(event)
                if live.stale:
                    deal.live = None
            else:
                deal.live = None
            deal.history = admission.history
            deal.size = size
            deal.changed = True
        elif deal is None:
            return admission.outcome
        self._unsettled[event.deal_id] = deal
        return admission.outcome

    def settle(self, ctx: MetricContext) -> int:
        """Write the deals changed since the last settle and bring the aggregates up to date;
        the number of deals compacted on the way (a deleted deal shrinks to a tombstone)."""
        compacted = 0
        batch = ContributionSink(ctx) if self.store is None else None
        for deal_id, deal in self._unsettled.items():
            history = compact(deal.history, ctx)
            if history is not deal.history:
                compacted += 1
                if self.max_deal_bytes is not None:
                    deal.size = history_bytes(history)
            if deal.changed and batch is not None:  # no replay kept between settles: one sum
                add_deal_contributions(deal.settled, batch.retracting())
                add_deal_contributions(history, batch)
                deal.changed = False
            elif deal.changed:
                self._count(deal, history, ctx)
                deal.stored = self._encode(history, deal)
            elif history is not deal.history and self.store is not None:
                deal.stored = encode_deal(history, self.partition)
            deal.history = deal.settled = history
            if self.store is None:  # a batch: every deal stays in memory, no record is kept
                self._held[deal_id] = deal
                continue
            assert deal.stored is not None  # a new deal is a changed one
            self.store[deal_id] = deal.stored
            self._written[deal_id] = None
            self._hold(deal_id, deal)
        self._unsettled.clear()
        if batch is not None:
            self.aggregates.change(batch.values)
        return compacted

    def _count(self, deal: _Deal, history: DealHistory, ctx: MetricContext) -> None:
        """Bring the aggregates from the deal's settled history to `history`.

        Contributions are computed under `ctx` on both sides, whatever context they
        were added under: the keys of windows that `ctx` no longer retains are gone
        once the aggregates are pruned to it (`Aggregates.prune`), and those of the
        windows it retains are the same under either context. So the result is exact
        once pruned, which `prune_shared` does whenever the cutoffs moved.
        """
        added = ContributionSink(ctx)
        if deal.live is not None:
            deal.live.settle(ctx, added, added.retracting())
            self.aggregates.change(added.values)
            deal.changed = False
            return
        deal.live = LiveDeal.start(history, ctx, added)
        self.aggregates.apply(deal_contributions(deal.settled, ctx), added.values)
        deal.changed = False

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
            deal.history = deal.settled = compacted
            deal.stored = written
            if self.max_deal_bytes is not None:
                deal.size = history_bytes(compacted)
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
        if held is not None or self.store is None:
            return held
        stored = self.store.get(deal_id)
        if not stored:
            return None
        history = decode_deal(stored)
        deal = _Deal(history, stored, history, LiveDeal.start(history, ctx, None))
        if self.max_deal_bytes is not None:
            deal.size = len(orjson.dumps(stored[HISTORY_FIELD]))
        return deal

    def _put_back(self, deal_id: str, deal: _Deal) -> None:
        """Hold again a deal `_load` took, unchanged."""
        if self.store is None:
            self._held[deal_id] = deal
        else:
            self._hold(deal_id, deal)

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
    pruned_at: Mapping[Granularity, date] | None,
    ctx: MetricContext,
) -> Mapping[Granularity, date]:
    """Prune the aggregates several states share to `ctx` if its cutoffs moved since
    `pruned_at` (pruning walks every key, so not otherwise); the cutoffs pruned to."""
    if pruned_at != ctx.cutoffs:
        aggregates.prune(ctx)
    return ctx.cutoffs
