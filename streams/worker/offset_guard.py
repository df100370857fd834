"""Refusing a message that arrives past a gap in its partition's offsets.

faust-streaming can hand the stream a message prefetched before a rebalance
after the rebalance, with offsets skipped before it (faust-streaming issues 216
and 221; in 0.15 `Consumer.getmany` stamps records with the generation current
when the fetch *returns*). Faust commits the highest run of acknowledged
offsets, so acknowledging that message would commit past the gap and the
events in the gap would never be folded: the numbers would be wrong for good.

The guard remembers, per partition this worker keeps owning, the next offset it
expects. A message beyond it is checked against the group's committed offset
(another worker may have folded the gap while this one was out of the group);
if the gap is real, the message is not processed and not acknowledged, and the
partition is sought back to the expected offset, so the skipped messages (and
then this one) are fetched again. Offsets below the expectation are ordinary
at-least-once redeliveries, and the fold is idempotent for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple


class PartitionKey(NamedTuple):
    topic: str
    partition: int


class OffsetGuard:
    def __init__(self) -> None:
        self._next: dict[PartitionKey, int] = {}
        self._seeking: dict[PartitionKey, int] = {}

    def keep_only(self, assigned: Iterable[Any]) -> None:
        """After a rebalance: forget partitions this worker no longer owns.

        A partition owned by another worker in between may have moved on, so
        its next offset is no longer known here.
        """
        kept = {PartitionKey(tp.topic, tp.partition) for tp in assigned}
        self._next = {tp: offset for tp, offset in self._next.items() if tp in kept}
        self._seeking.clear()

    def next_offset(self, topic: str, partition: int) -> int | None:
        return self._next.get(PartitionKey(topic, partition))

    def gap_before(self, topic: str, partition: int, offset: int) -> int | None:
        """The offset to seek back to when `offset` skips messages, else None."""
        expected = self._next.get(PartitionKey(topic, partition))
        if expected is None or offset <= expected:
            return None
        return expected

    def needs_seek(self, topic: str, partition: int, expected: int) -> bool:
        """True once per gap: later stale messages of the same gap need no new seek."""
        key = PartitionKey(topic, partition)
        if self._seeking.get(key) == expected:
            return False
        self._seeking[key] = expected
        return True

    def open_gaps(self) -> dict[PartitionKey, int]:
        """Partitions waiting for a sought-back offset: seek again if it does not come.

        Faust repositions partitions itself during rebalances, which can undo a
        seek; without a retry such a partition would wait forever.
        """
        return dict(self._seeking)

    def rebase(self, topic: str, partition: int, committed: int) -> None:
        """The group committed past our expectation: another worker folded those offsets."""
        key = PartitionKey(topic, partition)
        if committed > self._next.get(key, committed):
            self._next[key] = committed
            self._seeking.pop(key, None)

    def processed(self, topic: str, partition: int, offset: int) -> None:
        key = PartitionKey(topic, partition)
        self._next[key] = offset + 1
        self._seeking.pop(key, None)
