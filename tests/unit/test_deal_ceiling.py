"""The ceiling of a deal's stored history: no record passes it, and nothing else changes.

`PartitionState` tracks each deal's stored size incrementally; here it is
checked against the history encoded whole. Whatever the delivery (duplicates,
disorder, reused ids), the settles, the store (a dict, cached or not, or none
as in replay) and the ceiling, an event is refused exactly when its deal's
history with it would encode past the ceiling, no stored record passes it, and
the aggregates equal the batch computation over the events kept.
"""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.compaction import Outcome, admit, compact
from streams.domain.context import MetricContext
from streams.domain.events import DealEvent
from streams.domain.history import DealHistory
from streams.domain.partition_state import (
    HISTORY_FIELD,
    PartitionState,
    StoredDeal,
    history_bytes,
)
from streams.domain.replay import compute
from tests.support.builders import Deal, context, days
from tests.support.strategies import contexts, deliveries, event_sets


def kept_under(
    ceiling: int, delivery: list[DealEvent], settles: set[int], ctx: MetricContext
) -> list[list[bool]]:
    """For each delivered event, whether it is kept: its deal's history with it, encoded
    whole, fits the ceiling (the oracle: no incremental size). Deals are compacted at
    each settle, as the state does."""
    held: dict[str, DealHistory] = {}
    kept = []
    for index, event in enumerate(delivery):
        history = held.get(event.deal_id, DealHistory.empty(event.deal_id))
        admission = admit(history, event, ctx)
        fits = len(orjson.dumps(admission.history.to_dict())) <= ceiling
        if admission.outcome is Outcome.FOLDED and fits:
            held[event.deal_id] = admission.history
        kept.append([admission.outcome is not Outcome.FOLDED or fits])
        if index in settles:
            held = {deal_id: compact(history, ctx) for deal_id, history in held.items()}
    return kept


@settings(max_examples=80, deadline=None)
@given(
    events=event_sets(),
    ctx=contexts(),
    data=st.data(),
    ceiling=st.integers(150, 1_500),
    store_kind=st.sampled_from(["none", "dict", "cached"]),
)
def test_an_event_is_refused_exactly_when_its_deal_would_pass_the_ceiling(
    events: list[DealEvent],
    ctx: MetricContext,
    data: st.DataObject,
    ceiling: int,
    store_kind: str,
) -> None:
    delivery = data.draw(deliveries(events))
    settle_after = data.draw(st.sets(st.integers(0, len(delivery))))
    store: dict[str, StoredDeal] | None = None if store_kind == "none" else {}
    state = PartitionState(
        store, cache_deals=10 if store_kind == "cached" else 0, max_deal_bytes=ceiling
    )
    outcomes = []
    for index, event in enumerate(delivery):
        outcomes.append(state.apply(event, ctx))
        if index in settle_after:
            state.settle(ctx)
    state.settle(ctx)

    expected = kept_under(ceiling, delivery, settle_after, ctx)
    assert [[outcome is not Outcome.TOO_LONG] for outcome in outcomes] == expected
    kept = [
        event
        for event, outcome in zip(delivery, outcomes, strict=True)
        if outcome is not Outcome.TOO_LONG
    ]
    assert state.aggregates.as_dict() == compute(kept, ctx)
    for record in (store or {}).values():
        assert len(orjson.dumps(record[HISTORY_FIELD])) <= ceiling


def test_a_long_deal_stops_growing_at_the_ceiling_and_its_numbers_hold() -> None:
    ctx = context()
    deal = Deal("d1")
    deal.created(ctx.now - days(30), stage="lead")
    for hour in range(400):
        deal.stage(ctx.now - days(29) + hour * days(1 / 24), ("lead", "demo")[hour % 2])
    store: dict[str, StoredDeal] = {}
    state = PartitionState(store, max_deal_bytes=20_000)
    outcomes = [state.apply(event, ctx) for event in deal.written]
    state.settle(ctx)
    refused = outcomes.count(Outcome.TOO_LONG)
    assert 0 < refused < len(outcomes)
    assert outcomes[-refused:] == [Outcome.TOO_LONG] * refused  # in order: the tail refused
    stored = DealHistory.from_dict(store["d1"][HISTORY_FIELD])
    assert history_bytes(stored) <= 20_000
    assert state.aggregates.as_dict() == compute(deal.written[:-refused], ctx)
