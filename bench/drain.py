"""Timing an engine from its start until its consumer group has committed everything.

Two rates come out of one drain: `wall_events_per_second` counts from the
process start (so it includes start-up, rebalance and recovery), and
`events_per_second` counts from the first commit seen to the last, which is
the steady rate of processing. Offsets are polled from outside, so the engine
pays nothing for being watched; the price is that a rate is only as sharp as
the engine's commit interval (Faust 2.8 s, Quix 5 s), which matters on small
runs and not on the full one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from bench.kafka_probe import OffsetProbe
from bench.processes import Service

POLL_SECONDS = 0.5


class DrainTimeoutError(RuntimeError):
    pass


async def drain(
    probe: OffsetProbe,
    group: str,
    topic: str,
    services: Sequence[Service],
    timeout_seconds: float,
    started_at: float | None = None,
) -> dict[str, Any]:
    """Poll until `group` has committed `topic` (and its repartition topics) to the end."""
    started = started_at if started_at is not None else min(s.started_at for s in services)
    first: tuple[float, int] | None = None
    settled_since: float | None = None
    while True:
        now = time.monotonic()
        for service in services:
            service.check_running()
        progress = await probe.progress(group, topic)
        if first is None and progress.committed > 0:
            first = (now, progress.committed)
        if not (progress.settled and progress.total > 0):
            settled_since = None
        elif settled_since is None:
            settled_since = now  # seen once: a repartition record may still be on its way
        else:
            return _rates(progress.total, started, settled_since, first)
        if now - started > timeout_seconds:
            logs = ", ".join(str(service.log_path) for service in services)
            raise DrainTimeoutError(
                f"group {group} committed {progress.committed} of {progress.total} "
                f"in {timeout_seconds:.0f} s; see {logs}"
            )
        await asyncio.sleep(POLL_SECONDS)


def _rates(
    total: int, started: float, done: float, first: tuple[float, int] | None
) -> dict[str, Any]:
    wall = done - started
    result: dict[str, Any] = {
        "events": total,
        "seconds_to_lag_zero": round(wall, 3),
        "wall_events_per_second": round(total / wall, 1),
    }
    if first is not None and done > first[0] and total > first[1]:
        steady_seconds = done - first[0]
        result["first_commit_after_seconds"] = round(first[0] - started, 3)
        result["events_per_second"] = round((total - first[1]) / steady_seconds, 1)
        result["rate_basis"] = "first commit to lag 0"
    else:  # everything was committed at once: only the wall rate is known
        result["events_per_second"] = result["wall_events_per_second"]
        result["rate_basis"] = "process start to lag 0 (one commit covered the whole topic)"
    return result
