"""The `evaluate` stage: metrics on the held-out split, thresholds, champion comparison.

Writes `reports/metrics.json`, `reports/confusion_matrix.png`, `reports/roc_curve.png` and
`reports/model_card.md` (registration copies them into the registered bundle; the candidate
bundle is left as training wrote it), then raises `GateFailedError` when a metric is below its
threshold or the primary metric regresses against the champion by more than the tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }} import tables
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.evaluation.metrics import METRICS, compute_metrics
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import load_model, load_model_config
from {{ cookiecutter.package_name }}.training.base import EvaluationSpec
from {{ cookiecutter.package_name }}.training.stage import (
    TEST_FILE,
    read_bundle_config,
    read_split,
)

METRICS_FILE = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc_curve.png"
MODEL_CARD = "model_card.md"


def threshold_failures(metrics: dict[str, float], spec: EvaluationSpec) -> list[str]:
    unknown = sorted((set(spec.thresholds) | {spec.primary_metric}) - set(METRICS))
    if unknown:
        raise UserError(
            f"configs/model_config.yaml: unknown metric(s) {', '.join(unknown)} in "
            f"evaluation (thresholds / primary_metric); use {', '.join(METRICS)}"
        )
    return [
        f"{name} {metrics[name]:.4f} < threshold {limit}"
        for name, limit in spec.thresholds.items()
        if metrics[name] < limit
    ]


def champion_comparison(
    candidate: dict[str, float], champion: dict[str, float] | None, spec: EvaluationSpec
) -> list[str]:
    """A failure when the candidate's primary metric falls below champion - tolerance."""
    if champion is None:
        return []
    key = spec.primary_metric
    if candidate[key] < champion[key] - spec.champion_tolerance:
        return [
            f"{key} {candidate[key]:.4f} regresses against the champion's {champion[key]:.4f} "
            f"(tolerance {spec.champion_tolerance})"
        ]
    return []


def _champion(settings: Settings, candidate_id: str) -> tuple[str, Any] | None:
    from {{ cookiecutter.package_name }}.registry import AliasNotSetError, resolve_bundle

    try:
        bundle = resolve_bundle("champion", settings)
    except AliasNotSetError:  # a registry outage fails the gate; it never reads as "no champion"
        return None
    bundle_id = str(read_bundle_config(bundle)["lineage"]["bundle_id"])
    if bundle_id == candidate_id:
        return None
    return bundle_id, load_model(bundle)


def _plots(y_true: np.ndarray, positive: np.ndarray, reports: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    predicted = (positive >= 0.5).astype(int)
    figure, axes = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, predicted, ax=axes, colorbar=False)
    axes.set_title("Confusion matrix (test split)")
    figure.tight_layout()
    figure.savefig(reports / CONFUSION_PNG, dpi=100)
    plt.close(figure)
    figure, axes = plt.subplots(figsize=(4.5, 4))
    RocCurveDisplay.from_predictions(y_true, positive, ax=axes)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set_title("ROC curve (test split)")
    figure.tight_layout()
    figure.savefig(reports / ROC_PNG, dpi=100)
    plt.close(figure)


def model_card(bundle_config: dict[str, Any], report: dict[str, Any]) -> str:
    """The model card in Markdown: data, lineage, metrics, plots, intended use."""
    lineage = bundle_config["lineage"]
    dataset = bundle_config["dataset"]
    rows = tables.render(
        ["metric", "value", "threshold"],
        [
            [name, f"{report['metrics'][name]:.4f}", report["thresholds"].get(name)]
            for name in METRICS
        ],
        right=["value", "threshold"],
    )
    champion = report["champion"]
    versus = (
        f"Compared with champion `{champion['bundle_id']}` on the same split: "
        f"{report['primary_metric']} {champion['metrics'][report['primary_metric']]:.4f}."
        if champion
        else "No champion was registered, so there was no comparison."
    )
    libraries = ", ".join(f"{k} {v}" for k, v in lineage["library_versions"].items())
    status = "passed" if report["passed"] else "FAILED: " + "; ".join(report["failures"])
    intended = bundle_config.get("intended_use") or "Not stated: fill `intended_use` in the config."
    split = (
        f"{lineage['dataset_rows']} ({lineage['train_rows']} train, {lineage['test_rows']} "
        f"held-out test, stratified, seed {lineage['seed']})"
    )
    return f"""# Model card: {bundle_config["model_id"]}

## Intended use
{intended}

## Model
- Architecture: {bundle_config["base_architecture"]}
- Framework: {bundle_config["environment"]["framework"]}
- Hyper-parameters: `{json.dumps(bundle_config.get("hyperparameters", {}), sort_keys=True)}`
- Bundle: `{lineage["bundle_id"]}`

## Data
- Dataset: {dataset["name"]} version {dataset["version"]} (`{lineage["dataset_path"]}`)
- SHA-256: `{lineage["dataset_sha256"]}`
- Rows: {split}
- Features: {len(bundle_config["features"])}; target `{dataset["target"]}`

## Lineage
- Git commit: {lineage["git_commit"] or "none (not a git work tree)"}
- Trained at: {lineage["trained_at"]} in {lineage["training_seconds"]} s
- Libraries: {libraries}

## Metrics (held-out test split)
{rows}

Gate: {status}. {versus}

![Confusion matrix]({CONFUSION_PNG})
![ROC curve]({ROC_PNG})

## Limitations
Metrics come from {lineage["test_rows"]} held-out rows of the training distribution; check
drift reports before trusting the model on data from elsewhere.
"""


def run(settings: Settings, bundle: Path | None = None) -> dict[str, Any]:
    """Evaluate a bundle (default: the candidate); write reports; enforce the gate."""
    bundle = bundle or settings.resolve(settings.pipeline.candidate_dir)
    config = load_model_config(settings.resolve(settings.pipeline.model_config_file))
    bundle_config = read_bundle_config(bundle)
    model = load_model(bundle)
    x_test, y_test = read_split(settings, TEST_FILE, config.dataset)
    positive = model.predict_proba(x_test)[:, 1]
    metrics = compute_metrics(config.dataset, y_test, model.predict(x_test))
    spec = config.evaluation
    failures = threshold_failures(metrics, spec)
    bundle_id = str(bundle_config["lineage"]["bundle_id"])
    champion = _champion(settings, bundle_id)
    champion_info = None
    if champion is not None:
        champion_id, champion_model = champion
        champion_metrics = compute_metrics(config.dataset, y_test, champion_model.predict(x_test))
        champion_info = {"bundle_id": champion_id, "metrics": champion_metrics}
        failures += champion_comparison(metrics, champion_metrics, spec)
    report = {
        "bundle_id": bundle_id,
        "test_rows": len(y_test),
        "metrics": metrics,
        "thresholds": spec.thresholds,
        "primary_metric": spec.primary_metric,
        "champion_tolerance": spec.champion_tolerance,
        "champion": champion_info,
        "passed": not failures,
        "failures": failures,
    }
    reports = settings.resolve(settings.paths.reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plots(y_test, positive, reports)
    (reports / MODEL_CARD).write_text(model_card(bundle_config, report), encoding="utf-8")
    if failures:
        raise GateFailedError(
            f"evaluation gate refused {bundle_id}: {'; '.join(failures)}; "
            f"see {reports / METRICS_FILE}"
        )
    return report
