"""The pipeline configuration and the currency rates as control-topic records.

Each is one record, keyed `["pipelines"]` or `["rates"]` (the first element of
every control key names its kind, as quota records' do), holding the whole
configuration: the compacted topic then keeps exactly the newest of each, and a
worker reading the topic from its start ends with what one that read every load
as it came holds.

The values are JSON with a format number; probabilities and rates are decimal
strings, never floats. A rates record names the reporting currency it was made
for, so a worker reporting in another currency can refuse it instead of
applying rates that mean something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import msgspec

from streams.domain.errors import PipelineConfigError
from streams.domain.money import rate_problem
from streams.domain.pipeline_config import PipelineConfig, parse_pipeline_config

FORMAT_VERSION = 1
PIPELINES_KIND = "pipelines"
RATES_KIND = "rates"
SETTINGS_KINDS = frozenset({PIPELINES_KIND, RATES_KIND})


class SettingsRecordError(ValueError):
    """A control record that is not a valid pipelines or rates record of this format."""


@dataclass(frozen=True, slots=True)
class RateTable:
    """Rates loaded on the control plane: units of `reporting_currency` per unit of each."""

    reporting_currency: str
    rates: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """What the control plane holds of the metric settings: each None until first loaded."""

    pipelines: PipelineConfig | None = None
    rates: RateTable | None = None


class _Stage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    win_probability: Decimal


class _PipelinesRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: int
    pipelines: dict[str, list[_Stage]]
    """Each pipeline's open stages, first to last."""


class _RatesRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: int
    reporting_currency: str
    rates: dict[str, Decimal]


_key_encoder = msgspec.json.Encoder()
_key_decoder = msgspec.json.Decoder(list[str])
_value_encoder = msgspec.json.Encoder(decimal_format="string")
_pipelines_decoder = msgspec.json.Decoder(_PipelinesRecord)
_rates_decoder = msgspec.json.Decoder(_RatesRecord)

PIPELINES_KEY = _key_encoder.encode([PIPELINES_KIND])
RATES_KEY = _key_encoder.encode([RATES_KIND])


def settings_kind(key: bytes | None) -> str | None:
    """`PIPELINES_KIND` or `RATES_KIND` when `key` is that record's key, else None."""
    if key is None:
        return None
    try:
        names = _key_decoder.decode(key)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(names) == 1 and names[0] in SETTINGS_KINDS:
        return names[0]
    return None


def encode_pipelines(config: PipelineConfig) -> tuple[bytes, bytes]:
    record = _PipelinesRecord(
        format=FORMAT_VERSION,
        pipelines={
            name: [_Stage(stage.name, stage.win_probability) for stage in spec.stages]
            for name, spec in config.pipelines.items()
        },
    )
    return PIPELINES_KEY, _value_encoder.encode(record)


def decode_pipelines(value: bytes) -> PipelineConfig:
    """The configuration a pipelines record holds, checked as a pipeline file is."""
    try:
        record = _pipelines_decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise SettingsRecordError(f"not a pipelines record: {error}") from None
    _check_format(record.format, PIPELINES_KIND)
    document = {
        "pipelines": {
            name: {
                "stages": [
                    {"name": stage.name, "win_probability": stage.win_probability}
                    for stage in stages
                ]
            }
            for name, stages in record.pipelines.items()
        }
    }
    try:
        return parse_pipeline_config(document, source="pipelines record")
    except PipelineConfigError as error:
        raise SettingsRecordError(str(error)) from None


def encode_rates(table: RateTable) -> tuple[bytes, bytes]:
    record = _RatesRecord(
        format=FORMAT_VERSION,
        reporting_currency=table.reporting_currency,
        rates=dict(sorted(table.rates.items())),
    )
    return RATES_KEY, _value_encoder.encode(record)


def decode_rates(value: bytes) -> RateTable:
    """The rates a rates record holds: positive finite decimals, the reporting currency's 1."""
    try:
        record = _rates_decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise SettingsRecordError(f"not a rates record: {error}") from None
    _check_format(record.format, RATES_KIND)
    for currency, rate in record.rates.items():
        problem = rate_problem(rate)
        if problem is not None:
            raise SettingsRecordError(f"the rate of {currency}: {problem}")
    if record.rates.get(record.reporting_currency, Decimal(1)) != 1:
        raise SettingsRecordError(f"the rate of {record.reporting_currency} to itself is not 1")
    return RateTable(record.reporting_currency, record.rates)


def _check_format(found: int, kind: str) -> None:
    if found != FORMAT_VERSION:
        raise SettingsRecordError(f"{kind} record format {found}, not {FORMAT_VERSION}")
