"""`dealpulse top` against a served page: one frame, credentials, SVG, and its one-line errors.

The error cases run the real command in a subprocess, so "no traceback" means what
a user would see; the others use Typer's runner.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.board import live
from streams.cli import app
from tests.support.page_server import Page, refused_url, serving
from tests.support.served import NOW, won_deal, worker_page

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE = worker_page(won_deal("d1", NOW - timedelta(hours=1), "1250", owner="ann"))
ANN = ["ann", "1,250", "1,250", "1", "100.0%", "1,250", "10d", "12h", "—"]

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("DEALPULSE_"):
            monkeypatch.delenv(name)


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def test_once_prints_the_board() -> None:
    with serving(page := Page(PAGE)) as url:
        result = runner.invoke(app, ["top", "--url", url, "--once"])
    assert result.exit_code == 0, result.output
    assert ANN in rows(result.stdout)
    assert "today 2026-11-18 · month from 2026-11-01" in result.stdout
    assert page.authorizations == [None]


def test_the_token_is_sent_as_a_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_WEB_AUTH_TOKEN", "s3cret")
    with serving(page := Page(PAGE)) as url:
        result = runner.invoke(app, ["top", "--url", url, "--once"])
    assert result.exit_code == 0, result.output
    assert page.authorizations == ["Bearer s3cret"]


def test_user_and_password_are_sent_as_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALPULSE_WEB_AUTH_USERNAME", "prometheus")
    monkeypatch.setenv("DEALPULSE_WEB_AUTH_PASSWORD", "pa:ss")
    with serving(page := Page(PAGE)) as url:
        result = runner.invoke(app, ["top", "--url", url, "--once"])
    assert result.exit_code == 0, result.output
    assert page.authorizations == [f"Basic {base64.b64encode(b'prometheus:pa:ss').decode()}"]


def test_svg_saves_the_frame(tmp_path: Path) -> None:
    svg = tmp_path / "board.svg"
    with serving(Page(PAGE)) as url:
        result = runner.invoke(app, ["top", "--url", url, "--once", "--svg", str(svg)])
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    assert text.startswith("<svg")
    assert "ann" in text


def test_svg_needs_once(tmp_path: Path) -> None:
    result = runner.invoke(app, ["top", "--svg", str(tmp_path / "board.svg")])
    assert result.exit_code == 2
    assert "--svg needs --once" in result.output


def test_live_board_redraws_until_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(live, "sleep", sleep)
    with serving(page := Page(PAGE)) as url:
        result = runner.invoke(app, ["top", "--url", url, "--interval", "0.5"])
    assert result.exit_code == 0, result.output
    assert naps == [0.5, 0.5]
    assert len(page.authorizations) == 2  # the first frame, and one redraw
    assert ANN in rows(result.stdout)
    assert "Aborted" not in result.output


def dealpulse_top(url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if "DEALPULSE_" not in name}
    environment["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "streams", "top", "--url", url, "--once"],
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=60,
        check=False,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    for phrase in phrases:
        assert phrase in line


def test_a_refused_connection_is_one_line() -> None:
    url = refused_url()
    assert_one_error_line(dealpulse_top(url), f"cannot reach {url}", "refused")


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_names_the_settings_to_set(status: int) -> None:
    with serving(Page("denied", status=status, content_type="text/plain")) as url:
        result = dealpulse_top(url)
    assert_one_error_line(result, f"answered {status}", "DEALPULSE_WEB_AUTH_TOKEN")


def test_refused_credentials_name_their_setting() -> None:
    with serving(Page("denied", status=401, content_type="text/plain")) as url:
        result = dealpulse_top(
            url, {"DEALPULSE_WEB_AUTH_USERNAME": "u", "DEALPULSE_WEB_AUTH_PASSWORD": "p"}
        )
    assert_one_error_line(
        result, "answered 401 Unauthorized to the credentials of DEALPULSE_WEB_AUTH_USERNAME"
    )


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (
            "<!doctype html>\n<html><body>" + "welcome " * 40 + "</body></html>\n",
            "is not Prometheus text",
        ),
        ('{"status": "ok"}', "is not Prometheus text"),
        ("node_cpu_seconds_total 12.5\n", "is not a dealpulse worker's /metrics"),
        ("", "is not a dealpulse worker's /metrics"),
    ],
)
def test_a_page_that_is_not_a_workers_metrics_is_one_line(body: str, phrase: str) -> None:
    with serving(Page(body, content_type="text/html")) as url:
        result = dealpulse_top(url)
    assert_one_error_line(result, phrase)


def test_a_url_that_is_not_http_is_one_line() -> None:
    assert_one_error_line(dealpulse_top("file:///etc/passwd"), "give an http:// or https:// URL")
