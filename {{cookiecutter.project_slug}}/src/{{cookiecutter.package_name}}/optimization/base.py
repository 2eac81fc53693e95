"""What every optimization module produces, and the shared parity and benchmark code.

Every variant's `predict_proba` is a `runtime` predictor's `predict_frame` (torch's int8
variant excepted: it is measured, never served), so parity is checked on the code that serves.

Each framework module (`sklearn_onnx`, `torch_quant`, `tflite`) exposes

    def optimize(model: TrainedModel, X_test: pd.DataFrame, y_test: np.ndarray,
                 out_dir: Path, config: OptimizationSpec) -> dict[str, Any]

It writes its artifact(s) into `out_dir` (the bundle's `optimized/` folder; the primary one is
`model.onnx` or `model.tflite`, the file serving loads), builds one `Variant` per artifact, and
returns `finish(model, variants, X_test, y_test, out_dir, config)`, which writes
`out_dir/parity.json` and `out_dir/benchmark.json` and raises `GateFailedError` when a variant
is outside the parity tolerances. Framework switches live in `config.options`.

parity.json:
    {"framework": str, "n_rows": int, "passed": bool,
     "tolerances": {"max_accuracy_delta": f, "max_roc_auc_delta": f, "max_probability_diff": f},
     "variants": {<name>: {"artifact": str, "accuracy_delta": f, "roc_auc_delta": f,
                           "max_probability_diff": f, "passed": bool, "failures": [str]}}}
    Deltas are optimized minus native (fractions, not points); max_probability_diff is
    max |p_native - p_optimized| over the test split's positive-class probabilities.

benchmark.json:
    {"framework": str, "primary": <variant name>,
     "rows": [{"variant": "native" | <name>, "artifact": str, "size_bytes": int,
               "single_row_p50_ms": f, "single_row_p99_ms": f, "batch_rows_per_s": f,
               "accuracy": f, "roc_auc": f, "accuracy_delta_points": f,
               "roc_auc_delta_points": f}]}
    The first row is always "native"; deltas are in percentage points against it.

The return value is {"artifact": str (primary artifact path), "parity": <parity.json>,
"benchmark": <benchmark.json>}.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

from {{ cookiecutter.package_name }}.errors import GateFailedError
from {{ cookiecutter.package_name }}.runtime import PARITY_FILE as PARITY_FILE
from {{ cookiecutter.package_name }}.runtime import file_sha256
from {{ cookiecutter.package_name }}.training.base import BenchmarkSpec, OptimizationSpec, TrainedModel

BENCHMARK_FILE = "benchmark.json"

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Variant:
    """One optimized artifact and a function giving its (n, 2) class probabilities."""

    name: str
    artifact: Path
    predict_proba: Predict


def size_bytes(path: Path) -> int:
    """Size of a file, or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(child.stat().st_size for child in path.rglob("*") if child.is_file())


