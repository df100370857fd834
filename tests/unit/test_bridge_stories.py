"""Whole deal stories through the pure mappings give exactly the metrics of the canonical
events written by hand for them (the integration test sends the same stories through
the real bridge processes, Kafka and a worker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.hubspot import HubSpotDeal, deal_from_api, map_hubspot, needs_deal
from streams.bridges.pipedrive import map_pipedrive
from streams.bridges.refusal import Refusal
from streams.bridges.salesforce import map_salesforce
from streams.metric_context import build_context
from streams.settings import Settings
from tests.support.bridges import ingested, pipedrive_mapping, salesforce_mapping
from tests.support.crm_stories import (
    Source,
    expected_events,
    hubspot_story,
    pipedrive_webhooks,
    salesforce_events,
    stories,
)
from tests.support.hubspot import hubspot_mapping
from tests.support.reference import reference

NOW = datetime(2026, 11, 1, tzinfo=UTC)
STORIES = stories(120, seed=19, start=datetime(2026, 9, 1, tzinfo=UTC))


def pipedrive_events() -> list[CanonicalEvent]:
    mapping = pipedrive_mapping()
    events: list[CanonicalEvent] = []
    for story in STORIES:
        for webhook in pipedrive_webhooks(story):
            outcome = map_pipedrive(webhook, mapping)
            assert not isinstance(outcome, Refusal), (outcome, webhook)
            events.extend(outcome)
    return events


def hubspot_events() -> list[CanonicalEvent]:
    mapping = hubspot_mapping()
    events: list[CanonicalEvent] = []
    for story in STORIES:
        told = hubspot_story(story)
        deal = deal_from_api(told.api_document())
        assert isinstance(deal, HubSpotDeal)
        for event in told.events:
            outcome = map_hubspot(event, mapping, deal if needs_deal(event, mapping) else None)
            assert not isinstance(outcome, Refusal), (outcome, event)
            events.extend(outcome)
    return events


def salesforce_mapped() -> list[CanonicalEvent]:
    mapping = salesforce_mapping()
    events: list[CanonicalEvent] = []
    for story in STORIES:
        for change_event in salesforce_events(story):
            outcome = map_salesforce(change_event, mapping)
            assert not isinstance(outcome, Refusal), (outcome, change_event)
            events.extend(outcome)
    return events


MAPPED = {"pipedrive": pipedrive_events, "hubspot": hubspot_events, "salesforce": salesforce_mapped}


@pytest.mark.parametrize("source", ["pipedrive", "hubspot", "salesforce"])
def test_mapped_stories_have_exactly_the_metrics_of_their_canonical_events(
    source: Source,
) -> None:
    mapped = MAPPED[source]()
    expected = [event for story in STORIES for event in expected_events(story, source)]
    ctx = build_context(Settings(), NOW)
    kinds = {event.type for event in expected}
    assert len(kinds) == 8  # every kind of step is in the stories
    assert len(ingested(mapped)) == len(expected)
    assert reference(ingested(mapped), ctx) == reference(expected, ctx)
