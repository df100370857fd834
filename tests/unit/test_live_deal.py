"""A live deal's settle changes the aggregates by exactly what its events change.

`LiveDeal` counts only what an event in order appends or changes. Whatever
the history (the strategies of `tests/support/strategies.py`: reopens, churns,
deletions, unknown stages and pipelines, simultaneous events, pipeline
changes), resumed from any prefix and settled at any points, the sum of what
it added minus what it retracted must equal the deal's whole contributions,
computed from scratch, after every settle.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.aggregates import Aggregates
from streams.domain.compaction import compact
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionSink, contributions
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.live_deal import LiveDeal
from tests.support.builders import NOW, Deal, context, days
from tests.support.strategies import contexts, event_sets


def by_deal(events: list[DealEvent]) -> dict[str, DealHistory]:
    deals: dict[str, list[DealEvent]] = {}
    for one in events:
        deals.setdefault(one.deal_id, []).append(one)
    return {deal_id: DealHistory.of(deal_id, mine) for deal_id, mine in deals.items()}


def settle_into(live: LiveDeal, aggregates: Aggregates, ctx: MetricContext) -> None:
    change = ContributionSink(ctx)
    live.settle(ctx, change, change.retracting())
    aggregates.change(change.values)


@settings(max_examples=300)
@given(events=event_sets(), ctx=contexts(), data=st.data())
def test_settling_in_order_events_equals_recomputing_the_deal(
    events: list[DealEvent], ctx: MetricContext, data: st.DataObject
) -> None:
    for deal_id, history in by_deal(events).items():
        resumed_after = data.draw(st.integers(0, len(history.events)))
        settles = data.draw(st.sets(st.integers(0, len(history.events))))
        so_far = DealHistory.of(deal_id, history.events[:resumed_after])
        sink = ContributionSink(ctx)
        if so_far.events:
            live = LiveDeal.start(so_far, ctx, sink)
        else:
            live = LiveDeal.empty(deal_id, history.events[0].tenant)
        aggregates = Aggregates(sink.values)
        for index in range(resumed_after, len(history.events)):
            following = history.events[index]
            if live.stale:  # deleted: nothing it applies changes anything any more
                break
            assert live.follows(so_far, following)
            live.apply(following)
            so_far = so_far.add(following)
            if index in settles and not live.stale:
                settle_into(live, aggregates, ctx)
                assert aggregates.as_dict() == contributions(fold(so_far), ctx)
        if not live.stale:
            settle_into(live, aggregates, ctx)
            assert aggregates.as_dict() == contributions(fold(so_far), ctx)


@settings(max_examples=100)
@given(events=event_sets(), ctx=contexts())
def test_a_live_deal_resumed_from_a_compacted_history_counts_like_the_full_one(
    events: list[DealEvent], ctx: MetricContext
) -> None:
    later = ctx.with_now(ctx.now + timedelta(days=800))  # everything before the horizon
    for history in by_deal(events).values():
        compacted = compact(history, later)
        sink = ContributionSink(later)
        LiveDeal.start(compacted, later, sink)
        assert Aggregates(sink.values).as_dict() == contributions(fold(history), later)


def test_only_a_new_event_after_every_other_follows() -> None:
    deal = Deal()
    start = NOW - days(10)
    history = DealHistory.of("d1", [deal.created(start)])
    live = LiveDeal.start(history, context(), None)
    assert live.follows(history, deal.stage(start + days(1), "demo"))
    assert not live.follows(history, deal.stage(start - days(1), "demo"))
    assert not live.follows(history, deal.stage(start + days(1), "demo", event_id="d1-1"))
