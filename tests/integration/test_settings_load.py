"""`dealpulse rates load` and `dealpulse pipelines load` against the real broker: what lands
on the control topic, read back and decoded as a worker would."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from streams.domain.pipeline_config import read_pipeline_file
from streams.domain.settings_record import (
    PIPELINES_KEY,
    RATES_KEY,
    RateTable,
    decode_pipelines,
    decode_rates,
)
from tests.support.flow import Flow
from tests.support.kafka_io import end_offsets, read_topic

pytestmark = pytest.mark.integration

FIRST_RATES = "currency,rate\nEUR,1.10\nJPY,0.0067\n"
SECOND_RATES = "rate,currency\n1.12,EUR\n1.13,CHF\n"
BAD_RATES = "currency,rate\nEUR,1.15\nEUR,1.16\n"
PIPELINES = """\
[pipelines.new-business]
stages = [
  { name = "lead", win_probability = 0.19 },
  { name = "demo", win_probability = 0.39 },
]
"""


def load(flow: Flow, what: str, path: Path) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("DEALPULSE")}
    return subprocess.run(
        [sys.executable, "-m", "streams", what, "load", str(path)],
        env={**clean, **flow.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def loaded(flow: Flow, path: Path, content: str, what: str = "rates") -> str:
    path.write_text(content)
    result = load(flow, what, path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def last_record(flow: Flow, key: bytes) -> bytes:
    values = [m.value for m in read_topic(flow.kafka.bootstrap, flow.control) if m.key == key]
    assert values, f"no record keyed {key!r} on {flow.control}"
    assert values[-1] is not None
    return values[-1]


def test_rates_loads_merge_and_a_refused_one_sends_nothing(flow: Flow, tmp_path: Path) -> None:
    said = loaded(flow, tmp_path / "first.csv", FIRST_RATES)
    assert (
        said
        == f"rates loaded onto {flow.control}: EUR 1.08 -> 1.10, JPY added at 0.0067; 4 unchanged"
    )
    said = loaded(flow, tmp_path / "second.csv", SECOND_RATES)
    assert (
        said
        == f"rates loaded onto {flow.control}: CHF added at 1.13, EUR 1.10 -> 1.12; 5 unchanged"
    )
    assert decode_rates(last_record(flow, RATES_KEY)) == RateTable(
        "USD", {"CHF": Decimal("1.13"), "EUR": Decimal("1.12"), "JPY": Decimal("0.0067")}
    )
    ends = end_offsets(flow.kafka.bootstrap, flow.control)
    assert ends == {0: 2}

    (tmp_path / "bad.csv").write_text(BAD_RATES)
    refused = load(flow, "rates", tmp_path / "bad.csv")
    assert refused.returncode == 1
    assert "bad.csv: line 3: duplicate_currency: EUR is on line 2 too" in refused.stderr
    said = loaded(flow, tmp_path / "same.csv", "currency,rate\nJPY,0.00670\n")
    assert said.endswith("nothing published")
    assert end_offsets(flow.kafka.bootstrap, flow.control) == ends


def test_a_pipelines_load_publishes_one_decodable_record(flow: Flow, tmp_path: Path) -> None:
    path = tmp_path / "pipelines.toml"
    said = loaded(flow, path, PIPELINES, what="pipelines")
    assert said.startswith(f"loaded 1 pipeline (stages: new-business (2)) onto {flow.control}")
    (record,) = read_topic(flow.kafka.bootstrap, flow.control)
    assert record.key == PIPELINES_KEY
    assert record.value is not None
    assert decode_pipelines(record.value) == read_pipeline_file(path)
