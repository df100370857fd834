"""The broker killed (`kill -9`) and restarted while a worker folds: nothing lost, exact after.

A broker of its own (the session's is shared by every test), started by the
project's launcher, killed once the worker has committed part of the first half
of the events, and started again on the same data; the second half is sent
after the restart. The worker rides it out: its numbers then
equal the batch computation, every offset is committed, and every bad message
is in the DLQ once (issue 20, item 9).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from streams.ingest.dead_letter import ORIGIN_HEADER
from streams.kafka.local_broker import LocalBroker
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from tests.support.flow import Flow, Kafka
from tests.support.kafka_io import committed_lag, committed_total, produce, read_topic
from tests.support.oracle import accepted_events, batch_result, differences, worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess, free_port
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration


def listening(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    settings = Settings(
        local_kafka_dir=tmp_path / "kafka",
        local_kafka_port=free_port(),
        local_kafka_controller_port=free_port(),
    )
    broker = LocalBroker(settings)
    broker.up()
    try:
        yield broker
    finally:
        broker.down()
        shutil.rmtree(tmp_path / "kafka", ignore_errors=True)


def test_a_broker_killed_and_restarted_mid_stream_loses_and_doubles_nothing(
    flow: Flow, own_broker: LocalBroker
) -> None:
    flow = replace(flow, kafka=Kafka(own_broker.bootstrap))
    bootstrap = own_broker.bootstrap
    messages = simulated(40_000, seed=91)
    before, after = messages[:20_000], messages[20_000:]
    asyncio.run(ensure_topics(flow.settings()))
    produce(bootstrap, flow.topic, before)
    env = {**clocked(flow.env()), "DEALPULSE_KAFKA_BOOTSTRAP": bootstrap}

    with WorkerProcess(env, flow.state_dir) as worker:
        wait_for(
            lambda: committed_total(bootstrap, flow.app_id, flow.topic) >= 5_000,
            timeout_seconds=180,
            what="the worker to commit part of the topic",
        )
        pid = own_broker.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: not listening(bootstrap),
            timeout_seconds=30,
            what="the killed broker's port to close",
        )
        own_broker.down()  # reaps it (it was this process's child) and forgets its pid
        own_broker.up()
        produce(bootstrap, flow.topic, after)  # the stream goes on after the restart
        wait_for(
            lambda: committed_lag(bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=300,
            what="the worker to commit every offset after the restart",
        )
        partitions, actual = worker_state(worker.base_url)
        assert worker.alive
    assert partitions == list(range(8))
    assert differences(actual, batch_result(messages, flow.settings(), CLOCK)) == []
    letters = read_topic(bootstrap, flow.dlq)
    origins = Counter(dict(letter.headers)[ORIGIN_HEADER] for letter in letters)
    assert len(origins) == len(messages) - len(accepted_events(messages, flow.settings(), CLOCK))
    assert max(origins.values()) == 1  # none dead-lettered twice
