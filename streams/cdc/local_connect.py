"""The project's own Kafka Connect, running Debezium's PostgreSQL connector from Maven jars.

Standalone mode, on purpose: one JVM, the connector's configuration in a file the
launcher writes from the settings, its source offsets (the LSN it has read to) in
a local file. Distributed mode would add three internal topics and a REST
registration step to gain fail-over between Connect workers, which one local CRM
database does not need; docs/crm-bridges.md gives the same connector as the JSON a
distributed cluster takes. Like the broker: jars from Maven Central through
`deploy/connect/pom.xml`, a detached process with a pid file, and `up` returns only
once Connect's REST API reports the connector and its task RUNNING.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.cdc.processes import (
    POLL_INTERVAL_SECONDS,
    alive,
    log_tail,
    port_in_use,
    reap,
    running_pid,
    spawn_detached,
    wait_for_exit,
)
from streams.errors import CdcError, ConfigurationError
from streams.kafka.local_broker import answers_metadata, require_tool
from streams.preflight import ensure_directory
from streams.settings import Settings

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "connect"
MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectStandalone"
CONNECTOR_NAME = "dealpulse-crm"
PUBLICATION = "dealpulse_crm"
"""Created by deploy/postgres/crm_schema.sql; the slot has the same name."""
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ConnectStatus:
    running: bool
    connector_state: str | None
    pid: int | None
    rest_url: str

    def describe(self) -> str:
        if not self.running:
            return f"local Kafka Connect is not running (would serve {self.rest_url})"
        state = self.connector_state or "not reported yet"
        return f"local Kafka Connect pid {self.pid} on {self.rest_url}: {CONNECTOR_NAME} {state}"


def connector_config(settings: Settings) -> dict[str, str]:
    """Debezium's PostgreSQL connector as dealpulse runs it (docs/crm-bridges.md explains it)."""
    password = settings.debezium_database_password
    return {
        "name": CONNECTOR_NAME,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": settings.debezium_database_host,
        "database.port": str(settings.debezium_database_port or settings.local_postgres_port),
        "database.user": settings.debezium_database_user,
        "database.password": "" if password is None else password.get_secret_value(),
        "database.dbname": settings.debezium_database_name or settings.local_postgres_database,
        "topic.prefix": settings.debezium_topic_prefix,
        "table.include.list": "public.crm_lead",
        "publication.name": PUBLICATION,
        "publication.autocreate.mode": "disabled",
        "slot.name": PUBLICATION,
        "snapshot.mode": "initial",
        "decimal.handling.mode": "string",
        "tombstones.on.delete": "true",
        "topic.creation.default.partitions": "1",  # one partition: the CRM's commit order
        "topic.creation.default.replication.factor": str(settings.topic_replication_factor),
    }


def worker_config(settings: Settings, root: Path) -> dict[str, str]:
    """Connect's own settings: JSON without schemas, offsets in a local file."""
    if settings.kafka_security_protocol != "PLAINTEXT":
        raise ConfigurationError(
            "the local Kafka Connect speaks PLAINTEXT only; with "
            f"DEALPULSE_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}, run your own "
            "Connect cluster with the connector of docs/crm-bridges.md"
        )
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": str(root / "offsets.dat"),
        "offset.flush.interval.ms": "1000",
        "listeners": f"http://127.0.0.1:{settings.local_connect_port}",
        "plugin.discovery": "service_load",
    }


