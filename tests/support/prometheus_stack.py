"""Real Prometheus and Alertmanager for end-to-end tests, and the webhook they notify.

Both come from Debian (`prometheus`, `prometheus-alertmanager`) and run as subprocesses
on free loopback ports, with their data in a directory of the test's. Their
configuration is generated from the deployed files, changing only what a test must:

- `prometheus.yml`: scrapes every 2 s and rule evaluation every second, the test's
  workers as targets, the test's Alertmanager, absolute rule paths. The recording rules are used as
  deployed; the alert rules are a copy in which the ingestion-stalled alert looks back
  `stall_window` instead of 10 minutes (`shortened_alerts`), so a stall shows in seconds,
  and the seller-behind-pace alert waits `stall_window` instead of its 2 hours.
- `alertmanager.yml`: every webhook posts to the test's `WebhookReceiver`, and every route
  waits and repeats on a scale of seconds (`TEST_ROUTE_TIMING`).

Everything else (routing by severity, grouping, the inhibition, the rules' expressions)
is what production runs.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import yaml

from tests.support.waiting import wait_for
from tests.support.worker_process import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
RECORDING_RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "recording.yml"
ALERT_RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml"
ALERTMANAGER_CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

STALL_ALERT = "DealpulseIngestionStalled"
PACE_ALERT = "DealpulseSellerBehindPace"
DEPLOYED_STALL_WINDOW = "10m"
TEST_SCRAPE_INTERVAL = "2s"
"""Scrape interval and timeout of the test's Prometheus. A scrape blocks the worker's event
loop while it builds the exposition (0.2 to 1 s for the end-to-end workload on two busy
cores): every 2 s leaves the workers time to fold, and a slow scrape time to finish."""
TEST_EVALUATION_INTERVAL = "1s"
TEST_ROUTE_TIMING: Mapping[str, str] = {
    "group_wait": "1s",
    "group_interval": "1s",
    "repeat_interval": "1h",
}
"""Every Alertmanager route's timing in tests (deployed: waits of 10 s or 30 s, intervals of
1 or 5 min, repeats every 1 or 4 h)."""

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
HTTP_TIMEOUT_SECONDS = 30.0

AlertStatus = Literal["firing", "resolved"]


# --- Configuration -------------------------------------------------------------------------


def shortened_alerts(stall_window: str) -> dict[str, Any]:
    """alerts.yml with the ingestion-stalled alert's `[10m]` range (and `for`, if it gets one)
    and the seller-behind-pace alert's `for` shortened to `stall_window`; every other rule as
    deployed."""
    rules: dict[str, Any] = yaml.safe_load(ALERT_RULES.read_text())
    _alert(rules, PACE_ALERT)["for"] = stall_window
    rule = _alert(rules, STALL_ALERT)
    deployed = f"[{DEPLOYED_STALL_WINDOW}]"
    assert deployed in rule["expr"], (
        f"{STALL_ALERT} no longer looks back {deployed}: adapt the test"
    )
    rule["expr"] = rule["expr"].replace(deployed, f"[{stall_window}]")
    if "for" in rule:
        rule["for"] = stall_window
    return rules


def _alert(rules: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The one rule of alert `name` in the rule groups `rules`, to change in place."""
    found = [
        rule for group in rules["groups"] for rule in group["rules"] if rule.get("alert") == name
    ]
    assert len(found) == 1, f"{ALERT_RULES} should define {name} once"
    rule: dict[str, Any] = found[0]
    return rule


def prometheus_config(
    targets: Sequence[str], alertmanager: str, rule_files: Sequence[Path]
) -> dict[str, Any]:
    """The deployed prometheus.yml with the test's targets, Alertmanager, rules and timing."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"] = {
        "scrape_interval": TEST_SCRAPE_INTERVAL,
        "scrape_timeout": TEST_SCRAPE_INTERVAL,
        "evaluation_interval": TEST_EVALUATION_INTERVAL,
    }
    config["rule_files"] = [str(path) for path in rule_files]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "dealpulse"]
    job["static_configs"] = [{"targets": list(targets)}]
    return config


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The deployed alertmanager.yml posting to `webhook_url`, with `TEST_ROUTE_TIMING`."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    webhooks = [
        webhook
        for receiver in config["receivers"]
        for webhook in receiver.get("webhook_configs", [])
    ]
    assert webhooks, f"{ALERTMANAGER_CONFIG} has no webhook receiver to point at the test"
    for webhook in webhooks:
        webhook["url"] = webhook_url
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for setting, value in TEST_ROUTE_TIMING.items():
            if setting in route or route is config["route"]:
                route[setting] = value
        routes.extend(route.get("routes", []))
    return config


def _write_yaml(path: Path, content: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(content), sort_keys=False))
    return path


# --- The webhook receiver ------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One webhook post of Alertmanager, with when it arrived (time.monotonic())."""

    received_at: float
    payload: Mapping[str, Any]

    def statuses(self, alertname: str) -> list[AlertStatus]:
        return [
            alert["status"]
            for alert in self.payload.get("alerts", [])
            if alert.get("labels", {}).get("alertname") == alertname
        ]


