"""A deal's stored form, declared: what each short key of a stored history means.

A worker writes a deal's history at every event, to RocksDB and its changelog,
so the stored form is compact: one- or two-letter keys, strings for decimals
and instants, fields left out when empty. The structs below declare it, each
field with the key it is stored under (msgspec's `name`); `encode_history` and
`decode_history` go between `DealHistory` and the JSON-able dict a store holds.
The format is unchanged from the hand-written codec it replaces, so every
record already stored still reads.

Version 1 is a history without snapshot. `EventRecord` leaves out the tenant
when it is the default one and the schema version when it is 1. Version 2 adds
the snapshot the events follow (`SnapshotRecord`, under `"b"`); in its win or
loss a field equal to the deal's current one is left out (in a churn, one equal
to its win's), and so is an instant equal to the snapshot's `newest`. A history
without snapshot is still written as version 1, so that only compacted deals
need a reader that knows version 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from streams.domain.events import DEFAULT_TENANT, SCHEMA_VERSION, DealEvent, EventType
from streams.domain.money import Money
from streams.domain.view import Anomaly, Churn, DealStatus, Loss, Win

if TYPE_CHECKING:  # `history` imports this module
    from streams.domain.history import DealSnapshot, PastStages

FORMAT_VERSION = 1
"""The format of a history without snapshot."""
COMPACTED_FORMAT_VERSION = 2
"""The format of a history with a snapshot (`DealHistory.base`)."""
_TYPE_PREFIX = "deal."

MoneyRecord = Annotated[list[str], msgspec.Meta(min_length=2, max_length=2)]
"""`[amount, currency]`."""


class EventRecord(msgspec.Struct, omit_defaults=True, frozen=True):
    """One event of a deal; its deal id is the history's."""

    event_id: str = msgspec.field(name="i")
    type: str = msgspec.field(name="y")
    """The event type without `deal.`: `won` for `deal.won`."""
    occurred_at: str = msgspec.field(name="t")
    tenant: str | None = msgspec.field(default=None, name="n")
    """Left out for the default tenant."""
    pipeline: str | None = msgspec.field(default=None, name="p")
    stage: str | None = msgspec.field(default=None, name="s")
    owner: str | None = msgspec.field(default=None, name="o")
    reason: str | None = msgspec.field(default=None, name="r")
    source: str | None = msgspec.field(default=None, name="f")
    amount: str | None = msgspec.field(default=None, name="a")
    currency: str | None = msgspec.field(default=None, name="c")
    schema_version: int | None = msgspec.field(default=None, name="v")
    """Left out for schema version 1."""
    expected_close_date: str | None = msgspec.field(default=None, name="d")
    """ISO date; left out when the event has none (so records written before it read)."""


class CloseRecord(msgspec.Struct, omit_defaults=True, frozen=True):
    """A win, loss or churn of a snapshot: only what differs from what it would inherit.

    `UNSET` means inherited (from the deal's current fields, or a churn's from
    its win), and an instant unset is the snapshot's `newest`; `None` is stored
    as `null`, a value of its own.
    """

    at: str | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="t")
    seller: str | msgspec.UnsetType | None = msgspec.field(default=msgspec.UNSET, name="o")
    money: MoneyRecord | msgspec.UnsetType | None = msgspec.field(default=msgspec.UNSET, name="m")
    pipeline: str | msgspec.UnsetType | None = msgspec.field(default=msgspec.UNSET, name="p")
    reason: str | None = msgspec.field(default=None, name="r")


class SnapshotRecord(msgspec.Struct, omit_defaults=True, frozen=True):
    """A `DealSnapshot`: the fold's state after the compacted events."""

    newest: str = msgspec.field(name="t")
    status: str = msgspec.field(name="z")
    tenant: str | None = msgspec.field(default=None, name="n")
    event_count: int | None = msgspec.field(default=None, name="k")
    event_ids: list[str] | None = msgspec.field(default=None, name="ids")
    """The compacted events' ids, sorted (for deduplication)."""
    pipeline: str | None = msgspec.field(default=None, name="p")
    owner: str | None = msgspec.field(default=None, name="o")
    stage: str | None = msgspec.field(default=None, name="s")
    amount: MoneyRecord | None = msgspec.field(default=None, name="m")
    expected_close_date: str | None = msgspec.field(default=None, name="d")
    created_at: str | None = msgspec.field(default=None, name="ca")
    entered_at: str | None = msgspec.field(default=None, name="e")
    """The entry of the stage visit in progress."""
    seen_other_event: int | None = msgspec.field(default=None, name="q")
    """1: events other than created came first, and no created yet."""
    anomalies: list[str] | None = msgspec.field(default=None, name="an")
    stages: list[list[Any]] | None = msgspec.field(default=None, name="st")
    """`[[pipeline, [stage, left_to...], ...], ...]`: each stage entered and where its
    visits were left for, consecutive stages of one pipeline grouped."""
    win: CloseRecord | None = msgspec.field(default=None, name="w")
    churn: CloseRecord | None = msgspec.field(default=None, name="x")
    loss: CloseRecord | None = msgspec.field(default=None, name="l")


