"""The simulation after its cut: stories continued, new deals, stamps, and a resumable position."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.simulator import SimulationConfig, deal_lifecycle
from streams.simulator.generate import deal_rng
from streams.simulator.live import (
    LiveFaults,
    LiveProgress,
    live_stories,
    stamp_live,
    with_live_faults,
)
from streams.simulator.messages import OutboundMessage, WireEvent

CUT = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
SPAN = timedelta(days=30)
CONFIG = SimulationConfig(seed=7, deals=300, start=CUT - SPAN, span=SPAN)


def occurred(event: WireEvent) -> datetime:
    return datetime.fromisoformat(str(event["occurred_at"]))


def take(count: int, config: SimulationConfig = CONFIG) -> list[WireEvent]:
    return list(itertools.islice(live_stories(config, CUT), count))


def test_the_stories_continue_after_the_cut_in_time_order_with_new_deals() -> None:
    events = take(3000)
    times = [occurred(event) for event in events]
    assert times == sorted(times)
    assert times[0] > CUT
    deal_numbers = {int(str(event["deal_id"]).removeprefix("deal-")) for event in events}
    assert min(deal_numbers) <= CONFIG.deals  # the backfill's deals go on...
    assert max(deal_numbers) > CONFIG.deals + 100  # ...and new ones keep coming
    assert {"deal.created", "deal.won"} <= {str(event["type"]) for event in events}


def test_backfill_and_live_together_are_each_old_deal_s_whole_story() -> None:
    horizon = take(20_000)
    last = occurred(horizon[-1])
    for deal_index in range(CONFIG.deals):
        story = deal_lifecycle(deal_rng(CONFIG.seed, deal_index), deal_index, CONFIG)
        before = [e for e in story if occurred(e) <= CUT]
        after = [e for e in horizon if e["deal_id"] == story[0]["deal_id"]]
        assert before + after == [e for e in story if occurred(e) <= last]


def test_new_deals_are_created_at_the_history_s_rate() -> None:
    events = take(20_000)
    created = [
        occurred(e)
        for e in events
        if e["type"] == "deal.created" and int(str(e["deal_id"])[5:]) > CONFIG.deals
    ]
    span = occurred(events[-1]) - CUT
    expected = span / (SPAN / CONFIG.deals)
    assert abs(len(created) - expected) <= 2


def test_the_stories_are_the_same_on_every_call() -> None:
    assert take(2000) == take(2000)


def test_stamps_are_strictly_increasing_milliseconds_even_when_the_clock_stands_still() -> None:
    stood_still = datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC)
    messages = list(stamp_live(take(50), lambda: stood_still))
    stamps = [message.occurred_at for message in messages if message.occurred_at is not None]
    assert len(stamps) == len(messages)
    assert stamps[0] == stood_still.replace(microsecond=123000)
    assert all(
        later - earlier == timedelta(milliseconds=1)
        for earlier, later in itertools.pairwise(stamps)
    )
    bodies = [json.loads(message.value) for message in messages]
    assert [body["event_id"] for body in bodies] == [event["event_id"] for event in take(50)]
    assert bodies[1]["occurred_at"] == "2026-12-07T09:30:00.124Z"


def ticking_clock() -> Iterator[datetime]:
    moment = CUT
    while True:
        moment += timedelta(milliseconds=3)
        yield moment


def groups_from(first_index: int, count: int) -> list[list[bytes]]:
    clock = ticking_clock()
    stories = itertools.islice(live_stories(CONFIG, CUT), first_index, None)
    faults = LiveFaults(duplicate_pct=20.0, invalid_pct=20.0)
    groups = with_live_faults(stamp_live(stories, lambda: next(clock)), 7, first_index, faults)
    return [[m.value for m in group] for group in itertools.islice(groups, count)]


def test_live_faults_are_copies_and_bad_messages_drawn_the_same_when_resumed() -> None:
    groups = groups_from(0, 400)
    sizes = {len(group) for group in groups}
    assert sizes == {1, 2, 3}
    copies = [group for group in groups if len(group) > 1 and group[1] == group[0]]
    assert 40 <= len(copies) <= 120
    resumed = groups_from(250, 150)
    # The same faults, drawn by event number; only the stamps (wall clock) differ.
    assert [len(group) for group in resumed] == [len(group) for group in groups[250:]]


@settings(max_examples=50, deadline=None)
@given(
    group_sizes=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=40),
    acknowledgements=st.lists(st.integers(min_value=1, max_value=7), max_size=40),
)
def test_progress_counts_an_event_once_its_whole_group_is_acknowledged(
    group_sizes: list[int], acknowledgements: list[int]
) -> None:
    progress = LiveProgress(events_done=100)
    stream = progress.messages([[object()] * size for size in group_sizes])  # type: ignore[list-item]
    sent = list(stream)
    acknowledged = 0
    for count in acknowledgements:
        count = min(count, len(sent) - acknowledged)
        if count == 0:
            break
        progress.acknowledged(count)
        acknowledged += count
        whole = sum(1 for end in itertools.accumulate(group_sizes) if end <= acknowledged)
        assert progress.events_done == 100 + whole
        assert progress.messages_done == acknowledged


def test_a_set_stop_ends_the_messages_at_a_group_boundary() -> None:
    until = asyncio.Event()
    progress = LiveProgress(events_done=0)
    a1, a2, b1, c1 = (OutboundMessage(key=None, value=v) for v in (b"a1", b"a2", b"b1", b"c1"))
    stream = progress.messages([[a1, a2], [b1], [c1]], until=until)
    taken = [next(stream)]
    until.set()
    taken.extend(stream)
    assert taken == [a1, a2]
    progress.acknowledged(2)
    assert progress.events_done == 1
