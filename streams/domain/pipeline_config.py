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

A file is checked whole: every problem is collected, with a reason
(`PipelineRefusal`) and the line of the pipeline or stage it is in
(`streams.domain.pipeline_lines`), and the file is either read whole or refused
whole (`PipelineFileError`).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from streams.domain.errors import FileProblem, PipelineConfigError, PipelineFileError
from streams.domain.pipeline_lines import PipelineLines, Syntax
from streams.domain.text_file import TextFileError, decode_text

# Names the fold uses for the ends of a deal's path; a configured stage may not take them.
WON = "won"
LOST = "lost"
CHURNED = "churned"
DELETED = "deleted"
RESERVED_STAGE_NAMES = frozenset({WON, LOST, CHURNED, DELETED})

PIPELINES = "pipelines"
STAGES = "stages"
NAME = "name"
WIN_PROBABILITY = "win_probability"
_STAGE_KEYS = (NAME, WIN_PROBABILITY)
_SYNTAXES: Mapping[str, Syntax] = {".toml": "toml", ".json": "json"}


class PipelineRefusal(StrEnum):
    """Why a pipeline file was refused (docs/metrics.md lists each)."""

    NOT_TEXT = "not_text"
    BAD_SYNTAX = "bad_syntax"
    UNKNOWN_KEY = "unknown_key"
    MISSING_KEY = "missing_key"
    DUPLICATE_KEY = "duplicate_key"
    WRONG_TYPE = "wrong_type"
    NO_PIPELINES = "no_pipelines"
    NO_STAGES = "no_stages"
    BAD_NAME = "bad_name"
    RESERVED_STAGE = "reserved_stage"
    DUPLICATE_STAGE = "duplicate_stage"
    BAD_PROBABILITY = "bad_probability"
    PROBABILITY_OUT_OF_RANGE = "probability_out_of_range"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem of a pipeline document, and where it is: a top-level `key`, or in a
    `pipeline` (and its `stage`, from 1)."""

    reason: PipelineRefusal
    detail: str
    pipeline: str | None = None
    stage: int | None = None
    key: str | None = None

    def where(self) -> str:
        if self.pipeline is None:
            return ""
        stage = "" if self.stage is None else f", stage {self.stage}"
        return f"pipeline {self.pipeline!r}{stage}: "

    def __str__(self) -> str:
        return f"{self.where()}{self.detail}"


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
    """Read a `.toml` or `.json` pipeline file; `PipelineConfigError` says what is wrong
    (every problem, by line)."""
    try:
        return read_pipeline_file(path)
    except OSError as error:
        raise PipelineConfigError(f"cannot read pipeline config {path}: {error}") from error
    except PipelineFileError as error:
        problems = "; ".join(str(problem) for problem in error.problems)
        raise PipelineConfigError(f"{path}: {problems}") from error


def read_pipeline_file(path: Path) -> PipelineConfig:
    """The configuration of the `.toml` or `.json` file at `path`; `PipelineFileError` lists
    every problem when it is refused, `PipelineConfigError` another suffix."""
    syntax = _SYNTAXES.get(path.suffix)
    if syntax is None:
        raise PipelineConfigError(f"{path}: pipeline config must be .toml or .json")
    return parse_pipeline_file(path.read_bytes(), syntax, source=path.name)


def parse_pipeline_file(
    content: bytes, syntax: Syntax, *, source: str = "pipeline file"
) -> PipelineConfig:
    """The configuration `content` holds; `PipelineFileError` with every problem's line."""
    try:
        text = decode_text(content)
    except TextFileError as error:
        problem = FileProblem(error.line, PipelineRefusal.NOT_TEXT, error.detail)
        raise PipelineFileError(source, [problem]) from None
    document, duplicates = _decode(text, syntax, source)
    config, problems = check_pipeline_document(document)
    lines = PipelineLines(text, syntax)
    located = [_duplicate_key(lines, key, occurrence) for key, occurrence in duplicates]
    located += [
        FileProblem(_line_of(problem, lines), problem.reason, str(problem)) for problem in problems
    ]
    if located or config is None:
        ordered = sorted(located, key=lambda problem: (problem.line is None, problem.line or 0))
        raise PipelineFileError(source, ordered)
    return config


