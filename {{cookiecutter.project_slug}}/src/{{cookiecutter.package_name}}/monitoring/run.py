"""The drift stage: load the reference and the current window, compare, write the reports.

The reference is the dataset of the spec (`dataset:` in configs/model_config.yaml): its file,
its target and which features are categorical.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from {{ cookiecutter.package_name }}.batch.reader import read_batch_window
from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.contracts.decode import decode
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import feature_frame, read_table
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.evaluation.gate import predicts_the_same
from {{ cookiecutter.package_name }}.monitoring.drift import (
    DriftReport,
    DriftThresholds,
    category_text,
    compare,
    prediction_drift,
)
from {{ cookiecutter.package_name }}.monitoring.reports import write_reports
from {{ cookiecutter.package_name }}.monitoring.state import DRIFT, last_reset, open_state, stamp
from {{ cookiecutter.package_name }}.monitoring.window import LogWindow, log_url, read_window
from {{ cookiecutter.package_name }}.registry import resolve_bundle
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import load_model


@dataclass(frozen=True)
class DriftResult:
    report: DriftReport
    paths: dict[str, Path]
    window: LogWindow | None


class NotEnoughTrafficError(UserError):
    """Too few champion predictions since the last reset to judge drift: no verdict yet."""

    def __init__(self, window: LogWindow, needed: int) -> None:
        since = f" since {window.since.isoformat(timespec='seconds')}" if window.since else ""
        of = f" of {window.model_version}" if window.model_version else ""
        super().__init__(
            f"{window.size} champion predictions{of}{since}; drift needs at least {needed}: "
            "no verdict yet (wait for more traffic or lower monitoring.min_window_size)"
        )


def traffic(window: LogWindow | None) -> dict[str, Any]:
    """Which traffic was judged, and the challenger / shadow traffic reported apart."""
    if window is None:
        return {}
    return {
        "champion": {
            "model_version": window.model_version,
            "rows": window.size,
            "labelled": window.feedback_count,
            "online_accuracy": window.online_accuracy(),
            "online_mae": window.online_mae(),
            "since": stamp(window.since),
            "newest_at": stamp(window.newest_at),
        },
        "others": [asdict(summary) for summary in window.others],
    }


def drift_record(window: LogWindow, report: DriftReport | None) -> dict[str, Any]:
    """The shared drift result (`monitoring.state`): what `retrain-check` reads."""
    return {
        "checked_at": stamp(datetime.now(UTC)),
        "since": stamp(window.since),
        "newest_at": stamp(window.newest_at),
        "model_version": window.model_version,
        "rows": window.size,
        "dataset_drift": None if report is None else report.dataset_drift,
        "drifted_features": [] if report is None else report.drifted_features[:20],
        "prediction_drifted": None if report is None else report.prediction_drifted,
    }


def champion_window(settings: Settings, size: int, min_rows: int, spec: DatasetSpec) -> LogWindow:
    """The champion's latest `size` predictions since the last reset (`state.last_reset`);
    `NotEnoughTrafficError` (recorded as "no verdict") below `min_rows`."""
    url = log_url(settings)
    store = open_state(settings)
    window = read_window(
        url, size, since=last_reset(settings, store), classification=spec.is_classification
    )
    if window.size < min_rows:
        store.save(DRIFT, drift_record(window, None))
        raise NotEnoughTrafficError(window, min_rows)
    return window


def thresholds(settings: Settings) -> DriftThresholds:
    config = settings.monitoring
    return DriftThresholds(
        psi=config.psi_threshold,
        ks_alpha=config.ks_alpha,
        chi2_alpha=config.chi2_alpha,
        drift_share=config.drift_share,
        bins=config.psi_bins,
        min_rows=config.min_window_size,
    )


def dataset_spec(settings: Settings) -> DatasetSpec:
    """The dataset spec (`dataset:` in configs/model_config.yaml): reference, target, kinds."""

    return settings.read_model_config().dataset


@dataclass(frozen=True)
class Reference:
    """The training data: the model's features and the target."""

    spec: DatasetSpec
    path: Path
    features: pd.DataFrame
    target: npt.NDArray[Any]


def load_reference(settings: Settings, spec: DatasetSpec, path: Path | None = None) -> Reference:
    """The dataset file's (or `path`'s) feature columns (model-input order) and its target."""
    path = path or settings.resolve(spec.path)
    frame = read_table(path)
    missing = [name for name in (spec.target, *spec.input_columns) if name not in frame]
    if missing:
        raise UserError(
            f"reference {path} lacks column(s) {', '.join(missing[:5])}; fix dataset.path or "
            "dataset.features in configs/model_config.yaml (or run init-data again)"
        )
    target = frame[spec.target]
    if spec.is_classification:  # the labels as the model outputs them (CSV may read 1 as 1.0)
        target = category_text(target)
    return Reference(spec, path, feature_frame(frame, spec), target.to_numpy())


