"""The worker's settings table: the agent's step, and the settings the engine reads from it."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from streams.domain.pipeline_config import parse_pipeline_config
from streams.domain.quota_record import record_key
from streams.domain.settings_record import (
    PIPELINES_KEY,
    RATES_KEY,
    ControlSettings,
    RateTable,
    encode_pipelines,
    encode_rates,
)
from streams.worker.settings_table import SettingsTable

PIPELINES = parse_pipeline_config(
    {"pipelines": {"sales": {"stages": [{"name": "lead", "win_probability": Decimal("0.2")}]}}}
)
RATES = RateTable("USD", {"EUR": Decimal("1.1")})


def held(*records: tuple[bytes | None, bytes | None]) -> tuple[dict[bytes, bytes], SettingsTable]:
    table: dict[bytes, bytes] = {}
    loaded = SettingsTable(table)
    for key, value in records:
        loaded.hold(key, value, "control[0]@1")
    return table, loaded


def test_nothing_loaded_is_the_defaults() -> None:
    assert held()[1].current() == ControlSettings()


def test_each_record_replaces_its_kind() -> None:
    other = RateTable("USD", {"GBP": Decimal("1.3")})
    _, loaded = held(encode_pipelines(PIPELINES), encode_rates(RATES), encode_rates(other))
    assert loaded.current() == ControlSettings(pipelines=PIPELINES, rates=other)


def test_a_tombstone_removes_its_kind() -> None:
    table, loaded = held(encode_pipelines(PIPELINES), encode_rates(RATES), (PIPELINES_KEY, None))
    assert loaded.current() == ControlSettings(rates=RATES)
    assert list(table) == [RATES_KEY]


def test_other_kinds_and_bad_records_are_not_held() -> None:
    table, loaded = held(
        (record_key("acme", "2026-11"), b"{}"),
        (None, b"{}"),
        (RATES_KEY, b"not json"),
        (PIPELINES_KEY, b'{"format":1,"pipelines":{}}'),
    )
    assert table == {}
    assert loaded.current() == ControlSettings()


def test_an_unreadable_record_written_behind_its_back_keeps_the_last_settings() -> None:
    table, loaded = held(encode_rates(RATES))
    assert loaded.current() == ControlSettings(rates=RATES)
    table[RATES_KEY] = b"garbage"
    assert loaded.current() == ControlSettings(rates=RATES)


def test_a_key_spelt_another_way_is_held_under_its_one_spelling() -> None:
    _, value = encode_rates(RATES)
    table, loaded = held((b'[ "rates" ]', value))
    assert list(table) == [RATES_KEY]
    assert loaded.current() == ControlSettings(rates=RATES)


def test_catch_up_returns_once_the_table_holds_what_the_topic_holds() -> None:
    _, loaded = held()
    on_topic = ControlSettings(rates=RATES)

    async def agent_writes_later() -> bool:
        waiting = asyncio.ensure_future(loaded.catch_up(on_topic, timeout_seconds=30))
        await asyncio.sleep(0)  # the waiter sees the recovered (empty) table first
        assert not waiting.done()
        key, value = encode_rates(RATES)
        loaded.hold(key, value, "control[0]@7")
        return await waiting

    assert asyncio.run(agent_writes_later())
    assert asyncio.run(loaded.catch_up(on_topic, timeout_seconds=30))  # already there


def test_catch_up_accepts_anything_newer_and_gives_up_after_its_timeout() -> None:
    _, loaded = held()

    async def newer() -> bool:
        waiting = asyncio.ensure_future(loaded.catch_up(ControlSettings(rates=RATES), 30))
        await asyncio.sleep(0)
        loaded.hold(*encode_pipelines(PIPELINES), "control[0]@9")  # a load after the start
        return await waiting

    assert asyncio.run(newer())
    assert not asyncio.run(held()[1].catch_up(ControlSettings(rates=RATES), 0.05))
