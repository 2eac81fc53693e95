"""Preprocessing that belongs to the model: imputation, scaling and one-hot encoding.

`build_preprocessor(spec)` is the one fitted scikit-learn `ColumnTransformer` of every
framework: numeric -> SimpleImputer(median) -> StandardScaler, categorical ->
OneHotEncoder(handle_unknown="ignore"). It selects columns by position in
`spec.feature_names`, so it runs on a frame, on a matrix and, exported by skl2onnx, on one
float tensor (all-numeric data) or one tensor per column (mixed data).

Raw values first go through `RawInputs` (the same code for training, evaluation, the
parity check, the server and MLflow): numeric columns become float64 (None -> NaN, the
imputer's job), categorical values become strings (`3.0` read from a CSV with gaps is the
same category as `3`), and a missing category becomes `MISSING`, its own category. This
replaces a categorical SimpleImputer(constant) step: skl2onnx converts a string imputer only
when the missing marker is itself a string, so the marker is set before the graph.

An unseen category always encodes as "none of the known ones" inside the model (batch
evaluation and drift must not crash on one); `spec.unknown_category: reject` is enforced at
the edge (`runtime.Predictor.reject_unknown`, serving's 422) from the known categories.

`Encoder` is the fitted transformer's arithmetic in NumPy (PyTorch and Keras networks take its
float32 output): a single row costs microseconds, where `ColumnTransformer.transform` costs
about a millisecond. It is saved as JSON (`native/preprocessing.json`), so those bundles
hold no pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data.derived import MISSING, category_text
from {{ cookiecutter.package_name }}.errors import UserError

ENCODER_FILE = "preprocessing.json"
NUMERIC, CATEGORICAL = "numeric", "categorical"

Rows = Sequence[Sequence[Any]]


class UnknownCategoryError(UserError):
    """A categorical value training never saw, under `unknown_category: reject`."""

    def __init__(self, column: str, value: Any) -> None:
        super().__init__(
            f"feature '{column}' has the unknown category {value!r}; send one of the categories "
            "the model was trained on (or set dataset.unknown_category: ignore and retrain)"
        )
        self.column, self.value = column, value


@dataclass(frozen=True)
class RawInputs:
    """Turns raw frames or rows (features in `names` order) into the model's raw arrays."""

    names: tuple[str, ...]
    categorical: tuple[bool, ...]

    @classmethod
    def of(cls, spec: DatasetSpec) -> RawInputs:
        kinds = spec.features
        return cls(tuple(kinds), tuple(kinds[name] == CATEGORICAL for name in kinds))

    @property
    def all_numeric(self) -> bool:
        return not any(self.categorical)

    def columns(self, categorical: bool) -> list[str]:
        pairs = zip(self.names, self.categorical, strict=True)
        return [name for name, is_categorical in pairs if is_categorical == categorical]

    def ordered(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame`'s feature columns in model order (a missing one is a `UserError`)."""
        names = list(self.names)
        if frame.columns.tolist() == names:
            return frame
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise UserError(
                f"input lacks the model's feature(s) {', '.join(missing[:5])}; "
                "send every feature the model was trained on"
            )
        return frame[names]

    def numeric_matrix(self, values: Any, names: Sequence[str]) -> np.ndarray:
        """float64 matrix of numeric values (None -> NaN); a non-number is a `UserError`."""
        try:
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            for name, column in zip(names, np.asarray(values, dtype=object).T, strict=False):
                bad = [v for v in column if not _is_number(v)]
                if bad:
                    raise UserError(
                        f"feature '{name}' is numeric but got {bad[0]!r}; send a number or null"
                    ) from None
            raise UserError("numeric features must be numbers or null") from None

    def split_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(numeric float64 (n, n_num), categorical str objects (n, n_cat)) of a frame."""
        frame = self.ordered(frame)
        numeric_names, categorical_names = self.columns(False), self.columns(True)
        numbers = frame if not categorical_names else frame[numeric_names]
        try:  # na_value: nullable columns (Int64, Float64 from Parquet) hold pd.NA, not NaN
            numeric = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            numeric = self.numeric_matrix(numbers.to_numpy(dtype=object), numeric_names)
        if not categorical_names:
            return numeric, _empty(len(frame))
        raw = frame[categorical_names].to_numpy(dtype=object)
        return numeric.reshape(len(frame), -1), _texts(raw)

    def split_rows(self, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        """The same from tuples of raw values in feature order (the server's hot path)."""
        if self.all_numeric:
            return self.numeric_matrix(rows, self.names), _empty(len(rows))
        table = np.empty((len(rows), len(self.names)), dtype=object)
        table[:] = rows
        flags = np.asarray(self.categorical)
        numeric = self.numeric_matrix(table[:, ~flags], self.columns(False))
        return numeric.reshape(len(rows), -1), _texts(table[:, flags])

    def prepared(self, numeric: np.ndarray, categorical: np.ndarray) -> pd.DataFrame:
        """The frame the scikit-learn preprocessor is fitted on and applied to."""
        if not categorical.shape[1]:
            return pd.DataFrame(numeric, columns=list(self.names))
        columns: dict[str, np.ndarray] = {}
        numeric_at, categorical_at = iter(numeric.T), iter(categorical.T)
        for name, is_categorical in zip(self.names, self.categorical, strict=True):
            columns[name] = next(categorical_at if is_categorical else numeric_at)
        return pd.DataFrame(columns, copy=False)


def _is_number(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _empty(rows: int) -> np.ndarray:
    return np.empty((rows, 0), dtype=object)


def _texts(raw: np.ndarray) -> np.ndarray:
    out = np.empty(raw.shape, dtype=object)
    out.flat[:] = [category_text(value) for value in raw.flat]
    return out


def build_preprocessor(spec: DatasetSpec, *, scale: bool = True) -> ColumnTransformer:
    """The unfitted ColumnTransformer (numeric block first, then the one-hot block).

    `scale=False` (tree models) leaves imputed numbers unscaled: trees do not need it, and
    the ONNX graph then compares the raw float32 inputs with the thresholds, as training did.
    """
    positions = {name: index for index, name in enumerate(spec.feature_names)}
    transformers: list[tuple[str, Any, list[int]]] = []
    if spec.numeric_features:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        numeric = Pipeline([*steps, ("scale", StandardScaler())] if scale else steps)
        transformers.append((NUMERIC, numeric, [positions[n] for n in spec.numeric_features]))
    if spec.categorical_features:
        encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        columns = [positions[n] for n in spec.categorical_features]
        transformers.append((CATEGORICAL, encode, columns))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


@dataclass(frozen=True)
class Encoder:
    """The fitted preprocessor as arrays: raw (numeric, categorical) -> float32 matrix."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    categories: dict[str, list[str]]
    lookups: list[dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookups = [{v: i for i, v in enumerate(values)} for values in self.categories.values()]
        object.__setattr__(self, "lookups", lookups)

    @classmethod
    def from_fitted(cls, preprocessor: ColumnTransformer, spec: DatasetSpec) -> Encoder:
        if spec.numeric_features:
            numeric = preprocessor.named_transformers_[NUMERIC]
            median = numeric.named_steps["impute"].statistics_
            scaler = numeric.named_steps.get("scale")
            mean = np.zeros(len(median)) if scaler is None else scaler.mean_
            scale = np.ones(len(median)) if scaler is None else scaler.scale_
        else:
            median = mean = scale = np.zeros(0)
        categories = {
            name: [str(v) for v in values]
            for name, values in zip(
                spec.categorical_features,
                preprocessor.named_transformers_[CATEGORICAL].categories_
                if spec.categorical_features
                else [],
                strict=True,
            )
        }
        return cls(_floats(median), _floats(mean), _floats(scale), categories)

    @property
    def width(self) -> int:
        return len(self.mean) + sum(len(values) for values in self.categories.values())

    def encode(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """float32 (n, width): imputed and standardised numbers, then one-hot categories."""
        filled = np.where(np.isnan(numeric), self.median, numeric)
        scaled = ((filled - self.mean) / self.scale).astype(np.float32)
        if not self.categories:
            return np.asarray(scaled)
        blocks = [scaled]
        for index, values in enumerate(self.lookups):
            block = np.zeros((len(categorical), len(values)), dtype=np.float32)
            for row, text in enumerate(categorical[:, index]):
                column = values.get(text)
                if column is not None:  # unknown: all zeros, as handle_unknown="ignore"
                    block[row, column] = 1.0
            blocks.append(block)
        return np.hstack(blocks)

    def save(self, directory: Path) -> None:
        content = {
            "median": self.median.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "categories": self.categories,
        }
        (directory / ENCODER_FILE).write_text(json.dumps(content) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Encoder:
        path = directory / ENCODER_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            categories = {str(k): [str(v) for v in vs] for k, vs in raw["categories"].items()}
            median, mean, scale = (_floats(raw[key]) for key in ("median", "mean", "scale"))
            return cls(median, mean, scale, categories)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"{path} is missing or corrupt; retrain with `make train`") from None


def known_categories(encoder: Encoder) -> dict[str, list[str]]:
    """{categorical column: the categories training saw} (without the missing marker)."""
    return {
        name: [value for value in values if value != MISSING]
        for name, values in encoder.categories.items()
    }


def fitted_categories(preprocessor: ColumnTransformer, spec: DatasetSpec) -> dict[str, list[str]]:
    """`known_categories` of a fitted ColumnTransformer."""
    return known_categories(Encoder.from_fitted(preprocessor, spec))


def fit_encoder(spec: DatasetSpec, features: pd.DataFrame) -> tuple[Encoder, np.ndarray]:
    """Fit the preprocessor on raw training features: (its encoder, the encoded matrix)."""
    inputs = RawInputs.of(spec)
    numeric, categorical = inputs.split_frame(features)
    preprocessor = build_preprocessor(spec).fit(inputs.prepared(numeric, categorical))
    encoder = Encoder.from_fitted(preprocessor, spec)
    return encoder, encoder.encode(numeric, categorical)
