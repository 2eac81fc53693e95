"""The request's fields: one pydantic type per model input, from the bundle.

A numeric feature is a finite number within float32's range or null; a categorical one a
value of the JSON types training saw or null (`reject_unknown`: one of the categories training
saw); a date column of `dataset.dates` a date or timestamp as text or null, whose calendar parts
`expander` derives for the model with the code training used (`data.derived`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, cast

import numpy as np
from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle
from {{ cookiecutter.package_name }}.contracts.spec import RANK, DatasetSpec, DatePart
from {{ cookiecutter.package_name }}.data.derived import (
    category_text,
    parse_date,
    rank_lookup,
    stamp_part,
)

MAX_TEXT = 1024  # characters of one categorical value
SHOWN_CATEGORIES = 10  # known values named in an unknown-category message

# The non-finite policy: NaN, infinity and numbers beyond float32's range (which ONNX and
# TFLite models compute in, where they become infinity) are refused with a 422 naming the
# field; a model output that is not finite is refused too (`scoring`), never logged.
FLOAT32_MAX = float(np.finfo(np.float32).max)
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
# Request rows (input order) -> model rows (feature order): with the derived features.
Expand = Callable[[Sequence[tuple[Any, ...]]], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Feature:
    """A model input: numeric, or categorical with the values training saw (`categories`,
    empty when the bundle does not list them: then any string is accepted)."""

    name: str
    numeric: bool
    categories: tuple[bool | int | str, ...] = ()
    date: bool = False  # a `dataset.dates` column: the request sends it, the model its parts


def inputs_of(bundle: Bundle, features: Sequence[Feature]) -> list[Feature]:
    """The request's fields in order: the model's features, each calendar part replaced by its
    date column (`dataset.dates`)."""
    by_name = {feature.name: feature for feature in features}
    dates = bundle.spec.dates
    return [
        Feature(name, False, date=True) if name in dates else by_name[name]
        for name in bundle.spec.input_columns
    ]


def expander(bundle: Bundle) -> Expand | None:
    """Request rows (input order; date fields parsed) -> model rows (feature order, with the
    calendar parts and ranks `data.derived` defines); None when the model derives nothing."""
    spec = bundle.spec
    if not spec.derived:
        return None
    position = {name: index for index, name in enumerate(spec.input_columns)}
    derived = spec.derived
    layout = [
        (position[derived[name][0]], _derive(spec, *derived[name]))
        if name in derived
        else (position[name], None)
        for name in spec.feature_names
    ]

    def expand(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [
            tuple(row[index] if derive is None else derive(row[index]) for index, derive in layout)
            for row in rows
        ]

    return expand


def _derive(spec: DatasetSpec, column: str, part: str) -> Callable[[Any], float | None]:
    """One derived feature of a request value: a calendar part, or an ordered level's rank."""
    if part == RANK:
        lookup = rank_lookup(spec.orders[column])
        return lambda value: lookup.get(category_text(value))
    date_part = cast(DatePart, part)
    return lambda value: stamp_part(parse_date(value), date_part)


def features_of(bundle: Bundle) -> list[Feature]:
    """The bundle's model inputs in order: `dataset.features` kinds, and for categoricals the
    values training saw (`categories`); ValueError naming a malformed category list."""
    recorded = bundle.config.categories
    features = []
    for name, kind in bundle.spec.features.items():
        values = recorded.get(name, [])
        if not all(type(v) in (bool, int, str) for v in values):
            raise ValueError(f"categories.{name} must be a list of strings, integers or booleans")
        features.append(Feature(name, kind == "numeric", tuple(values)))
    return features


_JSON_TYPE = {str: "string", int: "integer", bool: "boolean"}


def field_type(feature: Feature, reject_unknown: bool) -> Any:
    """The pydantic type of one feature: a bounded number or null; a category or null; a
    date or timestamp (text) or null."""
    if feature.numeric:
        return Number | None
    if feature.date:
        return _date_type()
    # The model compares categories as text (`training.preprocess.category_text`): a JSON
    # true is the "True" a CSV gave training, 3 is "3"; so those types are accepted too.
    known = frozenset(str(value) for value in feature.categories)
    accepted = {type(v) for v in feature.categories} or {str}
    if known and known <= {"True", "False"}:
        accepted.add(bool)
    if known and all(text.lstrip("-").isdigit() for text in known):
        accepted.add(int)
    types = tuple(sorted(accepted, key=_JSON_TYPE.__getitem__))
    wanted = " or ".join(_JSON_TYPE[t] for t in types)
    shown = ", ".join(repr(v) for v in feature.categories[:SHOWN_CATEGORIES])
    shown += ", ..." if len(feature.categories) > SHOWN_CATEGORIES else ""

    def check(value: Any) -> Any:
        if value is None:
            return None
        if type(value) not in types:
            raise PydanticCustomError(
                "category_type",
                "expected a category ({wanted}) or null, got {got}",
                {"wanted": wanted, "got": type(value).__name__},
            )
        if type(value) is str and len(value) > MAX_TEXT:
            raise PydanticCustomError(
                "category_length", "categories are at most {limit} characters", {"limit": MAX_TEXT}
            )
        if reject_unknown and known and str(value) not in known:
            raise PydanticCustomError(
                "unknown_category",
                "unknown category {value} (training saw {shown}); send one of those or null",
                {"value": repr(value), "shown": shown},
            )
        return value

    schema: dict[str, Any] = {"type": [_JSON_TYPE[t] for t in types] + ["null"]}
    if feature.categories:
        key = "enum" if reject_unknown else "examples"
        schema[key] = [*feature.categories[:100], *([None] if key == "enum" else [])]
    return Annotated[Any, AfterValidator(check), WithJsonSchema(schema)]


def _date_type() -> Any:
    def check(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not str or len(value) > MAX_TEXT:
            raise PydanticCustomError("date_type", "expected a date or timestamp (text) or null")
        try:
            return parse_date(value)
        except ValueError:
            raise PydanticCustomError(
                "date_parsing",
                "{value} is not a date; send ISO 8601 (2024-05-31 or 2024-05-31T14:00:00Z)",
                {"value": repr(value[:40])},
            ) from None

    schema = {"type": ["string", "null"], "examples": ["2024-05-31", "2024-05-31T14:00:00Z"]}
    return Annotated[Any, AfterValidator(check), WithJsonSchema(schema)]
