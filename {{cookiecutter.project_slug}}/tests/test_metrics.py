"""Metrics per task: the usual definitions, their direction, the per-class report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.batch.model import BatchModel
from {{ cookiecutter.package_name }}.contracts.decode import class_indices, decide_row, decode
from {{ cookiecutter.package_name }}.contracts.metrics import (
    METRIC_DIRECTIONS,
    TASK_METRICS,
    class_report,
    compute_metrics,
    higher_is_better,
)
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask

from factories import frame_of, spec_of


def _spec(task: str, **changes: object) -> DatasetSpec:
    return spec_of(frame_of(task, categorical=False), task, **changes)


def test_binary_metrics_are_the_usual_definitions() -> None:
    y = np.array([0, 0, 1, 1])
    positive = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = compute_metrics(_spec("binary"), y, np.column_stack([1 - positive, positive]))
    assert metrics == {
        "accuracy": 0.5,
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "roc_auc": 0.75,
        "log_loss": pytest.approx(-np.log([0.9, 0.4, 0.4, 0.9]).mean(), abs=1e-6),
    }


def test_binary_metrics_follow_the_positive_class() -> None:
    y = np.array([0, 0, 0, 1])  # index 0 is the positive class here: three positives
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    metrics = compute_metrics(_spec("binary", positive_class=0), y, proba)
    assert metrics["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["precision"] == 1.0 and metrics["roc_auc"] == 1.0


def test_multiclass_metrics() -> None:
    spec = _spec("multiclass")
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8]])
    metrics = compute_metrics(spec, y, proba)
    assert set(metrics) == set(TASK_METRICS["multiclass"])
    assert metrics["accuracy"] == 0.75
    assert metrics["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3, abs=1e-6)
    assert metrics["f1_weighted"] == pytest.approx((1 + 2 / 3 + 2 * 2 / 3) / 4, abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(-np.log([0.8, 0.7, 0.3, 0.8]).mean(), abs=1e-6)
    report = class_report(spec, y, proba)
    assert report["classes"] == ["class_0", "class_1", "class_2"]
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert report["per_class"]["class_2"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3, abs=1e-6),
        "support": 2,
    }


def test_regression_metrics() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([[1.0], [2.0], [3.0], [6.0]])
    metrics = compute_metrics(_spec("regression"), y, predicted)
    assert metrics == {"rmse": 1.0, "mae": 0.5, "r2": pytest.approx(1 - 4 / 5, abs=1e-6)}
    with pytest.raises(ValueError, match="classification"):
        class_report(_spec("regression"), y, predicted)


def test_directions() -> None:
    assert {name for name, way in METRIC_DIRECTIONS.items() if way == "lower"} == {
        "log_loss",
        "rmse",
        "mae",
    }
    assert higher_is_better("roc_auc") and higher_is_better("r2") and not higher_is_better("rmse")


@pytest.mark.parametrize("positive_class", [0, 1])
def test_every_stage_decides_a_tie_for_the_positive_class(positive_class: int) -> None:
    """P(positive) = 0.5: evaluation, serving, batch scoring and the pyfunc all answer the
    positive class (batch once took the arg-max, the negative class at index 0)."""
    spec = _spec("binary", positive_class=positive_class)
    output = np.array([[0.5, 0.5], [0.7, 0.3], [0.2, 0.8]])
    expected = [positive_class, 0, 1]
    assert class_indices(spec, output).tolist() == expected
    assert decode(spec, output).labels.tolist() == [spec.classes[i] for i in expected]
    served = ModelTask("binary", tuple(spec.classes), spec.positive_index).decode(output, "rows")
    assert served.indices == expected and served.scores[0] == 0.5
    batch = BatchModel(
        version="m-v1", uri="", bundle=Path(), runtime="test",
        features=dict(spec.features), task="binary", classes=list(spec.classes),
        positive_class=spec.positive_class, id_columns=[],
    )  # fmt: skip
    columns = batch.output_columns(output)
    assert columns["prediction"].tolist() == [spec.classes[i] for i in expected]
    truth = np.array(expected)
    assert compute_metrics(spec, truth, output)["accuracy"] == 1.0


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_per_row_and_the_array_decisions_agree(task: str) -> None:
    """The server's per-row `decide_row` and the array `decode` apply one rule."""
    spec = _spec(task)
    rng = np.random.default_rng(3)
    output = rng.dirichlet(np.ones(len(spec.classes)), size=200)
    output[:5] = 1.0 / len(spec.classes)  # ties
    array = decode(spec, output)
    rows = [decide_row(spec, row) for row in output.tolist()]
    assert array.indices is not None and array.confidence is not None
    assert [index for index, _, _ in rows] == array.indices.tolist()
    np.testing.assert_allclose([score for _, score, _ in rows], array.scores)
    np.testing.assert_allclose([value for _, _, value in rows], array.confidence)
