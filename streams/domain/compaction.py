"""Bounded state: too-late events change nothing, and deals beyond retention shrink.

The **horizon** `H` of a context is the earliest instant any retained window
covers: the start of the oldest retained window, over every granularity.
An event before it is *too late* (`is_too_late`): every window it could touch is
out of retention.

- **Rule R** (`admit`): a too-late event is counted and changes nothing; it does
  not join its deal's history. So is an event that would replace, under its
  id, an event before the horizon (ids reused upstream): what is before the
  horizon is final. At a fixed clock, the stream keeps exactly the events
  `streams.domain.replay.compute` keeps; with a moving clock, an event folded
  while in time stays folded.
- **Compaction** (`compact`): once a deal's newest event is before the
  horizon, every event after it will be at or after the horizon (rule R), and
  nothing before the horizon is counted in any window. The deal then keeps only
  a `DealSnapshot` of its fold, which gives the same contributions as its
  events for every context whose horizon is not earlier, whatever is folded on
  top. A deleted deal contributes nothing whatever comes after: it shrinks to a
  tombstone at once.

The clock must not go back, and the retention must not be lengthened, for
compaction to be exact: a compacted deal has dropped what a longer retention
would show again (its stage visits and transitions; its win, loss and churn are
kept whole), and events not after its newest compacted one are too late for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from streams.domain.context import MetricContext, is_too_late
from streams.domain.deal_record import encoded_type
from streams.domain.events import DealEvent, EventType
from streams.domain.fold import snapshot
from streams.domain.history import DealHistory
from streams.domain.view import DealStatus


class Outcome(StrEnum):
    FOLDED = "folded"  # a new distinct event: the history changed
    DUPLICATE = "duplicate"  # an id the deal has (or had before the horizon): ignored
    TOO_LATE = "too_late"  # before the horizon, or not after the deal's compacted past
    TOO_LONG = "too_long"  # it would grow its deal's stored history past the ceiling


@dataclass(frozen=True, slots=True)
class Admission:
    outcome: Outcome
    history: DealHistory
    """The deal's history with the event if it was folded, else the history as it was."""


def horizon(ctx: MetricContext) -> datetime | None:
    """The start of the oldest window retained in any granularity; None if none is kept."""
    return ctx.horizon


def admit(history: DealHistory, event: DealEvent, ctx: MetricContext) -> Admission:
    """Fold `event` into `history` under rule R, or say why it changes nothing.

    An event whose id the deal holds is a duplicate (the worker writes the deal
    again, see `streams.worker.in_process`), unless it replaces a twin that is
    after the horizon while being in time itself. Any other event is too late
    before the horizon, or before the deal's compacted past.
    """
    too_late = is_too_late(event, ctx) or _before_compacted_past(history, event)
    if event.event_id in history:
        twin = history.event(event.event_id)  # None when compacted: before the horizon
        limit = horizon(ctx)
        if twin is None or too_late or (limit is not None and twin.occurred_at < limit):
            return Admission(Outcome.DUPLICATE, history)  # the past is final
        added = history.add(event)
        return Admission(Outcome.DUPLICATE if added is history else Outcome.FOLDED, added)
    if too_late:
        return Admission(Outcome.TOO_LATE, history)
    return Admission(Outcome.FOLDED, history.add(event))


def _before_compacted_past(history: DealHistory, event: DealEvent) -> bool:
    """An event that would sort among a compacted deal's past: it cannot be folded there.

    Only when the clock went back or the retention was lengthened; a tombstone
    takes anything (in any order, the deal stays deleted).
    """
    base = history.base
    return (
        base is not None
        and base.status is not DealStatus.DELETED
        and event.occurred_at <= base.newest
    )


def is_compactable(history: DealHistory, ctx: MetricContext) -> bool:
    """True when `compact` would shrink `history`: it has events to fold into its snapshot,
    and the deal is deleted or its newest event is before the horizon."""
    if not history.events:
        return False
    if _is_deleted(history):
        return True
    limit = horizon(ctx)
    newest = history.newest
    return limit is not None and newest is not None and newest < limit


def compact(history: DealHistory, ctx: MetricContext) -> DealHistory:
    """`history` as a snapshot without events if it is compactable, else `history` itself."""
    if not is_compactable(history, ctx):
        return history
    return DealHistory.compacted(history.deal_id, snapshot(history))


def is_compactable_encoded(encoded: Mapping[str, Any], ctx: MetricContext) -> bool:
    """`is_compactable` of a history's `to_dict()` form, read without decoding it all.

    A hint for scanning a table: the deal is then loaded and checked again.
    """
    events: list[Mapping[str, Any]] = encoded.get("events") or []
    if not events:
        return False
    base: Mapping[str, Any] = encoded.get("b") or {}
    if base.get("z") == DealStatus.DELETED.value:
        return True
    if any(event.get("y") == _DELETED for event in events):
        return True
    limit = horizon(ctx)
    return limit is not None and datetime.fromisoformat(events[-1]["t"]) < limit


_DELETED = encoded_type(EventType.DELETED)


def _is_deleted(history: DealHistory) -> bool:
    """Whether the deal is deleted: a deleted event anywhere makes it so, finally."""
    if history.base is not None and history.base.status is DealStatus.DELETED:
        return True
    return any(event.type is EventType.DELETED for event in history.events)
