"""The whole data flow in one place: the engine, the control plane, the web pages, the timers.

The deal events are consumed by `DealEngine` (a batched aiokafka consumer, run
as a task of the Faust app); Faust keeps the app and worker (lifecycle,
signals, logging), the web pages, the timers and the control plane: an agent
reads the control topic into global tables every worker holds whole (the
quotas; the loaded pipelines and rates, which the engine follows). Topic names
come from the settings; changelog names derive from the app id and a table's
name and must never drift between releases
(`streams.kafka.topics.changelog_topic`, `QUOTA_TABLE`, `SETTINGS_TABLE`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.domain.contributions import ContributionKey
from streams.domain.metric_rows import encode_rows, rows_digest, sorted_items
from streams.domain.quotas import PeriodQuotas
from streams.engine.deal_engine import DealEngine, EngineError
from streams.errors import ConfigurationError
from streams.exposition.export_cache import Changes, ExportCache
from streams.exposition.period_elapsed import render_elapsed
from streams.exposition.quota_export import QuotaExport
from streams.ingest.ingestor import Ingestor
from streams.kafka.loaded_settings import read_loaded_settings
from streams.kafka.topics import CONTROL_PARTITIONS
from streams.metric_context import ContextSource, settings_clock
from streams.settings import Settings
from streams.worker.app import build_app, control_app_id
from streams.worker.engine_metrics import EngineCollector, EngineMetrics
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.ingest_metrics import IngestMetrics
from streams.worker.quota_table import QuotaTable
from streams.worker.settings_table import SettingsTable
from streams.worker.web_guard import HEALTH_PATH, METRICS_PATH, STATE_PATH

log = logging.getLogger(__name__)

STATE_ROWS_PER_CHUNK = 5_000  # rows built and encoded at a time by `state_body`
COMPACT_EVERY_SECONDS = 5.0

QUOTA_TABLE = "quotas"
"""The global table of quotas, keyed by (tenant, period). Faust names its changelog
`<DEALPULSE_APP_ID>-control-quotas-changelog` (`quota_changelog_topic`): the quotas a worker
recovers at start are there, so the name must not change."""
QUOTA_AGENT = "hold-quotas"
"""The agent that reads the control topic's quota records into `QUOTA_TABLE`."""
SETTINGS_TABLE = "settings"
"""The global table of the loaded pipeline configuration and rates (changelog
`<DEALPULSE_APP_ID>-control-settings-changelog`): its name must not change either."""
SETTINGS_AGENT = "hold-settings"
"""The agent that reads the control topic's pipelines and rates records into `SETTINGS_TABLE`."""


def state_body(
    now: datetime,
    partitions: Iterable[int],
    keys: Sequence[ContributionKey],
    values: Sequence[Decimal],
) -> bytearray:
    """`{"now", "partitions": [...], "rows": [...]}`, encoded a few thousand rows at a time.

    Building every row before encoding, then joining the encoded parts, held
    several copies of a large state at once: one request made up the most of a
    worker's peak RSS (docs/performance.md). This holds the body and a few
    thousand rows.
    """
    body = bytearray(
        b'{"now":%s,"partitions":%s,"rows":['
        % (orjson.dumps(now.isoformat()), orjson.dumps(sorted(partitions)))
    )
    items = sorted_items(zip(keys, values, strict=True))
    for start in range(0, len(items), STATE_ROWS_PER_CHUNK):
        if start:
            body += b","
        body += orjson.dumps(encode_rows(items[start : start + STATE_ROWS_PER_CHUNK]))[1:-1]
    body += b"]}"
    return body


def state_digest_body(
    now: datetime,
    partitions: Iterable[int],
    keys: Sequence[ContributionKey],
    values: Sequence[Decimal],
) -> bytes:
    """`{"now", "partitions": [...], "keys", "digest"}` of a worker's aggregates.

    What `?digest=1` answers: a check that knows the expected state compares
    the digest (`metric_rows.rows_digest`) instead of reading every row.
    """
    return orjson.dumps(
        {
            "now": now.isoformat(),
            "partitions": sorted(partitions),
            "keys": len(keys),
            "digest": rows_digest(zip(keys, values, strict=True)),
        }
    )


