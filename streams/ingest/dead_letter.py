"""The dead-letter record: the original bytes and headers, plus why and from where.

Reason headers are added, never substituted, so a fixed message can be
replayed from the DLQ by copying value and original headers back. A tombstone
stays a tombstone. Only a part too large to pass the size limits (`SizeLimits`)
is cut: the value and key to the limit, the original headers dropped. The copy
then says so in `dealpulse.truncated` (what was cut and its size), a cut value's
SHA-256 is in `dealpulse.sha256` (to find or check the original), and the
original is still where `dealpulse.origin` says. Without the cut, the copy of a
message near the broker's limit (1 MB) would be refused by the producer, and the
worker would stop rather than lose it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from streams.ingest.decode import SizeLimits, headers_size
from streams.ingest.message import Headers, RawMessage
from streams.ingest.rejection import Rejection

REASON_HEADER = "dealpulse.reason"
DETAIL_HEADER = "dealpulse.detail"
ORIGIN_HEADER = "dealpulse.origin"
TRUNCATED_HEADER = "dealpulse.truncated"
DIGEST_HEADER = "dealpulse.sha256"
MAX_DETAIL_BYTES = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers


def dead_letter(message: RawMessage, rejection: Rejection, limits: SizeLimits) -> DeadLetter:
    return refused_copy(message, rejection.reason.value, rejection.detail, limits)


def refused_copy(message: RawMessage, reason: str, detail: str, limits: SizeLimits) -> DeadLetter:
    """The dead letter of `message`, refused for `reason` (a worker's or a bridge's)."""
    cut, said = within_limits(message, limits)
    extra: Headers = (
        (REASON_HEADER, reason.encode()),
        (DETAIL_HEADER, detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]),
        (ORIGIN_HEADER, message.origin.encode("utf-8", "replace")),
    )
    return DeadLetter(key=cut.key, value=cut.value, headers=cut.headers + extra + said)


def within_limits(message: RawMessage, limits: SizeLimits) -> tuple[RawMessage, Headers]:
    """`message` with each part over its limit cut, and the headers that say what was cut
    (none when nothing was)."""
    key, value, headers = message.key, message.value, message.headers
    cut: list[str] = []
    digest: Headers = ()
    if value is not None and len(value) > limits.value_bytes:
        cut.append(f"value {len(value)}")
        digest = ((DIGEST_HEADER, hashlib.sha256(value).hexdigest().encode()),)
        value = value[: limits.value_bytes]
    if key is not None and len(key) > limits.key_bytes:
        cut.append(f"key {len(key)}")
        key = key[: limits.key_bytes]
    size = headers_size(headers)
    if size > limits.headers_bytes:
        cut.append(f"headers {size}")
        headers = ()
    if not cut:
        return message, ()
    said: Headers = ((TRUNCATED_HEADER, ", ".join(cut).encode()), *digest)
    return replace(message, key=key, value=value, headers=headers), said
