"""Errors the domain core raises on purpose, under the package root `DealpulseError`.

Bad *events* are not exceptions: ingest turns them into DLQ records. These are
configuration faults, or an event that ingest should have rejected and did not::

    DealpulseError                         (streams.errors)
    ├── ConfigurationError                 (streams.errors)
    │   └── PipelineConfigError            the pipeline file cannot work as given
    └── DomainError
        └── UnknownCurrencyError           no rate for a currency: never count it as zero
"""

from __future__ import annotations

from streams.errors import ConfigurationError, DealpulseError


class PipelineConfigError(ConfigurationError):
    """The pipeline configuration file is unreadable or inconsistent."""


class DomainError(DealpulseError):
    """A domain invariant was broken by input that should not have reached the fold."""


class UnknownCurrencyError(DomainError):
    """The rate table has no rate for this currency (ingest rejects such events)."""

    def __init__(self, currency: str, reporting_currency: str) -> None:
        super().__init__(f"no rate from {currency} to {reporting_currency} in the rate table")
        self.currency = currency
        self.reporting_currency = reporting_currency
