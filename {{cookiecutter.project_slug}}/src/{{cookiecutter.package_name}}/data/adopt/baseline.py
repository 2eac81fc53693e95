"""Gate thresholds from a measured baseline: what a model must beat to be worth shipping.

A dummy model (scikit-learn's DummyClassifier predicting the class priors, or
DummyRegressor predicting the training mean) is scored on the configured split (same
seed and test_size as training). Each threshold then demands a share of the headroom:
- higher-is-better metrics (accuracy, roc_auc, f1, f1_macro, f1_weighted, r2): a minimum of
  baseline + MARGIN x (1 - baseline);
- lower-is-better metrics (log_loss, rmse, mae): a maximum of LOWER_FACTOR x baseline (an
  RMSE 10% below the mean predictor's is an R² of about 0.19: the same bar as r2's minimum).
The champion tolerance is in the primary metric's units (1% of the baseline RMSE for
regression). Raise the thresholds once you know what your model reaches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.data.adopt.infer import plain
from {{ cookiecutter.package_name }}.data.spec import DatasetSpec

MARGIN = 0.2
LOWER_FACTOR = 0.9
PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def _split(frame: pd.DataFrame, spec: DatasetSpec, seed: int) -> tuple[pd.Series, pd.Series]:
    # The same call as data.train_test, on the target alone: the dummy ignores features.
    train, test = train_test_split(
        frame[spec.target],
        test_size=spec.test_size,
        random_state=seed,
        stratify=frame[spec.target] if spec.is_classification else None,
    )
    return train, test


def _classification(spec: DatasetSpec, train: pd.Series, test: pd.Series) -> dict[str, float]:
    # plain(): a CSV column of 1.0/2.0 holds the classes 1/2 the spec lists.
    index = {plain(label): i for i, label in enumerate(spec.classes)}
    y_train = np.array([index[plain(v)] for v in train])
    y_test = np.array([index[plain(v)] for v in test])
    labels = list(range(len(spec.classes)))
    dummy = DummyClassifier(strategy="prior").fit(np.zeros((len(y_train), 1)), y_train)
    proba = dummy.predict_proba(np.zeros((len(y_test), 1)))
    predicted = proba.argmax(axis=1)
    scores = {
        "accuracy": accuracy_score(y_test, predicted),
        "log_loss": log_loss(y_test, proba, labels=labels),
    }
    if spec.task == "binary":
        positive = spec.positive_index
        scores["roc_auc"] = roc_auc_score(y_test == positive, proba[:, positive])
        scores["f1"] = f1_score(y_test == positive, predicted == positive, zero_division=0)
    else:
        scores["f1_macro"] = f1_score(y_test, predicted, average="macro", zero_division=0)
    return scores


def _regression(train: pd.Series, test: pd.Series) -> dict[str, float]:
    dummy = DummyRegressor(strategy="mean").fit(np.zeros((len(train), 1)), train.to_numpy())
    predicted = dummy.predict(np.zeros((len(test), 1)))
    return {
        "rmse": float(np.sqrt(mean_squared_error(test, predicted))),
        "mae": mean_absolute_error(test, predicted),
        "r2": r2_score(test, predicted),
    }


def baseline(frame: pd.DataFrame, spec: DatasetSpec, seed: int) -> dict[str, float]:
    """The dummy model's test metrics."""
    train, test = _split(frame, spec, seed)
    scores = (
        _regression(train, test)
        if spec.task == "regression"
        else _classification(spec, train, test)
    )
    return {name: round(float(value), 4) for name, value in scores.items()}


def threshold(metric: str, value: float) -> float:
    if metric in LOWER_IS_BETTER:
        return round(LOWER_FACTOR * value, 4)
    return round(value + MARGIN * (1 - value), 4)


def evaluation_section(
    frame: pd.DataFrame, spec: DatasetSpec, seed: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """`evaluation:` of model_config.yaml (thresholds, primary metric, tolerance) + baseline."""
    measured = baseline(frame, spec, seed)
    tolerance = round(0.01 * measured["rmse"], 4) if spec.task == "regression" else 0.01
    section = {
        "thresholds": {name: threshold(name, value) for name, value in measured.items()},
        "primary_metric": PRIMARY[spec.task],
        "champion_tolerance": tolerance,
    }
    return section, measured
