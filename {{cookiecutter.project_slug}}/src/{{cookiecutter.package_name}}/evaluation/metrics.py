"""The five binary-classification metrics every stage reports."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
DECISION_THRESHOLD = 0.5


def compute_metrics(y_true: np.ndarray, positive_proba: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (at 0.5) and ROC AUC, rounded to 6 decimals."""
    predicted = (np.asarray(positive_proba) >= DECISION_THRESHOLD).astype(int)
    values = {
        "accuracy": accuracy_score(y_true, predicted),
        "precision": precision_score(y_true, predicted, zero_division=0),
        "recall": recall_score(y_true, predicted, zero_division=0),
        "f1": f1_score(y_true, predicted, zero_division=0),
        "roc_auc": roc_auc_score(y_true, positive_proba),
    }
    return {name: round(float(values[name]), 6) for name in METRICS}
