"""The CLI's error paths, through Typer's test runner (no broker needed)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.domain.context import MetricContext
from streams.domain.events import DealEvent
from streams.domain.replay import compute
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.logs import LibraryNoiseFilter
from streams.metric_context import build_context
from streams.settings import Settings

runner = CliRunner()


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DEALPULSE_KAFKA_BOOTSTRAP",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEALPULSE_LOCAL_KAFKA_DIR", str(tmp_path / "kafka"))
    monkeypatch.setenv("DEALPULSE_LOCAL_KAFKA_PORT", "1")  # nothing answers there
    return tmp_path


def test_missing_java_says_what_to_install(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated))
    result = runner.invoke(app, ["kafka", "up"])
    assert result.exit_code == 1
    assert "`java` was not found" in result.output
    assert "apt-get install" in result.output
    assert "DEALPULSE_KAFKA_BOOTSTRAP" in result.output


def test_status_of_a_broker_that_never_ran(isolated: Path) -> None:
    result = runner.invoke(app, ["kafka", "status"])
    assert result.exit_code == 1
    assert "not running" in result.output


def test_invalid_settings_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_TOPIC_PARTITIONS", "zero")
    result = runner.invoke(app, ["kafka", "status"])
    assert result.exit_code == 2
    assert "DEALPULSE_TOPIC_PARTITIONS='zero'" in result.output


def test_simulate_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = runner.invoke(
        app, ["simulate", "--deals", "5", "--start", "2026-01-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    assert lines
    assert f"{len(lines)} messages written to {out}" in result.output


def test_simulate_rejects_a_bad_percentage() -> None:
    result = runner.invoke(app, ["simulate", "--invalid-pct", "140", "--out", "-"])
    assert result.exit_code == 2


def test_kafka_up_with_an_external_cluster_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_KAFKA_BOOTSTRAP", "kafka.example:9092")
    result = runner.invoke(app, ["kafka", "up"])
    assert result.exit_code == 0
    assert "using kafka.example:9092" in result.output


def _event(event_id: str, event_type: str, at: str, **fields: str) -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "schema_version": 1,
            "type": event_type,
            "occurred_at": at,
            "deal_id": "d1",
            **fields,
        }
    )


CREATED = _event(
    "e1",
    "deal.created",
    "2026-03-02T09:00:00Z",
    pipeline="new-business",
    stage="lead",
    owner="ann",
    amount="1200.00",
    currency="EUR",
)
WON_AS_E2 = _event("e2", "deal.won", "2026-03-10T09:00:00Z")
DELETED_AS_E2 = _event("e2", "deal.deleted", "2026-03-12T09:00:00Z")


@pytest.mark.parametrize(
    "lines",
    [
        [CREATED, WON_AS_E2, DELETED_AS_E2],
        [CREATED, DELETED_AS_E2, WON_AS_E2],
        [DELETED_AS_E2, WON_AS_E2, CREATED, WON_AS_E2],
    ],
)
def test_replay_keeps_a_deletion_over_a_reused_id_as_the_stream_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str]
) -> None:
    """A deal won as `e2`, then deleted under `e2`: deleted, in any order (docs/events.md)."""
    monkeypatch.setenv("DEALPULSE_CLOCK", "2026-03-20T00:00:00Z")
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["replay", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["rows"] == []
    assert (written["distinct_events"], written["deals"]) == (2, 1)
    events = [ingested(line) for line in lines]
    assert compute(events, context_at("2026-03-20T00:00:00Z")) == {}
    assert "events/s" in result.output


def test_replay_keeps_a_win_when_its_id_is_reused_by_another_deal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are per deal: another deal's `e2` deletes nothing here."""
    monkeypatch.setenv("DEALPULSE_CLOCK", "2026-03-20T00:00:00Z")
    other = DELETED_AS_E2.replace('"d1"', '"d2"')
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join([CREATED, WON_AS_E2, other]) + "\n", encoding="utf-8")
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["replay", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    won = [row for row in rows if row[0] == "dealpulse_deals_won" and row[2] == "month"]
    assert [row[-1] for row in won] == ["1"]


def ingested(line: str) -> DealEvent:
    outcome = Ingestor(Settings(), clock=lambda: datetime.now(UTC)).ingest(
        RawMessage(key=b"d1", value=line.encode())
    )
    assert isinstance(outcome, DealEvent)
    return outcome


def context_at(now: str) -> MetricContext:
    settings = Settings(clock=datetime.fromisoformat(now))
    return build_context(settings, datetime.fromisoformat(now))


def test_library_noise_is_held_back_and_counted() -> None:
    now = [0.0]
    noise = LibraryNoiseFilter(interval_seconds=30, clock=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)

    first = record("aiokafka.conn", "Unable connect to %s")
    assert noise.filter(first)
    assert not hasattr(first, "held_back")
    assert [noise.filter(record("aiokafka.conn", "Unable connect to %s")) for _ in range(99)] == [
        False
    ] * 99
    assert noise.filter(record("aiokafka.conn", "another message"))
    assert noise.filter(record("streams.engine", "Unable connect to %s"))  # ours: never held
    now[0] = 31.0
    summary = record("aiokafka.conn", "Unable connect to %s")
    assert noise.filter(summary)
    assert vars(summary)["held_back"] == 99


def test_replay_of_a_file_with_no_event_says_where_and_fails(tmp_path: Path) -> None:
    source = tmp_path / "garbage.jsonl"
    source.write_text('garbage\n{"a": 1}\n\n[1, 2]\nnot json either\n', encoding="utf-8")
    result = runner.invoke(app, ["replay", str(source)])
    assert result.exit_code == 1
    assert "2 (line 1, line 5)" in result.output
    assert "no message was accepted" in result.output


def test_replay_without_a_source_says_what_to_give() -> None:
    result = runner.invoke(app, ["replay"])
    assert result.exit_code == 2
    assert "give a JSONL file or --topic" in result.output
    assert "not both" not in result.output


def test_replay_prints_counts_as_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_CLOCK", "2026-03-20T00:00:00Z")
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join([CREATED, WON_AS_E2]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["replay", str(source)])
    assert result.exit_code == 0, result.output
    (won,) = [line for line in result.output.splitlines() if "deals won" in line]
    assert "1.00" not in won
    assert " 1 " in won


def test_simulate_to_a_path_that_cannot_be_written_fails_in_one_line() -> None:
    result = runner.invoke(app, ["simulate", "--deals", "3", "--out", "/nonexistent/x.jsonl"])
    assert result.exit_code == 1
    assert "cannot write /nonexistent/x.jsonl" in result.output
    assert "Traceback" not in result.output
