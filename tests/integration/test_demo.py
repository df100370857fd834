"""The Quickstart's run command: live numbers, a second run that continues, and Ctrl-C.

Broker, worker and simulator come up; today's numbers show while the demo runs;
a second run picks up after the first without sending an event id again; each
Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.kafka.local_broker import LocalBroker
from streams.settings import Settings
from tests.support.broker_process import broker_pids
from tests.support.kafka_io import read_topic
from tests.support.waiting import wait_for
from tests.support.worker_process import free_port, scrape_url

pytestmark = pytest.mark.integration

STOP_DEADLINE_SECONDS = 240
METRICS_URL = re.compile(r"metrics at (http://\S+/metrics)")
NEWEST_EVENT = "dealpulse_newest_event_timestamp_seconds{"


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


class Demo:
    """One `dealpulse demo` process, its log, and the stop every run must survive."""

    def __init__(self, env: dict[str, str], log_path: Path, *options: str) -> None:
        self.log_path = log_path
        command = [sys.executable, "-m", "streams", "demo", "--rate", "300", "--deals", "2000"]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, *options],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def metrics_url(self) -> str:
        match = wait_for(
            lambda: METRICS_URL.search(self.output),
            timeout_seconds=150,
            what="the demo to print where /metrics is",
        )
        return match.group(1)

    def stop(self, tmp_path: Path, marker: str) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            # stopping the worker (<= 30 s) and the broker (<= 30 s, then KILL) in order
            return self.process.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            for pid in broker_pids(tmp_path) + worker_pids(marker):
                os.kill(pid, signal.SIGKILL)
            raise


def won_today(url: str) -> float:
    return sum(
        value
        for name, value in scrape_url(url).items()
        if name.startswith("dealpulse_won_revenue{")
        and 'granularity="day"' in name
        and 'window="current"' in name
    )


def newest_event(url: str) -> float:
    return max((v for k, v in scrape_url(url).items() if k.startswith(NEWEST_EVENT)), default=0.0)


def test_demo_is_live_continues_where_it_stopped_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DEALPULSE_")}
    marker = str(tmp_path)
    broker_port, controller_port = free_port(), free_port()
    env |= {
        "DEALPULSE_LOCAL_KAFKA_DIR": str(tmp_path / "kafka"),
        "DEALPULSE_LOCAL_KAFKA_PORT": str(broker_port),
        "DEALPULSE_LOCAL_KAFKA_CONTROLLER_PORT": str(controller_port),
        "DEALPULSE_WEB_PORT": str(free_port()),
        "DEALPULSE_DATA_DIR": str(tmp_path / "worker"),
        "DEALPULSE_DEMO_PLAN_FILE": str(tmp_path / "demo.json"),
    }
    first = Demo(env, tmp_path / "demo-1.log")
    try:
        url = first.metrics_url()
        # The backfill goes as fast as Kafka takes it, then live events are dated now:
        # won revenue for today shows while the demo runs, and event time keeps up.
        wait_for(lambda: won_today(url) > 0, timeout_seconds=90, what="won revenue today")
        started_live = time.time()
        wait_for(
            lambda: newest_event(url) >= started_live,
            timeout_seconds=60,
            what="live events dated now to be folded",
        )
        assert broker_pids(tmp_path)
        assert worker_pids(marker)
    finally:
        exit_code = first.stop(tmp_path, marker)
    assert_stopped_cleanly(first.output, exit_code, tmp_path, marker)
    assert "backfill: 2,000 deals" in first.output
    plan = json.loads((tmp_path / "demo.json").read_text())
    assert plan["backfilled"], plan
    assert plan["live_events_sent"] > 0, plan

    # The second run shows the sales board (a file is no terminal: its last frame is
    # printed when the demo stops).
    second = Demo(env, tmp_path / "demo-2.log", "--board")
    try:
        url = second.metrics_url()
        resumed = time.time()
        wait_for(
            lambda: newest_event(url) >= resumed,
            timeout_seconds=90,
            what="the second run's live events to be folded",
        )
    finally:
        exit_code = second.stop(tmp_path, marker)
    assert_stopped_cleanly(second.output, exit_code, tmp_path, marker)
    assert "continuing the demo" in second.output
    assert "backfill:" not in second.output
    board = second.output
    assert "Sellers: won revenue today and this month" in board
    assert re.search(r"all sellers +[\d,]+ +[\d,]+ +[\d,]+ ", board), board
    assert "Stage conversion this month" in board

    # No event id went out twice with different bytes: a resumed demo sends the events
    # after the ones acknowledged, and the only repeats are the simulated CRM retries,
    # byte for byte. (A resent event would carry a new time, so it would differ.)
    broker = LocalBroker(
        Settings(
            local_kafka_dir=tmp_path / "kafka",
            local_kafka_port=broker_port,
            local_kafka_controller_port=controller_port,
        )
    )
    broker.up()
    try:
        messages = read_topic(f"127.0.0.1:{broker_port}", "crm.deal-events")
    finally:
        broker.down()
    bodies: dict[str, set[bytes]] = {}
    for message in messages:
        event_id = event_id_of(message.value)
        if event_id is not None and message.value is not None:
            bodies.setdefault(event_id, set()).add(message.value)
    assert len(bodies) > 2000
    reused = {event_id: values for event_id, values in bodies.items() if len(values) > 1}
    assert reused == {}


def event_id_of(value: bytes | None) -> str | None:
    try:
        event = json.loads(value or b"")
    except ValueError:
        return None
    event_id = event.get("event_id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) else None


def assert_stopped_cleanly(output: str, exit_code: int, tmp_path: Path, marker: str) -> None:
    assert "local Kafka stopped" in output, output
    # Ctrl-C stops the simulator's producer cleanly, not with an exception raised in
    # whichever of its tasks ran at that moment.
    for trace in ("Traceback", "Task was destroyed", "was never awaited"):
        assert trace not in output, output
    assert exit_code in (0, 130), output
    assert broker_pids(tmp_path) == []
    assert worker_pids(marker) == []
