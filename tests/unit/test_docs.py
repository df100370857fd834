"""Docs that match the code: every setting documented, every reason explained."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import pytest

from streams.domain.pipeline_config import PipelineRefusal, parse_pipeline_file
from streams.domain.quota_file import Refusal
from streams.domain.rate_file import RateRefusal, parse_rates
from streams.ingest.rejection import Reason
from streams.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`DEALPULSE_{name.upper()}`" not in text]
    assert missing == []


def test_every_rejection_reason_is_documented() -> None:
    text = (DOCS / "events.md").read_text()
    assert [reason.value for reason in Reason if f"`{reason.value}`" not in text] == []


def test_every_quota_file_refusal_is_documented() -> None:
    text = (DOCS / "metrics.md").read_text()
    assert [reason.value for reason in Refusal if f"| `{reason.value}` |" not in text] == []


def loading_section() -> str:
    text = (DOCS / "metrics.md").read_text()
    start = text.index("### Loading pipelines and rates")
    end = text.find("\n## ", start)
    return text[start:] if end < 0 else text[start:end]


@pytest.mark.parametrize("reasons", [PipelineRefusal, RateRefusal])
def test_every_pipeline_and_rate_file_refusal_is_documented(reasons: type[StrEnum]) -> None:
    text = loading_section()
    assert [reason.value for reason in reasons if f"| `{reason.value}` |" not in text] == []


def test_the_loading_examples_read() -> None:
    text = loading_section()
    json_example = re.search(r"```json\n(.*?)```", text, re.DOTALL)
    csv_example = re.search(r"```csv\n(.*?)```", text, re.DOTALL)
    assert json_example is not None
    assert csv_example is not None
    config = parse_pipeline_file(json_example.group(1).encode(), "json")
    assert [stage.name for stage in config.pipelines["renewal"].stages] == ["upcoming", "commit"]
    rates = parse_rates(csv_example.group(1).encode(), reporting_currency="USD")
    assert rates == {"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")}
