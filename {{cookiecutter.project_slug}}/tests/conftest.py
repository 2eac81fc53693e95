"""Shared fixtures: every test runs in a throwaway project root."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving.logpump import PredictionLog
from {{ cookiecutter.package_name }}.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; give every test its own."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def kill_log_writer() -> Callable[[PredictionLog], None]:
    """Kill a started prediction log's writer process; wait (bounded) until the log has
    restarted it, or given up when it may not restart it any more."""

    def kill(log: PredictionLog) -> None:
        assert log._process is not None, "start() the log first"
        restarted = log.restarted
        log._process.kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log.failed or (log.restarted > restarted and log.alive):
                return
            time.sleep(0.02)  # the pump sees the closed pipe at its next poll
        raise AssertionError("the log neither restarted its writer nor gave up within 30 s")

    return kill
