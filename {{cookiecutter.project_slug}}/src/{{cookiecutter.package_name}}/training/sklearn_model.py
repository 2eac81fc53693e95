"""scikit-learn: the shared preprocessor plus a linear model, saved as a plain pickle.

The pipeline is `preprocess` (`training.preprocess.build_preprocessor`: median imputation and
scaling for numbers, one-hot for categories) -> `model`: `LogisticRegression` for binary and
multiclass targets (class indices into `spec.classes`), `Ridge` for regression. Fitting shows
a progress bar over the two stages. Hyper-parameters (`hyperparameters:` in
configs/model_config.yaml) are checked by `SklearnHyperparameters`; `C`, `max_iter`, `tol`
and `class_weight` are the classifier's, `alpha` the regressor's. `native/model.pkl` is a
plain pickle so MLflow's own `sklearn` flavor loads the same file (`runtime.mlflow_model`);
that flavor expects prepared input (`preprocess.RawInputs.prepared`), the `python_function`
flavor takes raw rows. Pickles run code when loaded: load only bundles your own pipeline
produced.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training.base import (
    read_native_meta,
    require_classifier,
    validate_hyperparameters,
    write_native_meta,
)
from {{ cookiecutter.package_name }}.training.preprocess import (
    RawInputs,
    build_preprocessor,
    fitted_categories,
)

FRAMEWORK = "scikit-learn"
MODEL_FILE = "model.pkl"


class SklearnHyperparameters(BaseModel):
    """LogisticRegression (classification) and Ridge (regression) settings."""

    model_config = ConfigDict(extra="forbid")

    C: float = Field(default=1.0, gt=0.0)
    max_iter: int = Field(default=1000, ge=1)
    class_weight: Literal["balanced"] | None = None
    tol: float = Field(default=1e-4, gt=0.0)
    alpha: float = Field(default=1.0, ge=0.0)


class SklearnModel:
    """A fitted scikit-learn pipeline behind the `TrainedModel` interface."""

    framework = FRAMEWORK

    def __init__(self, pipeline: Pipeline, spec: DatasetSpec) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.feature_names = spec.feature_names
        self.inputs = RawInputs.of(spec)
        self.categories = fitted_categories(pipeline.named_steps["preprocess"], spec)

    def prepared(self, features: pd.DataFrame) -> pd.DataFrame:
        return self.inputs.prepared(*self.inputs.split_frame(features))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        prepared = self.prepared(features)
        if self.spec.is_classification:
            return np.asarray(self.pipeline.predict_proba(prepared), dtype=np.float64)
        return np.asarray(self.pipeline.predict(prepared), dtype=np.float64).reshape(-1, 1)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        require_classifier(self.spec)
        return self.predict(features)

    def save(self, directory: Path) -> None:
        write_native_meta(directory, FRAMEWORK, self.spec)
        with (directory / MODEL_FILE).open("wb") as handle:
            pickle.dump(self.pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)


def build_estimator(spec: DatasetSpec, params: SklearnHyperparameters, seed: int) -> BaseEstimator:
    if not spec.is_classification:
        return Ridge(alpha=params.alpha)
    return LogisticRegression(
        C=params.C,
        max_iter=params.max_iter,
        class_weight=params.class_weight,
        tol=params.tol,
        random_state=seed,
    )


def build_pipeline(spec: DatasetSpec, params: SklearnHyperparameters, seed: int) -> Pipeline:
    return Pipeline(
        [("preprocess", build_preprocessor(spec)), ("model", build_estimator(spec, params, seed))]
    )


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
) -> SklearnModel:
    """Fit the pipeline stage by stage (with a progress bar); deterministic for a seed."""
    if len(X_train) == 0:
        raise UserError("the training split is empty; provide more rows of data")
    spec = config.dataset
    params = validate_hyperparameters(SklearnHyperparameters, config.hyperparameters)
    pipeline = build_pipeline(spec, params, seed)
    inputs = RawInputs.of(spec)
    data = inputs.prepared(*inputs.split_frame(X_train))
    preprocess, model = (step for _, step in pipeline.steps)
    with tqdm(total=2, desc="fitting", unit="stage", leave=False) as bar:
        encoded = preprocess.fit_transform(data, y_train)
        bar.update(1)
        model.fit(encoded, y_train)
        bar.update(1)
    return SklearnModel(pipeline, spec)


def load(directory: Path) -> SklearnModel:
    """Load what `SklearnModel.save` wrote."""
    spec = read_native_meta(directory, FRAMEWORK)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{directory} has no {MODEL_FILE}; retrain it with `make train`")
    try:
        with path.open("rb") as handle:
            pipeline = pickle.load(handle)  # noqa: S301 - our own pipeline's bundle
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        raise UserError(f"{path} is truncated or not a pickle; retrain with `make train`") from None
    if not isinstance(pipeline, Pipeline) or "preprocess" not in pipeline.named_steps:
        raise UserError(f"{path} is not this template's scikit-learn pipeline; retrain it")
    return SklearnModel(pipeline, spec)
