"""The CDC launcher without services: the connector's configuration, and the CLI's answers
when PostgreSQL or Connect do not run or cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.bridges.mapping_file import load_mapping
from streams.cdc.local_connect import connector_config, worker_config
from streams.cdc.local_postgres import SCHEMA_FILE
from streams.cli import app
from streams.errors import ConfigurationError
from streams.settings import DEFAULT_ODOO_MAPPING_FILE, Settings

runner = CliRunner()


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("DEALPULSE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("DEALPULSE_LOCAL_KAFKA_PORT", "1")  # nothing answers there
    monkeypatch.setenv("DEALPULSE_LOCAL_POSTGRES_DIR", str(tmp_path / "postgres"))
    monkeypatch.setenv("DEALPULSE_LOCAL_POSTGRES_PORT", "1")
    monkeypatch.setenv("DEALPULSE_LOCAL_CONNECT_DIR", str(tmp_path / "connect"))
    monkeypatch.setenv("DEALPULSE_LOCAL_CONNECT_PORT", "1")
    return tmp_path


def test_the_connector_reads_crm_lead_as_the_bridge_expects() -> None:
    config = connector_config(Settings(local_postgres_port=6543, debezium_topic_prefix="odoo"))
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["plugin.name"] == "pgoutput"
    assert config["decimal.handling.mode"] == "string"
    assert config["table.include.list"] == "public.crm_lead"
    assert config["database.port"] == "6543"
    assert config["topic.prefix"] == "odoo"
    assert Settings(debezium_topic_prefix="odoo").debezium_topic == "odoo.public.crm_lead"


def test_connect_writes_json_without_schemas(tmp_path: Path) -> None:
    config = worker_config(Settings(kafka_bootstrap="k:9092"), tmp_path)
    assert config["bootstrap.servers"] == "k:9092"
    assert config["value.converter.schemas.enable"] == "false"
    assert config["offset.storage.file.filename"] == str(tmp_path / "offsets.dat")


def test_connect_refuses_a_secured_cluster_in_one_line(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="k:9093", kafka_security_protocol="SSL")
    with pytest.raises(ConfigurationError, match="PLAINTEXT only"):
        worker_config(settings, tmp_path)


@pytest.mark.parametrize("service", ["postgres", "connect"])
def test_status_and_down_of_a_service_that_never_ran(isolated: Path, service: str) -> None:
    status = runner.invoke(app, [service, "status"])
    assert status.exit_code == 1
    assert "not running" in status.output
    down = runner.invoke(app, [service, "down"])
    assert down.exit_code == 0
    assert "was not running" in down.output


def test_connect_up_without_kafka_says_to_start_it(isolated: Path) -> None:
    result = runner.invoke(app, ["connect", "up"])
    assert result.exit_code == 1
    assert "dealpulse kafka up" in result.output


def test_postgres_up_on_a_busy_port_names_the_setting(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.cdc.local_postgres.port_in_use", lambda port: True)
    monkeypatch.setattr("streams.cdc.local_postgres.LocalPostgres._init_cluster", lambda self: None)
    result = runner.invoke(app, ["postgres", "up"])
    assert result.exit_code == 1
    assert "DEALPULSE_LOCAL_POSTGRES_PORT" in result.output


def test_the_shipped_mapping_and_schema_agree_on_the_won_stage() -> None:
    mapping = load_mapping(DEFAULT_ODOO_MAPPING_FILE)
    assert mapping.won_stages == {"4"}
    schema = SCHEMA_FILE.read_text()
    assert "(4, 'Won', 70, true)" in schema
    assert "ALTER TABLE crm_lead REPLICA IDENTITY FULL" in schema
