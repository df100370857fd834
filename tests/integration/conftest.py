"""The real local broker, started once per test session by the project's own launcher.

With DEALPULSE_KAFKA_BOOTSTRAP set, the tests use that cluster instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.local_broker import LocalBroker
from streams.settings import Settings
from tests.support.flow import Flow, Kafka
from tests.support.worker_process import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_STATE_DIR = REPO_ROOT / ".dealpulse" / "test"


@pytest.fixture(scope="session")
def kafka() -> Iterator[Kafka]:
    external = os.environ.get("DEALPULSE_KAFKA_BOOTSTRAP")
    if external:
        yield Kafka(external)
        return
    broker_dir = TEST_STATE_DIR / f"kafka-{os.getpid()}"  # concurrent sessions stay apart
    shutil.rmtree(broker_dir, ignore_errors=True)
    settings = Settings(
        local_kafka_dir=broker_dir,
        local_kafka_port=free_port(),
        local_kafka_controller_port=free_port(),
    )
    broker = LocalBroker(settings)
    status = broker.up()
    try:
        yield Kafka(status.bootstrap)
    finally:
        broker.down()
        shutil.rmtree(broker_dir, ignore_errors=True)


@pytest.fixture
def flow(kafka: Kafka, request: pytest.FixtureRequest) -> Flow:
    name = f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    state_dir = TEST_STATE_DIR / "flows" / name
    state_dir.mkdir(parents=True, exist_ok=True)
    return Flow(
        kafka=kafka,
        topic=f"events.{name}",
        dlq=f"dlq.{name}",
        control=f"control.{name}",
        app_id=f"dealpulse-{name}",
        state_dir=state_dir,
    )
