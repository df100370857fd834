"""The bench reads the steady scrape time, whatever order the JSON keys come back in."""

from __future__ import annotations

from bench.scrape import scrape_seconds


def test_the_steady_scrape_is_read_before_the_cold_one() -> None:
    sorted_keys = {
        "capped": {"bytes": 10, "cold_ms": 5000.0, "rebuilt_ms": 6000.0, "scrape_ms": 200.0}
    }

    assert scrape_seconds(sorted_keys) == 0.2
