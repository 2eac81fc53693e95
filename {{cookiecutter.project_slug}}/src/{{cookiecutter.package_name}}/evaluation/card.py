"""The model card (Markdown) per task: use, model, data and features, metrics with their
thresholds and how those were set, the champion comparison, plots and lineage."""

from __future__ import annotations

import json
from typing import Any

from {{ cookiecutter.package_name }} import tables
from {{ cookiecutter.package_name }}.contracts.metrics import higher_is_better
from {{ cookiecutter.package_name }}.evaluation.plots import CLASS_REPORT, TITLES

TASK_WORDS = {
    "binary": "binary classification",
    "multiclass": "multi-class classification",
    "regression": "regression",
}


def bound_word(name: str) -> str:
    """How a threshold on metric `name` reads: a minimum, or a maximum for lower-is-better."""
    return "minimum" if higher_is_better(name) else "maximum"


def _target(dataset: dict[str, Any]) -> str:
    task = dataset.get("task", "binary")
    line = f"- Task: {TASK_WORDS.get(task, task)}; target `{dataset['target']}`"
    if task == "regression":
        return line
    classes = ", ".join(f"`{json.dumps(label)}`" for label in dataset.get("classes", []))
    line += f"\n- Classes (model-output order): {classes}"
    if task == "binary":
        line += f"; positive class `{json.dumps(dataset.get('positive_class'))}`"
    return line


def _features(dataset: dict[str, Any]) -> str:
    features: dict[str, str] = dataset.get("features", {})
    rows = tables.render(["feature", "kind"], [[name, kind] for name, kind in features.items()])
    counts = {kind: list(features.values()).count(kind) for kind in ("numeric", "categorical")}
    ids = ", ".join(f"`{name}`" for name in dataset.get("id_columns", [])) or "none"
    return (
        f"{len(features)} features ({counts['numeric']} numeric, {counts['categorical']} "
        f"categorical; unknown categories: {dataset.get('unknown_category', 'ignore')}); "
        f"id columns (never fed to the model): {ids}. Missing values are imputed by the model.\n\n"
        f"{rows}"
    )


def _metrics(report: dict[str, Any]) -> str:
    thresholds: dict[str, float] = report["thresholds"]
    rows = [
        [
            name,
            f"{value:.4f}",
            "higher" if higher_is_better(name) else "lower",
            "" if name not in thresholds else f"{bound_word(name)} {thresholds[name]}",
        ]
        for name, value in report["metrics"].items()
    ]
    return tables.render(
        ["metric", "value", "better", "threshold"], rows, right=["value", "threshold"]
    )


def _threshold_origin(evaluation: dict[str, Any]) -> str:
    """How the thresholds were set: the config's note and measured baseline when present."""
    text = (
        "Thresholds come from `evaluation.thresholds` in configs/model_config.yaml: a minimum "
        "for a higher-is-better metric, a maximum for a lower-is-better one."
    )
    note = evaluation.get("note")
    if note:
        text += f" {note}"
    baseline = evaluation.get("baseline")
    if isinstance(baseline, dict) and baseline:
        shown = ", ".join(f"{name} {float(value):.4f}" for name, value in baseline.items())
        text += f" Baseline (a dummy model on the same split): {shown}."
    return text


def _champion(report: dict[str, Any]) -> str:
    champion = report["champion"]
    if not champion:
        return "No champion was registered, so there was no comparison."
    if not champion.get("comparable", True):
        return (
            f"Champion `{champion['bundle_id']}` was trained for another task or other classes: "
            "not compared (the thresholds alone decided)."
        )
    key = report["primary_metric"]
    direction = "higher" if higher_is_better(key) else "lower"
    return (
        f"Compared with champion `{champion['bundle_id']}` on the same split: {key} "
        f"{champion['metrics'][key]:.4f} ({direction} is better, tolerance "
        f"{report['champion_tolerance']})."
    )


def _figures(report: dict[str, Any]) -> str:
    lines = [f"![{TITLES[name]}]({name})" for name in report.get("files", []) if name in TITLES]
    if CLASS_REPORT in report.get("files", []):
        lines.append(f"Per-class precision, recall and F1: [{CLASS_REPORT}]({CLASS_REPORT})")
    return "\n".join(lines)


def _tuning(report: dict[str, Any]) -> str:
    """The family line, and where tuned hyper-parameters came from (CV next to the test)."""
    model = report.get("model") or {}
    line = f"- Model family: {model.get('family', 'unknown')}"
    tuning = model.get("tuning")
    if not tuning:
        return line + " (hyper-parameters as configured, not tuned)"
    metric = tuning["metric"]
    test = report["metrics"].get(metric)
    shown = "" if test is None else f"; {test:.4f} on the held-out test split"
    return (
        f"{line}, chosen by `make tune`: study `{tuning['study']}`, trial {tuning['trial']} of "
        f"{tuning['finished_trials']} finished, {metric} {tuning['cv_score']:.4f} in "
        f"{tuning['folds']}-fold cross-validation on the training split{shown}"
    )


def model_card(bundle_config: dict[str, Any], report: dict[str, Any]) -> str:
    """The model card in Markdown for the bundle `bundle_config` evaluated as `report`."""
    lineage = bundle_config["lineage"]
    dataset = bundle_config["dataset"]
    libraries = ", ".join(f"{k} {v}" for k, v in lineage["library_versions"].items())
    status = "passed" if report["passed"] else "FAILED: " + "; ".join(report["failures"])
    evaluation = bundle_config.get("evaluation") or {}
    intended = bundle_config.get("intended_use") or "Not stated: fill `intended_use` in the config."
    stratified = "stratified, " if dataset.get("task", "binary") != "regression" else ""
    split = (
        f"{lineage['dataset_rows']} ({lineage['train_rows']} train, {lineage['test_rows']} "
        f"held-out test, {stratified}seed {lineage['seed']})"
    )
    return f"""# Model card: {bundle_config["model_id"]}

## Intended use
{intended}

## Model
{_target(dataset)}
- Architecture: {bundle_config["base_architecture"]}
- Framework: {bundle_config["environment"]["framework"]}
- Hyper-parameters: `{json.dumps(bundle_config.get("hyperparameters", {}), sort_keys=True)}`
{_tuning(report)}- Bundle: `{lineage["bundle_id"]}`

## Data
- Dataset: {dataset["name"]} version {dataset["version"]} (`{lineage["dataset_path"]}`)
- SHA-256: `{lineage["dataset_sha256"]}`
- Rows: {split}

### Features
{_features(dataset)}

## Lineage
- Git commit: {lineage["git_commit"] or "none (not a git work tree)"}
- Trained at: {lineage["trained_at"]} in {lineage["training_seconds"]} s
- Libraries: {libraries}

## Metrics (held-out test split)
{_metrics(report)}

Primary metric: {report["primary_metric"]}. {_threshold_origin(evaluation)}

Gate: {status}. {_champion(report)}

{_figures(report)}

## Limitations
Metrics come from {lineage["test_rows"]} held-out rows of the training distribution; check
drift reports before trusting the model on data from elsewhere.
"""
