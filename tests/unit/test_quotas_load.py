"""`dealpulse quotas load`: everything checked before anything is sent, and nothing sent when
anything is wrong (no broker needed: the publisher is replaced)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from streams import cli, quotas_command
from streams.cli import app
from streams.domain.errors import QuotaFileError
from streams.errors import ConfigurationError
from streams.quotas_command import load_quotas
from streams.settings import Settings
from tests.support.control import Publisher

GOOD = """period,tenant,seller,team,amount
2026-11,,alice,emea,100000
2026-11,,bob,,80000.50
2026-11,,,emea,250000
2026-Q4,,alice,emea,300000
2026-Q4,acme,carol,,42
"""
BAD = """period,seller,amount
2026-11,alice,100
2026-13,bob,5
2026-11,carol,-1
2026-11,alice,7
"""
SETTINGS = Settings(topic_control="ctl")


def test_one_record_per_tenant_and_period_in_one_publication(tmp_path: Path) -> None:
    path = tmp_path / "quotas.csv"
    path.write_text(GOOD)
    publish = Publisher()
    summary = load_quotas(SETTINGS, path, publish)
    (records,) = publish.sent
    assert [orjson.loads(key) for key, _ in records] == [
        ["quotas", "acme", "2026-Q4"],
        ["quotas", "default", "2026-11"],
        ["quotas", "default", "2026-Q4"],
    ]
    said = summary.describe()
    assert said.startswith(
        "loaded 5 quota rows (4 seller, 1 team) for 2 periods (2026-11, 2026-Q4) of 2 tenants "
        "(acme, default) onto ctl; 3 records, the largest "
    )


def test_a_bad_row_anywhere_publishes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "quotas.csv"
    path.write_text(BAD)
    publish = Publisher()
    with pytest.raises(QuotaFileError) as refused:
        load_quotas(SETTINGS, path, publish)
    assert publish.sent == []
    assert [(p.line, p.reason) for p in refused.value.problems] == [
        (3, "bad_period"),
        (4, "negative_amount"),
        (5, "duplicate_row"),
    ]


def test_a_period_too_large_for_one_record_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quotas_command, "RECORD_LIMIT_BYTES", 150)
    path = tmp_path / "quotas.csv"
    path.write_text(GOOD)
    publish = Publisher()
    with pytest.raises(ConfigurationError, match=r"tenant 'default' in 2026-11 has 3 quotas"):
        load_quotas(SETTINGS, path, publish)
    assert publish.sent == []


def test_the_command_lists_each_problem_then_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = Publisher()
    monkeypatch.setattr(quotas_command, "publish_records", publish)
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    result = CliRunner().invoke(app, ["quotas", "load", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "bad.csv: line 3: bad_period: '2026-13': no month number 13 in a year",
        "bad.csv: line 4: negative_amount: -1 is below zero",
        "bad.csv: line 5: duplicate_row: seller 'alice' of tenant 'default' in 2026-11 is on "
        "line 2 too",
        "error: bad.csv refused, nothing loaded: 3 problems on 3 lines (bad_period 1, "
        "duplicate_row 1, negative_amount 1)",
    ]
    assert publish.sent == []


def test_the_command_shows_the_first_problems_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quotas_command, "publish_records", Publisher())
    path = tmp_path / "many.csv"
    path.write_text("period,seller,amount\n" + "".join(f"2026-13,s{n},1\n" for n in range(25)))
    result = CliRunner().invoke(app, ["quotas", "load", str(path)])
    lines = result.stderr.splitlines()
    assert len(lines) == cli.PROBLEMS_SHOWN + 2
    assert lines[-2] == "... and 5 more"
    assert lines[-1].endswith("25 problems on 25 lines (bad_period 25)")


def test_the_command_says_what_it_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish = Publisher()
    monkeypatch.setattr(quotas_command, "publish_records", publish)
    path = tmp_path / "quotas.csv"
    path.write_text(GOOD)
    result = CliRunner().invoke(app, ["quotas", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("loaded 5 quota rows (4 seller, 1 team) for 2 periods")
    assert len(publish.sent) == 1


def test_a_file_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["quotas", "load", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'nope.csv'} does not exist: give a quota file (CSV)"
    )
