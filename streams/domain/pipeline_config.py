"""The pipeline configuration: each pipeline's open stages, in order, with win probabilities.

Stage order decides what counts as *advancing* out of a stage (per-stage
conversion); the probability weights the open pipeline for forecasts. The file
is TOML or JSON (by suffix); the format, with an example, is in `docs/metrics.md`::

    [pipelines.new-business]
    stages = [
      { name = "lead", win_probability = 0.05 },
      { name = "qualified", win_probability = 0.15 },
    ]

Numbers are read as `Decimal` (never float), so `0.15` is exactly 0.15.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from streams.domain.errors import PipelineConfigError

# Names the fold uses for the ends of a deal's path; a configured stage may not take them.
WON = "won"
LOST = "lost"
CHURNED = "churned"
DELETED = "deleted"
RESERVED_STAGE_NAMES = frozenset({WON, LOST, CHURNED, DELETED})

_PIPELINE_KEYS = frozenset({"stages"})
_STAGE_KEYS = frozenset({"name", "win_probability"})


@dataclass(frozen=True, slots=True)
class StageSpec:
    name: str
    win_probability: Decimal


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """One pipeline: its open stages, first to last."""

    name: str
    stages: tuple[StageSpec, ...]
    _positions: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _probabilities: Mapping[str, Decimal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_positions", {stage.name: index for index, stage in enumerate(self.stages)}
        )
        object.__setattr__(
            self, "_probabilities", {stage.name: stage.win_probability for stage in self.stages}
        )

    def knows(self, stage: str) -> bool:
        return stage in self._positions

    def win_probability(self, stage: str) -> Decimal | None:
        """The stage's win probability; `None` for a stage this pipeline does not have."""
        return self._probabilities.get(stage)

    def is_advance(self, from_stage: str, to_stage: str) -> bool:
        """Whether moving `from_stage → to_stage` goes forward: to won, or to a later stage."""
        if to_stage == WON:
            return True
        before = self._positions.get(from_stage)
        after = self._positions.get(to_stage)
        return before is not None and after is not None and after > before


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    pipelines: Mapping[str, PipelineSpec]

    def get(self, pipeline: str | None) -> PipelineSpec | None:
        return None if pipeline is None else self.pipelines.get(pipeline)


def load_pipeline_config(path: Path) -> PipelineConfig:
    """Read a `.toml` or `.json` pipeline file; `PipelineConfigError` says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PipelineConfigError(f"cannot read pipeline config {path}: {error}") from error
    try:
        if path.suffix == ".toml":
            document: object = tomllib.loads(text, parse_float=Decimal)
        elif path.suffix == ".json":
            document = json.loads(text, parse_float=Decimal)
        else:
            raise PipelineConfigError(f"{path}: pipeline config must be .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise PipelineConfigError(f"{path}: {error}") from error
    return parse_pipeline_config(document, source=str(path))


def parse_pipeline_config(document: object, *, source: str = "pipeline config") -> PipelineConfig:
    """Build the configuration from a decoded document (see the module docstring)."""
    if not isinstance(document, Mapping) or set(document) != {"pipelines"}:
        raise PipelineConfigError(f"{source}: expected exactly one key, 'pipelines'")
    pipelines = document["pipelines"]
    if not isinstance(pipelines, Mapping) or not pipelines:
        raise PipelineConfigError(f"{source}: 'pipelines' must be a non-empty table")
    return PipelineConfig(
        pipelines={
            name: _pipeline(name, body, f"{source}: pipeline {name!r}")
            for name, body in pipelines.items()
        }
    )


def _pipeline(name: object, body: object, where: str) -> PipelineSpec:
    if not isinstance(name, str) or not name:
        raise PipelineConfigError(f"{where}: the name must be a non-empty string")
    if not isinstance(body, Mapping) or set(body) != _PIPELINE_KEYS:
        raise PipelineConfigError(f"{where}: expected exactly one key, 'stages'")
    raw_stages = body["stages"]
    if not isinstance(raw_stages, list) or not raw_stages:
        raise PipelineConfigError(f"{where}: 'stages' must be a non-empty list")
    stages = tuple(
        _stage(raw, f"{where}, stage {index + 1}") for index, raw in enumerate(raw_stages)
    )
    names = [stage.name for stage in stages]
    duplicates = sorted({stage for stage in names if names.count(stage) > 1})
    if duplicates:
        raise PipelineConfigError(f"{where}: stages listed twice: {', '.join(duplicates)}")
    return PipelineSpec(name=name, stages=stages)


def _stage(raw: object, where: str) -> StageSpec:
    if not isinstance(raw, Mapping) or set(raw) != _STAGE_KEYS:
        raise PipelineConfigError(f"{where}: expected keys 'name' and 'win_probability'")
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise PipelineConfigError(f"{where}: 'name' must be a non-empty string")
    if name in RESERVED_STAGE_NAMES:
        raise PipelineConfigError(f"{where}: {name!r} is reserved for the end of a deal")
    probability = _probability(raw["win_probability"], f"{where} ({name})")
    return StageSpec(name=name, win_probability=probability)


def _probability(raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
        raise PipelineConfigError(f"{where}: 'win_probability' must be a number")
    try:
        probability = Decimal(raw)
    except InvalidOperation as error:
        raise PipelineConfigError(f"{where}: 'win_probability' {raw!r} is not a number") from error
    if not probability.is_finite() or not Decimal(0) <= probability <= Decimal(1):
        raise PipelineConfigError(f"{where}: 'win_probability' must be between 0 and 1")
    return probability
