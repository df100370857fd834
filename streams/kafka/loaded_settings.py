"""The pipelines and rates loaded on the control topic, read once (by `dealpulse replay --topic`).

The workers follow the control topic live (`streams.worker.settings_table`); a
command that computes what they show reads the topic's newest pipelines and
rates records instead, so that it computes under the same settings.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

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
from streams.kafka.topics import CONTROL_PARTITIONS
from streams.settings import Settings


async def read_loaded_settings(settings: Settings) -> ControlSettings:
    """The settings the control topic holds (nothing loaded when it does not exist yet)."""
    if not await _exists(settings, settings.topic_control):
        return ControlSettings()
    records = await read_changelog(settings, settings.topic_control, CONTROL_PARTITIONS - 1)
    pipelines, rates = records.get(PIPELINES_KEY), records.get(RATES_KEY)
    try:
        return ControlSettings(
            pipelines=None if pipelines is None else decode_pipelines(pipelines),
            rates=None if rates is None else decode_rates(rates),
        )
    except SettingsRecordError as error:
        raise ConfigurationError(f"{settings.topic_control}: {error}") from error


async def _exists(settings: Settings, topic: str) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_client_options()
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return not described.get("error_code")
