"""Stand-ins for the control topic in the tests of the `... load` commands."""

from __future__ import annotations

from collections.abc import Sequence

from streams.kafka.control_publish import Record
from streams.settings import Settings


class Publisher:
    """Keeps what a load would have sent."""

    def __init__(self) -> None:
        self.sent: list[list[Record]] = []

    async def __call__(self, settings: Settings, records: Sequence[Record]) -> None:
        self.sent.append(list(records))
