"""The fold adapter gives the batch result whatever its cache size, rebuilds, compaction
and delivery order.

`InProcessWorker` keeps recently folded deals decoded, with their last contributions,
and retracts those instead of recomputing them; it drops too-late events (rule
R) and compacts deals beyond the retention horizon. These properties drive the
real adapter over a table that stores JSON text (as Faust's table does), so a
cached deal and a deal read back from the table must give the same numbers. The
first property's batch result is the independent oracle `reference()`
(`tests/support/reference.py`), which `compute()` must equal too; the others
compare with the domain's own `compute()` or `aggregate()` on the events kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.domain.compaction import is_compactable
from streams.domain.context import MetricContext
from streams.domain.events import DealEvent
from streams.domain.history import DealHistory
from streams.domain.replay import aggregate, compute, histories, in_time
from streams.domain.windows import Granularity
from streams.worker import in_process
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.in_process import (
    COMPACT_EVERY_SECONDS,
    HISTORY_FIELD,
    PARTITION_FIELD,
    InProcessWorker,
)
from tests.support.builders import Deal, context
from tests.support.reference import reference
from tests.support.strategies import (
    contexts,
    deliveries,
    event_sets,
    kept_by_arrival,
    partition_of,
)


class JsonTable(MutableMapping[str, Any]):
    """A deal table that keeps encoded text, like Faust's RocksDB-backed table.

    Iterating it walks the keys it had when the walk began, as a RocksDB
    iterator reads the snapshot it was opened on: rows may be written meanwhile.
    """

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def __getitem__(self, key: str) -> Any:
        return json.loads(self.rows[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = json.dumps(value)

    def __delitem__(self, key: str) -> None:
        del self.rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.rows))

    def __len__(self) -> int:
        return len(self.rows)


class DictTable(JsonTable):
    """A table whose iteration fails when a row is added meanwhile, like a plain dict."""

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)


class RecordingTable(JsonTable):
    """A table that remembers which keys were written, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.written.append(key)
        super().__setitem__(key, value)


class FixedContext:
    def __init__(self, ctx: MetricContext) -> None:
        self.ctx = ctx

    def current(self) -> MetricContext:
        return self.ctx


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


PARTITIONS = 3


def new_fold(
    table: MutableMapping[str, Any], ctx: MetricContext, cache_deals: int = 0
) -> InProcessWorker:
    fold = InProcessWorker(table, FixedContext(ctx), FoldMetrics(CollectorRegistry()), cache_deals)
    fold.rebuild(range(PARTITIONS), [])
    return fold


def counter(fold: InProcessWorker, name: str) -> float:
    metrics: FoldMetrics = fold._metrics
    value: float = getattr(metrics, name)._value.get()
    return value


@settings(max_examples=200)
@given(
    events=event_sets(),
    ctx=contexts(),
    cache_deals=st.sampled_from([0, 1, 2, 1_000]),
    rebuild_at=st.lists(st.integers(0, 60), max_size=3),
    data=st.data(),
)
def test_the_fold_sums_to_the_batch_result_whatever_its_cache(
    events: list[DealEvent],
    ctx: MetricContext,
    cache_deals: int,
    rebuild_at: list[int],
    data: st.DataObject,
) -> None:
    expected = reference(events, ctx)  # the independent oracle
    assert compute(events, ctx) == expected
    table = JsonTable()
    fold = new_fold(table, ctx, cache_deals)
    for step, event in enumerate(data.draw(deliveries(events))):
        if step in rebuild_at:  # a rebalance: aggregates rebuilt from the table
            fold.rebuild(range(PARTITIONS), table.values())
        fold.accept(event, partition_of(event.deal_id, PARTITIONS))
    total = fold.aggregates(ctx)
    assert total.as_dict() == expected
    assert sum(fold.deal_counts().values()) == len(histories(in_time(events, ctx)))
    from_table = fold.recompute(range(PARTITIONS), table.values())
    assert from_table.as_dict() == expected


