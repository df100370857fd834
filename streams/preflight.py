"""Checks a process makes before it starts: a directory it can write, a port it can bind.

Without them the first sign of a mistyped DEALPULSE_DATA_DIR or a second worker
on the same port is a 50-line traceback from deep inside RocksDB or the web
server. Each failure names the setting to change instead.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from streams.errors import ConfigurationError
from streams.settings import Settings


def ensure_worker_can_start(settings: Settings) -> None:
    """A worker's data directory and web port, checked before it (or the demo around
    it) starts anything."""
    ensure_directory(settings.worker_data_dir, "DEALPULSE_DATA_DIR")
    ensure_bindable(
        settings.web_host,
        settings.web_port,
        host_setting="DEALPULSE_WEB_HOST",
        port_setting="DEALPULSE_WEB_PORT",
    )


def ensure_directory(path: Path, setting: str) -> None:
    """Create `path` (and its parents) unless it exists; `ConfigurationError` naming
    `setting` when it cannot be created or written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"{setting}={path}: cannot create the directory ({_reason(error)}); "
            "set it to a directory this user can write"
        ) from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"{setting}={path}: this user cannot write there; "
            "set it to a directory this user can write"
        )


def ensure_bindable(host: str, port: int, *, host_setting: str, port_setting: str) -> None:
    """`ConfigurationError` naming the setting to change when nothing could listen on
    `host`:`port`: another process holds the port, or the address is not this machine's."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise ConfigurationError(
            f"{host_setting}={host}: cannot listen there ({_reason(error)})"
        ) from error
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        # as the web server will bind: a port left in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use by another process (another "
                    f"worker?); set {port_setting} to a free port"
                ) from error
            raise ConfigurationError(
                f"{host_setting}={host}: cannot listen on port {port} there ({_reason(error)})"
            ) from error


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
