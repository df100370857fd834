"""HubSpot deal webhooks → canonical events: one event at a time, then whole deal stories."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.hubspot import (
    UNASSIGNED,
    HubSpotDeal,
    batch_events,
    deal_from_api,
    map_hubspot,
    needs_deal,
)
from streams.bridges.refusal import Refusal, RefusalReason
from streams.bridges.source_values import decode_json
from streams.domain.view import DealStatus
from tests.support.bridges import deal_view, ingested, summary
from tests.support.hubspot import HubSpotDealStory, epoch_ms, hubspot_event, hubspot_mapping

MAPPING = hubspot_mapping()
DEAL = 9001
DAY = "2026-11-{:02d}T09:00:00.000"


def api_read(story: HubSpotDealStory) -> HubSpotDeal:
    deal = deal_from_api(story.api_document())
    assert isinstance(deal, HubSpotDeal), deal
    return deal


def mapped(event: Mapping[str, Any], deal: HubSpotDeal | None = None) -> tuple[CanonicalEvent, ...]:
    outcome = map_hubspot(event, MAPPING, deal if needs_deal(event, MAPPING) else None)
    assert not isinstance(outcome, Refusal), outcome
    return outcome


def refusal(event: Mapping[str, Any], deal: HubSpotDeal | None = None) -> Refusal:
    outcome = map_hubspot(event, MAPPING, deal)
    assert isinstance(outcome, Refusal), outcome
    return outcome


def created_story(**properties: str | None) -> HubSpotDealStory:
    story = HubSpotDealStory(DEAL, first_event_id=100)
    fields: dict[str, str | None] = {
        "dealstage": "appointmentscheduled",
        "pipeline": "default",
        "amount": "12000",
        "hubspot_owner_id": "7001",
        "closedate": "2026-12-31T00:00:00Z",
        "deal_currency_code": "USD",
    }
    fields.update(properties)
    story.create(DAY.format(2), **fields)
    return story


def story_events(story: HubSpotDealStory, events: list[dict[str, Any]]) -> list[CanonicalEvent]:
    deal = api_read(story)
    return [mapped_event for event in events for mapped_event in mapped(event, deal)]


# --- one event at a time ------------------------------------------------------------

CREATED = {
    "pipeline": "new-business",
    "stage": "lead",
    "owner": "7001",
    "amount": "12000",
    "currency": "USD",
    "expected_close_date": "2026-12-31",
}


def single_cases() -> list[tuple[str, HubSpotDealStory, list[tuple[str, dict[str, Any]]]]]:
    cases = []
    story = created_story()
    cases.append(("creation", story, [("deal.created", CREATED)]))
    story = created_story(dealstage="closedwon")
    cases.append(
        (
            "created already won",
            story,
            [("deal.created", {**CREATED, "stage": "closedwon"}), ("deal.won", {})],
        )
    )
    story = created_story(hubspot_owner_id=None, amount="", deal_currency_code=None)
    cases.append(
        (
            "created unowned, without amount or currency",
            story,
            [("deal.created", {**CREATED, "owner": UNASSIGNED, "amount": "0"})],
        )
    )
    story = created_story()
    story.change(DAY.format(3), "dealstage", "qualifiedtobuy")
    cases.append(
        (
            "stage moved",
            story,
            [("deal.stage_changed", {"stage": "qualified", "pipeline": "new-business"})],
        )
    )
    story = created_story()
    story.change(DAY.format(3), "dealstage", "closedlost")
    cases.append(("lost", story, [("deal.lost", {"reason": "closed lost in HubSpot"})]))
    story = created_story()
    story.change(DAY.format(3), "dealstage", "closedwon")
    story.change(DAY.format(4), "dealstage", "contractsent")
    cases.append(
        (
            "reopened into a stage",
            story,
            [("deal.reopened", {"stage": "negotiation", "pipeline": "new-business"})],
        )
    )
    story = created_story()
    story.change(DAY.format(3), "amount", "15000.50")
    cases.append(
        ("amount", story, [("deal.amount_changed", {"amount": "15000.50", "currency": "USD"})])
    )
    story = created_story()
    story.change(DAY.format(3), "amount", "")
    cases.append(
        ("amount cleared", story, [("deal.amount_changed", {"amount": "0", "currency": "USD"})])
    )
    story = created_story()
    story.change(DAY.format(3), "hubspot_owner_id", "7002")
    cases.append(("owner", story, [("deal.owner_changed", {"owner": "7002"})]))
    story = created_story()
    story.change(DAY.format(3), "hubspot_owner_id", "")
    cases.append(("owner removed", story, [("deal.owner_changed", {"owner": UNASSIGNED})]))
    story = created_story()
    story.change(DAY.format(3), "closedate", str(epoch_ms("2027-01-15T00:00:00")))
    cases.append(
        ("close date", story, [("deal.close_date_changed", {"expected_close_date": "2027-01-15"})])
    )
    story = created_story()
    story.change(DAY.format(3), "closedate", "")
    cases.append(("close date cleared", story, []))
    story = created_story()
    story.change(DAY.format(3), "dealname", "Acme, 40 seats")
    cases.append(("a property dealpulse does not follow", story, []))
    story = created_story()
    story.change(DAY.format(3), "pipeline", "75e28846-ad0d-4be2-a027-5e1da6590b98")
    story.change(DAY.format(3), "dealstage", "1467652")
    cases.append(
        (
            "moved to another pipeline",
            story,
            [("deal.stage_changed", {"pipeline": "renewal", "stage": "upcoming"})],
        )
    )
    story = created_story()
    story.delete(DAY.format(3))
    cases.append(("deleted", story, [("deal.deleted", {})]))
    return cases


@pytest.mark.parametrize(
    ("story", "expected"),
    [pytest.param(story, expected, id=name) for name, story, expected in single_cases()],
)
def test_the_last_event_maps_to_these_events(
    story: HubSpotDealStory, expected: list[tuple[str, dict[str, Any]]]
) -> None:
    events = mapped(story.events[-1], api_read(story))
    assert summary(events) == expected
    for event in ingested(events):
        assert event.deal_id == str(DEAL)
        assert event.tenant == "acme"
        assert event.source == "hubspot"
        assert event.occurred_at == story_instant(story.events[-1])


def story_instant(event: dict[str, Any]) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(event["occurredAt"] / 1000, tz=UTC)


REFUSALS: list[tuple[str, dict[str, Any], RefusalReason]] = [
    (
        "a contact",
        hubspot_event(1, "contact.creation", 51, epoch_ms(DAY.format(2))),
        RefusalReason.NOT_A_DEAL,
    ),
    (
        "a merge",
        hubspot_event(2, "deal.merge", DEAL, epoch_ms(DAY.format(2))),
        RefusalReason.UNSUPPORTED_CHANGE,
    ),
    (
        "a restore",
        hubspot_event(3, "deal.restore", DEAL, epoch_ms(DAY.format(2))),
        RefusalReason.UNSUPPORTED_CHANGE,
    ),
    (
        "no object id",
        {**hubspot_event(4, "deal.deletion", DEAL, epoch_ms(DAY.format(2))), "objectId": None},
        RefusalReason.MALFORMED,
    ),
    (
        "no subscription type",
        {**hubspot_event(5, "deal.deletion", DEAL, epoch_ms(DAY.format(2))), "subscriptionType": 7},
        RefusalReason.MALFORMED,
    ),
    (
        "a negative amount",
        hubspot_event(6, "deal.propertyChange", DEAL, epoch_ms(DAY.format(2)), "amount", "-5"),
        RefusalReason.BAD_VALUE,
    ),
    (
        "a stage into nothing",
        hubspot_event(7, "deal.propertyChange", DEAL, epoch_ms(DAY.format(2)), "dealstage", None),
        RefusalReason.MALFORMED,
    ),
    (
        "an occurredAt that is not a time",
        {**hubspot_event(8, "deal.deletion", DEAL, 0), "occurredAt": "yesterday"},
        RefusalReason.MALFORMED,
    ),
    (
        "a closedate of other unicode digits",
        hubspot_event(10, "deal.propertyChange", DEAL, epoch_ms(DAY.format(2)), "closedate", "²"),
        RefusalReason.MALFORMED,
    ),
    (
        "a closedate of 5,000 digits",
        hubspot_event(
            11, "deal.propertyChange", DEAL, epoch_ms(DAY.format(2)), "closedate", "9" * 5000
        ),
        RefusalReason.MALFORMED,
    ),
]


@pytest.mark.parametrize(
    ("event", "reason"), [pytest.param(event, reason, id=name) for name, event, reason in REFUSALS]
)
def test_what_cannot_be_mapped_is_refused_with_a_reason(
    event: dict[str, Any], reason: RefusalReason
) -> None:
    assert refusal(event).reason is reason


def test_a_redelivered_event_maps_to_the_same_bytes() -> None:
    story = created_story()
    first = story.change(DAY.format(3), "dealstage", "qualifiedtobuy")
    retry = {**first, "attemptNumber": 3}
    deal = api_read(story)
    assert [event.encode() for event in mapped(first, deal)] == [
        event.encode() for event in mapped(retry, deal)
    ]


def test_a_creation_read_later_is_the_deal_as_it_was_created() -> None:
    story = created_story()
    story.change(DAY.format(5), "amount", "99000")
    story.change(DAY.format(6), "dealstage", "contractsent")
    early = created_story()
    assert mapped(story.events[0], api_read(story)) == mapped(early.events[0], api_read(early))


def test_a_batch_keeps_each_event_id_once_in_order() -> None:
    story = created_story()
    story.change(DAY.format(3), "amount", "13000")
    first, second = story.events
    batch = batch_events([first, second, {**first, "attemptNumber": 1}, second])
    assert batch == [first, second]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"eventId": 1}, RefusalReason.NOT_JSON),
        ([1, 2], RefusalReason.MALFORMED),
        ([hubspot_event(n, "deal.deletion", DEAL, 0) for n in range(101)], RefusalReason.MALFORMED),
    ],
    ids=["an object", "not events", "over 100 events"],
)
def test_a_batch_that_is_not_hubspots_is_refused(document: object, reason: RefusalReason) -> None:
    outcome = batch_events(document)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is reason


def test_money_read_from_bytes_stays_exact() -> None:
    raw = json.dumps(
        [hubspot_event(9, "deal.propertyChange", DEAL, epoch_ms(DAY.format(3)), "amount", "0.1")]
    ).encode()
    batch = batch_events(decode_json(raw))
    assert isinstance(batch, list)
    assert summary(mapped(batch[0])) == [
        ("deal.amount_changed", {"amount": "0.1", "currency": "USD"})
    ]


def test_a_numeric_property_value_is_read_as_its_exact_decimal() -> None:
    """HubSpot's propertyValue is documented as a string, but a number must not be refused:
    the decoder reads it as an exact Decimal (never a float)."""
    raw = (
        b"[%s]"
        % json.dumps(
            hubspot_event(9, "deal.propertyChange", DEAL, epoch_ms(DAY.format(3)), "amount", "X")
        )
        .replace('"X"', "12.5")
        .encode()
    )
    batch = batch_events(decode_json(raw))
    assert isinstance(batch, list)
    assert summary(mapped(batch[0])) == [
        ("deal.amount_changed", {"amount": "12.5", "currency": "USD"})
    ]


# --- whole stories, as the worker folds them ---------------------------------------


def full_story() -> HubSpotDealStory:
    """Created in lead; qualified, demo, back to qualified; amount raised; won; reopened
    into negotiation; won again."""
    story = created_story()
    story.change(DAY.format(4), "dealstage", "qualifiedtobuy")
    story.change(DAY.format(6), "dealstage", "presentationscheduled")
    story.change(DAY.format(8), "dealstage", "qualifiedtobuy")
    story.change(DAY.format(9), "amount", "15000")
    story.change(DAY.format(10), "dealstage", "closedwon")
    story.change(DAY.format(12), "dealstage", "contractsent")
    story.change(DAY.format(14), "amount", "16500")
    story.change(DAY.format(14), "dealstage", "closedwon")
    return story


def test_moved_back_won_reopened_and_won_again() -> None:
    story = full_story()
    view = deal_view(str(DEAL), story_events(story, story.events))
    assert view.status is DealStatus.WON
    assert view.win is not None
    assert view.win.amount is not None
    assert str(view.win.amount.amount) == "16500"
    assert view.win.won_at.day == 14
    assert [(move.from_stage, move.to_stage) for move in view.transitions] == [
        ("lead", "qualified"),
        ("qualified", "demo"),
        ("demo", "qualified"),
        ("qualified", "won"),
        ("won", "negotiation"),
        ("negotiation", "won"),
    ]
    assert view.anomalies == frozenset()


def test_redelivered_and_reordered_events_fold_to_the_same_deal() -> None:
    story = full_story()
    in_order = deal_view(str(DEAL), story_events(story, story.events))
    shuffled = [*story.events, *story.events[2:5]]
    random.Random(19).shuffle(shuffled)
    redelivered = [{**event, "attemptNumber": 2} for event in shuffled]
    assert deal_view(str(DEAL), story_events(story, redelivered)) == in_order


def test_a_deleted_deal_counts_nothing_and_a_restore_is_refused() -> None:
    story = full_story()
    story.delete(DAY.format(16))
    restore = story.restore(DAY.format(17))
    view = deal_view(str(DEAL), story_events(story, story.events[:-1]))
    assert view.status is DealStatus.DELETED
    assert refusal(restore).reason is RefusalReason.UNSUPPORTED_CHANGE


def test_a_value_at_an_instant_is_the_latest_version_by_then() -> None:
    story = created_story()
    story.change(DAY.format(5), "amount", "20000")
    deal = api_read(story)
    assert deal.value_at("amount", story_instant(story.events[0])) == "12000"
    assert deal.value_at("amount", story_instant(story.events[1])) == "20000"
    assert deal.value_before("amount", "20000", story_instant(story.events[1])) == "12000"


def test_an_api_answer_that_is_not_a_deal_is_refused() -> None:
    outcome = deal_from_api({"id": "9001", "propertiesWithHistory": {"amount": "12"}})
    assert isinstance(outcome, Refusal)
    assert outcome.reason is RefusalReason.MALFORMED


def test_an_api_answer_about_another_deal_is_refused() -> None:
    story = created_story()
    other = HubSpotDeal("4242", api_read(story).properties, api_read(story).history)
    outcome = map_hubspot(story.events[0], MAPPING, other)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is RefusalReason.UNREPLAYABLE
