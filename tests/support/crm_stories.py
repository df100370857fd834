"""Deal stories told once and written four ways: as Pipedrive webhooks v2, as HubSpot
webhook events (with what HubSpot's CRM API then answers), as Salesforce
`OpportunityChangeEvent`s, and as the canonical events a bridge must produce, built
here by hand, independently of the bridges' mapping."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from streams.domain.events import DEFAULT_TENANT, DealEvent, EventType
from streams.domain.money import Money
from tests.support.bridges import opportunity_event, pipedrive_deal, pipedrive_webhook
from tests.support.hubspot import HubSpotDealStory

STAGES = ("lead", "qualified", "proposal", "negotiation")
PIPEDRIVE_STAGE_IDS = (1, 2, 3, 4)
HUBSPOT_STAGE_IDS = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "decisionmakerboughtin",
    "contractsent",
)
CLOSE_DATE = date(2026, 12, 31)
PIPEDRIVE_LOST_REASON = "Price too high"
HUBSPOT_LOST_REASON = "closed lost in HubSpot"  # the mapping's (tests/support/hubspot.py)
SALESFORCE_STAGE_NAMES = (
    "Prospecting",
    "Qualification",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
SALESFORCE_LOST_REASON = "closed lost in Salesforce"  # the mapping's (tests/support/bridges.py)
Source = Literal["pipedrive", "hubspot", "salesforce"]
CURRENCIES = {"pipedrive": "EUR", "hubspot": "USD", "salesforce": "USD"}
LOST_REASONS = {
    "pipedrive": PIPEDRIVE_LOST_REASON,
    "hubspot": HUBSPOT_LOST_REASON,
    "salesforce": SALESFORCE_LOST_REASON,
}

Kind = Literal["create", "move", "amount", "owner", "win", "lose", "reopen", "delete"]


@dataclass(frozen=True)
class Step:
    kind: Kind
    at: datetime
    stage: int = 0
    amount: Decimal = Decimal(0)
    owner: int = 0


@dataclass
class Story:
    deal_number: int
    steps: list[Step] = field(default_factory=list)


def stories(count: int, seed: int, start: datetime) -> list[Story]:
    """`count` deals: moved forward and back, re-valued, reassigned; won, lost, some won
    then reopened (and won again), some deleted."""
    rng = random.Random(seed)
    told = []
    for number in range(count):
        at = start + timedelta(hours=rng.randrange(0, 24 * 20))
        stage, owner = rng.choice((0, 0, 1)), rng.randrange(5)
        story = Story(number)
        story.steps.append(Step("create", at, stage=stage, amount=_amount(rng), owner=owner))
        for _ in range(rng.randrange(1, 6)):
            at += timedelta(hours=rng.randrange(2, 72), seconds=rng.randrange(60))
            roll = rng.random()
            moved_to = min(stage + 1, 3) if rng.random() < 0.8 else max(stage - 1, 0)
            if roll < 0.6 and moved_to != stage:  # a CRM reports no change to the same stage
                stage = moved_to
                story.steps.append(Step("move", at, stage=stage))
            elif roll < 0.8:
                story.steps.append(Step("amount", at, amount=_amount(rng)))
            else:
                owner = (owner + rng.randrange(1, 5)) % 5
                story.steps.append(Step("owner", at, owner=owner))
        at += timedelta(hours=rng.randrange(2, 72))
        ending = rng.random()
        if ending < 0.45:
            story.steps.append(Step("win", at))
            if rng.random() < 0.3:
                at += timedelta(days=1)
                story.steps.append(Step("reopen", at, stage=stage))
                if rng.random() < 0.5:
                    story.steps.append(Step("win", at + timedelta(days=2)))
        elif ending < 0.7:
            story.steps.append(Step("lose", at))
        if rng.random() < 0.08:
            story.steps.append(Step("delete", at + timedelta(days=3)))
        told.append(story)
    return told


def _amount(rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(100_000, 9_000_000)) / 100


# --- as canonical events ---------------------------------------------------------------


def expected_events(story: Story, source: Source) -> list[DealEvent]:
    """What the bridge must write for this story, as the worker reads it."""
    deal_id = deal_id_of(story, source)
    currency = CURRENCIES[source]
    events = []
    owner = amount = None
    for number, step in enumerate(story.steps):
        common: dict[str, Any] = {
            "event_id": f"expected-{deal_id}-{number}",
            "occurred_at": step.at,
            "deal_id": deal_id,
            "tenant": DEFAULT_TENANT if source == "salesforce" else "acme",
            "source": source,
        }
        if step.kind == "create":
            owner, amount = _owner(step.owner, source), Money(step.amount, currency)
            event = DealEvent(
                type=EventType.CREATED,
                pipeline="new-business",
                stage=STAGES[step.stage],
                owner=owner,
                amount=amount,
                expected_close_date=CLOSE_DATE,
                **common,
            )
        elif step.kind in ("move", "reopen"):
            kind = EventType.STAGE_CHANGED if step.kind == "move" else EventType.REOPENED
            event = DealEvent(
                type=kind, pipeline="new-business", stage=STAGES[step.stage], **common
            )
        elif step.kind == "amount":
            amount = Money(step.amount, currency)
            event = DealEvent(type=EventType.AMOUNT_CHANGED, amount=amount, **common)
        elif step.kind == "owner":
            owner = _owner(step.owner, source)
            event = DealEvent(type=EventType.OWNER_CHANGED, owner=owner, **common)
        elif step.kind == "win":
            if source == "pipedrive":  # its webhook carries the deal, owner and value too
                event = DealEvent(type=EventType.WON, owner=owner, amount=amount, **common)
            else:
                event = DealEvent(type=EventType.WON, **common)
        elif step.kind == "lose":
            event = DealEvent(type=EventType.LOST, reason=LOST_REASONS[source], **common)
        else:
            event = DealEvent(type=EventType.DELETED, **common)
        events.append(event)
    return events


def deal_id_of(story: Story, source: Source) -> str:
    if source == "salesforce":
        return f"006Hs{story.deal_number:08d}AAAAIA"
    return str((50_000 if source == "pipedrive" else 90_000) + story.deal_number)


def _owner(owner: int, source: Source) -> str:
    if source == "salesforce":
        return f"005Hs00000Ab{owner:04d}AV"
    return str((900 if source == "pipedrive" else 7001) + owner)


# --- as Pipedrive webhooks v2 --------------------------------------------------------


def pipedrive_webhooks(story: Story) -> list[dict[str, Any]]:
    deal_id = int(deal_id_of(story, "pipedrive"))
    state: dict[str, Any] = {}
    webhooks = []
    for number, step in enumerate(story.steps):
        delivery = f"7d1c9a3e-{deal_id:08d}-{number:04d}"
        at = _pipedrive_time(step.at)
        before = dict(state)
        previous: dict[str, Any] | None
        if step.kind == "create":
            state = pipedrive_deal(
                id=deal_id,
                stage_id=PIPEDRIVE_STAGE_IDS[step.stage],
                value=step.amount,
                currency="EUR",
                owner_id=900 + step.owner,
                add_time=at,
                update_time=at,
            )
            webhooks.append(pipedrive_webhook("create", delivery, at, state))
            continue
        if step.kind == "delete":
            webhooks.append(pipedrive_webhook("delete", delivery, at, None, before))
            continue
        changes: dict[str, dict[str, Any]] = {
            "move": {"stage_id": PIPEDRIVE_STAGE_IDS[step.stage]},
            "reopen": {"status": "open", "won_time": None},
            "amount": {"value": step.amount},
            "owner": {"owner_id": 900 + step.owner},
            "win": {"status": "won", "won_time": at},
            "lose": {"status": "lost", "lost_time": at, "lost_reason": PIPEDRIVE_LOST_REASON},
        }
        changed = changes[step.kind]
        state = {**state, **changed, "update_time": at}
        previous = {name: before.get(name) for name in changed}
        webhooks.append(pipedrive_webhook("change", delivery, at, state, previous))
    return webhooks


def _pipedrive_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- as HubSpot webhook events, and the CRM API's answer -----------------------------


def hubspot_story(story: Story) -> HubSpotDealStory:
    deal_id = int(deal_id_of(story, "hubspot"))
    told = HubSpotDealStory(deal_id, first_event_id=deal_id * 100)
    for step in story.steps:
        at = step.at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
        if step.kind == "create":
            told.create(
                at,
                dealstage=HUBSPOT_STAGE_IDS[step.stage],
                pipeline="default",
                amount=str(step.amount),
                hubspot_owner_id=str(7001 + step.owner),
                closedate="2026-12-31T00:00:00Z",
                deal_currency_code="USD",
            )
        elif step.kind in ("move", "reopen"):
            told.change(at, "dealstage", HUBSPOT_STAGE_IDS[step.stage])
        elif step.kind == "amount":
            told.change(at, "amount", str(step.amount))
        elif step.kind == "owner":
            told.change(at, "hubspot_owner_id", str(7001 + step.owner))
        elif step.kind == "win":
            told.change(at, "dealstage", "closedwon")
        elif step.kind == "lose":
            told.change(at, "dealstage", "closedlost")
        else:
            told.delete(at)
    return told


# --- as Salesforce OpportunityChangeEvents -------------------------------------------


def salesforce_events(story: Story) -> list[dict[str, Any]]:
    deal_id = deal_id_of(story, "salesforce")
    events = []
    for number, step in enumerate(story.steps):
        at_ms = int(step.at.timestamp() * 1000)
        transaction = f"000{story.deal_number:06d}-{number:04d}-4f1a-9c3e-5b7d2e8f0a61"
        stage = SALESFORCE_STAGE_NAMES[step.stage]
        if step.kind == "create":
            body: dict[str, Any] = {
                "Name": f"Opportunity {story.deal_number}",
                "StageName": stage,
                "Amount": step.amount,
                "OwnerId": _owner(step.owner, "salesforce"),
                "CloseDate": CLOSE_DATE.isoformat(),
                "IsClosed": False,
                "IsWon": False,
                "Probability": 10,
                "ForecastCategoryName": "Pipeline",
            }
            events.append(opportunity_event("CREATE", [deal_id], at_ms, transaction, **body))
            continue
        if step.kind == "delete":
            events.append(opportunity_event("DELETE", [deal_id], at_ms, transaction))
            continue
        updates: dict[str, dict[str, Any]] = {
            "move": {"StageName": stage},
            "reopen": {"StageName": stage, "IsClosed": False, "Probability": 50},
            "amount": {"Amount": step.amount},
            "owner": {"OwnerId": _owner(step.owner, "salesforce")},
            "win": {"StageName": "Closed Won", "IsClosed": True, "IsWon": True, "Probability": 100},
            "lose": {"StageName": "Closed Lost", "IsClosed": True, "Probability": 0},
        }
        body = updates[step.kind]
        events.append(
            opportunity_event(
                "UPDATE", [deal_id], at_ms, transaction, changed_fields=list(body), **body
            )
        )
    return events
