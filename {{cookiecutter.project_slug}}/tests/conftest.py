"""Shared fixtures: every test runs in a throwaway project root."""

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
import yaml

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.data.samples import sample_at, write_sample
from {{ cookiecutter.package_name }}.pipeline import data as data_stage
from {{ cookiecutter.package_name }}.predlog.pump import PredictionLog
from {{ cookiecutter.package_name }}.settings import Settings, get_settings, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIG = PROJECT_ROOT / "configs" / "model_config.yaml"
PACKAGE = "{{ cookiecutter.package_name }}"
# The file registry: a throwaway root's champion lives in its models/, not in an MLflow store.
FILE_REGISTRY_ENV = {f"{PACKAGE.upper()}_PIPELINE__REGISTRY_BACKEND": "file"}


def configured_spec() -> DatasetSpec:
    """The project's dataset spec (configs/model_config.yaml `dataset:`): tests follow it."""
    raw = yaml.safe_load(MODEL_CONFIG.read_text(encoding="utf-8"))
    return DatasetSpec.model_validate(raw["dataset"])


# Fixtures that hand a test the configured dataset (or a project built from it): a test using
# one is marked `data` (pytest -m data); tests calling copy_project() carry the mark themselves.
DATA_FIXTURES = frozenset({"spec", "dataset_path", "dataset_frame", "champion_root"})


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


def copy_project(root: Path, **overrides: Any) -> Settings:
    """A throwaway project root with this project's configs and its configured dataset: the
    bundled sample written afresh, or your data copied (the test skips where it is absent)."""
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs", dirs_exist_ok=True)
    settings = load_settings(project_root=root, **overrides)
    spec = configured_spec()
    if sample_at(spec.path) is not None:
        data_stage(settings)
        return settings
    source = PROJECT_ROOT / spec.path
    if not source.is_file():
        pytest.skip(f"{spec.path} is not in this checkout; `dvc pull` it to run this test")
    (root / spec.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, root / spec.path)
    return settings


@pytest.fixture(scope="session")
def dataset_frame(dataset_path: Path) -> pd.DataFrame:
    """The configured dataset as training reads it (CSV dtypes)."""
    return read_table(dataset_path)


@pytest.fixture(scope="module")
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
