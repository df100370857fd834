"""`dealpulse replay` in several processes: the same result as in one, whatever the split."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.errors import ReplayError
from streams.ingest.message import RawMessage
from streams.replay_command import owner, replay
from streams.settings import Settings

runner = CliRunner()
CLOCK = "2026-03-20T00:00:00Z"


@pytest.fixture(scope="module")
def faulty_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated deals with duplicates, disorder, late and invalid messages."""
    path = tmp_path_factory.mktemp("replay") / "events.jsonl"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--deals",
            "400",
            "--start",
            "2026-01-01",
            "--span-days",
            "60",
            "--duplicate-pct",
            "10",
            "--out-of-order-pct",
            "10",
            "--late-pct",
            "5",
            "--invalid-pct",
            "5",
            "--out",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output
    return path


def replayed(source: Path, processes: int, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"result-{processes}.json"
    result = runner.invoke(
        app, ["replay", str(source), "--processes", str(processes), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    written: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    del written["seconds"]
    return written


@pytest.mark.parametrize("processes", [2, 3])
def test_several_processes_give_the_one_process_result(
    faulty_history: Path, processes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEALPULSE_CLOCK", CLOCK)
    alone = replayed(faulty_history, 1, tmp_path)
    assert alone["rows"]
    assert alone["rejected"]
    assert alone["deals"] > 300
    assert replayed(faulty_history, processes, tmp_path) == alone


def test_every_message_of_a_deal_has_one_owner() -> None:
    created = b'{"deal_id": "d-7", "type": "deal.created"}'
    won = b'{"type": "deal.won", "deal_id": "d-7", "amount": "12"}'
    for processes in (2, 3, 5):
        file_owners = {
            owner(RawMessage(key=None, value=value), processes, by_key=False)
            for value in (created, won)
        }
        topic_owners = {
            owner(RawMessage(key=b"d-7", value=value), processes, by_key=True)
            for value in (created, won, b"garbage")
        }
        assert len(file_owners) == 1
        assert len(topic_owners) == 1


def test_a_process_that_fails_stops_the_replay_with_its_error() -> None:
    def unreadable() -> Iterator[RawMessage]:
        raise OSError("the disk went away")

    with pytest.raises(ReplayError, match="the disk went away"):
        replay(Settings(), unreadable, check_key=False, processes=2)
