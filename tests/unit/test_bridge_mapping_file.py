"""The per-source mapping file: what it says, what it refuses (and on which line), and that
the bridge's mapping modules stay free of Kafka, HTTP servers and Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest

import streams.bridges
from streams.bridges.mapping_file import (
    DEFAULT_LOST_REASON,
    MappingFileError,
    load_mapping,
    parse_mapping,
)
from streams.bridges.refusal import RefusalReason
from tests.support.bridges import PIPEDRIVE_TOML, pipedrive_mapping
from tests.support.imports import imported_roots

FORBIDDEN = {"faust", "mode", "aiokafka", "prometheus_client", "rocksdict", "aiohttp"}


def test_a_mapping_names_pipelines_and_stages_and_passes_unknown_ids_through() -> None:
    mapping = pipedrive_mapping()
    assert mapping.source == "pipedrive"
    assert mapping.tenant == "acme"
    assert mapping.pipeline_for("2") == "renewals"
    assert mapping.pipeline_for("9") == "9"
    assert mapping.pipeline_for(None) is None
    assert mapping.stage_for("3") == "proposal"
    assert mapping.stage_for("42") == "42"
    assert mapping.outcome_of("5") == "won"
    assert mapping.outcome_of("6") == "lost"
    assert mapping.outcome_of("4") is None
    assert mapping.lost_reason == "no reason given"


def test_the_smallest_file_is_a_source() -> None:
    mapping = parse_mapping('source = "hubspot"\n')
    assert mapping.stage_for("appointmentscheduled") == "appointmentscheduled"
    assert mapping.tenant is None
    assert mapping.default_currency is None
    assert mapping.lost_reason == DEFAULT_LOST_REASON


def test_a_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "pipedrive.toml"
    path.write_text(PIPEDRIVE_TOML, encoding="utf-8")
    assert load_mapping(path) == pipedrive_mapping()


def test_a_missing_file_is_a_mapping_file_error(tmp_path: Path) -> None:
    with pytest.raises(MappingFileError, match="cannot read mapping file"):
        load_mapping(tmp_path / "absent.toml")


BAD_FILES = [
    ("not TOML", 'source = "x"\n[stages\n', r"not TOML: .*line 2"),
    ("no source", "[stages]\n1 = 'lead'\n", r"'source' is required"),
    ("unknown key", 'source = "x"\n\npipline = "p"\n', r"\(line 3\): unknown key 'pipline'"),
    ("empty source", 'source = ""\n', r"\(line 1\): 'source' must be a non-empty string"),
    ("stage name not a string", 'source = "x"\n[stages]\n1 = 2\n', r"\(line 3\): '1' must be"),
    (
        "reserved stage name",
        'source = "x"\n\n[stages]\n5 = "won"\n',
        r"\(line 3\): won: reserved for the end of a deal",
    ),
    ("bad currency", 'source = "x"\ncurrency = "usd"\n', r"\(line 2\): 'usd' is not an ISO"),
    (
        "won and lost",
        'source = "x"\n[outcomes]\nwon = [5]\nlost = [5, 6]\n',
        r"\(line 4\): 5: both won and lost",
    ),
    (
        "outcomes not a list",
        'source = "x"\n[outcomes]\nwon = 5\n',
        r"\(line 3\): 'won' must be a list",
    ),
    (
        "unknown outcome",
        'source = "x"\n[outcomes]\nchurned = [7]\n',
        r"\(line 3\): \[outcomes\] takes only",
    ),
    ("float id", 'source = "x"\n[outcomes]\nwon = [5.0]\n', r"\(line 3\): Decimal\('5.0'\)"),
    ("control character", 'source = "a\\u0007b"\n', r"\(line 1\): 'source' holds a control"),
    ("stages not a table", 'source = "x"\nstages = 3\n', r"\(line 2\): 'stages' must be a table"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [pytest.param(text, message, id=name) for name, text, message in BAD_FILES],
)
def test_a_file_that_cannot_work_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(MappingFileError, match=message):
        parse_mapping(text, where="crm.toml")


def test_the_mapping_modules_import_no_adapter_library() -> None:
    package = Path(streams.bridges.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 7
    offenders = {path.name: imported_roots(path) & FORBIDDEN for path in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


DOC = Path(__file__).resolve().parents[2] / "docs" / "crm-bridges.md"


def test_the_documented_example_is_a_valid_mapping_file() -> None:
    text = DOC.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    mapping = parse_mapping(example, where=str(DOC))
    assert mapping.stage_for("3") == "proposal"
    assert mapping.outcome_of("6") == "lost"


def test_every_refusal_reason_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert [reason.value for reason in RefusalReason if f"| `{reason.value}` |" not in text] == []


def test_every_documented_mapping_file_is_valid() -> None:
    blocks = DOC.read_text(encoding="utf-8").split("```toml\n")[1:]
    assert len(blocks) >= 2
    for block in blocks:
        parse_mapping(block.split("```", 1)[0], where=str(DOC))
