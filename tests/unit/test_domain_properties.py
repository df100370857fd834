"""The one property: every number is a function of the *set* of distinct events.

Random deal histories, plausible and not (reopen, churn, delete, unknown
stages and pipelines, events before created, ids reused with another payload,
simultaneous events; the strategies of `tests/support/strategies.py`), are
delivered permuted, duplicated, interleaved across deals and split over
partitions by deal hash, folded one event at a time through the worker's step,
`PartitionState` (rule R: too-late events change nothing), settled after every
event or in batches, with restarts from the serialised state (losing what was
not settled, then redelivered), rebalances and compaction. At a fixed clock the
partitions' sum must equal, with `Decimal` equality, the independent oracle
`reference()` (`tests/support/reference.py`) on the same events, as `compute()`
must; with a moving clock, the sum of the events each arrival kept
(`kept_by_arrival`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain import metrics
from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext
from streams.domain.contributions import ContributionKey, contributions, labels
from streams.domain.events import DealEvent
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.partition_state import DealStore, PartitionState, decode_deal
from streams.domain.replay import aggregate, compute, histories, in_time
from streams.domain.view import DealStatus
from streams.domain.windows import Window, retained_windows, window_start_instant
from streams.exposition.samples import exposition_samples
from tests.support.reference import reference
from tests.support.strategies import (
    contexts,
    deliveries,
    event_sets,
    kept_by_arrival,
    partition_of,
)


def restarted(state: PartitionState, ctx: MetricContext, cache_deals: int) -> PartitionState:
    """The partition after a crash or a move: its records read back as text, aggregates rebuilt."""
    text = {deal: json.dumps(stored) for deal, stored in records(state).items()}
    store = {deal: json.loads(stored) for deal, stored in text.items()}
    return PartitionState.restored(
        store, state.partition, store.values(), ctx, cache_deals=cache_deals
    )


def records(state: PartitionState) -> DealStore:
    assert state.store is not None  # every partition here has a store
    return state.store


def compact_all(state: PartitionState, ctx: MetricContext) -> None:
    """Shrink every deal that can be: neither contributions nor aggregates change."""
    state.settle(ctx)
    for deal in list(records(state)):
        state.compact(deal, ctx)


def stream(
    delivery: Iterable[DealEvent],
    contexts_in_order: Iterable[MetricContext],
    partitions: int,
    restarts: Mapping[int, int],
    *,
    prune_each: bool,
    cache_deals: int,
    settle_every: int = 1,
    crash: bool = True,
    sweeps: frozenset[int] = frozenset(),
) -> list[PartitionState]:
    """The worker's step over `partitions` partitions, settled every `settle_every` events
    (a checkpoint). A restart after a `crash` loses what was not settled, and the events
    since the last settle are delivered again; otherwise it settles first."""
    workers = [PartitionState({}, p, cache_deals=cache_deals) for p in range(partitions)]
    since_settle: list[list[tuple[DealEvent, MetricContext]]] = [[] for _ in range(partitions)]
    last = None
    for step, (event, ctx) in enumerate(zip(delivery, contexts_in_order, strict=True)):
        last = ctx
        if step in restarts:
            index = restarts[step] % partitions
            if not crash:
                workers[index].settle(ctx)
                since_settle[index].clear()
            workers[index] = restarted(workers[index], ctx, cache_deals)
            for lost, _ in since_settle[index]:  # redelivered after the crash
                workers[index].apply(lost, ctx)
            since_settle[index] = [(lost, ctx) for lost, _ in since_settle[index]]
        if step in sweeps:
            for worker in workers:
                compact_all(worker, ctx)
                since_settle[worker.partition].clear()
        partition = partition_of(event.deal_id, partitions)
        worker = workers[partition]
        if prune_each:
            worker.aggregates.prune(ctx)
        worker.apply(event, ctx)
        since_settle[partition].append((event, ctx))
        if len(since_settle[partition]) >= settle_every:
            worker.settle(ctx)
            since_settle[partition].clear()
    if last is not None:
        for worker in workers:
            worker.settle(last)
    return workers


def held_histories(workers: Iterable[PartitionState]) -> dict[str, DealHistory]:
    return {
        deal: decode_deal(stored) for worker in workers for deal, stored in records(worker).items()
    }


restart_plans = st.dictionaries(st.integers(0, 80), st.integers(0, 7), max_size=3)
sweep_plans = st.frozensets(st.integers(0, 80), max_size=6)


@settings(max_examples=300)
@given(events=event_sets(), ctx=contexts(), data=st.data())
def test_streamed_partitions_sum_to_the_batch_result(
    events: list[DealEvent], ctx: MetricContext, data: st.DataObject
) -> None:
    expected = reference(events, ctx)
    assert compute(events, ctx) == expected
    delivery = data.draw(deliveries(events))
    assert compute(delivery, ctx) == expected
    workers = stream(
        delivery,
        [ctx] * len(delivery),
        data.draw(st.integers(1, 4)),
        data.draw(restart_plans),
        prune_each=False,
        cache_deals=data.draw(st.sampled_from([0, 1, 1_000])),
        settle_every=data.draw(st.sampled_from([1, 2, 7, 1_000])),
    )
    assert Aggregates.sum(worker.aggregates for worker in workers).as_dict() == expected
    streamed = held_histories(workers)
    batch = histories(in_time(events, ctx))
    assert set(streamed) == set(batch)
    for deal, history in streamed.items():  # at a fixed clock only deleted deals shrink
        assert history == batch[deal] or history.base is not None
    assert {deal: contributions(fold(h), ctx) for deal, h in streamed.items()} == {
        deal: contributions(fold(h), ctx) for deal, h in batch.items()
    }


@settings(max_examples=200)
@given(events=event_sets(), ctx=contexts(), data=st.data())
def test_a_moving_clock_with_pruning_sums_to_the_events_kept_on_arrival(
    events: list[DealEvent], ctx: MetricContext, data: st.DataObject
) -> None:
    delivery = data.draw(deliveries(events))
    advances = data.draw(
        st.lists(st.integers(0, 24 * 20), min_size=len(delivery), max_size=len(delivery))
    )
    clock, clocks = ctx.now, []
    for hours in advances:
        clock += timedelta(hours=hours)
        clocks.append(ctx.with_now(clock))
    workers = stream(
        delivery,
        clocks,
        data.draw(st.integers(1, 3)),
        data.draw(restart_plans),
        prune_each=data.draw(st.booleans()),
        cache_deals=data.draw(st.sampled_from([0, 1_000])),
        settle_every=data.draw(st.sampled_from([1, 3, 1_000])),
        crash=False,  # a redelivery's clock would differ from the arrival `kept_by_arrival` sees
        sweeps=data.draw(sweep_plans),
    )
    final = clocks[-1] if clocks else ctx
    total = Aggregates.sum(worker.aggregates for worker in workers)
    total.prune(final)
    kept = kept_by_arrival(delivery, clocks)
    assert total.as_dict() == aggregate(histories(kept).values(), final)
    if final == ctx:  # the clock never moved: what arrival kept is what the batch keeps
        assert total.as_dict() == compute(events, final)


@settings(max_examples=150)
@given(events=event_sets(), ctx=contexts(), partitions=st.integers(1, 4))
def test_exposition_sums_across_workers_and_counts_active_deals(
    events: list[DealEvent], ctx: MetricContext, partitions: int
) -> None:
    parts: list[list[DealEvent]] = [[] for _ in range(partitions)]
    for event in events:
        parts[partition_of(event.deal_id, partitions)].append(event)
    exported = [exposition_samples(compute(part, ctx), ctx) for part in parts]
    summed = Aggregates.sum(Aggregates(samples) for samples in exported).as_dict()
    whole = exposition_samples(compute(events, ctx), ctx)
    assert summed == {k: v for k, v in whole.items() if v != 0}
    active = {
        k: v for k, v in whole.items() if k.metric == metrics.DEALS_ACTIVE_AT_WINDOW_START.name
    }
    assert active == _active_by_definition(events, ctx)


def _active_by_definition(
    events: list[DealEvent], ctx: MetricContext
) -> dict[ContributionKey, Decimal]:
    """Deals won at or before a retained window's start and not churned by then, counted."""
    counted: dict[ContributionKey, Decimal] = {}
    views = [fold(history) for history in histories(in_time(events, ctx)).values()]
    for granularity, retention in ctx.retention.items():
        for start in retained_windows(ctx.now, granularity, retention, ctx.timezone):
            instant = window_start_instant(start, ctx.timezone)
            for view in views:
                if view.status is DealStatus.DELETED or view.win is None:
                    continue
                if view.win.won_at > instant:
                    continue
                if view.churn is not None and view.churn.churned_at <= instant:
                    continue
                win_labels = labels(
                    tenant=view.tenant, pipeline=view.win.pipeline, seller=view.win.seller
                )
                key = ContributionKey(
                    metrics.DEALS_ACTIVE_AT_WINDOW_START.name,
                    win_labels,
                    Window(granularity, start),
                )
                counted[key] = counted.get(key, Decimal(0)) + 1
    return counted
