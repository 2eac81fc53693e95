"""scikit-learn: a preprocessing + logistic-regression pipeline, saved as a plain pickle.

Hyper-parameters (`hyperparameters:` in configs/model_config.yaml) are checked by
`SklearnHyperparameters`. The pipeline is `SimpleImputer(median) -> StandardScaler ->
LogisticRegression`; fitting shows a progress bar over its stages. `native/model.pkl` is a
plain pickle so MLflow's own `sklearn` flavor loads the same file (`runtime.mlflow_model`);
pickles run code when loaded: load only bundles your own pipeline produced.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training.base import (
    ModelConfig,
    read_native_meta,
    validate_hyperparameters,
    write_native_meta,
)

FRAMEWORK = "scikit-learn"
MODEL_FILE = "model.pkl"


class SklearnHyperparameters(BaseModel):
    """Logistic-regression settings; see scikit-learn's LogisticRegression."""

    model_config = ConfigDict(extra="forbid")

    C: float = Field(default=1.0, gt=0.0)
    max_iter: int = Field(default=1000, ge=1)
    class_weight: Literal["balanced"] | None = None
    tol: float = Field(default=1e-4, gt=0.0)


class SklearnModel:
    """A fitted scikit-learn pipeline behind the `TrainedModel` interface."""

    framework = FRAMEWORK

    def __init__(self, pipeline: Pipeline, feature_names: list[str]) -> None:
        self.pipeline = pipeline
        self.feature_names = feature_names

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        if features.columns.tolist() == self.feature_names:  # fast path: already in order
            return np.asarray(features.to_numpy(dtype=np.float64))
        missing = [name for name in self.feature_names if name not in features.columns]
        if missing:
            raise UserError(f"input lacks the model's feature(s) {', '.join(missing[:5])}")
        return np.asarray(features[self.feature_names].to_numpy(dtype=np.float64))

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        proba: np.ndarray = self.pipeline.predict_proba(self._matrix(features))
        return proba.astype(np.float64)

    def save(self, directory: Path) -> None:
        write_native_meta(directory, FRAMEWORK, self.feature_names)
        with (directory / MODEL_FILE).open("wb") as handle:
            pickle.dump(self.pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)


def build_pipeline(params: SklearnHyperparameters, seed: int) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            (
                "classify",
                LogisticRegression(
                    C=params.C,
                    max_iter=params.max_iter,
                    class_weight=params.class_weight,
                    tol=params.tol,
                    random_state=seed,
                ),
            ),
        ]
    )


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
) -> SklearnModel:
    """Fit the pipeline stage by stage (with a progress bar); deterministic for a seed."""
    params = validate_hyperparameters(SklearnHyperparameters, config.hyperparameters)
    pipeline = build_pipeline(params, seed)
    names = [str(name) for name in X_train.columns]
    data: Any = X_train.to_numpy(dtype=np.float64)
    steps = tqdm(pipeline.steps, desc="fitting", unit="stage", leave=False)
    for index, (_, step) in enumerate(steps):
        if index < len(pipeline.steps) - 1:
            data = step.fit_transform(data, y_train)
        else:
            step.fit(data, y_train)
    return SklearnModel(pipeline, names)


def load(directory: Path) -> SklearnModel:
    """Load what `SklearnModel.save` wrote."""
    names = read_native_meta(directory, FRAMEWORK)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{directory} has no {MODEL_FILE}; retrain it with `make train`")
    try:
        with path.open("rb") as handle:
            pipeline = pickle.load(handle)  # noqa: S301 - our own pipeline's bundle
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        raise UserError(f"{path} is truncated or not a pickle; retrain with `make train`") from None
    if not isinstance(pipeline, Pipeline):
        raise UserError(f"{directory / MODEL_FILE} is not a scikit-learn pipeline")
    return SklearnModel(pipeline, names)
