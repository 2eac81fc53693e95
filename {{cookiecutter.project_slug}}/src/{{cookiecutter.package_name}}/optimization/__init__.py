"""Optimization: export the model to a faster runtime, check parity, benchmark.

`optimize(model, X_test, y_test, out_dir, config)` comes from the framework chosen for this
project; the report shapes are documented in `optimization.base`. `run` is the stage: it
optimizes a bundle (default: the candidate) into `<bundle>/optimized/` and copies the parity
and benchmark reports to `reports/` (plus `reports/benchmark.md`, the table `make bench` prints).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }} import tables
from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.optimization.base import BENCHMARK_FILE, PARITY_FILE
{%- if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.optimization.sklearn_onnx import optimize
{%- elif cookiecutter.ml_framework == "pytorch" %}
from {{ cookiecutter.package_name }}.optimization.torch_quant import optimize
{%- elif cookiecutter.ml_framework == "tensorflow" %}
from {{ cookiecutter.package_name }}.optimization.tflite import optimize
{%- endif %}
from {{ cookiecutter.package_name }}.runtime import OPTIMIZED_DIR
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import load_model
from {{ cookiecutter.package_name }}.training.stage import TEST_FILE, read_split

BENCHMARK_TABLE = "benchmark.md"


def _size(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.2f} MiB"


QUALITY_LABELS = {"accuracy": "accuracy", "roc_auc": "ROC AUC", "rmse": "RMSE"}


def _quality_cells(row: dict[str, Any], name: str) -> tuple[str, str]:
    return f"{row[name]:.4f}", f"{row[name + '_delta']:+.2f}"


def render_table(benchmark: dict[str, Any]) -> str:
    """The benchmark report as a Markdown table (native first), the task's quality columns."""
    quality = benchmark.get("quality", ["accuracy", "roc_auc"])
    headers = ["variant", "artifact", "size", "single-row p50 (ms)", "single-row p99 (ms)",
               "batch rows/s"]  # fmt: skip
    for name in quality:
        unit = "" if name == "rmse" else " (pts)"
        headers += [QUALITY_LABELS.get(name, name), f"Δ {QUALITY_LABELS.get(name, name)}{unit}"]
    rows = [
        [
            row["variant"],
            row["artifact"],
            _size(row["size_bytes"]),
            f"{row['single_row_p50_ms']:.3f}",
            f"{row['single_row_p99_ms']:.3f}",
            f"{row['batch_rows_per_s']:,.0f}",
            *(cell for name in quality for cell in _quality_cells(row, name)),
        ]
        for row in benchmark["rows"]
    ]
    lines = [tables.render(headers, rows, right=headers[2:])]
    model = benchmark.get("model")
    if model:
        params = json.dumps(model.get("hyperparameters", {}), sort_keys=True)
        tuned = model.get("tuning")
        origin = f"tuned: study {tuned['study']}, trial {tuned['trial']}" if tuned else "not tuned"
        lines[:0] = [f"model: {model['family']} ({origin}) {params}", ""]
    native = benchmark["rows"][0]
    for row in benchmark["rows"][1:]:
        lines.append("")
        lines.append(
            f"{row['variant']}: single-row p50 is "
            f"{100 * row['single_row_p50_ms'] / native['single_row_p50_ms']:.0f}% of native, "
            f"size {100 * row['size_bytes'] / native['size_bytes']:.0f}% of native, batch "
            f"throughput x{row['batch_rows_per_s'] / native['batch_rows_per_s']:.1f}."
        )
    return "\n".join(lines) + "\n"


def run(settings: Settings, bundle: Path | None = None) -> dict[str, Any]:
    """Optimize a bundle; write artifact and reports; raise `GateFailedError` on parity failure."""
    bundle = bundle or settings.resolve(settings.pipeline.candidate_dir)
    config = settings.read_model_config()
    model = load_model(bundle)
    x_test, y_test = read_split(settings, TEST_FILE, config.dataset)
    out_dir = bundle / OPTIMIZED_DIR
    if out_dir.exists():
        shutil.rmtree(out_dir)
    reports = settings.resolve(settings.paths.reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    try:
        result = optimize(model, x_test, y_test, out_dir, config.optimization)
        result["benchmark"]["model"] = read_bundle(bundle).model  # family, tuned params
        benchmark_file = out_dir / BENCHMARK_FILE
        benchmark_file.write_text(json.dumps(result["benchmark"], indent=2) + "\n", "utf-8")
    finally:
        for name in (PARITY_FILE, BENCHMARK_FILE):
            if (out_dir / name).is_file():
                shutil.copy2(out_dir / name, reports / name)
    if (out_dir / BENCHMARK_FILE).is_file():
        benchmark = json.loads((out_dir / BENCHMARK_FILE).read_text(encoding="utf-8"))
        (reports / BENCHMARK_TABLE).write_text(render_table(benchmark), encoding="utf-8")
    return result


__all__ = ["OPTIMIZED_DIR", "optimize", "render_table", "run"]
