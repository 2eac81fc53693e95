"""Model families of the scikit-learn framework: each trains on raw categoricals and gaps,
exports to ONNX with parity, and is served by the runtime the server uses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.optimization import run as optimize
from {{ cookiecutter.package_name }}.optimization.sklearn_onnx import convert
from {{ cookiecutter.package_name }}.runtime import load_bundle_predictor, onnx_predictor
from {{ cookiecutter.package_name }}.training import stage, train_model
from {{ cookiecutter.package_name }}.training.families import FAMILIES, wants_log_target
from {{ cookiecutter.package_name }}.training.families import parse_hyperparameters as parse

from factories import TASKS, config_of, frame_of, make_project, spec_of, split_of

# Small models: the tests check the plumbing, not the accuracy.
SMALL: dict[str, dict[str, Any]] = {
    "linear": {"family": "linear"},
    "hist_gradient_boosting": {"family": "hist_gradient_boosting", "max_iter": 30},
    "lightgbm": {"family": "lightgbm", "n_estimators": 30, "n_jobs": 1},
    "xgboost": {"family": "xgboost", "n_estimators": 30, "max_depth": 4},
}
FAST_BENCHMARK = {"warmup": 1, "single_row_runs": 10, "batch_size": 50, "batch_repeats": 1}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", TASKS)
def test_family_exports_to_onnx_with_parity(task: str, family: str, tmp_path: Path) -> None:
    frame = frame_of(task)
    config = config_of(spec_of(frame, task)).model_copy(update={"hyperparameters": SMALL[family]})
    x_train, y_train, x_test, _ = split_of(frame, config.dataset)
    model = train_model(x_train, y_train, config, 0)
    convert(model, tmp_path / "model.onnx", 17)
    served = onnx_predictor(tmp_path / "model.onnx", model.spec, model.categories)
    native, optimized = model.predict(x_test), served.predict_frame(x_test)
    assert native.shape == optimized.shape
    spread = 1.0 if config.dataset.is_classification else float(np.std(native))
    assert np.abs(native - optimized).max() <= 1e-4 * spread


def _project(root: Path, task: str, hyperparameters: dict[str, Any]) -> Any:
    settings = make_project(root, task, seed=0)
    path = root / "configs/model_config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["hyperparameters"] = hyperparameters
    config["optimization"]["benchmark"] = FAST_BENCHMARK
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return settings


@pytest.mark.parametrize(
    ("family", "task"),
    [
        ("linear", "regression"),
        ("hist_gradient_boosting", "multiclass"),
        ("lightgbm", "binary"),
        ("xgboost", "regression"),
    ],
)
def test_family_is_served_from_its_bundle(family: str, task: str, tmp_path: Path) -> None:
    """train -> optimize (parity) -> the predictor serving and batch scoring load."""
    settings = _project(tmp_path, task, SMALL[family])
    bundle = stage.run(settings)
    assert read_bundle(bundle).raw["hyperparameters"]["family"] == family
    optimize(settings, bundle)
    predictor = load_bundle_predictor(read_bundle(bundle))
    assert predictor.runtime == "onnx"
    rows = [(41.0, 50000.0, "pro", 2), (None, 20000.0, None, 5)]
    output = predictor.predict_rows(rows)
    width = 1 if task == "regression" else 2 if task == "binary" else 3
    assert output.shape == (2, width)
    assert np.isfinite(output).all()


@pytest.mark.parametrize("family", ["linear", "lightgbm", "xgboost"])
def test_skewed_positive_target_is_fitted_in_log_space(family: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = frame_of("regression", categorical=False)
    frame["target"] = np.exp(frame["bmi"] / 6.0 + rng.normal(0, 0.3, len(frame)))  # skewed, > 0
    spec = spec_of(frame, "regression")
    config = config_of(spec).model_copy(update={"hyperparameters": SMALL[family]})
    x_train, y_train, x_test, _ = split_of(frame, spec)
    assert wants_log_target(parse({}), y_train)
    model = train_model(x_train, y_train, config, 0)
    assert type(model.pipeline.named_steps["model"]).__name__ == "TransformedTargetRegressor"
    far = x_test.copy()
    far["bmi"] = far["bmi"] * 10.0  # a line extrapolated in log space would explode here
    for rows in (x_test, far):  # predictions stay in the training target's range
        values = model.predict(rows)
        assert y_train.min() * (1 - 1e-6) <= values.min() <= values.max() <= y_train.max() * 1.0001
    native = model.predict(far)
    convert(model, tmp_path / "model.onnx", 17)
    served = onnx_predictor(tmp_path / "model.onnx", spec, model.categories).predict_frame(far)
    assert np.abs(served - native).max() <= 1e-4 * float(np.std(y_train))


def test_target_transform_is_not_applied_to_a_symmetric_or_negative_target() -> None:
    rng = np.random.default_rng(0)
    assert not wants_log_target(parse({}), rng.normal(0.0, 1.0, 500))
    assert not wants_log_target(parse({}), -np.exp(rng.normal(0.0, 1.0, 500)))
    assert wants_log_target(parse({"target_transform": "log1p"}), rng.normal(5.0, 1.0, 500))
    assert not wants_log_target(parse({"target_transform": "none"}), np.exp(rng.normal(0, 2, 500)))


@pytest.mark.parametrize(
    ("hyperparameters", "names"),
    [
        ({"family": "boosted"}, "'family': unknown family 'boosted'"),
        ({"family": "lightgbm", "C": 1.0}, "'C'"),
        ({"family": "hist_gradient_boosting", "learning_rate": 0}, "'learning_rate'"),
        ({"family": "lightgbm", "num_leaves": 1}, "'num_leaves'"),
        ({"family": "xgboost", "max_depth": 0}, "'max_depth'"),
    ],
)
def test_bad_hyperparameters_are_one_line_naming_the_key(
    hyperparameters: dict[str, Any], names: str
) -> None:
    frame = frame_of("binary", categorical=False)
    config = config_of(spec_of(frame, "binary")).model_copy(
        update={"hyperparameters": hyperparameters}
    )
    x_train, y_train, _, _ = split_of(frame, config.dataset)
    with pytest.raises(UserError) as raised:
        train_model(x_train, y_train, config, 0)
    message = str(raised.value)
    assert "\n" not in message
    assert f"invalid hyperparameter {names}" in message


def test_a_config_without_family_is_linear() -> None:
    params = parse({"C": 0.5})
    assert params.family == "linear"
    assert parse({"family": "lightgbm"}).family == "lightgbm"


def test_spark_engine_refuses_what_it_cannot_train_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before any work: an unknown engine, a family Spark does not fit, no pyspark."""
    settings = _project(tmp_path, "binary", SMALL["linear"])
    with pytest.raises(UserError, match=r"^--engine 'gpu': use one of local, spark$"):
        stage.run(settings, "gpu")
    with pytest.raises(UserError, match=r"fits the xgboost family, but .* sets family linear"):
        stage.run(settings, "spark")
    assert not (tmp_path / "models/candidate").exists()
    settings = _project(tmp_path, "binary", SMALL["xgboost"])
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if the [spark] extra were missing
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(UserError) as raised:
        stage.run(settings, "spark")
    assert str(raised.value).startswith("the spark engine needs pyspark and Java 17+: install")
    assert not (tmp_path / "models/candidate").exists()
