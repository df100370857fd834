"""The demo's status line, read from a worker's /metrics page."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.board.scrape import parse_samples
from streams.demo_status import WorkerProgress, status_line

PAGE = """\
# HELP dealpulse_fold_events_total Accepted events that changed a deal's state.
# TYPE dealpulse_fold_events_total counter
dealpulse_fold_events_total 70100.0
# HELP dealpulse_fold_duplicates_total Accepted events whose event_id the deal already had.
# TYPE dealpulse_fold_duplicates_total counter
dealpulse_fold_duplicates_total 812.0
# HELP dealpulse_ingest_messages_total Messages consumed, by outcome.
# TYPE dealpulse_ingest_messages_total counter
dealpulse_ingest_messages_total{outcome="accepted"} 70912.0
dealpulse_ingest_messages_total{outcome="rejected"} 731.0
# HELP dealpulse_consumer_lag Messages not yet folded.
# TYPE dealpulse_consumer_lag gauge
dealpulse_consumer_lag{partition="0"} 100.0
dealpulse_consumer_lag{partition="3"} 23.0
# HELP dealpulse_newest_event_timestamp_seconds Newest event time folded.
# TYPE dealpulse_newest_event_timestamp_seconds gauge
dealpulse_newest_event_timestamp_seconds{partition="0"} 1796628720.0
dealpulse_newest_event_timestamp_seconds{partition="3"} 1796628723.5
"""
URL = "http://127.0.0.1:6066/metrics"
NOW = datetime(2026, 12, 7, 7, 32, 10, tzinfo=UTC)


def test_the_worker_s_progress_is_read_from_its_counters_and_gauges() -> None:
    progress = WorkerProgress.from_samples(parse_samples(PAGE, URL))
    assert progress == WorkerProgress(
        folded=70100,
        duplicates=812,
        dead_lettered=731,
        lag=123,
        newest_event=datetime(2026, 12, 7, 7, 32, 3, 500000, tzinfo=UTC),
    )


def test_the_line_separates_folded_duplicates_and_dead_letters_and_shows_event_time() -> None:
    line = status_line("live", 12345, WorkerProgress.from_samples(parse_samples(PAGE, URL)), NOW)
    assert line == (
        "07:32:10  live: 12,345 sent · worker: 70,100 folded, 812 duplicates, "
        "731 dead-lettered, 123 behind · newest event 07:32:03 UTC"
    )


def test_an_older_event_time_shows_its_date_and_a_silent_worker_is_starting() -> None:
    old = WorkerProgress(1, 0, 0, 0, datetime(2026, 12, 5, 4, 3, tzinfo=UTC))
    assert status_line("live", 5, old, NOW).endswith("newest event 2026-12-05 04:03 UTC")
    assert status_line("live", 5, None, NOW) == "07:32:10  live: 5 sent · worker: starting"
