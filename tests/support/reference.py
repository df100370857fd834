"""A deliberately plain, independent computation of every metric, for tests only (an oracle).

`reference(events, ctx)` must equal `streams.domain.replay.compute(events, ctx)` for
every valid input. It is written from `docs/metrics.md` and `docs/events.md`, not from
the domain code, and imports none of `fold`, `contributions` (but for the key type
and `MISSING`), `aggregates`, `replay` or `compaction`. In order:

1. Drop each event too late for every granularity, i.e. before the oldest retained
   window of each (rule R); those windows are recomputed here from `ctx.now`.
2. Group by deal. Of the events sharing an id, keep a `deal.deleted` over any other,
   then the one whose canonical encoding sorts first. The encoding is re-derived in
   `canonical`, not imported: the compact form in the docstring of
   `streams.domain.history`, as JSON with sorted keys and no spaces (that detail is
   in the code only, not in the docs).
3. A deal left with a `deal.deleted` adds nothing. Any other is walked once, in
   `(occurred_at, event_id)` order, with plain local variables (`_walk`).
4. What the walk found is summed per metric, labels and window (`_emit`). The
   active-deal changes come from counting the deals active at each retained window's
   start, window by window (`_active_changes`).

Arithmetic runs in a 200-digit context that traps any rounding. The one rounding is
the documented one: a converted amount, to 6 decimals, half-even.
"""

# Where the docs and `compute` disagree, or the docs are silent, `compute` is followed:
#
# - An amount already in the reporting currency is not rounded to 6 decimals (no
#   difference for valid events, which have at most 6).
# - "Closes add `-> won`/`-> lost`": not a won event on a lost deal (implicit reopen)
#   or a lost on a won one, nor a close of a deal that has no stage: no transition.
# - A pipeline learnt late (none before) relabels the visit in progress with it, while
#   the earlier visits and transitions keep `pipeline="(none)"`.
# - A won or lost event naming a new pipeline splits the visit first: the stage is
#   entered in the new pipeline, spends 0 s there, and advances (to won) from there,
#   not from the old pipeline's stage.
# - A deal without a pipeline counts as `unknown_pipeline`, an open deal without a
#   stage as `unknown_stage`; a stage remembered while closed is never checked.
# - `stage_change_while_closed` is flagged only for a stage other than the remembered
#   one, never for a created event's stage (remembered silently).
# - `events_after_delete` can never be exported: only deleted deals have it.
# - Rule R runs before deduplication: a too-late `deal.deleted` does not beat an
#   in-time event with its id. A deal whose events are all too late leaves the open
#   pipeline and the anomaly gauges too, although they have no window.
# - `dealpulse_deals_active_change` has windows after the current one too (for wins
#   dated after `now`); only the exposition stops at the current window.

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import NamedTuple

from streams.domain import metrics
from streams.domain.context import MetricContext
from streams.domain.contributions import MISSING, ContributionKey, Labels
from streams.domain.errors import UnknownCurrencyError
from streams.domain.events import DealEvent, EventType
from streams.domain.money import Money
from streams.domain.windows import Granularity, Window

Totals = dict[ContributionKey, Decimal]
EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])
ROUNDING = Context(prec=200, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation])
ONE = Decimal(1)
END_NAMES = frozenset({"won", "lost", "churned", "deleted"})  # never a stage
CHANGES = frozenset({EventType.STAGE_CHANGED, EventType.AMOUNT_CHANGED, EventType.OWNER_CHANGED})
READS_STAGE = CHANGES | {EventType.CREATED, EventType.REOPENED}


class Close(NamedTuple):
    """A win, a loss or a churn; a churn carries the seller, amount and pipeline of its win."""

    at: datetime
    seller: str | None
    amount: Money | None  # None for a loss
    pipeline: str | None
    reason: str | None  # None for a win


class Visit(NamedTuple):
    pipeline: str | None
    stage: str
    entered_at: datetime
    left_at: datetime | None  # None: still there
    left_to: str | None  # the next stage, won or lost; None if still there or re-piped


class Move(NamedTuple):
    pipeline: str | None
    from_stage: str
    to_stage: str
    at: datetime


class Walked(NamedTuple):
    """What a deal's events say, once walked."""

    tenant: str
    status: str  # open, won, lost or churned
    pipeline: str | None
    stage: str | None
    amount: Money | None
    created_at: datetime | None
    win: Close | None
    loss: Close | None
    churn: Close | None
    visits: list[Visit]
    moves: list[Move]
    flags: set[str]
    owner: str | None = None
    closes_on: date | None = None  # the expected close date in force


