"""The Prometheus text format for the business families, built fast.

`prometheus_client.generate_latest` validates and escapes every label name of
every sample; at a thousand sellers that was two thirds of a scrape (tens of
thousands of samples, on the worker's event loop). The business families only
use gauges and histograms with fixed, valid label names, so this writes the
same text format (0.0.4) with each distinct label set rendered once. Engine
metrics (counters, process collectors) still go through `generate_latest`;
a test checks both give the same samples for the business families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

go_float = cast(Callable[[float], str], floatToGoString)  # untyped upstream

LabelItems = tuple[tuple[str, str], ...]


def render(families: Iterable[Metric]) -> bytes:
    """`families` (gauges and histograms) in the Prometheus text format."""
    out: list[str] = []
    for family in families:
        out.append(render_header(family))
        out.append(render_samples(family))
    return "".join(out).encode()


def render_header(family: Metric) -> str:
    """The `# HELP` and `# TYPE` lines of `family`."""
    return header(family.name, family.type, family.documentation)


def header(name: str, kind: str, help_text: str) -> str:
    """The `# HELP` and `# TYPE` lines of a family."""
    if kind not in ("gauge", "histogram"):
        raise ValueError(f"{name}: only gauges and histograms, not {kind}")
    escaped = help_text.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


def render_samples(family: Metric) -> str:
    """The sample lines of `family`, without its header."""
    rendered_labels: dict[LabelItems, str] = {}
    out: list[str] = []
    for sample in family.samples:
        items = tuple(sample.labels.items())
        text = rendered_labels.get(items)
        if text is None:
            text = rendered_labels[items] = label_text(items)
        out.append(f"{sample.name}{text} {go_float(sample.value)}\n")
    return "".join(out)


def label_text(items: LabelItems) -> str:
    if not items:
        return ""
    pairs = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in sorted(items))
    return "{" + pairs + "}"


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
