"""Row checks against the model's input schema: bad rows are set aside with a reason, not fatal.

A numeric feature must parse as a finite number (missing is allowed only when the model
imputes); a categorical one must be a known category when the model rejects unknown ones. A
file that lacks a feature or id column is an input error (`UserError`), not a bad row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from {{ cookiecutter.package_name }}.batch.model import CATEGORICAL, BatchModel
from {{ cookiecutter.package_name }}.contracts.spec import RANK, DatePart
from {{ cookiecutter.package_name }}.data.derived import parse_dates, part_values, rank_values
from {{ cookiecutter.package_name }}.errors import UserError


def check_columns(columns: Iterable[str], model: BatchModel, source: str) -> None:
    """`UserError` when `source` lacks a column the model (or the configured ids) needs."""
    present = set(columns)
    missing = [name for name in [*model.id_columns, *model.input_columns] if name not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        )
        raise UserError(
            f"{source} lacks column(s) {shown} that model {model.version} needs; "
            "export the model's features (and dataset.id_columns) or fix --input"
        )


def _first(reasons: np.ndarray, mask: np.ndarray, text: str | list[str]) -> None:
    """Record `text` for the masked rows that have no reason yet (the first failure wins)."""
    fresh = mask & (reasons == None)  # noqa: E711 (elementwise on an object array)
    if isinstance(text, str):
        reasons[fresh] = text
    else:
        reasons[fresh] = np.asarray(text, dtype=object)[fresh]


def _numeric(column: pa.Array, name: str, reasons: np.ndarray) -> np.ndarray:
    """The column as float64 (NaN for missing: the model imputes it); unparsable and
    non-finite rows get a reason."""
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        try:  # Arrow's cast is fast; it fails the whole column on one bad value
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raw = pd.Series(column.to_pandas(), dtype=object)
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            bad = np.isnan(values) & raw.notna().to_numpy()
            for index in np.flatnonzero(bad):  # pandas < 3 coerces an overflow ("1e400") to NaN
                with contextlib.suppress(TypeError, ValueError):
                    values[index] = float(raw.iloc[index])
            bad &= np.isnan(values)
            shown = [f"{name}: not a number ({str(value)[:40]!r})" for value in raw]
            _first(reasons, bad, shown)
    values = np.where(np.asarray(column.is_null()), np.nan, values)
    _first(reasons, np.isinf(values), f"{name}: not finite")
    return values


def _dates(column: pa.Array, name: str, reasons: np.ndarray) -> pd.Series:
    """The column as UTC timestamps (`data.derived`); an unreadable value gets a reason."""
    raw = pd.Series(column.to_pandas(), dtype=object)
    stamps = parse_dates(raw)
    bad = stamps.isna().to_numpy() & raw.notna().to_numpy()
    _first(reasons, bad, [f"{name}: not a date ({str(value)[:40]!r})" for value in raw])
    return stamps


def _categorical(
    column: pa.Array, name: str, known: list[object] | None, reasons: np.ndarray
) -> np.ndarray:
    values = np.array(column.to_pylist(), dtype=object)  # None for missing (not NaN)
    if known is not None:
        allowed = set(known)
        unknown = np.fromiter(
            (value is not None and value not in allowed for value in values),
            dtype=bool,
            count=len(values),
        )
        if unknown.any():
            shown = [f"{name}: unknown category ({str(value)[:40]!r})" for value in values]
            _first(reasons, unknown, shown)
    return values


def check_rows(batch: pa.RecordBatch, model: BatchModel) -> tuple[pd.DataFrame, np.ndarray]:
    """The features as the model takes them, and a reason per row (None: the row is valid)."""
    reasons = np.full(batch.num_rows, None, dtype=object)
    columns: dict[str, np.ndarray] = {}
    stamps = {name: _dates(batch.column(name), name, reasons) for name in model.dates}
    derived = model.derived
    for name, kind in model.features.items():
        if name in derived:
            source, part = derived[name]
            columns[name] = (
                rank_values(batch.column(source).to_pylist(), model.orders[source])
                if part == RANK
                else part_values(stamps[source], cast(DatePart, part))
            )
            continue
        column = batch.column(name)
        if kind == CATEGORICAL:
            known = model.categories.get(name) if model.reject_unknown else None
            columns[name] = _categorical(column, name, known, reasons)
        else:
            columns[name] = _numeric(column, name, reasons)
    # object columns stay object: pandas would read strings with None as its NaN string type
    frame = pd.DataFrame(
        {name: pd.Series(values, dtype=values.dtype) for name, values in columns.items()}
    )
    return frame, reasons
