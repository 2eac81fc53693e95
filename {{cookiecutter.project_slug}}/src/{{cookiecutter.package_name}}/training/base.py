"""The framework-neutral interface every model implementation follows.

Each framework module (`sklearn_model`, `torch_model`, `keras_model`) exposes exactly:

    FRAMEWORK: str                                   # "scikit-learn" | "pytorch" | "tensorflow"
    def train(X_train: pd.DataFrame, y_train: np.ndarray, config: ModelConfig,
              seed: int) -> TrainedModel             # seeded, deterministic, tqdm progress bar
    def load(directory: Path) -> TrainedModel        # reads what `TrainedModel.save` wrote

`training/__init__.py` re-exports the chosen one as `train_model` / `load_model`. Hyper-parameters
come from `config.hyperparameters` (a free mapping validated by each framework's own pydantic
model, raising `UserError` naming the bad key). `save(directory)` writes the framework-native
files into `directory` (the bundle's `native/` folder), including `NATIVE_META_FILE` with the
framework and the dataset spec (task, classes, typed features), so `load` needs nothing else.

`X_train` holds RAW features (`spec.feature_names`; NaN where a value is missing, strings for
categoricals) and `y_train` the encoded target (`data.split_features`): class indices into
`spec.classes` or float values. Every model carries its fitted preprocessor
(`training.preprocess`), so `predict` takes raw features too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError, first_problem

NATIVE_META_FILE = "meta.json"

T = TypeVar("T", bound=BaseModel)


@runtime_checkable
class TrainedModel(Protocol):
    """A fitted model with its preprocessing, whatever the framework and task."""

    framework: str
    spec: DatasetSpec
    feature_names: list[str]
    categories: dict[str, list[str]]  # categorical column -> the categories training saw

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """float64 (n, k) probabilities in `spec.classes` order, or (n, 1) regression values."""
        ...

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """`predict` for classification (kept for callers that say what they expect)."""
        ...

    def save(self, directory: Path) -> None:
        """Write the framework-native model (and `NATIVE_META_FILE`) into `directory`."""
        ...


# Python 3.11 generic syntax on every target, so one source compiles everywhere.
def validate_hyperparameters(schema: type[T], values: dict[str, Any]) -> T:{% if cookiecutter.python_version != "3.11" %}  # noqa: UP047{% endif %}
    """Validate `config.hyperparameters` against a framework's schema (one-line errors)."""
    try:
        return schema.model_validate(values)
    except ValidationError as error:
        raise UserError(
            f"configs/model_config.yaml: invalid hyperparameter {first_problem(error)}"
        ) from None


def write_native_meta(directory: Path, framework: str, spec: DatasetSpec) -> None:
    """Write `NATIVE_META_FILE`; every framework's `save` calls this."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "framework": framework,
        "dataset": spec.model_dump(mode="json"),
    }
    (directory / NATIVE_META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def read_native_meta(directory: Path, framework: str) -> DatasetSpec:
    """The dataset spec from `NATIVE_META_FILE`, checking the model was saved by `framework`."""
    meta_path = directory / NATIVE_META_FILE
    if not meta_path.is_file():
        raise UserError(f"{directory} holds no saved model ({NATIVE_META_FILE} missing); train one")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("framework") != framework:
        raise UserError(
            f"{directory} holds a {meta.get('framework')} model but this project uses {framework}"
        )
    try:
        return DatasetSpec.model_validate(meta["dataset"])
    except (KeyError, ValidationError):
        raise UserError(
            f"{meta_path} predates typed datasets (no valid 'dataset'); retrain with `make train`"
        ) from None


def output_width(spec: DatasetSpec) -> int:
    """Columns of `predict`: the number of classes, or 1 for regression."""
    return len(spec.classes) if spec.is_classification else 1


def require_classifier(spec: DatasetSpec) -> None:
    """`predict_proba` on a regression model is a caller's mistake worth one clear line."""
    if not spec.is_classification:
        raise UserError("this is a regression model: it has no class probabilities; use predict")
