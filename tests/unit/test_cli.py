"""The CLI's error paths, through Typer's test runner (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app

runner = CliRunner()


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DEALPULSE_KAFKA_BOOTSTRAP",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEALPULSE_LOCAL_KAFKA_DIR", str(tmp_path / "kafka"))
    monkeypatch.setenv("DEALPULSE_LOCAL_KAFKA_PORT", "1")  # nothing answers there
    return tmp_path


def test_missing_java_says_what_to_install(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated))
    result = runner.invoke(app, ["kafka", "up"])
    assert result.exit_code == 1
    assert "`java` was not found" in result.output
    assert "apt-get install" in result.output
    assert "DEALPULSE_KAFKA_BOOTSTRAP" in result.output


def test_status_of_a_broker_that_never_ran(isolated: Path) -> None:
    result = runner.invoke(app, ["kafka", "status"])
    assert result.exit_code == 1
    assert "not running" in result.output


def test_invalid_settings_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_TOPIC_PARTITIONS", "zero")
    result = runner.invoke(app, ["kafka", "status"])
    assert result.exit_code == 2
    assert "topic_partitions" in result.output


def test_simulate_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = runner.invoke(
        app, ["simulate", "--deals", "5", "--start", "2026-01-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    assert lines
    assert f"{len(lines)} messages written to {out}" in result.output


def test_simulate_rejects_a_bad_percentage() -> None:
    result = runner.invoke(app, ["simulate", "--invalid-pct", "140", "--out", "-"])
    assert result.exit_code == 2


def test_kafka_up_with_an_external_cluster_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_KAFKA_BOOTSTRAP", "kafka.example:9092")
    result = runner.invoke(app, ["kafka", "up"])
    assert result.exit_code == 0
    assert "using kafka.example:9092" in result.output
