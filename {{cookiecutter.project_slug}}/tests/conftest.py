"""Shared fixtures: every test runs in a throwaway project root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; give every test its own."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
