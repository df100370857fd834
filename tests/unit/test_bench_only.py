"""`python -m bench run --only`: a partial run is refused unknown parts and never becomes latest."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.report import write


def test_an_unknown_part_is_refused_before_anything_starts() -> None:
    found = CliRunner().invoke(app, ["run", "--only", "dealpulse,quix"])
    assert found.exit_code == 2
    assert "quix: choose from ceiling, dealpulse" in found.output


def test_a_partial_run_cannot_update_the_docs() -> None:
    found = CliRunner().invoke(app, ["run", "--only", "scrape", "--update-docs"])
    assert found.exit_code == 2
    assert "whole runs only" in found.output


def test_a_partial_run_is_written_under_its_stamp_only(tmp_path: Path) -> None:
    results = {"workload": {"events": 10}, "machine": {"cores": 2}}
    write(results, tmp_path, "20260101T000000Z", update_docs=False, latest=False)
    assert (tmp_path / "20260101T000000Z.json").exists()
    assert not list(tmp_path.glob("latest.*"))
    write(results, tmp_path, "20260101T000001Z", update_docs=False)
    assert (tmp_path / "latest.json").exists()
