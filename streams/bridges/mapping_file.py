"""The per-source mapping file: what a CRM's ids mean in dealpulse.

A CRM names pipelines and stages by its own ids (Pipedrive: numbers;
Salesforce: the `StageName` picklist value); dealpulse's metrics use the names
of the pipeline configuration. One TOML file per bridge says how one becomes
the other, and which CRM stages mean a deal is won or lost::

    source = "pipedrive"           # the canonical `source` of every event
    tenant = "acme"                # optional; absent: the default tenant
    pipeline = "new-business"      # optional; for a CRM without pipeline ids
    currency = "USD"               # optional; for a CRM that leaves the currency out
    lost_reason = "unspecified"    # optional; a loss the CRM gives no reason for

    [pipelines]                    # CRM pipeline id = dealpulse pipeline
    1 = "new-business"

    [stages]                       # CRM stage id = dealpulse stage
    1 = "lead"
    "Negotiation/Review" = "negotiation"

    [outcomes]                     # CRM stages that close a deal
    won = [5, "Closed Won"]        # docs/crm-bridges.md has the rest
    lost = [6]

    [lost_reasons]                 # optional; CRM lost-reason id = the reason dealpulse shows
    3 = "too expensive"

An id the file does not map passes through under its own name: the worker
already counts and reports stages the pipeline configuration does not know, so
a stage added in the CRM shows up instead of vanishing. Ids may be TOML
integers or strings; both are read as the string the CRM's JSON id becomes.
Numbers are never read as floats (`parse_float=Decimal`). A file that cannot
work is refused whole with `MappingFileError`, naming the line where it can.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from streams.bridges.source_values import NAME_LIMIT, REASON_LIMIT, currencies
from streams.domain.pipeline_config import RESERVED_STAGE_NAMES
from streams.errors import ConfigurationError

Outcome = Literal["won", "lost"]
DEFAULT_LOST_REASON = "unspecified"
_SCALARS = ("source", "tenant", "pipeline", "currency", "lost_reason")
_TABLES = ("pipelines", "stages", "outcomes", "lost_reasons")
_OUTCOMES: tuple[Outcome, ...] = ("won", "lost")
_CONTROL = re.compile(r"[\x00-\x1f]")


class MappingFileError(ConfigurationError):
    """A bridge's mapping file is unreadable or cannot work as written."""


@dataclass(frozen=True, slots=True)
class SourceMapping:
    """One CRM's ids in dealpulse's names (see the module docstring for the file)."""

    source: str
    tenant: str | None = None
    default_pipeline: str | None = None
    default_currency: str | None = None
    lost_reason: str = DEFAULT_LOST_REASON
    pipelines: Mapping[str, str] | None = None
    stages: Mapping[str, str] | None = None
    won_stages: frozenset[str] = frozenset()
    lost_stages: frozenset[str] = frozenset()
    lost_reasons: Mapping[str, str] | None = None

    def pipeline_for(self, crm_pipeline: str | None) -> str | None:
        """The dealpulse pipeline of a CRM pipeline id; without one, the default."""
        if crm_pipeline is None:
            return self.default_pipeline
        return (self.pipelines or {}).get(crm_pipeline, crm_pipeline)

    def stage_for(self, crm_stage: str) -> str:
        """The dealpulse stage of a CRM stage id; an unmapped id is its own name."""
        return (self.stages or {}).get(crm_stage, crm_stage)

    def lost_reason_for(self, crm_reason: str) -> str:
        """The reason a CRM lost-reason id stands for; an unmapped id is its own text."""
        return (self.lost_reasons or {}).get(crm_reason, crm_reason)

    def outcome_of(self, crm_stage: str | None) -> Outcome | None:
        """Whether entering this CRM stage wins or loses the deal (`None`: it stays open)."""
        if crm_stage in self.won_stages:
            return "won"
        if crm_stage in self.lost_stages:
            return "lost"
        return None


def load_mapping(path: Path) -> SourceMapping:
    """Read and check a mapping file; `MappingFileError` says what is wrong, and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MappingFileError(f"cannot read mapping file {path}: {error}") from error
    return parse_mapping(text, where=str(path))


def parse_mapping(text: str, *, where: str = "mapping file") -> SourceMapping:
    """Build a `SourceMapping` from the file's text."""
    try:
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:  # its message ends "(at line L, column C)"
        raise MappingFileError(f"{where}: not TOML: {error}") from error
    return _Checker(text, where).mapping(document)


