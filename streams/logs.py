"""Structured, quiet-by-default logs: one `key=value` line per record (logfmt).

Faust and mode log through the standard library, so one formatter on the root
logger makes theirs and ours look alike.
"""

from __future__ import annotations

import logging
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
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "logfmt",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": _LEVELS[level], "handlers": ["stderr"]},
    }


def level_number(level: LogLevel) -> int:
    return _LEVELS[level]
