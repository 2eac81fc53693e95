"""Load a model bundle for serving: the optimized artifact when its parity check passed.

Bundle layout (`contracts.bundle`, an MLflow model directory): `MLmodel`,
`model_config.yaml` (`dataset:` with the features, task and class labels; categories,
lineage, metrics), `native/` (loaded by `training.load_model`),
`optimized/model.onnx` or `optimized/model.tflite` with `optimized/parity.json`. The
predictor is `runtime.load_bundle_predictor`, the same code the parity check measured; an
artifact that failed (or never had) its parity check is refused, and the native model is
served only with `serving.prefer_optimized: false`. The model is loaded once and warmed up
before the server reports ready.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.contracts.bundle import BUNDLE_CONFIG, read_bundle
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.runtime import ONNX_FILE, TFLITE_FILE, load_bundle_predictor
from {{ cookiecutter.package_name }}.serving.fields import (
    Expand,
    Feature,
    expander,
    features_of,
    inputs_of,
)
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask

Rows = Sequence[tuple[Any, ...]]
PredictRows = Callable[[Rows], np.ndarray]


@dataclass
class LoadedModel:
    """A model ready to serve: `predict(rows of raw values)` -> (n, k) class probabilities in
    `task.classes` order, or (n, 1) regression values."""

    version: str
    features: list[Feature]
    runtime: str
    bundle: Path | None
    predict: PredictRows
    info: dict[str, Any] = field(default_factory=dict)
    task: ModelTask = field(default_factory=ModelTask)
    # `dataset.id_columns`: a request row's keys, logged and echoed, never model inputs
    id_columns: tuple[str, ...] = ()
    # The request's fields when they differ from `features` (date columns for their calendar
    # parts), and the step from request rows to model rows (`schema.expander`).
    inputs: list[Feature] | None = None
    expand: Expand | None = None

    @cached_property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def warm_up(self, repeats: int = 20) -> None:
        """Run the model a few times so the first request pays no lazy initialisation."""
        example = self.info.get("input_example")
        inputs = [feature.name for feature in self.inputs or self.features]
        if isinstance(example, dict) and set(example) == set(inputs):
            rows = [tuple(example[name] for name in inputs)]
            row = (self.expand(rows) if self.expand else rows)[0]
        else:
            row = tuple(
                0.0 if feature.numeric else (feature.categories or ("",))[0]
                for feature in self.features
            )
        width = self.task.width
        for size in (1, 8) * max(1, repeats // 2):
            output = np.asarray(self.predict([row] * size))
            if output.shape != (size, width) or not np.all(np.isfinite(output)):
                raise UserError(
                    f"model {self.version} returned {output.shape} outputs on warm-up; expected "
                    f"(n, {width}) finite values for its {self.task.task} task: re-run the pipeline"
                )


def load_bundle(path: Path, prefer_optimized: bool = True) -> LoadedModel:
    """Load the bundle at `path` (a `models/<bundle>/` directory); `UserError` when unusable."""
    bundle = read_bundle(path)
    try:
        features = features_of(bundle)
    except ValueError as error:
        raise UserError(f"{path / BUNDLE_CONFIG}: {error}; re-run the pipeline") from None
    predictor = load_bundle_predictor(bundle, prefer_optimized)
    info = {
        "model_id": bundle.config.model_id,
        "lineage": bundle.lineage,
        "metrics": bundle.config.metrics,
        "dataset": bundle.spec.model_dump(mode="json"),
        "categories": bundle.config.categories,
        "input_example": bundle.config.input_example,
    }
    return LoadedModel(
        bundle.version_label,
        features,
        predictor.runtime,
        path,
        predictor.predict_rows,
        info,
        ModelTask.of(bundle),
        tuple(bundle.spec.id_columns),
        inputs_of(bundle, features) if bundle.spec.derived else None,
        expander(bundle),
    )


__all__ = [
    "ONNX_FILE",
    "TFLITE_FILE",
    "LoadedModel",
    "PredictRows",
    "Rows",
    "load_bundle",
]
