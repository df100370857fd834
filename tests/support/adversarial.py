"""Deal histories the simulator never writes, as wire messages: the worker's hard cases.

The simulator tells plausible stories. These are what a CRM integration gets
wrong: events before the deal's creation, no creation at all, reopen after a
churn, churn of a deal never won, wins while won, deletes followed by more
events, stages and pipelines missing from the configuration, a tenant that
changes, simultaneous events, clocks that step back, an event id reused with
another payload, amounts in every configured currency. Then the delivery is
made worse: some messages are sent twice (the second copy later), and the
order is shuffled within a window of neighbours.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from streams.simulator import OutboundMessage
from streams.simulator.messages import encode_event, format_timestamp

TYPES = (
    *["deal.stage_changed"] * 8,
    "deal.created",
    *["deal.amount_changed"] * 2,
    *["deal.owner_changed"] * 2,
    *["deal.won"] * 4,
    *["deal.lost"] * 2,
    *["deal.reopened"] * 2,
    *["deal.churned"] * 3,
    "deal.deleted",
)
TENANTS = ("acme", "globex")
PIPELINES = ("new-business", "renewal", "expansion", "side-project")  # the last: not configured
STAGES = ("lead", "qualified", "demo", "proposal", "negotiation", "upcoming", "commit", "limbo")
SELLERS = ("ann", "bob", "cy", "dee")
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")
REASONS = ("price", "timing", "budget cut")
STEPS = (
    timedelta(0),
    timedelta(seconds=1),
    timedelta(hours=5),
    timedelta(days=1),
    timedelta(days=9),
    -timedelta(hours=20),
)


def adversarial(deals: int, seed: int, start: datetime, span: timedelta) -> list[OutboundMessage]:
    """About 7 messages per deal, a tenth sent twice, shuffled; deals start within `span`."""
    rng = random.Random(seed)
    messages: list[OutboundMessage] = []
    for index in range(deals):
        messages.extend(_deal(rng, f"odd-{seed}-{index}", start + span * rng.random()))
    delivered = list(messages)
    for message in rng.sample(messages, len(messages) // 10):  # redelivered, later on
        delivered.insert(rng.randrange(len(delivered) + 1), message)
    return _shuffled_nearby(rng, delivered, reach=50)


def _deal(rng: random.Random, deal_id: str, clock: datetime) -> list[OutboundMessage]:
    tenant, pipeline = rng.choice(TENANTS), rng.choice(PIPELINES)
    types = [rng.choice(TYPES) for _ in range(rng.randint(0, 12))]
    if rng.random() < 0.8:  # four in five start with a creation
        types.insert(0, "deal.created")
    sent: list[tuple[str, dict[str, str | int]]] = []
    for number, event_type in enumerate(types):
        clock += rng.choice(STEPS)
        event: dict[str, str | int] = {
            "event_id": f"{deal_id}-{number}",
            "schema_version": 1,
            "type": event_type,
            "occurred_at": format_timestamp(clock.replace(microsecond=0)),
            "deal_id": deal_id,
            "tenant": rng.choice(TENANTS) if rng.random() < 0.03 else tenant,
        }
        if sent and rng.random() < 0.05:  # an upstream bug: an id reused, another payload
            event["event_id"] = rng.choice(sent)[0]
        _fill(rng, event, event_type, pipeline)
        sent.append((str(event["event_id"]), event))
    return [encode_event(event, clock) for _, event in sent]


def _fill(rng: random.Random, event: dict[str, str | int], event_type: str, pipeline: str) -> None:
    """The optional fields, present where the schema requires them and now and then elsewhere."""
    created = event_type == "deal.created"
    if created or rng.random() < 0.3:
        event["pipeline"] = rng.choice(PIPELINES) if rng.random() < 0.1 else pipeline
    if created or event_type == "deal.stage_changed" or rng.random() < 0.2:
        event["stage"] = rng.choice(STAGES)
    if created or event_type == "deal.owner_changed" or rng.random() < 0.2:
        event["owner"] = rng.choice(SELLERS)
    if created or event_type == "deal.amount_changed" or rng.random() < 0.25:
        event["amount"] = f"{rng.randint(0, 500_000)}.{rng.randint(0, 999_999):06d}"
        event["currency"] = rng.choice(CURRENCIES)
    if event_type in ("deal.lost", "deal.churned") or rng.random() < 0.1:
        event["reason"] = rng.choice(REASONS)


def _shuffled_nearby(
    rng: random.Random, messages: list[OutboundMessage], reach: int
) -> list[OutboundMessage]:
    """Each message moved up to `reach` places: disorder within a deal and across deals."""
    keyed = sorted(enumerate(messages), key=lambda pair: pair[0] + rng.uniform(0, reach))
    return [message for _, message in keyed]
