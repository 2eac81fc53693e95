"""Held-out metrics per task, their direction, and the per-class report.

`compute_metrics(spec, y_true, output)` takes the encoded target (`data.split_features`)
and a model's `predict` output ((n, k) probabilities or (n, 1) values):

- binary: accuracy, precision, recall, f1 (the positive class = `spec.positive_class`,
  decided as `contracts.decode` decides: P >= 0.5), roc_auc, log_loss;
- multiclass: accuracy, f1_macro, f1_weighted, log_loss (arg-max decisions, `contracts.decode`);
- regression: rmse, mae, r2.

`higher_is_better(name)` says which way a metric improves (log_loss, rmse and mae: lower).
`class_report` gives the per-class precision/recall/F1 and the confusion matrix that
evaluation writes as report files (they are not gate metrics).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from {{ cookiecutter.package_name }}.contracts.decode import class_indices
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec, Task

TASK_METRICS: dict[Task, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
METRICS = TASK_METRICS["binary"]  # the binary names, as before
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
METRIC_DIRECTIONS: dict[str, str] = {
    name: "lower" if name in LOWER_IS_BETTER else "higher"
    for names in TASK_METRICS.values()
    for name in names
}


def higher_is_better(name: str) -> bool:
    """True when a larger value of metric `name` is better (unknown names: higher)."""
    return name not in LOWER_IS_BETTER


def compute_metrics(spec: DatasetSpec, y_true: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """The task's metrics (see the module docstring), rounded to 6 decimals."""
    y = np.asarray(y_true)
    values: dict[str, Any]
    if spec.task == "regression":
        estimate = np.asarray(output, dtype=np.float64).reshape(-1)
        values = {
            "rmse": np.sqrt(mean_squared_error(y, estimate)),
            "mae": mean_absolute_error(y, estimate),
            "r2": r2_score(y, estimate),
        }
    else:
        proba = np.clip(np.asarray(output, dtype=np.float64), 0.0, 1.0)
        proba = proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows: sum exactly 1
        labels = list(range(len(spec.classes)))
        predicted = class_indices(spec, proba)
        values = {"accuracy": accuracy_score(y, predicted)}
        if spec.task == "binary":
            positive = spec.positive_index
            truth = (y == positive).astype(int)
            decided = (predicted == positive).astype(int)
            values |= {
                "precision": precision_score(truth, decided, zero_division=0),
                "recall": recall_score(truth, decided, zero_division=0),
                "f1": f1_score(truth, decided, zero_division=0),
                "roc_auc": roc_auc_score(truth, proba[:, positive]),
            }
        else:
            for average in ("macro", "weighted"):
                values[f"f1_{average}"] = f1_score(
                    y, predicted, labels=labels, average=average, zero_division=0
                )
        values["log_loss"] = log_loss(y, proba, labels=labels)
    return {name: round(float(values[name]), 6) for name in TASK_METRICS[spec.task]}


def class_report(spec: DatasetSpec, y_true: np.ndarray, output: np.ndarray) -> dict[str, Any]:
    """Classification: per-class precision/recall/F1/support and the confusion matrix.

    `{"classes": [labels], "per_class": {str(label): {precision, recall, f1, support}},
    "confusion_matrix": [[count]] (rows = true class, columns = predicted, classes order)}`.
    """
    if not spec.is_classification:
        raise ValueError("class_report is for classification datasets")
    labels = list(range(len(spec.classes)))
    predicted = class_indices(spec, output)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, predicted, labels=labels, zero_division=0
    )
    per_class = {
        str(label): {
            "precision": round(float(precision[i]), 6),
            "recall": round(float(recall[i]), 6),
            "f1": round(float(f1[i]), 6),
            "support": int(support[i]),
        }
        for i, label in enumerate(spec.classes)
    }
    matrix = confusion_matrix(y_true, predicted, labels=labels)
    return {
        "classes": list(spec.classes),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
