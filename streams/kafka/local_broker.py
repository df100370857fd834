"""The project's own single-node Kafka: KRaft broker + controller from Maven jars.

A newcomer needs a real broker without Docker. The jars come from Maven
Central through `deploy/kafka/pom.xml`; this module formats storage once, runs
`kafka.Kafka` detached (so it survives the CLI call that started it), records
its pid, and only reports it up once it answers a metadata request.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.errors import BrokerError, ConfigurationError, PrerequisiteMissingError
from streams.preflight import ensure_directory
from streams.settings import Settings

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
BROKER_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
STOP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.25
READINESS_GROUP = "dealpulse-readiness-probe"


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    running: bool
    answering: bool
    pid: int | None
    bootstrap: str

    def describe(self) -> str:
        if not self.running:
            return f"local Kafka is not running (would listen on {self.bootstrap})"
        state = "answering" if self.answering else "NOT answering metadata requests"
        return f"local Kafka pid {self.pid} on {self.bootstrap}: {state}"


class LocalBroker:
    def __init__(self, settings: Settings, deploy_dir: Path = DEPLOY_DIR) -> None:
        self._settings = settings
        self._deploy_dir = deploy_dir
        self._root = settings.local_kafka_dir.resolve()
        self._port = settings.local_kafka_port
        self._controller_port = settings.local_kafka_controller_port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def log_file(self) -> Path:
        return self._root / "broker.log"

    @property
    def _pid_file(self) -> Path:
        return self._root / "broker.pid"

    @property
    def _log_dir(self) -> Path:
        return self._root / "data"

    @property
    def _properties_file(self) -> Path:
        return self._root / "server.properties"

    @property
    def _lib_dir(self) -> Path:
        return self._deploy_dir / "target" / "lib"

    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        answering = pid is not None and answers_metadata(self.bootstrap, timeout_seconds=5.0)
        return BrokerStatus(pid is not None, answering, pid, self.bootstrap)

    def up(self) -> BrokerStatus:
        """Start the broker unless one of ours already runs; return once it answers."""
        ensure_directory(self._root, "DEALPULSE_LOCAL_KAFKA_DIR")
        with self._lock():
            pid = self._running_pid()
            if pid is None:
                java = require_tool(
                    "java", "Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
                )
                self.ensure_jars()
                self._write_properties()
                self._format_storage(java)
                pid = self._spawn(java)
        self._wait_until_answering(pid)
        return BrokerStatus(True, True, pid, self.bootstrap)

    def down(self) -> bool:
        """Stop our broker (TERM, then KILL after a deadline); False if none ran."""
        with self._lock():
            pid = self._running_pid()
            if pid is None:
                self._pid_file.unlink(missing_ok=True)
                return False
            os.kill(pid, signal.SIGTERM)
            if not _wait_for_exit(pid, STOP_TIMEOUT_SECONDS):
                os.kill(pid, signal.SIGKILL)
                _wait_for_exit(pid, STOP_TIMEOUT_SECONDS)
            _reap(pid)
            self._pid_file.unlink(missing_ok=True)
            return True

    def ensure_jars(self) -> None:
        """Resolve the broker's classpath from Maven Central on first use."""
        if self._lib_dir.is_dir() and any(self._lib_dir.glob("kafka_2.13-*.jar")):
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
            raise BrokerError(
                f"Maven could not resolve the Kafka jars in {self._deploy_dir}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def _classpath(self) -> str:
        return str(self._lib_dir / "*")

    def _write_properties(self) -> None:
        template = Template((self._deploy_dir / "server.properties.template").read_text())
        secure = secure_listener(self._settings)
        self._properties_file.write_text(
            template.substitute(
                port=self._port,
                controller_port=self._controller_port,
                log_dir=self._log_dir,
                secure_listener="" if secure is None else f",SASL_SSL://127.0.0.1:{secure.port}",
                secure_settings="" if secure is None else secure.properties(),
            )
        )

    def _format_storage(self, java: str) -> None:
        if (self._log_dir / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(  # noqa: S603 - fixed class name, our own files
            [
                java,
                *self._jvm_options(),
                "-cp",
                self._classpath(),
                STORAGE_TOOL_CLASS,
                "format",
                f"--cluster-id={cluster_id}",  # an id may start with "-"
                "-c",
                str(self._properties_file),
                *scram_arguments(self._settings),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _jvm_options(self) -> list[str]:
        heap = self._settings.local_kafka_heap
        log4j = self._deploy_dir / "log4j2.properties"
        return [
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={log4j}",
            "-Djava.awt.headless=true",
        ]

    def _spawn(self, java: str) -> int:
        """posix_spawn, not Popen: the broker outlives this process, which never waits on it."""
        _refuse_busy_port(self._port)
        argv = [
            java,
            *self._jvm_options(),
            "-cp",
            self._classpath(),
            BROKER_MAIN_CLASS,
            str(self._properties_file),
        ]
        log_flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        pid = os.posix_spawn(
            java,
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self.log_file), log_flags, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,  # survives the CLI call and its Ctrl-C
        )
        self._pid_file.write_text(str(pid))
        return pid

    def _wait_until_answering(self, pid: int) -> None:
        deadline = time.monotonic() + self._settings.local_kafka_start_timeout_seconds
        while time.monotonic() < deadline:
            if not _alive(pid):  # not the cmdline check: it reads empty while the JVM re-execs
                raise BrokerError(f"the local broker exited while starting:\n{self._log_tail()}")
            if answers_metadata(
                self.bootstrap, timeout_seconds=2.0, require_group_coordinator=True
            ):
                return
            time.sleep(POLL_INTERVAL_SECONDS)
        raise BrokerError(
            f"the local broker (pid {pid}) did not answer on {self.bootstrap} within "
            f"{self._settings.local_kafka_start_timeout_seconds:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return "(no broker log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _running_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid) else None

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Two `up` calls at once must still leave one broker."""
        with (self._root / "launcher.lock").open("w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteMissingError(
            f"`{name}` was not found on PATH; the local Kafka broker needs {install_hint}. "
            "Or set DEALPULSE_KAFKA_BOOTSTRAP to use an existing cluster."
        )
    return path


def answers_metadata(
    bootstrap: str, timeout_seconds: float, *, require_group_coordinator: bool = False
) -> bool:
    """True when a client can fetch metadata (and, if asked, find a group coordinator).

    A fresh broker answers metadata requests before its offsets topic is ready;
    consumer groups only work once a coordinator can be found, so `up` waits for that.
    """
    if not _port_open(bootstrap):
        return False

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_seconds * 1000)
        )
        try:
            await asyncio.wait_for(admin.start(), timeout_seconds)
            if require_group_coordinator:
                await asyncio.wait_for(admin.find_coordinator(READINESS_GROUP), timeout_seconds)
            return True
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())


def _port_open(bootstrap: str) -> bool:
    """A cheap, quiet first check: aiokafka logs an error for every refused connection."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, int(port))) == 0


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_our_broker(pid: int) -> bool:
    """Alive and really a Kafka broker: pid files outlive reboots and pids get reused."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and BROKER_MAIN_CLASS.encode() in cmdline.split(b"\0")


def _wait_for_exit(pid: int, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not _is_our_broker(pid):
            return True
        time.sleep(POLL_INTERVAL_SECONDS)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status when the broker was our own child (a test session)."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _refuse_busy_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise BrokerError(
                f"port {port} is already in use by another process; set "
                "DEALPULSE_LOCAL_KAFKA_PORT to a free port, or DEALPULSE_KAFKA_BOOTSTRAP "
                "to use the broker that is listening there"
            )


@dataclass(frozen=True, slots=True)
class SecureListener:
    """The local broker's optional SASL_SSL listener (SCRAM-SHA-512 over TLS), for testing
    the clients' security settings against a real broker."""

    port: int
    keystore: Path
    keystore_password: str

    def properties(self) -> str:
        prefix = "listener.name.sasl_ssl"
        return "\n".join(
            [
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                f"{prefix}.sasl.enabled.mechanisms=SCRAM-SHA-512",
                f"{prefix}.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                f"{prefix}.ssl.keystore.type=PKCS12",
                f"{prefix}.ssl.keystore.location={self.keystore.resolve()}",
                f"{prefix}.ssl.keystore.password={self.keystore_password}",
            ]
        )


def secure_listener(settings: Settings) -> SecureListener | None:
    """The SASL_SSL listener the settings ask for; `ConfigurationError` if they ask for it
    without a keystore."""
    if settings.local_kafka_sasl_ssl_port is None:
        return None
    keystore, password = settings.local_kafka_keystore, settings.local_kafka_keystore_password
    if keystore is None or password is None:
        raise ConfigurationError(
            "DEALPULSE_LOCAL_KAFKA_SASL_SSL_PORT needs DEALPULSE_LOCAL_KAFKA_KEYSTORE and "
            "DEALPULSE_LOCAL_KAFKA_KEYSTORE_PASSWORD"
        )
    return SecureListener(settings.local_kafka_sasl_ssl_port, keystore, password.get_secret_value())


def scram_arguments(settings: Settings) -> list[str]:
    """`kafka-storage format` arguments creating the SCRAM-SHA-512 users of the settings."""
    users = settings.local_kafka_scram_users
    if users is None:
        return []
    arguments = []
    for pair in users.get_secret_value().split(","):
        name, separator, password = pair.strip().partition(":")
        if not separator or not name or not password:
            raise ConfigurationError(
                "DEALPULSE_LOCAL_KAFKA_SCRAM_USERS is name:password[,name:password]"
            )
        arguments += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
    return arguments
