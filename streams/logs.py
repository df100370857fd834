"""Structured, quiet-by-default logs: one `key=value` line per record (logfmt).

Faust and mode log through the standard library, so one formatter on the root
logger makes theirs and ours look alike.
"""

from __future__ import annotations

import logging
import logging.config
import time
from collections.abc import Callable
from typing import Any

from streams.settings import LogLevel

_LEVELS: dict[LogLevel, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update(
            (name, value)
            for name, value in vars(record).items()
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_")
        )
        line = " ".join(f"{name}={_quote(value)}" for name, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LibraryNoiseFilter(logging.Filter):
    """At most one record per message and `interval_seconds` from the Kafka client library.

    During a broker outage aiokafka logs the same few lines about a hundred
    times a second. The first of each is let through; the next one let through,
    after the interval, carries `held_back=N`: how many were dropped meanwhile.
    """

    LIBRARIES = ("aiokafka", "kafka")

    def __init__(
        self, interval_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval_seconds
        self._clock = clock
        self._last: dict[tuple[str, object], list[float]] = {}  # [when let through, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LIBRARIES):
            return True
        key = (record.name, record.msg)
        now = self._clock()
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self._interval:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.held_back = int(seen[1])
        self._last[key] = [now, 0]
        return True


def _quote(value: Any) -> str:
    text = str(value)
    if text and not any(ch in text for ch in ' "=\n'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def logging_config(level: LogLevel) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary, the form Faust's worker accepts."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"logfmt": {"()": LogfmtFormatter}},
        "filters": {"library_noise": {"()": LibraryNoiseFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "logfmt",
                "filters": ["library_noise"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": _LEVELS[level], "handlers": ["stderr"]},
    }


def configure_command_logging(level: str | None) -> None:
    """The logging of a CLI command: `level` from DEALPULSE_LOG_LEVEL, `warn` if unset or
    not a level (the settings then refuse it with their own message)."""
    known: LogLevel = level if level in _LEVELS else "warn"
    logging.config.dictConfig(logging_config(known))


def level_number(level: LogLevel) -> int:
    return _LEVELS[level]
