"""deploy/prometheus's rule files read, and the metric names PromQL selects.

For the Prometheus and the Grafana tests: the recording rules' names, the series the
catalogue exports, and the names in an expression.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from streams.exposition import catalogue as cat

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"

PROMQL_KEYWORDS = {
    "and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan",
}  # fmt: skip


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def recording_rule_names() -> set[str]:
    return {rule["record"] for rule in rules(RULES_DIR / "recording.yml")}


def catalogue_series() -> set[str]:
    names = set()
    for spec in cat.ALL_METRICS:
        names.add(spec.name)
        if spec.kind == "histogram":
            names.update({spec.bucket, spec.sum, spec.count})
    names.update(spec.name for spec in (*cat.QUOTA_METRICS, cat.PERIOD_ELAPSED))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    cleaned = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    cleaned = re.sub(r"\{[^}]*\}", " ", cleaned)
    cleaned = re.sub(r"\[[^\]]*\]", " ", cleaned)
    cleaned = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", cleaned
    )
    names = set()
    for match in re.finditer(r"\d[\w.]*|([A-Za-z_:][\w:]*)(\s*\()?", cleaned):
        name, call = match.group(1), match.group(2)
        if name and not call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names
