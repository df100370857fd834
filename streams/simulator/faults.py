"""Delivery faults a real CRM integration produces, injected into a clean stream.

Given the valid messages in event-time order, this reorders, holds back,
repeats and pollutes them, in that order:

- out-of-order: a message swaps places with the next message of the same deal,
  so per-key order in Kafka is broken, not just global order;
- late: a message is held back until the stream's event time has moved on by
  `LATE_MIN`..`LATE_MAX` past it;
- duplicate: a byte-identical copy follows within `DUPLICATE_MAX_GAP` messages,
  like a producer retry;
- invalid: a bad message (see `streams.simulator.invalid`) is inserted after a
  random message, keyed by that message's deal; kinds cycle in emission order.

Every count is exact: `fault_count(valid messages, percent)`. Only a lack of
candidates (a stream with too few multi-event deals) can make out-of-order swaps
fall short.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from streams.simulator.config import SimulationConfig
from streams.simulator.invalid import INVALID_KINDS, make_invalid
from streams.simulator.messages import OutboundMessage

LATE_MIN = timedelta(hours=1)
LATE_MAX = timedelta(days=3)
DUPLICATE_MAX_GAP = 20
NO_NEXT = -1


def fault_count(valid_count: int, percent: float) -> int:
    """`percent` % of `valid_count`, rounded half up on the decimal the user wrote.

    Decimal arithmetic keeps the rule exact: 25 messages at 10 % is 3, not
    whatever 2.4999... rounds to.
    """
    share = Decimal(valid_count) * Decimal(repr(percent)) / 100
    return int(share.to_integral_value(rounding=ROUND_HALF_UP))


def inject_faults(
    messages: Sequence[OutboundMessage], config: SimulationConfig, rng: random.Random
) -> Iterator[OutboundMessage]:
    """The messages with `config`'s faults applied; valid ones are never altered."""
    valid_count = len(messages)
    # One generator per stage, seeded up front, so a stage's draws do not depend
    # on how lazily the stages are interleaved.
    swap_rng, late_rng, duplicate_rng, invalid_rng = (
        random.Random(rng.getrandbits(64)) for _ in range(4)
    )
    duplicates = fault_count(valid_count, config.duplicate_pct)
    reordered = swap_out_of_order(
        messages, fault_count(valid_count, config.out_of_order_pct), swap_rng
    )
    delayed = hold_back_late(reordered, fault_count(valid_count, config.late_pct), late_rng)
    repeated = duplicate(delayed, valid_count, duplicates, duplicate_rng)
    return insert_invalid(
        repeated,
        valid_count + duplicates,
        fault_count(valid_count, config.invalid_pct),
        invalid_rng,
    )


def swap_out_of_order(
    messages: Sequence[OutboundMessage], swaps: int, rng: random.Random
) -> list[OutboundMessage]:
    """A copy with up to `swaps` disjoint swaps of a message and its deal's next one."""
    reordered = list(messages)
    if swaps == 0:
        return reordered
    next_of_deal = _next_of_same_key(reordered)
    candidates = [index for index, later in enumerate(next_of_deal) if later != NO_NEXT]
    rng.shuffle(candidates)
    touched: set[int] = set()
    for index in candidates:
        if len(touched) == 2 * swaps:
            break
        later = next_of_deal[index]
        if index in touched or later in touched:
            continue
        reordered[index], reordered[later] = reordered[later], reordered[index]
        touched.update((index, later))
    return reordered


def hold_back_late(
    messages: Sequence[OutboundMessage], count: int, rng: random.Random
) -> Iterator[OutboundMessage]:
    """Hold `count` random messages until event time passes theirs by their lateness."""
    chosen = set(rng.sample(range(len(messages)), count))
    held: list[tuple[datetime, int, OutboundMessage]] = []
    for position, message in enumerate(messages):
        stream_time = _event_time(message)
        while held and held[0][0] <= stream_time:
            yield heapq.heappop(held)[2]
        if position in chosen:
            lateness = rng.uniform(LATE_MIN.total_seconds(), LATE_MAX.total_seconds())
            release_at = stream_time + timedelta(seconds=lateness)
            heapq.heappush(held, (release_at, position, message))
        else:
            yield message
    while held:
        yield heapq.heappop(held)[2]


def duplicate(
    messages: Iterable[OutboundMessage], total: int, count: int, rng: random.Random
) -> Iterator[OutboundMessage]:
    """Re-emit `count` of the `total` messages, each a few messages after the original."""
    chosen = set(rng.sample(range(total), count))
    pending: list[tuple[int, int, OutboundMessage]] = []
    for position, message in enumerate(messages):
        while pending and pending[0][0] <= position:
            yield heapq.heappop(pending)[2]
        yield message
        if position in chosen:
            due = position + rng.randint(1, DUPLICATE_MAX_GAP)
            heapq.heappush(pending, (due, position, message))
    while pending:
        yield heapq.heappop(pending)[2]


def insert_invalid(
    messages: Iterable[OutboundMessage], total: int, count: int, rng: random.Random
) -> Iterator[OutboundMessage]:
    """Insert `count` invalid messages after random ones of the `total`, cycling kinds."""
    after_position = Counter(rng.randrange(total) for _ in range(count)) if total else Counter()
    kinds = itertools.cycle(INVALID_KINDS)
    for position, message in enumerate(messages):
        yield message
        for _ in range(after_position[position]):
            yield make_invalid(next(kinds), message, rng)


def _next_of_same_key(messages: Sequence[OutboundMessage]) -> list[int]:
    next_of_deal = [NO_NEXT] * len(messages)
    last_seen: dict[bytes | None, int] = {}
    for index, message in enumerate(messages):
        previous = last_seen.get(message.key)
        if previous is not None:
            next_of_deal[previous] = index
        last_seen[message.key] = index
    return next_of_deal


def _event_time(message: OutboundMessage) -> datetime:
    if message.occurred_at is None:
        raise ValueError("faults are injected into valid messages, which carry occurred_at")
    return message.occurred_at
