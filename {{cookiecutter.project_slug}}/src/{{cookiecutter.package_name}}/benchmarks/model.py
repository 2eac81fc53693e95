"""`make bench-model`: is the trained model as good as what a notebook gets in a few lines?

On the split the last `make train` wrote (`data/processed/train.csv`, `test.csv`), the
candidate bundle's held-out primary metric is compared with three baselines fitted on the same
training rows: scikit-learn's HistGradientBoosting and LightGBM at their defaults (categories
as pandas categoricals, each library's own handling) and a FLAML AutoML search of
`flaml_seconds` (60; 0 leaves it out) on one core. The table gives each model's metric, fit
time and its gap to the best baseline in percent (positive: better); the command exits 1 when
the candidate trails the best baseline by more than `tolerance` (1 %). FLAML comes from the
`[bench]` extra (`make bench-model` installs it). A benchmark, not a test: it reports, on your
data, what `make tune` bought.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from {{ cookiecutter.package_name }} import tables
from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.contracts.metrics import compute_metrics, higher_is_better
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import load_model
from {{ cookiecutter.package_name }}.training.preprocess import RawInputs
from {{ cookiecutter.package_name }}.training.stage import TEST_FILE, TRAIN_FILE, read_split

REPORT = "bench_model.json"
# Our primary metric -> FLAML's name for it; FLAML has no weighted F1, so for that one it
# searches on its own default for the task ("auto").
FLAML_METRICS = {
    "accuracy": "accuracy", "roc_auc": "roc_auc", "f1": "f1", "log_loss": "log_loss",
    "f1_macro": "macro_f1", "rmse": "rmse", "mae": "mae", "r2": "r2",
}  # fmt: skip


@dataclass(frozen=True)
class Scored:
    name: str
    metric: float
    fit_seconds: float | None


def framed(spec: DatasetSpec, x: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """The prepared features with categorical columns as pandas categoricals of `categories`
    (a test category training never saw becomes missing, as in a notebook)."""
    inputs = RawInputs.of(spec)
    frame = inputs.prepared(*inputs.split_frame(x))
    for name in inputs.columns(True):
        known = categories[name]
        column = frame[name].where(frame[name].isin(known))  # unseen -> missing
        frame[name] = pd.Categorical(column, categories=known)
    return frame


def _in_class_order(spec: DatasetSpec, classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Probabilities in `spec.classes` order (a class absent from training scores 0)."""
    full = np.zeros((len(proba), len(spec.classes)))
    full[:, np.asarray(classes, dtype=int)] = proba
    return full


def _output(spec: DatasetSpec, model: Any, x: pd.DataFrame) -> np.ndarray:
    if spec.is_classification:
        return _in_class_order(spec, model.classes_, np.asarray(model.predict_proba(x)))
    return np.asarray(model.predict(x), dtype=np.float64).reshape(-1, 1)


def _lightgbm(spec: DatasetSpec, seed: int) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    model = LGBMClassifier if spec.is_classification else LGBMRegressor
    return model(random_state=seed, n_jobs=1, verbose=-1)


def _hist(spec: DatasetSpec, seed: int) -> Any:
    if spec.is_classification:
        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    return HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)


class _Flaml:
    """FLAML's AutoML behind fit / predict / predict_proba (one core, a time budget)."""

    def __init__(self, spec: DatasetSpec, metric: str, seconds: float, seed: int) -> None:
        try:  # optional, the [bench] extra; untyped, hence imported as a module of Any
            flaml: Any = importlib.import_module("flaml")
        except ImportError:
            raise UserError(
                "bench-model's FLAML baseline needs flaml: install the [bench] extra "
                "(make bench-model adds it) or pass --flaml-seconds 0"
            ) from None
        self.automl, self.spec, self.seed = flaml.AutoML(), spec, seed
        self.settings = {"metric": FLAML_METRICS.get(metric, "auto"), "time_budget": seconds}
        if metric == "roc_auc" and spec.task == "multiclass":
            self.settings["metric"] = "roc_auc_ovr"

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> _Flaml:
        task = "classification" if self.spec.is_classification else "regression"
        self.automl.fit(x, y, task=task, seed=self.seed, n_jobs=1, verbose=0, **self.settings)
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.automl.predict(x))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.automl.predict_proba(x))