def parse_pipeline_config(document: object, *, source: str = "pipeline config") -> PipelineConfig:
    """Build the configuration from a decoded document (see the module docstring);
    `PipelineConfigError` names every problem."""
    config, problems = check_pipeline_document(document)
    if config is None:
        raise PipelineConfigError(f"{source}: " + "; ".join(str(problem) for problem in problems))
    return config


def check_pipeline_document(
    document: object,
) -> tuple[PipelineConfig | None, list[ConfigProblem]]:
    """The configuration of a decoded document, or None and every problem it has."""
    problems: list[ConfigProblem] = []
    if not isinstance(document, Mapping):
        detail = f"expected a table with exactly one key, {PIPELINES!r}"
        return None, [ConfigProblem(PipelineRefusal.WRONG_TYPE, detail)]
    for key in document:
        if key != PIPELINES:
            detail = f"expected exactly one key, {PIPELINES!r} (found {key!r})"
            problems.append(ConfigProblem(PipelineRefusal.UNKNOWN_KEY, detail, key=str(key)))
    if PIPELINES not in document:
        detail = f"expected exactly one key, {PIPELINES!r} (it is missing)"
        return None, [*problems, ConfigProblem(PipelineRefusal.MISSING_KEY, detail)]
    pipelines = document[PIPELINES]
    if not isinstance(pipelines, Mapping):
        detail = f"{PIPELINES!r} must be a non-empty table of pipelines"
        return None, [*problems, ConfigProblem(PipelineRefusal.WRONG_TYPE, detail, key=PIPELINES)]
    if not pipelines:
        detail = f"{PIPELINES!r} must be a non-empty table: give at least one pipeline"
        problems.append(ConfigProblem(PipelineRefusal.NO_PIPELINES, detail, key=PIPELINES))
    specs = {}
    for name, body in pipelines.items():
        spec = _Checker(str(name), problems).pipeline(name, body)
        if spec is not None:
            specs[spec.name] = spec
    return (None if problems else PipelineConfig(pipelines=specs)), problems


class _Checker:
    """The checks of one pipeline, each problem added to `problems`."""

    def __init__(self, pipeline: str, problems: list[ConfigProblem]) -> None:
        self.name = pipeline
        self.problems = problems

    def refuse(self, reason: PipelineRefusal, detail: str, stage: int | None = None) -> None:
        self.problems.append(ConfigProblem(reason, detail, self.name, stage))

    def pipeline(self, name: object, body: object) -> PipelineSpec | None:
        problems_before = len(self.problems)
        if not isinstance(name, str) or not name:
            self.refuse(PipelineRefusal.BAD_NAME, "the name must be a non-empty string")
        if not isinstance(body, Mapping):
            self.refuse(PipelineRefusal.WRONG_TYPE, f"expected a table with one key, {STAGES!r}")
            return None
        for key in body:
            if key != STAGES:
                detail = f"expected exactly one key, {STAGES!r} (found {key!r})"
                self.refuse(PipelineRefusal.UNKNOWN_KEY, detail)
        if STAGES not in body:
            detail = f"expected exactly one key, {STAGES!r} (it is missing)"
            self.refuse(PipelineRefusal.MISSING_KEY, detail)
            return None
        raw_stages = body[STAGES]
        if not isinstance(raw_stages, list):
            self.refuse(PipelineRefusal.WRONG_TYPE, f"{STAGES!r} must be a non-empty list")
            return None
        if not raw_stages:
            self.refuse(PipelineRefusal.NO_STAGES, f"{STAGES!r} must be a non-empty list")
        stages = [self.stage(number, raw) for number, raw in enumerate(raw_stages, start=1)]
        self.duplicates([raw.get(NAME) if isinstance(raw, Mapping) else None for raw in raw_stages])
        if len(self.problems) > problems_before:
            return None
        return PipelineSpec(self.name, tuple(stage for stage in stages if stage is not None))

    def stage(self, number: int, raw: object) -> StageSpec | None:
        if not isinstance(raw, Mapping):
            detail = f"expected a table with keys {NAME!r} and {WIN_PROBABILITY!r}"
            self.refuse(PipelineRefusal.WRONG_TYPE, detail, number)
            return None
        for key in raw:
            if key not in _STAGE_KEYS:
                detail = f"expected keys {NAME!r} and {WIN_PROBABILITY!r} (found {key!r})"
                self.refuse(PipelineRefusal.UNKNOWN_KEY, detail, number)
        for key in _STAGE_KEYS:
            if key not in raw:
                detail = f"expected keys {NAME!r} and {WIN_PROBABILITY!r} (no {key!r})"
                self.refuse(PipelineRefusal.MISSING_KEY, detail, number)
        name = self.stage_name(number, raw.get(NAME))
        probability = self.probability(number, raw.get(WIN_PROBABILITY))
        if name is None or probability is None:
            return None
        return StageSpec(name, probability)

    def stage_name(self, number: int, name: object) -> str | None:
        if name is None:
            return None  # missing: said above
        if not isinstance(name, str) or not name:
            self.refuse(PipelineRefusal.BAD_NAME, f"{NAME!r} must be a non-empty string", number)
            return None
        if name in RESERVED_STAGE_NAMES:
            detail = f"{name!r} is reserved for the end of a deal"
            self.refuse(PipelineRefusal.RESERVED_STAGE, detail, number)
            return None
        return name

    def probability(self, number: int, raw: object) -> Decimal | None:
        if raw is None:
            return None  # missing: said above
        if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
            detail = f"{WIN_PROBABILITY!r} must be a number, not {raw!r}"
            self.refuse(PipelineRefusal.BAD_PROBABILITY, detail, number)
            return None
        try:
            probability = Decimal(raw)
        except InvalidOperation:
            detail = f"{WIN_PROBABILITY!r} {raw!r} is not a number"
            self.refuse(PipelineRefusal.BAD_PROBABILITY, detail, number)
            return None
        if not probability.is_finite() or not Decimal(0) <= probability <= Decimal(1):
            detail = f"{WIN_PROBABILITY!r} {raw} must be between 0 and 1"
            self.refuse(PipelineRefusal.PROBABILITY_OUT_OF_RANGE, detail, number)
            return None
        return probability

    def duplicates(self, names: list[object]) -> None:
        """A problem at each stage whose name an earlier stage has (whatever else is wrong)."""
        first_at: dict[str, int] = {}
        for number, name in enumerate(names, start=1):
            if not isinstance(name, str) or not name:
                continue
            first = first_at.setdefault(name, number)
            if first != number:
                detail = f"stage listed twice: {name} (stage {first} too)"
                self.refuse(PipelineRefusal.DUPLICATE_STAGE, detail, number)