def quota_changelog_topic(settings: Settings) -> str:
    """The changelog Faust gives `QUOTA_TABLE` (`<app id>-<table>-changelog`)."""
    return f"{control_app_id(settings)}-{QUOTA_TABLE}-changelog"


def settings_changelog_topic(settings: Settings) -> str:
    """The changelog Faust gives `SETTINGS_TABLE`."""
    return f"{control_app_id(settings)}-{SETTINGS_TABLE}-changelog"


@dataclass(frozen=True)
class Topology:
    app: faust.App
    registry: CollectorRegistry
    engine: DealEngine
    quotas: QuotaTable
    loaded: SettingsTable


@dataclass(frozen=True)
class ControlPlane:
    quotas: QuotaTable
    loaded: SettingsTable


def control_plane(app: faust.App, settings: Settings) -> ControlPlane:
    """The control topic, the tables every worker holds and the agents that fill them.

    The control topic and the tables have one partition each (an agent's table is
    co-partitioned with its topic). One worker's agents read the topic (each agent
    sees every record and keeps its own kind); every worker reads the tables'
    changelogs and applies each change as it comes: every partition is a standby
    on every worker, the writer's included (`synchronize_all_active_partitions`),
    so reading goes on after recovery, and the recovery buffer holds one record,
    so nothing waits in it for more (faust-streaming issues 212 and 283;
    `GlobalTable`'s own docstring).
    """
    control = app.topic(
        settings.topic_control,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",  # the agents decode and check the records themselves
        value_serializer="raw",
        partitions=CONTROL_PARTITIONS,
    )
    quotas = QuotaTable(
        _control_table(
            app,
            QUOTA_TABLE,
            "Quotas by (tenant, period), as the control topic's quota records hold them.",
        )
    )
    settings_table = _control_table(
        app,
        SETTINGS_TABLE,
        "The loaded pipeline configuration and rates, as the control topic's records hold them.",
    )
    loaded = SettingsTable(settings_table)

    @settings_table.on_recover  # type: ignore[untyped-decorator]  # untyped upstream
    async def recovered() -> None:
        loaded.recovered.set()

    @app.agent(control, name=QUOTA_AGENT)
    async def hold_quotas(records: Any) -> None:
        async for event in records.events():
            quotas.hold(event.key, event.value, _origin(event.message))

    @app.agent(control, name=SETTINGS_AGENT)
    async def hold_settings(records: Any) -> None:
        async for event in records.events():
            loaded.hold(event.key, event.value, _origin(event.message))

    return ControlPlane(quotas, loaded)


def _control_table(app: faust.App, name: str, help: str) -> Any:
    return app.GlobalTable(
        name,
        partitions=CONTROL_PARTITIONS,
        key_type=bytes,  # raw: the table holds the control records as they are
        value_type=bytes,
        recovery_buffer_size=1,
        synchronize_all_active_partitions=True,
        help=help,
    )


async def _catch_up(settings: Settings, loaded: SettingsTable) -> None:
    """Wait until the settings table holds what the control topic holds (`catch_up`)."""
    try:
        on_topic = await read_loaded_settings(settings)
    except ConfigurationError as error:  # a record the agent skips too: nothing to wait for
        log.warning("loaded settings unreadable on the control topic", extra={"error": str(error)})
        return
    if not await loaded.catch_up(on_topic, settings.control_catch_up_seconds):
        log.warning(
            "the settings table has not caught up with the control topic: starting anyway",
            extra={"seconds": settings.control_catch_up_seconds},
        )


def _origin(message: Any) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"


