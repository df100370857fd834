"""The pieces of the Prometheus text format (0.0.4) the business families are written with.

`prometheus_client.generate_latest` validates and escapes every label name of
every sample; at a thousand sellers that was two thirds of a scrape (tens of
thousands of samples, on the worker's event loop). The business families only
use gauges and histograms with fixed, valid label names, so `export_cache`
writes their text itself from these. Engine metrics (counters, process
collectors) still go through `generate_latest`; tests check that the business
body reads as prometheus_client writes the same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from prometheus_client.utils import floatToGoString

go_float = cast(Callable[[float], str], floatToGoString)  # untyped upstream

LabelItems = tuple[tuple[str, str], ...]


def header(name: str, kind: str, help_text: str) -> str:
    """The `# HELP` and `# TYPE` lines of a family."""
    if kind not in ("gauge", "histogram"):
        raise ValueError(f"{name}: only gauges and histograms, not {kind}")
    escaped = help_text.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


def label_text(items: LabelItems) -> str:
    if not items:
        return ""
    pairs = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in sorted(items))
    return "{" + pairs + "}"


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
