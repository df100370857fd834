"""How often Python's garbage collector runs in the long folds (`DEALPULSE_GC_YOUNG_OBJECTS`).

The worker and `dealpulse replay` allocate hundreds of short-lived objects per
event while holding a large state. At CPython's threshold of 700 the youngest
generation is collected many times a second, and the older collections it
triggers walk every object the state holds: about a seventh of the worker's
time at 100,000 events, with pauses growing with the state (docs/performance.md).
"""

from __future__ import annotations

import gc

from streams.settings import Settings


def tune_collector(settings: Settings) -> None:
    """Collect the youngest generation every `gc_young_objects` allocations (0: leave it)."""
    if settings.gc_young_objects:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_young_objects, middle, oldest)
