"""Column roles, types and the task, inferred from a table; every problem listed at once.

A column is the target, an identifier (excluded from the model, kept in `id_columns`), a
numeric feature or a categorical one (strings, booleans, integers with few values). What is
common and has one right answer is handled here and reported as a note: empty and constant
columns are left out of the model, near-unique strings become identifiers, a date column
becomes its calendar parts (`dataset.dates`: the parts that vary in the file). What needs a
person (mixed types, categoricals with thousands of levels, a target that does not fit the
task, too few rows) is collected as `Problem`s, each with the init-data options that fix it,
so one run lists them all with one command line (`adopt`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from {{ cookiecutter.package_name }}.contracts.spec import RANK, DatePart, FeatureKind, Label, Task
from {{ cookiecutter.package_name }}.data.derived import PARTS, parse_dates
from {{ cookiecutter.package_name }}.errors import UserError

INTEGER_CATEGORY_MAX = 10  # an integer column with at most this many values is categorical
CLASS_TARGET_MAX = 20  # an integer target with at most this many values is a class label
MAX_CATEGORY_LEVELS = 500  # more levels one-hot encode into a model that memorises rows
MIN_ROWS = 10
NEAR_UNIQUE = 0.8  # a text column with distinct values in this share of its rows is an id
ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$", re.IGNORECASE)
POSITIVE_WORDS = frozenset({"1", "true", "yes", "y", "positive", "pos"})


@dataclass(frozen=True)
class Problem:
    """Something init-data cannot decide: what is wrong, the options that fix it, and a
    hint (an alternative, or what to change in the file when no option fixes it)."""

    message: str
    options: tuple[str, ...] = ()
    hint: str = ""


class ProblemsError(UserError):
    """Every problem found in one run (the first one is the exception's message)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


@dataclass
class Inferred:
    """What the table says: the spec's fields plus what the person should review."""

    task: Task
    classes: list[Label]
    positive_class: Label | None
    features: dict[str, FeatureKind]
    id_columns: list[str]
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # left out of the model (notes say why)
    dates: dict[str, list[DatePart]] = field(default_factory=dict)
    orders: dict[str, list[Any]] = field(default_factory=dict)


def _is_text(series: pd.Series) -> bool:
    return bool(pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series))


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.astype(str).head(50)
    if not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def left_out(name: str, series: pd.Series) -> str | None:
    """Why a column no model should get is left out (empty, constant), or None."""
    values = series.dropna()
    if values.empty:
        return f"'{name}' is empty (every value is missing): left out of the model"
    if series.nunique(dropna=False) == 1:
        return f"'{name}' holds one value ({plain(values.iloc[0])!r}) in every row: left out"
    return None


def date_parts(series: pd.Series) -> list[DatePart] | None:
    """The calendar parts that vary in a date column, or None when it holds no dates."""
    values = series.dropna()
    if not (
        pd.api.types.is_datetime64_any_dtype(series)
        or (_is_text(series) and _looks_like_dates(values))
    ):
        return None
    stamps = parse_dates(values.reset_index(drop=True)).dropna()
    return [part for part in PARTS if getattr(stamps.dt, part).nunique() > 1]


def column_problem(name: str, series: pd.Series) -> Problem | None:
    """A column that needs a person: numbers mixed with text."""
    values = series.dropna()
    if not _is_text(series):
        return None
    kinds = {type(value).__name__ for value in values}
    numeric = pd.to_numeric(values.astype(str), errors="coerce").notna()
    mixed_objects = len(kinds - {"str"}) > 0 and "str" in kinds
    if mixed_objects or (numeric.mean() >= 0.5 and not numeric.all()):
        odd = values[~numeric] if not numeric.all() else values
        return Problem(
            f"column '{name}' mixes numbers and text (e.g. {plain(odd.iloc[0])!r} at row "
            f"{plain(odd.index[0])})",
            ("--drop", name),
            "or fix those values in the file",
        )
    return None


def _near_unique_text(series: pd.Series) -> bool:
    """Text with a distinct value in most rows: a name or key, never a useful category."""
    values = series.dropna()
    levels = values.nunique()
    return bool(_is_text(series) and levels >= MIN_ROWS and levels >= NEAR_UNIQUE * len(values))


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


