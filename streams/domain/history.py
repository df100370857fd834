"""`DealHistory`: one deal's distinct events, the only per-deal state kept.

Events are deduplicated by `event_id` and kept sorted by `(occurred_at,
event_id)`, so a history is the same value whatever order its events arrived in
and however often each arrived. Should two *different* events share an id (an
upstream bug), a `deal.deleted` is kept over any other (deletion is final), and
otherwise the one whose canonical encoding sorts first, which again does not
depend on arrival order.

A deal beyond the retention horizon is *compacted* (`streams.domain.compaction`):
its events are replaced by a `DealSnapshot`, the fold's state after them, and
the history then holds that snapshot (`base`) and the events after it.

`to_dict` gives the compact JSON-able form a store holds, declared in
`streams.domain.deal_record`.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from streams.domain.deal_record import (
    decode_history,
    encode_event,
    encode_history,
    event_from_record,
    snapshot_fields,
)
from streams.domain.events import DealEvent, EventType
from streams.domain.money import Money
from streams.domain.view import Anomaly, Churn, DealStatus, Loss, Win

StageKey = tuple[str | None, str]
"""A stage of a pipeline: `(pipeline, stage)`."""
PastStages = tuple[tuple[StageKey, tuple[str, ...]], ...]
"""Stages entered, each with the stages, `won` or `lost` its visits were left for."""


def sort_key(event: DealEvent) -> tuple[datetime, str]:
    """The order a deal's events are replayed in."""
    return (event.occurred_at, event.event_id)


@dataclass(frozen=True, slots=True)
class DealSnapshot:
    """The fold's state after a deal's compacted events: what folding later events needs.

    Built by `streams.domain.fold.snapshot`. It keeps the current fields, the
    current win, loss and churn whole (a later churn or reopen needs them), the
    visit in progress, the compacted events' ids (for deduplication), and of the
    compacted stage visits only which stages they entered and left for where:
    enough that a later first entry or first advance is not counted again, with
    advances judged by the pipeline configuration in force when the metrics are
    computed. Compacted transitions need nothing: each ended a visit kept here
    or began the visit in progress.
    """

    newest: datetime
    """The instant of the newest compacted event: later events must come after it."""
    status: DealStatus
    tenant: str
    event_count: int = 0
    event_ids: frozenset[str] = frozenset()
    pipeline: str | None = None
    owner: str | None = None
    stage: str | None = None
    amount: Money | None = None
    expected_close_date: date | None = None
    created_at: datetime | None = None
    win: Win | None = None
    loss: Loss | None = None
    churn: Churn | None = None
    entered_at: datetime | None = None
    seen_other_event: bool = False
    anomalies: frozenset[Anomaly] = frozenset()
    stages: PastStages = ()
    """Each stage entered, with the stages, `won` or `lost` its visits were left for."""

    @classmethod
    def tombstone(cls, newest: datetime, tenant: str) -> DealSnapshot:
        """A deleted deal: it contributes nothing, whatever comes after."""
        return cls(newest=newest, status=DealStatus.DELETED, tenant=tenant)


