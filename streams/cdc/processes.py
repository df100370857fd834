"""Detached helper processes of the launcher: started once, found again by pid file.

Kafka Connect, like the broker, must outlive the CLI call that started it; a pid
file alone is not proof (pids are reused after a reboot), so a process is ours
only while its command line still names what we started.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

POLL_INTERVAL_SECONDS = 0.25


def spawn_detached(argv: Sequence[str], log_file: Path, pid_file: Path) -> int:
    """posix_spawn in its own session (it survives the CLI and its Ctrl-C), output to
    `log_file`; the pid goes to `pid_file`."""
    log_flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    pid = os.posix_spawn(
        argv[0],
        list(argv),
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_file), log_flags, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    pid_file.write_text(str(pid))
    return pid


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` when that process is alive and its command line has `marker`."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and marker.encode() in cmdline.split(b"\0") else None


def wait_for_exit(pid_file: Path, marker: str, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if running_pid(pid_file, marker) is None:
            return True
        time.sleep(POLL_INTERVAL_SECONDS)
    return False


def reap(pid: int) -> None:
    """Collect the exit status when the process was our own child (a test session)."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def log_tail(log_file: Path, lines: int = 30) -> str:
    if not log_file.exists():
        return f"(no log at {log_file})"
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
