"""Feast offline: prepare the source, `feast apply`, materialize, historical and online reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data import sample_frame, write_sample
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.feature_store import (
    online_features,
    prepare_source,
    training_frame,
)
from {{ cookiecutter.package_name }}.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
FEAST = str(Path(sys.executable).parent / "feast")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("feast-project")
    shutil.copytree(ROOT / "feature_repo", root / "feature_repo")
    dataset = root / "data/raw/breast_cancer.csv"
    write_sample(dataset)
    settings = load_settings(project_root=root)
    prepared = prepare_source(settings, dataset)
    assert prepared.rows == len(sample_frame())
    for command in (
        [FEAST, "-c", "feature_repo", "apply"],
        [FEAST, "-c", "feature_repo", "materialize", "2024-01-01T00:00:00", "2025-01-01T00:00:00"],
    ):
        result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    return settings


def test_training_reads_point_in_time_features(project: Settings) -> None:
    frame = training_frame(project)
    expected = sample_frame()
    assert len(frame) == len(expected)
    assert set(frame.columns) == set(expected.columns)
    pd.testing.assert_frame_equal(
        frame[expected.columns].reset_index(drop=True), expected, check_dtype=False
    )


def test_serving_reads_online_features(project: Settings) -> None:
    frame = online_features(project, [1, 569])
    expected = sample_frame()
    assert list(frame["patient_id"]) == [1, 569]
    assert frame.loc[0, "mean_radius"] == pytest.approx(expected.loc[0, "mean_radius"])
    assert frame.loc[1, "worst_area"] == pytest.approx(expected.loc[568, "worst_area"])
    with pytest.raises(UserError, match="no online features for patient_id 100000"):
        online_features(project, [100000])


def test_prepare_needs_the_target(tmp_path: Path) -> None:
    data = tmp_path / "no_target.csv"
    sample_frame().drop(columns=["target"]).to_csv(data, index=False)
    with pytest.raises(UserError, match="no target column 'target'"):
        prepare_source(load_settings(project_root=tmp_path), data)
