"""Ordinary mistakes, as a user makes them: the real `dealpulse` process, its stderr and
exit code. Each ends in one line that says what to change, never a traceback; `--debug`
adds the traceback. (A wrong Kafka password: tests/integration/test_kafka_security.py.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.worker_process import free_port

WAITING_NOTICE = 'msg="waiting for Kafka"'


def dealpulse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("DEALPULSE")}
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    """The one line of a failed command (after the wait notice, when it waited for Kafka)."""
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if WAITING_NOTICE not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DEALPULSE_WEB_PORT": str(free_port()),
        "DEALPULSE_DATA_DIR": str(tmp_path / "worker"),
        "DEALPULSE_KAFKA_WAIT_SECONDS": "0",
    }


@pytest.mark.parametrize(
    "command", [("worker",), ("simulate", "--deals", "3"), ("replay", "--topic", "x")]
)
def test_kafka_unreachable_says_how_to_start_it(
    command: tuple[str, ...], worker_env: dict[str, str]
) -> None:
    nothing_there = f"127.0.0.1:{free_port()}"
    env = worker_env | {"DEALPULSE_KAFKA_BOOTSTRAP": nothing_there}
    line = error_line(dealpulse(*command, env=env))
    assert f"Kafka at {nothing_there} did not answer" in line
    assert "`dealpulse kafka up`" in line
    assert "DEALPULSE_KAFKA_BOOTSTRAP" in line


def test_bad_settings_are_named_each_with_its_value() -> None:
    env = {"DEALPULSE_WEB_PORT": "abc", "DEALPULSE_LOG_LEVEL": "loud"}
    line = error_line(dealpulse("simulate", "--deals", "3", env=env), exit_code=2)
    assert "DEALPULSE_WEB_PORT='abc'" in line
    assert "DEALPULSE_LOG_LEVEL='loud'" in line


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("DEALPULSE_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem", "Path does not point to a file"),
        ("DEALPULSE_CURRENCY_RATES", "{not json", '"currency_rates"'),
        ("DEALPULSE_TOPIC_PARTITIONS", "0", "greater than or equal to 1"),
    ],
)
def test_one_bad_setting(name: str, value: str, said: str) -> None:
    line = error_line(dealpulse("simulate", "--deals", "3", env={name: value}), exit_code=2)
    assert said in line


def test_a_data_directory_that_is_a_file(tmp_path: Path, worker_env: dict[str, str]) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    line = error_line(dealpulse("worker", env=worker_env | {"DEALPULSE_DATA_DIR": str(taken)}))
    assert f"DEALPULSE_DATA_DIR={taken}: cannot create the directory" in line


def test_a_local_broker_directory_that_cannot_be(tmp_path: Path) -> None:
    below_a_file = tmp_path / "a-file" / "kafka"
    below_a_file.parent.write_text("")
    env = {"DEALPULSE_LOCAL_KAFKA_DIR": str(below_a_file)}
    line = error_line(dealpulse("kafka", "up", env=env))
    assert f"DEALPULSE_LOCAL_KAFKA_DIR={below_a_file}" in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_web_port_in_use(busy_port: int, worker_env: dict[str, str]) -> None:
    env = worker_env | {"DEALPULSE_WEB_PORT": str(busy_port)}
    for command in (("worker",), ("demo",)):
        line = error_line(dealpulse(*command, env=env))
        assert f"port {busy_port} on 127.0.0.1 is already in use" in line
        assert "DEALPULSE_WEB_PORT" in line


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("replay", "/nonexistent/events.jsonl"), "/nonexistent/events.jsonl does not exist"),
        (("replay", "/"), "/ is a directory"),
        (("simulate", "--deals", "3", "--out", "/nonexistent/x.jsonl"), "cannot write"),
        (("simulate", "--deals", "3", "--out", "/"), "cannot write /"),
        (("top", "--url", "http://127.0.0.1:1/metrics", "--once"), "cannot reach"),
    ],
)
def test_bad_paths_and_addresses(command: tuple[str, ...], said: str) -> None:
    assert said in error_line(dealpulse(*command))


def test_debug_shows_the_traceback_before_the_line(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    env = {"DEALPULSE_LOCAL_KAFKA_DIR": str(taken / "kafka")}
    result = dealpulse("--debug", "kafka", "up", env=env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "NotADirectoryError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: DEALPULSE_LOCAL_KAFKA_DIR=")


LOADS = {
    "quotas": ("quotas.csv", "period,seller,amount\n2026-12,alice,100\n"),
    "pipelines": (
        "pipelines.toml",
        '[pipelines.p]\nstages = [{ name = "a", win_probability = 1 }]\n',
    ),
    "rates": ("rates.csv", "currency,rate\nJPY,0.0067\n"),
}


@pytest.mark.parametrize("what", sorted(LOADS))
def test_a_load_with_kafka_unreachable_says_how_to_start_it(what: str, tmp_path: Path) -> None:
    name, content = LOADS[what]
    (tmp_path / name).write_text(content)
    nothing_there = f"127.0.0.1:{free_port()}"
    env = {"DEALPULSE_KAFKA_BOOTSTRAP": nothing_there, "DEALPULSE_KAFKA_WAIT_SECONDS": "0"}
    line = error_line(dealpulse(what, "load", str(tmp_path / name), env=env))
    assert f"Kafka at {nothing_there} did not answer" in line
    assert "`dealpulse kafka up`" in line


@pytest.mark.parametrize(
    ("what", "name", "content", "said"),
    [
        (
            "pipelines",
            "pipelines.json",
            '{"pipelines": {"p": {"stages": [\n  {"name": "won", "win_probability": 1}]}}}\n',
            "pipelines.json: line 2: reserved_stage: pipeline 'p', stage 1: 'won' is reserved "
            "for the end of a deal",
        ),
        (
            "rates",
            "rates.csv",
            "currency,rate\nJPY,0.0067\nJPY,0.0068\n",
            "rates.csv: line 3: duplicate_currency: JPY is on line 2 too",
        ),
    ],
)
def test_a_refused_load_lists_its_problems_and_sends_nothing(
    what: str, name: str, content: str, said: str, tmp_path: Path
) -> None:
    (tmp_path / name).write_text(content)
    nothing_there = f"127.0.0.1:{free_port()}"  # refused before Kafka is asked
    env = {"DEALPULSE_KAFKA_BOOTSTRAP": nothing_there, "DEALPULSE_KAFKA_WAIT_SECONDS": "0"}
    result = dealpulse(what, "load", str(tmp_path / name), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    problem, error = result.stderr.splitlines()
    assert problem == said
    assert error.startswith(f"error: {name} refused, nothing loaded: 1 problem on 1 line")


@pytest.mark.parametrize("what", sorted(LOADS))
def test_a_load_of_a_file_that_is_not_there(what: str, tmp_path: Path) -> None:
    line = error_line(dealpulse(what, "load", str(tmp_path / "absent")))
    assert f"{tmp_path / 'absent'} does not exist: give a" in line
