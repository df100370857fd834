"""The pipeline configuration file: TOML and JSON, exact probabilities, clear errors."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from streams.domain.errors import PipelineConfigError
from streams.domain.pipeline_config import load_pipeline_config, parse_pipeline_config
from streams.errors import ConfigurationError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

TOML = """
[pipelines.new-business]
stages = [
  { name = "lead", win_probability = 0.1 },
  { name = "demo", win_probability = 0.35 },
]

[pipelines."renewal 2026"]
stages = [{ name = "quote", win_probability = 1 }]
"""


def test_loads_toml_with_exact_decimal_probabilities(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.toml"
    path.write_text(TOML, encoding="utf-8")
    config = load_pipeline_config(path)
    new_business = config.get("new-business")
    assert new_business is not None
    assert [stage.name for stage in new_business.stages] == ["lead", "demo"]
    assert new_business.win_probability("demo") == Decimal("0.35")
    assert str(new_business.win_probability("demo")) == "0.35"
    renewal = config.get("renewal 2026")
    assert renewal is not None
    assert renewal.win_probability("quote") == 1


def test_loads_json(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.json"
    document = {"pipelines": {"p": {"stages": [{"name": "s", "win_probability": 0.2}]}}}
    path.write_text(json.dumps(document), encoding="utf-8")
    spec = load_pipeline_config(path).get("p")
    assert spec is not None
    assert spec.win_probability("s") == Decimal("0.2")


def test_the_example_in_the_docs_loads(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None, "docs/metrics.md shows a pipeline file in a ```toml block"
    path = tmp_path / "pipelines.toml"
    path.write_text(example.group(1), encoding="utf-8")
    assert load_pipeline_config(path).pipelines


def test_stage_order_decides_advances() -> None:
    spec = parse_pipeline_config(
        {"pipelines": {"p": {"stages": [{"name": n, "win_probability": 0} for n in "abc"]}}}
    ).get("p")
    assert spec is not None
    assert spec.is_advance("a", "c")
    assert spec.is_advance("c", "won")
    assert spec.is_advance("mystery", "won")
    assert not spec.is_advance("b", "a")
    assert not spec.is_advance("b", "b")
    assert not spec.is_advance("a", "lost")
    assert not spec.is_advance("a", "mystery")
    assert not spec.is_advance("mystery", "c")
    assert spec.win_probability("mystery") is None


def _stage(name: object = "s", probability: object = "0.5") -> dict[str, object]:
    return {"name": name, "win_probability": probability}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "exactly one key"),
        ({"pipelines": {}}, "non-empty"),
        ({"pipelines": {"p": {"stages": []}}}, "non-empty list"),
        ({"pipelines": {"p": {"stages": [_stage()], "colour": "red"}}}, "exactly one key"),
        ({"pipelines": {"p": {"stages": [_stage(), _stage()]}}}, "listed twice: s"),
        ({"pipelines": {"p": {"stages": [_stage("won")]}}}, "reserved"),
        ({"pipelines": {"p": {"stages": [_stage("")]}}}, "non-empty string"),
        ({"pipelines": {"p": {"stages": [_stage(probability="1.5")]}}}, "between 0 and 1"),
        ({"pipelines": {"p": {"stages": [_stage(probability=-1)]}}}, "between 0 and 1"),
        ({"pipelines": {"p": {"stages": [_stage(probability="NaN")]}}}, "between 0 and 1"),
        ({"pipelines": {"p": {"stages": [_stage(probability="high")]}}}, "not a number"),
        ({"pipelines": {"p": {"stages": [_stage(probability=True)]}}}, "must be a number"),
        ({"pipelines": {"p": {"stages": [_stage(probability=0.5)]}}}, "must be a number"),
        ({"pipelines": {"p": {"stages": [{"name": "s"}]}}}, "expected keys"),
    ],
)
def test_inconsistent_documents_are_refused(document: object, message: str) -> None:
    with pytest.raises(PipelineConfigError, match=message):
        parse_pipeline_config(document)


def test_file_errors_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_pipeline_config(tmp_path / "absent.toml")
    yaml = tmp_path / "pipelines.yaml"
    yaml.write_text("pipelines: {}", encoding="utf-8")
    with pytest.raises(PipelineConfigError, match=r"\.toml or \.json"):
        load_pipeline_config(yaml)
    broken = tmp_path / "pipelines.toml"
    broken.write_text("[pipelines", encoding="utf-8")
    with pytest.raises(PipelineConfigError, match=r"pipelines\.toml"):
        load_pipeline_config(broken)
