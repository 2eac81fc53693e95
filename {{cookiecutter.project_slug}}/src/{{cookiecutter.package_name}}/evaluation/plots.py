"""Plots and per-class report files of the held-out split, per task.

- binary: confusion matrix, ROC curve and precision-recall curve of `positive_class`;
- multiclass: confusion matrix over every class and `per_class_report.json`
  (`metrics.class_report`: precision, recall, F1 and support per class, confusion matrix);
- regression: residuals against the prediction and prediction against the actual value.

They go to `reports/plots/` (one directory whatever the task, so DVC tracks it as the
evaluate stage's plots); `write_plots` returns their paths relative to `reports/` (the
evaluation report lists them, and registration copies exactly those into the bundle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from {{ cookiecutter.package_name }}.contracts.decode import class_indices
from {{ cookiecutter.package_name }}.contracts.metrics import class_report
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec

PLOTS_DIR = "plots"
CONFUSION_PNG = f"{PLOTS_DIR}/confusion_matrix.png"
ROC_PNG = f"{PLOTS_DIR}/roc_curve.png"
PR_PNG = f"{PLOTS_DIR}/precision_recall_curve.png"
CLASS_REPORT = f"{PLOTS_DIR}/per_class_report.json"
RESIDUALS_PNG = f"{PLOTS_DIR}/residuals.png"
PREDICTED_PNG = f"{PLOTS_DIR}/prediction_vs_actual.png"
ALL_FILES = (CONFUSION_PNG, ROC_PNG, PR_PNG, CLASS_REPORT, RESIDUALS_PNG, PREDICTED_PNG)
TITLES = {
    CONFUSION_PNG: "Confusion matrix",
    ROC_PNG: "ROC curve",
    PR_PNG: "Precision-recall curve",
    RESIDUALS_PNG: "Residuals",
    PREDICTED_PNG: "Prediction vs actual",
}


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _confusion(spec: DatasetSpec, y_true: npt.NDArray[Any], predicted: npt.NDArray[Any],
               directory: Path) -> str:  # fmt: skip
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    size = min(4.5 + 0.4 * max(len(spec.classes) - 2, 0), 12.0)
    figure, axes = plt.subplots(figsize=(size, size * 0.9))
    ConfusionMatrixDisplay.from_predictions(
        y_true, predicted, labels=list(range(len(spec.classes))),
        display_labels=[str(label) for label in spec.classes], ax=axes, colorbar=False,
        xticks_rotation="vertical" if len(spec.classes) > 6 else "horizontal",
    )  # fmt: skip
    axes.set_title("Confusion matrix (test split)")
    _save(figure, directory / CONFUSION_PNG)
    return CONFUSION_PNG


def _binary_curves(spec: DatasetSpec, y_true: npt.NDArray[Any], output: npt.NDArray[Any],
                   directory: Path) -> list[str]:  # fmt: skip
    import matplotlib.pyplot as plt
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    is_positive = (y_true == spec.positive_index).astype(int)
    score = output[:, spec.positive_index]
    name = f"P({spec.positive_class})"
    figure, axes = plt.subplots(figsize=(4.5, 4))
    RocCurveDisplay.from_predictions(is_positive, score, ax=axes, name=name)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set_title("ROC curve (test split)")
    _save(figure, directory / ROC_PNG)
    figure, axes = plt.subplots(figsize=(4.5, 4))
    PrecisionRecallDisplay.from_predictions(is_positive, score, ax=axes, name=name)
    axes.set_title("Precision-recall curve (test split)")
    _save(figure, directory / PR_PNG)
    return [ROC_PNG, PR_PNG]


def _regression_plots(y_true: npt.NDArray[Any], output: npt.NDArray[Any],
                      directory: Path) -> list[str]:  # fmt: skip
    import matplotlib.pyplot as plt

    predicted = output.reshape(-1)
    figure, axes = plt.subplots(figsize=(4.5, 4))
    axes.scatter(predicted, y_true - predicted, s=10, alpha=0.6)
    axes.axhline(0.0, linestyle="--", color="grey")
    axes.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test split)")
    _save(figure, directory / RESIDUALS_PNG)
    figure, axes = plt.subplots(figsize=(4.5, 4))
    axes.scatter(y_true, predicted, s=10, alpha=0.6)
    low, high = float(min(y_true.min(), predicted.min())), float(max(y_true.max(), predicted.max()))
    axes.plot([low, high], [low, high], linestyle="--", color="grey")
    axes.set(xlabel="actual", ylabel="predicted", title="Prediction vs actual (test split)")
    _save(figure, directory / PREDICTED_PNG)
    return [RESIDUALS_PNG, PREDICTED_PNG]


def write_plots(spec: DatasetSpec, y_true: npt.NDArray[Any], output: npt.NDArray[Any],
                directory: Path) -> list[str]:  # fmt: skip
    """Write the task's plots and report files under `directory` (the reports directory;
    stale ones of another task removed first); return their relative paths."""
    import matplotlib

    matplotlib.use("Agg")
    (directory / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    for name in ALL_FILES:
        (directory / name).unlink(missing_ok=True)
    if spec.task == "regression":
        return _regression_plots(np.asarray(y_true, dtype=np.float64), output, directory)
    predicted = class_indices(spec, output)
    written = [_confusion(spec, y_true, predicted, directory)]
    if spec.task == "binary":
        return written + _binary_curves(spec, y_true, output, directory)
    report = class_report(spec, y_true, output)
    (directory / CLASS_REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return [*written, CLASS_REPORT]
