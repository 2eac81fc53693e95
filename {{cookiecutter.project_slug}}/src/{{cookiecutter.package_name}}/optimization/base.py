"""What every optimization module produces, and the shared parity and benchmark code.

Every variant's `predict` is a `runtime` predictor's `predict_frame` (torch's int8
variant excepted: it is measured, never served), so parity is checked on the code that serves.

Each framework module (`sklearn_onnx`, `torch_quant`, `tflite`) exposes

    def optimize(model: TrainedModel, X_test: pd.DataFrame, y_test: np.ndarray,
                 out_dir: Path, config: OptimizationSpec) -> dict[str, Any]

It writes its artifact(s) into `out_dir` (the bundle's `optimized/` folder; the primary one is
`model.onnx` or `model.tflite`, the file serving loads), builds one `Variant` per artifact
(its `predict` takes RAW features, so parity covers the preprocessing too), and
returns `finish(model, variants, X_test, y_test, out_dir, config)`, which writes
`out_dir/parity.json` and `out_dir/benchmark.json` and raises `GateFailedError` when a variant
is outside the parity tolerances. Framework switches live in `config.options`.

parity.json:
    {"framework": str, "task": str, "n_rows": int, "passed": bool,
     "tolerances": {<OptimizationSpec field>: f},
     "variants": {<name>: {"artifact": str, "sha256": str, <check>: f, ...,
                           "passed": bool, "failures": [str]}}}
    Classification checks: "max_probability_diff" (max |p_native - p_optimized| over every
    class probability of the test split), "accuracy_delta" (+ "roc_auc_delta" for binary);
    tolerances max_probability_diff, max_accuracy_delta (, max_roc_auc_delta).
    Regression checks: "max_value_diff" (max |native - optimized| divided by the test
    target's standard deviation) and "rmse_delta" (optimized minus native RMSE, divided by
    the same standard deviation); tolerances max_value_diff, max_rmse_delta.
    Deltas are optimized minus native (fractions, not points).

benchmark.json:
    {"framework": str, "task": str, "primary": <variant name>, "quality": [metric names],
     "rows": [{"variant": "native" | <name>, "artifact": str, "size_bytes": int,
               "single_row_p50_ms": f, "single_row_p99_ms": f, "batch_rows_per_s": f,
               <metric>: f, "<metric>_delta": f for each quality metric}]}
    Single-row latency is one record (a tuple, missing values None) through the predictor's
    `predict_rows`, the server's call; batch throughput is `predict` on a frame.
    quality: accuracy (+ roc_auc for binary) or rmse. The first row is always "native";
    deltas are against it: percentage points for accuracy and ROC AUC, target units for RMSE.

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
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from {{ cookiecutter.package_name }}.contracts.config import BenchmarkSpec, OptimizationSpec
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import GateFailedError
from {{ cookiecutter.package_name }}.runtime import PARITY_FILE as PARITY_FILE
from {{ cookiecutter.package_name }}.runtime import Predictor, Rows, file_sha256
from {{ cookiecutter.package_name }}.training.base import TrainedModel
from {{ cookiecutter.package_name }}.training.preprocess import RawInputs

BENCHMARK_FILE = "benchmark.json"

Predict = Callable[[pd.DataFrame], np.ndarray]
PredictRows = Callable[[Rows], np.ndarray]


@dataclass(frozen=True)
class Variant:
    """One optimized artifact and a function giving its outputs on raw features; single-row
    latency is timed on `predict_rows` (records, as the server passes them) when given."""

    name: str
    artifact: Path
    predict: Predict
    predict_rows: PredictRows | None = None

    @classmethod
    def served(cls, name: str, artifact: Path, predictor: Predictor) -> Variant:
        """The variant a `runtime` predictor serves: its frame and its record calls."""
        return cls(name, artifact, predictor.predict_frame, predictor.predict_rows)


def on_rows(predict: Predict, spec: DatasetSpec) -> PredictRows:
    """A frame predictor on records, the way `runtime.native_predictor` serves the native
    model (for a variant without `predict_rows`)."""
    inputs = RawInputs.of(spec)
    return lambda rows: predict(inputs.prepared(*inputs.split_rows(rows)))


def records(features: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows of raw features as a client sends them: missing values are None."""
    frame = features.astype(object).where(features.notna(), None)
    return list(frame.itertuples(index=False, name=None))


