"""Column roles, types and the task, inferred from a table; bad data refused in one line.

A column is the target, an identifier (excluded from the model, kept in `id_columns`), a
numeric feature or a categorical one (strings, booleans, integers with few values). Dates
are refused with the fix (derive numeric parts), as are empty, constant and mixed-type
columns and categoricals with thousands of levels: each would train a model that looks fine
and serves nonsense.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from {{ cookiecutter.package_name }}.data.spec import FeatureKind, Label, Task
from {{ cookiecutter.package_name }}.errors import UserError

INTEGER_CATEGORY_MAX = 10  # an integer column with at most this many values is categorical
CLASS_TARGET_MAX = 20  # an integer target with at most this many values is a class label
MAX_CATEGORY_LEVELS = 500  # more levels one-hot encode into a model that memorises rows
MIN_ROWS = 10
ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$", re.IGNORECASE)
POSITIVE_WORDS = frozenset({"1", "true", "yes", "y", "positive", "pos"})


@dataclass
class Inferred:
    """What the table says: the spec's fields plus what the person should review."""

    task: Task
    classes: list[Label]
    positive_class: Label | None
    features: dict[str, FeatureKind]
    id_columns: list[str]
    notes: list[str] = field(default_factory=list)


def _one_line(column: str, problem: str, fix: str) -> UserError:
    return UserError(f"column '{column}' {problem}; {fix}")


def _is_text(series: pd.Series) -> bool:
    return bool(pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series))


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.astype(str).head(50)
    if not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def check_column(name: str, series: pd.Series) -> None:
    """Refuse a column no model should get: empty, constant, dates, mixed types."""
    values = series.dropna()
    if values.empty:
        raise _one_line(name, "is empty (every value is missing)", f"pass --drop {name}")
    if series.nunique(dropna=False) == 1:
        raise _one_line(
            name, f"holds one value ({values.iloc[0]!r}) in every row", f"pass --drop {name}"
        )
    if pd.api.types.is_datetime64_any_dtype(series) or (
        _is_text(series) and _looks_like_dates(values)
    ):
        raise _one_line(
            name,
            "holds dates, which the model cannot use as they are",
            f"add numeric parts (year, month, day of week) as new columns and pass --drop {name}",
        )
    if _is_text(series):
        kinds = {type(value).__name__ for value in values}
        numeric = pd.to_numeric(values.astype(str), errors="coerce").notna()
        mixed_objects = len(kinds - {"str"}) > 0 and "str" in kinds
        if mixed_objects or (numeric.mean() >= 0.5 and not numeric.all()):
            example = values[~numeric].iloc[0] if not numeric.all() else values.iloc[0]
            raise _one_line(
                name,
                f"mixes numbers and text (e.g. {example!r} at row {values[~numeric].index[0]})",
                f"fix those values in the file or pass --drop {name}",
            )


def _is_identifier(name: str, series: pd.Series) -> bool:
    unique = series.nunique(dropna=True) == len(series) and series.notna().all()
    if not unique or len(series) < MIN_ROWS:
        return False
    if ID_NAME.search(name):
        return True
    if _is_text(series):
        return True  # one distinct string per row: a key, never a category
    if pd.api.types.is_integer_dtype(series):
        steps = series.sort_values().diff().dropna()
        return bool((steps == 1).all())  # a row number
    return False


def feature_kind(name: str, series: pd.Series) -> FeatureKind:
    """numeric, or categorical: strings, booleans and integers with few distinct values."""
    if pd.api.types.is_bool_dtype(series) or _is_text(series):
        levels = series.nunique(dropna=True)
        if levels > MAX_CATEGORY_LEVELS:
            raise _one_line(
                name,
                f"has {levels} distinct values, too many for a category",
                f"pass --drop {name}, or --id-columns {name} if it identifies rows",
            )
        return "categorical"
    if pd.api.types.is_integer_dtype(series) and series.nunique() <= INTEGER_CATEGORY_MAX:
        return "categorical"
    return "numeric"


