"""Errors the domain core raises on purpose, under the package root `DealpulseError`.

Bad *events* are not exceptions: ingest turns them into DLQ records. These are
configuration faults, or an event that ingest should have rejected and did not::

    DealpulseError                         (streams.errors)
    ├── ConfigurationError                 (streams.errors)
    │   ├── PipelineConfigError            the pipeline file cannot work as given
    │   │   └── PipelineFileError          a pipeline file refused: every problem, by line
    │   └── FileRefusedError               a file refused whole: every problem, by line
    │       ├── PipelineFileError
    │       ├── QuotaFileError             a quota file (CSV)
    │       └── RateFileError              a currency rate file (CSV)
    └── DomainError
        └── UnknownCurrencyError           no rate for a currency: never count it as zero
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from streams.errors import ConfigurationError, DealpulseError


class PipelineConfigError(ConfigurationError):
    """The pipeline configuration file is unreadable or inconsistent."""


@dataclass(frozen=True, slots=True)
class FileProblem:
    """Why one line of a configuration file was refused; `line` is None where no line
    could be found (the detail then says where in words)."""

    line: int | None
    reason: str
    detail: str

    def __str__(self) -> str:
        where = "" if self.line is None else f"line {self.line}: "
        return f"{where}{self.reason}: {self.detail}"


class FileRefusedError(ConfigurationError):
    """A file refused as a whole: nothing of it is loaded.

    Its message is one line (what was refused, the count per reason); `problems`
    holds every problem found, in line order, for the caller to list.
    """

    def __init__(self, source: str, problems: Sequence[FileProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        counts = Counter(problem.reason for problem in self.problems)
        per_reason = ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items()))
        lines = len({problem.line for problem in self.problems if problem.line is not None})
        on_lines = f" on {lines} line{'' if lines == 1 else 's'}" if lines else ""
        super().__init__(
            f"{source} refused, nothing loaded: {len(self.problems)} problem"
            f"{'' if len(self.problems) == 1 else 's'}{on_lines} ({per_reason})"
        )


class QuotaFileError(FileRefusedError):
    """A quota file refused as a whole."""


class RateFileError(FileRefusedError):
    """A currency rate file refused as a whole."""


class PipelineFileError(FileRefusedError, PipelineConfigError):
    """A pipeline file refused as a whole."""


class DomainError(DealpulseError):
    """A domain invariant was broken by input that should not have reached the fold."""


class UnknownCurrencyError(DomainError):
    """The rate table has no rate for this currency (ingest rejects such events)."""

    def __init__(self, currency: str, reporting_currency: str) -> None:
        super().__init__(f"no rate from {currency} to {reporting_currency} in the rate table")
        self.currency = currency
        self.reporting_currency = reporting_currency