def quality(proba: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """Accuracy (threshold 0.5) and ROC AUC of positive-class probabilities."""
    positive = np.asarray(proba, dtype=np.float64)[:, 1]
    predicted = (positive >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "roc_auc": float(roc_auc_score(y_true, positive)),
    }


def parity(
    native_proba: np.ndarray,
    optimized_proba: np.ndarray,
    y_true: np.ndarray,
    config: OptimizationSpec,
) -> dict[str, Any]:
    """Compare an optimized variant's predictions with the native model's."""
    native, optimized = quality(native_proba, y_true), quality(optimized_proba, y_true)
    result: dict[str, Any] = {
        "accuracy_delta": optimized["accuracy"] - native["accuracy"],
        "roc_auc_delta": optimized["roc_auc"] - native["roc_auc"],
        "max_probability_diff": float(
            np.max(np.abs(np.asarray(native_proba)[:, 1] - np.asarray(optimized_proba)[:, 1]))
        ),
    }
    limits = {
        "accuracy_delta": config.max_accuracy_delta,
        "roc_auc_delta": config.max_roc_auc_delta,
        "max_probability_diff": config.max_probability_diff,
    }
    failures = [
        f"{key} {abs(result[key]):.4f} > {limit}"
        for key, limit in limits.items()
        if abs(result[key]) > limit
    ]
    return {**result, "passed": not failures, "failures": failures}


def benchmark(predict: Predict, features: pd.DataFrame, spec: BenchmarkSpec) -> dict[str, float]:
    """Single-row latency percentiles (ms) and batch throughput (rows/s) of `predict`."""
    rows = [features.iloc[[i % len(features)]] for i in range(spec.single_row_runs)]
    for row in rows[: spec.warmup]:
        predict(row)
    timings = np.empty(len(rows))
    for index, row in enumerate(rows):
        start = time.perf_counter()
        predict(row)
        timings[index] = time.perf_counter() - start
    repeats = -(-spec.batch_size // len(features))
    batch = pd.concat([features] * repeats, ignore_index=True).iloc[: spec.batch_size]
    predict(batch)
    start = time.perf_counter()
    for _ in range(spec.batch_repeats):
        predict(batch)
    elapsed = time.perf_counter() - start
    return {
        "single_row_p50_ms": float(np.percentile(timings, 50) * 1000),
        "single_row_p99_ms": float(np.percentile(timings, 99) * 1000),
        "batch_rows_per_s": float(spec.batch_size * spec.batch_repeats / elapsed),
    }


def _row(
    name: str,
    artifact: str,
    size: int,
    predict: Predict,
    x: pd.DataFrame,
    y: np.ndarray,
    spec: BenchmarkSpec,
    reference: dict[str, float] | None,
) -> dict[str, Any]:
    scores = quality(predict(x), y)
    base = reference or scores
    return {
        "variant": name,
        "artifact": artifact,
        "size_bytes": size,
        **benchmark(predict, x, spec),
        **scores,
        "accuracy_delta_points": 100 * (scores["accuracy"] - base["accuracy"]),
        "roc_auc_delta_points": 100 * (scores["roc_auc"] - base["roc_auc"]),
    }


def finish(
    model: TrainedModel,
    variants: Sequence[Variant],
    X_test: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_test: np.ndarray,
    out_dir: Path,
    config: OptimizationSpec,
) -> dict[str, Any]:
    """Check parity, benchmark native vs each variant, write both reports, enforce the gate."""
    if not variants:
        raise ValueError("finish() needs at least one optimized variant")
    y = np.asarray(y_test)
    native_proba = model.predict_proba(X_test)
    with tempfile.TemporaryDirectory() as scratch:
        model.save(Path(scratch))
        native_size = size_bytes(Path(scratch))
    native_scores = quality(native_proba, y)
    rows = [
        _row(
            "native", "native/", native_size, model.predict_proba, X_test, y, config.benchmark, None
        )
    ]
    checks: dict[str, Any] = {}
    for variant in variants:
        checks[variant.name] = {
            "artifact": variant.artifact.name,
            "sha256": file_sha256(variant.artifact),  # serving loads only this exact file
            **parity(native_proba, variant.predict_proba(X_test), y, config),
        }
        rows.append(
            _row(
                variant.name,
                f"optimized/{variant.artifact.name}",
                size_bytes(variant.artifact),
                variant.predict_proba,
                X_test,
                y,
                config.benchmark,
                native_scores,
            )
        )
    parity_report = {
        "framework": model.framework,
        "n_rows": len(X_test),
        "passed": all(check["passed"] for check in checks.values()),
        "tolerances": {
            "max_accuracy_delta": config.max_accuracy_delta,
            "max_roc_auc_delta": config.max_roc_auc_delta,
            "max_probability_diff": config.max_probability_diff,
        },
        "variants": checks,
    }
    benchmark_report = {"framework": model.framework, "primary": variants[0].name, "rows": rows}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, report in ((PARITY_FILE, parity_report), (BENCHMARK_FILE, benchmark_report)):
        (out_dir / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not parity_report["passed"]:
        failed = [
            f"{name}: {', '.join(c['failures'])}" for name, c in checks.items() if not c["passed"]
        ]
        raise GateFailedError(
            f"optimized model differs from the native one ({'; '.join(failed)}); see "
            f"{out_dir / PARITY_FILE} and loosen configs/model_config.yaml optimization "
            "tolerances only if the difference is acceptable"
        )
    return {
        "artifact": str(variants[0].artifact),
        "parity": parity_report,
        "benchmark": benchmark_report,
    }
