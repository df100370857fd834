"""The worker's static group instance id: one per worker, the same across its restarts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.engine.deal_engine import KafkaClients
from streams.settings import Settings

KAFKA_INSTANCE_ID = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def test_a_restarted_worker_has_the_same_instance_id(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "worker", web_port=6066)
    restarted = Settings(data_dir=tmp_path / "worker", web_port=6066)

    assert first.consumer_group_instance_id == restarted.consumer_group_instance_id


def test_another_web_address_is_another_member(tmp_path: Path) -> None:
    """Faust's assignor asserts the assignment it gets back was made for its own address."""
    first = Settings(data_dir=tmp_path / "worker", web_port=6066)
    moved = Settings(data_dir=tmp_path / "worker", web_port=7077)

    assert first.consumer_group_instance_id != moved.consumer_group_instance_id


def test_two_data_directories_give_two_instance_ids(tmp_path: Path) -> None:
    one = Settings(data_dir=tmp_path / "one").consumer_group_instance_id
    other = Settings(data_dir=tmp_path / "other").consumer_group_instance_id

    assert one != other


def test_the_derived_instance_id_is_one_kafka_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "pod/ünïcode host:1")

    derived = Settings(data_dir=tmp_path / "a dir with spaces").consumer_group_instance_id

    assert derived is not None
    assert KAFKA_INSTANCE_ID.match(derived)


def test_an_explicit_name_starts_the_instance_id() -> None:
    instance_id = Settings(group_instance_id="worker-0").consumer_group_instance_id

    assert instance_id is not None
    assert instance_id.startswith("worker-0-")
    assert KAFKA_INSTANCE_ID.match(instance_id)


def test_an_instance_id_kafka_would_refuse_is_a_settings_error() -> None:
    with pytest.raises(ValidationError):
        Settings(group_instance_id="worker 0")


def test_dynamic_membership_has_no_instance_id() -> None:
    settings = Settings(static_membership=False, group_instance_id="worker-0")

    assert settings.consumer_group_instance_id is None


def test_the_engine_joins_its_group_with_the_instance_id(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "worker")

    options = KafkaClients(settings).consumer_options()

    assert options["group_id"] == settings.app_id
    assert options["group_instance_id"] == settings.consumer_group_instance_id
    assert options["enable_auto_commit"] is False
