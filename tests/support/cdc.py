"""The CDC path's real parts for integration tests: a private PostgreSQL, Kafka Connect with
Debezium, and the `dealpulse bridge debezium` process; plus when each event was produced."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.cdc.local_connect import LocalConnect
from streams.cdc.local_postgres import LocalPostgres
from streams.settings import Settings
from tests.support.kafka_io import end_offsets
from tests.support.worker_process import free_port, scrape_url

STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class CdcStack:
    """A running PostgreSQL and Connect, and the environment a bridge needs to read them."""

    postgres: LocalPostgres
    connect: LocalConnect
    env: dict[str, str]
    debezium_topic: str
    group_id: str
    dlq: str


@contextmanager
def cdc_stack(bootstrap: str, name: str, state_dir: Path) -> Iterator[CdcStack]:
    """PostgreSQL (schema applied) and Connect on free ports; both stopped and removed after.

    The PostgreSQL directory is a short one under the system temp directory, readable by
    the `postgres` user the server runs as when the tests run as root."""
    postgres_dir = Path(tempfile.mkdtemp(prefix="dealpulse-pg-"))
    postgres_dir.chmod(0o755)
    prefix = f"cdc_{name}"
    settings = Settings(
        kafka_bootstrap=bootstrap,
        local_postgres_dir=postgres_dir,
        local_postgres_port=free_port(),
        local_connect_dir=state_dir / "connect",
        local_connect_port=free_port(),
        debezium_topic_prefix=prefix,
        topic_bridge_dlq=f"dlq.{prefix}",
        debezium_group_id=f"bridge-{prefix}",
    )
    env = {
        "DEALPULSE_DEBEZIUM_TOPIC_PREFIX": settings.debezium_topic_prefix,
        "DEALPULSE_TOPIC_BRIDGE_DLQ": settings.topic_bridge_dlq,
        "DEALPULSE_DEBEZIUM_GROUP_ID": settings.debezium_group_id,
        "DEALPULSE_BRIDGE_DEBEZIUM_PORT": str(free_port()),
    }
    postgres, connect = LocalPostgres(settings), LocalConnect(settings)
    postgres.up()
    try:
        yield CdcStack(
            postgres,
            connect,
            env,
            settings.debezium_topic,
            settings.debezium_group_id,
            settings.topic_bridge_dlq,
        )
    finally:
        connect.down()
        postgres.down()
        shutil.rmtree(postgres_dir, ignore_errors=True)


class BridgeProcess:
    """`dealpulse bridge debezium` as a subprocess, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", "bridge", "debezium"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def scrape(self) -> dict[str, float]:
        """The bridge's /metrics samples; empty while it does not answer."""
        port = self.env["DEALPULSE_BRIDGE_DEBEZIUM_PORT"]
        return scrape_url(f"http://127.0.0.1:{port}/metrics")

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"bridge exited with {self.process.returncode}; see {self.log_path}"
            )

    def kill(self) -> None:
        """SIGKILL: no batch finished, no offset committed on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> int | None:
        """SIGTERM, then wait; the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def topic_size(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic).values())


def produced_at_ms(bootstrap: str, topic: str) -> dict[bytes, list[int]]:
    """Every record's producer timestamp (ms), by key: when the bridge produced it."""
    ends = end_offsets(bootstrap, topic)

    async def run() -> dict[bytes, list[int]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        times: dict[bytes, list[int]] = {}
        try:
            assigned = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            remaining = {tp.partition for tp in assigned}
            while remaining:
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    for record in records:
                        if record.offset < ends[tp.partition]:
                            times.setdefault(record.key or b"", []).append(record.timestamp)
                    if records and records[-1].offset + 1 >= ends[tp.partition]:
                        remaining.discard(tp.partition)
        finally:
            await consumer.stop()
        return times

    return asyncio.run(asyncio.wait_for(run(), timeout=120))
