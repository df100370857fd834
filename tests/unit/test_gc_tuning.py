"""The garbage-collector threshold of the worker and the replay comes from the settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.gc_threshold import tune_collector
from streams.settings import Settings


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_youngest_generation_threshold_is_the_setting(
    thresholds: tuple[int, int, int],
) -> None:
    tune_collector(Settings(gc_young_objects=12_345))
    assert gc.get_threshold() == (12_345, *thresholds[1:])


def test_zero_keeps_the_interpreters_thresholds(thresholds: tuple[int, int, int]) -> None:
    tune_collector(Settings(gc_young_objects=0))
    assert gc.get_threshold() == thresholds
