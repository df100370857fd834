"""deploy/prometheus: configs and rules checked by promtool, and the rules' unit tests run.

promtool comes from Debian's `prometheus` package. Besides promtool's own checks, these
tests hold the rules to the project's conventions: recording rules named
level:metric:operation, every alert with a severity, a summary, a description and a runbook
section in docs/alerts.md, a firing and a quiet promtool test for every alert, and only
metric names that exist (the catalogue, the engine's, the recording rules').
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.grafana.dashboards_src.engine import ENGINE_METRICS
from tests.support.prometheus_rules import (
    PROMETHEUS_DIR,
    REPO_ROOT,
    RULES_DIR,
    catalogue_series,
    load_yaml,
    metric_names,
    recording_rule_names,
    rules,
)

RULE_FILES = [RULES_DIR / "recording.yml", RULES_DIR / "alerts.yml"]
CONFIGS = [PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus.compose.yml"]
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTS_DOC = REPO_ROOT / "docs" / "alerts.md"

PROMETHEUS_SERIES = {"up", "ALERTS"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is needed for these checks (Debian: apt-get install prometheus)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )


def alerts() -> list[dict[str, Any]]:
    return rules(RULES_DIR / "alerts.yml")


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (job) (rate(a_total{x="y"}[5m]))', {"a_total"}),
        ("b offset 1w or on (t) c > 0", {"b", "c"}),
        ('label_replace(l:m:sum{g="day"} offset 2w, "w", "2", "", "")', {"l:m:sum"}),
        ("histogram_quantile(0.9, sum by (le) (h_bucket)) and on () (hour() >= 12 < 18)",
         {"h_bucket"}),
    ],
)  # fmt: skip
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_config_is_valid(config: Path) -> None:
    result = run_promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_files_are_valid() -> None:
    result = run_promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda path: path.name)
def test_promtool_rule_tests_pass(test_file: Path) -> None:
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_configs_load_both_rule_files() -> None:
    for config in CONFIGS:
        loaded = [(config.parent / name).resolve() for name in load_yaml(config)["rule_files"]]
        assert loaded == RULE_FILES


def test_compose_config_differs_only_in_targets() -> None:
    def without_targets(config: Path) -> Any:
        loaded = load_yaml(config)
        for alertmanager in loaded["alerting"]["alertmanagers"]:
            alertmanager.pop("static_configs")
        for job in loaded["scrape_configs"]:
            job.pop("static_configs")
        return loaded

    assert without_targets(CONFIGS[0]) == without_targets(CONFIGS[1])


def test_compose_prometheus_scrapes_both_compose_workers() -> None:
    compose = load_yaml(REPO_ROOT / "docker-compose.yml")["services"]
    workers = {
        f"{name}:{service['environment']['DEALPULSE_WEB_PORT']}"
        for name, service in compose.items()
        if service.get("command") == ["worker"]
    }
    job = load_yaml(CONFIGS[1])["scrape_configs"][0]
    assert job["job_name"] == "dealpulse"
    assert {t for c in job["static_configs"] for t in c["targets"]} == workers
    assert len(workers) == 2
    command = compose["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.compose.yml" in command
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["prometheus"]["volumes"]


def test_default_config_scrapes_two_local_workers_and_alertmanager() -> None:
    config = load_yaml(CONFIGS[0])
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    job = config["scrape_configs"][0]
    assert job["job_name"] == "dealpulse"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:6066", "127.0.0.1:6067"]}]
    assert config["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["127.0.0.1:9093"]}]}
    ]


def test_recording_rules_are_named_level_metric_operation() -> None:
    for rule in rules(RULES_DIR / "recording.yml"):
        level, metric, operation = rule["record"].split(":")
        assert metric.startswith("dealpulse_"), rule["record"]
        assert operation, rule["record"]
        by = re.match(r"\s*sum by \(([^)]*)\)", rule["expr"])
        if by:  # a plain sum keeps exactly the labels its level names
            assert level == "_".join(label.strip() for label in by.group(1).split(",")), rule


def test_rules_use_only_existing_metrics() -> None:
    known = catalogue_series() | set(ENGINE_METRICS) | recording_rule_names() | PROMETHEUS_SERIES
    for path in RULE_FILES:
        for rule in rules(path):
            unknown = metric_names(rule["expr"]) - known
            assert not unknown, (rule.get("record") or rule.get("alert"), unknown)


def test_every_recording_rule_is_tested_or_used_by_another_rule() -> None:
    tested = set()
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            for case in group.get("promql_expr_test", []):
                tested |= metric_names(case["expr"])
    used = set()
    for path in RULE_FILES:
        for rule in rules(path):
            used |= metric_names(rule["expr"])
    assert recording_rule_names() - tested - used == set()


def github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in ALERTS_DOC.read_text().splitlines()
        if line.startswith("#")
    }
    for alert in alerts():
        name = alert["alert"]
        assert name.startswith("Dealpulse"), name
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        annotations = alert["annotations"]
        assert annotations["summary"], name
        assert annotations["description"], name
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/alerts.md", name
        assert anchor == name.lower(), name
        assert anchor in anchors, f"no section {name} in docs/alerts.md"


def test_every_alert_has_a_firing_and_a_quiet_promtool_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {alert["alert"] for alert in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"


def test_the_issue_s_alerts_exist() -> None:
    assert {alert["alert"] for alert in alerts()} == {
        "DealpulseWinRateBelowBaseline",
        "DealpulseStageConversionBelowBaseline",
        "DealpulseChurnSpike",
        "DealpulseNoDealsWon",
        "DealpulseIngestionStalled",
        "DealpulseConsumerLagGrowing",
        "DealpulseDeadLetterRateHigh",
        "DealpulseDealTooLong",
        "DealpulseLoadedSettingsRefused",
        "DealpulsePartitionStorageFailed",
        "DealpulseWorkerDown",
        "DealpulsePartitionsUnowned",
        "DealpulseSellerBehindPace",
        "DealpulseForecastBelowQuota",
        "DealpulseSlippedDealsRising",
    }