def reference(events: Iterable[DealEvent], ctx: MetricContext) -> dict[ContributionKey, Decimal]:
    """Every metric's aggregated samples, keyed as `compute` keys them; zeros left out."""
    with localcontext(EXACT):
        oldest = _oldest_windows(ctx)
        kept = [event for event in events if not _too_late(event, ctx.timezone, oldest)]
        totals: Totals = {}
        wins: list[tuple[Labels, datetime, datetime | None]] = []
        for deal_events in _deals(kept).values():
            if any(event.type is EventType.DELETED for event in deal_events):
                continue  # deletion is final: the deal contributes nothing at all
            deal = _walk(deal_events)
            _emit(deal, ctx, oldest, totals)
            if deal.win is not None:
                churned_at = None if deal.churn is None else deal.churn.at
                wins.append((_seller(deal.tenant, deal.win), deal.win.at, churned_at))
        _active_changes(wins, ctx, oldest, totals)
        return {key: value for key, value in totals.items() if value != 0}


# --- windows ----------------------------------------------------------------------------


def _start_of(day: date, granularity: Granularity) -> date:
    """The first local date of the window of `granularity` holding `day`."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def _step(start: date, granularity: Granularity, forward: bool) -> date:
    """The start of the next (or the previous) window."""
    if granularity is Granularity.MONTH:
        return (start + timedelta(days=31 if forward else -1)).replace(day=1)
    days = 1 if granularity is Granularity.DAY else 7
    return start + timedelta(days=days if forward else -days)


def _oldest_windows(ctx: MetricContext) -> dict[Granularity, date]:
    """Per granularity, the start of the oldest retained window: `retention - 1` before now's."""
    oldest: dict[Granularity, date] = {}
    for granularity, retention in ctx.retention.items():
        start = _start_of(ctx.now.astimezone(ctx.timezone).date(), granularity)
        for _ in range(retention - 1):
            start = _step(start, granularity, forward=False)
        oldest[granularity] = start
    return oldest


def _too_late(event: DealEvent, tz: tzinfo, oldest: Mapping[Granularity, date]) -> bool:
    day = event.occurred_at.astimezone(tz).date()
    return bool(oldest) and all(_start_of(day, g) < first for g, first in oldest.items())


def _windows_of(at: datetime, tz: tzinfo, oldest: Mapping[Granularity, date]) -> list[Window]:
    """The retained windows holding instant `at`, one per granularity (later ones are kept)."""
    day = at.astimezone(tz).date()
    starts = {granularity: _start_of(day, granularity) for granularity in oldest}
    return [Window(g, start) for g, start in starts.items() if start >= oldest[g]]


# --- one deal's events ------------------------------------------------------------------


