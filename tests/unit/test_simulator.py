"""The CRM simulator without faults: config, lifecycles, wire format, determinism, sinks."""

from __future__ import annotations

import ast
import asyncio
import io
import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from streams.domain.events import EventType
from streams.simulator.config import SimulationConfig
from streams.simulator.generate import generate, valid_messages
from streams.simulator.lifecycle import deal_lifecycle
from streams.simulator.messages import OutboundMessage, format_timestamp
from streams.simulator.pipelines import pipelines_for, seller_ids, tenant_ids
from streams.simulator.sinks import BURST_SECONDS, produce, write_jsonl

REPO = Path(__file__).resolve().parents[2]
SIMULATOR = REPO / "streams" / "simulator"
VALIDATOR = Draft202012Validator(
    json.loads((REPO / "schemas" / "deal-event.v1.schema.json").read_text(encoding="utf-8"))
)
START = datetime(2026, 3, 1, tzinfo=UTC)
FAULT_PCT = 5.0

OPEN, WON, LOST, CHURNED, DELETED = "open", "won", "lost", "churned", "deleted"
STATE_AFTER = {
    EventType.CREATED: OPEN,
    EventType.STAGE_CHANGED: OPEN,
    EventType.AMOUNT_CHANGED: OPEN,
    EventType.OWNER_CHANGED: OPEN,
    EventType.CLOSE_DATE_CHANGED: OPEN,
    EventType.WON: WON,
    EventType.LOST: LOST,
    EventType.REOPENED: OPEN,
    EventType.CHURNED: CHURNED,
    EventType.DELETED: DELETED,
}
LEGAL_FROM: dict[str | None, set[EventType]] = {
    None: {EventType.CREATED},
    OPEN: {
        EventType.STAGE_CHANGED,
        EventType.AMOUNT_CHANGED,
        EventType.OWNER_CHANGED,
        EventType.CLOSE_DATE_CHANGED,
        EventType.WON,
        EventType.LOST,
        EventType.DELETED,
    },
    WON: {EventType.CHURNED, EventType.REOPENED, EventType.DELETED},
    LOST: {EventType.REOPENED, EventType.DELETED},
    CHURNED: {EventType.DELETED},
    DELETED: set(),
}


def faulty_config(seed: int, deals: int) -> SimulationConfig:
    return SimulationConfig(
        seed=seed,
        deals=deals,
        start=START,
        duplicate_pct=FAULT_PCT,
        out_of_order_pct=FAULT_PCT,
        late_pct=FAULT_PCT,
        invalid_pct=FAULT_PCT,
    )


def wire(messages: list[OutboundMessage]) -> list[tuple[object, ...]]:
    return [(m.key, m.value, m.headers, m.invalid_kind) for m in messages]


def assert_legal_lifecycle(events: list[dict[str, Any]]) -> None:
    """Types follow the state machine and stage changes walk the pipeline forwards."""
    times = [datetime.fromisoformat(event["occurred_at"]) for event in events]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    stages = {p.name: [s.name for s in p.stages] for p in pipelines_for(9)}
    state: str | None = None
    previous_stage: str | None = None
    for event in events:
        event_type = EventType(event["type"])
        assert event_type in LEGAL_FROM[state], (state, event_type)
        if event_type is EventType.STAGE_CHANGED:
            order = stages[event["pipeline"]]
            assert previous_stage is not None
            assert order.index(event["stage"]) == order.index(previous_stage) + 1
        state = STATE_AFTER[event_type]
        previous_stage = event["stage"]
        if state == OPEN:  # an open deal always has a date it is expected to close on
            assert event.get("expected_close_date") is not None, event


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"deals": -1}, "deals"),
        ({"sellers": 0}, "sellers"),
        ({"pipelines": 0}, "pipelines"),
        ({"tenants": 0}, "tenants"),
        ({"start": datetime(2026, 1, 1)}, "start"),  # noqa: DTZ001 - naive on purpose
        ({"start": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))}, "start"),
        ({"span": timedelta(0)}, "span"),
        ({"duplicate_pct": -0.1}, "duplicate_pct"),
        ({"out_of_order_pct": 100.1}, "out_of_order_pct"),
        ({"late_pct": float("nan")}, "late_pct"),
        ({"invalid_pct": float("inf")}, "invalid_pct"),
    ],
)
def test_config_rejects_impossible_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**{"seed": 1, "deals": 1, **changes})


