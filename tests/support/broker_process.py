"""Finding the local Kafka broker's processes, for tests that start and stop one."""

from __future__ import annotations

from pathlib import Path


def broker_pids(marker: Path) -> list[int]:
    """Processes running kafka.Kafka with a properties file under `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" in argv and any(str(marker).encode() in arg for arg in argv):
            pids.append(int(entry.name))
    return pids