def _champion_model(settings: Settings, spec: DatasetSpec) -> Any | None:
    """The champion model when it predicts this dataset's task and classes, else None."""
    try:
        bundle = resolve_bundle("champion", settings)
        if not predicts_the_same(read_bundle(bundle), spec):
            return None  # trained before the project adopted other data
        return load_model(bundle)
    except (ImportError, UserError, KeyError):
        return None


def reference_outputs(
    settings: Settings, reference: Reference
) -> tuple[npt.NDArray[Any] | None, npt.NDArray[np.float64] | None]:
    """What the predictions are compared with: (labels, scores) of the champion on the
    reference; without a comparable champion, the reference labels (classification, no
    score) or the training target as the values (regression)."""
    spec = reference.spec
    model = _champion_model(settings, spec)
    if model is None:
        if spec.is_classification:
            return reference.target, None
        return None, np.asarray(reference.target, dtype=np.float64)
    output = np.asarray(model.predict(reference.features), dtype=np.float64)
    if not spec.is_classification:
        return None, output.reshape(-1)
    decision = decode(spec, output)
    labels = category_text(pd.Series(decision.labels, dtype=object))
    return labels.to_numpy(), decision.scores


def _read_current(
    path: Path, spec: DatasetSpec
) -> tuple[pd.DataFrame, npt.NDArray[Any] | None, npt.NDArray[np.float64] | None]:
    """Features, predicted labels and scores (when present) of a batch output directory or a
    CSV/Parquet file; for regression the `prediction` column is the predicted value (the
    score). A file's `prediction` and `score` columns are outputs unless a feature has that
    name (a batch output names its outputs in its manifest, so there they never collide)."""
    if path.is_dir():
        window = read_batch_window(path)
        current, prediction, raw_score = window.features, window.prediction, window.score
    else:
        current = read_table(path)
        outputs = [c for c in ("prediction", "score") if c in current and c not in spec.features]
        prediction = current["prediction"] if "prediction" in outputs else None
        raw_score = current["score"] if "score" in outputs else None
        target = [spec.target] if spec.target in current else []
        current = current.drop(columns=[*outputs, *target])
    score = None if raw_score is None else raw_score.to_numpy(dtype=np.float64)
    if not spec.is_classification:
        if score is None and prediction is not None:
            score = pd.to_numeric(prediction, errors="coerce").to_numpy(dtype=np.float64)
        labels = None
    else:
        labels = None if prediction is None else category_text(prediction).to_numpy()
    return current, labels, score


def run_drift(
    settings: Settings,
    current_path: Path | None = None,
    window_size: int | None = None,
    output_dir: Path | None = None,
    reference_path: Path | None = None,
) -> DriftResult:
    """Compare `current_path` (a CSV/Parquet of features, optionally `prediction` and
    `score` columns) or the latest prediction-log window with the reference (the configured
    dataset, or `reference_path`: a copy of it where the project's data/ is not at hand)."""
    config = settings.monitoring
    limits = thresholds(settings)
    spec = dataset_spec(settings)
    reference = load_reference(settings, spec, reference_path)
    window: LogWindow | None = None
    if current_path is not None:
        current, current_labels, current_score = _read_current(current_path, spec)
        source = str(current_path)
    else:
        window = champion_window(settings, window_size or config.window_size, limits.min_rows, spec)
        current = window.features
        source = (
            f"prediction log (last {window.size} champion predictions of {window.model_version})"
        )
        current_labels = (
            category_text(window.prediction).to_numpy() if spec.is_classification else None
        )
        current_score = window.score.to_numpy(dtype=np.float64)
    features = compare(reference.features, current, limits, tuple(spec.categorical_features))
    reference_labels, reference_score = reference_outputs(settings, reference)
    scores, p_value, drifted = prediction_drift(
        reference_labels if current_labels is not None else None,
        current_labels,
        limits,
        reference_score if current_score is not None else None,
        current_score,
    )
    report = DriftReport(
        reference=str(
            reference.path.relative_to(settings.project_root)
            if reference.path.is_relative_to(settings.project_root)
            else reference.path
        ),
        current=source,
        reference_rows=len(reference.features),
        current_rows=len(current),
        thresholds=limits,
        features=features,
        prediction=scores,
        prediction_p_value=p_value,
        prediction_drifted=drifted,
        traffic=traffic(window),
    )
    paths = write_reports(report, output_dir or settings.resolve(config.report_dir))
    if window is not None:
        open_state(settings).save(DRIFT, drift_record(window, report))
    return DriftResult(report, paths, window)
