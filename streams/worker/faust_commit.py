"""Keep Faust's committable run free of duplicate offsets (a workaround for faust-streaming 0.15).

At commit time Faust's `Consumer._new_offset` adds the offsets it recorded as a
"gap" (jumped over by its fetcher) to the acknowledged offsets, sorts them and
commits the first run of consecutive numbers. Two routes list an offset twice:
the agent acknowledges offsets it read directly that may also be in the gap,
and Faust chops its gap record one offset short, so the last gap offset is
added again at every commit. A duplicate ends the run, and a partition's commit
crawled one offset per commit interval (2,800 offsets behind for minutes in the
join/leave test). Here the gap is absorbed into the acknowledged offsets as a
set, before Faust's own `_new_offset` finds the run.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer
from intervaltree import IntervalTree  # type: ignore[import-untyped]  # no stubs

_PATCHED = "_dealpulse_absorbs_gaps"


def absorb_gaps(acked: list[int], gaps: IntervalTree) -> None:
    """Move the gap intervals Faust would add (those beginning below the highest
    acknowledged offset, repeatedly, as the highest grows) into `acked`, once each."""
    if not acked:
        return
    listed = set(acked)
    top = max(listed)
    while found := gaps.overlap(0, top):
        for interval in found:
            listed.update(range(interval.begin, interval.end))
            top = max(top, interval.end - 1)
        gaps.chop(0, top + 1)
    acked[:] = sorted(listed)


def deduplicate_commits() -> None:
    """Install `absorb_gaps` in front of Faust's `_new_offset`, once per process."""
    if getattr(Consumer, _PATCHED, False):
        return
    original = Consumer._new_offset

    def _new_offset(self: Any, tp: Any) -> int | None:
        gaps = self._gap.get(tp)
        if gaps:
            absorb_gaps(self._acked[tp], gaps)
        result: int | None = original(self, tp)
        return result

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    setattr(Consumer, _PATCHED, True)
