"""The Grafana boards of dealpulse, as code (grafana-foundation-sdk).

`python -m deploy.grafana.dashboards_src` writes deploy/grafana/dashboards/*.json;
`--check` fails if the committed JSON differs from what the code generates.
`panel_queries()` lists every panel query, for tests that run them against Prometheus
(`expand_variables` substitutes the template variables first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from deploy.grafana.dashboards_src.engine import engine
from deploy.grafana.dashboards_src.sales import sales_overview

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "dashboards"


def boards() -> dict[str, dashboard.Dashboard]:
    """File name (without .json) -> board."""
    return {"sales-overview": sales_overview(), "engine": engine()}


def render(board: dashboard.Dashboard) -> str:
    """The board's JSON as committed: panels numbered in order, sorted keys, two-space
    indent, final newline."""
    model = board.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[Path, str]:
    return {DASHBOARDS_DIR / f"{name}.json": render(board) for name, board in boards().items()}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL expression) of every query of every panel."""
    queries: list[tuple[str, str, str]] = []
    for board in boards().values():
        model: dict[str, Any] = json.loads(render(board))
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                queries.append((model["uid"], panel["title"], target["expr"]))
    return queries


ALL = ".*"
"""The value the multi-value variables take for "All" (their allValue)."""


def query_variables(
    tenant: str, granularity: str = "day", rate_interval: str = "1m"
) -> dict[str, str]:
    """Values for every variable the panels use, "All" where a variable can be all: what
    `expand_variables` needs to run the panels' queries outside Grafana."""
    return {
        "tenant": tenant,
        "pipeline": ALL,
        "seller": ALL,
        "stage": ALL,
        "instance": ALL,
        "granularity": granularity,
        "__rate_interval": rate_interval,
    }


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def expand_variables(expr: str, values: Mapping[str, str]) -> str:
    """Substitute Grafana variables (`$name`, `${name}`, including built-ins such as
    `$__rate_interval`) from `values`; a variable missing from it raises KeyError."""
    return _VARIABLE.sub(lambda match: values[match.group(1) or match.group(2)], expr)
