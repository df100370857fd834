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

`to_dict` gives a compact JSON-able form for the Faust table (strings for
decimals and instants). Version 1 is a history without snapshot::

    {"v": 1, "deal": "<deal_id>", "events": [
        {"i": event_id, "y": "won", "t": "2026-03-01T10:00:00Z",
         "n": tenant, "p": pipeline, "s": stage, "o": owner,
         "a": "1200.50", "c": "EUR", "r": reason, "f": source, "v": schema_version}]}

`n` is omitted for the default tenant, `v` for schema version 1, the others when
absent. Version 2 adds the snapshot the events follow, `"b"`::

    {"t": newest instant compacted, "z": status, "n": tenant, "k": events folded,
     "ids": [compacted event ids], "p": pipeline, "o": owner, "s": stage,
     "m": [amount, currency], "ca": created_at, "e": entered_at (visit in progress),
     "q": 1 (events other than created came first, no created yet), "an": [anomalies],
     "w": {"t": won_at, "o": seller, "m": [amount, currency], "p": pipeline},
     "l": {"t": lost_at, "r": reason, "o": seller, "p": pipeline},
     "x": {"t": churned_at, "r": reason, "o": seller, "m": [amount, currency], "p": pipeline},
     "st": [[pipeline, [stage, left_to, ...], ...], ...]}  (stages entered, left for where)

`n` is omitted for the default tenant, the others when absent or empty; in a
win or a loss, a field equal to the deal's current one is left out (in a churn,
one equal to its win's), and so is an instant equal to `"t"`. A history without
snapshot is still written as version 1, so that only compacted
deals need a reader that knows version 2.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from streams.domain.events import DEFAULT_TENANT, SCHEMA_VERSION, DealEvent, EventType
from streams.domain.money import Money
from streams.domain.view import Anomaly, Churn, DealStatus, Loss, Win

FORMAT_VERSION = 1
"""The format of a history without snapshot."""
COMPACTED_FORMAT_VERSION = 2
"""The format of a history with a snapshot (`DealHistory.base`)."""
_TYPE_PREFIX = "deal."
_OPTIONAL_TEXT = (
    ("p", "pipeline"),
    ("s", "stage"),
    ("o", "owner"),
    ("r", "reason"),
    ("f", "source"),
)

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
        encoded: dict[str, Any] = {
            "v": FORMAT_VERSION if self.base is None else COMPACTED_FORMAT_VERSION,
            "deal": self.deal_id,
            "events": [encode_event(event) for event in self.events],
        }
        if self.base is not None:
            encoded["b"] = encode_snapshot(self.base)
        return encoded

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealHistory:
        version = data.get("v")
        if version not in (FORMAT_VERSION, COMPACTED_FORMAT_VERSION):
            raise ValueError(f"unknown deal history format {version!r}")
        deal_id: str = data["deal"]
        history = cls.of(deal_id, (decode_event(deal_id, raw) for raw in data["events"]))
        if version == FORMAT_VERSION:
            return history
        base = decode_snapshot(data["b"])
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


def _format_instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encoded_type(event_type: EventType) -> str:
    """How `encode_event` writes an event type (`"won"` for `deal.won`)."""
    return event_type.value.removeprefix(_TYPE_PREFIX)


