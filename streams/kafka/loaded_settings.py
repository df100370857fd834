"""The control topic's records, read once: what a command that computes or changes what the
workers follow needs (`dealpulse replay --topic`, `dealpulse rates load`).

The workers follow the control topic live (`streams.worker.settings_table`); these
read its newest record of every key instead, so that a replay computes under the
settings the workers use, and a rates load merges into the rates they use.
"""

from __future__ import annotations

from streams.domain.settings_record import (
    PIPELINES_KEY,
    RATES_KEY,
    ControlSettings,
    SettingsRecordError,
    decode_pipelines,
    decode_rates,
)
from streams.engine.changelog import read_changelog
from streams.errors import ConfigurationError
from streams.kafka.topics import existing_partitions
from streams.settings import Settings

CONTROL_PARTITION = 0
"""The control topic's one partition (`streams.kafka.topics.CONTROL_PARTITIONS`)."""


async def control_records(settings: Settings) -> dict[bytes, bytes]:
    """The newest record of every key of the control topic (none when it does not exist)."""
    if await existing_partitions(settings, settings.topic_control) is None:
        return {}
    return await read_changelog(settings, settings.topic_control, CONTROL_PARTITION)


async def read_loaded_settings(settings: Settings) -> ControlSettings:
    """The pipelines and rates the control topic holds (nothing loaded when it has none)."""
    records = await control_records(settings)
    pipelines, rates = records.get(PIPELINES_KEY), records.get(RATES_KEY)
    try:
        return ControlSettings(
            pipelines=None if pipelines is None else decode_pipelines(pipelines),
            rates=None if rates is None else decode_rates(rates),
        )
    except SettingsRecordError as error:
        raise ConfigurationError(f"{settings.topic_control}: {error}") from error