@settings(max_examples=100)
@given(
    events=event_sets(),
    ctx=contexts(),
    cache_deals=st.sampled_from([0, 2, 1_000]),
    revoked=st.sets(st.integers(0, PARTITIONS - 1), min_size=1),
    data=st.data(),
)
def test_a_revocation_leaves_exactly_the_kept_partitions(
    events: list[DealEvent],
    ctx: MetricContext,
    cache_deals: int,
    revoked: set[int],
    data: st.DataObject,
) -> None:
    """One aggregate holds every owned partition: revoking some rebuilds the rest."""
    table = JsonTable()
    fold = new_fold(table, ctx, cache_deals)
    for event in data.draw(deliveries(events)):
        fold.accept(event, partition_of(event.deal_id, PARTITIONS))
    asked: list[set[int]] = []

    def stored_deals(kept: set[int]) -> list[Any]:
        asked.append(kept)
        return list(table.values())

    fold.drop(revoked, stored_deals)

    kept = set(range(PARTITIONS)) - revoked
    assert fold.partitions == sorted(kept)
    assert asked == ([kept] if kept else [])
    kept_events = [e for e in events if partition_of(e.deal_id, PARTITIONS) in kept]
    assert fold.values(ctx) == compute(kept_events, ctx)
    assert set(fold.deal_counts()) == kept


@settings(max_examples=150)
@given(
    events=event_sets(),
    ctx=contexts(),
    cache_deals=st.sampled_from([0, 2, 1_000]),
    rebuild_at=st.frozensets(st.integers(0, 60), max_size=3),
    compact_at=st.frozensets(st.integers(0, 60), max_size=12),
    data=st.data(),
)
def test_the_fold_with_compaction_and_a_moving_clock_sums_to_the_events_kept_on_arrival(
    events: list[DealEvent],
    ctx: MetricContext,
    cache_deals: int,
    rebuild_at: frozenset[int],
    compact_at: frozenset[int],
    data: st.DataObject,
) -> None:
    delivery = data.draw(deliveries(events))
    hours = data.draw(st.lists(st.integers(0, 24 * 30), min_size=len(delivery)))
    clocks = [
        ctx.with_now(ctx.now + timedelta(hours=sum(hours[: n + 1]))) for n in range(len(delivery))
    ]
    source = FixedContext(ctx)
    table = JsonTable()
    fold = InProcessWorker(table, source, FoldMetrics(CollectorRegistry()), cache_deals)
    fold.rebuild(range(PARTITIONS), [])
    for step, (event, clock) in enumerate(zip(delivery, clocks, strict=True)):
        source.ctx = clock
        if step in rebuild_at:
            fold.rebuild(range(PARTITIONS), table.values())
        partition = partition_of(event.deal_id, PARTITIONS)
        fold.accept(event, partition)
        if step in compact_at:  # the ingest agent's hook, right after a fold of `partition`
            fold.compact_some(partition, limit=data.draw(st.integers(1, 3)))
    final = clocks[-1] if clocks else ctx
    expected = aggregate(histories(kept_by_arrival(delivery, clocks)).values(), final)
    assert fold.aggregates(final).as_dict() == expected
    for partition in range(PARTITIONS):  # sweep to the end: every deal that can shrink does
        while fold.compact_some(partition, limit=1_000):
            pass
        fold.compact_some(partition, limit=1_000)  # a sweep that starts over finds the rest
    stored = [DealHistory.from_dict(row[HISTORY_FIELD]) for row in table.values()]
    assert not any(is_compactable(history, final) for history in stored)
    assert fold.aggregates(final).as_dict() == expected
    from_table = fold.recompute(range(PARTITIONS), table.values())
    assert from_table.as_dict() == expected


MONTHS = {Granularity.MONTH: 2}
JUNE = context(now=datetime(2026, 6, 15, tzinfo=UTC), retention=MONTHS)  # horizon: May 1st


