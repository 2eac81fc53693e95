"""Features derived from input columns: the one transform that training, evaluation,
monitoring, Feast, batch scoring and the server share.

- Calendar parts of date columns (`dataset.dates`).

A value parses as ISO 8601 first (fast, vectorised), then in any format pandas reads
(month first: `01/02/2024` is 2 January); timestamps with an offset are moved to UTC, those
without are taken as UTC. A missing or unparsable value in a file gives missing parts (the
model imputes them); the server refuses an unparsable one instead (`parse_date`).
- Ranks of ordered categories (`dataset.orders`): the level's position, lowest first; a value
  that is not a level, or missing, has no rank (the model imputes it).
- `category_text`: a categorical value as the model sees it (3.0 read from a CSV with gaps is
  the category 3), for the one-hot encoding and the ranks alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.contracts.spec import RANK, DatasetSpec, DatePart
from {{ cookiecutter.package_name }}.errors import UserError

MISSING = "__missing__"  # the category of a missing value

PARTS: tuple[DatePart, ...] = ("year", "month", "day", "day_of_week", "hour")


# A time of day followed by a UTC offset ("...T23:30:00+02:00", "... 08:15Z").
OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def parse_dates(values: pd.Series) -> pd.Series:
    """datetime64[ns, UTC] of raw values (str, datetime, Timestamp); NaT where unreadable."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC")
    text = values.astype("string")
    # Stamps with an offset and naive ones (UTC) are parsed apart: pandas < 3 reads a naive
    # stamp after an offset one with that offset.
    aware = text.str.contains(OFFSET, regex=True, na=False).to_numpy(dtype=bool)
    stamps = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    for group in (aware, ~aware):
        if group.any():
            stamps[group] = pd.to_datetime(text[group], errors="coerce", format="ISO8601", utc=True)
    retry = (stamps.isna() & text.notna()).to_numpy(dtype=bool)
    for group in (retry & aware, retry & ~aware):
        if group.any():
            stamps[group] = pd.to_datetime(text[group], errors="coerce", format="mixed", utc=True)
    return stamps


def part_values(stamps: pd.Series, part: DatePart) -> np.ndarray:
    """float64 values of one calendar part (NaN where the stamp is missing)."""
    return np.asarray(getattr(stamps.dt, part).to_numpy(dtype=np.float64, na_value=np.nan))


def with_derived(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """`frame` plus the numeric features `spec.dates` and `spec.orders` derive (a copy; as-is
    without them)."""
    if not spec.derived:
        return frame
    missing = [column for column in [*spec.dates, *spec.orders] if column not in frame.columns]
    if missing:
        raise UserError(
            f"column(s) {', '.join(missing)} of dataset.dates/orders are not in the data; "
            "fix dataset.dates/orders (or re-run init-data)"
        )
    derived: dict[str, np.ndarray] = {}
    for column, parts in spec.dates.items():
        stamps = parse_dates(frame[column].reset_index(drop=True))
        for part in parts:
            derived[f"{column}_{part}"] = part_values(stamps, part)
    for column, levels in spec.orders.items():
        derived[f"{column}_{RANK}"] = rank_values(frame[column].to_numpy(dtype=object), levels)
    return frame.assign(**derived)


def category_text(value: Any) -> str:
    """A categorical value as the model sees it; None/NaN -> `MISSING`; 3.0 -> "3"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, float) and math.isnan(value):
        return MISSING
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def rank_lookup(levels: Sequence[Any]) -> dict[str, float]:
    """{level as the model sees it: its rank}."""
    return {category_text(level): float(rank) for rank, level in enumerate(levels)}


def rank_values(values: Sequence[Any], levels: Sequence[Any]) -> np.ndarray:
    """float64 ranks of raw categorical values (NaN: missing or not a level)."""
    lookup = rank_lookup(levels)
    return np.fromiter(
        (lookup.get(category_text(value), np.nan) for value in values), np.float64, len(values)
    )


def parse_date(value: Any) -> pd.Timestamp | None:
    """One request value as a UTC timestamp (None for null); ValueError when unreadable."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):  # parsed already (the request schema's validator)
        return value if value.tzinfo else value.tz_localize("UTC")
    stamp = parse_dates(pd.Series([value], dtype=object)).iloc[0]
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not a date or timestamp")
    return stamp


def stamp_part(stamp: pd.Timestamp | None, part: DatePart) -> float | None:
    """One calendar part of a parsed request value (None stays None: the model imputes it)."""
    return None if stamp is None else float(getattr(stamp, part))
