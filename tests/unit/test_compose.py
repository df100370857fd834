"""docker-compose.yml is valid: checked by docker-compose itself, since no engine runs here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_valid() -> None:
    compose = shutil.which("docker-compose")
    assert compose, (
        "docker-compose is needed for this check (Debian: apt-get install docker-compose)"
    )
    result = subprocess.run(
        [compose, "-f", str(REPO_ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_published_ports_listen_on_loopback_unless_told_otherwise() -> None:
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert len(published) >= 5
    assert all(port.startswith("${DEALPULSE_PUBLISH_ADDRESS:-127.0.0.1}:") for port in published)
