"""A real `dealpulse worker` subprocess for integration tests, and its /metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import wait_for

STARTUP_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape_url(url: str, *, raise_errors: bool = False) -> dict[str, float]:
    """Samples by `name{label="value",...}`; empty when the endpoint does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
    except OSError:
        if raise_errors:
            raise
        return {}
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


class WorkerProcess:
    def __init__(self, env: dict[str, str], state_dir: Path, data_dir: Path | None = None) -> None:
        self.web_port = free_port()
        self.data_dir = data_dir or state_dir / f"worker-{self.web_port}"
        self.log_path = state_dir / f"worker-{self.web_port}.log"
        self.env = {
            **os.environ,
            **env,
            "DEALPULSE_WEB_PORT": str(self.web_port),
            "DEALPULSE_DATA_DIR": str(self.data_dir),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.base_url}/metrics"

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(
            self._serving,
            timeout_seconds=STARTUP_TIMEOUT_SECONDS,
            what=f"worker /metrics ({self.log_path})",
        )
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker exited with {self.process.returncode}; see {self.log_path}"
            )
        return self.try_scrape() is not None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def try_scrape(self) -> dict[str, float] | None:
        try:
            return scrape_url(self.metrics_url, raise_errors=True)
        except OSError:
            return None

    def scrape(self) -> dict[str, float]:
        samples = self.try_scrape()
        assert samples is not None, f"worker /metrics did not answer; see {self.log_path}"
        return samples

    def health(self) -> dict[str, object]:
        """The worker's /health (owned partitions, lag, faults)."""
        with urllib.request.urlopen(f"{self.base_url}/health", timeout=10) as response:  # noqa: S310 - loopback
            body: dict[str, object] = json.loads(response.read())
            return body

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
