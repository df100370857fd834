"""`dealpulse quotas load FILE`: a quota file, checked whole, published onto the control topic.

Everything is checked before anything is sent: the file (every row), then the
size of every record. A load publishes one record per (tenant, period) the
file names, each holding all of that period's quotas, so it replaces those
periods on every worker and leaves the others as they were.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.domain.quota_file import read_quota_file
from streams.domain.quota_record import RECORD_LIMIT_BYTES, encode_quotas
from streams.domain.quotas import PeriodQuotas
from streams.errors import ConfigurationError
from streams.kafka.control_publish import Publisher, publish_records
from streams.settings import Settings

NAMES_SHOWN = 6
"""Periods or tenants named in the summary; the rest are counted."""


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What a load published."""

    topic: str
    periods: tuple[PeriodQuotas, ...]
    largest_record_bytes: int

    def describe(self) -> str:
        sellers = sum(len(quotas.sellers) for quotas in self.periods)
        teams = sum(len(quotas.teams) for quotas in self.periods)
        names = sorted({str(quotas.period) for quotas in self.periods})
        tenants = sorted({quotas.tenant for quotas in self.periods})
        return (
            f"loaded {_count(sellers + teams, 'quota row')} ({sellers} seller, {teams} team) "
            f"for {_count(len(names), 'period')} ({_names(names)}) of "
            f"{_count(len(tenants), 'tenant')} ({_names(tenants)}) onto {self.topic}; "
            f"{len(self.periods)} record{'' if len(self.periods) == 1 else 's'}, the largest "
            f"{self.largest_record_bytes:,} bytes"
        )


def load_quotas(settings: Settings, path: Path, publish: Publisher | None = None) -> LoadSummary:
    """Check the file at `path` whole, then publish it; nothing is sent if anything is wrong.

    `QuotaFileError` lists every bad row; a period too large for one record is a
    `ConfigurationError`. `publish` replaces the Kafka producer (tests).
    """
    periods = read_quota_file(path, max_amount=settings.max_amount)
    records = [encode_quotas(quotas) for quotas in periods]
    for quotas, (key, value) in zip(periods, records, strict=True):
        if len(key) + len(value) > RECORD_LIMIT_BYTES:
            raise ConfigurationError(
                f"{path.name}: tenant {quotas.tenant!r} in {quotas.period} has "
                f"{quotas.rows:,} quotas, a record of {len(key) + len(value):,} bytes, over the "
                f"{RECORD_LIMIT_BYTES:,} a control record may have; nothing loaded "
                "(shorter seller ids take less room)"
            )
    asyncio.run((publish or publish_records)(settings, records))
    largest = max((len(key) + len(value) for key, value in records), default=0)
    return LoadSummary(settings.topic_control, periods, largest)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown if len(names) <= NAMES_SHOWN else f"{shown} and {len(names) - NAMES_SHOWN} more"
