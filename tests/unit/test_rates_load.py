"""`dealpulse rates load`: the file merged into the rates loaded before, changes told against
the rates the workers use, one record or none (no broker needed: the control topic's rates
record and the publisher are replaced)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams import rates_command
from streams.cli import app
from streams.domain.errors import RateFileError
from streams.domain.settings_record import RATES_KEY, RateTable, decode_rates, encode_rates
from streams.errors import ConfigurationError
from streams.rates_command import RateChange, load_rates, plan_rates
from streams.settings import DEFAULT_RATES, Settings
from tests.support.control import Publisher

SETTINGS = Settings(topic_control="ctl")  # USD, DEFAULT_RATES: USD 1, EUR 1.08, GBP, CAD, AUD


class LoadedRecord:
    """The rates record a load finds on the control topic."""

    def __init__(self, table: RateTable | None = None) -> None:
        self.value = None if table is None else encode_rates(table)[1]

    async def __call__(self, settings: Settings) -> bytes | None:
        return self.value


def loaded(**rates: str) -> LoadedRecord:
    return LoadedRecord(RateTable("USD", {name: Decimal(rate) for name, rate in rates.items()}))


def rate_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text("currency,rate\n" + "".join(f"{row}\n" for row in rows))
    return path


def published_rates(publish: Publisher) -> dict[str, Decimal]:
    ((key, value),) = publish.sent[0]
    assert key == RATES_KEY
    table = decode_rates(value)
    assert table.reporting_currency == "USD"
    return dict(table.rates)


def test_the_first_load_changes_and_adds_against_the_setting(tmp_path: Path) -> None:
    publish = Publisher()
    path = rate_file(tmp_path, "EUR,1.10", "JPY,0.0067")
    summary = load_rates(SETTINGS, path, LoadedRecord(), publish)
    assert published_rates(publish) == {"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")}
    assert summary.describe() == (
        "rates loaded onto ctl: EUR 1.08 -> 1.10, JPY added at 0.0067; 4 unchanged"
    )


def test_a_load_keeps_every_rate_loaded_before_and_the_file_wins(tmp_path: Path) -> None:
    publish = Publisher()
    path = rate_file(tmp_path, "EUR,1.12", "CHF,1.13")
    summary = load_rates(SETTINGS, path, loaded(EUR="1.10", JPY="0.0067"), publish)
    assert published_rates(publish) == {
        "CHF": Decimal("1.13"),
        "EUR": Decimal("1.12"),
        "JPY": Decimal("0.0067"),
    }
    assert summary.describe() == (
        "rates loaded onto ctl: CHF added at 1.13, EUR 1.10 -> 1.12; 5 unchanged"
    )


def test_a_load_that_changes_nothing_publishes_nothing(tmp_path: Path) -> None:
    publish = Publisher()
    path = rate_file(tmp_path, "EUR,1.1", "GBP,1.27", "USD,1.0")
    summary = load_rates(SETTINGS, path, loaded(EUR="1.10"), publish)
    assert publish.sent == []
    assert summary.describe() == (
        "rates on ctl unchanged: the file's 3 rates are already in use; nothing published"
    )


@pytest.mark.parametrize(
    ("configured", "before", "listed", "merged", "changes", "unchanged"),
    [
        # (setting, record on the topic, file) -> (record published, changes, unchanged)
        ({}, {}, {"EUR": "1.1"}, {"EUR": "1.1"}, [("EUR", None, "1.1")], 1),  # USD implied
        (DEFAULT_RATES, {}, {"AUD": "0.66"}, {"AUD": "0.66"}, [], 5),  # as the setting says
        (
            DEFAULT_RATES,
            {"AUD": "0.70"},
            {"AUD": "0.66"},
            {"AUD": "0.66"},
            [("AUD", "0.70", "0.66")],
            4,
        ),
        (DEFAULT_RATES, {"JPY": "0.0067"}, {"JPY": "0.00670"}, {"JPY": "0.00670"}, [], 6),
        ({}, {"EUR": "1.1"}, {"USD": "1"}, {"EUR": "1.1", "USD": "1"}, [], 2),
    ],
)
def test_plan(
    configured: dict[str, Decimal],
    before: dict[str, str],
    listed: dict[str, str],
    merged: dict[str, str],
    changes: list[tuple[str, str | None, str]],
    unchanged: int,
) -> None:
    plan = plan_rates(
        "USD",
        configured,
        {name: Decimal(rate) for name, rate in before.items()},
        {name: Decimal(rate) for name, rate in listed.items()},
    )
    assert plan.merged == {name: Decimal(rate) for name, rate in merged.items()}
    assert plan.changes == tuple(
        RateChange(name, None if old is None else Decimal(old), Decimal(new))
        for name, old, new in changes
    )
    assert plan.unchanged == unchanged


def test_rates_are_shown_without_exponents() -> None:
    assert str(RateChange("IDR", None, Decimal("6.1E-5"))) == "IDR added at 0.000061"
    assert str(RateChange("EUR", Decimal("1.08"), Decimal("11E-1"))) == "EUR 1.08 -> 1.1"


def test_a_record_for_another_reporting_currency_is_refused(tmp_path: Path) -> None:
    publish = Publisher()
    record = LoadedRecord(RateTable("EUR", {"USD": Decimal("0.92")}))
    with pytest.raises(ConfigurationError) as refused:
        load_rates(SETTINGS, rate_file(tmp_path, "GBP,1.3"), record, publish)
    assert str(refused.value) == (
        "the rates on ctl were loaded for the reporting currency EUR, and "
        "DEALPULSE_REPORTING_CURRENCY is USD: nothing loaded (rates in another currency would "
        "mean something else)"
    )
    assert publish.sent == []


def test_a_record_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    publish = Publisher()
    record = LoadedRecord()
    record.value = b'{"format": 9}'
    with pytest.raises(ConfigurationError, match=r"^the rates record on ctl cannot be read"):
        load_rates(SETTINGS, rate_file(tmp_path, "GBP,1.3"), record, publish)
    assert publish.sent == []


def test_a_bad_file_reads_nothing_from_kafka_and_publishes_nothing(tmp_path: Path) -> None:
    async def no_kafka(settings: Settings) -> bytes | None:
        raise AssertionError("a refused file reads no record")

    publish = Publisher()
    with pytest.raises(RateFileError):
        load_rates(SETTINGS, rate_file(tmp_path, "EUR,1.1", "EUR,1.2"), no_kafka, publish)
    assert publish.sent == []


@pytest.fixture
def control_topic(monkeypatch: pytest.MonkeyPatch) -> Publisher:
    """The command's control topic: `ctl`, no rates record on it yet, what it publishes kept."""
    monkeypatch.setenv("DEALPULSE_TOPIC_CONTROL", "ctl")
    monkeypatch.delenv("DEALPULSE_REPORTING_CURRENCY", raising=False)
    monkeypatch.delenv("DEALPULSE_CURRENCY_RATES", raising=False)
    publish = Publisher()
    monkeypatch.setattr(rates_command, "publish_records", publish)
    monkeypatch.setattr(rates_command, "read_rates_record", LoadedRecord())
    return publish


