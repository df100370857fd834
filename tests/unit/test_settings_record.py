"""Pipelines and rates records: what is encoded decodes to the same, anything else is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.domain.pipeline_config import parse_pipeline_config
from streams.domain.quota_record import record_key
from streams.domain.settings_record import (
    PIPELINES_KIND,
    RATES_KIND,
    RateTable,
    SettingsRecordError,
    decode_pipelines,
    decode_rates,
    encode_pipelines,
    encode_rates,
    settings_kind,
)

CONFIG = parse_pipeline_config(
    {
        "pipelines": {
            "sales": {
                "stages": [
                    {"name": "lead", "win_probability": Decimal("0.15")},
                    {"name": "demo", "win_probability": Decimal("0.5")},
                ]
            }
        }
    }
)


def test_pipelines_round_trip_with_stage_order_and_exact_probabilities() -> None:
    key, value = encode_pipelines(CONFIG)
    assert settings_kind(key) == PIPELINES_KIND
    assert b'"0.15"' in value  # a decimal string, never a float
    decoded = decode_pipelines(value)
    assert [s.name for s in decoded.pipelines["sales"].stages] == ["lead", "demo"]
    assert decoded.pipelines["sales"].win_probability("lead") == Decimal("0.15")


def test_rates_round_trip() -> None:
    table = RateTable("USD", {"EUR": Decimal("1.08"), "JPY": Decimal("0.0067")})
    key, value = encode_rates(table)
    assert settings_kind(key) == RATES_KIND
    assert decode_rates(value) == table


@pytest.mark.parametrize(
    "key", [None, b"", b"not json", b'["quotas","t","2026-12"]', b'["rates","x"]', b"{}"]
)
def test_other_keys_are_not_settings(key: bytes | None) -> None:
    assert settings_kind(key) is None
    assert settings_kind(record_key("t", "2026-12")) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"garbage", "not a rates record"),
        (b'{"format":2,"reporting_currency":"USD","rates":{}}', "format 2"),
        (b'{"format":1,"reporting_currency":"USD","rates":{"EUR":"-1"}}', "positive"),
        (b'{"format":1,"reporting_currency":"USD","rates":{"EUR":"NaN"}}', "positive"),
        (b'{"format":1,"reporting_currency":"USD","rates":{"USD":"2"}}', "to itself"),
        (
            b'{"format":1,"reporting_currency":"USD","rates":{"EUR":"1.' + b"0" * 50 + b'1"}}',
            "significant digits",
        ),
        (b'{"format":1,"reporting_currency":"USD","rates":{},"x":1}', "not a rates record"),
    ],
)
def test_bad_rates_records_are_refused(value: bytes, message: str) -> None:
    with pytest.raises(SettingsRecordError, match=message):
        decode_rates(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"[]", "not a pipelines record"),
        (b'{"format":1,"pipelines":{}}', "non-empty"),
        (
            b'{"format":1,"pipelines":{"p":[{"name":"won","win_probability":"0.5"}]}}',
            "reserved",
        ),
        (b'{"format":1,"pipelines":{"p":[{"name":"a","win_probability":"2"}]}}', "between"),
    ],
)
def test_bad_pipelines_records_are_refused(value: bytes, message: str) -> None:
    with pytest.raises(SettingsRecordError, match=message):
        decode_pipelines(value)
