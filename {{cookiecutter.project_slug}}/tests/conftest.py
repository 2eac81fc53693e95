"""Shared fixtures: every test runs in a throwaway project root (built by `factories`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.data.samples import sample_at, write_sample
from {{ cookiecutter.package_name }}.predlog.pump import PredictionLog
from {{ cookiecutter.package_name }}.settings import Settings, get_settings, load_settings
from {{ cookiecutter.package_name }}.training import stage

from factories import (
    FILE_REGISTRY_ENV,
    PACKAGE,
    PROJECT_ROOT,
    configured_spec,
    copy_project,
)

# Fixtures that hand a test the configured dataset (or a project built from it): a test using
# one is marked `data` (pytest -m data); tests calling copy_project() carry the mark themselves.
DATA_FIXTURES = frozenset(
    {"spec", "dataset_path", "dataset_frame", "champion_root", "trained_root", "trained_copy"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


@pytest.fixture(scope="session")
def spec() -> DatasetSpec:
    return configured_spec()


@pytest.fixture(scope="session")
def dataset_path(spec: DatasetSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configured dataset file: the project's own, or its bundled sample written afresh.

    Tests that need your data skip (saying so) where the checkout lacks it.
    """
    if sample_at(spec.path) is None:
        path = PROJECT_ROOT / spec.path
        if not path.is_file():  # data/raw/ is not in git: a CI checkout may not have it
            pytest.skip(f"{spec.path} is not in this checkout; `dvc pull` it to run this test")
        return path
    path = tmp_path_factory.mktemp("sample") / spec.path.name
    write_sample(path, sample=spec.path)
    return path


@pytest.fixture(scope="session")
def dataset_frame(dataset_path: Path) -> pd.DataFrame:
    """The configured dataset as training reads it (CSV dtypes)."""
    return read_table(dataset_path)


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root (`copy_project`) where `train` ran once for the whole session: its
    candidate bundle and split. Tests copy it (`trained_copy`), never change it."""
    root = tmp_path_factory.mktemp("trained")
    stage.run(copy_project(root))
    return root


@pytest.fixture(scope="session")
def trained_copy(trained_root: Path) -> Callable[..., Settings]:
    """`trained_copy(root, **overrides)`: the trained project copied to `root`, and its
    settings (overrides as `load_settings` takes them), so no test trains it again."""

    def copy(root: Path, **overrides: Any) -> Settings:
        shutil.copytree(trained_root, root, dirs_exist_ok=True)
        return load_settings(project_root=root, **overrides)

    return copy


@pytest.fixture(scope="session")
def champion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway project root (`copy_project`) whose champion `pipeline` trained, for tests
    that run the project's commands the way an orchestrator does (FILE_REGISTRY_ENV)."""
    root = tmp_path_factory.mktemp("champion")
    copy_project(root)
    done = subprocess.run(
        [sys.executable, "-m", PACKAGE, "pipeline"], cwd=root, env=os.environ | FILE_REGISTRY_ENV,
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


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
