"""The worker's loaded pipelines and rates: a Faust global table that the control topic's agent
fills.

Every worker holds both records (a global table reads its whole changelog), and
the engine reads `current` before each batch: a change restates its aggregates
(`DealEngine`). The agent checks a record before it writes it, so the table
only holds records that decode; a tombstone removes one (the file or
environment default applies again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping

from streams.domain.settings_record import (
    PIPELINES_KEY,
    PIPELINES_KIND,
    RATES_KEY,
    ControlSettings,
    SettingsRecordError,
    decode_pipelines,
    decode_rates,
    settings_kind,
)

log = logging.getLogger(__name__)

CATCH_UP_POLL_SECONDS = 0.1


class SettingsTable:
    """The pipelines and rates records of a global table (raw, as the control records hold them)."""

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        self._table = table
        self._read: tuple[bytes | None, bytes | None] = (None, None)
        self._current = ControlSettings()
        self.recovered = asyncio.Event()
        """Set once the table has read its changelog at start (then see `catch_up`)."""

    def hold(self, key: bytes | None, value: bytes | None, where: str) -> None:
        """Apply one control record: a pipelines or rates record replaces its kind, a tombstone
        removes it; a record of another kind is another agent's, a bad one is logged and
        skipped."""
        kind = settings_kind(key)
        if kind is None:
            return
        key = PIPELINES_KEY if kind == PIPELINES_KIND else RATES_KEY  # one spelling of the key
        if value is None:
            if key in self._table:
                del self._table[key]
                log.info("loaded settings removed", extra={"kind": kind})
            return
        try:
            if kind == PIPELINES_KIND:
                decode_pipelines(value)
            else:
                decode_rates(value)
        except SettingsRecordError as error:
            log.warning("settings record skipped", extra={"at": where, "error": str(error)})
            return
        self._table[key] = value
        log.info("loaded settings held", extra={"kind": kind, "at": where})

    def current(self) -> ControlSettings:
        """The settings the table holds now (decoded again only when a record changed; one
        that does not decode, not written by `hold`, is said once and the last kept)."""
        read = (self._table.get(PIPELINES_KEY), self._table.get(RATES_KEY))
        if read != self._read:
            self._read = read
            pipelines, rates = read
            try:
                self._current = ControlSettings(
                    pipelines=None if pipelines is None else decode_pipelines(pipelines),
                    rates=None if rates is None else decode_rates(rates),
                )
            except SettingsRecordError as error:
                log.warning("settings record unreadable", extra={"error": str(error)})
        return self._current

    async def catch_up(self, on_topic: ControlSettings, timeout_seconds: float) -> bool:
        """Wait until the table holds `on_topic` (what the control topic held at start), or
        anything newer; False when `timeout_seconds` passed first.

        The engine starts after this, so that it never folds (nor refuses an event's
        currency) under settings the control plane has already replaced: a load made
        while no worker ran is on the control topic, and reaches the table only once an
        agent has read it, after the table's recovery.
        """
        recovered = self.current()
        deadline = time.monotonic() + timeout_seconds
        while True:
            held = self.current()
            if held == on_topic or held != recovered:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(CATCH_UP_POLL_SECONDS)
