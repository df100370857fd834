"""deploy/alertmanager/alertmanager.yml: valid for amtool, routes by severity, and inhibits
the ingestion alerts a worker that is down explains.

amtool comes from Debian's `prometheus-alertmanager` package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
ALERT_RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml"
WEBHOOK = "http://127.0.0.1:9099/alerts"
INGESTION_ALERTS = {
    "DealpulseIngestionStalled",
    "DealpulseConsumerLagGrowing",
    "DealpulsePartitionsUnowned",
}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool is needed (Debian: apt-get install prometheus-alertmanager)")
    return subprocess.run([path, *args], capture_output=True, text=True, check=False)


def config() -> Any:
    return yaml.safe_load(CONFIG.read_text())


def alert_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_config_is_valid() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=DealpulseWorkerDown"], "critical"),
        (["severity=warning", "alertname=DealpulseChurnSpike"], "warning"),
        (["alertname=SomethingWithoutSeverity"], "warning"),
    ],
)
def test_alerts_are_routed_by_severity(labels: list[str], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [receiver]


def test_every_severity_of_the_rules_has_its_route() -> None:
    routed = {
        match.group(1)
        for route in config()["route"]["routes"]
        for matcher in route["matchers"]
        if (match := re.fullmatch(r'severity="(\w+)"', matcher))
    }
    assert {rule["labels"]["severity"] for rule in alert_rules().values()} <= routed


def test_worker_down_inhibits_exactly_the_ingestion_alerts_of_its_job() -> None:
    (rule,) = config()["inhibit_rules"]
    assert rule["source_matchers"] == ['alertname="DealpulseWorkerDown"']
    (target,) = rule["target_matchers"]
    pattern = re.fullmatch(r'alertname=~"(.+)"', target)
    assert pattern
    names = alert_rules()
    inhibited = {name for name in names if re.fullmatch(pattern.group(1), name)}
    assert inhibited == INGESTION_ALERTS
    # Inhibition needs the `equal` labels on both sides: the source alert selects
    # up{job="dealpulse"}, and every target keeps `job` in its aggregation.
    assert rule["equal"] == ["job"]
    assert 'up{job="dealpulse"}' in names["DealpulseWorkerDown"]["expr"]
    for name in INGESTION_ALERTS:
        expr = names[name]["expr"]
        assert "by (job)" in expr or "job:" in expr, name


def test_receivers_post_to_the_webhook_and_send_resolved() -> None:
    receivers = config()["receivers"]
    assert {receiver["name"] for receiver in receivers} == {"critical", "warning"}
    for receiver in receivers:
        assert receiver["webhook_configs"] == [{"url": WEBHOOK, "send_resolved": True}]


def test_compose_runs_alertmanager_with_this_config() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    alertmanager = compose["alertmanager"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in alertmanager["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
