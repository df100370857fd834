"""A raw Kafka message, as ingest sees it: bytes, headers and where it came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class RawMessage:
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def normalise_headers(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> Headers:
    """Kafka clients hand headers over as a mapping or as pairs; ingest wants pairs."""
    if headers is None:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)
