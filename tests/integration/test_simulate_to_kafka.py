"""`dealpulse simulate` to the real broker writes exactly what the generator makes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from streams.simulator import SimulationConfig, generate
from tests.support.flow import Flow
from tests.support.kafka_io import read_topic

pytestmark = pytest.mark.integration


def test_simulate_produces_the_generated_messages_keyed_by_deal(flow: Flow) -> None:
    env = {**os.environ, **flow.env()}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams",
            "simulate",
            "--deals",
            "200",
            "--seed",
            "5",
            "--start",
            "2026-01-01",
            "--duplicate-pct",
            "2",
            "--invalid-pct",
            "3",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = SimulationConfig(
        seed=5,
        deals=200,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        span=timedelta(days=90),
        duplicate_pct=2,
        invalid_pct=3,
    )
    expected = list(generate(config))
    assert f"{len(expected)} messages written" in result.stderr
    consumed = read_topic(flow.kafka.bootstrap, flow.topic)
    assert Counter((m.key, m.value) for m in consumed) == Counter(
        (m.key, m.value) for m in expected
    )
    partitions_of_deal: dict[bytes | None, set[int]] = {}
    for message in consumed:
        partitions_of_deal.setdefault(message.key, set()).add(message.partition)
    assert all(len(partitions) == 1 for partitions in partitions_of_deal.values())