class HistoryRecord(msgspec.Struct, omit_defaults=True, frozen=True):
    """A deal's history: the snapshot, if compacted, and the events after it."""

    version: int = msgspec.field(name="v")
    deal_id: str = msgspec.field(name="deal")
    events: list[EventRecord]
    """Always written, even empty."""
    base: SnapshotRecord | None = msgspec.field(default=None, name="b")


# --- events -------------------------------------------------------------------------


def encoded_type(event_type: EventType) -> str:
    """How an event type is stored (`"won"` for `deal.won`)."""
    return event_type.value.removeprefix(_TYPE_PREFIX)


def event_record(event: DealEvent) -> EventRecord:
    amount = event.amount
    return EventRecord(
        event_id=event.event_id,
        type=encoded_type(event.type),
        occurred_at=format_instant(event.occurred_at),
        tenant=None if event.tenant == DEFAULT_TENANT else event.tenant,
        pipeline=event.pipeline,
        stage=event.stage,
        owner=event.owner,
        reason=event.reason,
        source=event.source,
        amount=None if amount is None else str(amount.amount),
        currency=None if amount is None else amount.currency,
        schema_version=None if event.schema_version == SCHEMA_VERSION else event.schema_version,
        expected_close_date=_date_text(event.expected_close_date),
    )


def encode_event(event: DealEvent) -> dict[str, Any]:
    """The stored, JSON-able form of `event`, without its deal id."""
    encoded: dict[str, Any] = msgspec.to_builtins(event_record(event))
    return encoded


def decode_event(deal_id: str, encoded: Mapping[str, Any]) -> DealEvent:
    """The event `encode_event` encoded, for deal `deal_id`."""
    return event_from_record(deal_id, msgspec.convert(encoded, EventRecord))


def event_from_record(deal_id: str, record: EventRecord) -> DealEvent:
    amount = record.amount
    return DealEvent(
        event_id=record.event_id,
        type=EventType(_TYPE_PREFIX + record.type),
        occurred_at=datetime.fromisoformat(record.occurred_at),
        deal_id=deal_id,
        tenant=DEFAULT_TENANT if record.tenant is None else record.tenant,
        pipeline=record.pipeline,
        stage=record.stage,
        owner=record.owner,
        amount=None if amount is None else Money(Decimal(amount), record.currency or ""),
        reason=record.reason,
        source=record.source,
        schema_version=SCHEMA_VERSION if record.schema_version is None else record.schema_version,
        expected_close_date=_date(record.expected_close_date),
    )


