"""`fold(history) -> DealView`: replay a deal's distinct events in `(occurred_at, event_id)` order.

The rules (also in `docs/metrics.md`, "Deal state"):

- `pipeline`, `owner`, `amount` and `expected_close_date` on any event set the
  current value, except on `deal.created`, whose fields only fill what is still
  unknown (it is the deal's initial state, even when other events sort before
  it). `deal.close_date_changed` does nothing else.
- `stage` on created, stage/amount/owner changes and reopened moves an open
  deal to that stage (a visit and a transition). On won, lost, churned and
  deleted events the stage field is ignored, and so is a stage named like an
  end (`won`, `lost`, `churned`, `deleted`) on any event. A stage set while the
  deal is closed is where a reopen without a stage of its own goes.
- won closes the open stage (`→ won`); lost likewise (`→ lost`). Won when lost,
  or lost when won, retracts the earlier close (the last one holds). Won when
  won, lost when lost, and churned when churned are ignored.
- reopened retracts the current win or loss (and a churn with its win) and
  re-enters the stage the deal closed from, or the stage the event names.
- churned counts only on a won deal; it keeps the seller, amount and pipeline
  of the win. Elsewhere it is ignored and flagged.
- deleted is final: later events are ignored and the view contributes nothing.
- a pipeline change closes the current visit (no transition) and enters the
  same stage in the new pipeline.

A compacted deal's fold resumes from its snapshot (`DealHistory.base`, made by
`snapshot`): the fields are the snapshot's, and its stage visits appear in the
view collapsed at `COMPACTED_AT`, one per stage entered and way it was left.
Their instant is out of every window, so they add nothing themselves, but a
stage already entered (or advanced) is not counted again, exactly as the full
list of visits would have it. Compacted transitions are left out: each one
ended a visit the snapshot keeps, or began the visit in progress, which the
snapshot keeps too; so no stage or pipeline is forgotten.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from streams.domain.events import DealEvent, EventType
from streams.domain.history import DealHistory, DealSnapshot, PastStages, StageKey
from streams.domain.money import Money
from streams.domain.pipeline_config import RESERVED_STAGE_NAMES
from streams.domain.view import (
    Anomaly,
    Churn,
    DealStatus,
    DealView,
    Loss,
    StageVisit,
    Transition,
    Win,
)

_STAGE_MOVERS = frozenset(
    {
        EventType.CREATED,
        EventType.STAGE_CHANGED,
        EventType.AMOUNT_CHANGED,
        EventType.OWNER_CHANGED,
        EventType.REOPENED,
    }
)


COMPACTED_AT = datetime(1970, 1, 1, tzinfo=UTC)
"""When a compacted deal's collapsed stage visits happened, for the view.

Before any retained window, so that they are never counted in one, even if the
retention is lengthened after the compaction.
"""


def fold(history: DealHistory) -> DealView:
    """The view of the deal whose distinct events `history` holds (after its snapshot)."""
    return replay_of(history).view()


def snapshot(history: DealHistory) -> DealSnapshot:
    """The state after every event of `history`: what `fold` needs to resume from.

    A deleted deal's snapshot is a tombstone: deletion is final and the deal
    contributes nothing, whatever comes after.
    """
    replay = replay_of(history)
    newest = history.newest
    if newest is None:
        raise ValueError(f"deal {history.deal_id} has no event to snapshot")
    if replay.status is DealStatus.DELETED:
        return DealSnapshot.tombstone(newest, replay.tenant)
    return DealSnapshot(
        newest=newest,
        status=replay.status,
        tenant=replay.tenant,
        event_count=replay.event_count,
        event_ids=history.event_ids,
        pipeline=replay.pipeline,
        owner=replay.owner,
        stage=replay.stage,
        amount=replay.amount,
        expected_close_date=replay.expected_close_date,
        created_at=replay.created_at,
        win=replay.win,
        loss=replay.loss,
        churn=replay.churn,
        entered_at=replay.entered_at,
        seen_other_event=replay.seen_other_event and replay.created_at is None,  # else unread
        anomalies=frozenset(replay.anomalies),
        stages=replay.stages_seen(),
    )


def replay_of(history: DealHistory) -> DealReplay:
    """The deal's state after the events of `history`: later events in order can follow."""
    if history.base is not None:
        replay = DealReplay.resume(history.deal_id, history.base)
    else:
        replay = DealReplay(history.deal_id, history.events[0].tenant if history.events else "")
    for event in history.events:
        replay.apply(event)
    return replay