def test_organisation_names() -> None:
    names = [p.name for p in pipelines_for(5)]
    assert names == ["new-business", "expansion", "renewal", "new-business-2", "expansion-2"]
    assert seller_ids(3) == ("seller-001", "seller-002", "seller-003")
    assert tenant_ids(1) == ("default",)
    assert tenant_ids(2) == ("tenant-01", "tenant-02")


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), "2026-03-01T10:00:00Z"),
        (datetime(2026, 3, 1, 10, 0, 5, 123000, tzinfo=UTC), "2026-03-01T10:00:05.123Z"),
    ],
)
def test_timestamps_are_rfc3339_utc(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    deal_index=st.integers(min_value=0, max_value=10**6),
    pipelines=st.integers(min_value=1, max_value=9),
    tenants=st.integers(min_value=1, max_value=3),
)
def test_every_lifecycle_is_legal_and_schema_valid(
    seed: int, deal_index: int, pipelines: int, tenants: int
) -> None:
    config = SimulationConfig(seed=seed, deals=1, pipelines=pipelines, tenants=tenants)
    events = deal_lifecycle(random.Random(seed), deal_index, config)
    for event in events:
        VALIDATOR.validate(event)
        assert event["source"] == "simcrm"
        assert {"pipeline", "stage", "owner", "tenant"} <= event.keys()
    assert_legal_lifecycle([dict(event) for event in events])


def test_a_stream_covers_every_event_type_and_stays_valid() -> None:
    config = SimulationConfig(seed=7, deals=2000, sellers=5, tenants=2, start=START)
    messages = valid_messages(config)
    by_deal: dict[bytes | None, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        event = json.loads(message.value)
        VALIDATOR.validate(event)
        assert message.key == event["deal_id"].encode()
        assert message.occurred_at == datetime.fromisoformat(event["occurred_at"])
        by_deal[message.key].append(event)
    assert {event["type"] for events in by_deal.values() for event in events} == set(EventType)
    assert len(by_deal) == config.deals
    for events in by_deal.values():
        assert_legal_lifecycle(events)
    times = [json.loads(message.value)["occurred_at"] for message in messages]
    assert [datetime.fromisoformat(t) for t in times] == sorted(map(datetime.fromisoformat, times))


def test_now_drops_the_future_and_leaves_deals_open() -> None:
    config = SimulationConfig(seed=3, deals=300, start=START)
    now = START + timedelta(days=30)
    capped = valid_messages(config, now)
    uncapped = valid_messages(config)
    assert capped == [m for m in uncapped if m.occurred_at is not None and m.occurred_at <= now]
    assert len(capped) < len(uncapped)


def test_same_seed_same_bytes_and_other_seed_other_bytes() -> None:
    config = faulty_config(11, 400)
    first = wire(list(generate(config)))
    assert first == wire(list(generate(config)))
    other = faulty_config(12, 400)
    assert first != wire(list(generate(other)))


def test_same_bytes_whatever_the_hash_seed() -> None:
    script = (
        "import hashlib, datetime as d\n"
        "from streams.simulator.config import SimulationConfig\n"
        "from streams.simulator.generate import generate\n"
        "c = SimulationConfig(seed=5, deals=200, start=d.datetime(2026, 3, 1, tzinfo=d.UTC),"
        " duplicate_pct=5, out_of_order_pct=5, late_pct=5, invalid_pct=20)\n"
        "h = hashlib.sha256()\n"
        "for m in generate(c): h.update(repr((m.key, m.value, m.headers)).encode())\n"
        "print(h.hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


def test_jsonl_round_trip(tmp_path: Path) -> None:
    config = faulty_config(2, 100)
    messages = list(generate(config))
    stream = io.BytesIO()
    assert write_jsonl(messages, stream) == len(messages)
    path = tmp_path / "stream.jsonl"
    assert write_jsonl(messages, path) == len(messages)
    assert path.read_bytes() == stream.getvalue()
    assert stream.getvalue().split(b"\n")[:-1] == [m.value for m in messages]


def test_jsonl_refuses_a_value_with_a_newline() -> None:
    with pytest.raises(ValueError, match="newline"):
        write_jsonl([OutboundMessage(key=None, value=b"{}\n")], io.BytesIO())


@dataclass
class FakeProducer:
    """Records sends; deliveries complete at once, as with an idle local broker."""

    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]] = field(
        default_factory=list
    )
    events: list[str] = field(default_factory=list)

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def flush(self) -> None:
        self.events.append("flush")

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[object]:
        self.sent.append((topic, key, value, headers))
        delivered: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


@pytest.mark.parametrize("rate", [None, 400.0])
def test_produce_sends_everything_with_a_fake_producer(rate: float | None) -> None:
    messages = list(generate(faulty_config(4, 40)))
    producer = FakeProducer()
    progress: list[int] = []

    async def run() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        sent = await produce(
            messages, "deals", producer_factory=lambda: producer, rate=rate, on_sent=progress.append
        )
        return sent, loop.time() - began

    sent, elapsed_seconds = asyncio.run(run())
    assert sent == sum(progress) == len(messages)
    assert producer.sent == [("deals", m.key, m.value, list(m.headers)) for m in messages]
    assert producer.events == ["start", "flush", "stop"]
    if rate is not None:
        burst = rate * BURST_SECONDS
        assert elapsed_seconds >= (len(messages) - burst) / rate * 0.9


def test_only_the_sink_knows_kafka_and_nothing_knows_faust_or_prometheus() -> None:
    for module in sorted(SIMULATOR.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"faust", "mode", "prometheus_client"}, module.name
        if module.name != "sinks.py":
            assert "aiokafka" not in imported, module.name
