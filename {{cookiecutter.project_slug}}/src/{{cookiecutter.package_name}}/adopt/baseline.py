"""Gate thresholds from what the configured model reaches on this data and a dummy baseline.

Two measurements, both on the training split only (the held-out split stays unseen):
- the dummy model (scikit-learn's DummyClassifier predicting the class priors, or
  DummyRegressor predicting the training mean), fitted on the training split and scored on
  the test split as before (the `baseline` init-data prints);
- the configured model (framework, hyper-parameters of configs/model_config.yaml),
  cross-validated in FOLDS folds of the training split: the mean and the standard
  deviation of each metric over the folds, and `se`, the standard error of the metric on a
  set the size of the test split (BOOTSTRAP resamples of the out-of-fold predictions,
  stratified by class): the gate scores one such set, so its noise bounds how tight the
  gate can be (three folds' sd alone underestimates it on small or weak data).
Each threshold then sits between the two, never above what the model reaches:
- higher-is-better (accuracy, roc_auc, f1, f1_macro, r2): minimum =
  min(dummy + SHARE x (model - dummy), model - SPREAD x sd, model - Z x se), at least 0
  for the metrics that are shares, which also keep a step of classes / test rows below the
  model (class counts round on the test split); rounded to 4 places towards the lenient side;
- lower-is-better (log_loss, rmse, mae): the mirror image (max, +).
A model at the measured level passes (a false refusal needs a test score Z standard errors
off); one no better than the dummy fails wherever the test split can tell the two apart.
Where it cannot (`indistinct`: weak signal or few rows), init-data says so. With too few
rows per class for FOLDS folds the dummy-only bounds of `dummy_threshold` apply. The
champion tolerance is in the primary metric's units (1% of the baseline RMSE for regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sklearn
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
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from {{ cookiecutter.package_name }}.adopt.infer import plain
from {{ cookiecutter.package_name }}.contracts.metrics import compute_metrics
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import split_features, train_test
from {{ cookiecutter.package_name }}.training import train_model

MARGIN = 0.2  # dummy-only bounds: baseline + MARGIN x (1 - baseline) ...
LOWER_FACTOR = 0.9  # ... or LOWER_FACTOR x baseline for lower-is-better metrics
FOLDS = 3
SHARE = 0.5
SPREAD = 3.0
Z = 3.0
BOOTSTRAP = 100
PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
SHARES = frozenset({"accuracy", "roc_auc", "f1", "f1_macro"})  # in [0, 1]: a minimum below 0 is 0


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


def dummy_threshold(metric: str, value: float) -> float:
    if metric in LOWER_IS_BETTER:
        return round(LOWER_FACTOR * value, 4)
    return round(value + MARGIN * (1 - value), 4)


class Reached(NamedTuple):
    """What the configured model reaches on one metric: the folds' mean and sd, and the
    standard error of the metric on a test-split-sized set."""

    mean: float
    sd: float
    se: float


def threshold(metric: str, dummy: float, reached: Reached, resolution: float = 0.0) -> float:
    """The bound between the dummy's `dummy` and what the model reaches, rounded to 4 places
    towards the lenient side. `resolution` (shares only) is the smallest step a share can
    take on the test split, where class counts round: a model predicting one class scores
    the test split's class share, which differs from the training split's by up to that, while
    the bootstrap, stratified by class, sees no spread at all (a weak-signal table's tuned
    model scored accuracy 0.5705 against a bound of 0.5708)."""
    mean = reached.mean
    middle = dummy + SHARE * (mean - dummy)
    floor = resolution if metric in SHARES else 0.0
    noise = max(SPREAD * reached.sd, Z * reached.se, floor)
    if metric in LOWER_IS_BETTER:
        return math.ceil(max(middle, mean + noise) * 1e4 - 1e-9) / 1e4
    bound = min(middle, mean - noise)
    return math.floor((max(bound, 0.0) if metric in SHARES else bound) * 1e4 + 1e-9) / 1e4


def indistinct(metric: str, dummy: float, bound: float) -> bool:
    """True when the gate's bound lets a dummy-level model through (weak signal, few rows)."""
    return bound >= dummy if metric in LOWER_IS_BETTER else bound <= dummy


def _test_sized_samples(
    labels: np.ndarray, size: int, spec: DatasetSpec, seed: int
) -> list[np.ndarray]:
    """BOOTSTRAP index draws of `size` rows, stratified by class for classification (each
    class keeps its share, so every draw holds every class the metrics need)."""
    rng = np.random.default_rng(seed)
    if not spec.is_classification:
        return [rng.integers(0, len(labels), size) for _ in range(BOOTSTRAP)]
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    counts = [max(1, round(size * len(group) / len(labels))) for group in groups]
    return [
        np.concatenate([rng.choice(g, n) for g, n in zip(groups, counts, strict=True)])
        for _ in range(BOOTSTRAP)
    ]


