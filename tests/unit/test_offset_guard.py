"""The offset guard finds skipped offsets and resets its expectations at each rebalance."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.worker.offset_guard import OffsetGuard, PartitionKey


def start(guard: OffsetGuard, starts: dict[PartitionKey, int | None]) -> None:
    """A rebalance assigning `starts`' partitions, then the agent starting them."""
    guard.assigned(starts)
    assert guard.unstarted() == set(starts)
    for key, committed in starts.items():
        guard.start(key, committed)
    assert guard.unstarted() == set()
    assert not guard.starting


def test_first_message_of_an_unknown_partition_is_never_a_gap() -> None:
    assert OffsetGuard().gap_before("t", 0, 5394) is None


def test_a_jump_past_the_expected_offset_is_a_gap_from_the_expected_one() -> None:
    guard = OffsetGuard()
    guard.processed("t", 3, 3230)
    assert guard.gap_before("t", 3, 3231) is None
    assert guard.gap_before("t", 3, 5394) == 3231


def test_redeliveries_below_the_expectation_neither_gap_nor_move_it_back() -> None:
    guard = OffsetGuard()
    guard.processed("t", 3, 100)
    assert guard.gap_before("t", 3, 40) is None
    guard.processed("t", 3, 40)
    assert guard.next_offset("t", 3) == 101
    assert guard.gap_before("t", 3, 102) == 101


def test_assigned_partitions_start_at_the_committed_offset() -> None:
    guard = OffsetGuard()
    start(guard, {PartitionKey("t", 1): 500, PartitionKey("t", 2): None})
    assert guard.gap_before("t", 1, 700) == 500
    assert guard.gap_before("t", 1, 500) is None
    assert guard.gap_before("t", 2, 700) is None


def test_a_kept_partition_restarts_from_the_committed_offset() -> None:
    guard = OffsetGuard()
    guard.processed("t", 1, 1489)
    start(guard, {PartitionKey("t", 1): 1000})  # Faust re-delivers from the commit
    assert guard.next_offset("t", 1) == 1000
    start(guard, {PartitionKey("t", 1): 3529})  # another worker folded further meanwhile
    assert guard.next_offset("t", 1) == 3529


def test_a_kept_partition_keeps_its_expectation_when_the_commit_is_unknown() -> None:
    guard = OffsetGuard()
    guard.processed("t", 1, 1489)
    start(guard, {PartitionKey("t", 1): None})
    assert guard.next_offset("t", 1) == 1490


def test_partitions_not_assigned_any_more_are_forgotten() -> None:
    guard = OffsetGuard()
    guard.processed("t", 1, 10)
    guard.processed("t", 2, 10)
    start(guard, {PartitionKey("t", 1): None})
    assert guard.gap_before("t", 1, 50) == 11
    assert guard.next_offset("t", 2) is None


@given(st.integers(0, 50), st.lists(st.integers(0, 200), max_size=60))
def test_every_offset_below_the_expectation_was_processed_or_was_a_gap_start(
    first: int, offsets: list[int]
) -> None:
    """What the agent does: fill [gap, offset) before `offset`, then process it."""
    guard = OffsetGuard()
    start(guard, {PartitionKey("t", 0): first})
    folded: set[int] = set(range(first))
    for offset in offsets:
        missing_from = guard.gap_before("t", 0, offset)
        if missing_from is not None:
            folded.update(range(missing_from, offset))
        folded.add(offset)
        guard.processed("t", 0, offset)
    expected = guard.next_offset("t", 0)
    assert expected is not None
    assert set(range(expected)) <= folded
