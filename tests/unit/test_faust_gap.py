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

from faust.types import TP
from faust.utils.functional import consecutive_numbers
from intervaltree import IntervalTree  # type: ignore[import-untyped]  # no stubs

from streams.topology import forget_faust_gap

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