def standard_errors(
    spec: DatasetSpec, labels: np.ndarray, output: np.ndarray, size: int, seed: int
) -> dict[str, float]:
    """{metric: sd over BOOTSTRAP test-split-sized resamples of out-of-fold predictions}."""
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        draws = [
            compute_metrics(spec, labels[index], output[index])
            for index in _test_sized_samples(labels, size, spec, seed)
        ]
    return {name: float(np.nanstd([draw[name] for draw in draws])) for name in draws[0]}


@dataclass(frozen=True)
class FoldOutputs:
    """The configured model's out-of-fold outputs on the training split and each fold's
    metrics; `reached` summarises them (the bootstrap only when `errors`)."""

    spec: DatasetSpec
    labels: np.ndarray
    output: np.ndarray
    scores: list[dict[str, float]]
    test_rows: int

    def reached(self, seed: int, errors: bool = True) -> dict[str, Reached]:
        se = (
            standard_errors(self.spec, self.labels, self.output, self.test_rows, seed)
            if errors
            else {}
        )
        return {
            name: Reached(
                float(np.mean([s[name] for s in self.scores])),
                float(np.std([s[name] for s in self.scores])),
                se.get(name, 0.0),
            )
            for name in self.scores[0]
        }


def fold_outputs(frame: pd.DataFrame, config: Any, seed: int) -> FoldOutputs | None:
    """The configured model cross-validated in FOLDS folds of the training split; None when a
    class has fewer training rows than FOLDS."""
    spec: DatasetSpec = config.dataset
    train, test = train_test(frame, spec, seed)
    features, labels = split_features(train, spec)
    if spec.is_classification:
        if int(np.bincount(labels).min()) < FOLDS:
            return None
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(features, labels)
    else:
        folds = KFold(FOLDS, shuffle=True, random_state=seed).split(features)
    scores: list[dict[str, float]] = []
    out_of_fold: np.ndarray | None = None
    for fit, held in folds:
        part = features.iloc[fit].reset_index(drop=True)
        model = train_model(part, labels[fit], config, seed)
        output = np.asarray(model.predict(features.iloc[held].reset_index(drop=True)), np.float64)
        if out_of_fold is None:
            out_of_fold = np.zeros((len(labels), *output.shape[1:]))
        out_of_fold[held] = output
        scores.append(compute_metrics(spec, labels[held], output))
    assert out_of_fold is not None  # FOLDS >= 2 folds ran
    return FoldOutputs(spec, labels, out_of_fold, scores, len(test))


def cross_validated(frame: pd.DataFrame, config: Any, seed: int) -> dict[str, Reached] | None:
    """{metric: Reached} of the configured model (`fold_outputs`); None: too few rows."""
    outputs = fold_outputs(frame, config, seed)
    return None if outputs is None else outputs.reached(seed)


def evaluation_section(
    frame: pd.DataFrame, spec: DatasetSpec, seed: int, model: dict[str, Reached] | None
) -> tuple[dict[str, Any], dict[str, float]]:
    """`evaluation:` of model_config.yaml (thresholds, primary metric, tolerance) from what
    the configured model reaches (`cross_validated`), and the dummy baseline."""
    measured = baseline(frame, spec, seed)
    tolerance = round(0.01 * measured["rmse"], 4) if spec.task == "regression" else 0.01
    test_rows = max(1, math.ceil(spec.test_size * len(frame)))
    resolution = len(spec.classes) / test_rows if spec.is_classification else 0.0
    thresholds = {
        name: threshold(name, value, model[name], resolution)
        if model is not None and name in model
        else dummy_threshold(name, value)
        for name, value in measured.items()
    }
    section = {
        "thresholds": thresholds,
        "primary_metric": PRIMARY[spec.task],
        "champion_tolerance": tolerance,
    }
    return section, measured


def gate_notes(
    section: dict[str, Any],
    measured: dict[str, float],
    model: dict[str, Reached] | None,
    test_rows: int,
) -> list[str]:
    """A note when the test split cannot tell the configured model from the dummy."""
    if model is None:
        return []
    blurred = [
        f"{name} (model {model[name].mean:.3f} +- {model[name].se:.3f}, dummy {measured[name]})"
        for name, bound in section["thresholds"].items()
        if name in model and indistinct(name, measured[name], bound)
    ]
    if not blurred:
        return []
    return [
        f"the test split of {test_rows} rows cannot tell this model from the dummy on "
        f"{', '.join(blurred)}: the gate lets a dummy-level model pass there; more rows or "
        "more informative features make it sharper"
    ]
