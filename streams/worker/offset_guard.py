"""Knowing, per owned partition, the next offset the fold has not seen yet.

faust-streaming can hand the stream a message prefetched before a rebalance
after the rebalance, with offsets skipped before it (faust-streaming issues 216
and 221; in 0.15 `Consumer.getmany` stamps records with the generation current
when the fetch *returns*). Faust then counts the skipped offsets as a "gap" it
may commit over, and drops the fresh copies of them as already read. Folding
that message and acknowledging it would commit past events nobody folded: the
numbers would be wrong for good.

So the agent asks the guard, for every message, whether offsets are missing
before it; if so it reads exactly those offsets straight from the log (see
`PartitionReader`) and folds them first. The fold is a function of the *set* of
events, so folding the gap after later events is as good as in order, and
redeliveries below the expectation are harmless duplicates.

After each rebalance the expectation of every assigned partition is reset to
the group's committed offset (everything below it is folded and in the
changelog), asked by the agent before the partition's next message — not in the
rebalance callback, which must not wait on the broker — and not to what this
worker folded itself, even when it kept the partition: Faust commits only a
consecutive run of acknowledged offsets from the committed one, so every offset
from there on must be acknowledged again in this generation, read directly if
Faust skips it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class PartitionKey(NamedTuple):
    topic: str
    partition: int


class OffsetGuard:
    def __init__(self) -> None:
        self._next: dict[PartitionKey, int] = {}
        self._unstarted: set[PartitionKey] = set()

    def assigned(self, keys: Iterable[PartitionKey]) -> None:
        """After a rebalance: the partitions now owned, each to be started again.

        A partition no longer owned is forgotten (another worker may move it
        on). Each owned one waits for `start`, with the group's committed
        offset, before its next message is checked.
        """
        owned = set(keys)
        self._next = {key: offset for key, offset in self._next.items() if key in owned}
        self._unstarted = owned

    def unstarted(self) -> set[PartitionKey]:
        return set(self._unstarted)

    @property
    def starting(self) -> bool:
        """Whether partitions wait for `start` (checked per message: no copy)."""
        return bool(self._unstarted)

    def start(self, key: PartitionKey, committed: int | None) -> None:
        """Expect `committed` next: the group's committed offset (or the log start).

        `None` (the broker did not answer): a kept partition keeps its own
        expectation, a new one is set by its first message.
        """
        self._unstarted.discard(key)
        if committed is not None:
            self._next[key] = committed

    def next_offset(self, topic: str, partition: int) -> int | None:
        return self._next.get(PartitionKey(topic, partition))

    def gap_before(self, topic: str, partition: int, offset: int) -> int | None:
        """The first missing offset when `offset` skips messages, else None."""
        expected = self._next.get(PartitionKey(topic, partition))
        if expected is None or offset <= expected:
            return None
        return expected

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """`offset` and, if it was the next expected one, the run before it are folded."""
        key = PartitionKey(topic, partition)
        expected = self._next.get(key)
        if expected is None or offset >= expected:
            self._next[key] = offset + 1
