"""Waiting on a condition with a deadline — the only way tests synchronise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_INTERVAL_SECONDS = 0.2


def wait_for(probe: Callable[[], T | None], *, timeout_seconds: float, what: str) -> T:
    """Call `probe` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_seconds
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(POLL_INTERVAL_SECONDS)
    raise AssertionError(
        f"timed out after {timeout_seconds:.0f} s waiting for {what}; last: {last!r}"
    )
