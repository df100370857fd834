"""Histories the simulator never writes, through real workers, killed and rebalanced.

The acceptance of the metrics issue feeds event histories not made by the
simulator through the worker, with duplicates, disorder, kills and
rebalances. `tests/support/adversarial.py` writes such histories; here one
worker folds part of them and is SIGKILLed, restarts on its kept state, and a
second worker joins mid-stream. Summed, the two workers' exports must equal the
batch result, with each partition exported by exactly one of them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from streams.kafka.topics import ensure_topics
from tests.support.adversarial import adversarial
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, committed_total, produce
from tests.support.oracle import batch_result, differences, owned_once, summed
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked

pytestmark = pytest.mark.integration

DEALS = 1_500
PARTITIONS = 8


def test_odd_histories_killed_and_rebalanced_equal_the_batch_result(flow: Flow) -> None:
    messages = adversarial(
        DEALS, seed=51, start=CLOCK - timedelta(days=260), span=timedelta(days=120)
    )
    asyncio.run(ensure_topics(flow.settings()))
    expected = batch_result(messages, flow.settings(), CLOCK)
    assert len(expected) > 1000
    env = clocked(flow.env())
    workers = [WorkerProcess(env, flow.state_dir).start()]
    try:
        produce(flow.kafka.bootstrap, flow.topic, messages)
        wait_for(
            lambda: (
                committed_total(flow.kafka.bootstrap, flow.app_id, flow.topic) >= len(messages) // 3
            ),
            timeout_seconds=600,
            what="a third of the events committed",
        )
        killed = workers.pop()
        killed.kill()
        workers.append(WorkerProcess(env, flow.state_dir, data_dir=killed.data_dir).start())
        workers.append(WorkerProcess(env, flow.state_dir).start())  # joins mid-stream
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=600,
            what="every offset committed",
        )
        states = wait_for(
            lambda: owned_once((worker.base_url for worker in workers), PARTITIONS),
            timeout_seconds=120,
            what="the two workers to own every partition exactly once",
        )
    finally:
        for worker in workers:
            worker.stop()
    assert differences(summed(state.snapshot for state in states), expected) == []
