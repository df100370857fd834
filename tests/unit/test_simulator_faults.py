"""The simulator's injected faults: exact counts, and each fault really is one."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from streams.simulator.config import SimulationConfig
from streams.simulator.faults import DUPLICATE_MAX_GAP, LATE_MIN, fault_count
from streams.simulator.generate import generate, valid_messages
from streams.simulator.invalid import (
    INVALID_KINDS,
    OVERSIZE_SOURCE_BYTES,
    SCHEMA_VALID_KINDS,
    InvalidKind,
    make_invalid,
)
from streams.simulator.messages import OutboundMessage

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = Draft202012Validator(
    json.loads((REPO / "schemas" / "deal-event.v1.schema.json").read_text(encoding="utf-8"))
)
START = datetime(2026, 3, 1, tzinfo=UTC)
DEALS = 400


def config(**fault_pcts: float) -> SimulationConfig:
    return SimulationConfig(
        seed=21,
        deals=DEALS,
        start=START,
        duplicate_pct=fault_pcts.get("duplicate_pct", 0.0),
        out_of_order_pct=fault_pcts.get("out_of_order_pct", 0.0),
        late_pct=fault_pcts.get("late_pct", 0.0),
        invalid_pct=fault_pcts.get("invalid_pct", 0.0),
    )


@cache
def clean() -> tuple[OutboundMessage, ...]:
    return tuple(valid_messages(config()))


def event_time(message: OutboundMessage) -> datetime:
    assert message.occurred_at is not None
    return message.occurred_at


@pytest.mark.parametrize(
    ("valid_count", "percent", "expected"),
    [(0, 50.0, 0), (25, 10.0, 3), (15, 10.0, 2), (14, 10.0, 1), (1000, 0.1, 1), (7, 100.0, 7)],
)
def test_fault_count_rounds_half_up(valid_count: int, percent: float, expected: int) -> None:
    assert fault_count(valid_count, percent) == expected


@given(
    valid_count=st.integers(min_value=0, max_value=10**7),
    percent=st.floats(min_value=0, max_value=100),
)
def test_fault_count_is_within_half_of_the_share(valid_count: int, percent: float) -> None:
    share = valid_count * percent / 100
    assert abs(fault_count(valid_count, percent) - share) <= 0.5 + 1e-6 * max(share, 1)


def test_no_faults_means_the_clean_stream() -> None:
    assert tuple(generate(config())) == clean()


def test_duplicates_are_byte_identical_copies_shortly_after() -> None:
    stream = list(generate(config(duplicate_pct=10.0)))
    expected = fault_count(len(clean()), 10.0)
    assert len(stream) == len(clean()) + expected
    # Where each arrival sits among the originals: the gap is counted in originals.
    originals_so_far: dict[bytes, list[int]] = defaultdict(list)
    copies: dict[bytes, OutboundMessage] = {}
    originals = 0
    for message in stream:
        if message.value in originals_so_far:
            copies[message.value] = message
        else:
            originals += 1
        originals_so_far[message.value].append(originals)
    assert len(copies) == expected
    for value, copy in copies.items():
        first, second = originals_so_far[value]
        assert 1 <= second - first + 1 <= DUPLICATE_MAX_GAP
        original = next(message for message in stream if message.value == value)
        assert copy == original
        assert json.loads(copy.value)["event_id"] == json.loads(original.value)["event_id"]


def test_out_of_order_breaks_per_deal_order_exactly_as_often_as_asked() -> None:
    stream = list(generate(config(out_of_order_pct=5.0)))
    assert Counter(stream) == Counter(clean())
    by_deal: dict[bytes | None, list[datetime]] = defaultdict(list)
    for message in stream:
        by_deal[message.key].append(event_time(message))
    inversions = sum(
        earlier > later
        for times in by_deal.values()
        for earlier, later in itertools.pairwise(times)
    )
    assert inversions == fault_count(len(clean()), 5.0)


def test_late_messages_arrive_after_the_stream_moved_on() -> None:
    stream = list(generate(config(late_pct=5.0)))
    assert Counter(stream) == Counter(clean())
    expected = fault_count(len(clean()), 5.0)
    newest = datetime.min.replace(tzinfo=UTC)
    late = 0
    for message in stream:
        late += newest - event_time(message) >= LATE_MIN
        newest = max(newest, event_time(message))
    # Messages still held when the stream ends are flushed; one near the very end
    # may then not trail anything by LATE_MIN.
    assert expected * 0.9 <= late <= expected


def test_invalid_count_is_exact_and_kinds_cycle() -> None:
    stream = list(generate(config(invalid_pct=10.0)))
    invalid = [message for message in stream if message.invalid_kind is not None]
    assert len(invalid) == fault_count(len(clean()), 10.0)
    assert len(stream) == len(clean()) + len(invalid)
    cycled = itertools.islice(itertools.cycle(INVALID_KINDS), len(invalid))
    assert [message.invalid_kind for message in invalid] == list(cycled)


def test_all_faults_together_keep_every_valid_message_valid() -> None:
    every = config(duplicate_pct=5.0, out_of_order_pct=5.0, late_pct=5.0, invalid_pct=10.0)
    stream = list(generate(every))
    assert {message.invalid_kind for message in stream} == {None, *INVALID_KINDS}
    for message in stream:
        assert b"\n" not in message.value
        assert message.key is not None
        if message.invalid_kind is None:
            VALIDATOR.validate(json.loads(message.value))
    assert {m for m in stream if m.invalid_kind is None} == set(clean())


def templates() -> list[OutboundMessage]:
    """One valid message of each event type, to break in every way."""
    by_type: dict[str, OutboundMessage] = {}
    for message in clean():
        by_type.setdefault(json.loads(message.value)["type"], message)
    return list(by_type.values())


def decoded(message: OutboundMessage) -> Any:
    return json.loads(message.value)


@pytest.mark.parametrize("kind", INVALID_KINDS)
def test_each_invalid_kind_is_invalid(kind: InvalidKind) -> None:
    rng = random.Random(1)
    for template in templates():
        message = make_invalid(kind, template, rng)
        assert message.invalid_kind == kind
        assert message.key == template.key
        assert b"\n" not in message.value
        if kind is InvalidKind.UNDECODABLE:
            with pytest.raises(UnicodeDecodeError):
                message.value.decode("utf-8")
        elif kind is InvalidKind.NOT_JSON:
            with pytest.raises(json.JSONDecodeError):
                decoded(message)
        elif kind in SCHEMA_VALID_KINDS:
            VALIDATOR.validate(decoded(message))
        else:
            assert not VALIDATOR.is_valid(decoded(message))


def test_the_ingest_rule_kinds_break_what_they_say() -> None:
    template = templates()[0]
    rng = random.Random(2)
    future = decoded(make_invalid(InvalidKind.FUTURE_TIMESTAMP, template, rng))
    assert future["occurred_at"].startswith("2999-")
    cloudevent = make_invalid(InvalidKind.BAD_CLOUDEVENT, template, rng)
    assert dict(cloudevent.headers) == {"ce_specversion": b"1.0"}
    oversize = make_invalid(InvalidKind.OVERSIZE, template, rng)
    assert len(oversize.value) > OVERSIZE_SOURCE_BYTES
    for kind in INVALID_KINDS:
        if kind not in {InvalidKind.UNDECODABLE, InvalidKind.NOT_JSON, InvalidKind.NOT_AN_OBJECT}:
            event_id = decoded(make_invalid(kind, template, rng))["event_id"]
            assert event_id != decoded(template)["event_id"]


def test_at_least_twelve_kinds() -> None:
    assert len(set(INVALID_KINDS)) >= 12
