"""Exact numbers after kill -9 at random moments, and while workers join and leave."""

from __future__ import annotations

import asyncio
import random

import pytest

from streams.kafka.topics import CHANGELOG_DIRTY_RATIO, MB, changelog_topic, ensure_topics
from streams.simulator import OutboundMessage
from tests.support.flow import Flow
from tests.support.kafka_io import (
    committed_lag,
    committed_total,
    produce,
    read_topic,
    topic_configs,
)
from tests.support.oracle import (
    WorkerState,
    batch_by_partition,
    batch_result,
    differences,
    owned_once,
    summed,
    worker_state,
)
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration

EVENTS = 50_000
PARTITIONS = list(range(8))


def test_sigkill_at_three_random_moments(flow: Flow) -> None:
    messages = simulated(EVENTS, seed=31)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    expected = batch_result(messages, flow.settings(), CLOCK)
    total = len(messages)
    moments = sorted(random.Random(31).uniform(0.1, 0.9) for _ in range(3))

    worker = WorkerProcess(clocked(flow.env()), flow.state_dir).start()
    data_dir = worker.data_dir
    try:
        for fraction in moments:
            target = fraction * total
            wait_for(
                lambda: committed_total(flow.kafka.bootstrap, flow.app_id, flow.topic) >= target,  # noqa: B023 - waited on at once
                timeout_seconds=600,
                what=f"{fraction:.0%} of the events committed",
            )
            worker.kill()
            worker = WorkerProcess(clocked(flow.env()), flow.state_dir, data_dir=data_dir).start()
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=600,
            what="the last worker to commit every offset",
        )
        partitions, actual = worker_state(worker.base_url)
    finally:
        worker.stop()
    assert partitions == PARTITIONS
    assert differences(actual, expected) == []
    changelog = topic_configs(flow.kafka.bootstrap, changelog_topic(flow.settings()))
    assert changelog["cleanup.policy"] == "compact"
    assert changelog["segment.bytes"] == str(flow.settings().changelog_segment_mb * MB)
    assert float(changelog["min.cleanable.dirty.ratio"]) == CHANGELOG_DIRTY_RATIO


def test_workers_joining_and_leaving_export_each_partition_once(flow: Flow) -> None:
    messages = simulated(EVENTS, seed=41)
    asyncio.run(ensure_topics(flow.settings()))
    expected = batch_result(messages, flow.settings(), CLOCK)
    half = len(messages) // 2
    env = clocked(flow.env())
    first = WorkerProcess(env, flow.state_dir).start()
    second = WorkerProcess(env, flow.state_dir).start()
    third: WorkerProcess | None = None
    try:
        produce(flow.kafka.bootstrap, flow.topic, messages[:half])
        wait_for(
            lambda: committed_total(flow.kafka.bootstrap, flow.app_id, flow.topic) >= half // 2,
            timeout_seconds=600,
            what="a quarter of the events committed",
        )
        third = WorkerProcess(env, flow.state_dir).start()  # joins mid-stream
        produce(flow.kafka.bootstrap, flow.topic, messages[half:])
        wait_for(
            lambda: committed_total(flow.kafka.bootstrap, flow.app_id, flow.topic) >= half,
            timeout_seconds=600,
            what="half of the events committed",
        )
        first.stop()  # leaves mid-stream
        survivors = [second, third]
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=600,
            what="every offset committed",
        )
        states = wait_for(
            lambda: owned_once((w.base_url for w in survivors), len(PARTITIONS)),
            timeout_seconds=120,
            what="the survivors to own every partition exactly once",
        )
        from_tables = [worker_state(w.base_url, recompute=True) for w in survivors]
    finally:
        for worker in (first, second, third):
            if worker is not None:
                worker.stop()
    actual = summed(state.snapshot for state in states)
    if (
        actual != expected
    ):  # say which partitions are wrong, to tell a rebalance bug from a fold bug
        by_partition = batch_by_partition(
            (
                (m.partition, OutboundMessage(key=m.key, value=m.value or b"", headers=m.headers))
                for m in read_topic(flow.kafka.bootstrap, flow.topic)
            ),
            flow.settings(),
            CLOCK,
        )

        def wrong_keys(found: list[WorkerState]) -> dict[str, int]:
            return {
                str(state.partitions): len(
                    differences(
                        state.snapshot,
                        summed(by_partition.get(p, {}) for p in state.partitions),
                        10_000,
                    )
                )
                for state in found
            }

        raise AssertionError(
            f"wrong keys by worker's partitions: live {wrong_keys(states)}, "
            f"from tables {wrong_keys(from_tables)}; {differences(actual, expected)}"
        )
    assert differences(summed(state.snapshot for state in from_tables), expected) == []
