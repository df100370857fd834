"""A pipeline file read whole, or refused whole with every problem's line and reason."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from streams.domain.errors import FileProblem, PipelineConfigError, PipelineFileError
from streams.domain.pipeline_config import (
    PipelineRefusal,
    load_pipeline_config,
    parse_pipeline_file,
    read_pipeline_file,
)
from streams.domain.pipeline_lines import Syntax
from streams.errors import ConfigurationError

R = PipelineRefusal


def problems(text: str | bytes, syntax: Syntax = "toml") -> list[tuple[int | None, str]]:
    """(line, reason) of each problem of a refused file."""
    content = text.encode() if isinstance(text, str) else text
    with pytest.raises(PipelineFileError) as refused:
        parse_pipeline_file(content, syntax)
    return [(problem.line, problem.reason) for problem in refused.value.problems]


GOOD_TOML = """\
[pipelines.new-business]
stages = [
  { name = "lead", win_probability = 0.1 },
  { name = "demo", win_probability = 0.35 },
]

[[pipelines.renewal.stages]]
name = "quote"
win_probability = 1
"""
GOOD_JSON = """\
{"pipelines": {
  "new-business": {"stages": [
    {"name": "lead", "win_probability": 0.1},
    {"name": "demo", "win_probability": 0.35}]},
  "renewal": {"stages": [{"name": "quote", "win_probability": 1}]}}}
"""


@pytest.mark.parametrize(("text", "syntax"), [(GOOD_TOML, "toml"), (GOOD_JSON, "json")])
def test_a_good_file_reads_with_exact_probabilities(text: str, syntax: Syntax) -> None:
    config = parse_pipeline_file(text.encode(), syntax)
    assert {
        name: [(stage.name, stage.win_probability) for stage in spec.stages]
        for name, spec in config.pipelines.items()
    } == {
        "new-business": [("lead", Decimal("0.1")), ("demo", Decimal("0.35"))],
        "renewal": [("quote", Decimal(1))],
    }
    lead = config.pipelines["new-business"].stages[0].win_probability
    assert isinstance(lead, Decimal)
    assert str(lead) == "0.1"


# Every problem as (line, reason); the stage problems are on the line of their stage.
BAD_TOML = """\
# every stage problem, in one pipeline
[pipelines.new-business]
stages = [
  { name = "lead", win_probability = 0.1 },
  { name = "won", win_probability = 0.35 },
  { name = "lead", win_probability = "likely" },   # a comment { with a brace
  { name = "demo", win_probability = 1.5, colour = "red" },
  { name = "", win_probability = -0.1 },
  { win_probability = 0.5 },
  "proposal",
  { name = "close", win_probability = true },
]

[pipelines."renewal 2026"]
stages = []

[pipelines.expansion]
colour = "blue"

[[pipelines.upsell.stages]]
name = "a"
win_probability = 0.2

[[pipelines.upsell.stages]]
name = "churned"
win_probability = 0.3

[pipelines.single]
stages = "lead"