def build_topology(settings: Settings) -> Topology:
    app = build_app(settings)
    plane = control_plane(app, settings)
    quotas = plane.quotas
    registry = CollectorRegistry()
    clock = settings_clock(settings)
    contexts = ContextSource(settings, clock)
    engine_metrics = EngineMetrics(registry, settings.topic_partitions)
    engine = DealEngine(
        settings,
        contexts,
        Ingestor(settings, clock),
        fold_metrics=FoldMetrics(registry),
        ingest_metrics=IngestMetrics(registry),
        engine_metrics=engine_metrics,
        control=plane.loaded.current,
    )
    registry.register(EngineCollector(engine, engine.lag))
    business = ExportCache(  # rendered by itself, not `generate_latest`: see there
        engine,
        contexts,
        settings.export_windows,
        max_sellers_per_tenant=settings.max_sellers_per_tenant,
    )
    one_scrape_at_a_time = asyncio.Lock()  # each scrape applies the changes since the last

    @app.task  # type: ignore[untyped-decorator]  # untyped upstream
    async def consume() -> None:
        try:
            await plane.loaded.recovered.wait()  # the loaded settings first
            await _catch_up(settings, plane.loaded)
            await engine.run()
        except Exception as error:  # broker, disk or bug: the worker stops, and says so
            kind = "engine stopped" if isinstance(error, EngineError) else "engine failed"
            log.critical("%s: %s", kind, error, exc_info=not isinstance(error, EngineError))
            await app.crash(error)

    @app.timer(COMPACT_EVERY_SECONDS)  # type: ignore[untyped-decorator]  # untyped
    async def compact() -> None:
        """Bounded state: a few deals beyond retention (or deleted) shrink to a snapshot."""
        await engine.compact_some()

    quota_export = QuotaExport(settings.export_windows, settings.max_sellers_per_tenant)

    def render(changes: Changes, held: tuple[PeriodQuotas, ...]) -> bytes:
        """The business families, then the quotas, capped as those were, then the elapsed
        fraction of the periods (off the loop)."""
        body = business.render(changes)
        ctx = changes.ctx
        shown = business.shown_sellers()
        quota_body = quota_export.render(held, ctx.now, ctx.timezone, shown)
        return body + quota_body + render_elapsed(ctx.now, ctx.timezone)

    async def expose_business() -> bytes:
        async with one_scrape_at_a_time:
            changes = business.take()  # on the loop: it reads the aggregates
            held = quotas.current()  # and the quota table
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, render, changes, held)

    @app.page(METRICS_PATH)
    async def metrics(web: Any, request: Any) -> Any:
        started = time.perf_counter()
        # Shielded: a scrape given up by its client must still finish applying the
        # changes it took, before the next one takes more.
        exposed = await asyncio.shield(asyncio.ensure_future(expose_business()))
        body = generate_latest(registry) + exposed
        engine_metrics.scrape_duration.set(time.perf_counter() - started)
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def aggregates(web: Any, request: Any) -> Any:
        ctx = contexts.current()
        owned = engine.partitions
        found = engine.aggregates(ctx)
        if request.query.get("recompute"):  # a check: from the stores, not the live aggregates
            ctx, owned, found = await engine.recompute()
        digest = bool(request.query.get("digest"))
        if not digest and len(found) > settings.web_state_max_rows:
            return web.json(
                {
                    "error": f"{len(found)} rows is over DEALPULSE_WEB_STATE_MAX_ROWS "
                    f"({settings.web_state_max_rows}); ask ?digest=1"
                },
                status=413,
            )
        # Copied on the loop (the engine changes the aggregates), encoded off it: seconds
        # for a large state, and the loop must keep heartbeating meanwhile.
        keys, values = found.columns()
        encode = state_digest_body if digest else state_body
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, encode, ctx.now, owned, keys, values)
        return web.bytes(body, headers={"Content-Type": "application/json"})

    if settings.web_state_enabled:  # opt-in (and behind the guard's authentication)
        app.page(STATE_PATH)(aggregates)

    @app.page(HEALTH_PATH)
    async def health(web: Any, request: Any) -> Any:
        """Whether this worker owns partitions and has read all they held at its last fetch."""
        faults = engine.faults
        return web.json(
            {
                "partitions": engine.partitions,
                "lag": engine.lag(),
                "caught_up": engine.caught_up and not faults,
                "faulted": {str(partition): why for partition, why in faults.items()},
            }
        )

    return Topology(app=app, registry=registry, engine=engine, quotas=quotas, loaded=plane.loaded)
