"""docker-compose.yml is valid: checked by docker-compose itself, since no engine runs here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
