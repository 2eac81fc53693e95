"""What a served model predicts, read from its bundle's `dataset:` section (`data.spec`).

`ModelTask` turns the model's output matrix into answers and checks feedback labels:
- binary: output (n, 2) probabilities in `classes` order; the prediction is `positive_class`
  when P(positive_class) >= 0.5 (as in evaluation), the score is P(positive_class);
- multiclass: output (n, k); the prediction is the most probable class, the score its
  probability;
- regression: output (n, 1) values; the prediction and the score are the value.
Labels keep their JSON type: a bundle trained on "class_0" answers "class_0", one trained on
0/1 answers 0/1, and a feedback label must be one of `classes` with the same type (True is not
the class 1, "1" is not 1).

A bundle without a `dataset:` section (trained before the dataset contract) is binary with
classes [0, 1] and positive class 1, which is what such bundles were.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.serving.schema import FLOAT32_MAX, RequestError

THRESHOLD = 0.5  # the positive class when P(positive) >= 0.5, as in evaluation
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
        if self.task == "binary":
            positive_index = self.positive_index
            positive_label = self.classes[positive_index]
            negative_label = self.classes[1 - positive_index]
            scores = [pair[positive_index] for pair in rows]
            if not all(0.0 <= p <= 1.0 for p in scores):  # NaN compares false
                _check(scores, _probability, field_name, "probability")
            indices = [positive_index if p >= THRESHOLD else 1 - positive_index for p in scores]
            labels = [positive_label if p >= THRESHOLD else negative_label for p in scores]
            confidence = [p if p >= THRESHOLD else 1.0 - p for p in scores]
            return Decoded(labels, scores, {"probabilities": scores}, indices, confidence)
        _check([min(row) for row in rows], _probability, field_name, "probability")
        _check([max(row) for row in rows], _probability, field_name, "probability")
        indices = [max(range(len(row)), key=row.__getitem__) for row in rows]
        confidence = [row[index] for row, index in zip(rows, indices, strict=True)]
        labels = [self.classes[index] for index in indices]
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


def _numbers(raw: Any) -> tuple[float, ...]:
    """Sorted finite numbers from a list or a {quantile: value} mapping (else empty)."""
    if isinstance(raw, Mapping):
        values = list(raw.values())
    elif isinstance(raw, list | tuple):
        values = list(raw)
    else:
        return ()
    numbers = {
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    return tuple(sorted(numbers))


def task_from_config(config: Mapping[str, Any]) -> ModelTask:
    """The bundle's `model_config.yaml` -> `ModelTask` (ValueError naming a bad field)."""
    dataset = config.get("dataset")
    raw_metrics = config.get("metrics")
    metrics = {
        str(name): float(value)
        for name, value in (raw_metrics.items() if isinstance(raw_metrics, Mapping) else ())
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }
    quantiles: tuple[float, ...] = ()
    for place in (config.get("lineage"), raw_metrics, config):
        if isinstance(place, Mapping):
            quantiles = quantiles or _numbers(place.get("target_quantiles"))
    if not isinstance(dataset, Mapping):
        return ModelTask(offline_metrics=metrics, target_quantiles=quantiles)
    task = str(dataset.get("task", "binary"))
    policy = str(dataset.get("unknown_category", "ignore"))
    if task == "regression":
        return ModelTask(task, (), 0, policy, metrics, quantiles)
    classes = tuple(dataset.get("classes") or ())
    if task not in ("binary", "multiclass") or len(classes) < 2:
        raise ValueError(f"dataset: task {task!r} with classes {list(classes)} cannot be served")
    positive_index = 1
    if task == "binary":
        keys = [label_key(c) for c in classes]
        positive = label_key(dataset.get("positive_class", classes[1]))
        if positive not in keys:
            raise ValueError("dataset.positive_class is not one of dataset.classes")
        positive_index = keys.index(positive)
    return ModelTask(task, classes, positive_index, policy, metrics, quantiles)
