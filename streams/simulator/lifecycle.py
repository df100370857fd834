"""One deal's story, from creation to a close, churn, reopening or silence.

A deal walks its pipeline's stages; at each stage it may pick up an owner or
amount change, then advances, is lost, or goes quiet (stays open for good).
Won deals may churn months later; closed deals may be reopened and walk on.
All randomness comes from the `rng` passed in, so a deal is a pure function of
(rng state, deal index, config). The expected close date, which sellers set at
creation and move when a deal runs late, draws from a generator of its own,
seeded from (seed, deal index).
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from streams.domain.events import SCHEMA_VERSION, EventType
from streams.simulator.config import SimulationConfig
from streams.simulator.messages import WireEvent, format_timestamp
from streams.simulator.pipelines import Pipeline, pipelines_for, seller_ids, tenant_ids

SOURCE = "simcrm"
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")
CURRENCY_WEIGHTS = (0.70, 0.15, 0.10, 0.03, 0.02)
CENTS = Decimal("0.01")
MIN_AMOUNT = Decimal("1.00")
MAX_AMOUNT = Decimal("999999999999.99")  # the schema allows 12 integer digits

MILLISECOND_CLOCK_SHARE = 0.5  # deals whose CRM stamps milliseconds, the rest whole seconds
MIN_STEP = timedelta(seconds=1)  # keeps a deal's events strictly ordered in time
DWELL_SIGMA = 0.8  # log-space spread of time in a stage: hours to weeks
STALL_PROBABILITY = 0.03  # per stage: the deal goes quiet and stays open
AMOUNT_CHANGE_PROBABILITY = 0.12  # per stage
AMOUNT_CHANGE_SIGMA = 0.25
OWNER_CHANGE_PROBABILITY = 0.04  # per stage
CHURN_MEDIAN_DELAY = timedelta(days=120)
CHURN_DELAY_SIGMA = 0.6
REOPEN_AFTER_LOSS_PROBABILITY = 0.06
REOPEN_AFTER_WIN_PROBABILITY = 0.02
REOPEN_MEDIAN_DELAY = timedelta(days=21)
MAX_REOPENS = 2
DELETE_PROBABILITY = 0.01
DELETE_MEDIAN_DELAY = timedelta(days=10)
CLOSE_DATE_SIGMA = 0.4  # log-space spread of a seller's estimate of the time left
CLOSE_DATE_RETHINK_PROBABILITY = 0.6  # per stage change of a deal already past its date
CLOSE_DATE_SLIP_PROBABILITY = 0.08  # per stage change of a deal on time: pushed out
CLOSE_DATE_SLIP = (timedelta(days=7), timedelta(days=45))
CLOSE_DATE_CHANGE_PROBABILITY = 0.05  # per stage: the date alone moves (deal.close_date_changed)
_CLOSE_DATE_TYPES = frozenset(
    {
        EventType.CREATED,
        EventType.STAGE_CHANGED,
        EventType.AMOUNT_CHANGED,
        EventType.OWNER_CHANGED,
        EventType.REOPENED,
    }
)

Outcome = Literal["won", "lost", "stalled"]


@dataclass(slots=True)
class _Deal:
    """The deal's current state while its events are written, in time order."""

    rng: random.Random
    deal_id: str
    tenant: str
    pipeline: Pipeline
    stage: str
    owner: str
    sellers: tuple[str, ...]
    amount: Decimal
    currency: str
    clock: datetime
    milliseconds: bool
    close_rng: random.Random
    expected_close: date | None = None
    events: list[WireEvent] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)

    def wait(self, delay: timedelta) -> None:
        """Move the clock on, at least a second, truncated to the CRM's precision."""
        moment = self.clock + max(delay, MIN_STEP)
        kept_microseconds = moment.microsecond // 1000 * 1000 if self.milliseconds else 0
        self.clock = moment.replace(microsecond=kept_microseconds)

    def emit(
        self, event_type: EventType, *, money: bool = False, reason: str | None = None
    ) -> None:
        event: WireEvent = {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "schema_version": SCHEMA_VERSION,
            "type": event_type.value,
            "occurred_at": format_timestamp(self.clock),
            "deal_id": self.deal_id,
            "tenant": self.tenant,
            "pipeline": self.pipeline.name,
            "stage": self.stage,
            "owner": self.owner,
            "source": SOURCE,
        }
        if money:
            event["amount"] = str(self.amount)
            event["currency"] = self.currency
        if reason is not None:
            event["reason"] = reason
        if event_type in _CLOSE_DATE_TYPES:
            self._estimate_close(event_type)
        if event_type in _CLOSE_DATE_TYPES or event_type is EventType.CLOSE_DATE_CHANGED:
            event["expected_close_date"] = str(self.expected_close)
        self.events.append(event)
        self.times.append(self.clock)

    def _estimate_close(self, event_type: EventType) -> None:
        """Set the date at creation and reopening; rethink it, or let it slip, on the way."""
        rng = self.close_rng
        today = self.clock.date()
        if self.expected_close is None or event_type is EventType.REOPENED:
            self.expected_close = today + self._time_left(rng)
        elif event_type is EventType.STAGE_CHANGED:
            if self.expected_close < today:
                if rng.random() < CLOSE_DATE_RETHINK_PROBABILITY:
                    self.expected_close = today + self._time_left(rng)
            elif rng.random() < CLOSE_DATE_SLIP_PROBABILITY:
                self.slip_close()

    def slip_close(self) -> None:
        """Push the expected close date out by one to several weeks."""
        if self.expected_close is not None:
            shortest, longest = CLOSE_DATE_SLIP
            self.expected_close += shortest + (longest - shortest) * self.close_rng.random()

    def _time_left(self, rng: random.Random) -> timedelta:
        """A seller's guess: the median dwell of the stages ahead, give or take."""
        names = [stage.name for stage in self.pipeline.stages]
        ahead = names[names.index(self.stage) :] if self.stage in names else names
        median = sum(
            (stage.median_dwell for stage in self.pipeline.stages if stage.name in ahead),
            timedelta(),
        )
        return timedelta(days=round(median.days * rng.lognormvariate(0.0, CLOSE_DATE_SIGMA)))


