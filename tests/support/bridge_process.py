"""A real `dealpulse bridge SOURCE` subprocess, and an aiohttp app served from a thread
(HubSpot's CRM API, for a bridge subprocess to read)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from types import TracebackType

from aiohttp import web

from tests.support.waiting import wait_for
from tests.support.worker_process import free_port, scrape_url

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0


class BridgeProcess:
    def __init__(self, source: str, mapping: Path, env: dict[str, str], state_dir: Path) -> None:
        self.source = source
        self.port = free_port()
        self.log_path = state_dir / f"bridge-{source}-{self.port}.log"
        self.env = {
            **os.environ,
            **env,
            f"DEALPULSE_BRIDGE_{source.upper()}_PORT": str(self.port),
        }
        self.mapping = mapping
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def scrape(self) -> dict[str, float]:
        return scrape_url(f"{self.base_url}/metrics")

    def __enter__(self) -> BridgeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", "bridge", self.source, str(self.mapping)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(
            self._serving,
            timeout_seconds=STARTUP_TIMEOUT_SECONDS,
            what=f"bridge {self.source} /metrics ({self.log_path})",
        )
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"bridge exited with {self.process.returncode}: {self.log_path}")
        return "dealpulse_bridge" in self._text()  # HELP lines are there before any sample

    def _text(self) -> str:
        try:
            with urllib.request.urlopen(f"{self.base_url}/metrics", timeout=5) as response:  # noqa: S310 - loopback
                return str(response.read().decode())
        except OSError:
            return ""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ThreadedApp:
    """An aiohttp app on 127.0.0.1 in a thread of its own, for as long as the block lasts."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> ThreadedApp:
        self._thread.start()
        assert self._ready.wait(30), "the threaded app did not start"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(30)
        self._loop.close()
