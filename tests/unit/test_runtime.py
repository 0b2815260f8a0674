"""The long-running processes' interpreter settings."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from entrypoints.runtime import tune_for_serving


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored")
def test_serving_collects_young_objects_rarely_and_switches_threads_often() -> None:
    tune_for_serving()
    assert gc.get_threshold() == (100_000, 50, 100)  # docs/performance.md: thresholds (100000, 50, 100)
    assert sys.getswitchinterval() == pytest.approx(0.001)
