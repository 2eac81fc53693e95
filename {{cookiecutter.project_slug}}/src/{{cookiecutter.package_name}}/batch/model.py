"""The one seam between batch scoring and the model: load a registry version, shape its output.

`load_model(reference, settings)` resolves `champion`, `challenger` or a version number
(`3` or `<model_id>-v3`) through the registry, or takes a resolved bundle directory, and
loads the bundle (`contracts.bundle`) with `runtime.load_bundle_predictor`, the code the server
and the parity check run. Outputs become columns by `contracts.decode`, the rule serving and
evaluation apply, from the bundle's `dataset:` (task, classes, positive class).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle, read_bundle
from {{ cookiecutter.package_name }}.contracts.decode import decode
from {{ cookiecutter.package_name }}.contracts.spec import DatePart, derived_features, input_columns_of
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.registry import ALIASES, open_registry
from {{ cookiecutter.package_name }}.runtime import Predictor, load_bundle_predictor
from {{ cookiecutter.package_name }}.settings import Settings

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
    categories: dict[str, list[Any]] = field(default_factory=dict)
    dates: dict[str, list[DatePart]] = field(default_factory=dict)  # dataset.dates
    orders: dict[str, list[Any]] = field(default_factory=dict)  # dataset.orders
    reject_unknown: bool = False
    predictor: Predictor | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    @property
    def derived(self) -> dict[str, tuple[str, str]]:
        """{feature: (input column, calendar part or RANK)}, as `DatasetSpec.derived`."""
        return derived_features(self.dates, self.orders)

    @property
    def input_columns(self) -> list[str]:
        """The columns an input file carries for the model (date columns for their parts)."""
        return input_columns_of(self.features, self.derived)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def positive_index(self) -> int:
        """Binary: the probability column of `positive_class` (what `contracts.decode` reads)."""
        return self.classes.index(self.positive_class)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Model output for validated rows: (n, k) probabilities or (n, 1) values."""
        assert self.predictor is not None
        return np.asarray(self.predictor.predict_frame(frame[self.feature_names]))

    def output_columns(self, output: np.ndarray) -> dict[str, Any]:
        """The prediction columns of a batch: label or value, score, class probabilities."""
        if self.task == "regression":
            values = output.reshape(len(output), -1)[:, 0].astype(np.float64)
            return {PREDICTION: values, SCORE: values}
        decision = decode(self, output)
        columns: dict[str, Any] = {
            PREDICTION: decision.labels.astype(label_dtype(self.classes)),
            SCORE: decision.scores,
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


def load_model(reference: str, settings: Settings) -> BatchModel:
    """The registry version `reference` (or the bundle directory it names, as `resolve --into`
    exports it: the image's /app/model/champion) ready to score."""
    prefer = settings.serving.prefer_optimized
    if Path(reference).is_dir():  # the model pinned in an image: no registry access needed
        bundle = read_bundle(Path(reference).resolve())
        # export_bundle wrote `<id>-v<N>` as the bundle's version
        return model_from_bundle(bundle, bundle.version_label, str(bundle.path), prefer)
    version, path = _resolve(reference, settings)
    bundle = read_bundle(path)
    label = f"{bundle.config.model_id}-v{version}"  # the registry's name (the server's label)
    backend: str = settings.pipeline.registry_backend  # a Literal of one value without MLflow
    uri = f"models:/{bundle.config.model_id}/{version}" if backend == "mlflow" else str(path)
    return model_from_bundle(bundle, label, uri, prefer)


def model_from_bundle(bundle: Bundle, version: str, uri: str, prefer_optimized: bool) -> BatchModel:
    """The model of `bundle` (also what each Spark task builds from the bundle's path)."""
    spec = bundle.spec
    predictor = load_bundle_predictor(bundle, prefer_optimized)
    return BatchModel(
        version=version,
        uri=uri,
        bundle=bundle.path,
        runtime=predictor.runtime,
        features=dict(spec.features),
        task=spec.task,
        classes=list(spec.classes),
        positive_class=spec.positive_class,
        id_columns=list(spec.id_columns),
        categories={name: list(values) for name, values in bundle.config.categories.items()},
        dates={column: list(parts) for column, parts in spec.dates.items()},
        orders={column: list(levels) for column, levels in spec.orders.items()},
        reject_unknown=spec.unknown_category == "reject",
        predictor=predictor,
    )