class DealReplay:
    """The deal's state while its events are applied in order.

    `streams.domain.live_deal` keeps one between a deal's events: an event that
    sorts after every event applied so far is applied to it directly. Its lists
    of closed visits and transitions only grow.
    """

    __slots__ = (
        "amount",
        "anomalies",
        "churn",
        "created_at",
        "deal_id",
        "entered_at",
        "event_count",
        "expected_close_date",
        "loss",
        "owner",
        "past",
        "pipeline",
        "seen_other_event",
        "stage",
        "status",
        "tenant",
        "transitions",
        "visits",
        "win",
    )

    def __init__(self, deal_id: str, tenant: str) -> None:
        self.deal_id = deal_id
        self.tenant = tenant
        self.pipeline: str | None = None
        self.owner: str | None = None
        self.stage: str | None = None
        self.amount: Money | None = None
        self.expected_close_date: date | None = None
        self.created_at: datetime | None = None
        self.status = DealStatus.OPEN
        self.win: Win | None = None
        self.loss: Loss | None = None
        self.churn: Churn | None = None
        self.entered_at: datetime | None = None  # of the visit in progress, if any
        self.visits: list[StageVisit] = []
        self.transitions: list[Transition] = []
        self.anomalies: set[Anomaly] = set()
        self.seen_other_event = False  # an event other than created came first
        self.event_count = 0
        self.past: DealSnapshot | None = None  # the snapshot resumed from, if any

    @classmethod
    def resume(cls, deal_id: str, base: DealSnapshot) -> DealReplay:
        """The state a snapshot recorded, ready for the events after it."""
        replay = cls(deal_id, base.tenant)
        replay.pipeline = base.pipeline
        replay.owner = base.owner
        replay.stage = base.stage
        replay.amount = base.amount
        replay.expected_close_date = base.expected_close_date
        replay.created_at = base.created_at
        replay.status = base.status
        replay.win = base.win
        replay.loss = base.loss
        replay.churn = base.churn
        replay.entered_at = base.entered_at
        replay.anomalies = set(base.anomalies)
        replay.seen_other_event = base.seen_other_event
        replay.event_count = base.event_count
        replay.past = base
        return replay

    def apply(self, event: DealEvent) -> None:
        self.event_count += 1
        if self.status is DealStatus.DELETED:
            self.anomalies.add(Anomaly.EVENTS_AFTER_DELETE)
            return
        if event.tenant != self.tenant:
            self.anomalies.add(Anomaly.MIXED_TENANTS)
        at = event.occurred_at
        stage = event.stage if event.type in _STAGE_MOVERS else None
        if stage in RESERVED_STAGE_NAMES:
            stage = None
        if event.type is EventType.CREATED:
            self._created(at, event, stage)
            return
        self.seen_other_event = True
        if event.pipeline is not None and event.pipeline != self.pipeline:
            self._change_pipeline(event.pipeline, at)
        if event.owner is not None:
            self.owner = event.owner
        if event.amount is not None:
            self.amount = event.amount
        if event.expected_close_date is not None:
            self.expected_close_date = event.expected_close_date
        match event.type:
            case EventType.WON:
                self._won(at)
            case EventType.LOST:
                self._lost(at, event.reason)
            case EventType.CHURNED:
                self._churned(at, event.reason)
            case EventType.REOPENED:
                self._reopened(at, stage)
            case EventType.DELETED:
                self.status = DealStatus.DELETED
            case _:
                if stage is not None:
                    self._move(stage, at)

    # --- lifecycle --------------------------------------------------------------

    def _created(self, at: datetime, event: DealEvent, stage: str | None) -> None:
        if self.created_at is None:
            self.created_at = at
            if self.seen_other_event:
                self.anomalies.add(Anomaly.EVENTS_BEFORE_CREATED)
        else:
            self.anomalies.add(Anomaly.REPEATED_CREATED)
        if self.pipeline is None and event.pipeline is not None:
            self._change_pipeline(event.pipeline, at)
        if self.owner is None:
            self.owner = event.owner
        if self.amount is None:
            self.amount = event.amount
        if self.expected_close_date is None:
            self.expected_close_date = event.expected_close_date
        if self.stage is None and stage is not None:
            if self.status is DealStatus.OPEN:
                self._move(stage, at)
            else:
                self.stage = stage  # where a reopen will go

    def _won(self, at: datetime) -> None:
        if self.status in (DealStatus.WON, DealStatus.CHURNED):
            self.anomalies.add(Anomaly.REPEATED_CLOSE)
            return
        if self.status is DealStatus.LOST:
            self.anomalies.add(Anomaly.IMPLICIT_REOPEN)
            self.loss = None
        else:
            self._leave(at, "won")
        self.status = DealStatus.WON
        self.win = Win(won_at=at, seller=self.owner, amount=self.amount, pipeline=self.pipeline)
        if self.amount is None:
            self.anomalies.add(Anomaly.WON_WITHOUT_AMOUNT)

    def _lost(self, at: datetime, reason: str | None) -> None:
        if self.status in (DealStatus.LOST, DealStatus.CHURNED):
            self.anomalies.add(Anomaly.REPEATED_CLOSE)
            return
        if self.status is DealStatus.WON:
            self.anomalies.add(Anomaly.IMPLICIT_REOPEN)
            self.win = None
        else:
            self._leave(at, "lost")
        self.status = DealStatus.LOST
        self.loss = Loss(lost_at=at, reason=reason, seller=self.owner, pipeline=self.pipeline)

    def _churned(self, at: datetime, reason: str | None) -> None:
        if self.status is DealStatus.CHURNED:
            self.anomalies.add(Anomaly.REPEATED_CLOSE)
            return
        if self.status is not DealStatus.WON or self.win is None:
            self.anomalies.add(Anomaly.CHURN_WITHOUT_WIN)
            return
        win = self.win
        self.status = DealStatus.CHURNED
        self.churn = Churn(
            churned_at=at,
            reason=reason,
            seller=win.seller,
            amount=win.amount,
            pipeline=win.pipeline,
        )

    def _reopened(self, at: datetime, stage: str | None) -> None:
        closed_as = self.status
        if closed_as is DealStatus.OPEN:
            self.anomalies.add(Anomaly.REOPEN_WHILE_OPEN)
            if stage is not None:
                self._move(stage, at)
            return
        if closed_as is DealStatus.CHURNED:
            self.anomalies.add(Anomaly.REOPENED_AFTER_CHURN)
        self.win = self.loss = self.churn = None
        self.status = DealStatus.OPEN
        if stage is not None:
            self.stage = stage
        if self.stage is not None:
            self.transitions.append(Transition(self.pipeline, closed_as.value, self.stage, at))
            self.entered_at = at

    # --- stages -------------------------------------------------------------------

    def _move(self, stage: str, at: datetime) -> None:
        if self.status is not DealStatus.OPEN:
            if stage != self.stage:
                self.anomalies.add(Anomaly.STAGE_CHANGE_WHILE_CLOSED)
                self.stage = stage
            return
        if stage == self.stage:
            return
        if self.stage is not None:
            self._leave(at, stage)
        self.stage = stage
        self.entered_at = at

    def _leave(self, at: datetime, to_stage: str) -> None:
        """End the visit in progress; `to_stage` is the next stage, won or lost."""
        if self.stage is None or self.entered_at is None:
            return
        self.visits.append(StageVisit(self.pipeline, self.stage, self.entered_at, at, to_stage))
        self.transitions.append(Transition(self.pipeline, self.stage, to_stage, at))
        self.entered_at = None

    def _change_pipeline(self, pipeline: str, at: datetime) -> None:
        previous = self.pipeline
        self.pipeline = pipeline
        if previous is None:
            return  # first learnt: the visit in progress, if any, was in this pipeline
        self.anomalies.add(Anomaly.PIPELINE_CHANGED)
        if self.stage is not None and self.entered_at is not None:
            self.visits.append(StageVisit(previous, self.stage, self.entered_at, at, None))
            self.entered_at = at

    # --- compaction -------------------------------------------------------------

    def stages_seen(self) -> PastStages:
        """`DealSnapshot.stages`: the past's, with this replay's visits, by pipeline."""
        left_for: dict[StageKey, list[str]] = {}
        if self.past is not None:
            for key, left_to in self.past.stages:
                left_for[key] = list(left_to)
        for visit in self.visits:
            ways = left_for.setdefault((visit.pipeline, visit.stage), [])
            if visit.left_to is not None and visit.left_to not in ways:
                ways.append(visit.left_to)
        pipelines = list(dict.fromkeys(pipeline for pipeline, _ in left_for))
        grouped = sorted(left_for.items(), key=lambda item: pipelines.index(item[0][0]))
        return tuple((key, tuple(ways)) for key, ways in grouped)

    def past_visits(self) -> list[StageVisit]:
        """The compacted visits, collapsed at `COMPACTED_AT` (none without a snapshot)."""
        if self.past is None:
            return []
        at = COMPACTED_AT
        return [
            StageVisit(pipeline, stage, at, at, left_to)
            for (pipeline, stage), ways in self.past.stages
            for left_to in (ways or (None,))
        ]

    def in_progress(self) -> StageVisit | None:
        """The visit the open deal is in, if it is in a stage."""
        if (
            self.status is DealStatus.OPEN
            and self.stage is not None
            and self.entered_at is not None
        ):
            return StageVisit(self.pipeline, self.stage, self.entered_at)
        return None

    def view_anomalies(self) -> frozenset[Anomaly]:
        """The anomalies of the view: those found while replaying, and the missing creation."""
        if self.created_at is None:
            return frozenset((*self.anomalies, Anomaly.NO_CREATED))
        if self.win is not None and self.created_at > self.win.won_at:
            return frozenset((*self.anomalies, Anomaly.CREATED_AFTER_WIN))
        return frozenset(self.anomalies)

    def view(self) -> DealView:
        visits = [*self.past_visits(), *self.visits]
        in_progress = self.in_progress()
        if in_progress is not None:
            visits.append(in_progress)
        return DealView(
            deal_id=self.deal_id,
            event_count=self.event_count,
            tenant=self.tenant,
            pipeline=self.pipeline,
            owner=self.owner,
            stage=self.stage,
            amount=self.amount,
            created_at=self.created_at,
            status=self.status,
            win=self.win,
            loss=self.loss,
            churn=self.churn,
            visits=tuple(visits),
            transitions=tuple(self.transitions),
            anomalies=self.view_anomalies(),
            expected_close_date=self.expected_close_date,
        )
