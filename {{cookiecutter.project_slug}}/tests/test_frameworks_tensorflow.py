"""TensorFlow model: deterministic training, native save/load, TFLite optimization gate."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.optimization.base import BENCHMARK_FILE, PARITY_FILE
from {{ cookiecutter.package_name }}.optimization.tflite import FLOAT16_FILE, INT8_FILE, optimize
from {{ cookiecutter.package_name }}.training.base import ModelConfig, OptimizationSpec, load_model_config
from {{ cookiecutter.package_name }}.training.keras_model import MODEL_FILE, KerasModel, load, train

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _config(**hyperparameters: object) -> ModelConfig:
    config = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml")
    return config.model_copy(
        update={"hyperparameters": {**config.hyperparameters, **hyperparameters}}
    )


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target.to_numpy(), test_size=0.2, random_state=0, stratify=data.target
    )
    return x_train, x_test, y_train, y_test


@pytest.fixture(scope="module")
def model(split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]) -> KerasModel:
    x_train, _, y_train, _ = split
    return train(x_train, y_train, _config(epochs=8), seed=7, progress=False)


def test_learns_and_predicts_probabilities(
    model: KerasModel, split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]
) -> None:
    _, x_test, _, y_test = split
    proba = model.predict_proba(x_test)
    assert proba.shape == (len(x_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert ((proba[:, 1] >= 0.5) == y_test).mean() > 0.9
    assert model.framework == "tensorflow"
    assert model.feature_names == list(x_test.columns)


def test_training_is_deterministic_per_seed(
    model: KerasModel, split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]
) -> None:
    x_train, x_test, y_train, _ = split
    again = train(x_train, y_train, _config(epochs=8), seed=7, progress=False)
    other = train(x_train, y_train, _config(epochs=8), seed=8, progress=False)
    np.testing.assert_array_equal(again.predict_proba(x_test), model.predict_proba(x_test))
    assert not np.array_equal(other.predict_proba(x_test), model.predict_proba(x_test))


def test_columns_are_matched_by_name(
    model: KerasModel, split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]
) -> None:
    _, x_test, _, _ = split
    shuffled = x_test[list(reversed(x_test.columns))]
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(x_test))
    with pytest.raises(UserError, match="lacks the model's feature"):
        model.predict_proba(x_test.drop(columns=[x_test.columns[0]]))


def test_save_writes_a_keras_file_and_load_restores_it(
    model: KerasModel,
    split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    _, x_test, _, _ = split
    model.save(tmp_path)
    # The Keras v3 format: a zip of the architecture JSON and the weights (no pickle).
    with zipfile.ZipFile(tmp_path / MODEL_FILE) as archive:
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    restored = load(tmp_path)
    np.testing.assert_array_equal(restored.predict_proba(x_test), model.predict_proba(x_test))
    assert restored.feature_names == model.feature_names


def test_load_rejects_missing_or_corrupt_models(model: KerasModel, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no saved model"):
        load(tmp_path)
    model.save(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"not a keras file")
    with pytest.raises(UserError, match="corrupt or incompatible"):
        load(tmp_path)


def test_bad_hyperparameters_are_one_line_errors(
    split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    x_train, _, y_train, _ = split
    with pytest.raises(UserError, match="learning_rate"):
        train(x_train, y_train, _config(learning_rate=-1), seed=0, progress=False)
    with pytest.raises(UserError, match="hidden_units"):
        train(x_train, y_train, _config(hidden_units=[8, 0]), seed=0, progress=False)
    with pytest.raises(UserError, match="n_estimators"):
        train(x_train, y_train, _config(n_estimators=3), seed=0, progress=False)


def test_optimize_writes_float16_and_int8_tflite_with_reports(
    model: KerasModel,
    split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    spec = OptimizationSpec(
        max_accuracy_delta=0.05,
        max_roc_auc_delta=0.05,
        max_probability_diff=0.2,
        benchmark={"warmup": 2, "single_row_runs": 20, "batch_size": 200, "batch_repeats": 2},
    )
    result = optimize(model, x_test, y_test, tmp_path, spec)
    assert result["artifact"] == str(tmp_path / FLOAT16_FILE)
    parity = json.loads((tmp_path / PARITY_FILE).read_text())
    assert parity["passed"] and set(parity["variants"]) == {"tflite_float16", "tflite_dynamic_int8"}
    assert parity["variants"]["tflite_float16"]["max_probability_diff"] < 0.01
    rows = {
        row["variant"]: row for row in json.loads((tmp_path / BENCHMARK_FILE).read_text())["rows"]
    }
    assert list(rows) == ["native", "tflite_float16", "tflite_dynamic_int8"]
    float_bytes = sum(weight.size * 4 for weight in model.model.get_weights())
    assert (tmp_path / FLOAT16_FILE).stat().st_size < float_bytes
    assert (tmp_path / INT8_FILE).stat().st_size < (tmp_path / FLOAT16_FILE).stat().st_size
    for row in rows.values():
        assert row["single_row_p50_ms"] > 0 and row["batch_rows_per_s"] > 0


def test_parity_gate_refuses_a_drifting_variant(
    model: KerasModel,
    split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    spec = OptimizationSpec(
        max_probability_diff=0.0,
        benchmark={"warmup": 0, "single_row_runs": 10, "batch_size": 10, "batch_repeats": 1},
    )
    with pytest.raises(GateFailedError, match="tflite_dynamic_int8"):
        optimize(model, x_test, y_test, tmp_path, spec)
    assert not json.loads((tmp_path / PARITY_FILE).read_text())["passed"]


def test_bad_optimization_option_is_a_user_error(
    model: KerasModel,
    split: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    with pytest.raises(UserError, match="num_threads"):
        optimize(model, x_test, y_test, tmp_path, OptimizationSpec(options={"num_threads": 0}))