class WebhookReceiver:
    """An HTTP server in a thread that keeps every JSON payload posted to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notifications: list[Notification] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._notifications)

    def latest_status(self, alertname: str, since: float = -math.inf) -> AlertStatus | None:
        """The status `alertname` had in the last notification about it received after
        `since` (a time.monotonic()), or None if none was."""
        for notification in reversed(self.notifications()):
            statuses = notification.statuses(alertname)
            if notification.received_at > since and statuses:
                return statuses[-1]
        return None

    def receivers_notified(self, alertname: str) -> set[str]:
        """Names of the Alertmanager receivers that posted about `alertname`."""
        return {
            str(notification.payload.get("receiver"))
            for notification in self.notifications()
            if notification.statuses(alertname)
        }

    def _keep(self, payload: Mapping[str, Any]) -> None:
        with self._lock:
            self._notifications.append(Notification(time.monotonic(), payload))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        keep = self._keep

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                keep(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest shows what the test asserts, not every post."""

        return Handler

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- The processes -------------------------------------------------------------------------


class _Server:
    """A Prometheus-family server as a subprocess: started, waited for, stopped."""

    binary: str

    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = work_dir / f"{Path(self.binary).name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> _Server:
        path = shutil.which(self.binary)
        assert path is not None, f"{self.binary} is needed (Debian packages prometheus*)"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [path, *self.arguments()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_for(
                self._ready, timeout_seconds=READY_TIMEOUT_SECONDS, what=f"{self.binary} ready"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.binary} exited with {self.process.returncode}: {self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=5) as response:  # noqa: S310 - loopback
                return bool(response.status == 200)
        except OSError:
            return False

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Alertmanager(_Server):
    binary = "prometheus-alertmanager"

    def __init__(self, work_dir: Path, webhook_url: str) -> None:
        super().__init__(work_dir)
        self.config_path = _write_yaml(
            work_dir / "alertmanager.yml", alertmanager_config(webhook_url)
        )

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.config_path}",
            f"--storage.path={self.work_dir / 'alertmanager-data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",  # empty: no gossip, one lone instance
        ]


@dataclass(frozen=True)
class Sample:
    """One series of an instant query's result: its labels (no `__name__`) and value."""

    labels: Mapping[str, str]
    value: float

    def label_pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


class Prometheus(_Server):
    binary = "prometheus"

    def __init__(
        self,
        work_dir: Path,
        targets: Sequence[str],
        alertmanager: str,
        stall_window: str,
    ) -> None:
        super().__init__(work_dir)
        alerts = _write_yaml(work_dir / "alerts.yml", shortened_alerts(stall_window))
        self.config_path = _write_yaml(
            work_dir / "prometheus.yml",
            prometheus_config(targets, alertmanager, [RECORDING_RULES, alerts]),
        )

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.work_dir / 'prometheus-data'}",
            f"--web.listen-address={self.address}",
        ]

    def query(self, promql: str) -> list[Sample]:
        """The instant query's result now; a query Prometheus refuses fails the test."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - loopback
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"Prometheus refused {promql!r}: {error.read()!r}") from None
        data = body["data"]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        assert data["resultType"] == "vector", f"{promql!r} gave a {data['resultType']}"
        return [
            Sample(
                {name: value for name, value in row["metric"].items() if name != "__name__"},
                float(row["value"][1]),
            )
            for row in data["result"]
        ]

    def values(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """The query's result as sorted label pairs -> value."""
        return {sample.label_pairs(): sample.value for sample in self.query(promql)}

    def targets_up(self) -> dict[str, float]:
        """`up` of every dealpulse target, by instance."""
        return {
            sample.labels["instance"]: sample.value for sample in self.query('up{job="dealpulse"}')
        }