def deal_lifecycle(
    rng: random.Random, deal_index: int, config: SimulationConfig, now: datetime | None = None
) -> list[WireEvent]:
    """The events of deal number `deal_index`, in time order, none after `now`.

    Cutting at `now` leaves the deals whose story is not over yet open, as a
    live CRM would have them.
    """
    deal = _open_deal(rng, deal_index, config)
    _tell_story(deal)
    if now is None:
        return deal.events
    return [event for event, moment in zip(deal.events, deal.times, strict=True) if moment <= now]


def _open_deal(rng: random.Random, deal_index: int, config: SimulationConfig) -> _Deal:
    tenants = tenant_ids(config.tenants)
    tenant = tenants[deal_index % len(tenants)]
    deal_id = f"deal-{deal_index + 1:06d}"
    if len(tenants) > 1:
        deal_id = f"{tenant}/{deal_id}"
    pipelines = pipelines_for(config.pipelines)
    pipeline = rng.choices(pipelines, weights=[p.weight for p in pipelines])[0]
    sellers = seller_ids(config.sellers)
    deal = _Deal(
        rng=rng,
        deal_id=deal_id,
        tenant=tenant,
        pipeline=pipeline,
        stage=pipeline.stages[0].name,
        owner=rng.choice(sellers),
        sellers=sellers,
        amount=_ticket_size(rng, pipeline),
        currency=rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0],
        clock=config.start,
        milliseconds=rng.random() < MILLISECOND_CLOCK_SHARE,
        close_rng=random.Random(f"{config.seed}/close/{deal_index}"),
    )
    deal.wait(config.span * rng.random())
    return deal


def _tell_story(deal: _Deal) -> None:
    deal.emit(EventType.CREATED, money=True)
    stage_index = 0
    for reopens in range(MAX_REOPENS + 1):
        outcome, stage_index = _walk_stages(deal, stage_index)
        if outcome == "stalled" or (outcome == "won" and _maybe_churn(deal)):
            break
        if reopens == MAX_REOPENS or not _maybe_reopen(deal, outcome, stage_index):
            break
    if deal.rng.random() < DELETE_PROBABILITY:
        deal.wait(_lognormal_delay(deal.rng, DELETE_MEDIAN_DELAY, DWELL_SIGMA))
        deal.stage = "deleted"
        deal.emit(EventType.DELETED)