def too_many_levels(name: str, series: pd.Series) -> Problem | None:
    levels = series.nunique(dropna=True)
    if _is_text(series) and levels > MAX_CATEGORY_LEVELS:
        return Problem(
            f"column '{name}' has {levels} distinct values, too many for a category",
            ("--drop", name),
            f"or --id-columns {name} if it identifies rows",
        )
    return None


def feature_kind(name: str, series: pd.Series) -> FeatureKind:
    """numeric, or categorical: strings, booleans and integers with few distinct values."""
    if pd.api.types.is_bool_dtype(series) or _is_text(series):
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


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def auto_task(series: pd.Series) -> Task:
    """The task the target's values say: numbers that are not a few integers are regression."""
    numeric = _numeric(series)
    integral = numeric and bool((series == series.round()).all())
    levels = series.nunique()
    if numeric and not (integral and levels <= CLASS_TARGET_MAX):
        return "regression"
    return "binary" if levels <= 2 else "multiclass"


def infer_task(target: str, series: pd.Series, wanted: str) -> tuple[Task, list[Label]]:
    """The task (`wanted`, or from the target's values for `auto`) and its classes; a
    `ProblemsError` naming the task the values suggest when `wanted` does not fit them."""
    suggested = auto_task(series)
    chosen = suggested if wanted == "auto" else wanted
    classes = [] if chosen == "regression" else _classes(series)
    fix = ("--task", suggested)
    if chosen == "regression" and not _numeric(series):  # a few integers may be amounts
        message = f"column '{target}' is not numeric, so it cannot be a regression target"
        problem = Problem(message, fix)
    elif chosen != "regression" and len(classes) < 2:
        problem = Problem(
            f"column '{target}' has a single class ({classes[0]!r})",
            (),
            "a classifier needs at least two: add rows of the other classes",
        )
    elif chosen == "binary" and len(classes) != 2:
        problem = Problem(f"column '{target}' has {len(classes)} classes, not 2", fix)
    elif chosen == "multiclass" and len(classes) < 3:
        problem = Problem(f"column '{target}' has 2 classes", fix)
    else:
        return chosen, classes  # type: ignore[return-value]
    raise ProblemsError([problem])


def positive_class(series: pd.Series, classes: list[Label]) -> Label:
    """1 / True / "yes"-like when present, else the rarer class (what is usually detected)."""
    for label in reversed(classes):
        if str(label).strip().lower() in POSITIVE_WORDS:
            return label
    counts = series.map(plain).value_counts()
    return min(classes, key=lambda label: (int(counts.get(label, 0)), -classes.index(label)))


def check_split(target: str, series: pd.Series, task: Task, test_size: float) -> list[Problem]:
    """What the train/test split cannot serve: too few rows or a class too small."""
    rows = len(series)
    test_rows = math.ceil(rows * test_size)
    needed = series.nunique() if task != "regression" else 2
    if rows < MIN_ROWS or test_rows < needed or rows - test_rows < needed:
        message = (
            f"only {rows} rows: a test split of {test_size} gets {test_rows} (needs at least "
            f"{needed} and {MIN_ROWS} rows in all)"
        )
        return [Problem(message, (), "add rows or change dataset.test_size")]
    if task != "regression":
        counts = series.map(plain).value_counts()
        if int(counts.min()) < 2:
            message = (
                f"column '{target}' has {int(counts.min())} row of class "
                f"{plain(counts.idxmin())!r} (a stratified split needs at least 2 per class)"
            )
            if auto_task(series) != "regression" and _numeric(series):  # counts, scores
                hint = "if its numbers are amounts, not labels; else add rows of that class"
                return [Problem(message, ("--task", "regression"), hint)]
            return [Problem(message, (), "add rows of that class or remove them from the file")]
    return []


def _role(name: str, column: pd.Series) -> tuple[str, str | Problem | None]:
    """("out", why) | ("date", parts) | ("id", why) | ("problem", Problem) | ("feature", None)
    of a column."""
    reason = left_out(name, column)
    if reason is not None:
        return "out", reason
    parts = date_parts(column)
    if parts is not None:
        return "date", ", ".join(parts)
    problem = column_problem(name, column)
    if problem is not None:
        return "problem", problem
    if _is_identifier(name, column) or _near_unique_text(column):
        why = (
            f"'{name}' has {column.nunique()} distinct values in {len(column)} rows: a row "
            "identifier, not fed to the model (id_columns)"
        )
        return "id", why
    problem = too_many_levels(name, column)
    if problem is not None:
        return "problem", problem
    return "feature", None


