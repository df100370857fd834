"""Kafka not there yet when a command starts: it waits, says so once, and goes on.

Found before (issue 20, finding 6): a worker, the simulator or `replay --topic`
started without a broker exited within a second with a 53-line traceback. A
broker that comes later is reached here through a forwarder that starts
listening only once the command has said it is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.topics import ensure_topics
from tests.support.flow import Flow
from tests.support.kafka_io import produce
from tests.support.waiting import wait_for
from tests.support.workload import clocked, simulated

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def forwarder(port: int, target: str) -> Iterator[None]:
    """Listens on `port` and pipes each connection to the broker at `target`."""
    host, target_port = target.rsplit(":", 1)

    class Pipe(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with socket.create_connection((host, int(target_port))) as upstream:
                threads = [
                    threading.Thread(target=copy, args=(self.request, upstream), daemon=True),
                    threading.Thread(target=copy, args=(upstream, self.request), daemon=True),
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()

    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Pipe)
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def copy(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


def dealpulse(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_replay_started_before_kafka_waits_then_reads_the_topic(flow: Flow, tmp_path: Path) -> None:
    messages = simulated(500, seed=41)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    port = free_port()
    env = {**clocked(flow.env()), "DEALPULSE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    out = tmp_path / "replay.json"
    command = dealpulse(env, "replay", "--topic", flow.topic, "--out", str(out))
    assert command.stderr is not None
    said: list[str] = []

    def says_it_waits() -> bool:
        line = command.stderr.readline() if command.stderr else ""
        said.append(line)
        return "waiting for Kafka" in line

    wait_for(says_it_waits, timeout_seconds=60, what="the replay to say it waits for Kafka")
    with forwarder(port, flow.kafka.bootstrap):
        stdout, stderr = command.communicate(timeout=300)
    said.extend(stderr.splitlines())
    assert command.returncode == 0, "\n".join(said)
    assert sum("waiting for Kafka" in line for line in said) == 1
    assert sum("Kafka answered" in line for line in said) == 1
    assert "Traceback" not in "\n".join(said)
    assert out.exists()
    assert "messages read" in stdout


@pytest.mark.parametrize(
    "args",
    [("simulate", "--deals", "5"), ("replay", "--topic", "crm.deal-events"), ("worker",)],
    ids=["simulate", "replay", "worker"],
)
def test_a_command_without_kafka_gives_up_in_one_line(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    env = {
        "DEALPULSE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "DEALPULSE_KAFKA_WAIT_SECONDS": "2",
        "DEALPULSE_WORKER_DATA_DIR": str(tmp_path / "state"),
    }
    command = dealpulse(env, *args)
    _, stderr = command.communicate(timeout=60)
    lines = stderr.strip().splitlines()
    assert command.returncode == 1
    assert "Traceback" not in stderr
    assert lines[-1].startswith("error: Kafka at 127.0.0.1:")
    assert "dealpulse kafka up" in lines[-1]
    assert len(lines) <= 3  # the library's first complaint, our waiting line, the error
