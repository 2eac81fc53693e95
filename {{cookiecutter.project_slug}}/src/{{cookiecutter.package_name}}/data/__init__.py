"""Data: the bundled sample dataset, reading user tables, hashing and the train/test split.

The bundled samples (one per task) live in `data.samples`; `init-data` (`data.adopt`)
adopts your own CSV or Parquet file into the `dataset:` section of configs/model_config.yaml.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

# Re-exported: the samples moved to data.samples; callers keep importing them from here.
from {{ cookiecutter.package_name }}.data.samples import SAMPLE_DATASET as SAMPLE_DATASET
from {{ cookiecutter.package_name }}.data.samples import SAMPLE_TARGET as SAMPLE_TARGET
from {{ cookiecutter.package_name }}.data.samples import sample_frame as sample_frame
from {{ cookiecutter.package_name }}.data.samples import write_sample as write_sample
from {{ cookiecutter.package_name }}.errors import UserError

READABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; every unreadable input becomes a one-line `UserError`."""
    if not path.exists():
        raise UserError(f"data file {path} not found; run `make data` or fix dataset.path")
    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise UserError(f"{path}: unsupported file type '{path.suffix}'; use .csv or .parquet")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty; regenerate it (`make data`) or fix the export")
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise UserError(f"{path} has no header or rows; check the export") from None
        except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as error:
            detail = " ".join(str(error).split())
            raise UserError(f"{path} is not a well-formed CSV ({detail}); fix the file") from None
    else:
        try:
            frame = pd.read_parquet(path)
        except ImportError:
            raise UserError("reading Parquet needs pyarrow: pip install pyarrow") from None
        except Exception as error:  # pyarrow raises many types for bad files
            raise UserError(f"{path} is not a readable Parquet file ({error})") from None
    if frame.empty:
        raise UserError(f"{path} has a header but no rows; it needs data")
    return frame


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the dataset identity recorded in lineage)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_features(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (every column but the target) and the 0/1 labels."""
    if target not in frame.columns:
        raise UserError(
            f"target column '{target}' is not in the data (columns: {', '.join(frame.columns[:5])}"
            f"{', ...' if len(frame.columns) > 5 else ''}); fix dataset.target"
        )
    labels = frame[target].to_numpy()
    if set(np.unique(labels)) - {0, 1}:
        raise UserError(f"target column '{target}' must hold only 0 and 1 (binary labels)")
    # copy() consolidates the columns into one block: a row's to_numpy() is then ~30x faster.
    return frame.drop(columns=[target]).copy(), labels.astype(np.int64)


def train_test(
    frame: pd.DataFrame, target: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic stratified split into train and test frames (target included)."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[target]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)
