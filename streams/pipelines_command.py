"""`dealpulse pipelines load FILE`: a pipeline file, checked whole, published onto the control
topic, where it replaces the pipeline configuration of every worker (one record)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from streams.domain.pipeline_config import PipelineConfig, read_pipeline_file
from streams.domain.quota_record import RECORD_LIMIT_BYTES
from streams.domain.settings_record import encode_pipelines
from streams.errors import ConfigurationError
from streams.kafka.control_publish import Publisher, publish_records
from streams.settings import Settings

NAMES_SHOWN = 6
"""Pipelines named in the summary; the rest are counted."""


@dataclass(frozen=True, slots=True)
class PipelinesLoad:
    """What a load published."""

    topic: str
    config: PipelineConfig
    record_bytes: int

    def describe(self) -> str:
        pipelines = self.config.pipelines
        named = [f"{name} ({len(spec.stages)})" for name, spec in sorted(pipelines.items())]
        each = ", ".join(named[:NAMES_SHOWN])
        if len(named) > NAMES_SHOWN:
            each += f" and {len(named) - NAMES_SHOWN} more"
        return (
            f"loaded {len(pipelines)} pipeline{'' if len(pipelines) == 1 else 's'} "
            f"(stages: {each}) onto {self.topic}, replacing every worker's pipeline "
            f"configuration; one record of {self.record_bytes:,} bytes"
        )


def load_pipelines(
    settings: Settings, path: Path, publish: Publisher | None = None
) -> PipelinesLoad:
    """Check the file at `path` whole, then publish it; nothing is sent if anything is wrong.

    `PipelineFileError` lists every problem, by line; another suffix than `.toml` or
    `.json`, or a record too large, is a `ConfigurationError`. `publish` replaces the
    Kafka producer (tests).
    """
    config = read_pipeline_file(path)
    key, value = encode_pipelines(config)
    size = len(key) + len(value)
    if size > RECORD_LIMIT_BYTES:
        raise ConfigurationError(
            f"{path.name}: a record of {size:,} bytes, over the {RECORD_LIMIT_BYTES:,} a "
            "control record may have; nothing loaded"
        )
    asyncio.run((publish or publish_records)(settings, [(key, value)]))
    return PipelinesLoad(settings.topic_control, config, size)
