"""Offsets read directly are taken out of Faust's own gap record, so its commit is not slowed.

Faust adds the offsets its fetcher jumped over to the acknowledged ones at
commit time; the agent acknowledges the same offsets one by one after reading
them directly. Listed twice, they end Faust's run of consecutive offsets after
every second one (`faust.utils.functional.consecutive_numbers`), and the
partition's commit crawled.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any, cast

from faust.transport.consumer import Consumer
from faust.types import TP
from faust.utils.functional import consecutive_numbers
from hypothesis import given
from hypothesis import strategies as st
from intervaltree import IntervalTree  # type: ignore[import-untyped]  # no stubs

from streams.topology import forget_faust_gap
from streams.worker.faust_commit import absorb_gaps, deduplicate_commits

PARTITION = TP("events", 4)


def committable(acked: list[int], gap: IntervalTree) -> int:
    """The offset Faust would commit: its `_new_offset` on these acknowledged offsets."""
    listed = list(acked)
    for interval in gap.overlap(0, max(listed)):
        listed.extend(range(interval.begin, interval.end))
    return next(consecutive_numbers(sorted(listed)))[-1] + 1


def app_with_gap(start: int, end: int) -> Any:
    gaps: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
    gaps[PARTITION].addi(start, end + 1)  # as Consumer._add_gap records a jump to `end`
    return SimpleNamespace(consumer=SimpleNamespace(_gap=gaps))


def test_duplicates_of_the_gap_slow_the_commit_to_a_crawl() -> None:
    app = app_with_gap(3113, 5896)
    acked = list(range(3112, 5897))  # read directly and acknowledged, then the message
    assert committable(acked, app.consumer._gap[PARTITION]) == 3114


def test_without_faust_s_gap_the_whole_run_commits() -> None:
    app = app_with_gap(3113, 5896)
    forget_faust_gap(cast(Any, app), PARTITION, 3112, 5897)
    acked = list(range(3112, 5897))
    assert committable(acked, app.consumer._gap[PARTITION]) == 5897


def test_other_partitions_are_left_alone() -> None:
    app = app_with_gap(10, 20)
    forget_faust_gap(cast(Any, app), TP("events", 5), 10, 21)
    assert app.consumer._gap[PARTITION].overlaps(10, 21)
    assert TP("events", 5) not in app.consumer._gap


def faust_consumer(acked: list[int], gap: list[tuple[int, int]]) -> Any:
    """The state Faust's `Consumer._new_offset` reads, for one partition."""
    gaps: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
    for start, end in gap:
        gaps[PARTITION].addi(start, end)
    return SimpleNamespace(
        _acked=defaultdict(list, {PARTITION: list(acked)}),
        _acked_index=defaultdict(set, {PARTITION: set(acked)}),
        _gap=gaps,
        _committed_offset=defaultdict(lambda: None),
    )


def test_faust_commits_past_offsets_read_directly_and_its_own_gap() -> None:
    deduplicate_commits()
    consumer = faust_consumer(list(range(3112, 5897)), [(3113, 5897)])
    assert Consumer._new_offset(consumer, PARTITION) == 5897
    assert consumer._acked[PARTITION] == []


def test_the_last_gap_offset_is_not_counted_twice_at_the_next_commit() -> None:
    deduplicate_commits()
    consumer = faust_consumer([5, 6, 7, 8, 9, 10, 11, 12], [(10, 20)])
    assert Consumer._new_offset(consumer, PARTITION) == 20
    assert not consumer._gap[PARTITION]  # Faust alone leaves [19, 20) to add again
    consumer._committed_offset[PARTITION] = 20
    consumer._acked[PARTITION].extend(range(20, 31))
    assert Consumer._new_offset(consumer, PARTITION) == 31


def test_the_commit_still_stops_at_an_offset_not_yet_processed() -> None:
    deduplicate_commits()
    consumer = faust_consumer([0, 1, 2, 5, 6], [(1, 2)])
    assert Consumer._new_offset(consumer, PARTITION) == 3


@given(
    acked=st.lists(st.integers(0, 60), min_size=1, max_size=40),
    gap=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), max_size=5),
)
def test_absorbing_lists_each_offset_once_and_leaves_no_gap_below_the_top(
    acked: list[int], gap: list[tuple[int, int]]
) -> None:
    tree = IntervalTree()
    for start, length in gap:
        tree.addi(start, start + length)
    before = {offset for interval in tree for offset in range(interval.begin, interval.end)}
    listed = list(acked)
    absorb_gaps(listed, tree)
    assert listed == sorted(set(listed))
    assert set(acked) <= set(listed) <= set(acked) | before
    assert not tree.overlap(0, max(listed))
