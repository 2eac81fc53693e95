"""The data stage: bundled sample, reading user files, hashing, the deterministic split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import (
    decode_labels,
    read_table,
    sample_frame,
    sha256_file,
    split_features,
    train_test,
    write_sample,
)
from {{ cookiecutter.package_name }}.data.samples import sample_at
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.pipeline import data as data_stage
from {{ cookiecutter.package_name }}.settings import load_settings

from factories import PROJECT_ROOT, frame_of, spec_of


@pytest.mark.parametrize(
    ("sample", "shape", "labels"),
    [
        ("breast_cancer.csv", (569, 31), {0, 1}),
        ("wine.csv", (178, 14), {"class_0", "class_1", "class_2"}),
        ("diabetes.csv", (442, 11), None),
    ],
)
def test_each_task_has_a_sample(
    tmp_path: Path, sample: str, shape: tuple[int, int], labels: set[object] | None
) -> None:
    path = tmp_path / sample
    assert write_sample(path, sample=Path("data/raw") / sample)
    frame = read_table(path)
    assert frame.shape == shape
    assert list(frame.columns)[-1] == "target"
    assert all(" " not in name for name in frame.columns)
    if labels is None:  # regression: a numeric target with many values
        assert frame["target"].dtype.kind in "if" and frame["target"].nunique() > 100
    else:
        assert set(frame["target"].unique()) == labels
    expected = sample_frame(Path("data/raw") / sample)
    pd.testing.assert_frame_equal(frame, expected, check_exact=False, rtol=1e-9, check_dtype=False)


def test_the_default_sample_is_the_binary_one(tmp_path: Path) -> None:
    assert write_sample(tmp_path / "raw.csv")
    assert read_table(tmp_path / "raw.csv").shape == (569, 31)
    assert sample_at("data/raw/mine.csv") is None
    with pytest.raises(UserError, match="not a bundled sample"):
        sample_frame("data/raw/mine.csv")


def test_sample_is_not_rewritten_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    write_sample(path)
    digest = sha256_file(path)
    path.write_text("changed\n")
    assert not write_sample(path)
    assert write_sample(path, force=True)
    assert sha256_file(path) == digest  # the sample is byte-for-byte reproducible


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    frame = sample_frame()
    frame.to_parquet(tmp_path / "data.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "data.parquet"), frame)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "not found"),
        ("empty.csv", "", "is empty"),
        ("header.csv", "a,b,target\n", "no rows"),
        ("bad.csv", "a,b\n1,2\n1,2,3,4\n", "not a well-formed CSV"),
        ("data.json", "{}", "unsupported file type"),
        ("broken.parquet", "not parquet", "not a readable Parquet"),
    ],
)
def test_unreadable_input_is_one_line(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as caught:
        read_table(path)
    assert "\n" not in str(caught.value)


def test_split_is_deterministic_and_stratified() -> None:
    frame = frame_of("binary", categorical=False)
    spec = spec_of(frame, "binary")
    train_a, test_a = train_test(frame, spec, seed=3)
    _, test_b = train_test(frame, spec, seed=3)
    pd.testing.assert_frame_equal(test_a, test_b)
    assert len(test_a) == 114 and len(train_a) == 455
    assert abs(test_a["target"].mean() - frame["target"].mean()) < 0.01
    _, other = train_test(frame, spec, seed=4)
    assert not other.equals(test_a)


def test_regression_split_is_not_stratified() -> None:
    frame = frame_of("regression")
    train, test = train_test(frame, spec_of(frame, "regression"), seed=0)
    assert len(train) + len(test) == len(frame) and len(test) == -(-len(frame) // 5)


def test_features_follow_the_spec_and_labels_become_indices() -> None:
    frame = frame_of("multiclass")
    spec = spec_of(frame, "multiclass")
    features, labels = split_features(frame[list(reversed(frame.columns))], spec)
    assert features.columns.tolist() == spec.feature_names  # model order, not file order
    assert labels.dtype == np.int64 and set(labels) == {0, 1, 2}
    assert decode_labels(labels[:5], spec) == frame["target"].iloc[:5].tolist()
    assert spec.classes == ["class_0", "class_1", "class_2"]
    extra = frame.assign(unused=1.0)
    assert "unused" not in split_features(extra, spec)[0].columns


def test_labels_match_by_value_not_by_type() -> None:
    frame = frame_of("binary", categorical=False)
    spec = spec_of(frame, "binary")
    as_float = frame.assign(target=frame["target"].astype(float))
    np.testing.assert_array_equal(split_features(as_float, spec)[1], frame["target"])
    as_text = frame.assign(target=frame["target"].astype(str))
    with pytest.raises(UserError, match=r"not in dataset\.classes"):
        split_features(as_text, spec)  # "1" is not the class 1


def test_regression_target_is_float() -> None:
    frame = frame_of("regression")
    _, values = split_features(frame, spec_of(frame, "regression"))
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, frame["target"].to_numpy(dtype=float))


@pytest.mark.parametrize(
    ("task", "damage", "message"),
    [
        ("binary", {"target": None}, r"target column 'label' is not in the data"),
        ("multiclass", {"missing": 3}, r"'target' has 3 missing value\(s\).*--drop-missing-target"),
        ("multiclass", {"label": "class_9"}, r"1 row\(s\) with label\(s\) 'class_9' not in"),
        ("regression", {"label": "n/a"}, r"regression target but holds 1 non-numeric"),
        ("binary", {"drop": "mean_radius"}, r"feature column\(s\) mean_radius .* not in the data"),
    ],
)
def test_bad_targets_and_columns_are_one_line(
    task: str, damage: dict[str, object], message: str
) -> None:
    frame = frame_of(task)
    spec = spec_of(frame, task)
    if "target" in damage:
        spec = spec.model_copy(update={"target": "label"})
    if "missing" in damage:
        frame.loc[: int(damage["missing"]) - 1, "target"] = None  # type: ignore[call-overload]
    if "label" in damage:
        frame["target"] = frame["target"].astype(object)
        frame.loc[0, "target"] = damage["label"]
    if "drop" in damage:
        frame = frame.drop(columns=[str(damage["drop"])])
    with pytest.raises(UserError, match=message) as caught:
        split_features(frame, spec)
    assert "\n" not in str(caught.value)


def test_a_class_with_one_row_cannot_be_split() -> None:
    frame = frame_of("multiclass")
    frame.loc[0, "target"] = "class_9"
    spec = spec_of(frame, "multiclass")
    with pytest.raises(UserError, match="every class needs at least 2") as caught:
        train_test(frame, spec, seed=0)
    assert "\n" not in str(caught.value)


def test_data_stage_writes_the_configured_sample_but_not_over_user_paths(
    tmp_path: Path, spec: DatasetSpec
) -> None:
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    settings = load_settings(project_root=tmp_path)
    if sample_at(spec.path) is not None:  # a project still on its bundled sample
        path, written = data_stage(settings)
        assert written and path == tmp_path / spec.path
        assert list(read_table(path).columns) == [*spec.feature_names, spec.target]
        assert data_stage(settings) == (path, False)
    config = tmp_path / "configs" / "model_config.yaml"
    config.write_text(config.read_text().replace(str(spec.path), "data/raw/mine.csv"))
    with pytest.raises(UserError, match=r"mine.csv not found.*make init-data"):
        data_stage(settings)
