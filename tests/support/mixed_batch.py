"""A deterministic batch of valid simulated events mixed with bad messages of every kind."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.ingest.rejection import Reason
from streams.simulator import INVALID_KINDS, InvalidKind, OutboundMessage, SimulationConfig
from streams.simulator.generate import valid_messages
from streams.simulator.invalid import make_invalid

EXPECTED_REASON: dict[InvalidKind, Reason] = {
    InvalidKind.UNDECODABLE: Reason.UNDECODABLE,
    InvalidKind.NOT_JSON: Reason.NOT_JSON,
    InvalidKind.NOT_AN_OBJECT: Reason.NOT_AN_OBJECT,
    InvalidKind.WRONG_TYPE: Reason.WRONG_TYPE,
    InvalidKind.UNKNOWN_TYPE: Reason.UNKNOWN_TYPE,
    InvalidKind.MISSING_FIELD: Reason.MISSING_FIELD,
    InvalidKind.NEGATIVE_AMOUNT: Reason.BAD_AMOUNT,
    InvalidKind.NAN_AMOUNT: Reason.BAD_AMOUNT,
    InvalidKind.HUGE_AMOUNT: Reason.BAD_AMOUNT,
    InvalidKind.BAD_CURRENCY: Reason.BAD_CURRENCY,
    InvalidKind.BAD_TIMESTAMP: Reason.BAD_TIMESTAMP,
    InvalidKind.FUTURE_TIMESTAMP: Reason.FUTURE_TIMESTAMP,
    InvalidKind.OVERSIZE: Reason.OVERSIZE,
    InvalidKind.BAD_CLOUDEVENT: Reason.BAD_CLOUDEVENT,
    InvalidKind.BAD_SCHEMA_VERSION: Reason.SCHEMA_VIOLATION,
    InvalidKind.UNKNOWN_FIELD: Reason.SCHEMA_VIOLATION,
}
SIMULATED_NOW = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MixedBatch:
    valid: list[OutboundMessage]
    invalid: list[OutboundMessage]
    shuffled: list[OutboundMessage]


def mixed_batch(valid_count: int, invalid_count: int, seed: int = 7) -> MixedBatch:
    """`valid_count` valid messages and `invalid_count` bad ones, kinds in rotation."""
    deals = valid_count // 3 + 10
    config = SimulationConfig(seed=seed, deals=deals)
    valid = valid_messages(config, now=SIMULATED_NOW)[:valid_count]
    assert len(valid) == valid_count, f"{deals} deals gave only {len(valid)} events"
    rng = random.Random(seed)
    invalid = [
        make_invalid(INVALID_KINDS[index % len(INVALID_KINDS)], rng.choice(valid), rng)
        for index in range(invalid_count)
    ]
    shuffled = valid + invalid
    rng.shuffle(shuffled)
    return MixedBatch(valid=valid, invalid=invalid, shuffled=shuffled)
