"""The Quickstart's run command: broker, worker and simulator up; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker_process import broker_pids
from tests.support.waiting import wait_for
from tests.support.worker_process import free_port, scrape_url

pytestmark = pytest.mark.integration

STOP_DEADLINE_SECONDS = 240
METRICS_URL = re.compile(r"metrics at (http://\S+/metrics)")


def worker_pids(data_dir_marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"worker" in cmdline and data_dir_marker.encode() in environ:
                pids.append(int(entry.name))
    return pids


def test_demo_flows_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DEALPULSE_")}
    marker = str(tmp_path)
    env |= {
        "DEALPULSE_LOCAL_KAFKA_DIR": str(tmp_path / "kafka"),
        "DEALPULSE_LOCAL_KAFKA_PORT": str(free_port()),
        "DEALPULSE_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "DEALPULSE_WEB_PORT": str(free_port()),
        "DEALPULSE_DATA_DIR": str(tmp_path / "worker"),
    }
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "streams", "demo", "--rate", "300", "--deals", "2000"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        match = wait_for(
            lambda: METRICS_URL.search(log_path.read_text()),
            timeout_seconds=150,
            what="the demo to print where /metrics is",
        )
        url = match.group(1)
        first = wait_for(
            lambda: scrape_url(url).get('dealpulse_ingest_messages_total{outcome="accepted"}'),
            timeout_seconds=90,
            what="the worker to accept events",
        )
        wait_for(
            lambda: (
                scrape_url(url).get('dealpulse_ingest_messages_total{outcome="accepted"}', 0)
                > first
            ),
            timeout_seconds=60,
            what="the accepted count to keep rising",
        )
        assert broker_pids(tmp_path)
        assert worker_pids(marker)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            # stopping the worker (<= 30 s) and the broker (<= 30 s, then KILL) in order
            exit_code = demo.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            for pid in broker_pids(tmp_path) + worker_pids(marker):
                os.kill(pid, signal.SIGKILL)
            raise
    output = log_path.read_text()
    assert "local Kafka stopped" in output, output
    # Ctrl-C stops the simulator's producer cleanly, not with an exception raised in
    # whichever of its tasks ran at that moment.
    for trace in ("Traceback", "Task was destroyed", "was never awaited"):
        assert trace not in output, output
    assert exit_code in (0, 130), output
    assert broker_pids(tmp_path) == []
    assert worker_pids(marker) == []
