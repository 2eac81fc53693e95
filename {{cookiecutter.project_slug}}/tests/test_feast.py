"""Feast offline: prepare the source, `feast apply`, materialize, historical and online reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import read_table
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
def project(tmp_path_factory: pytest.TempPathFactory, dataset_path: Path) -> Settings:
    root = tmp_path_factory.mktemp("feast-project")
    for directory in ("feature_repo", "configs"):  # features.py reads the dataset spec
        shutil.copytree(ROOT / directory, root / directory)
    dataset = root / "data" / "raw" / dataset_path.name
    dataset.parent.mkdir(parents=True)
    shutil.copy(dataset_path, dataset)
    settings = load_settings(project_root=root)
    prepared = prepare_source(settings, dataset)
    assert prepared.rows == len(read_table(dataset))
    for command in (
        [FEAST, "-c", "feature_repo", "apply"],
        [FEAST, "-c", "feature_repo", "materialize", "2024-01-01T00:00:00", "2025-01-01T00:00:00"],
    ):
        result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    return settings


def _as_source(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """What Feast serves for `frame`: numeric as floats, categorical as strings."""
    return pd.DataFrame(
        {
            name: frame[name].astype(float)
            if kind == "numeric"
            else frame[name].map(lambda v: None if pd.isna(v) else str(v))
            for name, kind in spec.features.items()
        }
    )


def test_training_reads_point_in_time_features(
    project: Settings, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    frame = training_frame(project, spec.target)
    assert len(frame) == len(dataset_frame)
    assert set(frame.columns) == {*spec.feature_names, spec.target}
    pd.testing.assert_frame_equal(
        frame[spec.feature_names].reset_index(drop=True),
        _as_source(dataset_frame, spec),
        check_dtype=False,
    )
    assert list(frame[spec.target]) == list(dataset_frame[spec.target])


def test_serving_reads_online_features(
    project: Settings, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    last = len(dataset_frame)
    frame = online_features(project, [1, last])
    expected = _as_source(dataset_frame, spec)
    assert list(frame["patient_id"]) == [1, last]
    for name in spec.feature_names[:3]:
        for row, source_row in ((0, 0), (1, last - 1)):
            got, want = frame.loc[row, name], expected.loc[source_row, name]
            assert (pd.isna(got) and pd.isna(want)) or got == pytest.approx(want), name
    with pytest.raises(UserError, match="no online features for patient_id 100000"):
        online_features(project, [100000])


def test_prepare_needs_the_target(
    tmp_path: Path, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    data = tmp_path / "no_target.csv"
    dataset_frame.drop(columns=[spec.target]).to_csv(data, index=False)
    with pytest.raises(UserError, match=f"no target column '{spec.target}'"):
        prepare_source(load_settings(project_root=tmp_path), data)


def test_prepare_needs_every_spec_feature(
    tmp_path: Path, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    data = tmp_path / "fewer.csv"
    dataset_frame.drop(columns=[spec.feature_names[0]]).to_csv(data, index=False)
    with pytest.raises(UserError, match=f"lacks feature column.*{spec.feature_names[0]}"):
        prepare_source(load_settings(project_root=tmp_path), data)