def won_in_may(deal_id: str, year: int = 2026) -> Deal:
    deal = Deal(deal_id)
    deal.created(datetime(year, 5, 2, tzinfo=UTC))
    deal.stage(datetime(year, 5, 3, tzinfo=UTC), "demo")
    deal.won(datetime(year, 5, 20, tzinfo=UTC), amount="500 EUR")
    return deal


def test_a_too_late_event_is_counted_and_changes_nothing() -> None:
    table = JsonTable()
    fold = new_fold(table, JUNE)
    late = Deal("old")
    fold.accept(late.created(datetime(2026, 4, 30, tzinfo=UTC)), 0)
    assert table.rows == {}
    assert counter(fold, "too_late") == 1
    deal = won_in_may("d1")
    for event in deal.written:
        fold.accept(event, 1)
    before = dict(table.rows)
    fold.accept(deal.lost(datetime(2026, 4, 1, tzinfo=UTC)), 1)  # would retract the win
    assert table.rows == before
    assert counter(fold, "too_late") == 2
    assert fold.values(JUNE) == compute([*late.written, *deal.written], JUNE)


def test_compact_some_shrinks_deals_beyond_the_horizon_a_few_at_a_time() -> None:
    table = JsonTable()
    fold = new_fold(table, JUNE, cache_deals=2)
    deals = [won_in_may(f"d{n}") for n in range(5)]
    for deal in deals:
        for event in deal.written:
            fold.accept(event, 0)
    before = fold.values(JUNE)
    sizes = {key: len(text) for key, text in table.rows.items()}
    assert fold.compact_some(0) == 0  # May is retained: nothing to compact
    assert counter(fold, "compacted") == 0
    a_year_later = JUNE.with_now(datetime(2027, 6, 15, tzinfo=UTC))
    fold._contexts = FixedContext(a_year_later)
    assert fold.compact_some(1) == 0  # another partition's deals wait for a call with theirs
    assert fold.compact_some(0, limit=3) == 3
    assert fold.compact_some(0, limit=3) == 2
    assert fold.compact_some(0) == 0
    assert counter(fold, "compacted") == 5
    for key, text in table.rows.items():
        assert len(text) < sizes[key]
        assert json.loads(text)[HISTORY_FIELD]["events"] == []
    assert fold.values(a_year_later) == aggregate(
        histories(e for deal in deals for e in deal.written).values(), a_year_later
    )
    assert fold.values(a_year_later) != before  # May left the retention, the carried change did not
    fold.accept(deals[4].churned(datetime(2027, 6, 1, tzinfo=UTC)), 0)  # cached, compacted
    stored = json.loads(table.rows["d4"])[HISTORY_FIELD]
    assert (stored["v"], [event["y"] for event in stored["events"]]) == (2, ["churned"])
    expected = aggregate(
        histories(e for deal in deals for e in deal.written).values(), a_year_later
    )
    assert fold.values(a_year_later) == expected


def test_a_deal_found_by_the_sweep_that_changed_since_is_left_alone() -> None:
    table = JsonTable()
    fold = new_fold(table, JUNE)
    deal = won_in_may("d1")
    for event in deal.written:
        fold.accept(event, 0)
    later = JUNE.with_now(datetime(2027, 6, 15, tzinfo=UTC))
    fold._contexts = FixedContext(later)
    fold._advance_sweep(later)  # found compactable ...
    fold.accept(deal.churned(datetime(2027, 6, 1, tzinfo=UTC)), 0)  # ... but not any more
    assert fold.compact_some(0) == 0
    assert json.loads(table.rows["d1"])[HISTORY_FIELD]["v"] == 1