[extra]
"""
BAD_TOML_PROBLEMS = [
    (5, R.RESERVED_STAGE),
    (6, R.BAD_PROBABILITY),
    (6, R.DUPLICATE_STAGE),
    (7, R.UNKNOWN_KEY),
    (7, R.PROBABILITY_OUT_OF_RANGE),
    (8, R.BAD_NAME),
    (8, R.PROBABILITY_OUT_OF_RANGE),
    (9, R.MISSING_KEY),
    (10, R.WRONG_TYPE),
    (11, R.BAD_PROBABILITY),
    (14, R.NO_STAGES),
    (17, R.UNKNOWN_KEY),
    (17, R.MISSING_KEY),
    (24, R.RESERVED_STAGE),
    (28, R.WRONG_TYPE),
    (31, R.UNKNOWN_KEY),
]


def test_every_problem_of_a_toml_file_is_found_with_its_line() -> None:
    assert problems(BAD_TOML) == BAD_TOML_PROBLEMS


BAD_JSON = """\
{
  "pipelines": {
    "new-business": {
      "stages": [
        {"name": "lead", "win_probability": 0.1},
        {"name": "lead",
         "win_probability": "0.2"},
        {"name": "deleted", "win_probability": 2}
      ]
    },
    "renewal": {"stages": [{"name": "quote", "win_probability": 1, "name": "sign"}]},
    "expansion": {"stages": []}
  },
  "extra": 1
}
"""


def test_every_problem_of_a_json_file_is_found_with_its_line() -> None:
    assert problems(BAD_JSON, "json") == [
        (6, R.DUPLICATE_STAGE),
        (8, R.RESERVED_STAGE),
        (8, R.PROBABILITY_OUT_OF_RANGE),
        (11, R.DUPLICATE_KEY),
        (12, R.NO_STAGES),
        (14, R.UNKNOWN_KEY),
    ]


@pytest.mark.parametrize(
    ("text", "syntax", "expected"),
    [
        ("[pipelines.p]\nstages = [\n  { name = 'a' win_probability = 1 },\n]\n", "toml", 3),
        ("[pipelines.p]\nstages = [\n", "toml", 3),  # at the end of the document
        ('{"pipelines": {\n"p": {"stages": [}}}\n', "json", 2),
        ("", "json", 1),
    ],
)
def test_a_syntax_error_is_on_its_line(text: str, syntax: Syntax, expected: int) -> None:
    assert problems(text, syntax) == [(expected, R.BAD_SYNTAX)]


def test_a_syntax_error_keeps_the_parsers_words_and_column() -> None:
    with pytest.raises(PipelineFileError) as refused:
        parse_pipeline_file(b"[pipelines.p]\nstages = [ { name = 'a' x } ]\n", "toml")
    (problem,) = refused.value.problems
    assert str(problem) == "line 2: bad_syntax: Unclosed inline table (column 25)"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, [(None, R.MISSING_KEY)]),
        ([], [(None, R.WRONG_TYPE)]),
        ({"pipelines": {}}, [(2, R.NO_PIPELINES)]),
        ({"pipelines": []}, [(2, R.WRONG_TYPE)]),
        ({"pipelines": {"": {"stages": [{"name": "a", "win_probability": 0}]}}}, [(3, R.BAD_NAME)]),
        ({"pipelines": {"p": 5}}, [(3, R.WRONG_TYPE)]),
    ],
)
def test_problems_of_the_whole_document(
    document: object, expected: list[tuple[int | None, str]]
) -> None:
    assert problems(json.dumps(document, indent=1), "json") == expected


def test_a_file_not_utf8_is_refused_at_its_line() -> None:
    assert problems(b"[pipelines.p]\n# \xff\n") == [(2, R.NOT_TEXT)]


def test_every_reason_is_exercised_above() -> None:
    exercised = {reason for _, reason in BAD_TOML_PROBLEMS} | {
        R.BAD_SYNTAX,
        R.DUPLICATE_KEY,
        R.NO_PIPELINES,
        R.NOT_TEXT,
    }
    assert exercised == set(PipelineRefusal)


def test_where_no_line_is_found_the_problem_says_where_in_words() -> None:
    text = 'pipelines = { p = { stages = [ { name = "won", win_probability = 0.5 } ] } }\n'
    with pytest.raises(PipelineFileError) as refused:
        parse_pipeline_file(text.encode(), "toml")
    assert refused.value.problems == (
        FileProblem(
            None, R.RESERVED_STAGE, "pipeline 'p', stage 1: 'won' is reserved for the end of a deal"
        ),
    )
    assert str(refused.value.problems[0]) == (
        "reserved_stage: pipeline 'p', stage 1: 'won' is reserved for the end of a deal"
    )
    assert str(refused.value) == (
        "pipeline file refused, nothing loaded: 1 problem (reserved_stage 1)"
    )


def test_a_quoted_pipeline_name_and_stages_as_tables_are_located() -> None:
    text = (
        '[pipelines."renewal 2026"]\nstages = [{ name = "a", win_probability = 0 }]\n'
        "[[pipelines.x.stages]]\nname = 'b'\nwin_probability = 0\n"
        "[[pipelines.x.stages]]\nname = 'b'\nwin_probability = 0\n"
        "[pipelines.'single quoted']\nstages = [\n  {name = 'won', win_probability = 0}]\n"
    )
    assert problems(text) == [(6, R.DUPLICATE_STAGE), (11, R.RESERVED_STAGE)]


def test_a_refusal_says_in_one_line_what_and_how_many(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.toml"
    path.write_text(BAD_TOML, encoding="utf-8")
    with pytest.raises(PipelineFileError) as refused:
        read_pipeline_file(path)
    error = refused.value
    assert isinstance(error, PipelineConfigError)
    assert isinstance(error, ConfigurationError)
    assert str(error) == (
        "pipelines.toml refused, nothing loaded: 16 problems on 12 lines (bad_name 1, "
        "bad_probability 2, duplicate_stage 1, missing_key 2, no_stages 1, "
        "probability_out_of_range 2, reserved_stage 2, unknown_key 3, wrong_type 2)"
    )
    assert [str(problem) for problem in error.problems[:3]] == [
        "line 5: reserved_stage: pipeline 'new-business', stage 2: 'won' is reserved for the "
        "end of a deal",
        "line 6: bad_probability: pipeline 'new-business', stage 3: 'win_probability' "
        "'likely' is not a number",
        "line 6: duplicate_stage: pipeline 'new-business', stage 3: stage listed twice: lead "
        "(stage 1 too)",
    ]


def test_the_worker_start_names_every_problem_by_line(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.json"
    path.write_text(BAD_JSON, encoding="utf-8")
    with pytest.raises(PipelineConfigError) as refused:
        load_pipeline_config(path)
    said = str(refused.value)
    assert said.startswith(f"{path}: line 6: duplicate_stage: pipeline 'new-business', stage 2")
    assert said.count("; line ") == 5
    assert "\n" not in said


def test_the_suffix_decides_the_syntax(tmp_path: Path) -> None:
    toml, json_path = tmp_path / "p.toml", tmp_path / "p.json"
    toml.write_text(GOOD_TOML, encoding="utf-8")
    json_path.write_text(GOOD_JSON, encoding="utf-8")
    assert read_pipeline_file(toml) == read_pipeline_file(json_path)
    other = tmp_path / "p.yaml"
    other.write_text(GOOD_TOML, encoding="utf-8")
    with pytest.raises(PipelineConfigError, match=r"must be \.toml or \.json"):
        read_pipeline_file(other)
