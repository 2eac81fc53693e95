"""Read a finished batch output back: what `drift --current DIR` takes as its current window."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from {{ cookiecutter.package_name }}.batch.io import PREDICTIONS_DIR
from {{ cookiecutter.package_name }}.batch.manifest import COMPLETE, read_manifest
from {{ cookiecutter.package_name }}.batch.model import PREDICTION, PROBABILITY_PREFIX, SCORE
from {{ cookiecutter.package_name }}.batch.score import MODEL_VERSION, RUN_ID
from {{ cookiecutter.package_name }}.errors import UserError

MAX_ROWS = 100_000  # drift compares distributions: the first rows of a huge run are plenty


def read_batch_window(directory: Path, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Features plus `prediction` and `score` (as in the prediction log, the names monitoring
    reads) of the first `max_rows` scored rows of a complete batch output."""
    manifest = read_manifest(directory)
    if manifest.get("status") != COMPLETE:
        raise UserError(f"{directory} is a {manifest.get('status')} batch run; use a complete one")
    predictions = directory / PREDICTIONS_DIR
    if not any(predictions.glob("*.parquet")):
        raise UserError(f"{directory} scored no rows; nothing to compare")
    frame = ds.dataset(str(predictions), format="parquet").head(max_rows).to_pandas()
    outputs = {PREDICTION, SCORE, MODEL_VERSION, RUN_ID}
    probabilities = [name for name in frame.columns if name.startswith(PROBABILITY_PREFIX)]
    if set(frame.columns) - outputs - set(probabilities) == set():
        raise UserError(
            f"{directory} holds no features; score with batch.include_features: true for drift"
        )
    return frame.drop(columns=[*probabilities, MODEL_VERSION, RUN_ID])
