"""The whole simulated stream: every deal's events, interleaved, then faulted.

Each deal draws from its own generator, seeded from (seed, deal index), so a
deal's story does not change when more deals are simulated or faults are
turned on; faults draw from a separate generator for the same reason.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from operator import attrgetter

from streams.simulator.config import SimulationConfig
from streams.simulator.faults import inject_faults
from streams.simulator.lifecycle import deal_lifecycle
from streams.simulator.messages import OutboundMessage, encode_event


def generate(config: SimulationConfig, now: datetime | None = None) -> Iterator[OutboundMessage]:
    """The simulated stream for `config`, byte for byte the same on every call.

    Events after `now` (if given) are not emitted: those deals are still open.
    """
    yield from inject_faults(valid_messages(config, now), config, _faults_rng(config.seed))


def valid_messages(config: SimulationConfig, now: datetime | None = None) -> list[OutboundMessage]:
    """Every deal's events as messages, in event-time order.

    The sort is stable and deals are appended in index order, so simultaneous
    events keep a fixed order: by deal, then by their order within the deal.
    """
    messages: list[OutboundMessage] = []
    for deal_index in range(config.deals):
        rng = deal_rng(config.seed, deal_index)
        key: bytes | None = None
        for event in deal_lifecycle(rng, deal_index, config, now):
            occurred_at = datetime.fromisoformat(str(event["occurred_at"]))
            message = encode_event(event, occurred_at, key)
            key = message.key
            messages.append(message)
    messages.sort(key=attrgetter("occurred_at"))
    return messages


def deal_rng(seed: int, deal_index: int) -> random.Random:
    """The generator of one deal; string seeds hash the same in every process."""
    return random.Random(f"{seed}/deal/{deal_index}")


def _faults_rng(seed: int) -> random.Random:
    return random.Random(f"{seed}/faults")
