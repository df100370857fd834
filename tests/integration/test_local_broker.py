"""`dealpulse kafka up | down | status`, as a user runs them, on a broker of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker_process import broker_pids
from tests.support.worker_process import free_port

pytestmark = pytest.mark.integration


def dealpulse(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_up_twice_gives_one_broker_and_down_stops_it(tmp_path: Path) -> None:
    env = {
        "DEALPULSE_LOCAL_KAFKA_DIR": str(tmp_path / "kafka"),
        "DEALPULSE_LOCAL_KAFKA_PORT": str(free_port()),
        "DEALPULSE_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    env.pop("DEALPULSE_KAFKA_BOOTSTRAP", None)
    os_env_without_external = {
        k: v for k, v in os.environ.items() if k != "DEALPULSE_KAFKA_BOOTSTRAP"
    }
    env = {**os_env_without_external, **env}

    before = dealpulse(["kafka", "status"], env)
    assert before.returncode == 1
    assert "not running" in before.stdout

    try:
        first = dealpulse(["kafka", "up"], env)
        assert first.returncode == 0, first.stderr
        second = dealpulse(["kafka", "up"], env)
        assert second.returncode == 0, second.stderr
        pids = broker_pids(tmp_path)
        assert len(pids) == 1
        assert f"pid {pids[0]}" in first.stdout
        assert f"pid {pids[0]}" in second.stdout

        status = dealpulse(["kafka", "status"], env)
        assert status.returncode == 0
        assert "answering" in status.stdout
    finally:
        down = dealpulse(["kafka", "down"], env)
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert broker_pids(tmp_path) == []
    after = dealpulse(["kafka", "status"], env)
    assert after.returncode == 1
    assert "not running" in after.stdout
