"""Every number the stream keeps equals the batch computation over the same events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.domain.metric_rows import from_rows
from streams.kafka.topics import ensure_topics
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce
from tests.support.oracle import batch_result, differences, worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration


def test_one_worker_equals_the_batch_result(flow: Flow) -> None:
    messages = simulated(50_000, seed=21)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    expected = batch_result(messages, flow.settings(), CLOCK)
    assert len(expected) > 1000

    with WorkerProcess(clocked(flow.env()), flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=600,
            what="the worker to commit every offset",
        )
        partitions, actual = worker_state(worker.base_url)
    assert partitions == list(range(8))
    assert differences(actual, expected) == []


def test_replay_of_the_topic_equals_the_batch_result(flow: Flow, tmp_path: Path) -> None:
    messages = simulated(5_000, seed=22)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    out = tmp_path / "replay.json"
    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--topic", flow.topic, "--out", str(out)],
        env={**os.environ, **clocked(flow.env())},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    replayed = json.loads(out.read_text())
    assert replayed["messages"] == len(messages)
    assert from_rows(replayed["rows"]) == batch_result(messages, flow.settings(), CLOCK)
    assert "messages read" in result.stdout
