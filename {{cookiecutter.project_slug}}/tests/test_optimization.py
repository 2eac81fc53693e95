"""Optimization: the optimized artifact, its parity gate and the benchmark report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle, write_bundle_config
from {{ cookiecutter.package_name }}.contracts.config import BenchmarkSpec, ModelConfig, OptimizationSpec
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.optimization import optimize, render_table
from {{ cookiecutter.package_name }}.optimization.base import BENCHMARK_FILE, PARITY_FILE, parity
from {{ cookiecutter.package_name }}.runtime import (
    OPTIMIZED_FILE,
    UnknownCategoryError,
    load_bundle_predictor,
    optimized_predictor,
)
from {{ cookiecutter.package_name }}.serving.model import load_bundle
from {{ cookiecutter.package_name }}.training import TrainedModel, train_model

from factories import TASKS, config_of, frame_of, spec_of, split_of

FAST = BenchmarkSpec(warmup=2, single_row_runs=20, batch_size=200, batch_repeats=1)

Split = tuple[TrainedModel, ModelConfig, pd.DataFrame, np.ndarray]


def _fit(task: str, categorical: bool) -> Split:
    frame = frame_of(task, categorical=categorical)
    config = config_of(spec_of(frame, task))
    x_train, y_train, x_test, y_test = split_of(frame, config.dataset)
    return train_model(x_train, y_train, config, 0), config, x_test, y_test


@pytest.fixture(scope="module")
def fitted() -> Split:
    """Binary, all numeric: the one-float-input fast path."""
    return _fit("binary", categorical=False)


@pytest.fixture(scope="module", params=TASKS)
def mixed(request: pytest.FixtureRequest) -> Split:
    """Every task with string and boolean categoricals and missing values."""
    return _fit(request.param, categorical=True)


def test_optimized_model_matches_and_reports(fitted: Split, tmp_path: Path) -> None:
    model, config, x_test, y_test = fitted
    spec = config.optimization.model_copy(update={"benchmark": FAST})
    result = optimize(model, x_test, y_test, tmp_path, spec)
    artifact = Path(result["artifact"])
    assert artifact.parent == tmp_path and artifact.stat().st_size > 0
    parity_report = json.loads((tmp_path / PARITY_FILE).read_text())
    assert parity_report["passed"]
    for check in parity_report["variants"].values():
{%- if cookiecutter.ml_framework == "scikit-learn" %}
        assert check["max_probability_diff"] < 1e-4
{%- else %}
        assert check["max_probability_diff"] <= spec.max_probability_diff  # int8 variants move
{%- endif %}
    benchmark = json.loads((tmp_path / BENCHMARK_FILE).read_text())
    assert benchmark["rows"][0]["variant"] == "native" and len(benchmark["rows"]) >= 2
    for row in benchmark["rows"]:
        assert row["size_bytes"] > 0 and row["batch_rows_per_s"] > 0
        assert 0 < row["single_row_p50_ms"] <= row["single_row_p99_ms"]
    table = render_table(benchmark)
    assert "single-row p50 (ms)" in table and "% of native" in table


def test_parity_gate_refuses_differences(fitted: Split, tmp_path: Path) -> None:
    model, _, x_test, y_test = fitted
    strict = OptimizationSpec(max_probability_diff=0.0, benchmark=FAST)
    with pytest.raises(GateFailedError, match="max_probability_diff") as caught:
        optimize(model, x_test, y_test, tmp_path, strict)
    assert "\n" not in str(caught.value)
    assert not json.loads((tmp_path / PARITY_FILE).read_text())["passed"]


def test_parity_measures_deltas() -> None:
    spec = spec_of(frame_of("binary", categorical=False), "binary")
    y = np.array([0, 1, 0, 1])
    native = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    flipped = native.copy()
    flipped[3] = [0.55, 0.45]
    result = parity(spec, native, flipped, y, OptimizationSpec())
    assert result["accuracy_delta"] == pytest.approx(-0.25)
    assert result["max_probability_diff"] == pytest.approx(0.15)
    assert not result["passed"] and len(result["failures"]) == 2
    assert parity(spec, native, native, y, OptimizationSpec())["passed"]


def test_regression_parity_is_relative_to_the_target_spread() -> None:
    spec = spec_of(frame_of("regression"), "regression")
    y = np.array([100.0, 200.0, 300.0, 400.0])  # std 111.8
    native = y.reshape(-1, 1) + 10.0
    moved = native + np.array([[0.0], [0.0], [0.0], [5.0]])
    result = parity(spec, native, moved, y, OptimizationSpec(max_value_diff=0.01))
    assert result["max_value_diff"] == pytest.approx(5.0 / np.std(y))
    assert not result["passed"] and result["failures"][0].startswith("max_value_diff")
    assert parity(spec, native, native, y, OptimizationSpec())["passed"]


def test_every_task_exports_its_preprocessing(mixed: Split, tmp_path: Path) -> None:
    model, config, x_test, _ = mixed
    bundle = _bundle(mixed, tmp_path)
    report = json.loads((bundle / "optimized" / PARITY_FILE).read_text())
    assert report["passed"] and report["task"] == config.dataset.task  # raw inputs, both sides
    served = load_bundle_predictor(read_bundle(bundle))
    assert served.runtime != "native"
    rows = list(x_test.itertuples(index=False, name=None))  # strings, booleans, NaN
    outputs = served.predict_rows(rows)
    np.testing.assert_array_equal(outputs, served.predict_frame(x_test))
    width = len(model.spec.classes) if model.spec.is_classification else 1
    assert outputs.shape == (len(x_test), width) and outputs.dtype == np.float64
    benchmark = json.loads((bundle / "optimized" / BENCHMARK_FILE).read_text())
    assert ("RMSE" in render_table(benchmark)) == (config.dataset.task == "regression")


@pytest.mark.parametrize("policy", ["ignore", "reject"])
def test_unknown_categories_follow_the_policy(mixed: Split, tmp_path: Path, policy: str) -> None:
    model, _, x_test, _ = mixed
    bundle = _bundle(mixed, tmp_path, unknown_category=policy)
    predictor = load_bundle(bundle).predict
    served = load_bundle_predictor(read_bundle(bundle))
    row = dict(
        zip(model.feature_names, next(x_test.itertuples(index=False, name=None)), strict=True)
    )
    unseen = tuple({**row, "shade": "purple"}[name] for name in model.feature_names)
    nulls = tuple(None for _ in model.feature_names)
    assert served.unknown([unseen]) == ("shade", "purple")
    assert served.unknown([nulls]) is None  # null is imputed, never unknown
    outputs = predictor([unseen, nulls])
    assert outputs.shape[0] == 2 and np.all(np.isfinite(outputs))
    if policy == "reject":
        with pytest.raises(UnknownCategoryError, match="'shade' has the unknown category 'purple'"):
            served.reject_unknown([unseen])
    else:
        served.reject_unknown([unseen])  # encoded as none of the known categories


def _bundle(fitted: Split, root: Path, **dataset: object) -> Path:
    """A bundle as the pipeline leaves it: config, native model, optimized artifact + parity."""
    model, config, x_test, y_test = fitted
    bundle = root / "bundle"
    model.save(bundle / "native")
    spec = model.spec.model_copy(update=dataset)
    content = {
        "model_id": config.model_id,
        "dataset": spec.model_dump(mode="json"),
        "categories": model.categories,
    }
    write_bundle_config(bundle, content)
    spec = config.optimization.model_copy(update={"benchmark": FAST})
    optimize(model, x_test, y_test, bundle / "optimized", spec)
    return bundle


def test_parity_is_measured_on_the_predictor_that_serves(fitted: Split, tmp_path: Path) -> None:
    model, _, x_test, _ = fitted
    bundle = _bundle(fitted, tmp_path)
    served = load_bundle(bundle)
    assert served.runtime != "native"
    rows = list(x_test[model.feature_names].itertuples(index=False, name=None))
    from_server = served.predict(rows)
    checked = optimized_predictor(
        bundle / OPTIMIZED_FILE, model.spec, model.categories, bundle / "native"
    )
    np.testing.assert_array_equal(from_server, checked.predict_frame(x_test))
    report = json.loads((bundle / "optimized" / PARITY_FILE).read_text())
    primary = next(iter(report["variants"].values()))
    native = model.predict(x_test)
    served_diff = float(np.max(np.abs(native - from_server)))
    assert served_diff == pytest.approx(primary["max_probability_diff"], abs=1e-12)


def test_server_never_serves_an_artifact_that_failed_parity(fitted: Split, tmp_path: Path) -> None:
    bundle = _bundle(fitted, tmp_path)
    parity_path = bundle / "optimized" / PARITY_FILE
    report = json.loads(parity_path.read_text())
    report["passed"] = False
    for check in report["variants"].values():
        check |= {"passed": False, "failures": ["max_probability_diff 0.0776 > 0.05"]}
    parity_path.write_text(json.dumps(report))
    with pytest.raises(UserError, match=r"refusing to serve .* failed its parity check") as caught:
        load_bundle(bundle)
    assert "\n" not in str(caught.value) and "prefer_optimized: false" in str(caught.value)
    assert load_bundle(bundle, prefer_optimized=False).runtime == "native"  # only if configured
    parity_path.unlink()
    with pytest.raises(UserError, match="never checked"):
        load_bundle(bundle)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_broken_artifact_is_one_line(
    fitted: Split,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    from {{ cookiecutter.package_name }}.cli import main

    bundle = _bundle(fitted, tmp_path)
    artifact = bundle / OPTIMIZED_FILE
    content = artifact.read_bytes()
    broken = {
        "truncated": content[: len(content) // 2],
        "empty": b"",
        "garbage": bytes(range(256)) * 8,
    }[damage]
    artifact.write_bytes(broken)
    with pytest.raises(UserError, match="is not a usable") as caught:
        load_bundle(bundle)
    assert "\n" not in str(caught.value)

    prefix = "{{ cookiecutter.package_name | upper }}_SERVING__"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(prefix + "CHAMPION_BUNDLE", str(bundle))
    monkeypatch.setenv(prefix + "ROUTING", "single")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", "1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a usable" in err
    assert err.count("\n") == 1 and "Traceback" not in err
