"""Load a model bundle for serving: the optimized artifact when its parity check passed.

Bundle layout (shared with the pipeline, an MLflow model directory): `MLmodel`,
`model_config.yaml` (features and categories, `dataset:` with the task and class labels,
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
import yaml

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.runtime import ONNX_FILE, TFLITE_FILE, load_bundle_predictor
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask, task_from_config
from {{ cookiecutter.package_name }}.serving.schema import Feature, features_from_config

CONFIG_FILE = "model_config.yaml"

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

    @cached_property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def warm_up(self, repeats: int = 20) -> None:
        """Run the model a few times so the first request pays no lazy initialisation."""
        example = self.info.get("input_example")
        if isinstance(example, dict) and set(example) == set(self.feature_names):
            row = tuple(example[name] for name in self.feature_names)
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


def model_version(config: dict[str, Any], bundle: Path) -> str:
    """The `model_version` label: a recorded version, else the registry's bundle name."""
    raw = config.get("lineage")
    lineage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for value in (
        config.get("version"),
        config.get("model_version"),
        lineage.get("version"),
        lineage.get("model_version"),
    ):
        if value not in (None, ""):
            return str(value)
    # The registry names bundles `<model_id>-v<N>`; other directories fall back to the
    # training run's bundle id.
    model_id = str(config.get("model_id") or "")
    if model_id and bundle.name.startswith(model_id):
        return bundle.name
    return str(lineage.get("bundle_id") or bundle.name)


def load_bundle(bundle: Path, prefer_optimized: bool = True) -> LoadedModel:
    """Load `bundle` (a `models/<bundle>/` directory); `UserError` when it is unusable."""
    config_path = bundle / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(
            f"{config_path} not found; run `make pipeline` or point serving at a bundle"
        )
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        features = features_from_config(config)
        task = task_from_config(config)
    except (yaml.YAMLError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{config_path}: {error}") from None
    names = [feature.name for feature in features]
    predictor = load_bundle_predictor(bundle, names, prefer_optimized)
    if predictor.feature_names != names:
        raise UserError(
            f"{bundle}: native model features {predictor.feature_names} differ from "
            f"{CONFIG_FILE} features {names}; re-run the pipeline"
        )
    info = {
        key: config[key]
        for key in ("model_id", "lineage", "metrics", "dataset", "categories", "input_example")
        if key in config
    }
    return LoadedModel(
        model_version(config, bundle),
        features,
        predictor.runtime,
        bundle,
        predictor.predict_rows,
        info,
        task,
    )


__all__ = [
    "CONFIG_FILE",
    "ONNX_FILE",
    "TFLITE_FILE",
    "LoadedModel",
    "PredictRows",
    "Rows",
    "load_bundle",
    "model_version",
]
