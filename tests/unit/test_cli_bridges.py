"""`dealpulse bridge ...`: what is missing is said in one line before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.bridges.mapping_file import load_mapping
from streams.cli import app
from streams.settings import Settings
from streams.simulate_command import simulation_topic
from tests.support.bridges import PIPEDRIVE_TOML
from tests.support.hubspot import HUBSPOT_TOML

runner = CliRunner()
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "bridges"
SECRETS = (
    "DEALPULSE_HUBSPOT_CLIENT_SECRET",
    "DEALPULSE_HUBSPOT_ACCESS_TOKEN",
    "DEALPULSE_PIPEDRIVE_USERNAME",
    "DEALPULSE_PIPEDRIVE_PASSWORD",
)


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("source", "toml", "missing"),
    [
        ("hubspot", HUBSPOT_TOML, "DEALPULSE_HUBSPOT_CLIENT_SECRET"),
        ("pipedrive", PIPEDRIVE_TOML, "DEALPULSE_PIPEDRIVE_USERNAME"),
    ],
)
def test_a_webhook_bridge_without_its_secret_says_which(
    no_secrets: None, tmp_path: Path, source: str, toml: str, missing: str
) -> None:
    mapping = tmp_path / f"{source}.toml"
    mapping.write_text(toml)
    result = runner.invoke(app, ["bridge", source, str(mapping)])
    assert result.exit_code == 1
    assert missing in result.output


def test_a_mapping_file_that_cannot_work_is_named_with_its_line(tmp_path: Path) -> None:
    mapping = tmp_path / "salesforce.toml"
    mapping.write_text('source = "salesforce"\n[stages]\nWon = "won"\n')
    result = runner.invoke(app, ["bridge", "salesforce", str(mapping)])
    assert result.exit_code == 1
    assert "line 2" in result.output
    missing = runner.invoke(app, ["bridge", "pipedrive", str(tmp_path / "absent.toml")])
    assert missing.exit_code == 1
    assert "cannot read mapping file" in missing.output


@pytest.mark.parametrize(
    ("source", "marker"), [("salesforce", '"ChangeEventHeader"'), ("debezium", '"crm_lead"')]
)
def test_simulate_writes_a_crms_own_format(tmp_path: Path, source: str, marker: str) -> None:
    out = tmp_path / f"{source}.jsonl"
    arguments = ["simulate", "--deals", "5", "--start", "2026-10-01", "--format", source]
    result = runner.invoke(app, [*arguments, "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines
    assert all(marker in line for line in lines)


def test_simulated_change_events_go_to_the_topic_their_connect_source_writes() -> None:
    settings = Settings(debezium_topic_prefix="odoo")
    assert simulation_topic(settings, "debezium") == "odoo.public.crm_lead"
    assert simulation_topic(settings, "salesforce") == settings.salesforce_topic
    assert simulation_topic(settings, None) == settings.topic_events


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("*.toml")), ids=lambda path: path.name)
def test_the_shipped_mapping_files_are_valid(path: Path) -> None:
    load_mapping(path)