class LocalConnect:
    def __init__(self, settings: Settings, deploy_dir: Path = DEPLOY_DIR) -> None:
        self._settings = settings
        self._deploy_dir = deploy_dir
        self._root = settings.local_connect_dir.resolve()
        self._port = settings.local_connect_port

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def log_file(self) -> Path:
        return self._root / "connect.log"

    @property
    def _pid_file(self) -> Path:
        return self._root / "connect.pid"

    @property
    def _lib_dir(self) -> Path:
        return self._deploy_dir / "target" / "lib"

    def status(self) -> ConnectStatus:
        pid = running_pid(self._pid_file, MAIN_CLASS)
        state = None if pid is None else self._connector_state()
        return ConnectStatus(pid is not None, state, pid, self.rest_url)

    def up(self) -> ConnectStatus:
        """Start Connect with the connector unless ours runs; return once both are RUNNING."""
        ensure_directory(self._root, "DEALPULSE_LOCAL_CONNECT_DIR")
        with self._lock():
            pid = running_pid(self._pid_file, MAIN_CLASS)
            if pid is None:
                java = require_tool(
                    "java", "Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
                )
                self._require_kafka()
                self.ensure_jars()
                pid = self._spawn(java)
        self._wait_until_running(pid)
        return ConnectStatus(True, "RUNNING", pid, self.rest_url)

    def down(self) -> bool:
        """Stop Connect (TERM, then KILL after a deadline); False if it was not running."""
        if not self._root.is_dir():
            return False
        with self._lock():
            pid = running_pid(self._pid_file, MAIN_CLASS)
            if pid is None:
                self._pid_file.unlink(missing_ok=True)
                return False
            os.kill(pid, signal.SIGTERM)
            if not wait_for_exit(self._pid_file, MAIN_CLASS, STOP_TIMEOUT_SECONDS):
                os.kill(pid, signal.SIGKILL)
                wait_for_exit(self._pid_file, MAIN_CLASS, STOP_TIMEOUT_SECONDS)
            reap(pid)
            self._pid_file.unlink(missing_ok=True)
            return True

    def ensure_jars(self) -> None:
        """Resolve Connect's and Debezium's classpath from Maven Central on first use."""
        if self._lib_dir.is_dir() and any(self._lib_dir.glob("debezium-connector-postgres-*")):
            return
        mvn = require_tool("mvn", "Apache Maven (Debian: apt-get install maven)")
        result = subprocess.run(  # noqa: S603 - fixed arguments, our own pom
            [mvn, "-q", "-B", "dependency:copy-dependencies"],
            cwd=self._deploy_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CdcError(
                f"Maven could not resolve the Kafka Connect and Debezium jars in "
                f"{self._deploy_dir}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def _require_kafka(self) -> None:
        bootstrap = self._settings.bootstrap_servers
        if not answers_metadata(bootstrap, timeout_seconds=5.0):
            hint = "dealpulse kafka up" if self._settings.uses_local_broker else "the cluster"
            raise CdcError(f"Kafka does not answer on {bootstrap}: start it first ({hint})")

    def _spawn(self, java: str) -> int:
        if port_in_use(self._port):
            raise CdcError(
                f"port {self._port} is already in use by another process; set "
                "DEALPULSE_LOCAL_CONNECT_PORT to a free port"
            )
        worker_file = self._root / "connect-standalone.properties"
        connector_file = self._root / f"{CONNECTOR_NAME}.properties"
        _write_properties(worker_file, worker_config(self._settings, self._root))
        _write_properties(connector_file, connector_config(self._settings))
        heap = self._settings.local_connect_heap
        argv = [
            java,
            *(f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
            f"-Dlog4j2.configurationFile={self._deploy_dir / 'log4j2.properties'}",
            "-Djava.awt.headless=true",
            *("-cp", str(self._lib_dir / "*"), MAIN_CLASS),
            str(worker_file),
            str(connector_file),
        ]
        return spawn_detached(argv, self.log_file, self._pid_file)

    def _wait_until_running(self, pid: int) -> None:
        timeout_seconds = self._settings.local_connect_start_timeout_seconds
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if not alive(pid):
                raise CdcError(f"Kafka Connect exited while starting:\n{log_tail(self.log_file)}")
            status = self._connector_status()
            if status is not None:
                states = [status["connector"]["state"], *(t["state"] for t in status["tasks"])]
                if "FAILED" in states:
                    raise CdcError(f"the Debezium connector failed: {_failure(status)}")
                if len(states) > 1 and set(states) == {"RUNNING"}:
                    return
            time.sleep(POLL_INTERVAL_SECONDS)
        raise CdcError(
            f"Kafka Connect (pid {pid}) did not report {CONNECTOR_NAME} RUNNING on "
            f"{self.rest_url} within {timeout_seconds:.0f} s:\n{log_tail(self.log_file)}"
        )

    def _connector_state(self) -> str | None:
        status = self._connector_status()
        if status is None:
            return None
        tasks = ", ".join(f"task {t['id']} {t['state']}" for t in status["tasks"]) or "no task"
        return f"{status['connector']['state']} ({tasks})"

    def _connector_status(self) -> dict[str, Any] | None:
        url = f"{self.rest_url}/connectors/{CONNECTOR_NAME}/status"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - our http URL
                document: dict[str, Any] = json.load(response)
                return document
        except (urllib.error.URLError, OSError, ValueError):
            return None

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with (self._root / "launcher.lock").open("w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def _failure(status: Mapping[str, Any]) -> str:
    """The first line of the failed connector's or task's trace."""
    for part in (status["connector"], *status["tasks"]):
        if part.get("state") == "FAILED":
            return str(part.get("trace", "no trace")).strip().splitlines()[0]
    return "unknown"


def _write_properties(path: Path, properties: Mapping[str, str]) -> None:
    """Java properties, readable by this user only (the connector's holds the database
    password); values escaped where the format needs it (backslash, newline)."""
    lines = [f"{name}={_escaped(value)}" for name, value in properties.items()]
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")
