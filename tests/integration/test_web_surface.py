"""The worker's web surface is closed by default, and a real Prometheus scrapes it with
credentials over TLS (issue 20, finding 3).

Found before: Faust's `/table/deals/<deal_id>/` served a deal's whole history,
and nothing was authenticated. The certificate is made at test time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from streams.kafka.topics import ensure_topics
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce
from tests.support.prometheus_stack import Prometheus
from tests.support.waiting import wait_for
from tests.support.worker_process import free_port
from tests.support.workload import clocked, simulated

pytestmark = pytest.mark.integration

TOKEN = "scrape-me-9f2c"


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def status(url: str, context: ssl.SSLContext, token: str | None = None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_only_documented_routes_answer_and_prometheus_scrapes_with_a_token_over_tls(
    flow: Flow, tmp_path: Path
) -> None:
    cert, key = certificate(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, simulated(2_000, seed=51))
    port = free_port()
    env = {
        **os.environ,
        **clocked(flow.env()),
        "DEALPULSE_WEB_STATE_ENABLED": "false",
        "DEALPULSE_WEB_PORT": str(port),
        "DEALPULSE_DATA_DIR": str(tmp_path / "worker"),
        "DEALPULSE_WEB_AUTH_TOKEN": TOKEN,
        "DEALPULSE_WEB_TLS_CERTFILE": str(cert),
        "DEALPULSE_WEB_TLS_KEYFILE": str(key),
    }
    base = f"https://127.0.0.1:{port}"
    with (tmp_path / "worker.log").open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"], env=env, stdout=log, stderr=log
        )
    try:
        wait_for(
            lambda: _answers(f"{base}/health", trusted),
            timeout_seconds=120,
            what="the worker's /health over TLS",
        )
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=300,
            what="the worker to commit every offset",
        )
        assert status(f"{base}/metrics", trusted) == 401
        assert status(f"{base}/metrics", trusted, "wrong") == 401
        assert status(f"{base}/metrics", trusted, TOKEN) == 200
        assert status(f"{base}/health", trusted) == 200
        for closed in ("/table/deals/deal-000001/", "/router/", "/", "/state/aggregates"):
            assert status(f"{base}{closed}", trusted, TOKEN) == 404, closed

        prometheus = Prometheus(tmp_path / "prometheus", [], "127.0.0.1:9", "10m")
        jobs = [
            ("dealpulse", TOKEN),
            ("dealpulse_wrong_token", "wrong"),
        ]
        config = yaml.safe_load(prometheus.config_path.read_text())
        config["scrape_configs"] = [
            {
                "job_name": job,
                "scheme": "https",
                "tls_config": {"ca_file": str(cert)},
                "authorization": {"type": "Bearer", "credentials": token},
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
            for job, token in jobs
        ]
        config.pop("alerting", None)
        config["rule_files"] = []
        prometheus.config_path.write_text(yaml.safe_dump(config))
        prometheus.start()
        try:
            wait_for(
                lambda: (
                    prometheus.values('up{job=~"dealpulse.*"}')
                    and len(prometheus.values('up{job=~"dealpulse.*"}')) == 2
                ),
                timeout_seconds=60,
                what="Prometheus to scrape both jobs once",
            )
            up = {
                dict(labels)["job"]: value
                for labels, value in prometheus.values('up{job=~"dealpulse.*"}').items()
            }
            assert up == {"dealpulse": 1.0, "dealpulse_wrong_token": 0.0}
            assert prometheus.query('sum(dealpulse_deals_won{job="dealpulse"})')[0].value > 0
        finally:
            prometheus.stop()
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        return status(url, context) == 200
    except OSError:
        return False
