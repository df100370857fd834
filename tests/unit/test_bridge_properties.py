"""Properties of both mappers over generated source payloads: mapping is a pure function
(the same payload gives the same bytes, whatever the delivery attempt), every event it
gives passes the worker's own ingest, and what it cannot map is a refusal, never an
exception."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import event as count_as
from hypothesis import given
from hypothesis import strategies as st

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.pipedrive import map_pipedrive
from streams.bridges.refusal import Refusal
from streams.bridges.salesforce import map_salesforce
from streams.bridges.source_values import decode_source
from tests.support.bridges import (
    ingested,
    opportunity_event,
    pipedrive_deal,
    pipedrive_mapping,
    pipedrive_webhook,
    salesforce_mapping,
)

PIPEDRIVE = pipedrive_mapping()
SALESFORCE = salesforce_mapping()

instants = st.datetimes(  # hypothesis bounds are naive; `timezones` makes the values UTC
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2026, 11, 29),  # noqa: DTZ001
    timezones=st.just(UTC),
)
amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
currencies = st.sampled_from(["USD", "EUR", "GBP", "CAD", "AUD"])
close_dates = st.none() | st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
reasons = st.none() | st.text(max_size=300)


@st.composite
def pipedrive_deals(draw: st.DrawFn) -> dict[str, Any]:
    close_date = draw(close_dates)
    return pipedrive_deal(
        id=draw(st.integers(1, 10**9)),
        stage_id=draw(st.integers(1, 9)),
        pipeline_id=draw(st.integers(1, 3)),
        value=draw(st.none() | amounts),
        currency=draw(currencies),
        owner_id=draw(st.integers(1, 10**6)),
        status=draw(st.sampled_from(["open", "won", "lost", "deleted"])),
        lost_reason=draw(reasons),
        expected_close_date=None if close_date is None else close_date.isoformat(),
    )


@st.composite
def pipedrive_webhooks(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(["create", "change", "delete"]))
    deal = draw(pipedrive_deals())
    old = draw(pipedrive_deals())
    changed = draw(st.sets(st.sampled_from(sorted(set(deal) - {"id"})), max_size=6))
    previous = {field: old[field] for field in changed}
    timestamp = draw(instants).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    delivery = str(draw(st.uuids()))
    if action == "create":
        return pipedrive_webhook(action, delivery, timestamp, deal)
    if action == "delete":
        return pipedrive_webhook(action, delivery, timestamp, None, deal)
    return pipedrive_webhook(action, delivery, timestamp, deal, previous)


SALESFORCE_FIELDS = {
    "StageName": st.sampled_from(
        ["Prospecting", "Qualification", "Negotiation/Review", "Closed Won", "Closed Lost", "X"]
    ),
    "Amount": st.none() | amounts,
    "CurrencyIsoCode": st.none() | currencies,
    "OwnerId": st.from_regex(r"005[A-Za-z0-9]{15}", fullmatch=True),
    "IsWon": st.booleans(),
    "IsClosed": st.booleans(),
    "CloseDate": st.none() | close_dates.map(lambda day: day and day.isoformat()),
    "Probability": st.none() | st.decimals(0, 100, places=0),
    "ForecastCategoryName": st.sampled_from(["Pipeline", "Best Case", "Commit", "Closed"]),
}


CHANGE_TYPES = [
    *("CREATE", "CREATE", "UPDATE", "UPDATE", "UPDATE", "DELETE"),
    *("UNDELETE", "GAP_UPDATE", "GAP_OVERFLOW"),
]


@st.composite
def opportunity_events(draw: st.DrawFn) -> dict[str, Any]:
    change_type = draw(st.sampled_from(CHANGE_TYPES))
    body = {field: draw(values) for field, values in SALESFORCE_FIELDS.items()}
    if change_type == "CREATE":
        body["StageName"] = body["StageName"] or "Prospecting"
    changed = sorted(draw(st.sets(st.sampled_from(sorted(SALESFORCE_FIELDS)), max_size=5)))
    record_ids = draw(
        st.lists(st.from_regex(r"006[A-Za-z0-9]{15}", fullmatch=True), min_size=1, max_size=3)
    )
    return opportunity_event(
        change_type,
        record_ids,
        int(draw(instants).timestamp() * 1000),
        str(draw(st.uuids())),
        draw(st.integers(1, 500)),
        changed if change_type == "UPDATE" else None,
        **body,
    )


def check(outcome: tuple[CanonicalEvent, ...] | Refusal, again: Any) -> None:
    """Events that pass ingest, with distinct ids per deal, the same bytes when mapped again."""
    count_as(outcome.reason.value if isinstance(outcome, Refusal) else f"{len(outcome)} events")
    if isinstance(outcome, Refusal):
        assert isinstance(again, Refusal)
        assert again == outcome
        return
    assert [event.encode() for event in again] == [event.encode() for event in outcome]
    ids = [(event.deal_id, event.event_id) for event in outcome]
    assert len(set(ids)) == len(ids)
    accepted = ingested(outcome)
    assert [event.event_id for event in accepted] == [event.event_id for event in outcome]


@given(pipedrive_webhooks(), st.integers(1, 4))
def test_pipedrive_mapping_is_deterministic_and_every_event_validates(
    webhook: dict[str, Any], attempt: int
) -> None:
    retried = copy.deepcopy(webhook)
    retried["meta"]["attempt"] = attempt
    check(map_pipedrive(webhook, PIPEDRIVE), map_pipedrive(retried, PIPEDRIVE))


@given(opportunity_events())
def test_salesforce_mapping_is_deterministic_and_every_event_validates(
    event: dict[str, Any],
) -> None:
    check(map_salesforce(event, SALESFORCE), map_salesforce(copy.deepcopy(event), SALESFORCE))


@given(pipedrive_webhooks())
def test_a_webhook_read_back_from_its_json_maps_the_same(webhook: dict[str, Any]) -> None:
    """Money survives the trip through bytes: numbers with a fraction come back as `Decimal`."""
    raw = _as_json(webhook)
    decoded = decode_source(raw)
    assert isinstance(decoded, dict)
    direct = map_pipedrive(webhook, PIPEDRIVE)
    read = map_pipedrive(decoded, PIPEDRIVE)
    if isinstance(direct, Refusal):
        assert isinstance(read, Refusal)
    else:
        assert not isinstance(read, Refusal)
        assert [event.encode() for event in read] == [event.encode() for event in direct]


_DECIMAL = re.compile(r'"decimal:([0-9.]+)"')


def _as_json(webhook: dict[str, Any]) -> bytes:
    """The webhook as Pipedrive would send it: amounts as bare JSON numbers."""
    text = json.dumps(webhook, default=lambda value: f"decimal:{format(value, 'f')}")
    return _DECIMAL.sub(lambda match: match.group(1), text).encode()
