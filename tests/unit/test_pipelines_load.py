"""`dealpulse pipelines load`: a pipeline file checked whole, then one record that replaces the
configuration (no broker needed: the publisher is replaced)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams import pipelines_command
from streams.cli import app
from streams.domain.errors import PipelineFileError
from streams.domain.pipeline_config import read_pipeline_file
from streams.domain.settings_record import PIPELINES_KEY, decode_pipelines
from streams.pipelines_command import load_pipelines
from streams.settings import Settings
from tests.support.control import Publisher

GOOD = """\
[pipelines.new-business]
stages = [
  { name = "lead", win_probability = 0.19 },
  { name = "demo", win_probability = 0.39 },
]

[pipelines.renewal]
stages = [{ name = "commit", win_probability = 0.95 }]
"""
BAD = """\
[pipelines.new-business]
stages = [
  { name = "lead", win_probability = 0.19 },
  { name = "won", win_probability = 0.39 },
  { name = "lead", win_probability = 1.2 },
]
"""
SETTINGS = Settings(topic_control="ctl")


def test_one_record_holding_the_whole_configuration(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.toml"
    path.write_text(GOOD)
    publish = Publisher()
    summary = load_pipelines(SETTINGS, path, publish)
    ((key, value),) = publish.sent[0]
    assert len(publish.sent) == 1
    assert key == PIPELINES_KEY
    assert decode_pipelines(value) == read_pipeline_file(path)
    assert summary.describe() == (
        "loaded 2 pipelines (stages: new-business (2), renewal (1)) onto ctl, replacing every "
        f"worker's pipeline configuration; one record of {len(key) + len(value):,} bytes"
    )


def test_a_bad_file_publishes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.toml"
    path.write_text(BAD)
    publish = Publisher()
    with pytest.raises(PipelineFileError):
        load_pipelines(SETTINGS, path, publish)
    assert publish.sent == []


def test_the_command_lists_each_problem_by_line_then_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = Publisher()
    monkeypatch.setattr(pipelines_command, "publish_records", publish)
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = CliRunner().invoke(app, ["pipelines", "load", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "bad.toml: line 4: reserved_stage: pipeline 'new-business', stage 2: 'won' is reserved "
        "for the end of a deal",
        "bad.toml: line 5: probability_out_of_range: pipeline 'new-business', stage 3: "
        "'win_probability' 1.2 must be between 0 and 1",
        "bad.toml: line 5: duplicate_stage: pipeline 'new-business', stage 3: stage listed "
        "twice: lead (stage 1 too)",
        "error: bad.toml refused, nothing loaded: 3 problems on 2 lines (duplicate_stage 1, "
        "probability_out_of_range 1, reserved_stage 1)",
    ]
    assert publish.sent == []


def test_the_command_says_what_it_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish = Publisher()
    monkeypatch.setattr(pipelines_command, "publish_records", publish)
    path = tmp_path / "pipelines.json"
    path.write_text('{"pipelines": {"p": {"stages": [{"name": "s", "win_probability": 0.5}]}}}')
    result = CliRunner().invoke(app, ["pipelines", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("loaded 1 pipeline (stages: p (1)) onto ")
    assert len(publish.sent) == 1


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("nope.toml", "does not exist: give a pipeline file (.toml or .json)"),
        (".", "is a directory: give a pipeline file (.toml or .json)"),
    ],
)
def test_a_path_that_is_not_a_file_is_one_line(tmp_path: Path, name: str, said: str) -> None:
    result = CliRunner().invoke(app, ["pipelines", "load", str(tmp_path / name)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / name} {said}"


def test_another_suffix_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(app, ["pipelines", "load", str(path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {path}: pipeline config must be .toml or .json"
