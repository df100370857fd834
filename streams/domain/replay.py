"""The metrics of a set of events in one batch: the stream's step, settled once.

`compute` applies every event to one `PartitionState` over a dict, at one
clock, and settles once: the same step as the worker's, so the stream's
aggregates, summed over partitions and workers, equal `compute` over the same
events, exactly, when the stream's clock stood still at the context's `now`.
Too-late events change nothing (rule R, `streams.domain.compaction`).
`histories` and `aggregate` are the pieces the tests compare the stream's
state with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext, is_too_late
from streams.domain.contributions import ContributionKey, contributions
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.partition_state import PartitionState


def in_time(events: Iterable[DealEvent], ctx: MetricContext) -> list[DealEvent]:
    """The events that are not too late for `ctx`: those a worker at `ctx` folds."""
    return [event for event in events if not is_too_late(event, ctx)]


def histories(events: Iterable[DealEvent]) -> dict[str, DealHistory]:
    """Each deal's history, from events in any order, duplicates included (none dropped)."""
    by_deal: defaultdict[str, list[DealEvent]] = defaultdict(list)
    for event in events:
        by_deal[event.deal_id].append(event)
    return {deal_id: DealHistory.of(deal_id, found) for deal_id, found in by_deal.items()}


def aggregate(
    deal_histories: Iterable[DealHistory], ctx: MetricContext
) -> dict[ContributionKey, Decimal]:
    """The summed contributions of these deals (see `Aggregates`)."""
    total = Aggregates()
    for history in deal_histories:
        total.add(contributions(fold(history), ctx))
    return total.as_dict()


def compute(events: Iterable[DealEvent], ctx: MetricContext) -> dict[ContributionKey, Decimal]:
    """The aggregated contributions of all deals of `events`, too-late events dropped."""
    state = PartitionState(None)
    for event in events:
        state.apply(event, ctx)
    state.settle(ctx)
    return state.aggregates.as_dict()
