"""Building the domain's `MetricContext` from the settings, and the clock behind it.

The context depends on `now` only through retention cutoffs, which move at
window boundaries; `ContextSource` therefore rebuilds it at most once a second
instead of for every event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.domain.context import MetricContext
from streams.domain.pipeline_config import PipelineConfig, load_pipeline_config
from streams.domain.windows import Granularity
from streams.errors import ConfigurationError
from streams.settings import Settings

Clock = Callable[[], datetime]
REFRESH_SECONDS = 1.0


def settings_clock(settings: Settings) -> Clock:
    """The fixed clock of DEALPULSE_CLOCK, or the system clock."""
    fixed = settings.clock
    if fixed is None:
        return lambda: datetime.now(UTC)
    if fixed.tzinfo is None:
        raise ConfigurationError(
            "DEALPULSE_CLOCK must carry a UTC offset, e.g. 2026-11-01T00:00:00Z"
        )
    pinned = fixed.astimezone(UTC)
    return lambda: pinned


def build_context(
    settings: Settings, now: datetime, pipelines: PipelineConfig | None = None
) -> MetricContext:
    try:
        timezone = ZoneInfo(settings.window_timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigurationError(
            f"unknown DEALPULSE_WINDOW_TIMEZONE {settings.window_timezone!r}"
        ) from error
    try:
        return MetricContext(
            pipelines=pipelines or load_pipeline_config(settings.pipelines_file),
            reporting_currency=settings.reporting_currency,
            rates=settings.currency_rates,
            now=now,
            timezone=timezone,
            retention={
                Granularity.DAY: settings.retention_days,
                Granularity.WEEK: settings.retention_weeks,
                Granularity.MONTH: settings.retention_months,
            },
        )
    except ValueError as error:
        raise ConfigurationError(f"metric settings: {error}") from error


class ContextSource:
    """The current context, refreshed from the clock at most once a second."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._pipelines = load_pipeline_config(settings.pipelines_file)
        self._context = build_context(settings, clock(), self._pipelines)

    def current(self) -> MetricContext:
        now = self._clock()
        if (now - self._context.now).total_seconds() >= REFRESH_SECONDS:
            self._context = self._context.with_now(now)
        return self._context