@dataclass(frozen=True, slots=True)
class DealHistory:
    """A deal's distinct events in replay order, after its snapshot if it was compacted.

    Build with `empty`, `of`, `from_dict` or `streams.domain.compaction.compact`.
    """

    deal_id: str
    events: tuple[DealEvent, ...] = ()
    base: DealSnapshot | None = None
    _ids: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._ids is None:
            object.__setattr__(self, "_ids", frozenset(e.event_id for e in self.events))

    @classmethod
    def empty(cls, deal_id: str) -> DealHistory:
        return cls(deal_id)

    @classmethod
    def of(cls, deal_id: str, events: Iterable[DealEvent]) -> DealHistory:
        """The history holding the distinct events of `events` (all of deal `deal_id`)."""
        by_id: dict[str, DealEvent] = {}
        for event in events:
            _check_deal(deal_id, event)
            known = by_id.get(event.event_id)
            if known is None or _replaces(event, known):
                by_id[event.event_id] = event
        ordered = tuple(sorted(by_id.values(), key=sort_key))
        return cls(deal_id, ordered, None, frozenset(by_id))

    @classmethod
    def compacted(cls, deal_id: str, base: DealSnapshot) -> DealHistory:
        """The history of a deal compacted into `base`, without events after it (yet)."""
        return cls(deal_id, (), base)

    def add(self, event: DealEvent) -> DealHistory:
        """This history with `event`; `self` itself when the event adds nothing.

        An event whose id the snapshot holds adds nothing: it was compacted.
        """
        _check_deal(self.deal_id, event)
        if self.base is not None and event.event_id in self.base.event_ids:
            return self
        ids = self._tail_ids
        if event.event_id not in ids:
            events = _insert(self.events, event)
            return DealHistory(self.deal_id, events, self.base, ids | {event.event_id})
        known = self.event(event.event_id)
        assert known is not None  # its id is known
        if not _replaces(event, known):
            return self
        others = tuple(e for e in self.events if e is not known)
        return DealHistory(self.deal_id, _insert(others, event), self.base, ids)

    def event(self, event_id: str) -> DealEvent | None:
        """The event of id `event_id` among those after the snapshot, if any."""
        if event_id not in self._tail_ids:
            return None
        return next(e for e in self.events if e.event_id == event_id)

    @property
    def _tail_ids(self) -> frozenset[str]:
        assert self._ids is not None  # set by __post_init__
        return self._ids

    @property
    def event_ids(self) -> frozenset[str]:
        """The ids of every event the deal holds, compacted or not."""
        if self.base is None:
            return self._tail_ids
        return self.base.event_ids | self._tail_ids

    @property
    def newest(self) -> datetime | None:
        """The instant of the deal's newest event, compacted or not; None if it has none."""
        instants = [self.base.newest] if self.base is not None else []
        if self.events:
            instants.append(self.events[-1].occurred_at)
        return max(instants, default=None)

    @property
    def is_empty(self) -> bool:
        """True for a deal with neither snapshot nor event: it contributes nothing."""
        return self.base is None and not self.events

    def __contains__(self, event_id: object) -> bool:
        if event_id in self._tail_ids:
            return True
        return self.base is not None and event_id in self.base.event_ids

    def __len__(self) -> int:
        """The number of events after the snapshot (all of them without one)."""
        return len(self.events)

    def __bool__(self) -> bool:
        """True when the deal has any state: a compacted deal without later events too."""
        return not self.is_empty

    def to_dict(self) -> dict[str, Any]:
        encoded: dict[str, Any] = encode_history(self.deal_id, self.events, self.base)
        return encoded

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealHistory:
        """The history `to_dict` wrote (either format version); `ValueError` if it is not one."""
        record = decode_history(data)
        deal_id = record.deal_id
        history = cls.of(deal_id, (event_from_record(deal_id, raw) for raw in record.events))
        if record.base is None:
            return history
        base = DealSnapshot(**snapshot_fields(record.base))
        return cls(deal_id, history.events, base, history._ids)


def _check_deal(deal_id: str, event: DealEvent) -> None:
    if event.deal_id != deal_id:
        raise ValueError(f"event {event.event_id} is of deal {event.deal_id}, not {deal_id}")


def _insert(events: tuple[DealEvent, ...], event: DealEvent) -> tuple[DealEvent, ...]:
    if not events or sort_key(events[-1]) < sort_key(event):
        return (*events, event)  # the usual case: events arrive roughly in order
    index = bisect.bisect(events, sort_key(event), key=sort_key)
    return (*events[:index], event, *events[index:])


def _replaces(candidate: DealEvent, known: DealEvent) -> bool:
    """Whether `candidate` replaces `known`, which has the same id.

    A deletion is kept over any other event, so that a deal that was deleted
    stays deleted (and can be compacted to a tombstone); otherwise the smaller
    encoding wins. The usual case, a redelivered copy, is settled without
    encoding. Equal events may still differ in text (`1.0` and `1.00` EUR), so
    for them the encoding decides too, or the kept text would depend on arrival
    order.
    """
    is_deletion = candidate.type is EventType.DELETED
    if is_deletion != (known.type is EventType.DELETED):
        return is_deletion
    if candidate == known and _amount_text(candidate) == _amount_text(known):
        return False
    return _canonical(candidate) < _canonical(known)


def _amount_text(event: DealEvent) -> str | None:
    return None if event.amount is None else str(event.amount.amount)


def _canonical(event: DealEvent) -> str:
    return json.dumps(encode_event(event), sort_keys=True, separators=(",", ":"))