def canonical(event: DealEvent) -> str:
    """The event as `streams.domain.history` encodes it (see its docstring), as JSON."""
    fields: dict[str, object] = {
        "i": event.event_id,
        "y": event.type.value.removeprefix("deal."),
        "t": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if event.tenant != "default":
        fields["n"] = event.tenant
    texts = ("p", event.pipeline), ("s", event.stage), ("o", event.owner), ("r", event.reason)
    for key, value in (*texts, ("f", event.source)):
        if value is not None:
            fields[key] = value
    if event.amount is not None:
        fields["a"], fields["c"] = str(event.amount.amount), event.amount.currency
    if event.schema_version != 1:
        fields["v"] = event.schema_version
    if event.expected_close_date is not None:
        fields["d"] = event.expected_close_date.isoformat()
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def _deals(events: Iterable[DealEvent]) -> dict[str, list[DealEvent]]:
    """Each deal's distinct events, in `(occurred_at, event_id)` order."""
    twins: dict[tuple[str, str], list[DealEvent]] = {}
    for event in events:
        twins.setdefault((event.deal_id, event.event_id), []).append(event)
    by_deal: dict[str, list[DealEvent]] = {}
    for (deal_id, _), same_id in twins.items():
        kept = min(same_id, key=lambda e: (e.type is not EventType.DELETED, canonical(e)))
        by_deal.setdefault(deal_id, []).append(kept)
    return {
        deal_id: sorted(found, key=lambda e: (e.occurred_at, e.event_id))
        for deal_id, found in by_deal.items()
    }


def _walk(events: list[DealEvent]) -> Walked:
    """Replays one deal's distinct events in order, as docs/metrics.md "Fold" tells."""
    tenant, status, seen_other = events[0].tenant, "open", False
    pipeline: str | None = None
    owner: str | None = None
    stage: str | None = None
    amount: Money | None = None
    closes_on: date | None = None
    created_at: datetime | None = None
    win: Close | None = None
    loss: Close | None = None
    churn: Close | None = None
    since: datetime | None = None  # when the visit in progress (of `stage`) began
    visits: list[Visit] = []
    moves: list[Move] = []
    flags: set[str] = set()

    def end_visit(at: datetime, next_stage: str) -> None:
        """The visit in progress, if any, ends: a visit, and a transition to `next_stage`."""
        nonlocal since
        if since is not None and stage is not None:
            visits.append(Visit(pipeline, stage, since, at, next_stage))
            moves.append(Move(pipeline, stage, next_stage, at))
            since = None

    for event in events:
        at, kind = event.occurred_at, event.type
        if event.tenant != tenant:
            flags.add("mixed_tenants")
        to = event.stage if kind in READS_STAGE and event.stage not in END_NAMES else None
        if kind is EventType.CREATED:  # the initial state: fills in only what is unknown
            if created_at is None:
                created_at = at
                if seen_other:
                    flags.add("events_before_created")
            else:
                flags.add("repeated_created")
            pipeline = event.pipeline if pipeline is None else pipeline
            owner = event.owner if owner is None else owner
            amount = event.amount if amount is None else amount
            closes_on = event.expected_close_date if closes_on is None else closes_on
            if stage is None and to is not None:
                stage, since = to, (at if status == "open" else None)
            continue
        seen_other = True
        if event.pipeline is not None and event.pipeline != pipeline:
            if pipeline is not None:
                flags.add("pipeline_changed")
                if since is not None and stage is not None:  # same stage, new pipeline
                    visits.append(Visit(pipeline, stage, since, at, None))
                    since = at
            pipeline = event.pipeline
        owner = event.owner if event.owner is not None else owner
        amount = event.amount if event.amount is not None else amount
        if event.expected_close_date is not None:
            closes_on = event.expected_close_date
        if kind is EventType.WON:
            if status in ("won", "churned"):
                flags.add("repeated_close")
                continue
            if status == "lost":
                flags.add("implicit_reopen")
            end_visit(at, "won")  # none in progress unless the deal was open
            status, win, loss = "won", Close(at, owner, amount, pipeline, None), None
            if amount is None:
                flags.add("won_without_amount")
        elif kind is EventType.LOST:
            if status in ("lost", "churned"):
                flags.add("repeated_close")
                continue
            if status == "won":
                flags.add("implicit_reopen")
            end_visit(at, "lost")
            status, loss, win = "lost", Close(at, owner, None, pipeline, event.reason), None
        elif kind is EventType.CHURNED:
            if status == "churned":
                flags.add("repeated_close")
            elif status != "won":
                flags.add("churn_without_win")
            elif win is not None:  # (a won deal has its win)
                status, churn = "churned", win._replace(at=at, reason=event.reason)
        elif kind is EventType.REOPENED and status != "open":
            if status == "churned":
                flags.add("reopened_after_churn")
            closed_as, status, win, loss, churn = status, "open", None, None, None
            stage = to if to is not None else stage
            if stage is not None:
                moves.append(Move(pipeline, closed_as, stage, at))
                since = at
        else:  # a change, or a reopen of an open deal: to the stage it names, if any
            if kind is EventType.REOPENED:
                flags.add("reopen_while_open")
            if to is None or to == stage:
                continue
            if status == "open":
                end_visit(at, to)
                since = at
            else:
                flags.add("stage_change_while_closed")  # remembered for a reopen
            stage = to

    if status == "open" and since is not None and stage is not None:
        visits.append(Visit(pipeline, stage, since, None, None))
    if created_at is None:
        flags.add("no_created")
    elif win is not None and created_at > win.at:
        flags.add("created_after_win")
    return Walked(
        tenant,
        status,
        pipeline,
        stage,
        amount,
        created_at,
        win,
        loss,
        churn,
        visits,
        moves,
        flags,
        owner,
        closes_on,
    )


# --- what a deal adds -------------------------------------------------------------------


def _labels(**values: str | None) -> Labels:
    return tuple(
        sorted((name, MISSING if value is None else value) for name, value in values.items())
    )


def _seller(tenant: str, win: Close) -> Labels:
    return _labels(tenant=tenant, pipeline=win.pipeline, seller=win.seller)


def _reporting(money: Money | None, ctx: MetricContext) -> Decimal:
    """`money` in reporting currency: amount * rate, rounded half-even to 6 decimals."""
    if money is None:
        return Decimal(0)
    if money.currency == ctx.reporting_currency:
        return money.amount
    rate = ctx.rates.get(money.currency)
    if rate is None:
        raise UnknownCurrencyError(money.currency, ctx.reporting_currency)
    return (money.amount * rate).quantize(Decimal("0.000001"), context=ROUNDING)


def _seconds(duration: timedelta) -> Decimal:
    return Decimal(duration // timedelta(microseconds=1)) / 1_000_000


def _stages(ctx: MetricContext, pipeline: str | None) -> dict[str, Decimal] | None:
    """The pipeline's configured stages, in order, with their win probabilities; None for a
    pipeline the configuration lacks."""
    spec = None if pipeline is None else ctx.pipelines.pipelines.get(pipeline)
    return None if spec is None else {stage.name: stage.win_probability for stage in spec.stages}


def _add(
    totals: Totals, metric: str, labels: Labels, window: Window | None, value: Decimal
) -> None:
    key = ContributionKey(metric, labels, window)
    totals[key] = totals.get(key, Decimal(0)) + value


def _emit(
    deal: Walked, ctx: MetricContext, oldest: Mapping[Granularity, date], totals: Totals
) -> None:
    tenant = deal.tenant

    def windowed(metric: str, labels: Labels, at: datetime, value: Decimal) -> None:
        for window in _windows_of(at, ctx.timezone, oldest):
            _add(totals, metric, labels, window, value)

    def observe(spec: metrics.Metric, labels: Labels, at: datetime, value: Decimal) -> None:
        """A histogram observation: counted in the first bucket whose bound is >= `value`."""
        bounds = (
            ctx.ticket_size_buckets
            if spec is metrics.TICKET_SIZE
            else metrics.DURATION_BUCKETS_SECONDS
        )
        le = next(
            (metrics.bucket_label(bound) for bound in bounds if value <= bound), metrics.UNBOUNDED
        )
        windowed(spec.in_bucket, tuple(sorted((*labels, ("le", le)))), at, ONE)
        windowed(spec.sum, labels, at, value)
        windowed(spec.count, labels, at, ONE)

    if (win := deal.win) is not None:
        seller, revenue = _seller(tenant, win), _reporting(win.amount, ctx)
        windowed(metrics.WON_REVENUE.name, seller, win.at, revenue)
        windowed(metrics.DEALS_WON.name, seller, win.at, ONE)
        windowed(metrics.DEALS_CLOSED.name, seller, win.at, ONE)
        observe(metrics.TICKET_SIZE, seller, win.at, revenue)
        if deal.created_at is not None and deal.created_at <= win.at:
            observe(metrics.SALES_CYCLE, seller, win.at, _seconds(win.at - deal.created_at))
    if (churn := deal.churn) is not None:
        labels = _labels(
            tenant=tenant, pipeline=churn.pipeline, seller=churn.seller, reason=churn.reason
        )
        windowed(metrics.DEALS_CHURNED.name, labels, churn.at, ONE)
        windowed(metrics.CHURNED_REVENUE.name, labels, churn.at, _reporting(churn.amount, ctx))
    if (loss := deal.loss) is not None:
        windowed(metrics.DEALS_CLOSED.name, _seller(tenant, loss), loss.at, ONE)
        labels = _labels(tenant=tenant, pipeline=loss.pipeline, reason=loss.reason)
        windowed(metrics.DEALS_LOST.name, labels, loss.at, ONE)

    first_entry: dict[tuple[str | None, str], datetime] = {}
    first_advance: dict[tuple[str | None, str], datetime] = {}
    for visit in deal.visits:  # in the order they began and ended
        first_entry.setdefault((visit.pipeline, visit.stage), visit.entered_at)
        if visit.left_at is None:
            continue
        stage = _labels(tenant=tenant, pipeline=visit.pipeline, stage=visit.stage)
        observe(
            metrics.TIME_IN_STAGE, stage, visit.left_at, _seconds(visit.left_at - visit.entered_at)
        )
        order = list(_stages(ctx, visit.pipeline) or {})
        later = visit.stage in order and visit.left_to in order
        if visit.left_to == "won" or (
            later and order.index(str(visit.left_to)) > order.index(visit.stage)
        ):
            first_advance.setdefault((visit.pipeline, visit.stage), visit.left_at)
    for metric, firsts in (
        (metrics.STAGE_ENTERED, first_entry),
        (metrics.STAGE_ADVANCED, first_advance),
    ):
        for (pipeline, stage_name), at in firsts.items():
            windowed(
                metric.name, _labels(tenant=tenant, pipeline=pipeline, stage=stage_name), at, ONE
            )
    for move in deal.moves:
        labels = _labels(
            tenant=tenant,
            pipeline=move.pipeline,
            from_stage=move.from_stage,
            to_stage=move.to_stage,
        )
        windowed(metrics.STAGE_TRANSITIONS.name, labels, move.at, ONE)

    flags = set(deal.flags)
    used = {(visit.pipeline, visit.stage) for visit in deal.visits}
    used |= {
        (move.pipeline, end) for move in deal.moves for end in (move.from_stage, move.to_stage)
    }
    if deal.status == "open":
        stage = _labels(tenant=tenant, pipeline=deal.pipeline, stage=deal.stage)
        value = _reporting(deal.amount, ctx)
        probability = (_stages(ctx, deal.pipeline) or {}).get(deal.stage or "", Decimal(0))
        _add(totals, metrics.OPEN_DEALS.name, stage, None, ONE)
        _add(totals, metrics.OPEN_PIPELINE_VALUE.name, stage, None, value)
        _add(totals, metrics.OPEN_PIPELINE_WEIGHTED_VALUE.name, stage, None, value * probability)
        if deal.closes_on is not None:  # what the forecast and the slipped deals come from
            closing = _labels(
                tenant=tenant,
                pipeline=deal.pipeline,
                seller=deal.owner,
                expected_close=deal.closes_on.isoformat(),
            )
            _add(totals, metrics.OPEN_DEALS_CLOSING.name, closing, None, ONE)
            _add(totals, metrics.OPEN_VALUE_CLOSING.name, closing, None, value)
            _add(
                totals, metrics.OPEN_WEIGHTED_VALUE_CLOSING.name, closing, None, value * probability
            )
        if deal.stage is None:
            flags.add("unknown_stage")
        else:
            used.add((deal.pipeline, deal.stage))
    for pipeline, stage_name in used | {(deal.pipeline, "won")}:  # "won": the pipeline alone
        known = _stages(ctx, pipeline)
        if known is None:
            flags.add("unknown_pipeline")
        elif stage_name not in known and stage_name not in END_NAMES:
            flags.add("unknown_stage")
    for flag in flags:
        _add(totals, metrics.DEAL_ANOMALIES.name, _labels(tenant=tenant, anomaly=flag), None, ONE)


def _active_changes(
    wins: list[tuple[Labels, datetime, datetime | None]],
    ctx: MetricContext,
    oldest: Mapping[Granularity, date],
    totals: Totals,
) -> None:
    """`dealpulse_deals_active_change`, from `dealpulse_deals_active_at_window_start`.

    For each window from the oldest retained one: the deals active at its start (won at
    or before it, not churned by then) minus those active at the previous window's start
    (none before the oldest). Up to the first window starting at or after the last win
    or churn: nothing changes after it.
    """
    if not wins:
        return
    last = max(at for _, won_at, churned_at in wins for at in (won_at, churned_at) if at)
    for granularity, start in oldest.items():
        before: dict[Labels, int] = {}
        while True:
            instant = datetime.combine(start, time(), tzinfo=ctx.timezone).astimezone(UTC)
            active: dict[Labels, int] = {}
            for labels, won_at, churned_at in wins:
                if won_at <= instant and (churned_at is None or instant < churned_at):
                    active[labels] = active.get(labels, 0) + 1
            for labels in active.keys() | before.keys():
                change = Decimal(active.get(labels, 0) - before.get(labels, 0))
                _add(
                    totals, metrics.DEALS_ACTIVE_CHANGE, labels, Window(granularity, start), change
                )
            if instant >= last:
                break
            before, start = active, _step(start, granularity, forward=True)
