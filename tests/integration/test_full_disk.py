"""A full state disk stops the partitions it holds, loses nothing, and resumes exactly.

Found before (issue 20, finding 2): with the state directory on a full filesystem,
every good event went to the DLQ as `internal_error` and its offset was committed.
Here the worker's data directory is a small tmpfs: once a store cannot write,
its partition stops advancing (`/health` says why, `dealpulse_partition_faulted`
is 1), no good event is dead-lettered, and when the filesystem grows the
partition writes what it held and goes on; the numbers are then exact.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.ingest.dead_letter import REASON_HEADER
from streams.kafka.topics import ensure_topics
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce, read_topic
from tests.support.oracle import batch_result, differences, worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration

FULL = "3m"
ROOMY = "512m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of `FULL` (mounting needs root, as CI runs)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FULL}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_stops_its_partitions_and_they_resume_exactly(
    flow: Flow, small_disk: Path
) -> None:
    messages = simulated(30_000, seed=71)
    invalid = sum(1 for message in messages if message.invalid_kind is not None)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    env = {**clocked(flow.env()), "DEALPULSE_ENGINE_FAULT_RETRY_SECONDS": "1"}

    with WorkerProcess(env, flow.state_dir, data_dir=small_disk / "worker") as worker:
        faulted = wait_for(
            lambda: worker.health()["faulted"],
            timeout_seconds=300,
            what="a partition to stop on the full disk",
        )
        assert isinstance(faulted, dict)
        assert all("No space left" in why for why in faulted.values())
        samples = worker.scrape()
        assert {
            name for name, value in samples.items()
            if name.startswith("dealpulse_partition_faulted") and value == 1
        } == {f'dealpulse_partition_faulted{{partition="{p}"}}' for p in faulted}  # fmt: skip
        assert (committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) or 0) > 0
        assert worker.alive

        subprocess.run(["mount", "-o", f"remount,size={ROOMY}", str(small_disk)], check=True)
        wait_for(
            lambda: (
                committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0
                and not worker.health()["faulted"]
            ),
            timeout_seconds=300,
            what="every partition to resume and commit every offset",
        )
        partitions, actual = worker_state(worker.base_url)
        samples = worker.scrape()
        assert worker.alive
    assert partitions == list(range(8))
    assert differences(actual, batch_result(messages, flow.settings(), CLOCK)) == []
    assert not any(
        name.startswith("dealpulse_partition_faulted") and value for name, value in samples.items()
    )
    letters = read_topic(flow.kafka.bootstrap, flow.dlq)
    assert len(letters) == invalid  # no good event dead-lettered, none twice
    assert all(dict(letter.headers)[REASON_HEADER] != b"internal_error" for letter in letters)
