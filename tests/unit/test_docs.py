"""Docs that match the code: every setting documented, every reason explained."""

from __future__ import annotations

from pathlib import Path

from streams.domain.quota_file import Refusal
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
