"""Optimization: the optimized artifact, its parity gate and the benchmark report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data import sample_frame, split_features, train_test
from {{ cookiecutter.package_name }}.errors import GateFailedError
from {{ cookiecutter.package_name }}.optimization import optimize, render_table
from {{ cookiecutter.package_name }}.optimization.base import BENCHMARK_FILE, PARITY_FILE, parity
from {{ cookiecutter.package_name }}.training import TrainedModel, load_model_config, train_model
from {{ cookiecutter.package_name }}.training.base import BenchmarkSpec, ModelConfig, OptimizationSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAST = BenchmarkSpec(warmup=2, single_row_runs=20, batch_size=200, batch_repeats=1)

Split = tuple[TrainedModel, ModelConfig, pd.DataFrame, np.ndarray]


@pytest.fixture(scope="module")
def fitted() -> Split:
    config = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml")
    train, test = train_test(sample_frame(), "target", 0.2, seed=0)
    x_train, y_train = split_features(train, "target")
    x_test, y_test = split_features(test, "target")
    return train_model(x_train, y_train, config, 0), config, x_test, y_test


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
    y = np.array([0, 1, 0, 1])
    native = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    flipped = native.copy()
    flipped[3] = [0.55, 0.45]
    result = parity(native, flipped, y, OptimizationSpec())
    assert result["accuracy_delta"] == pytest.approx(-0.25)
    assert result["max_probability_diff"] == pytest.approx(0.15)
    assert not result["passed"] and len(result["failures"]) == 2
    assert parity(native, native, y, OptimizationSpec())["passed"]