def run(
    settings: Settings, flaml_seconds: float = 60.0, tolerance: float = 0.01
) -> tuple[str, int]:
    """The comparison table (also in reports/bench_model.json) and the exit code: 1 when the
    candidate trails the best baseline by more than `tolerance`."""
    config = settings.read_model_config()
    spec, primary = config.dataset, config.evaluation.primary_metric
    bundle_dir = settings.resolve(settings.pipeline.candidate_dir)
    bundle = read_bundle(bundle_dir)  # none yet: one line saying to train
    x_train, y_train = read_split(settings, TRAIN_FILE, spec)
    x_test, y_test = read_split(settings, TEST_FILE, spec)
    score = _scorer(spec, primary, y_test)
    candidate = load_model(bundle_dir)
    seconds = bundle.lineage.get("training_seconds")
    name = f"this project ({bundle.model['family']})"
    rows = [Scored(name, score(candidate.predict(x_test)), seconds)]
    train_frame = framed(spec, x_train, bundle.categories)
    test_frame = framed(spec, x_test, bundle.categories)
    baselines: list[tuple[str, Callable[[], Any]]] = [
        ("HistGradientBoosting, defaults", lambda: _hist(spec, settings.seed)),
        ("LightGBM, defaults", lambda: _lightgbm(spec, settings.seed)),
    ]
    if flaml_seconds > 0:
        label = f"FLAML AutoML, {flaml_seconds:g} s"
        baselines.append((label, lambda: _Flaml(spec, primary, flaml_seconds, settings.seed)))
    for name, build in baselines:
        started = time.perf_counter()
        model = build().fit(train_frame, y_train)
        seconds = round(time.perf_counter() - started, 1)
        rows.append(Scored(name, score(_output(spec, model, test_frame)), seconds))
    return _report(settings, primary, rows, tolerance)


def _scorer(spec: DatasetSpec, primary: str, y_test: np.ndarray) -> Callable[[np.ndarray], float]:
    return lambda output: float(compute_metrics(spec, y_test, output)[primary])


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def gap(ours: float, best: float, primary: str) -> float:
    """Percent by which `ours` beats `best` (negative: trails), in the metric's direction."""
    sign = 1.0 if higher_is_better(primary) else -1.0
    return 100.0 * sign * (ours - best) / max(abs(best), 1e-12)


def _report(
    settings: Settings, primary: str, rows: list[Scored], tolerance: float
) -> tuple[str, int]:
    baselines = rows[1:]  # rows[0] is this project's model
    pick = max if higher_is_better(primary) else min
    best = pick(baselines, key=lambda row: row.metric)
    gaps = [gap(row.metric, best.metric, primary) for row in rows]
    table = [
        [row.name, f"{row.metric:.4f}", _seconds(row.fit_seconds), f"{row_gap:+.2f} %"]
        for row, row_gap in zip(rows, gaps, strict=True)
    ]
    headers = ["model", f"test {primary}", "fit s", "vs best baseline"]
    behind = gaps[0] < -100.0 * tolerance
    verdict = "trails" if behind else "is within"
    report = {
        "primary_metric": primary,
        "tolerance": tolerance,
        "passed": not behind,
        "rows": [
            {**row.__dict__, "gap_percent": round(g, 3)} for row, g in zip(rows, gaps, strict=True)
        ],
    }
    path = settings.resolve(settings.paths.reports_dir) / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    text = tables.render(headers, table, right=headers[1:])
    summary = f"this project {verdict} {100 * tolerance:g} % of the best baseline ({best.name})"
    return f"{text}\n{summary}; {path}", int(behind)
