"""The worker, the simulator and replay through SASL_SSL with SCRAM-SHA-512 (issue 20, item 8).

The project's launcher starts a broker of its own with a second listener,
SASL_SSL, whose certificate is made here with openssl (a CA, and a broker
certificate for 127.0.0.1 it signs) and whose SCRAM user is created when its
storage is formatted. The clients verify the broker against the CA. Progress
is watched through the broker's plaintext listener, which only the test uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.domain.metric_rows import from_rows
from streams.kafka.local_broker import LocalBroker
from streams.settings import Settings
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, end_offsets
from tests.support.oracle import worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess, free_port
from tests.support.workload import CLOCK

pytestmark = pytest.mark.integration

USER, PASSWORD = "dealpulse", "scram-s3cret"
KEYSTORE_PASSWORD = "keystore-s3cret"


@dataclass(frozen=True)
class SecureBroker:
    plaintext: str
    sasl_ssl: str
    ca: Path


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def certificates(directory: Path) -> tuple[Path, Path]:
    """A CA, and a broker certificate for 127.0.0.1 signed by it in a PKCS#12 keystore."""
    ca_key, ca, key = directory / "ca.key", directory / "ca.pem", directory / "broker.key"
    request, cert, keystore = (
        directory / "broker.csr",
        directory / "broker.pem",
        directory / "broker.p12",
    )
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=dealpulse test CA", "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(key), "-out", str(request))  # fmt: skip
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "2", "-extfile", str(extensions),
            "-out", str(cert))  # fmt: skip
    openssl("pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-name", "broker",
            "-passout", f"pass:{KEYSTORE_PASSWORD}", "-out", str(keystore))  # fmt: skip
    return ca, keystore


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    ca, keystore = certificates(tmp_path)
    secure_port = free_port()
    settings = Settings.model_validate(
        {
            "local_kafka_dir": tmp_path / "kafka",
            "local_kafka_port": free_port(),
            "local_kafka_controller_port": free_port(),
            "local_kafka_sasl_ssl_port": secure_port,
            "local_kafka_keystore": keystore,
            "local_kafka_keystore_password": KEYSTORE_PASSWORD,
            "local_kafka_scram_users": f"{USER}:{PASSWORD}",
        }
    )
    broker = LocalBroker(settings)
    status = broker.up()
    try:
        yield SecureBroker(status.bootstrap, f"127.0.0.1:{secure_port}", ca)
    finally:
        broker.down()
        shutil.rmtree(tmp_path / "kafka", ignore_errors=True)


def client_env(broker: SecureBroker, password: str = PASSWORD) -> dict[str, str]:
    return {
        "DEALPULSE_KAFKA_BOOTSTRAP": broker.sasl_ssl,
        "DEALPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "DEALPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "DEALPULSE_KAFKA_SASL_USERNAME": USER,
        "DEALPULSE_KAFKA_SASL_PASSWORD": password,
        "DEALPULSE_KAFKA_SSL_CAFILE": str(broker.ca),
        "DEALPULSE_CLOCK": CLOCK.isoformat(),
    }


def dealpulse(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_worker_simulator_and_replay_work_through_sasl_ssl(
    flow: Flow, secure_broker: SecureBroker, tmp_path: Path
) -> None:
    env = {**flow.env(), **client_env(secure_broker)}
    simulated = dealpulse(
        env, "simulate", "--deals", "300", "--start", "2026-10-01", "--span-days", "20"
    )
    assert simulated.returncode == 0, simulated.stderr
    sent = sum(end_offsets(secure_broker.plaintext, flow.topic).values())
    assert sent > 300

    with WorkerProcess(env, flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(secure_broker.plaintext, flow.app_id, flow.topic) == 0,
            timeout_seconds=300,
            what="the worker to commit every offset through SASL_SSL",
        )
        _, streamed = worker_state(worker.base_url)
        assert worker.alive
    assert streamed

    out = tmp_path / "replay.json"
    replayed = dealpulse(env, "replay", "--topic", flow.topic, "--out", str(out))
    assert replayed.returncode == 0, replayed.stderr
    result = json.loads(out.read_text())
    assert result["messages"] == sent
    assert from_rows(result["rows"]) == streamed


@pytest.mark.parametrize(
    "command", [("replay", "--topic", "x"), ("simulate", "--deals", "3"), ("worker",)]
)
def test_a_wrong_password_ends_in_one_line(
    secure_broker: SecureBroker, command: tuple[str, ...], tmp_path: Path
) -> None:
    env = client_env(secure_broker, password="wrong") | {
        "DEALPULSE_WEB_PORT": str(free_port()),
        "DEALPULSE_DATA_DIR": str(tmp_path / "worker"),
    }
    refused = dealpulse(env, *command)
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: Kafka at {secure_broker.sasl_ssl} refused"), line
    assert "DEALPULSE_KAFKA_SASL_" in line
