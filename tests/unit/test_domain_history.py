"""DealHistory: distinct events in replay order, and its compact serialised form."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import date, timedelta, timezone

import pytest

from streams.domain.events import DealEvent, EventType
from streams.domain.history import DealHistory
from tests.support.builders import MONDAY, Deal, days


def _story() -> list[DealEvent]:
    deal = Deal("d1", tenant="default")
    deal.created(MONDAY, amount="1200.50 USD")
    deal.stage(MONDAY + days(1), "demo")
    deal.owner(MONDAY + days(2), "bob")
    deal.won(MONDAY + days(3), amount="1300.000001 GBP")
    deal.event(EventType.CHURNED, MONDAY + days(90), reason="poor adoption: \u00e9\u00e8")
    return deal.written


def test_any_order_and_any_duplicates_give_the_same_history() -> None:
    events = _story()
    expected = DealHistory.of("d1", events)
    assert [e.event_id for e in expected.events] == ["d1-1", "d1-2", "d1-3", "d1-4", "d1-5"]
    for order in itertools.permutations(events):
        incremental = DealHistory.empty("d1")
        for event in (*order, *order[:2]):
            incremental = incremental.add(event)
        assert incremental == expected


def test_adding_a_known_event_returns_the_same_history() -> None:
    history = DealHistory.of("d1", _story())
    assert history.add(_story()[2]) is history
    assert "d1-3" in history
    assert len(history) == 5


def test_simultaneous_events_are_ordered_by_event_id() -> None:
    deal = Deal("d1")
    late_id = deal.event(EventType.WON, MONDAY, event_id="b")
    early_id = deal.event(EventType.CREATED, MONDAY, event_id="a")
    history = DealHistory.empty("d1").add(late_id).add(early_id)
    assert [e.event_id for e in history.events] == ["a", "b"]


def test_two_events_sharing_an_id_keep_one_whatever_the_order() -> None:
    deal = Deal("d1")
    first = deal.event(EventType.WON, MONDAY, owner="ann", event_id="x")
    second = deal.event(EventType.WON, MONDAY + days(1), owner="bob", event_id="x")
    one_way = DealHistory.empty("d1").add(first).add(second)
    other_way = DealHistory.empty("d1").add(second).add(first)
    assert one_way == other_way == DealHistory.of("d1", [second, first])
    assert len(one_way) == 1


def test_an_event_of_another_deal_is_refused() -> None:
    other = Deal("d2").created(MONDAY)
    with pytest.raises(ValueError, match="of deal d2"):
        DealHistory.empty("d1").add(other)


def test_round_trips_through_json() -> None:
    history = DealHistory.of("d1", _story())
    stored = json.dumps(history.to_dict(), separators=(",", ":"))
    restored = DealHistory.from_dict(json.loads(stored))
    assert restored == history
    assert [e.amount for e in restored.events] == [e.amount for e in history.events]
    assert str(restored.events[3].amount) == "1300.000001 GBP"


def test_serialised_form_is_compact() -> None:
    event = DealHistory.of("d1", _story()).to_dict()["events"][0]
    assert event == {
        "i": "d1-1",
        "y": "created",
        "t": "2026-03-02T09:00:00Z",
        "p": "new-business",
        "s": "lead",
        "o": "ann",
        "a": "1200.50",
        "c": "USD",
    }


def test_instants_in_other_offsets_and_odd_fields_survive() -> None:
    paris_summer = timezone(timedelta(hours=2))
    event = DealEvent(
        event_id="e",
        type=EventType.STAGE_CHANGED,
        occurred_at=MONDAY.astimezone(paris_summer) + timedelta(microseconds=7),
        deal_id="d1",
        tenant="t2",
        stage="demo",
        source="crm",
        schema_version=2,
    )
    history = DealHistory.of("d1", [event])
    restored = DealHistory.from_dict(json.loads(json.dumps(history.to_dict())))
    assert restored == history
    assert dataclasses.astuple(restored.events[0]) == dataclasses.astuple(event)


def test_an_expected_close_date_is_stored_as_an_iso_date_and_its_absence_reads() -> None:
    deal = Deal("d1", tenant="default")
    deal.created(MONDAY, closes_on="2026-04-30")
    deal.close_date(MONDAY + days(1), date(2026, 5, 29))
    history = DealHistory.of("d1", deal.written)
    stored = history.to_dict()
    assert [event.get("d") for event in stored["events"]] == ["2026-04-30", "2026-05-29"]
    assert DealHistory.from_dict(json.loads(json.dumps(stored))) == history
    # a record written before expected close dates existed reads as "no date"
    before = DealHistory.of("d1", _story()).to_dict()
    assert all("d" not in event for event in before["events"])
    assert all(e.expected_close_date is None for e in DealHistory.from_dict(before).events)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        DealHistory.from_dict({"v": 99, "deal": "d1", "events": []})


@pytest.mark.parametrize(
    ("stored", "says"),
    [
        (
            {"v": 1, "deal": "d1", "events": [{"i": 7, "y": "won", "t": "2026-03-01T10:00:00Z"}]},
            "i",
        ),
        ({"v": 1, "deal": "d1", "events": [{"i": "e1", "t": "2026-03-01T10:00:00Z"}]}, "y"),
        ({"v": 1, "deal": "d1"}, "events"),
        ({"v": 2, "deal": "d1", "events": []}, "without a snapshot"),
    ],
)
def test_a_record_that_is_not_a_stored_history_is_refused_saying_where(
    stored: dict[str, object], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        DealHistory.from_dict(stored)


def test_the_kept_copy_does_not_depend_on_order_even_when_copies_differ_only_in_text() -> None:
    deal = Deal("d1")
    one = deal.event(EventType.AMOUNT_CHANGED, MONDAY, amount="1.0 EUR", event_id="x")
    same = deal.event(EventType.AMOUNT_CHANGED, MONDAY, amount="1.00 EUR", event_id="x")
    other = deal.event(EventType.AMOUNT_CHANGED, MONDAY, amount="1.000 EUR", event_id="x")
    kept = set()
    for order in itertools.permutations([one, same, other]):
        history = DealHistory.empty("d1")
        for event in order:
            history = history.add(event)
        assert history == DealHistory.of("d1", order)
        kept.add(json.dumps(history.to_dict()))
    assert len(kept) == 1
