"""Subprocesses of a bench run (dealpulse workers, peers) with their logs and peak RSS.

Every engine runs as its own process, started the way a user starts it, so the
figures are those of whatever code is current. Peak RSS is the kernel's
high-water mark (`VmHWM`) where Linux gives it, and otherwise the largest of
the samples taken every `RSS_SAMPLE_SECONDS` (psutil, from the bench extra).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import psutil  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # the bench extra is not installed: /proc only
    HAVE_PSUTIL = False
else:
    HAVE_PSUTIL = True

RSS_SAMPLE_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 120.0
KIB = 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def get_bytes(url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        body: bytes = response.read()
        return body


def rss_bytes(pid: int) -> int | None:
    """Resident set size now; None once the process is gone."""
    if HAVE_PSUTIL:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return None
    return _proc_status_kib(pid, "VmRSS:")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far; None without psutil or once gone."""
    if not HAVE_PSUTIL:
        return None
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def broker_pids() -> list[int]:
    """The local Kafka brokers' JVMs (`kafka.Kafka`), for the CPU split of a run."""
    if not HAVE_PSUTIL:
        return []
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if "kafka.Kafka" in (process.info.get("cmdline") or []):
            found.append(int(process.info["pid"]))
    return found


def high_water_rss_bytes(pid: int) -> int | None:
    """The kernel's peak RSS of the process (Linux); None elsewhere or once it is gone."""
    return _proc_status_kib(pid, "VmHWM:")


def _proc_status_kib(pid: int, field: str) -> int | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(field):
            return int(line.split()[1]) * KIB
    return None


class Service:
    """One subprocess: started with `env` on top of ours, logged to `log_path`, sampled."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        web_port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.web_port = web_port
        self.started_at = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._peak_rss = 0
        self._sampler: threading.Thread | None = None
        self._sampling = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def peak_rss_bytes(self) -> int:
        self._sample()
        return self._peak_rss

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started_at = time.monotonic()
        self._peak_rss = 0
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._sampler.start()
        return self

    def check_running(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"{self.argv[-1]} exited with {self._process.returncode}; see {self.log_path}"
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, as a crash."""
        if self.alive:
            assert self._process is not None
            self._sample()
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
        self._stop_sampling()

    def stop(self) -> None:
        if self.alive:
            assert self._process is not None
            self._sample()
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stop_sampling()

    def _stop_sampling(self) -> None:
        self._sampling.clear()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None

    def _sample_until_stopped(self) -> None:
        while self._sampling.is_set() and self.alive:
            self._sample()
            time.sleep(RSS_SAMPLE_SECONDS)

    def _sample(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        for found in (rss_bytes(self.pid), high_water_rss_bytes(self.pid)):
            if found is not None and found > self._peak_rss:
                self._peak_rss = found

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