def _walk_stages(deal: _Deal, first_stage: int) -> tuple[Outcome, int]:
    """Walk from `first_stage` until the deal is won, lost or goes quiet."""
    rng = deal.rng
    stages = deal.pipeline.stages
    for index in range(first_stage, len(stages)):
        stage = stages[index]
        dwell = _lognormal_delay(rng, stage.median_dwell, DWELL_SIGMA)
        dwell = _housekeeping(deal, dwell)
        deal.wait(dwell)
        if rng.random() < STALL_PROBABILITY:
            return "stalled", index
        if rng.random() >= stage.advance_probability:
            deal.stage = "lost"
            deal.emit(EventType.LOST, reason=rng.choice(deal.pipeline.loss_reasons))
            return "lost", index
        if index + 1 < len(stages):
            deal.stage = stages[index + 1].name
            deal.emit(EventType.STAGE_CHANGED)
    deal.stage = "won"
    deal.emit(EventType.WON, money=True)
    return "won", len(stages) - 1


def _housekeeping(deal: _Deal, dwell: timedelta) -> timedelta:
    """Maybe re-price, re-assign or re-date the deal part-way through a stage; the dwell
    left."""
    rng = deal.rng
    if rng.random() < AMOUNT_CHANGE_PROBABILITY:
        dwell = _spend_part(deal, dwell)
        factor = Decimal(rng.lognormvariate(0.0, AMOUNT_CHANGE_SIGMA))
        deal.amount = _clamp_amount(deal.amount * factor)
        deal.emit(EventType.AMOUNT_CHANGED, money=True)
    if rng.random() < OWNER_CHANGE_PROBABILITY:
        dwell = _spend_part(deal, dwell)
        others = [seller for seller in deal.sellers if seller != deal.owner]
        if others:
            deal.owner = rng.choice(others)
            deal.emit(EventType.OWNER_CHANGED)
    if deal.close_rng.random() < CLOSE_DATE_CHANGE_PROBABILITY:
        dwell = _spend_part(deal, dwell)
        deal.slip_close()
        deal.emit(EventType.CLOSE_DATE_CHANGED)
    return dwell


def _spend_part(deal: _Deal, dwell: timedelta) -> timedelta:
    spent = dwell * deal.rng.uniform(0.2, 0.6)
    deal.wait(spent)
    return dwell - spent


def _maybe_churn(deal: _Deal) -> bool:
    rng = deal.rng
    if rng.random() >= deal.pipeline.churn_probability:
        return False
    deal.wait(_lognormal_delay(rng, CHURN_MEDIAN_DELAY, CHURN_DELAY_SIGMA))
    deal.stage = "churned"
    deal.emit(EventType.CHURNED, reason=rng.choice(deal.pipeline.churn_reasons))
    return True


def _maybe_reopen(deal: _Deal, outcome: Outcome, stage_index: int) -> bool:
    """Reopen a closed deal into the stage it closed from; False if it stays closed."""
    rng = deal.rng
    chance = REOPEN_AFTER_WIN_PROBABILITY if outcome == "won" else REOPEN_AFTER_LOSS_PROBABILITY
    if rng.random() >= chance:
        return False
    deal.wait(_lognormal_delay(rng, REOPEN_MEDIAN_DELAY, DWELL_SIGMA))
    deal.stage = deal.pipeline.stages[stage_index].name
    deal.emit(EventType.REOPENED)
    return True


def _ticket_size(rng: random.Random, pipeline: Pipeline) -> Decimal:
    drawn = rng.lognormvariate(math.log(pipeline.median_amount), pipeline.amount_sigma)
    return _clamp_amount(Decimal(drawn))


def _clamp_amount(amount: Decimal) -> Decimal:
    return min(max(amount, MIN_AMOUNT), MAX_AMOUNT).quantize(CENTS)


def _lognormal_delay(rng: random.Random, median: timedelta, sigma: float) -> timedelta:
    return median * rng.lognormvariate(0.0, sigma)