def size_bytes(path: Path) -> int:
    """Size of a file, or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(child.stat().st_size for child in path.rglob("*") if child.is_file())


def quality_names(spec: DatasetSpec) -> list[str]:
    if spec.task == "binary":
        return ["accuracy", "roc_auc"]
    return ["accuracy"] if spec.is_classification else ["rmse"]


def quality(spec: DatasetSpec, output: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """Accuracy (arg-max) and binary ROC AUC, or RMSE: what parity and the table compare."""
    values = np.asarray(output, dtype=np.float64)
    if not spec.is_classification:
        return {"rmse": float(np.sqrt(mean_squared_error(y_true, values.reshape(-1))))}
    scores = {"accuracy": float(accuracy_score(y_true, values.argmax(axis=1)))}
    if spec.task == "binary":
        positive = spec.positive_index
        truth = (np.asarray(y_true) == positive).astype(int)
        scores["roc_auc"] = float(roc_auc_score(truth, values[:, positive]))
    return scores


def checks(spec: DatasetSpec) -> dict[str, str]:
    """{parity check: the `OptimizationSpec` field that bounds it} of the task."""
    if not spec.is_classification:
        return {"max_value_diff": "max_value_diff", "rmse_delta": "max_rmse_delta"}
    bounds = {
        "max_probability_diff": "max_probability_diff",
        "accuracy_delta": "max_accuracy_delta",
    }
    if spec.task == "binary":
        bounds["roc_auc_delta"] = "max_roc_auc_delta"
    return bounds


def tolerances(spec: DatasetSpec, config: OptimizationSpec) -> dict[str, float]:
    """{tolerance field: limit} of the task, as parity.json records them."""
    return {field: float(getattr(config, field)) for field in checks(spec).values()}


def parity(
    spec: DatasetSpec,
    native_output: np.ndarray,
    optimized_output: np.ndarray,
    y_true: np.ndarray,
    config: OptimizationSpec,
) -> dict[str, Any]:
    """Compare an optimized variant's outputs with the native model's."""
    native = quality(spec, native_output, y_true)
    optimized = quality(spec, optimized_output, y_true)
    diff = float(np.max(np.abs(np.asarray(native_output) - np.asarray(optimized_output))))
    if spec.is_classification:
        result = {"max_probability_diff": diff}
        result |= {f"{k}_delta": optimized[k] - native[k] for k in native}
    else:
        spread = float(np.std(np.asarray(y_true, dtype=np.float64))) or 1.0
        result = {
            "max_value_diff": diff / spread,
            "rmse_delta": (optimized["rmse"] - native["rmse"]) / spread,
        }
    limits = {key: float(getattr(config, field)) for key, field in checks(spec).items()}
    failures = [
        f"{key} {abs(result[key]):.4f} > {limit}"
        for key, limit in limits.items()
        if abs(result[key]) > limit
    ]
    return {**result, "passed": not failures, "failures": failures}


def benchmark(
    predict: Predict, predict_rows: PredictRows, features: pd.DataFrame, spec: BenchmarkSpec
) -> dict[str, float]:
    """Single-row latency percentiles (ms): one record through `predict_rows`, as the server
    calls it; batch throughput (rows/s): `predict` on a frame."""
    table = records(features)
    rows = [[table[i % len(table)]] for i in range(spec.single_row_runs)]
    for row in rows[: spec.warmup]:
        predict_rows(row)
    timings = np.empty(len(rows))
    for index, row in enumerate(rows):
        start = time.perf_counter()
        predict_rows(row)
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
    spec: DatasetSpec,
    name: str,
    artifact: str,
    size: int,
    predict: tuple[Predict, PredictRows],
    data: tuple[pd.DataFrame, np.ndarray],
    bench: BenchmarkSpec,
    reference: dict[str, float] | None,
) -> dict[str, Any]:
    x, y = data
    scores = quality(spec, predict[0](x), y)
    base = reference or scores
    points = 1.0 if not spec.is_classification else 100.0  # RMSE in target units
    return {
        "variant": name,
        "artifact": artifact,
        "size_bytes": size,
        **benchmark(*predict, x, bench),
        **scores,
        **{f"{key}_delta": points * (scores[key] - base[key]) for key in scores},
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
    spec = model.spec
    data = (X_test, np.asarray(y_test))
    native_output = model.predict(X_test)
    with tempfile.TemporaryDirectory() as scratch:
        model.save(Path(scratch))
        native_size = size_bytes(Path(scratch))
    native_scores = quality(spec, native_output, data[1])
    bench = config.benchmark
    native = (model.predict, on_rows(model.predict, spec))
    rows = [_row(spec, "native", "native/", native_size, native, data, bench, None)]
    checks: dict[str, Any] = {}
    for variant in variants:
        checks[variant.name] = {
            "artifact": variant.artifact.name,
            "sha256": file_sha256(variant.artifact),  # serving loads only this exact file
            **parity(spec, native_output, variant.predict(X_test), data[1], config),
        }
        artifact = f"optimized/{variant.artifact.name}"
        size = size_bytes(variant.artifact)
        predict = (variant.predict, variant.predict_rows or on_rows(variant.predict, spec))
        rows.append(_row(spec, variant.name, artifact, size, predict, data, bench, native_scores))
    parity_report = {
        "framework": model.framework,
        "task": spec.task,
        "n_rows": len(X_test),
        "passed": all(check["passed"] for check in checks.values()),
        "tolerances": tolerances(spec, config),
        "variants": checks,
    }
    benchmark_report = {
        "framework": model.framework,
        "task": spec.task,
        "primary": variants[0].name,
        "quality": quality_names(spec),
        "rows": rows,
    }
    _write_and_enforce(out_dir, parity_report, benchmark_report)
    return {
        "artifact": str(variants[0].artifact),
        "parity": parity_report,
        "benchmark": benchmark_report,
    }


def _write_and_enforce(
    out_dir: Path, parity_report: dict[str, Any], benchmark: dict[str, Any]
) -> None:
    """Write both reports; `GateFailedError` naming each variant that failed its parity."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, report in ((PARITY_FILE, parity_report), (BENCHMARK_FILE, benchmark)):
        (out_dir / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not parity_report["passed"]:
        checks = parity_report["variants"]
        failed = [
            f"{name}: {', '.join(c['failures'])}" for name, c in checks.items() if not c["passed"]
        ]
        raise GateFailedError(
            f"optimized model differs from the native one ({'; '.join(failed)}); see "
            f"{out_dir / PARITY_FILE} and loosen configs/model_config.yaml optimization "
            "tolerances only if the difference is acceptable"
        )