def test_the_sweep_starts_over_when_the_table_changes_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(in_process, "COMPACT_SCAN", 1)  # one row per call
    table = DictTable()
    fold = new_fold(table, JUNE)
    for n in range(3):
        for event in won_in_may(f"d{n}").written:
            fold.accept(event, 0)
    fold._contexts = FixedContext(JUNE.with_now(datetime(2027, 6, 15, tzinfo=UTC)))
    assert fold.compact_some(0) == 1
    fold.accept(Deal("new").created(datetime(2027, 6, 1, tzinfo=UTC)), 0)  # a row is added
    assert fold.compact_some(0) == 0  # the cursor broke: the sweep starts over
    assert sum(fold.compact_some(0) for _ in range(5)) == 2
    assert [json.loads(table.rows[f"d{n}"])[HISTORY_FIELD]["v"] for n in range(3)] == [2, 2, 2]


def test_a_deleted_deal_is_written_as_a_tombstone_at_once() -> None:
    table = JsonTable()
    fold = new_fold(table, JUNE)
    deal = won_in_may("d1")
    for event in deal.written:
        fold.accept(event, 0)
    fold.accept(deal.deleted(datetime(2026, 6, 1, tzinfo=UTC)), 0)
    stored = json.loads(table.rows["d1"])
    assert stored[PARTITION_FIELD] == 0
    assert stored[HISTORY_FIELD] == {
        "v": 2,
        "deal": "d1",
        "events": [],
        "b": {"t": "2026-06-01T00:00:00Z", "z": "deleted", "n": "acme"},
    }
    assert counter(fold, "compacted") == 1
    fold.accept(deal.reopened(datetime(2026, 6, 2, tzinfo=UTC)), 0)
    assert fold.values(JUNE) == {}
    assert json.loads(table.rows["d1"])[HISTORY_FIELD]["events"] == []


def test_a_duplicate_writes_the_deal_again_compacted_if_it_can_be() -> None:
    table = RecordingTable()
    fold = new_fold(table, JUNE, cache_deals=10)
    deal = won_in_may("d1")
    for event in deal.written:
        fold.accept(event, 0)
    written = table.written
    written.clear()
    fold.accept(deal.written[0], 0)
    assert written == ["d1"]  # written again, unchanged
    assert json.loads(table.rows["d1"])[HISTORY_FIELD]["v"] == 1
    later = JUNE.with_now(datetime(2027, 6, 15, tzinfo=UTC))
    fold._contexts = FixedContext(later)
    fold.accept(deal.written[0], 0)  # redelivered: a duplicate, now beyond the horizon
    assert written == ["d1", "d1"]
    assert json.loads(table.rows["d1"])[HISTORY_FIELD]["v"] == 2
    assert counter(fold, "duplicates") == 2


def test_compact_when_due_runs_at_most_every_few_seconds_per_partition() -> None:
    ticks = Ticks()
    source = FixedContext(JUNE)
    fold = InProcessWorker(JsonTable(), source, FoldMetrics(CollectorRegistry()), monotonic=ticks)
    fold.rebuild(range(PARTITIONS), [])
    for n in range(3):
        for event in won_in_may(f"d{n}").written:
            fold.accept(event, n % 2)
    source.ctx = JUNE.with_now(datetime(2027, 6, 15, tzinfo=UTC))
    assert fold.compact_when_due(0) == 2
    assert fold.compact_when_due(1) == 1  # another partition: due
    for event in won_in_may("d9", year=2027).written:
        fold.accept(event, 0)
    source.ctx = JUNE.with_now(datetime(2028, 6, 15, tzinfo=UTC))
    ticks.seconds += COMPACT_EVERY_SECONDS - 0.1
    assert fold.compact_when_due(0) == 0  # not yet
    ticks.seconds += 0.1
    assert fold.compact_when_due(0) == 1


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyError("gone")])
def test_a_failing_compaction_does_not_stop_the_partition(failure: Exception) -> None:
    fold = new_fold(JsonTable(), JUNE)

    def fail(partition: int, limit: int = 0) -> int:
        raise failure

    fold.compact_some = fail  # type: ignore[method-assign]
    assert fold.compact_when_due(0) == 0
