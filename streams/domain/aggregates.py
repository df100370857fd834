"""`Aggregates`: the running sum of many deals' contributions.

The worker keeps `sum(contributions(fold(history), ctx))` over the deals of
the partitions it owns: each time a deal's history changes it applies the
deal's *new - old* contributions. Keys whose value becomes exactly zero are
removed, so an aggregate holds no trace of a retracted win. Sums are exact
(`money.EXACT` traps any rounding), so the result does not depend on the order
deals were applied in, and `Aggregates.sum` over workers equals the whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from streams.domain.context import MetricContext
from streams.domain.contributions import ZERO, ContributionKey
from streams.domain.metrics import CARRIED_METRICS
from streams.domain.money import EXACT
from streams.domain.windows import Window

Contributions = Mapping[ContributionKey, Decimal]

SHARED_INTEGERS = range(-256, 4097)
"""Sums equal to one of these are stored as one shared `Decimal` per value (`_SHARED`)."""
_SHARED = {Decimal(number): Decimal(number) for number in SHARED_INTEGERS}
"""Four in five sums are counts (deals, histogram buckets, transitions), nearly all small:
sharing their values saves a 104-byte `Decimal` per key (docs/performance.md). Equal
`Decimal`s are interchangeable here: sums are compared and exported by value, never by
exponent."""


class Aggregates:
    __slots__ = ("_journal", "_values")

    def __init__(self, values: Contributions | None = None) -> None:
        self._values: dict[ContributionKey, Decimal] = {}
        self._journal: set[ContributionKey] | None = None
        if values is not None:
            self.add(values)

    @classmethod
    def sum(cls, parts: Iterable[Aggregates]) -> Aggregates:
        """The sum of several aggregates (partitions, workers)."""
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def apply(self, old: Contributions, new: Contributions) -> None:
        """Replace one deal's `old` contributions by its `new` ones (noted in the journal)."""
        changed = self._journal
        for key, value in new.items():
            before = old.get(key)
            if before is None:
                self._add(key, value)
            elif before != value:
                self._add(key, EXACT.subtract(value, before))
            else:
                continue  # most keys of a deal do not change with one event
            if changed is not None:
                changed.add(key)
        for key, before in old.items():
            if key not in new:
                self._add(key, EXACT.minus(before))
                if changed is not None:
                    changed.add(key)

    def change(self, delta: Contributions) -> None:
        """Add `delta`, the change of one or more deals' contributions (noted in the journal)."""
        changed = self._journal
        for key, value in delta.items():
            if value != ZERO:
                self._add(key, value)
                if changed is not None:
                    changed.add(key)

    def add(self, contributions: Contributions) -> None:
        """Add a deal's contributions (as when rebuilding from recovered state)."""
        for key, value in contributions.items():
            self._add(key, value)

    def merge(self, other: Aggregates) -> None:
        self.add(other._values)

    def prune(self, ctx: MetricContext) -> None:
        """Drop windows older than the retention of `ctx` (and of granularities it lacks).

        The active-deal changes (`CARRIED_METRICS`) are running-total steps: theirs
        are carried into the oldest retained window instead, exactly as
        `contributions` places them for the same `ctx`. The keys dropped and
        carried into are noted in the journal.
        """
        changed = self._journal
        carried: dict[ContributionKey, Decimal] = {}
        for key in list(self._values):
            window = key.window
            if window is None:
                continue
            cutoff = ctx.cutoffs.get(window.granularity)
            if cutoff is not None and window.start >= cutoff:
                continue
            value = self._values.pop(key)
            if cutoff is not None and key.metric in CARRIED_METRICS:
                target = ContributionKey(key.metric, key.labels, Window(window.granularity, cutoff))
                carried[target] = EXACT.add(carried.get(target, ZERO), value)
            if changed is not None:
                changed.add(key)
        self.add(carried)
        if changed is not None:
            changed.update(carried)

    def take_changes(self) -> set[ContributionKey]:
        """The keys whose sum `apply` or `prune` changed since the last call.

        The first call starts the journal (and returns nothing): a reader that
        keeps its own copy up to date asks after it has read everything once.
        """
        changes = self._journal if self._journal is not None else set()
        self._journal = set()
        return changes

    def get(self, key: ContributionKey) -> Decimal | None:
        return self._values.get(key)

    def items(self) -> Iterable[tuple[ContributionKey, Decimal]]:
        """The current values, without copying them (do not change the aggregates meanwhile)."""
        return self._values.items()

    def columns(self) -> tuple[list[ContributionKey], list[Decimal]]:
        """A copy of the keys and of the values, in one order.

        What a reader off the event loop needs (the fold changes the sums
        meanwhile), as two lists of references (16 bytes a key): the dict copy
        it replaces raised a worker's peak RSS by 21 MB at a million events.
        """
        return list(self._values), list(self._values.values())

    def as_dict(self) -> dict[ContributionKey, Decimal]:
        """A copy of the current values, never containing a zero."""
        return dict(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def _add(self, key: ContributionKey, delta: Decimal) -> None:
        if delta == ZERO:
            return
        total = EXACT.add(self._values.get(key, ZERO), delta)
        if total == ZERO:
            del self._values[key]
        else:
            self._values[key] = _SHARED.get(total, total)
