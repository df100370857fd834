"""`LiveDeal`: a deal's replay kept between its events, so that an event costs what it changes.

Recomputing all of a deal's contributions at every event, and diffing them
with the previous ones, costs the whole deal twice: 30 to 50 keys for one
stage change. A live deal keeps the replay (`DealReplay`) after its events,
the `StageTally` of what its stage history contributed, and its `Sections`,
the parts its current fields decide. An event that sorts after every event of
the deal is applied to the replay; `settle` then counts the visits and
transitions it appended, and recomputes only the sections whose data changed:
what is added and what is retracted go to two sinks, whose difference is the
change of the deal's contributions.

The result is exactly `contributions(fold(history), ctx)` minus the same of
the history before (`tests/unit/test_live_deal.py` checks it on any history).
An event out of order, an id reused or a deletion makes the replay stale: the
caller then recomputes the deal whole (`start`).
"""

from __future__ import annotations

from streams.domain.context import MetricContext
from streams.domain.contributions import (
    ContributionSink,
    Sections,
    StageTally,
    add_sections,
    anomalies_of_use,
    sections,
)
from streams.domain.events import DealEvent
from streams.domain.fold import DealReplay, replay_of
from streams.domain.history import DealHistory, sort_key
from streams.domain.view import Anomaly, DealStatus


class LiveDeal:
    """A deal's replay, and what the aggregates hold for it, to apply its next events."""

    __slots__ = ("_config_anomalies", "_config_checked", "parts", "replay", "tally")

    def __init__(self, replay: DealReplay) -> None:
        self.replay = replay
        self.tally = StageTally()
        self.parts: Sections | None = None
        """The sections the aggregates hold; None while they hold nothing for the deal."""
        self._config_checked: tuple[object, ...] = ()
        """What `_config_anomalies` was found from: the stages used (a set that only grows,
        so its size), the current pipeline, stage and status, and the configuration."""
        self._config_anomalies: frozenset[Anomaly] = frozenset()

    @classmethod
    def empty(cls, deal_id: str, tenant: str) -> LiveDeal:
        """A deal without events yet, whose first event is of `tenant`."""
        return cls(DealReplay(deal_id, tenant))

    @classmethod
    def start(
        cls, history: DealHistory, ctx: MetricContext, sink: ContributionSink | None
    ) -> LiveDeal:
        """The live deal after `history`, all of whose contributions go to `sink` (if any)."""
        live = cls(replay_of(history))
        live.tally.count(live.replay.tenant, live.replay.past_visits(), (), ctx, sink)
        live.settle(ctx, sink, None)
        return live

    @property
    def stale(self) -> bool:
        """Deleted: the deal contributes nothing any more, so all it held must be retracted
        (by recomputing the deal whole; the tally does not keep it)."""
        return self.replay.status is DealStatus.DELETED

    def follows(self, history: DealHistory, event: DealEvent) -> bool:
        """Whether `event`, a new id, sorts after every event of `history` (this deal's)."""
        if event.event_id in history:
            return False
        if history.events:
            return sort_key(history.events[-1]) < sort_key(event)
        return history.base is None or history.base.newest < event.occurred_at

    def apply(self, event: DealEvent) -> None:
        """Apply an event that `follows` the deal's history; `settle` counts what it changed."""
        self.replay.apply(event)

    def settle(
        self, ctx: MetricContext, added: ContributionSink | None, retracted: ContributionSink | None
    ) -> None:
        """Put what the events applied since the last settle add into `added`, and what they
        retract into `retracted`."""
        replay, tally = self.replay, self.tally
        if replay.event_count == 0 or replay.status is DealStatus.DELETED:
            return
        tally.count_live(
            replay.tenant,
            replay.visits,
            replay.transitions,
            replay.in_progress(),
            ctx,
            added,
            retracted,
        )
        anomalies = replay.view_anomalies() | self._against_config(ctx)
        parts = sections(replay, anomalies)
        if added is not None:
            add_sections(parts, self.parts, added)
        if retracted is not None and self.parts is not None:
            add_sections(self.parts, parts, retracted)
        self.parts = parts

    def _against_config(self, ctx: MetricContext) -> frozenset[Anomaly]:
        """`anomalies_of_use` of the deal, found again only when what it depends on changed."""
        replay = self.replay
        checked = (len(self.tally.used), replay.pipeline, replay.stage, replay.status)
        if checked != self._config_checked[:4] or self._config_checked[4] is not ctx.pipelines:
            self._config_anomalies = anomalies_of_use(self.tally.used, replay, ctx)
            self._config_checked = (*checked, ctx.pipelines)
        return self._config_anomalies
