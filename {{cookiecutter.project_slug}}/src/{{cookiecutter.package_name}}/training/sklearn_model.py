"""scikit-learn: the shared preprocessor plus the configured model family, saved as a pickle.

The pipeline is `preprocess` (`training.preprocess.build_preprocessor`: median imputation and
scaling for numbers, one-hot for categories) -> `model`, the estimator of
`hyperparameters.family` (`training.families`: `linear` = LogisticRegression or Ridge,
`hist_gradient_boosting`, `lightgbm`), class indices into `spec.classes` for a classifier. A
regression model on a skewed positive target is wrapped in a log1p / expm1 target transform
(`families.wants_log_target`). Fitting shows a progress bar over the two stages. The family's
hyper-parameters are checked by its pydantic model (one-line errors naming the bad key).
`native/model.pkl` is a plain pickle so MLflow's own `sklearn` flavor loads the same file
(`runtime.mlflow_model`); that flavor expects prepared input (`preprocess.RawInputs.prepared`),
the `python_function` flavor takes raw rows. Pickles run code when loaded: load only bundles
your own pipeline produced.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError, first_problem
from {{ cookiecutter.package_name }}.training.base import read_native_meta, require_classifier, write_native_meta
from {{ cookiecutter.package_name }}.training.families import (
    Hyperparameters,
    build_estimator,
    log_range,
    parse_hyperparameters,
    wants_log_target,
)
from {{ cookiecutter.package_name }}.training.preprocess import (
    RawInputs,
    build_preprocessor,
    fitted_categories,
)

FRAMEWORK = "scikit-learn"
MODEL_FILE = "model.pkl"

# Fits the pipeline's model step on the encoded training rows and returns the fitted step:
# here by default, on Spark for `train --engine spark` (training.spark).
Fit = Callable[[BaseEstimator, Any, np.ndarray], BaseEstimator]


def fit_here(model: BaseEstimator, encoded: Any, y_train: np.ndarray) -> BaseEstimator:
    return model.fit(encoded, y_train)


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


def build_pipeline(
    spec: DatasetSpec,
    params: Hyperparameters,
    seed: int,
    *,
    log_target: tuple[float, float] | None = None,
) -> Pipeline:
    estimator = build_estimator(spec, params, seed, log_target=log_target)
    preprocess = build_preprocessor(spec, scale=params.family == "linear")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def target_range(
    spec: DatasetSpec, params: Hyperparameters, y_train: np.ndarray
) -> tuple[float, float] | None:
    """`families.log_range` of the target when the log1p transform applies, else None."""
    if spec.is_classification or not wants_log_target(params, y_train):
        return None
    return log_range(y_train)


def parse(values: dict[str, Any]) -> Hyperparameters:
    """`config.hyperparameters` validated by its family's model (one-line `UserError`)."""
    where = "configs/model_config.yaml: invalid hyperparameter"
    try:
        return parse_hyperparameters(values)
    except ValidationError as error:
        raise UserError(f"{where} {first_problem(error)}") from None
    except ValueError as error:
        raise UserError(f"{where} 'family': {error}") from None


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
    fit: Fit = fit_here,
) -> SklearnModel:
    """Fit the pipeline stage by stage (with a progress bar); deterministic for a seed.
    `fit` fits the model step (`training.spark` passes a Spark one)."""
    if len(X_train) == 0:
        raise UserError("the training split is empty; provide more rows of data")
    spec = config.dataset
    params = parse(config.hyperparameters)
    pipeline = build_pipeline(spec, params, seed, log_target=target_range(spec, params, y_train))
    inputs = RawInputs.of(spec)
    data = inputs.prepared(*inputs.split_frame(X_train))
    preprocess, model = (step for _, step in pipeline.steps)
    with tqdm(total=2, desc="fitting", unit="stage", leave=False) as bar:
        encoded = preprocess.fit_transform(data, y_train)
        bar.update(1)
        pipeline.steps[-1] = ("model", fit(model, encoded, y_train))
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
