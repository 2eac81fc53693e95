"""Validation rules derived from a trusted table: they pass on it and still catch corruption.

Numeric columns (integer-valued ones too: next year's `year` must pass) get a range, the
observed one widened on each side by 10% of the larger of its span and its largest
magnitude, clamped at 0 when every value is non-negative. Only real categoricals (and a
classification target) get `allowed_values`. Nullability is as observed. A label-balance
rule exists for classification only. Columns the model does not use (identifiers, dropped
columns) get their dtype and nullability.
`validation` loads and checks these rules; this module only derives them.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import yaml

RANGE_MARGIN = 0.1
MAX_LINE = 100  # the project's yamllint allows 120: a flow line longer than this goes block


def json_value(value: Any) -> Any:
    """A cell as YAML/JSON carries it (numpy scalars unwrapped, NaN as null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def dtype_name(series: pd.Series) -> str:
    """The pandas dtype name validation checks (int/float widths normalised)."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_float_dtype(series):
        return "float64"
    values = series.dropna()
    if pd.api.types.is_string_dtype(series) and all(isinstance(v, str) for v in values):
        return "str"  # pandas 3's string dtype; pandera reads it as object text under pandas 2
    return str(series.dtype)


def _range(series: pd.Series) -> dict[str, float]:
    low, high = float(series.min()), float(series.max())
    # The span alone is too tight where values sit far from 0 (a `year` of 2015..2022 must
    # accept 2023): widen by the larger of the span and the largest magnitude.
    margin = RANGE_MARGIN * (max(high - low, abs(low), abs(high)) or 1.0)
    bottom = round(low - margin, 6)
    return {"min": max(0.0, bottom) if low >= 0 else bottom, "max": round(high + margin, 6)}


def column_rule(series: pd.Series, role: str) -> dict[str, Any]:
    """role: numeric | categorical | other (identifier, dropped: dtype and nulls only)."""
    rule: dict[str, Any] = {"dtype": dtype_name(series), "nullable": bool(series.isna().any())}
    values = series.dropna()
    if role == "categorical":
        distinct = sorted({json_value(v) for v in values.unique()}, key=lambda v: (str(type(v)), v))
        rule["allowed_values"] = distinct
        rule["max_categories"] = len(distinct)
    elif role == "numeric" and len(values):
        # float64: a CSV column with a missing value reads as float, one without as int.
        rule["dtype"] = "float64"
        rule.update(_range(values))
    return rule


def derive_rules(
    frame: pd.DataFrame,
    target: str | None,
    *,
    classification: bool | None = None,
    categorical: set[str] | None = None,
    numeric: set[str] | None = None,
) -> dict[str, Any]:
    """A rules file (as a dict) for `frame`.

    `categorical` and `numeric` name the feature kinds (from the dataset spec); when both are
    None the kinds are guessed: text/boolean columns categorical, numbers numeric.
    `classification` None: a text/boolean or integer target with few values is a class label.
    """
    guess = categorical is None and numeric is None
    categorical = set(categorical or ())
    numeric = set(numeric or ())
    if target is not None and classification is None:
        label = frame[target].dropna()
        classification = not pd.api.types.is_float_dtype(label) and label.nunique() <= 20
    columns: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        if name == target:
            role = "categorical" if classification else "numeric"
        elif guess:
            number = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(
                series
            )
            role = "numeric" if number else "categorical"
        else:
            role = (
                "categorical" if name in categorical else "numeric" if name in numeric else "other"
            )
        columns[str(name)] = column_rule(series, role)
    rules: dict[str, Any] = {
        "min_rows": max(1, len(frame) // 2),
        "allow_extra_columns": False,
        "max_duplicate_rows": int(frame.duplicated().sum()),
    }
    if target is not None and classification:
        shares = frame[target].value_counts(normalize=True)
        rules["label"] = {
            "column": target,
            "min_class_fraction": round(max(0.01, float(shares.min()) / 2), 3),
        }
    rules["columns"] = columns
    return rules


def _dump(value: Any, flow: bool | None) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=flow, width=1 << 16)


def rules_yaml(rules: dict[str, Any]) -> str:
    """The rules as YAML the project's `yamllint --strict` accepts: one flow line per column
    where it fits in MAX_LINE characters, block style (a value per line) where it does not."""
    lines = [
        f"{key}: {_dump(value, True).strip()}" if isinstance(value, dict) else
        _dump({key: value}, False).strip()
        for key, value in rules.items()
        if key != "columns"
    ]  # fmt: skip
    lines.append("columns:")
    columns = rules.get("columns", {})
    for name, rule in columns.items():
        chunk = _dump({name: rule}, None).splitlines()
        if max(len(line) for line in chunk) + 2 > MAX_LINE:
            chunk = _dump({name: rule}, False).splitlines()
        lines += [f"  {line}" for line in chunk]
    return "\n".join(lines) + "\n"
