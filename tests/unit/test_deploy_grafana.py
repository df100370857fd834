"""deploy/grafana: the committed dashboards are what the generator makes, every panel has a
unit and queries that parse and only name metrics that exist, and the provisioning matches.

Parsing uses promtool (Debian's `prometheus` package): each panel query, its variables
substituted, becomes a recording rule for `promtool check rules`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.grafana.dashboards_src import (
    DASHBOARDS_DIR,
    expand_variables,
    panel_queries,
    query_variables,
    rendered,
)
from deploy.grafana.dashboards_src.engine import ENGINE_METRICS
from deploy.grafana.dashboards_src.panels import DATASOURCE_UID
from streams.exposition import catalogue as cat
from tests.support.prometheus_rules import (
    catalogue_series,
    metric_names,
    recording_rule_names,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
BUILT_IN_VARIABLES = {"__rate_interval"}


def boards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))]


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [
        (board["uid"], panel)
        for board in boards()
        for panel in board["panels"]
        if panel["type"] != "row"
    ]


def test_committed_dashboards_are_current() -> None:
    generated = rendered()
    assert sorted(DASHBOARDS_DIR.glob("*.json")) == sorted(generated)
    stale = [path.name for path, text in generated.items() if path.read_text() != text]
    assert stale == [], "run .venv/bin/python -m deploy.grafana.dashboards_src and commit"


def test_the_two_boards_exist() -> None:
    assert {(board["uid"], board["title"]) for board in boards()} == {
        ("dealpulse-sales-overview", "Sales overview"),
        ("dealpulse-engine", "dealpulse engine"),
    }


def test_every_panel_has_a_unit_and_prometheus_queries() -> None:
    for uid, panel in panels():
        where = f"{uid}: {panel['title']}"
        assert panel["fieldConfig"]["defaults"].get("unit"), where
        targets = panel.get("targets", [])
        assert targets, where
        assert len({target["refId"] for target in targets}) == len(targets), where
        for target in targets:
            assert target["expr"].strip(), where
            assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}


def test_panel_titles_are_unique_per_board() -> None:
    titles = [(uid, panel["title"]) for uid, panel in panels()]
    assert len(titles) == len(set(titles))


def test_panel_queries_lists_every_target() -> None:
    expected = [
        (uid, panel["title"], target["expr"])
        for uid, panel in panels()
        for target in panel["targets"]
    ]
    assert sorted(panel_queries()) == sorted(expected)


def test_every_panel_query_parses(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed to parse the queries (Debian: apt-get install prometheus)")
    values = query_variables("acme")
    rules = [
        {"record": f"dashboard:query_{index}:check", "expr": expand_variables(expr, values)}
        for index, (_, _, expr) in enumerate(panel_queries())
    ]
    rule_file = tmp_path / "queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_names_only_existing_metrics() -> None:
    known = catalogue_series() | set(ENGINE_METRICS) | recording_rule_names() | PROMETHEUS_SERIES
    for uid, title, expr in panel_queries():
        assert metric_names(expr), (uid, title)
        assert metric_names(expr) <= known, (uid, title, metric_names(expr) - known)


def test_windowed_queries_select_one_window_of_one_granularity() -> None:
    # A windowed series exists for the current and the previous window of each granularity:
    # summing over them all would add up unrelated windows.
    windowed = {
        name for spec in cat.ALL_METRICS if spec.windowed for name in (spec.name, spec.bucket)
    }
    windowed |= {name for spec in cat.HISTOGRAMS for name in (spec.sum, spec.count)} | {
        name for name in recording_rule_names() if "window_start_window" in name
    }
    for uid, title, expr in panel_queries():
        for name, matchers in re.findall(r"([\w:]+)\{([^}]*)\}", expr):
            if name in windowed:
                assert re.search(r'\bwindow="(current|previous)"', matchers), (uid, title)
                assert re.search(r'\bgranularity="', matchers), (uid, title)


def test_queries_use_only_defined_variables() -> None:
    for board in boards():
        defined = {variable["name"] for variable in board["templating"]["list"]}
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                used = set(re.findall(r"\$\{?(\w+)", target["expr"]))
                assert used <= defined | BUILT_IN_VARIABLES, (panel["title"], used - defined)


def test_sales_overview_has_the_variables_the_issue_asks_for() -> None:
    (sales,) = [board for board in boards() if board["uid"] == "dealpulse-sales-overview"]
    names = {variable["name"] for variable in sales["templating"]["list"]}
    assert {"tenant", "pipeline", "seller"} <= names


@pytest.mark.parametrize(
    ("expr", "expanded"),
    [
        ('x{a="$tenant", b=~"${pipeline}"}', 'x{a="acme", b=~".*"}'),
        ("rate(y[$__rate_interval])", "rate(y[1m])"),
    ],
)
def test_expand_variables(expr: str, expanded: str) -> None:
    assert expand_variables(expr, query_variables("acme")) == expanded


def test_expand_variables_refuses_an_unknown_variable() -> None:
    with pytest.raises(KeyError):
        expand_variables('x{a="$nope"}', query_variables("acme"))


def test_provisioning_matches_the_dashboards_and_compose() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert [(d["uid"], d["type"], d["url"]) for d in datasources] == [
        (DATASOURCE_UID, "prometheus", "http://prometheus:9090")
    ]
    (provider,) = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "dealpulse.yml").read_text()
    )["providers"]
    grafana = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "${DEALPULSE_PUBLISH_ADDRESS:-127.0.0.1}:3000:3000" in grafana["ports"]
