"""The `evaluate` stage: metrics on the held-out split, thresholds, champion comparison.

Writes `reports/metrics.json`, the task's plots and report files (`evaluation.plots`) and
`reports/model_card.md` (registration copies the files the report lists into the registered
bundle; the candidate bundle is left as training wrote it), then raises `GateFailedError`
when a metric is on the wrong side of its threshold (a minimum for higher-is-better metrics,
a maximum for log_loss, rmse and mae) or the primary metric is worse than the champion's by
more than the tolerance (in the metric's own units).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle, read_bundle
from {{ cookiecutter.package_name }}.contracts.config import EvaluationSpec
from {{ cookiecutter.package_name }}.contracts.metrics import (
    METRIC_DIRECTIONS,
    TASK_METRICS,
    compute_metrics,
    higher_is_better,
)
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.evaluation.card import bound_word, model_card
from {{ cookiecutter.package_name }}.evaluation.plots import write_plots
from {{ cookiecutter.package_name }}.registry import AliasNotSetError, resolve_bundle
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import load_model
from {{ cookiecutter.package_name }}.training.stage import TEST_FILE, read_split

METRICS_FILE = "metrics.json"
MODEL_CARD = "model_card.md"


def worse_than(name: str, value: float, bound: float) -> bool:
    """Whether `value` is on the wrong side of `bound` for metric `name`."""
    return value < bound if higher_is_better(name) else value > bound


def check_metric_names(spec: EvaluationSpec, dataset: DatasetSpec) -> None:
    """Thresholds and the primary metric must be metrics of the dataset's task."""
    allowed = TASK_METRICS[dataset.task]
    unknown = sorted((set(spec.thresholds) | {spec.primary_metric}) - set(allowed))
    if unknown:
        raise UserError(
            f"configs/model_config.yaml: metric(s) {', '.join(unknown)} in evaluation "
            f"(thresholds / primary_metric) are not {dataset.task} metrics; use "
            f"{', '.join(allowed)}"
        )


def threshold_failures(metrics: dict[str, float], spec: EvaluationSpec) -> list[str]:
    """One line per metric on the wrong side of its bound (names checked beforehand)."""
    return [
        f"{name} {metrics[name]:.4f} {'<' if higher_is_better(name) else '>'} "
        f"{bound_word(name)} {bound}"
        for name, bound in spec.thresholds.items()
        if worse_than(name, metrics[name], bound)
    ]


def champion_comparison(
    candidate: dict[str, float], champion: dict[str, float] | None, spec: EvaluationSpec
) -> list[str]:
    """A failure when the candidate's primary metric is worse than the champion's by more
    than the tolerance, in the metric's direction."""
    if champion is None:
        return []
    key = spec.primary_metric
    sign = 1.0 if higher_is_better(key) else -1.0
    allowed = champion[key] - sign * spec.champion_tolerance
    if worse_than(key, candidate[key], allowed):
        better = "higher" if sign > 0 else "lower"
        return [
            f"{key} {candidate[key]:.4f} regresses against the champion's {champion[key]:.4f} "
            f"({better} is better, tolerance {spec.champion_tolerance})"
        ]
    return []


def predicts_the_same(bundle: Bundle, dataset: DatasetSpec) -> bool:
    """Whether a bundle's model predicts this dataset's task and classes (a champion trained
    before the project adopted other data does not)."""
    theirs = bundle.spec
    return theirs.task == dataset.task and list(theirs.classes) == list(dataset.classes)


def _champion(settings: Settings, candidate_id: str) -> tuple[Bundle, Any] | None:
    try:
        bundle = resolve_bundle("champion", settings)
    except AliasNotSetError:  # a registry outage fails the gate; it never reads as "no champion"
        return None
    champion = read_bundle(bundle)
    if champion.bundle_id == candidate_id:
        return None
    return champion, load_model(bundle)


def _champion_metrics(
    settings: Settings, bundle_id: str, dataset: DatasetSpec, x_test: Any, y_test: np.ndarray
) -> dict[str, Any] | None:
    """The champion's metrics on the candidate's test split; None without a comparable one.

    A champion trained for another task or other classes (the project adopted new data) is
    not comparable: the candidate is judged on its thresholds alone and the report says so.
    """
    found = _champion(settings, bundle_id)
    if found is None:
        return None
    champion, champion_model = found
    champion_id = champion.bundle_id
    if not predicts_the_same(champion, dataset):
        return {"bundle_id": champion_id, "metrics": None, "comparable": False}
    output = np.asarray(champion_model.predict(x_test), dtype=np.float64)
    metrics = compute_metrics(dataset, y_test, output)
    return {"bundle_id": champion_id, "metrics": metrics, "comparable": True}


def run(settings: Settings, bundle: Path | None = None) -> dict[str, Any]:
    """Evaluate a bundle (default: the candidate); write reports; enforce the gate."""
    bundle = bundle or settings.resolve(settings.pipeline.candidate_dir)
    config = settings.read_model_config()
    dataset, spec = config.dataset, config.evaluation
    check_metric_names(spec, dataset)
    evaluated = read_bundle(bundle)
    model = load_model(bundle)
    x_test, y_test = read_split(settings, TEST_FILE, dataset)
    output = np.asarray(model.predict(x_test), dtype=np.float64)
    metrics = compute_metrics(dataset, y_test, output)
    failures = threshold_failures(metrics, spec)
    bundle_id = evaluated.bundle_id
    champion = _champion_metrics(settings, bundle_id, dataset, x_test, y_test)
    if champion is not None and champion["comparable"]:
        failures += champion_comparison(metrics, champion["metrics"], spec)
    reports = settings.resolve(settings.paths.reports_dir)
    files = write_plots(dataset, y_test, output, reports)
    report = {
        "bundle_id": bundle_id,
        "task": dataset.task,
        "test_rows": len(y_test),
        "metrics": metrics,
        "directions": {name: METRIC_DIRECTIONS[name] for name in metrics},
        "thresholds": spec.thresholds,
        "primary_metric": spec.primary_metric,
        "model": evaluated.model,
        "champion_tolerance": spec.champion_tolerance,
        "champion": champion,
        "passed": not failures,
        "failures": failures,
        "files": files,
    }
    (reports / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (reports / MODEL_CARD).write_text(model_card(evaluated.raw, report), encoding="utf-8")
    if failures:
        raise GateFailedError(
            f"evaluation gate refused {bundle_id}: {'; '.join(failures)}; the bounds are "
            "evaluation.thresholds in configs/model_config.yaml (review and edit them, or "
            "re-derive them from the data: make init-data DATA=... TARGET=... "
            f"INIT_DATA_ARGS=--force); see {reports / METRICS_FILE}"
        )
    return report
