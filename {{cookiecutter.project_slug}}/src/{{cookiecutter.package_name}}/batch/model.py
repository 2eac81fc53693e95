"""The one seam between batch scoring and the model: load a registry version, shape its output.

`load_model(reference, settings)` resolves `champion`, `challenger` or a version number
(`3` or `<model_id>-v3`) through the registry, or takes a resolved bundle directory, and
loads the bundle with `runtime.load_bundle_predictor`, the code the server and the parity
check run. Outputs become columns from the bundle's `dataset:` (task, classes, positive
class); a bundle without a task is read as today's binary 0/1 model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.registry import ALIASES, open_registry
from {{ cookiecutter.package_name }}.runtime import Predictor, load_bundle_predictor
from {{ cookiecutter.package_name }}.settings import Settings

CONFIG_FILE = "model_config.yaml"
NUMERIC = "numeric"
CATEGORICAL = "categorical"
PREDICTION = "prediction"
SCORE = "score"  # the prediction log's score: P(positive), P(predicted class) or the value
PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True)
class BatchModel:
    """A loaded registry version and what batch scoring needs to know about its inputs."""

    version: str
    uri: str
    bundle: Path
    runtime: str
    features: dict[str, str]  # name -> numeric | categorical, in model-input order
    task: str
    classes: list[Any]
    positive_class: Any
    id_columns: list[str]
    # Raw-input bundles (preprocessing inside the model) impute missing values themselves.
    accepts_missing: bool
    categories: dict[str, list[Any]] = field(default_factory=dict)
    reject_unknown: bool = False
    predictor: Predictor | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Model output for validated rows: (n, k) probabilities or (n, 1) values."""
        assert self.predictor is not None
        return np.asarray(self.predictor.predict_frame(frame[self.feature_names]))

    def output_columns(self, output: np.ndarray) -> dict[str, Any]:
        """The prediction columns of a batch: label or value, score, class probabilities."""
        if self.task == "regression":
            values = output.reshape(len(output), -1)[:, 0].astype(np.float64)
            return {PREDICTION: values, SCORE: values}
        labels = np.asarray(self.classes, dtype=object)
        best = output.argmax(axis=1)
        predicted = labels[best]
        if self.task == "binary":
            score = output[:, self.classes.index(self.positive_class)]
        else:
            score = output[np.arange(len(output)), best]
        columns: dict[str, Any] = {
            PREDICTION: predicted.astype(label_dtype(self.classes)),
            SCORE: score.astype(np.float64),
        }
        for index, label in enumerate(self.classes):
            columns[f"{PROBABILITY_PREFIX}{label}"] = output[:, index].astype(np.float64)
        return columns


def label_dtype(classes: list[Any]) -> type:
    """The column type of predicted labels: labels keep their type (YAML/JSON scalars)."""
    if all(isinstance(label, bool) for label in classes):
        return bool
    if all(isinstance(label, int) for label in classes):
        return np.int64
    if all(isinstance(label, float) for label in classes):
        return np.float64
    return object  # strings (Parquet/Spark string)


def _read_config(bundle: Path) -> dict[str, Any]:
    path = bundle / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{bundle} is not a model bundle ({CONFIG_FILE} missing); re-register it")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise UserError(f"{path} is not valid YAML; re-register the model") from None
    return config if isinstance(config, dict) else {}


def _features(config: dict[str, Any]) -> dict[str, str]:
    spec = (config.get("dataset") or {}).get("features")
    if isinstance(spec, dict) and spec:
        return {str(name): str(kind) for name, kind in spec.items()}
    listed = config.get("features") or []
    kinds: dict[str, str] = {}
    for item in listed:
        name = str(item["name"] if isinstance(item, dict) else item)
        dtype = str(item.get("dtype", "float64") if isinstance(item, dict) else "float64")
        kinds[name] = NUMERIC if dtype.startswith(("float", "int", "uint")) else CATEGORICAL
    if not kinds:
        raise UserError("the model bundle lists no features; retrain with `make train`")
    return kinds


def _resolve(reference: str, settings: Settings) -> tuple[int, Path]:
    """The registry version and bundle directory of `reference`."""
    registry = open_registry(settings)
    if reference in ALIASES:
        version = registry.get_alias(reference)
        if version is None:
            raise UserError(f"no model has the '{reference}' alias yet; run `make pipeline`")
    else:
        number = reference.rsplit("-v", 1)[-1]
        known = {int(entry["version"]) for entry in registry.versions()}
        if not number.isdigit() or int(number) not in known:
            listed = ", ".join(str(v) for v in sorted(known)) or "none"
            raise UserError(
                f"unknown model version '{reference}'; use champion, challenger or one of the "
                f"registered versions ({listed})"
            )
        version = int(number)
    return version, registry.bundle_path(version)


def load_model(reference: str, settings: Settings) -> tuple[BatchModel, dict[str, Any]]:
    """The registry version `reference` (or the bundle directory it names, as `resolve --into`
    exports it: the image's /app/model/champion) ready to score, and its bundle config."""
    if Path(reference).is_dir():  # the model pinned in an image: no registry access needed
        bundle = Path(reference).resolve()
        config = _read_config(bundle)
        label = str(config.get("version") or bundle.name)  # export_bundle wrote `<id>-v<N>`
        prefer = settings.serving.prefer_optimized
        return model_from_bundle(bundle, config, label, str(bundle), prefer), config
    version, bundle = _resolve(reference, settings)
    config = _read_config(bundle)
    model_id = str(config.get("model_id") or bundle.name)
    label = f"{model_id}-v{version}"  # the registry's name for it (the server's model_version)
    backend: str = settings.pipeline.registry_backend  # a Literal of one value without MLflow
    uri = f"models:/{model_id}/{version}" if backend == "mlflow" else str(bundle)
    model = model_from_bundle(bundle, config, label, uri, settings.serving.prefer_optimized)
    return model, config


def model_from_bundle(
    bundle: Path, config: dict[str, Any], version: str, uri: str, prefer_optimized: bool
) -> BatchModel:
    """The model of `bundle` (also what each Spark task builds from the same arguments)."""
    features = _features(config)
    dataset = config.get("dataset") or {}
    task = str(dataset.get("task") or "binary")
    classes = list(dataset.get("classes") or ([0, 1] if task == "binary" else []))
    positive = dataset.get("positive_class", 1 if task == "binary" else None)
    predictor = load_bundle_predictor(bundle, list(features), prefer_optimized)
    return BatchModel(
        version=version,
        uri=uri,
        bundle=bundle,
        runtime=predictor.runtime,
        features=features,
        task=task,
        classes=classes,
        positive_class=positive,
        id_columns=[str(name) for name in dataset.get("id_columns") or []],
        accepts_missing="categories" in config,
        categories={str(k): list(v) for k, v in (config.get("categories") or {}).items()},
        reject_unknown=dataset.get("unknown_category") == "reject",
        predictor=predictor,
    )
