"""Every number the stream keeps equals the batch computation over the same events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from streams.kafka.topics import ensure_topics
from streams.simulator import OutboundMessage, SimulationConfig, generate
from tests.integration.conftest import Flow
from tests.support.kafka_io import committed_lag, produce
from tests.support.oracle import batch_result, differences, worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

CLOCK = datetime(2026, 11, 1, tzinfo=UTC)
EVENTS_PER_DEAL = 4.4  # the simulator's average


def simulated(events: int, seed: int) -> list[OutboundMessage]:
    config = SimulationConfig(
        seed=seed,
        deals=int(events / EVENTS_PER_DEAL),
        sellers=40,
        start=CLOCK - timedelta(days=150),
        span=timedelta(days=140),
        duplicate_pct=1.0,
        out_of_order_pct=5.0,
        late_pct=1.0,
        invalid_pct=0.5,
    )
    return list(generate(config, now=CLOCK))


def clocked_env(flow: Flow) -> dict[str, str]:
    return {**flow.env(), "DEALPULSE_CLOCK": CLOCK.isoformat()}


def test_one_worker_equals_the_batch_result(flow: Flow) -> None:
    messages = simulated(50_000, seed=21)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    expected = batch_result(messages, flow.settings(), CLOCK)
    assert len(expected) > 1000

    with WorkerProcess(clocked_env(flow), flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=600,
            what="the worker to commit every offset",
        )
        partitions, actual = worker_state(worker.base_url)
    assert partitions == list(range(8))
    assert differences(actual, expected) == []