_TOML_LINE = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def _decode(text: str, syntax: Syntax, source: str) -> tuple[object, list[tuple[str, int]]]:
    """The document `text` holds, and the keys a JSON object repeats (each with which
    occurrence of it repeats it); `PipelineFileError` where the syntax breaks."""
    if syntax == "toml":
        try:
            return tomllib.loads(text, parse_float=Decimal), []
        except tomllib.TOMLDecodeError as error:
            raise PipelineFileError(source, [_toml_problem(str(error), text)]) from None
    duplicates: list[tuple[str, int]] = []
    seen: dict[str, int] = {}

    def no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
        names = [name for name, _ in pairs]
        for name in names:
            seen[name] = seen.get(name, 0) + 1
        for name in {name for name in names if names.count(name) > 1}:
            duplicates.append((name, seen[name]))
        return dict(pairs)

    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=no_repeats), duplicates
    except json.JSONDecodeError as error:
        detail = f"{error.msg} (column {error.colno})"
        raise PipelineFileError(
            source, [FileProblem(error.lineno, PipelineRefusal.BAD_SYNTAX, detail)]
        ) from None


def _toml_problem(message: str, text: str) -> FileProblem:
    found = _TOML_LINE.match(message)
    if found is None:  # "(at end of document)"
        message = message.removesuffix(" (at end of document)")
        return FileProblem(text.count("\n") + 1, PipelineRefusal.BAD_SYNTAX, message)
    detail = f"{found['message']} (column {found['column']})"
    return FileProblem(int(found["line"]), PipelineRefusal.BAD_SYNTAX, detail)


def _duplicate_key(lines: PipelineLines, key: str, occurrence: int) -> FileProblem:
    detail = f"{key!r} twice in one object (JSON would keep the last silently)"
    return FileProblem(lines.key(key, occurrence), PipelineRefusal.DUPLICATE_KEY, detail)


def _line_of(problem: ConfigProblem, lines: PipelineLines) -> int | None:
    if problem.pipeline is None:
        return None if problem.key is None else lines.key(problem.key)
    if problem.stage is not None:
        line = lines.stage(problem.pipeline, problem.stage)
        if line is not None:
            return line
    return lines.pipeline(problem.pipeline)
