"""What a served model predicts, read from its bundle (`contracts.bundle`).

`ModelTask` turns the model's output matrix into answers with `contracts.decode` (the rule
evaluation, batch scoring and the MLflow pyfunc apply too) and checks feedback labels:
- binary: output (n, 2) probabilities in `classes` order; the prediction is `positive_class`
  when P(positive_class) >= 0.5, the score is P(positive_class);
- multiclass: output (n, k); the prediction is the most probable class, the score its
  probability;
- regression: output (n, 1) values; the prediction and the score are the value.
Labels keep their JSON type: a bundle trained on "class_0" answers "class_0", one trained on
0/1 answers 0/1, and a feedback label must be one of `classes` with the same type (True is not
the class 1, "1" is not 1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle
from {{ cookiecutter.package_name }}.contracts.decode import decide_row
from {{ cookiecutter.package_name }}.serving.fields import FLOAT32_MAX
from {{ cookiecutter.package_name }}.serving.schema import RequestError

Label = bool | int | str


def label_key(label: Any) -> tuple[type, Any]:
    """Labels compare by type and value: True == 1 in Python, not here."""
    return (type(label), label)


@dataclass(slots=True)  # not frozen: it is built on every request, frozen init costs more
class Decoded:
    """A batch's answers: per row the prediction (label or value) and its score."""

    predictions: list[Any]
    scores: list[float]
    # JSON of the response's task-specific fields (probabilities, classes), per task.
    extra: dict[str, Any] = field(default_factory=dict)
    # Classification: the predicted class index per row (metrics count by it).
    indices: list[int] | None = None
    # Classification: P(predicted class) per row (the confidence histogram).
    confidence: list[float] | None = None


@dataclass(frozen=True)
class ModelTask:
    """The task, labels and offline figures of one served model."""

    task: str = "binary"
    classes: tuple[Label, ...] = (0, 1)
    positive_index: int = 1
    unknown_category: str = "ignore"
    offline_metrics: Mapping[str, float] = field(default_factory=dict)
    target_quantiles: tuple[float, ...] = ()

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @cached_property
    def label_texts(self) -> tuple[str, ...]:
        """The `predicted_class` metric label per class: `str(label)`."""
        return tuple(str(label) for label in self.classes)

    @cached_property
    def label_keys(self) -> frozenset[tuple[type, Any]]:
        return frozenset(label_key(label) for label in self.classes)

    @property
    def width(self) -> int:
        """Columns of the model's output."""
        return len(self.classes) if self.is_classification else 1

    @property
    def offline_mae(self) -> float | None:
        value = self.offline_metrics.get("mae")
        return None if value is None else float(value)

    @classmethod
    def of(cls, bundle: Bundle) -> ModelTask:
        """The task, labels and offline figures of `bundle`."""
        spec = bundle.spec
        positive = spec.positive_index if spec.task == "binary" else 0
        return cls(
            spec.task,
            tuple(spec.classes),
            positive,
            spec.unknown_category,
            bundle.metrics,
            bundle.target_quantiles,
        )

    def same_outputs(self, other: ModelTask) -> bool:
        """Two models answer alike (champion and challenger must)."""
        return (self.task, [label_key(c) for c in self.classes], self.positive_index) == (
            other.task,
            [label_key(c) for c in other.classes],
            other.positive_index,
        )

    def decode(self, output: np.ndarray, field_name: str) -> Decoded:
        """Answers for `output`; `RequestError` 422 naming the first row the model could not
        score (a probability outside [0, 1] or a non-finite value: never answered or logged)."""
        if self.task == "regression":
            values = output[:, 0].tolist()
            _check(values, lambda v: abs(v) <= FLOAT32_MAX, field_name, "value")
            return Decoded(values, values)
        rows = output.tolist()
        if not all(0.0 <= value <= 1.0 for row in rows for value in row):  # NaN: False
            _check([min(row) for row in rows], _probability, field_name, "probability")
            _check([max(row) for row in rows], _probability, field_name, "probability")
        decided = [decide_row(self, row) for row in rows]
        indices = [index for index, _, _ in decided]
        confidence = [value for _, _, value in decided]
        labels = [self.classes[index] for index in indices]
        if self.task == "binary":
            scores = [score for _, score, _ in decided]
            return Decoded(labels, scores, {"probabilities": scores}, indices, confidence)
        extra = {"probabilities": rows, "classes": list(self.classes)}
        return Decoded(labels, confidence, extra, indices, confidence)

    def check_label(self, label: Any) -> Any:
        """A feedback label of this task, or `RequestError` 422 naming what is allowed."""
        if not self.is_classification:
            if type(label) not in (int, float) or not math.isfinite(label):
                raise RequestError(
                    422, f"label: expected a finite number (the true target value), got {label!r}"
                )
            return float(label)
        scalar = type(label) in (bool, int, str)
        if not scalar or label_key(label) not in self.label_keys:
            allowed = ", ".join(_json_text(c) for c in self.classes)
            raise RequestError(
                422, f"label: {_json_text(label)} is not one of the model's classes ({allowed})"
            )
        return label


def _probability(value: float) -> bool:
    return 0.0 <= value <= 1.0  # NaN compares false


def _check(values: Sequence[float], ok: Any, field_name: str, what: str) -> None:
    for row, value in enumerate(values):
        if not ok(value):
            raise RequestError(
                422,
                f"{field_name}[{row}]: the model returned a non-finite {what} for this row; "
                "its values are outside what the model can score: send values like the "
                "training data",
            )


def _json_text(value: Any) -> str:
    return json.dumps(value)
