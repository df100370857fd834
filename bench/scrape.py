"""Scrape cost of /metrics at 100, 1,000 and 10,000 sellers, from `bench/scrape_cost.py`.

That module (written separately) provides `measure(sellers: int, ...) -> dict`;
this one calls it for each seller count and finds the scrape time in its answer.
"""

from __future__ import annotations

import importlib
from typing import Any

SCRAPE_MODULE = "bench.scrape_cost"
SECONDS_KEYS = ("p50_seconds", "median_seconds", "seconds", "scrape_seconds", "duration_seconds")


def scrape_costs(sellers: tuple[int, ...]) -> dict[str, Any]:
    try:
        module = importlib.import_module(SCRAPE_MODULE)
    except ModuleNotFoundError as error:
        if error.name != SCRAPE_MODULE:
            raise
        return {
            "skipped": "TODO: bench/scrape_cost.py with `measure(sellers: int, ...) -> dict` "
            "is not there yet; the scrape figures come from it"
        }
    measure = module.measure
    return {str(count): dict(measure(count)) for count in sellers}


def scrape_seconds(measured: dict[str, Any]) -> float | None:
    """The scrape time in a `measure` answer, whichever of the usual names it has.

    `measure` answers with the default seller cap ("capped") and without it
    ("uncapped"); the default configuration, the capped one, is what counts.
    """
    for configuration in ("capped", "uncapped"):
        if isinstance(measured.get(configuration), dict):
            return scrape_seconds(measured[configuration])
    for key in SECONDS_KEYS:
        if isinstance(measured.get(key), int | float):
            return float(measured[key])
    if isinstance(measured.get("scrape_ms"), int | float):  # before cold_ms, in any key order
        return float(measured["scrape_ms"]) / 1000
    for key, value in measured.items():
        if key.endswith("_seconds") and isinstance(value, int | float):
            return float(value)
        if key.endswith("_ms") and isinstance(value, int | float):
            return float(value) / 1000
    return None
