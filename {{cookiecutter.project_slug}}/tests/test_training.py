"""Training: deterministic, lineage filled in, config errors are one line, save/load."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.contracts.metrics import TASK_METRICS, compute_metrics
from {{ cookiecutter.package_name }}.data import read_table, split_features
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import FRAMEWORK, TrainedModel, load_model, stage, train_model

import factories
from factories import TASKS, config_of, frame_of, spec_of, split_of


def _settings(root: Path) -> Settings:
    return factories.copy_project(root)


def _edit_config(root: Path, **changes: object) -> None:
    path = root / "configs" / "model_config.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = config
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _configured() -> tuple[ModelConfig, pd.DataFrame, np.ndarray]:
    """The project's model config on the breast-cancer features, and that data."""
    frame = frame_of("binary", categorical=False)
    config = config_of(spec_of(frame, "binary"))
    return (config, *split_features(frame, config.dataset))


def test_training_is_deterministic() -> None:
    config, features, labels = _configured()
    first = train_model(features, labels, config, 7).predict_proba(features)
    second = train_model(features, labels, config, 7).predict_proba(features)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (len(features), 2) and first.dtype == np.float64
    np.testing.assert_allclose(first.sum(axis=1), 1.0, atol=1e-5)  # float32 softmax


@pytest.mark.parametrize("task", TASKS)
def test_every_task_trains_on_raw_categoricals_and_gaps(task: str, tmp_path: Path) -> None:
    frame = frame_of(task)
    spec = spec_of(frame, task)
    x_train, y_train, x_test, y_test = split_of(frame, spec)
    assert x_train["shade"].isna().any() and x_train.iloc[:, 0].isna().any()
    model = train_model(x_train, y_train, config_of(spec), 0)
    output = model.predict(x_test)
    metrics = compute_metrics(spec, y_test, output)
    if task == "regression":
        assert output.shape == (len(x_test), 1) and metrics["r2"] > 0.1  # a constant scores 0
        with pytest.raises(UserError, match="regression model"):
            model.predict_proba(x_test)
    else:
        assert output.shape == (len(x_test), len(spec.classes))
        np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-5)
        assert metrics["accuracy"] > 0.85
    assert model.categories == {"shade": ["dark", "light", "pale"], "flag": ["False", "True"]}
    model.save(tmp_path)
    np.testing.assert_array_equal(load_model(tmp_path).predict(x_test), output)
    nullable = x_test.astype({x_test.columns[0]: "Float64", "shade": "string"})  # pd.NA
    np.testing.assert_allclose(model.predict(nullable), output)
    unseen = x_test.assign(shade="purple")  # encoded as none of the known shades
    assert np.all(np.isfinite(model.predict(unseen)))


@pytest.mark.data
def test_stage_writes_bundle_with_lineage(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    bundle = stage.run(settings)
    config = read_bundle(bundle).raw
    lineage = config["lineage"]
    assert re.fullmatch(r"[0-9a-f]{64}", lineage["dataset_sha256"])
    assert config["dataset"]["sha256"] == lineage["dataset_sha256"]
    assert lineage["git_commit"] is None  # tmp_path is not a git work tree
    assert lineage["uv_lock_sha256"] is None  # nor a project with a uv.lock (test_provenance.py)
    assert lineage["params"] == config["hyperparameters"]
    assert {"python", "numpy", "pandas"} <= set(lineage["library_versions"])
    spec = settings.read_model_config().dataset
    rows = len(read_table(settings.resolve(spec.path)))
    assert lineage["train_rows"] + lineage["test_rows"] == lineage["dataset_rows"] == rows
    assert list(config["dataset"]["features"]) == spec.feature_names
    assert "features" not in config  # each fact once: the features live in dataset.features
    assert set(config["metrics"]) == set(TASK_METRICS[spec.task])
    assert set(config["input_example"]) == set(spec.input_columns)  # a client's record
    assert set(config["categories"]) == set(spec.categorical_features)
    assert ("target_quantiles" in lineage) == (spec.task == "regression")
    model = load_model(bundle)
    assert isinstance(model, TrainedModel) and model.framework == FRAMEWORK
    assert (settings.resolve(settings.pipeline.processed_dir) / stage.TEST_FILE).is_file()


def test_saved_model_predicts_like_the_original(tmp_path: Path) -> None:
    config, features, labels = _configured()
    model = train_model(features, labels, config, 0)
    model.save(tmp_path / "native")
    loaded = load_model(tmp_path / "native")
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    reordered = features[list(reversed(features.columns))]
    np.testing.assert_allclose(loaded.predict_proba(reordered), model.predict_proba(features))
    with pytest.raises(UserError, match="lacks the model's feature"):
        loaded.predict_proba(features.drop(columns=[features.columns[0]]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no saved model"):
        load_model(tmp_path / "empty")


@pytest.mark.data
def test_pinned_hash_must_match(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _edit_config(tmp_path, dataset__sha256="0" * 64)
    with pytest.raises(UserError, match="pins 000000000000"):
        stage.run(settings)


@pytest.mark.data
def test_stage_trains_categoricals_and_records_them(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    frame = frame_of("regression")
    (tmp_path / "data" / "raw").mkdir(parents=True, exist_ok=True)  # your data may live elsewhere
    frame.to_csv(tmp_path / "data" / "raw" / "mine.csv", index=False)
    spec = spec_of(frame, "regression", path="data/raw/mine.csv")
    _edit_config(tmp_path, dataset=spec.model_dump(mode="json"))
    config = read_bundle(stage.run(settings)).raw
    kinds = config["dataset"]["features"]
    assert kinds["shade"] == kinds["flag"] == "categorical" and kinds["bmi"] == "numeric"
    assert config["categories"]["shade"] == ["dark", "light", "pale"]
    assert config["dataset"]["task"] == "regression" and set(config["metrics"]) == {
        "rmse",
        "mae",
        "r2",
    }
    quantiles = config["lineage"]["target_quantiles"]
    assert len(quantiles) == 9 and quantiles == sorted(quantiles)
    assert all(
        isinstance(value, str | bool | float | int | None)
        for value in config["input_example"].values()
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hyperparameters__C": -1}, "hyperparameter 'C'"),
        ({"hyperparameters__no_such": 1}, "hyperparameter 'no_such'"),
        ({"dataset__target": "no_such_column"}, "target column 'no_such_column'"),
        ({"dataset__test_size": 2}, "dataset.test_size"),
    ],
)
def test_config_errors_are_one_line(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    settings = _settings(tmp_path)
    _edit_config(tmp_path, **change)
    with pytest.raises(UserError, match=message) as caught:
        stage.run(settings)
    assert "\n" not in str(caught.value)