def infer(
    frame: pd.DataFrame,
    target: str,
    task: str,
    id_columns: list[str],
    test_size: float,
    orders: Mapping[str, list[Any]] | None = None,
) -> Inferred:
    """Roles and kinds of every column of `frame` (dropped columns already removed), or a
    `ProblemsError` listing everything a person must decide."""
    series = frame[target]
    problems: list[Problem] = []
    try:
        chosen, classes = infer_task(target, series, task)
    except ProblemsError as found:
        problems += found.problems
        chosen, classes = "regression", []
    else:
        problems += check_split(target, series, chosen, test_size)
    ids = list(id_columns)
    features: dict[str, FeatureKind] = {}
    notes: list[str] = []
    dropped: list[str] = []
    dates: dict[str, list[DatePart]] = {}
    inferred_orders: dict[str, list[Any]] = {}
    for name in map(str, frame.columns):
        if name == target or name in ids:
            continue
        column = frame[name]
        role, detail = _role(name, column)
        if isinstance(detail, Problem):
            problems.append(detail)
        elif role == "out":
            dropped.append(name)
            notes.append(str(detail))
        elif role == "id":
            ids.append(name)
            notes.append(str(detail))
        elif role == "date":
            problems += _date_features(name, str(detail), frame, features, dates, notes)
        else:
            features[name] = feature_kind(name, column)
            if features[name] == "categorical" and pd.api.types.is_integer_dtype(column):
                notes.append(f"'{name}' is an integer with few values: treated as categorical")
            if features[name] == "categorical" and name in (orders or {}):
                problems += _rank_feature(name, (orders or {})[name], frame, inferred_orders,
                                          features, notes)  # fmt: skip
    if not features and not problems:
        problems.append(Problem("no feature columns left", (), "check --drop and --id-columns"))
    if problems:
        raise ProblemsError(problems)
    positive = positive_class(series, classes) if chosen == "binary" else None
    return Inferred(chosen, classes, positive, features, ids, notes, dropped, dates,
                    inferred_orders)  # fmt: skip


def _rank_feature(
    name: str,
    levels: list[Any],
    frame: pd.DataFrame,
    orders: dict[str, list[Any]],
    features: dict[str, FeatureKind],
    notes: list[str],
) -> list[Problem]:
    """Add ordered category `name`'s rank as a numeric feature (or the name clash)."""
    rank = f"{name}_{RANK}"
    if rank in frame.columns:
        message = f"column '{rank}' has the name of the rank of ordered category '{name}'"
        return [Problem(message, ("--drop", rank), "or rename that column in the file")]
    orders[name] = [plain(level) for level in levels]
    features[rank] = "numeric"
    shown = " < ".join(map(str, orders[name][:6])) + (" < ..." if len(levels) > 6 else "")
    notes.append(f"'{name}' is an ordered category ({shown}): the model also gets its rank "
                 f"({rank}, dataset.orders)")  # fmt: skip
    return []


def _date_features(
    name: str,
    parts_text: str,
    frame: pd.DataFrame,
    features: dict[str, FeatureKind],
    dates: dict[str, list[DatePart]],
    notes: list[str],
) -> list[Problem]:
    """Add date column `name`'s calendar parts as numeric features (or the name clash)."""
    parts: list[DatePart] = [part for part in PARTS if part in parts_text.split(", ")]
    taken = [f"{name}_{part}" for part in parts if f"{name}_{part}" in frame.columns]
    if taken:
        message = f"column '{taken[0]}' has the name of a calendar part of date column '{name}'"
        return [Problem(message, ("--drop", taken[0]), "or rename that column in the file")]
    dates[name] = parts
    features.update({f"{name}_{part}": "numeric" for part in parts})
    notes.append(f"'{name}' holds dates: the model gets its {parts_text} (dataset.dates)")
    return []
