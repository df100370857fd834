"""Building the domain's `MetricContext` from the settings, and the clock behind it.

The context depends on `now` only through retention cutoffs, which move at
window boundaries; `ContextSource` therefore rebuilds it at most once a second
instead of for every event.

The pipeline configuration and the rates come from the files and environment
(`DEALPULSE_PIPELINES_FILE`, `DEALPULSE_CURRENCY_RATES`) until the control plane
holds them (`ControlSettings`): a loaded pipeline configuration replaces the
file's; loaded rates change or add to the environment's, which stay the base.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.domain.context import MetricContext
from streams.domain.pipeline_config import PipelineConfig, load_pipeline_config
from streams.domain.settings_record import ControlSettings
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
    settings: Settings,
    now: datetime,
    pipelines: PipelineConfig | None = None,
    rates: Mapping[str, Decimal] | None = None,
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
            rates=settings.currency_rates if rates is None else rates,
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


def check_loaded(settings: Settings, control: ControlSettings) -> None:
    """`ConfigurationError` when the loaded rates were made for another reporting currency."""
    rates = control.rates
    if rates is not None and rates.reporting_currency != settings.reporting_currency:
        raise ConfigurationError(
            f"rates loaded for {rates.reporting_currency}, but this process reports in "
            f"{settings.reporting_currency} (DEALPULSE_REPORTING_CURRENCY)"
        )


def effective_rates(settings: Settings, control: ControlSettings) -> dict[str, Decimal]:
    """The environment's rates, changed or added to by the loaded ones.

    Rates loaded for another reporting currency mean something else: they are
    not applied (`ContextSource.configured` refuses them first).
    """
    loaded = control.rates
    if loaded is None or loaded.reporting_currency != settings.reporting_currency:
        return dict(settings.currency_rates)
    return {**settings.currency_rates, **loaded.rates}


class ContextSource:
    """The current context, refreshed from the clock at most once a second."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._file_pipelines = load_pipeline_config(settings.pipelines_file)
        self._context = build_context(settings, clock(), self._file_pipelines)
        self._control = ControlSettings()

    def current(self) -> MetricContext:
        now = self._clock()
        if (now - self._context.now).total_seconds() >= REFRESH_SECONDS:
            self._context = self._context.with_now(now)
        return self._context

    @property
    def control(self) -> ControlSettings:
        """The control plane's settings the current context was built with."""
        return self._control

    def configured(self, control: ControlSettings) -> MetricContext:
        """The context `control` would give, now (not adopted: see `adopt`).

        `ConfigurationError` when it cannot be used: rates made for another
        reporting currency, or rates the domain refuses.
        """
        check_loaded(self._settings, control)
        try:
            return dataclasses.replace(
                self.current(),
                pipelines=control.pipelines or self._file_pipelines,
                rates=effective_rates(self._settings, control),
            )
        except ValueError as error:
            raise ConfigurationError(f"loaded settings: {error}") from error

    def adopt(self, control: ControlSettings, ctx: MetricContext) -> None:
        """From now on, contexts are `ctx` (built by `configured(control)`) at the clock's time."""
        self._control = control
        self._context = ctx

    def currencies(self) -> frozenset[str]:
        """The currencies an event may be in: those with a rate, and the reporting one."""
        return frozenset(self._context.rates) | {self._settings.reporting_currency}
