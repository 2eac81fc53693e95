"""Model output -> predictions: the one rule every stage applies (serving, batch, evaluation,
monitoring, the MLflow pyfunc, the benchmarks).

A model's output is float (n, k) probabilities in `spec.classes` order, or (n, 1) values:
- binary: the prediction is `positive_class` when P(positive_class) >= 0.5 (ties go to the
  positive class), the score is P(positive_class);
- multiclass: the prediction is the most probable class (the first on a tie), the score its
  probability;
- regression: the prediction and the score are the value.
`confidence` is P(predicted class) for classification (the confidence histogram).

`decode` works on whole arrays (batch scoring, evaluation, monitoring, the pyfunc);
`decide_row` applies the same rule to one row of Python floats, the server's per-request path,
where a handful of NumPy calls would cost more than the model (tests hold the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

THRESHOLD = 0.5

Floats = npt.NDArray[np.float64]


class Outputs(Protocol):
    """What decoding needs of a model: `contracts.spec.DatasetSpec` (or serving's `ModelTask`)."""

    @property
    def task(self) -> str: ...
    @property
    def classes(self) -> Sequence[Any]: ...
    @property
    def positive_index(self) -> int: ...
    @property
    def is_classification(self) -> bool: ...


@dataclass(frozen=True)
class Decision:
    """Per row: the class index (classification), the label or value, score and confidence."""

    indices: npt.NDArray[np.int64] | None
    labels: npt.NDArray[Any]  # object array of labels (their YAML/JSON type) or float values
    scores: Floats
    confidence: Floats | None


def class_indices(spec: Outputs, output: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The decided class index per row (see the module docstring)."""
    proba = np.asarray(output, dtype=np.float64)
    if spec.task == "binary":
        positive = spec.positive_index
        chosen = proba[:, positive] >= THRESHOLD
        return np.where(chosen, positive, 1 - positive).astype(np.int64)
    return np.asarray(proba.argmax(axis=1), dtype=np.int64)


def decode(spec: Outputs, output: npt.ArrayLike) -> Decision:
    """The decisions for `output` under `spec` (see the module docstring)."""
    values = np.asarray(output, dtype=np.float64)
    if not spec.is_classification:
        column = values.reshape(len(values), -1)[:, 0]
        return Decision(None, column, column, None)
    indices = class_indices(spec, values)
    rows = np.arange(len(values))
    confidence = values[rows, indices]
    scores = values[:, spec.positive_index] if spec.task == "binary" else confidence
    labels = np.empty(len(spec.classes), dtype=object)
    labels[:] = spec.classes  # element-wise: a list of tuples would become a 2-D array
    return Decision(indices, labels[indices], scores, confidence)


def decide_row(spec: Outputs, row: Sequence[float]) -> tuple[int, float, float]:
    """One classification row's (class index, score, confidence) by the rule above."""
    if spec.task == "binary":
        positive = spec.positive_index
        probability = row[positive]
        if probability >= THRESHOLD:
            return positive, probability, probability
        return 1 - positive, probability, row[1 - positive]
    index = max(range(len(row)), key=row.__getitem__)  # the first on a tie, as argmax
    return index, row[index], row[index]
