"""The simulation after its cut: the stories the backfill left open, and new deals, unending.

`generate(config, now=cut)` is the history up to `cut`. A demo that stopped there
would fall silent, so this module continues the same simulation past `cut`: the
events of the first `config.deals` deals that fall after it (a deal half-way down
its pipeline moves on, is won, churns), merged in simulated-time order with new
deals created at the config's rate (one per `span / deals`, numbered on from
`config.deals`), for ever.

The stream of stories is deterministic, like the rest of the simulator, so a
demo can stop and later resume at a position without sending an event id twice.
Its event *times* are not: `stamp_live` dates each event by the wall clock as it
is sent, so the numbers move "today" at whatever rate the demo produces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from streams.simulator.config import SimulationConfig
from streams.simulator.generate import deal_rng
from streams.simulator.invalid import INVALID_KINDS, make_invalid
from streams.simulator.lifecycle import deal_lifecycle
from streams.simulator.messages import (
    OutboundMessage,
    WireEvent,
    encode_event,
    format_timestamp,
)

STAMP_STEP = timedelta(milliseconds=1)
"""Live events are dated to the millisecond, each at least this long after the one before."""

Clock = Callable[[], datetime]


def live_stories(config: SimulationConfig, cut: datetime) -> Iterator[WireEvent]:
    """Every simulated event after `cut`, in simulated-time order; it never ends.

    New deals are generated only when the merged stream reaches their creation
    slot, so memory holds the deals in progress, not the future.
    """
    slot = config.span / config.deals if config.deals else config.span
    pending: list[tuple[datetime, int, WireEvent]] = []
    order = 0

    def push(events: Iterable[WireEvent]) -> None:
        nonlocal order
        for event in events:
            heapq.heappush(pending, (_occurred_at(event), order, event))
            order += 1

    for deal_index in range(config.deals):
        story = deal_lifecycle(deal_rng(config.seed, deal_index), deal_index, config)
        push(event for event in story if _occurred_at(event) > cut)
    new_deals = 0
    while True:
        # A new deal is created inside its slot: generate every deal whose slot has
        # begun before handing out an event that might come after its creation.
        while not pending or cut + new_deals * slot <= pending[0][0]:
            deal_index = config.deals + new_deals
            slot_config = dataclasses.replace(config, start=cut + new_deals * slot, span=slot)
            push(deal_lifecycle(deal_rng(config.seed, deal_index), deal_index, slot_config))
            new_deals += 1
        yield heapq.heappop(pending)[2]


def stamp_live(events: Iterable[WireEvent], clock: Clock) -> Iterator[OutboundMessage]:
    """Each event dated by `clock` as it is taken, strictly later than the one before.

    A deal's events keep their order in the stream, so strictly increasing stamps
    keep each deal's story in order however fast the demo sends.
    """
    previous: datetime | None = None
    for event in events:
        moment = clock()
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if previous is not None and moment <= previous:
            moment = previous + STAMP_STEP
        previous = moment
        yield encode_event({**event, "occurred_at": format_timestamp(moment)}, moment)


@dataclasses.dataclass(frozen=True, slots=True)
class LiveFaults:
    """Per live event, the chance of a producer-retry copy and of a bad message after it.

    Live events are dated as they are sent, so they cannot arrive out of order or
    late; duplicates and bad messages still show the worker sorting them out.
    """

    duplicate_pct: float = 0.0
    invalid_pct: float = 0.0


def with_live_faults(
    messages: Iterable[OutboundMessage], seed: int, first_index: int, faults: LiveFaults
) -> Iterator[list[OutboundMessage]]:
    """Each message as a group: itself, maybe its copy, maybe a bad message of its deal.

    The draws of event number `index` come from their own generator, so a demo
    resumed at `first_index` sends the same faults it would have sent.
    """
    kinds = len(INVALID_KINDS)
    for index, message in enumerate(messages, start=first_index):
        rng = random.Random(f"{seed}/live/{index}")
        group = [message]
        if rng.random() * 100 < faults.duplicate_pct:
            group.append(message)
        if rng.random() * 100 < faults.invalid_pct:
            group.append(make_invalid(INVALID_KINDS[index % kinds], message, rng))
        yield group


def _occurred_at(event: WireEvent) -> datetime:
    return datetime.fromisoformat(str(event["occurred_at"]))


class LiveProgress:
    """Live events whose every message the broker acknowledged, for a demo to resume after.

    Acknowledgements come as counts of messages, in the order sent; an event counts
    as done once its whole group (copy and bad message included) is acknowledged.
    """

    def __init__(self, events_done: int) -> None:
        self.events_done = events_done
        self.messages_done = 0
        self._queued = 0
        self._group_ends: deque[int] = deque()

    def messages(
        self, groups: Iterable[list[OutboundMessage]], until: asyncio.Event | None = None
    ) -> Iterator[OutboundMessage]:
        """The groups' messages, ending before the first group that starts once `until` is set.

        A group goes whole or not at all, so a demo resumed after `events_done` sends
        no message of a group twice.
        """
        for group in groups:
            if until is not None and until.is_set():
                return
            self._queued += len(group)
            self._group_ends.append(self._queued)
            yield from group

    def acknowledged(self, count: int) -> None:
        self.messages_done += count
        while self._group_ends and self._group_ends[0] <= self.messages_done:
            self._group_ends.popleft()
            self.events_done += 1
