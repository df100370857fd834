"""The demo's status line: what was sent, and what the worker did with it, from its /metrics.

Read from the worker's own page, as Prometheus would (with the worker's
credentials, like the board), so the line shows what a
dashboard would: events folded, duplicates recognised, messages dead-lettered,
how far behind the worker is, and how far event time has got.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.samples import Sample

from streams.board.scrape import MetricsPage
from streams.errors import ScrapeError
from streams.worker.engine_metrics import NEWEST_EVENT_TIMESTAMP


@dataclass(frozen=True, slots=True)
class WorkerProgress:
    folded: int
    duplicates: int
    dead_lettered: int
    lag: int
    newest_event: datetime | None

    @classmethod
    def from_samples(cls, samples: Iterable[Sample]) -> WorkerProgress:
        counters: dict[str, float] = {}
        lag = 0.0
        newest: float | None = None
        for sample in samples:
            if sample.name == "dealpulse_consumer_lag":
                lag += sample.value
            elif sample.name == NEWEST_EVENT_TIMESTAMP:
                newest = sample.value if newest is None else max(newest, sample.value)
            elif sample.name == "dealpulse_ingest_messages_total":
                counters[f"ingest_{sample.labels.get('outcome')}"] = sample.value
            else:
                counters[sample.name] = sample.value
        return cls(
            folded=int(counters.get("dealpulse_fold_events_total", 0)),
            duplicates=int(counters.get("dealpulse_fold_duplicates_total", 0)),
            dead_lettered=int(counters.get("ingest_rejected", 0)),
            lag=int(lag),
            newest_event=None if newest is None else datetime.fromtimestamp(newest, UTC),
        )


def scrape_progress(page: MetricsPage) -> WorkerProgress | None:
    """The worker's progress, or None while its page does not answer (it is starting)."""
    try:
        return WorkerProgress.from_samples(page.read())
    except ScrapeError:
        return None


def status_line(phase: str, sent: int, progress: WorkerProgress | None, now: datetime) -> str:
    """One line: the simulator's phase and count, then the worker's, then event time."""
    line = f"{now:%H:%M:%S}  {phase}: {sent:,} sent"
    if progress is None:
        return f"{line} · worker: starting"
    line += (
        f" · worker: {progress.folded:,} folded, {progress.duplicates:,} duplicates, "
        f"{progress.dead_lettered:,} dead-lettered"
    )
    if progress.lag:
        line += f", {progress.lag:,} behind"
    if progress.newest_event is not None:
        line += f" · newest event {_event_time(progress.newest_event, now)}"
    return line


def _event_time(moment: datetime, now: datetime) -> str:
    if moment.date() == now.date():
        return f"{moment:%H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"
