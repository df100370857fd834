"""Why a source event became no canonical event: what a bridge dead-letters.

A bridge never crashes on what a CRM sends. A payload it cannot map is a
`Refusal` (a closed set of reasons, for a bounded counter label, and a detail
for people), returned as data beside the events a good payload maps to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RefusalReason(StrEnum):
    NOT_JSON = "not_json"
    """Not UTF-8 JSON, or JSON that is not an object."""
    MALFORMED = "malformed"
    """A field the mapping needs is missing or of the wrong type."""
    NOT_A_DEAL = "not_a_deal"
    """An entity other than a deal (a Pipedrive person, a Salesforce Account)."""
    UNSUPPORTED_CHANGE = "unsupported_change"
    """A change the canonical model cannot state (an unknown action, an undelete)."""
    UNREPLAYABLE = "unreplayable"
    """A Salesforce gap or overflow event: it says something changed, not what."""
    BAD_VALUE = "bad_value"
    """A value that cannot be made canonical (a negative amount, a non-ISO currency)."""
    REJECTED_BY_INGEST = "rejected_by_ingest"
    """A mapped event the workers' ingest would refuse (a timestamp in the future)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    detail: str


class SourceFieldError(Exception):
    """A field of a source payload the mapping cannot use.

    Raised while reading a payload and caught by the mapper that reads it, which
    returns a `Refusal`; it never leaves `streams.bridges`.
    """

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def refusal(self) -> Refusal:
        return Refusal(self.reason, self.detail)
