"""The offset guard refuses messages past a gap, once per gap, and forgets moved partitions."""

from __future__ import annotations

from typing import NamedTuple

from streams.worker.offset_guard import OffsetGuard


class TP(NamedTuple):
    topic: str
    partition: int


def test_first_message_of_a_partition_is_never_a_gap() -> None:
    assert OffsetGuard().gap_before("t", 0, 5394) is None


def test_a_jump_past_the_expected_offset_is_a_gap() -> None:
    guard = OffsetGuard()
    guard.processed("t", 3, 3230)
    assert guard.gap_before("t", 3, 3231) is None
    assert guard.gap_before("t", 3, 5394) == 3231


def test_redeliveries_below_the_expectation_are_processed() -> None:
    guard = OffsetGuard()
    guard.processed("t", 3, 100)
    assert guard.gap_before("t", 3, 40) is None
    guard.processed("t", 3, 40)
    assert guard.gap_before("t", 3, 41) is None
    assert guard.gap_before("t", 3, 101) == 41


def test_one_seek_per_gap() -> None:
    guard = OffsetGuard()
    guard.processed("t", 3, 10)
    assert guard.needs_seek("t", 3, 11)
    assert not guard.needs_seek("t", 3, 11)
    guard.processed("t", 3, 11)
    assert guard.needs_seek("t", 3, 12)


def test_partitions_not_kept_after_a_rebalance_are_forgotten() -> None:
    guard = OffsetGuard()
    guard.processed("t", 1, 10)
    guard.processed("t", 2, 10)
    guard.keep_only([TP("t", 1)])
    assert guard.gap_before("t", 1, 50) == 11
    assert guard.gap_before("t", 2, 50) is None


def test_a_gap_another_worker_committed_is_no_gap() -> None:
    guard = OffsetGuard()
    guard.processed("t", 1, 1489)
    assert guard.gap_before("t", 1, 3529) == 1490
    guard.rebase("t", 1, 3529)
    assert guard.gap_before("t", 1, 3529) is None
    guard.rebase("t", 1, 100)  # never moves backwards
    assert guard.gap_before("t", 1, 3600) == 3529
