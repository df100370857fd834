"""The port the ingest agent hands accepted events to (the fold, or a test double)."""

from __future__ import annotations

from typing import Protocol

from streams.domain.events import DealEvent


class EventSink(Protocol):
    def accept(self, event: DealEvent, partition: int) -> None: ...
