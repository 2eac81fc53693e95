"""Data: the bundled sample dataset, reading user tables, hashing and the train/test split.

The bundled samples (one per task) live in `data.samples`; `init-data` (`adopt`)
adopts your own CSV or Parquet file into the `dataset:` section of configs/model_config.yaml.
"""

from __future__ import annotations

import csv
import hashlib
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data.derived import with_derived

# Re-exported: the samples moved to data.samples; callers keep importing them from here.
from {{ cookiecutter.package_name }}.data.samples import SAMPLE_DATASET as SAMPLE_DATASET
from {{ cookiecutter.package_name }}.data.samples import SAMPLE_TARGET as SAMPLE_TARGET
from {{ cookiecutter.package_name }}.data.samples import sample_frame as sample_frame
from {{ cookiecutter.package_name }}.data.samples import write_sample as write_sample
from {{ cookiecutter.package_name }}.errors import UserError, one_line

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
            detail = one_line(error)
            raise UserError(f"{path} is not a well-formed CSV ({detail}); fix the file") from None
    else:
        try:
            frame = pd.read_parquet(path)
        except ImportError:
            raise UserError("reading Parquet needs pyarrow: pip install pyarrow") from None
        except Exception as error:  # pyarrow raises many types for bad files
            raise UserError(f"{path} is not a readable Parquet file ({error})") from None
        frame = as_csv_types(frame)
    if frame.empty:
        raise UserError(f"{path} has a header but no rows; it needs data")
    return frame


def as_csv_types(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` typed as the same data read from a CSV file, so that validation, training and
    monitoring see one set of dtypes whatever the file format.

    int64, float64 and bool columns are kept (other widths are widened); every other column
    (pandas category / Arrow dictionary, string and large_string, nullable Int/boolean with
    gaps, timestamps, objects) is written as CSV text and read back: a category of strings
    becomes text, an integer column with gaps float64, a boolean one with gaps object.
    """
    converted: dict[str, pd.Series] = {}
    for name in frame.columns:
        series = frame[name]
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            wanted = {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}[dtype.kind]
            converted[name] = series if dtype == wanted else series.astype(wanted)
            continue
        text = series.to_frame().to_csv(index=False, lineterminator="\n")
        converted[name] = pd.read_csv(StringIO(text)).iloc[:, 0].set_axis(frame.index)
    return pd.DataFrame(converted, index=frame.index, columns=frame.columns)


def ordered_levels(path: Path) -> dict[str, list[Any]]:
    """{column: its levels, lowest first} of the ordered category columns of a Parquet file
    (`read_table` reads them as text, as CSV would; a CSV file has none)."""
    if path.suffix.lower() == ".csv":
        return {}
    names = [field.name for field in pq.read_schema(path) if pa.types.is_dictionary(field.type)]
    frame = pd.read_parquet(path, columns=names) if names else pd.DataFrame()
    return {
        str(name): [level.item() if isinstance(level, np.generic) else level for level in levels]
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered
        for levels in [list(dtype.categories)]
    }


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the dataset identity recorded in lineage)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _label_key(value: Any) -> tuple[str, Any]:
    """A label compared by meaning: 1, 1.0 and np.int64(1) match; True is not 1; "1" is not 1."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("text", str(value))


def encode_labels(values: pd.Series, spec: DatasetSpec) -> np.ndarray:
    """Class indices into `spec.classes` (int64), or float64 values for regression."""
    target = spec.target
    missing = int(values.isna().sum())
    if missing:
        raise UserError(
            f"target column '{target}' has {missing} missing value(s); drop those rows "
            f"(`init-data ... --drop-missing-target`) or fill them in"
        )
    if not spec.is_classification:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna()]
        if len(bad):
            raise UserError(
                f"target column '{target}' is a regression target but holds {len(bad)} "
                f"non-numeric value(s) such as {bad.iloc[0]!r}; fix the data or dataset.task"
            )
        return np.asarray(numbers.to_numpy(dtype=np.float64))
    lookup = {_label_key(label): index for index, label in enumerate(spec.classes)}
    indices = np.asarray(values.map(lambda value: lookup.get(_label_key(value), -1)), np.int64)
    unknown = values[indices < 0]
    if len(unknown):
        seen = ", ".join(repr(v) for v in pd.unique(unknown)[:3])
        raise UserError(
            f"target column '{target}' has {len(unknown)} row(s) with label(s) {seen} not in "
            f"dataset.classes {spec.classes}; add them there (or re-run init-data) or drop them"
        )
    return indices


def decode_labels(indices: np.ndarray, spec: DatasetSpec) -> list[Any]:
    """Class labels (their configured types) of class indices."""
    return [spec.classes[int(index)] for index in np.asarray(indices).reshape(-1)]


def split_features(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw features (`spec.feature_names`, in order) and the encoded target (`encode_labels`)."""
    target = spec.target
    if target not in frame.columns:
        raise UserError(
            f"target column '{target}' is not in the data (columns: {', '.join(frame.columns[:5])}"
            f"{', ...' if len(frame.columns) > 5 else ''}); fix dataset.target"
        )
    return feature_frame(frame, spec), encode_labels(frame[target], spec)


def feature_frame(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The model's raw features (`spec.feature_names`, in order) of a table holding its input
    columns: the calendar parts of `dataset.dates` and the ranks of `dataset.orders` are
    derived here, unless the table holds them already (Feast stores the model's features)."""
    derived = set(spec.derived) <= set(frame.columns)
    needed = [name for name in spec.input_columns if not (derived and name in spec.dates)]
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise UserError(
            f"feature column(s) {', '.join(missing[:5])} of dataset.features are not in the data; "
            "fix dataset.features (or re-run init-data)"
        )
    # copy() consolidates the columns into one block: a row's to_numpy() is then ~30x faster.
    return (frame if derived else with_derived(frame, spec))[spec.feature_names].copy()


def train_test(
    frame: pd.DataFrame, spec: DatasetSpec, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic split into train and test frames (target included); stratified by class
    for classification (a label that is not a class is refused first)."""
    if spec.target not in frame.columns:
        split_features(frame, spec)  # raises the one-line message
    labels = encode_labels(frame[spec.target], spec)
    try:
        train, test = train_test_split(
            frame,
            test_size=spec.test_size,
            random_state=seed,
            stratify=labels if spec.is_classification else None,
        )
    except ValueError as error:  # too few rows, or a class with a single row
        detail = one_line(error)
        raise UserError(
            f"cannot split {len(frame)} rows with test_size {spec.test_size} ({detail}); "
            "add rows (every class needs at least 2) or change dataset.test_size"
        ) from None
    return train.reset_index(drop=True), test.reset_index(drop=True)
