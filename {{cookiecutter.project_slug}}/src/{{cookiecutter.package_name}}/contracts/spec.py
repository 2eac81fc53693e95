"""The dataset contract: the one place that says what the data is and what the model predicts.

`configs/model_config.yaml` holds it under `dataset:` (written by `init-data`, reviewed by
you). Everything downstream reads it from there: training (features, task, labels),
validation, the server's request schema, monitoring (reference, categoricals), Feast, DVC,
the model card and the tests. This module is the lowest layer: it imports nothing of ours
but `errors`.

- `task`: `binary`, `multiclass` or `regression`.
- `classes`: classification only, every label in model-output order (sorted as the data
  sorts them); labels keep their type (numbers stay numbers, strings stay strings).
- `positive_class`: binary only, the class whose probability `/predict` reports.
- `features`: `{column: numeric | categorical}` in model-input order; every other column
  except `target`, `id_columns` and `dates` is ignored by the model.
- `dates`: `{column: [calendar parts]}`, a date or timestamp column the model gets as numbers:
  each part (year, month, day, day_of_week, hour) is the numeric feature `<column>_<part>`
  listed in `features`. Clients and files send the column itself; `data.derived` derives
  the parts, the same code for training, serving and batch.
- `orders`: `{categorical column: [levels, lowest first]}` (an ordered category type in the
  file): the model also gets the level's rank (0, 1, ...; unknown or missing: imputed) as the
  numeric feature `<column>_rank`, so a model can split on "at least Good".
- `unknown_category`: what serving does with a category training never saw: `ignore`
  (encoded as "none of the known ones") or `reject` (422 naming the column and value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

Task = Literal["binary", "multiclass", "regression"]
FeatureKind = Literal["numeric", "categorical"]
DatePart = Literal["year", "month", "day", "day_of_week", "hour"]
RANK = "rank"  # the part name of an ordered category's rank (`orders`)
# A class label as YAML and JSON carry it; bool before int: True is not the class 1.
Label = StrictBool | StrictInt | StrictStr
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


class DatasetSpec(BaseModel):
    """`dataset:` in configs/model_config.yaml; `sha256` pins the file (null: record it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str
    version: str
    path: Path
    target: str
    task: Task = "binary"
    classes: list[Label] = []
    positive_class: Label | None = None
    features: dict[str, FeatureKind] = Field(min_length=1)
    id_columns: list[str] = []
    dates: dict[str, list[DatePart]] = {}
    orders: dict[str, list[Label]] = {}
    unknown_category: Literal["ignore", "reject"] = "ignore"
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if self.task == "regression":
            if self.classes or self.positive_class is not None:
                raise ValueError("a regression dataset has no classes or positive_class")
        else:
            wanted = "exactly 2" if self.task == "binary" else "at least 3"
            count = len(self.classes)
            if (count != 2) if self.task == "binary" else (count < 3):
                raise ValueError(f"a {self.task} dataset needs {wanted} classes, got {count}")
            if len(set(map(repr, self.classes))) != count:
                raise ValueError("classes lists a label twice")
            if self.task == "binary" and self.positive_class not in self.classes:
                raise ValueError("positive_class must be one of classes")
            if self.task == "multiclass" and self.positive_class is not None:
                raise ValueError("positive_class is for binary datasets only")
        clash = {self.target, *self.id_columns, *self.dates} & set(self.features)
        if clash:
            both = ", ".join(sorted(clash))
            raise ValueError(f"{both} cannot be both a feature and the target/id/a date")
        self._check_dates()
        self._check_orders()
        return self

    def _check_orders(self) -> None:
        for column, levels in self.orders.items():
            if self.features.get(column) != "categorical":
                raise ValueError(f"orders.{column}: it must be a categorical feature")
            if not levels or len(set(map(repr, levels))) != len(levels):
                raise ValueError(f"orders.{column} needs one or more distinct levels")
            if self.features.get(f"{column}_{RANK}") != "numeric":
                raise ValueError(f"orders.{column}: features needs `{column}_{RANK}: numeric`")

    def _check_dates(self) -> None:
        for column, parts in self.dates.items():
            if not parts or len(set(parts)) != len(parts):
                raise ValueError(f"dates.{column} needs one or more distinct calendar parts")
            for part in parts:
                name = f"{column}_{part}"
                if self.features.get(name) != "numeric":
                    raise ValueError(f"dates.{column}: features needs `{name}: numeric`")

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    @property
    def numeric_features(self) -> list[str]:
        return [name for name, kind in self.features.items() if kind == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [name for name, kind in self.features.items() if kind == "categorical"]

    @property
    def derived(self) -> dict[str, tuple[str, str]]:
        """{feature: (input column, part)} of the features `dates` and `orders` derive."""
        return derived_features(self.dates, self.orders)

    @property
    def input_columns(self) -> list[str]:
        """The columns a record or file carries for the model (`input_columns_of`)."""
        return input_columns_of(self.features, self.derived)

    @property
    def positive_index(self) -> int:
        """Binary: the probability column of `positive_class`."""
        return self.classes.index(self.positive_class)  # type: ignore[arg-type]


def derived_features(
    dates: Mapping[str, Sequence[Any]], orders: Mapping[str, Any]
) -> dict[str, tuple[str, str]]:
    """{feature: (input column, part)} of the derived features: a date column's calendar
    parts (`<column>_<part>`) and an ordered category's rank (`<column>_rank`)."""
    parts = {f"{c}_{part}": (c, str(part)) for c, parts in dates.items() for part in parts}
    return parts | {f"{column}_{RANK}": (column, RANK) for column in orders}


def input_columns_of(features: Iterable[str], derived: Mapping[str, tuple[str, str]]) -> list[str]:
    """The columns a record or file carries for the model, in feature order: each derived
    feature stands for its input column (once)."""
    columns = [derived[name][0] if name in derived else name for name in features]
    return list(dict.fromkeys(columns))