def encode_event(event: DealEvent) -> dict[str, Any]:
    """The compact JSON-able form of `event`, without its deal id (see the module doc)."""
    encoded: dict[str, Any] = {
        "i": event.event_id,
        "y": encoded_type(event.type),
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


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe_instant(text: str | None) -> datetime | None:
    return None if text is None else _parse_instant(text)


def _encode_money(money: Money | None) -> list[str] | None:
    return None if money is None else [str(money.amount), money.currency]


def _decode_money(encoded: Sequence[str] | None) -> Money | None:
    return None if encoded is None else Money(Decimal(encoded[0]), encoded[1])


def _close(
    at: datetime, newest: datetime, fields: dict[str, Any], like: Mapping[str, Any]
) -> dict[str, Any]:
    """A win, loss or churn: its instant unless it is `newest`, and its fields unlike `like`'s.

    Values are compared encoded, so that `500` and `500.00` EUR stay apart.
    """
    encoded = {} if at == newest else {"t": _format_instant(at)}
    encoded.update((key, value) for key, value in fields.items() if like.get(key) != value)
    return encoded


def encode_snapshot(base: DealSnapshot) -> dict[str, Any]:
    """The compact JSON-able form of `base` (see the module doc); empty fields are left out."""
    current = {"o": base.owner, "m": _encode_money(base.amount), "p": base.pipeline}
    fields: dict[str, Any] = {
        "t": _format_instant(base.newest),
        "z": base.status.value,
        "n": None if base.tenant == DEFAULT_TENANT else base.tenant,
        "k": base.event_count or None,
        "ids": sorted(base.event_ids) or None,
        "p": base.pipeline,
        "o": base.owner,
        "s": base.stage,
        "m": current["m"],
        "ca": None if base.created_at is None else _format_instant(base.created_at),
        "e": None if base.entered_at is None else _format_instant(base.entered_at),
        "q": 1 if base.seen_other_event else None,
        "an": sorted(anomaly.value for anomaly in base.anomalies) or None,
        "st": _encode_stages(base.stages) or None,
    }
    if (win := base.win) is not None:
        won = {"o": win.seller, "m": _encode_money(win.amount), "p": win.pipeline}
        fields["w"] = _close(win.won_at, base.newest, won, current)
        if (churn := base.churn) is not None:
            churned = {"o": churn.seller, "m": _encode_money(churn.amount), "p": churn.pipeline}
            fields["x"] = _close(churn.churned_at, base.newest, churned, won)
            fields["x"].update(_reason(churn.reason))
    if (loss := base.loss) is not None:
        lost = {"o": loss.seller, "p": loss.pipeline}
        fields["l"] = _close(loss.lost_at, base.newest, lost, current)
        fields["l"].update(_reason(loss.reason))
    return {key: value for key, value in fields.items() if value is not None}


def _reason(reason: str | None) -> dict[str, str]:
    return {} if reason is None else {"r": reason}


def _encode_stages(stages: PastStages) -> list[list[Any]]:
    """`[[pipeline, [stage, left_to...], ...], ...]`, consecutive stages of a pipeline grouped."""
    groups: list[list[Any]] = []
    for (pipeline, stage), left_to in stages:
        if not groups or groups[-1][0] != pipeline:
            groups.append([pipeline])
        groups[-1].append([stage, *left_to])
    return groups


def _decode_stages(groups: Iterable[Sequence[Any]]) -> PastStages:
    return tuple(
        ((group[0], stage), tuple(left_to)) for group in groups for stage, *left_to in group[1:]
    )


def decode_snapshot(encoded: Mapping[str, Any]) -> DealSnapshot:
    """The snapshot `encode_snapshot` encoded."""
    newest = _parse_instant(encoded["t"])
    current = {key: encoded.get(key) for key in ("o", "m", "p")}

    def closed_at(close: Mapping[str, Any]) -> datetime:
        return newest if "t" not in close else _parse_instant(close["t"])

    win = churn = loss = None
    if (won := encoded.get("w")) is not None:
        won_fields = {key: won.get(key, current[key]) for key in ("o", "m", "p")}
        win = Win(closed_at(won), won_fields["o"], _decode_money(won_fields["m"]), won_fields["p"])
        if (churned := encoded.get("x")) is not None:
            fields = {key: churned.get(key, won_fields[key]) for key in ("o", "m", "p")}
            churn = Churn(
                closed_at(churned),
                churned.get("r"),
                fields["o"],
                _decode_money(fields["m"]),
                fields["p"],
            )
    if (lost := encoded.get("l")) is not None:
        fields = {key: lost.get(key, current[key]) for key in ("o", "p")}
        loss = Loss(closed_at(lost), lost.get("r"), fields["o"], fields["p"])
    return DealSnapshot(
        newest=newest,
        status=DealStatus(encoded["z"]),
        tenant=encoded.get("n", DEFAULT_TENANT),
        event_count=encoded.get("k", 0),
        event_ids=frozenset(encoded.get("ids", ())),
        pipeline=encoded.get("p"),
        owner=encoded.get("o"),
        stage=encoded.get("s"),
        amount=_decode_money(encoded.get("m")),
        created_at=_maybe_instant(encoded.get("ca")),
        win=win,
        loss=loss,
        churn=churn,
        entered_at=_maybe_instant(encoded.get("e")),
        seen_other_event=bool(encoded.get("q")),
        anomalies=frozenset(Anomaly(value) for value in encoded.get("an", ())),
        stages=_decode_stages(encoded.get("st", ())),
    )
