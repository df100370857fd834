"""`dealpulse rates load FILE`: currency rates, checked whole, merged into those loaded before.

A load changes or adds the rates its file lists and keeps every other rate
loaded before: it reads the rates record on the control topic (none yet is an
empty table), overlays the file, and publishes the merged table as one record.
What it reports as changed is compared with what the workers use: the
`DEALPULSE_CURRENCY_RATES` setting overlaid by the loaded record. A file that
changes nothing publishes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from streams.domain.rate_file import read_rate_file
from streams.domain.settings_record import (
    RATES_KEY,
    RateTable,
    SettingsRecordError,
    decode_rates,
    encode_rates,
)
from streams.errors import ConfigurationError
from streams.kafka.availability import wait_for_kafka
from streams.kafka.control_publish import Publisher, publish_records
from streams.kafka.loaded_settings import control_records
from streams.kafka.topics import control_topic, ensure_topics
from streams.settings import Settings

CHANGES_SHOWN = 12
"""Changed rates named in the summary; the rest are counted."""

RecordReader = Callable[[Settings], Coroutine[None, None, bytes | None]]
"""Reads the value of the rates record on the control topic; None when there is none."""


@dataclass(frozen=True, slots=True)
class RateChange:
    currency: str
    before: Decimal | None
    """The rate the workers used; None for a currency they had no rate for."""
    after: Decimal

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.currency} added at {self.after:f}"
        return f"{self.currency} {self.before:f} -> {self.after:f}"


@dataclass(frozen=True, slots=True)
class RatePlan:
    """What a load of `listed` rates does."""

    merged: dict[str, Decimal]
    """The rates record to publish: those loaded before, with the file's in their place."""
    changes: tuple[RateChange, ...]
    unchanged: int
    """Rates the workers use that the load leaves as they were."""


def plan_rates(
    reporting_currency: str,
    configured: Mapping[str, Decimal],
    loaded: Mapping[str, Decimal],
    listed: Mapping[str, Decimal],
) -> RatePlan:
    """Merge `listed` into `loaded`; changes are measured against the workers' table, the
    `configured` rates overlaid by the `loaded` ones (the reporting currency at 1)."""
    in_use = {reporting_currency: Decimal(1), **configured, **loaded}
    changes = tuple(
        RateChange(currency, in_use.get(currency), rate)
        for currency, rate in sorted(listed.items())
        if in_use.get(currency) != rate
    )
    after = {**in_use, **listed}
    return RatePlan({**loaded, **listed}, changes, len(after) - len(changes))


@dataclass(frozen=True, slots=True)
class RatesLoad:
    """What a load did."""

    topic: str
    plan: RatePlan
    listed: int

    def describe(self) -> str:
        changes = self.plan.changes
        if not changes:
            return (
                f"rates on {self.topic} unchanged: the file's {self.listed} rate"
                f"{'' if self.listed == 1 else 's'} are already in use; nothing published"
            )
        shown = ", ".join(str(change) for change in changes[:CHANGES_SHOWN])
        more = f" and {len(changes) - CHANGES_SHOWN} more" if len(changes) > CHANGES_SHOWN else ""
        return f"rates loaded onto {self.topic}: {shown}{more}; {self.plan.unchanged} unchanged"


def load_rates(
    settings: Settings,
    path: Path,
    read_loaded: RecordReader | None = None,
    publish: Publisher | None = None,
) -> RatesLoad:
    """Check the file at `path` whole, merge it into the rates loaded before and publish
    the result; nothing is sent if anything is wrong, or if nothing changes.

    `RateFileError` lists every bad row; a rates record on the topic that cannot be read,
    or was made for another reporting currency, is a `ConfigurationError`. `read_loaded`
    and `publish` replace Kafka (tests).
    """
    listed = read_rate_file(path, reporting_currency=settings.reporting_currency)
    return asyncio.run(
        _load(settings, listed, read_loaded or read_rates_record, publish or publish_records)
    )


async def _load(
    settings: Settings,
    listed: dict[str, Decimal],
    read_loaded: RecordReader,
    publish: Publisher,
) -> RatesLoad:
    loaded = loaded_rates(settings, await read_loaded(settings))
    plan = plan_rates(settings.reporting_currency, settings.currency_rates, loaded, listed)
    if plan.changes:
        table = RateTable(settings.reporting_currency, plan.merged)
        await publish(settings, [encode_rates(table)])
    return RatesLoad(settings.topic_control, plan, len(listed))


async def read_rates_record(settings: Settings) -> bytes | None:
    """The value of the newest rates record on the control topic; None when there is none."""
    await wait_for_kafka(settings)
    await ensure_topics(settings, [control_topic(settings)])
    return (await control_records(settings)).get(RATES_KEY)


def loaded_rates(settings: Settings, value: bytes | None) -> dict[str, Decimal]:
    """The rates a rates record holds, checked against the reporting currency."""
    if value is None:
        return {}
    topic = settings.topic_control
    try:
        table = decode_rates(value)
    except SettingsRecordError as error:
        raise ConfigurationError(
            f"the rates record on {topic} cannot be read ({error}); nothing loaded"
        ) from error
    if table.reporting_currency != settings.reporting_currency:
        raise ConfigurationError(
            f"the rates on {topic} were loaded for the reporting currency "
            f"{table.reporting_currency}, and DEALPULSE_REPORTING_CURRENCY is "
            f"{settings.reporting_currency}: nothing loaded (rates in another currency "
            "would mean something else)"
        )
    return dict(table.rates)