def _date_text(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def format_instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- snapshots ------------------------------------------------------------------------


class _Current(msgspec.Struct, frozen=True):
    """What a close inherits when it leaves a field out."""

    seller: str | None
    money: MoneyRecord | None
    pipeline: str | None


def _money_record(money: Money | None) -> MoneyRecord | None:
    return None if money is None else [str(money.amount), money.currency]


def _money(record: MoneyRecord | None) -> Money | None:
    return None if record is None else Money(Decimal(record[0]), record[1])


def _close_record(
    at: datetime, newest: datetime, close: _Current, like: _Current, reason: str | None = None
) -> CloseRecord:
    """A close's fields unlike `like`'s (compared encoded: `500` and `500.00` EUR differ)."""
    return CloseRecord(
        at=msgspec.UNSET if at == newest else format_instant(at),
        seller=msgspec.UNSET if close.seller == like.seller else close.seller,
        money=msgspec.UNSET if close.money == like.money else close.money,
        pipeline=msgspec.UNSET if close.pipeline == like.pipeline else close.pipeline,
        reason=reason,
    )


def _inherit(record: CloseRecord, like: _Current) -> _Current:
    return _Current(
        seller=like.seller if record.seller is msgspec.UNSET else record.seller,
        money=like.money if record.money is msgspec.UNSET else record.money,
        pipeline=like.pipeline if record.pipeline is msgspec.UNSET else record.pipeline,
    )


def snapshot_record(base: DealSnapshot) -> SnapshotRecord:
    """The stored form of `base`."""
    current = _Current(base.owner, _money_record(base.amount), base.pipeline)
    win = churn = loss = None
    if (won := base.win) is not None:
        at_win = _Current(won.seller, _money_record(won.amount), won.pipeline)
        win = _close_record(won.won_at, base.newest, at_win, current)
        if (churned := base.churn) is not None:
            at_churn = _Current(churned.seller, _money_record(churned.amount), churned.pipeline)
            churn = _close_record(churned.churned_at, base.newest, at_churn, at_win, churned.reason)
    if (lost := base.loss) is not None:
        at_loss = _Current(lost.seller, current.money, lost.pipeline)
        loss = _close_record(lost.lost_at, base.newest, at_loss, current, lost.reason)
    return SnapshotRecord(
        newest=format_instant(base.newest),
        status=base.status.value,
        tenant=None if base.tenant == DEFAULT_TENANT else base.tenant,
        event_count=base.event_count or None,
        event_ids=sorted(base.event_ids) or None,
        pipeline=base.pipeline,
        owner=base.owner,
        stage=base.stage,
        amount=current.money,
        expected_close_date=_date_text(base.expected_close_date),
        created_at=None if base.created_at is None else format_instant(base.created_at),
        entered_at=None if base.entered_at is None else format_instant(base.entered_at),
        seen_other_event=1 if base.seen_other_event else None,
        anomalies=sorted(anomaly.value for anomaly in base.anomalies) or None,
        stages=_stage_groups(base.stages) or None,
        win=win,
        churn=churn,
        loss=loss,
    )


def snapshot_fields(record: SnapshotRecord) -> dict[str, Any]:
    """The fields of the `DealSnapshot` that `record` stores, as keyword arguments."""
    newest = datetime.fromisoformat(record.newest)
    current = _Current(record.owner, record.amount, record.pipeline)

    def closed_at(close: CloseRecord) -> datetime:
        return newest if close.at is msgspec.UNSET else datetime.fromisoformat(close.at)

    win = churn = loss = None
    if (won := record.win) is not None:
        at_win = _inherit(won, current)
        win = Win(closed_at(won), at_win.seller, _money(at_win.money), at_win.pipeline)
        if (churned := record.churn) is not None:
            at_churn = _inherit(churned, at_win)
            churn = Churn(
                closed_at(churned),
                churned.reason,
                at_churn.seller,
                _money(at_churn.money),
                at_churn.pipeline,
            )
    if (lost := record.loss) is not None:
        at_loss = _inherit(lost, current)
        loss = Loss(closed_at(lost), lost.reason, at_loss.seller, at_loss.pipeline)
    return {
        "newest": newest,
        "status": DealStatus(record.status),
        "tenant": DEFAULT_TENANT if record.tenant is None else record.tenant,
        "event_count": record.event_count or 0,
        "event_ids": frozenset(record.event_ids or ()),
        "pipeline": record.pipeline,
        "owner": record.owner,
        "stage": record.stage,
        "amount": _money(record.amount),
        "expected_close_date": _date(record.expected_close_date),
        "created_at": _instant(record.created_at),
        "win": win,
        "loss": loss,
        "churn": churn,
        "entered_at": _instant(record.entered_at),
        "seen_other_event": bool(record.seen_other_event),
        "anomalies": frozenset(Anomaly(value) for value in record.anomalies or ()),
        "stages": _past_stages(record.stages or ()),
    }


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _stage_groups(stages: PastStages) -> list[list[Any]]:
    groups: list[list[Any]] = []
    for (pipeline, stage), left_to in stages:
        if not groups or groups[-1][0] != pipeline:
            groups.append([pipeline])
        groups[-1].append([stage, *left_to])
    return groups


def _past_stages(groups: Iterable[Sequence[Any]]) -> PastStages:
    return tuple(
        ((group[0], stage), tuple(left_to)) for group in groups for stage, *left_to in group[1:]
    )


# --- histories ------------------------------------------------------------------------


def encode_history(deal_id: str, events: Iterable[DealEvent], base: DealSnapshot | None) -> Any:
    """The stored, JSON-able form of a history (a dict)."""
    return msgspec.to_builtins(
        HistoryRecord(
            version=FORMAT_VERSION if base is None else COMPACTED_FORMAT_VERSION,
            deal_id=deal_id,
            events=[event_record(event) for event in events],
            base=None if base is None else snapshot_record(base),
        )
    )


def decode_history(encoded: Mapping[str, Any]) -> HistoryRecord:
    """The record of a stored history; `ValueError` for one this code cannot read."""
    version = encoded.get("v")
    if version not in (FORMAT_VERSION, COMPACTED_FORMAT_VERSION):
        raise ValueError(f"unknown deal history format {version!r}")
    try:
        record = msgspec.convert(encoded, HistoryRecord)
    except msgspec.ValidationError as error:
        raise ValueError(f"not a stored deal history: {error}") from error
    if (record.base is None) != (version == FORMAT_VERSION):
        held = "without" if record.base is None else "with"
        raise ValueError(f"a history of format {version} {held} a snapshot")
    return record
