"""Quotas on the control plane: `dealpulse quotas load` onto the control topic, a Faust
agent into a global table, every worker's /metrics within seconds, with no restart.

Two workers run while a first load publishes and a second one changes one period;
both show each load, a worker started after the loads shows the latest quotas (it
recovers the table from its changelog), and a load made after it joined (the control
group rebalanced) shows on all three. Workers are waited on, never slept on.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest

from streams.kafka.topics import ensure_topics
from tests.support.flow import Flow
from tests.support.kafka_io import consumer_groups
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import clocked

pytestmark = pytest.mark.integration

SHOWN_WITHIN_SECONDS = 60.0
FIRST_LOAD = """period,tenant,seller,team,amount
2026-10,,alice,emea,90000
2026-11,,alice,emea,100000
2026-11,,bob,,80000.50
2026-11,,,emea,250000
2026-12,,alice,emea,110000
2026-Q4,,alice,emea,300000
2026-Q4,acme,carol,,42
"""
SECOND_LOAD = """period,seller,amount,team
2026-11,alice,125000,emea
2026-11,dave,70000,apac
"""
"""Replaces 2026-11 of the default tenant: alice changes, bob and the emea team quota are
gone, dave comes; every other period stays as the first load left it."""


def quota(seller: str, period: str, team: str = "emea", tenant: str = "default") -> str:
    granularity, window = _WINDOWS[period]
    return (
        f'dealpulse_quota{{granularity="{granularity}",seller="{seller}",team="{team}",'
        f'tenant="{tenant}",window="{window}"}}'
    )


def team_quota(team: str, period: str, tenant: str = "default") -> str:
    granularity, window = _WINDOWS[period]
    return (
        f'dealpulse_team_quota{{granularity="{granularity}",team="{team}",tenant="{tenant}",'
        f'window="{window}"}}'
    )


_WINDOWS = {  # the workload's clock is 2026-11-01T00:00Z
    "2026-10": ("month", "previous"),
    "2026-11": ("month", "current"),
    "2026-12": ("month", "next"),
    "2026-Q4": ("quarter", "current"),
}

AFTER_FIRST = {
    quota("alice", "2026-10"): 90000.0,
    quota("alice", "2026-11"): 100000.0,
    quota("bob", "2026-11", team="(none)"): 80000.5,
    team_quota("emea", "2026-11"): 250000.0,
    quota("alice", "2026-12"): 110000.0,
    quota("alice", "2026-Q4"): 300000.0,
    quota("carol", "2026-Q4", team="(none)", tenant="acme"): 42.0,
}
AFTER_SECOND = {
    **{
        name: value
        for name, value in AFTER_FIRST.items()
        if 'granularity="month"' not in name or 'window="current"' not in name
    },
    quota("alice", "2026-11"): 125000.0,
    quota("dave", "2026-11", team="apac"): 70000.0,
}

AFTER_THIRD = {**AFTER_SECOND, quota("alice", "2026-12"): 111111.0}


def quotas_load(flow: Flow, path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "streams", "quotas", "load", str(path)],
        env={**os.environ, **clocked(flow.env())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def quota_samples(worker: WorkerProcess) -> dict[str, float]:
    return {
        name: value
        for name, value in worker.scrape().items()
        if name.startswith(("dealpulse_quota{", "dealpulse_team_quota{"))
    }


def wait_until_shown(workers: list[WorkerProcess], expected: dict[str, float], what: str) -> float:
    """Seconds until every worker's /metrics shows exactly `expected`."""
    started = time.monotonic()
    for worker in workers:
        wait_for(
            lambda: quota_samples(worker) == expected,  # noqa: B023 - waited on at once
            timeout_seconds=SHOWN_WITHIN_SECONDS,
            what=f"{what} on {worker.metrics_url} ({worker.log_path})",
        )
    return time.monotonic() - started


def engine_partitions_owned_once(workers: list[WorkerProcess]) -> None:
    """Faust's consumer, in its own group, took none of the engine's partitions."""

    def owned() -> list[int]:
        return sorted(
            partition
            for worker in workers
            for partition in cast(list[int], worker.health()["partitions"])
        )

    wait_for(
        lambda: owned() == list(range(8)),
        timeout_seconds=SHOWN_WITHIN_SECONDS,
        what="the engine's 8 partitions owned once by the two workers",
    )


def test_loads_show_on_every_worker_within_seconds_and_on_one_started_later(
    flow: Flow, tmp_path: Path
) -> None:
    asyncio.run(ensure_topics(flow.settings()))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(FIRST_LOAD)
    second.write_text(SECOND_LOAD)
    env = clocked(flow.env())
    with WorkerProcess(env, flow.state_dir) as one, WorkerProcess(env, flow.state_dir) as two:
        assert quota_samples(one) == {}
        said = quotas_load(flow, first)
        assert "loaded 7 quota rows (6 seller, 1 team) for 4 periods" in said
        assert "of 2 tenants (acme, default)" in said
        shown_after = wait_until_shown([one, two], AFTER_FIRST, "the first load")
        print(f"first load shown on both workers {shown_after:.1f} s after it returned")
        engine_partitions_owned_once([one, two])
        assert {flow.app_id, f"{flow.app_id}-control"} <= consumer_groups(flow.kafka.bootstrap)

        said = quotas_load(flow, second)
        assert "loaded 2 quota rows (2 seller, 0 team) for 1 period (2026-11)" in said
        shown_after = wait_until_shown([one, two], AFTER_SECOND, "the second load")
        print(f"second load shown on both workers {shown_after:.1f} s after it returned")

        with WorkerProcess(env, flow.state_dir) as late:
            wait_until_shown([late], AFTER_SECOND, "the loads on a worker started after them")
            # The control group rebalanced for the newcomer (its agent may have moved):
            # a load still reaches every worker, the newcomer's included.
            third = tmp_path / "third.csv"
            third.write_text("period,seller,team,amount\n2026-12,alice,emea,111111\n")
            quotas_load(flow, third)
            wait_until_shown([one, two, late], AFTER_THIRD, "a load after the rebalance")