def test_the_command_lists_each_problem_then_fails_in_one_line(
    tmp_path: Path, control_topic: Publisher
) -> None:
    path = rate_file(tmp_path, "EUR,1.1", "eur,1.2", "USD,2", "JPY,0")
    result = CliRunner().invoke(app, ["rates", "load", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "rates.csv: line 3: bad_currency: 'eur': write it in upper case, EUR",
        "rates.csv: line 4: reporting_currency_rate: USD is the reporting currency: its rate "
        "is 1, not 2",
        "rates.csv: line 5: rate_not_positive: 0 is not above zero (units of the reporting "
        "currency per unit)",
        "error: rates.csv refused, nothing loaded: 3 problems on 3 lines (bad_currency 1, "
        "rate_not_positive 1, reporting_currency_rate 1)",
    ]
    assert control_topic.sent == []


def test_the_command_shows_the_first_problems_and_counts_the_rest(
    tmp_path: Path, control_topic: Publisher
) -> None:
    path = rate_file(tmp_path, *(f"C{n:02},1" for n in range(25)))
    result = CliRunner().invoke(app, ["rates", "load", str(path)])
    lines = result.stderr.splitlines()
    assert len(lines) == 22
    assert lines[-2] == "... and 5 more"
    assert lines[-1].endswith("25 problems on 25 lines (bad_currency 25)")


def test_the_command_says_what_changed(tmp_path: Path, control_topic: Publisher) -> None:
    result = CliRunner().invoke(app, ["rates", "load", str(rate_file(tmp_path, "JPY,0.0067"))])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "rates loaded onto ctl: JPY added at 0.0067; 5 unchanged"
    assert len(control_topic.sent) == 1


def test_a_file_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rates", "load", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'nope.csv'} does not exist: give a rate file (CSV)"
    )
