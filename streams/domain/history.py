"""`DealHistory`: the set of one deal's distinct events, the only per-deal state kept.

Events are deduplicated by `event_id` and kept sorted by `(occurred_at,
event_id)`, so a history is the same value whatever order its events arrived in
and however often each arrived. Should two *different* events share an id (an
upstream bug), the one whose canonical encoding sorts first is kept, which again
does not depend on arrival order.

`to_dict` gives a compact JSON-able form for the Faust table (strings for
decimals and instants)::

    {"v": 1, "deal": "<deal_id>", "events": [
        {"i": event_id, "y": "won", "t": "2026-03-01T10:00:00Z",
         "n": tenant, "p": pipeline, "s": stage, "o": owner,
         "a": "1200.50", "c": "EUR", "r": reason, "f": source, "v": schema_version}]}

`n` is omitted for the default tenant, `v` for schema version 1, the others when
absent.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from streams.domain.events import DEFAULT_TENANT, SCHEMA_VERSION, DealEvent, EventType
from streams.domain.money import Money

FORMAT_VERSION = 1
_TYPE_PREFIX = "deal."
_OPTIONAL_TEXT = (
    ("p", "pipeline"),
    ("s", "stage"),
    ("o", "owner"),
    ("r", "reason"),
    ("f", "source"),
)


def _sort_key(event: DealEvent) -> tuple[datetime, str]:
    return (event.occurred_at, event.event_id)


@dataclass(frozen=True, slots=True)
class DealHistory:
    """One deal's distinct events in replay order. Build with `empty`, `of` or `from_dict`."""

    deal_id: str
    events: tuple[DealEvent, ...] = ()
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
        ordered = tuple(sorted(by_id.values(), key=_sort_key))
        return cls(deal_id, ordered, frozenset(by_id))

    def add(self, event: DealEvent) -> DealHistory:
        """This history with `event`; `self` itself when the event adds nothing."""
        _check_deal(self.deal_id, event)
        ids = self.event_ids
        if event.event_id not in ids:
            return DealHistory(self.deal_id, _insert(self.events, event), ids | {event.event_id})
        known = next(e for e in self.events if e.event_id == event.event_id)
        if not _replaces(event, known):
            return self
        others = tuple(e for e in self.events if e is not known)
        return DealHistory(self.deal_id, _insert(others, event), self._ids)

    @property
    def event_ids(self) -> frozenset[str]:
        assert self._ids is not None  # set by __post_init__
        return self._ids

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.event_ids

    def __len__(self) -> int:
        return len(self.events)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "deal": self.deal_id,
            "events": [encode_event(event) for event in self.events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealHistory:
        if data.get("v") != FORMAT_VERSION:
            raise ValueError(f"unknown deal history format {data.get('v')!r}")
        deal_id: str = data["deal"]
        return cls.of(deal_id, (decode_event(deal_id, raw) for raw in data["events"]))


def _check_deal(deal_id: str, event: DealEvent) -> None:
    if event.deal_id != deal_id:
        raise ValueError(f"event {event.event_id} is of deal {event.deal_id}, not {deal_id}")


def _insert(events: tuple[DealEvent, ...], event: DealEvent) -> tuple[DealEvent, ...]:
    if not events or _sort_key(events[-1]) < _sort_key(event):
        return (*events, event)  # the usual case: events arrive roughly in order
    index = bisect.bisect(events, _sort_key(event), key=_sort_key)
    return (*events[:index], event, *events[index:])


def _replaces(candidate: DealEvent, known: DealEvent) -> bool:
    """Whether `candidate` replaces `known`, which has the same id: the smaller encoding wins.

    The usual case, a redelivered copy, is settled without encoding. Equal events
    may still differ in text (`1.0` and `1.00` EUR), so for them the encoding
    decides too, or the kept text would depend on arrival order.
    """
    if candidate == known and _amount_text(candidate) == _amount_text(known):
        return False
    return _canonical(candidate) < _canonical(known)


def _amount_text(event: DealEvent) -> str | None:
    return None if event.amount is None else str(event.amount.amount)


def _canonical(event: DealEvent) -> str:
    return json.dumps(encode_event(event), sort_keys=True, separators=(",", ":"))


def _format_instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_event(event: DealEvent) -> dict[str, Any]:
    """The compact JSON-able form of `event`, without its deal id (see the module doc)."""
    encoded: dict[str, Any] = {
        "i": event.event_id,
        "y": event.type.value.removeprefix(_TYPE_PREFIX),
        "t": _format_instant(event.occurred_at),
    }
    if event.tenant != DEFAULT_TENANT:
        encoded["n"] = event.tenant
    for key, name in _OPTIONAL_TEXT:
        value = getattr(event, name)
        if value is not None:
            encoded[key] = value
    if event.amount is not None:
        encoded["a"] = str(event.amount.amount)
        encoded["c"] = event.amount.currency
    if event.schema_version != SCHEMA_VERSION:
        encoded["v"] = event.schema_version
    return encoded


def decode_event(deal_id: str, encoded: Mapping[str, Any]) -> DealEvent:
    """The event `encode_event` encoded, for deal `deal_id`."""
    amount = encoded.get("a")
    return DealEvent(
        event_id=encoded["i"],
        type=EventType(_TYPE_PREFIX + encoded["y"]),
        occurred_at=datetime.fromisoformat(encoded["t"]),
        deal_id=deal_id,
        tenant=encoded.get("n", DEFAULT_TENANT),
        pipeline=encoded.get("p"),
        stage=encoded.get("s"),
        owner=encoded.get("o"),
        amount=None if amount is None else Money(Decimal(amount), encoded["c"]),
        reason=encoded.get("r"),
        source=encoded.get("f"),
        schema_version=encoded.get("v", SCHEMA_VERSION),
    )
