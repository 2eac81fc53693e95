"""The drift stage: load the reference and the current window, compare, write the reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring.drift import (
    DriftReport,
    DriftThresholds,
    compare,
    prediction_drift,
    write_reports,
)
from {{ cookiecutter.package_name }}.monitoring.state import DRIFT, last_reset, open_state, stamp
from {{ cookiecutter.package_name }}.monitoring.window import LogWindow, log_url, read_window
from {{ cookiecutter.package_name }}.settings import Settings


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


def champion_window(settings: Settings, size: int, min_rows: int) -> LogWindow:
    """The champion's latest `size` predictions since the last reset (`state.last_reset`);
    `NotEnoughTrafficError` (recorded as "no verdict") below `min_rows`."""
    url = log_url(settings)
    store = open_state(settings)
    window = read_window(url, size, since=last_reset(settings, store))
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


def load_reference(settings: Settings) -> tuple[pd.DataFrame, npt.NDArray[Any], Path]:
    """Reference features (target dropped) and the reference labels."""
    config = settings.monitoring
    path = settings.resolve(config.reference_path)
    frame = read_table(path)
    if config.target_column not in frame.columns:
        raise UserError(
            f"reference {path} has no target column '{config.target_column}'; "
            "fix monitoring.target_column or monitoring.reference_path"
        )
    labels = frame[config.target_column].to_numpy()
    return frame.drop(columns=[config.target_column]), labels, path


def champion_probability(
    settings: Settings, reference: pd.DataFrame
) -> npt.NDArray[np.float64] | None:
    """P(class 1) of the champion model on the reference, or None when no champion exists."""
    try:
        from {{ cookiecutter.package_name }}.registry import resolve_bundle
        from {{ cookiecutter.package_name }}.training import load_model

        model = load_model(resolve_bundle("champion", settings))
        return np.asarray(
            model.predict_proba(reference[model.feature_names])[:, 1], dtype=np.float64
        )
    except (ImportError, UserError, KeyError):
        return None


def _read_current(
    settings: Settings, path: Path
) -> tuple[pd.DataFrame, npt.NDArray[Any] | None, npt.NDArray[np.float64] | None]:
    """Features, predicted classes and P(class 1) (when present) of a CSV/Parquet file."""
    from {{ cookiecutter.package_name }}.batch.reader import read_batch_window  # a batch output

    current = read_batch_window(path) if path.is_dir() else read_table(path)
    classes = current["predicted_class"].to_numpy() if "predicted_class" in current else None
    probability = (
        current["probability"].to_numpy(dtype=np.float64) if "probability" in current else None
    )
    outputs = (settings.monitoring.target_column, "probability", "predicted_class")
    return current.drop(columns=[c for c in outputs if c in current]), classes, probability


def run_drift(
    settings: Settings,
    current_path: Path | None = None,
    window_size: int | None = None,
    output_dir: Path | None = None,
) -> DriftResult:
    """Compare `current_path` (a CSV/Parquet of features, optionally `probability` and
    `predicted_class` columns) or the latest prediction-log window with the reference."""
    config = settings.monitoring
    limits = thresholds(settings)
    reference, reference_labels, reference_path = load_reference(settings)
    window: LogWindow | None = None
    if current_path is not None:
        current, current_classes, current_probability = _read_current(settings, current_path)
        source = str(current_path)
    else:
        window = champion_window(settings, window_size or config.window_size, limits.min_rows)
        current = window.features
        source = (
            f"prediction log (last {window.size} champion predictions of {window.model_version})"
        )
        current_classes = window.predicted_class.to_numpy()
        current_probability = window.probability.to_numpy(dtype=np.float64)
    features = compare(reference, current, limits, tuple(config.categorical_features))
    scores: dict[str, float] = {}
    p_value: float | None = None
    drifted = False
    if current_classes is not None:
        reference_probability = (
            champion_probability(settings, reference) if current_probability is not None else None
        )
        reference_classes = (
            (reference_probability >= 0.5).astype(int)
            if reference_probability is not None
            else reference_labels
        )
        scores, p_value, drifted = prediction_drift(
            reference_classes,
            current_classes,
            limits,
            reference_probability,
            current_probability if reference_probability is not None else None,
        )
    report = DriftReport(
        reference=str(
            reference_path.relative_to(settings.project_root)
            if reference_path.is_relative_to(settings.project_root)
            else reference_path
        ),
        current=source,
        reference_rows=len(reference),
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
