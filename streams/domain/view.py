"""`DealView`: what one deal's distinct events say about it, ready for the metrics.

A view is built by `streams.domain.fold.fold` and never changed; every metric
contribution of the deal is a function of its view and the `MetricContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from streams.domain.money import Money


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    CHURNED = "churned"  # won, then cancelled: the win still stands
    DELETED = "deleted"  # final: the deal contributes nothing


class Anomaly(StrEnum):
    """Something implausible in a deal's history; the deal is still counted, as documented."""

    NO_CREATED = "no_created"  # no deal.created: created_at unknown, no sales cycle
    EVENTS_BEFORE_CREATED = "events_before_created"
    REPEATED_CREATED = "repeated_created"  # a second deal.created only fills gaps
    CHURN_WITHOUT_WIN = "churn_without_win"  # deal.churned on a deal not won: ignored
    REPEATED_CLOSE = "repeated_close"  # won when won, lost when lost, churned twice: ignored
    IMPLICIT_REOPEN = "implicit_reopen"  # won when lost or lost when won: the last one holds
    REOPEN_WHILE_OPEN = "reopen_while_open"
    REOPENED_AFTER_CHURN = "reopened_after_churn"  # retracts the churn and the win
    STAGE_CHANGE_WHILE_CLOSED = "stage_change_while_closed"  # remembered for a reopen
    EVENTS_AFTER_DELETE = "events_after_delete"  # ignored: deletion is final
    PIPELINE_CHANGED = "pipeline_changed"
    MIXED_TENANTS = "mixed_tenants"  # the deal's first event's tenant holds
    WON_WITHOUT_AMOUNT = "won_without_amount"  # counted as a win of 0
    CREATED_AFTER_WIN = "created_after_win"  # no sales cycle recorded
    # Found against the pipeline configuration (by `contributions`, not by the fold):
    UNKNOWN_PIPELINE = "unknown_pipeline"
    UNKNOWN_STAGE = "unknown_stage"


@dataclass(frozen=True, slots=True)
class Win:
    won_at: datetime
    seller: str | None  # the owner in force at the win
    amount: Money | None  # in force at the win: the won event's own amount when it has one
    pipeline: str | None


@dataclass(frozen=True, slots=True)
class Loss:
    lost_at: datetime
    reason: str | None
    seller: str | None
    pipeline: str | None


@dataclass(frozen=True, slots=True)
class Churn:
    churned_at: datetime
    reason: str | None
    seller: str | None  # of the win it cancels
    amount: Money | None  # of the win it cancels
    pipeline: str | None  # of the win it cancels


@dataclass(frozen=True, slots=True)
class StageVisit:
    """A stretch of time an open deal spent in one stage of one pipeline."""

    pipeline: str | None
    stage: str
    entered_at: datetime
    left_at: datetime | None = None  # None while the deal is still there
    left_to: str | None = None  # next stage, won or lost; None if still there or re-piped


@dataclass(frozen=True, slots=True)
class Transition:
    pipeline: str | None
    from_stage: str
    to_stage: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DealView:
    deal_id: str
    event_count: int  # distinct events folded; a deal with none contributes nothing
    tenant: str
    pipeline: str | None
    owner: str | None
    stage: str | None  # the open stage the deal is in, or closed from / will reopen into
    amount: Money | None
    created_at: datetime | None
    status: DealStatus
    win: Win | None  # the current win (also while churned); None when open, lost, retracted
    loss: Loss | None  # the current loss
    churn: Churn | None
    visits: tuple[StageVisit, ...]
    transitions: tuple[Transition, ...]
    anomalies: frozenset[Anomaly]
    expected_close_date: date | None = None  # the CRM's, as the last event carrying one set it
