"""Read a finished batch output back: what `drift --current DIR` takes as its current window."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from {{ cookiecutter.package_name }}.batch.io import PREDICTIONS_DIR
from {{ cookiecutter.package_name }}.batch.manifest import COMPLETE, read_manifest
from {{ cookiecutter.package_name }}.batch.model import PREDICTION, PROBABILITY_PREFIX, SCORE
from {{ cookiecutter.package_name }}.batch.score import MODEL_VERSION, RUN_ID
from {{ cookiecutter.package_name }}.errors import UserError

MAX_ROWS = 100_000  # drift compares distributions: the first rows of a huge run are plenty


@dataclass(frozen=True)
class BatchWindow:
    """A batch output's features and its `prediction` and `score` outputs, kept apart: a
    feature may have an output's name (the output is then written as `output_<name>`)."""

    features: pd.DataFrame
    prediction: pd.Series
    score: pd.Series


def read_batch_window(directory: Path, max_rows: int = MAX_ROWS) -> BatchWindow:
    """The features and outputs of the first `max_rows` scored rows of a complete batch
    output (its manifest's `columns` say which column is which)."""
    manifest = read_manifest(directory)
    if manifest.get("status") != COMPLETE:
        raise UserError(f"{directory} is a {manifest.get('status')} batch run; use a complete one")
    predictions = directory / PREDICTIONS_DIR
    if not any(predictions.glob("*.parquet")):
        raise UserError(f"{directory} scored no rows; nothing to compare")
    frame = ds.dataset(str(predictions), format="parquet").head(max_rows).to_pandas()
    columns = manifest.get("columns") or {}
    outputs: dict[str, str] = columns.get("outputs") or {
        name: name for name in (PREDICTION, SCORE, MODEL_VERSION, RUN_ID)
    }
    if "features" in columns:
        features = [name for name in columns["features"] if name in frame.columns]
    else:  # a run from before manifests listed the columns: everything but the outputs
        written = set(outputs.values())
        features = [
            name for name in frame.columns
            if name not in written and not name.startswith(PROBABILITY_PREFIX)
        ]  # fmt: skip
    if not features:
        raise UserError(
            f"{directory} holds no features; score with batch.include_features: true for drift"
        )
    return BatchWindow(frame[features], frame[outputs[PREDICTION]], frame[outputs[SCORE]])
