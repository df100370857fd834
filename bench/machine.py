"""The machine a run happened on, for the results' heading."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.config import REPO_ROOT

KAFKA_LIB = REPO_ROOT / "deploy" / "kafka" / "target" / "lib"
PACKAGES = ("faust-streaming", "aiokafka", "rocksdict", "orjson", "confluent-kafka", "psutil")


def describe(peers_python: Path, *, local_broker: bool) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_bytes": _ram_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": _kafka_version() if local_broker else "external cluster (version not probed)",
        "packages": {name: _version(name) for name in PACKAGES}
        | {"quixstreams": _peer_version(peers_python)},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _kafka_version() -> str:
    jars = sorted(KAFKA_LIB.glob("kafka_2.13-*.jar"))
    if not jars:
        return "unknown"
    return jars[0].stem.removeprefix("kafka_2.13-") + " (local single-node KRaft broker)"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _peer_version(python: Path) -> str | None:
    if not python.exists():
        return None
    found = subprocess.run(  # noqa: S603 - the bench venv's own interpreter
        [str(python), "-c", "import importlib.metadata as m; print(m.version('quixstreams'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or None