class _Checker:
    """Checks a decoded file, naming the line of the key at fault."""

    def __init__(self, text: str, where: str) -> None:
        self._lines = text.splitlines()
        self._where = where

    def mapping(self, document: Mapping[str, object]) -> SourceMapping:
        for key in document:
            if key not in _SCALARS and key not in _TABLES:
                known = ", ".join((*_SCALARS, *_TABLES))
                raise self._error(None, key, f"unknown key {key!r} (known: {known})")
        if "source" not in document:
            raise self._error(None, None, "'source' is required: the CRM the events come from")
        currency = self._optional(document, "currency", limit=3)
        if currency is not None and currency not in currencies():
            raise self._error(None, "currency", f"{currency!r} is not an ISO 4217 code")
        stages = self._names(document, "stages")
        reserved = sorted(name for name in stages.values() if name in RESERVED_STAGE_NAMES)
        if reserved:
            raise self._error(
                "stages",
                None,
                f"{', '.join(reserved)}: reserved for the end of a deal; list the CRM stage "
                "under [outcomes] instead",
            )
        won, lost = self._outcomes(document)
        return SourceMapping(
            source=self._text(None, "source", document["source"], REASON_LIMIT),
            tenant=self._optional(document, "tenant"),
            default_pipeline=self._optional(document, "pipeline"),
            default_currency=currency,
            lost_reason=self._optional(document, "lost_reason", limit=REASON_LIMIT)
            or DEFAULT_LOST_REASON,
            pipelines=self._names(document, "pipelines"),
            stages=stages,
            won_stages=won,
            lost_stages=lost,
            lost_reasons=self._names(document, "lost_reasons", limit=REASON_LIMIT),
        )

    def _optional(
        self, document: Mapping[str, object], key: str, *, limit: int = NAME_LIMIT
    ) -> str | None:
        if key not in document:
            return None
        return self._text(None, key, document[key], limit)

    def _names(
        self, document: Mapping[str, object], table: str, *, limit: int = NAME_LIMIT
    ) -> dict[str, str]:
        body = document.get(table, {})
        if not isinstance(body, Mapping):
            raise self._error(None, table, f"'{table}' must be a table of id = name")
        return {
            self._id(key, table, key): self._text(table, key, name, limit)
            for key, name in body.items()
        }

    def _outcomes(self, document: Mapping[str, object]) -> tuple[frozenset[str], frozenset[str]]:
        body = document.get("outcomes", {})
        if not isinstance(body, Mapping):
            raise self._error(None, "outcomes", "'outcomes' must be a table")
        unknown = sorted(set(body) - set(_OUTCOMES))
        if unknown:
            raise self._error("outcomes", unknown[0], "[outcomes] takes only 'won' and 'lost'")
        won, lost = (self._ids(body, outcome) for outcome in _OUTCOMES)
        both = sorted(won & lost)
        if both:
            raise self._error("outcomes", "lost", f"{', '.join(both)}: both won and lost")
        return won, lost

    def _ids(self, body: Mapping[str, object], outcome: str) -> frozenset[str]:
        raw = body.get(outcome, [])
        if not isinstance(raw, list):
            raise self._error("outcomes", outcome, f"'{outcome}' must be a list of stage ids")
        return frozenset(self._id(item, "outcomes", outcome) for item in raw)

    def _id(self, raw: object, table: str, key: str) -> str:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        if isinstance(raw, str) and raw and len(raw) <= NAME_LIMIT:
            return raw
        raise self._error(table, key, f"{raw!r} is not a CRM id (an integer or a short string)")

    def _text(self, table: str | None, key: str, raw: object, limit: int) -> str:
        if not isinstance(raw, str) or not raw.strip() or len(raw) > limit:
            raise self._error(table, key, f"{key!r} must be a non-empty string of at most {limit}")
        if _CONTROL.search(raw):
            raise self._error(table, key, f"{key!r} holds a control character")
        return raw

    def _error(self, table: str | None, key: str | None, message: str) -> MappingFileError:
        line = self._line_of(table, key)
        at = f" (line {line})" if line is not None else ""
        return MappingFileError(f"{self._where}{at}: {message}")

    def _line_of(self, table: str | None, key: str | None) -> int | None:
        """The line defining `key` in `[table]` (top level when `None`), or the table's header."""
        current: str | None = None
        key_pattern = (
            re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
            if key is not None
            else None
        )
        for number, line in enumerate(self._lines, start=1):
            header = re.fullmatch(r"\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?", line)
            if header:
                current = header.group(1).strip("\"'")
                if key is None and current == table:
                    return number
                continue
            if key_pattern is not None and current == table and key_pattern.match(line):
                return number
        return None
