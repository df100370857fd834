"""The dead-letter record: the original bytes and headers, plus why and from where.

Reason headers are added, never substituted, so a fixed message can be
replayed from the DLQ by copying value and original headers back.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.ingest.message import Headers, RawMessage
from streams.ingest.rejection import Rejection

REASON_HEADER = "dealpulse.reason"
DETAIL_HEADER = "dealpulse.detail"
ORIGIN_HEADER = "dealpulse.origin"
MAX_DETAIL_BYTES = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: Headers


def dead_letter(message: RawMessage, rejection: Rejection) -> DeadLetter:
    extra = (
        (REASON_HEADER, rejection.reason.value.encode()),
        (DETAIL_HEADER, rejection.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]),
        (ORIGIN_HEADER, message.origin.encode("utf-8", "replace")),
    )
    return DeadLetter(key=message.key, value=message.value or b"", headers=message.headers + extra)