def plain(value: Any) -> Label:
    """A label as YAML and JSON carry it: numpy scalars unwrapped, 1.0 back to 1."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # type: ignore[no-any-return]


def _classes(series: pd.Series) -> list[Label]:
    return sorted({plain(value) for value in series}, key=lambda v: (str(type(v)), v))


def infer_task(target: str, series: pd.Series, wanted: str) -> tuple[Task, list[Label]]:
    """The task (`wanted`, or from the target's values for `auto`) and its classes."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    integral = numeric and bool((series == series.round()).all())
    levels = series.nunique()
    if wanted == "auto":
        if numeric and not (integral and levels <= CLASS_TARGET_MAX):
            wanted = "regression"
        else:
            wanted = "binary" if levels <= 2 else "multiclass"
    if wanted == "regression":
        if not numeric:
            raise _one_line(target, "is not numeric, so it cannot be a regression target",
                            "pass --task binary or --task multiclass")  # fmt: skip
        return "regression", []
    classes = _classes(series)
    if len(classes) < 2:
        raise _one_line(
            target,
            f"has a single class ({classes[0]!r})",
            "a classifier needs at least two: add rows of the other classes",
        )
    if wanted == "binary" and len(classes) != 2:
        raise _one_line(target, f"has {len(classes)} classes, not 2",
                        "pass --task multiclass (or auto)")  # fmt: skip
    if wanted == "multiclass" and len(classes) < 3:
        raise _one_line(target, "has 2 classes", "pass --task binary (or auto)")
    return wanted, classes  # type: ignore[return-value]


def positive_class(series: pd.Series, classes: list[Label]) -> Label:
    """1 / True / "yes"-like when present, else the rarer class (what is usually detected)."""
    for label in reversed(classes):
        if str(label).strip().lower() in POSITIVE_WORDS:
            return label
    counts = series.map(plain).value_counts()
    return min(classes, key=lambda label: (int(counts.get(label, 0)), -classes.index(label)))


def check_split(target: str, series: pd.Series, task: Task, test_size: float) -> None:
    """Refuse data the train/test split cannot serve: too few rows or a class too small."""
    rows = len(series)
    test_rows = math.ceil(rows * test_size)
    needed = series.nunique() if task != "regression" else 2
    if rows < MIN_ROWS or test_rows < needed or rows - test_rows < needed:
        raise UserError(
            f"only {rows} rows: a test split of {test_size} gets {test_rows} (needs at least "
            f"{needed} and {MIN_ROWS} rows in all); add rows or change dataset.test_size"
        )
    if task != "regression":
        counts = series.map(plain).value_counts()
        if int(counts.min()) < 2:
            raise _one_line(
                target,
                f"has {int(counts.min())} row of class {counts.idxmin()!r} (a stratified split "
                "needs at least 2 per class)",
                "add rows of that class or remove them from the file",
            )


def infer(
    frame: pd.DataFrame, target: str, task: str, id_columns: list[str], test_size: float
) -> Inferred:
    """Roles and kinds of every column of `frame` (dropped columns already removed)."""
    series = frame[target]
    chosen, classes = infer_task(target, series, task)
    check_split(target, series, chosen, test_size)
    ids = list(id_columns)
    features: dict[str, FeatureKind] = {}
    notes: list[str] = []
    for name in frame.columns:
        if name == target or name in ids:
            continue
        column = frame[name]
        check_column(name, column)
        if _is_identifier(str(name), column):
            ids.append(str(name))
            notes.append(f"'{name}' looks like a row identifier: excluded (id_columns)")
            continue
        features[str(name)] = feature_kind(str(name), column)
        if features[str(name)] == "categorical" and pd.api.types.is_integer_dtype(column):
            notes.append(f"'{name}' is an integer with few values: treated as categorical")
    if not features:
        raise UserError("no feature columns left; check --drop and --id-columns")
    positive = positive_class(series, classes) if chosen == "binary" else None
    return Inferred(chosen, classes, positive, features, ids, notes)
