"""The scikit-learn framework's model families and their hyper-parameters.

`hyperparameters.family` in configs/model_config.yaml picks one; the other keys are that
family's own, validated by its pydantic model (an unknown or bad key is a one-line error
naming it):

- `linear` (the default, also when `family` is absent): LogisticRegression (`C`, `max_iter`,
  `tol`, `class_weight`) or Ridge for regression (`alpha`).
- `hist_gradient_boosting`: scikit-learn's HistGradientBoostingClassifier / Regressor.
- `lightgbm`: LightGBM's LGBMClassifier / LGBMRegressor (exported by onnxmltools).
- `xgboost`: XGBoost's XGBClassifier / XGBRegressor (exported by onnxmltools), the family
  `train --engine spark` fits on a Spark cluster (`training.spark`). init-data and `make tune`
  compare the first three (`COMPARED`) unless asked for it (`--family xgboost`): it scores
  like LightGBM on one machine, and each family compared costs every init-data a CV run.

Every family sits behind the same preprocessor (`training.preprocess`: imputation, scaling,
one-hot categories), so the ONNX graph, the runtime and the parity check are shared. For
regression, `target_transform` (`auto` | `none` | `log1p`) fits the model on log1p(y) and
predicts expm1 of its output, clipped to the training target's range (`log_range`): `auto`
does so for a non-negative target skewed to the right (skewness above `SKEWED`), so a price
model predicts neither a negative price nor, extrapolating a line in log space, an absurd one
(on a 50k-row price table the linear model's RMSE was 2066 untransformed, 95574 with an
unbounded expm1).

`search_space(trial, family, task)` is the tuning space `training.tune` samples for a family.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec

FAMILIES = ("linear", "hist_gradient_boosting", "lightgbm", "xgboost")
COMPARED = FAMILIES[:3]  # init-data's comparison and tune's default (module docstring)
SKEWED = 1.0  # target skewness above which `target_transform: auto` takes log1p
ClassWeight = Literal["balanced"] | None
TargetTransform = Literal["auto", "none", "log1p"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_transform: TargetTransform = "auto"  # regression only


class LinearParams(_Params):
    """LogisticRegression (classification) and Ridge (regression) settings."""

    family: Literal["linear"] = "linear"
    C: float = Field(default=1.0, gt=0.0)
    max_iter: int = Field(default=1000, ge=1)
    class_weight: ClassWeight = None
    tol: float = Field(default=1e-4, gt=0.0)
    alpha: float = Field(default=1.0, ge=0.0)


class HistGradientBoostingParams(_Params):
    """scikit-learn's histogram gradient boosting (early stopping on 10% of the rows)."""

    family: Literal["hist_gradient_boosting"]
    learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    max_iter: int = Field(default=200, ge=1)
    max_leaf_nodes: int = Field(default=31, ge=2)
    max_depth: int | None = Field(default=None, ge=1)
    min_samples_leaf: int = Field(default=20, ge=1)
    l2_regularization: float = Field(default=0.0, ge=0.0)
    max_features: float = Field(default=1.0, gt=0.0, le=1.0)
    early_stopping: bool = True
    class_weight: ClassWeight = None


class LightGBMParams(_Params):
    """LightGBM gradient boosting (`n_jobs`: threads, 0 = all cores; one is often faster)."""

    family: Literal["lightgbm"]
    n_estimators: int = Field(default=200, ge=1)
    learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    num_leaves: int = Field(default=31, ge=2)
    max_depth: int = Field(default=-1, ge=-1)
    min_child_samples: int = Field(default=20, ge=1)
    subsample: float = Field(default=1.0, gt=0.0, le=1.0)
    subsample_freq: int = Field(default=0, ge=0)
    colsample_bytree: float = Field(default=1.0, gt=0.0, le=1.0)
    reg_alpha: float = Field(default=0.0, ge=0.0)
    reg_lambda: float = Field(default=0.0, ge=0.0)
    class_weight: ClassWeight = None
    n_jobs: int = Field(default=1, ge=0)


class XGBoostParams(_Params):
    """XGBoost gradient boosting, histogram trees (`n_jobs`: threads per fit, 0 = all cores;
    on Spark `num_workers` is the number of tasks, 0 = the cluster's default parallelism)."""

    family: Literal["xgboost"]
    n_estimators: int = Field(default=200, ge=1)
    learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    max_depth: int = Field(default=6, ge=1)
    min_child_weight: float = Field(default=1.0, ge=0.0)
    subsample: float = Field(default=1.0, gt=0.0, le=1.0)
    colsample_bytree: float = Field(default=1.0, gt=0.0, le=1.0)
    reg_alpha: float = Field(default=0.0, ge=0.0)
    reg_lambda: float = Field(default=1.0, ge=0.0)
    max_bin: int = Field(default=256, ge=2)
    n_jobs: int = Field(default=1, ge=0)
    num_workers: int = Field(default=0, ge=0)

    def booster_params(self) -> dict[str, Any]:
        """The keys XGBoost's sklearn and Spark estimators share (not threads or workers)."""
        return self.model_dump(exclude={"family", "target_transform", "n_jobs", "num_workers"})


Hyperparameters = LinearParams | HistGradientBoostingParams | LightGBMParams | XGBoostParams
MODELS: dict[str, type[Hyperparameters]] = {
    "linear": LinearParams,
    "hist_gradient_boosting": HistGradientBoostingParams,
    "lightgbm": LightGBMParams,
    "xgboost": XGBoostParams,
}


def parse_hyperparameters(values: dict[str, Any]) -> Hyperparameters:
    """The family's validated parameters (`family` defaults to linear).

    Raises `ValueError` for an unknown family and pydantic's `ValidationError` for a bad key.
    """
    family = values.get("family", "linear")
    if family not in MODELS:
        raise ValueError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    return MODELS[family].model_validate({**values, "family": family})


def unused(params: Hyperparameters, spec: DatasetSpec) -> set[str]:
    """Keys that do nothing for this task (written out, they would only mislead)."""
    if spec.is_classification:
        return {"target_transform", "alpha"}
    if params.family == "linear":
        return {"class_weight", "C", "max_iter", "tol"}
    return set() if params.family == "xgboost" else {"class_weight"}


def _rounded(params: dict[str, Any]) -> dict[str, Any]:
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in params.items()}


def written(params: Hyperparameters, spec: DatasetSpec) -> dict[str, Any]:
    """`params` as `hyperparameters:` shows them: this task's keys, floats to 4 digits."""
    return _rounded(params.model_dump(mode="json", exclude=unused(params, spec)))


def wants_log_target(params: Hyperparameters, y_train: np.ndarray) -> bool:
    """Whether a regression model is fitted on log1p(y) (see the module docstring)."""
    if params.target_transform != "auto":
        return params.target_transform == "log1p"
    y = np.asarray(y_train, dtype=np.float64)
    if len(y) < 3 or float(y.min()) < 0.0 or float(y.std()) == 0.0:
        return False
    skewness = float(np.mean(((y - y.mean()) / y.std()) ** 3))
    return skewness > SKEWED


def log_range(y_train: np.ndarray) -> tuple[float, float]:
    """log1p of the training target's range: the inverse transform clips to it."""
    y = np.asarray(y_train, dtype=np.float64)
    return float(np.log1p(y.min())), float(np.log1p(y.max()))


def bounded_expm1(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """expm1 of `values` clipped to [low, high] (a linear model extrapolates in log space)."""
    return np.asarray(np.expm1(np.clip(values, low, high)))


def _linear(spec: DatasetSpec, params: LinearParams, seed: int) -> BaseEstimator:
    if not spec.is_classification:
        return Ridge(alpha=params.alpha)
    return LogisticRegression(
        C=params.C,
        max_iter=params.max_iter,
        class_weight=params.class_weight,
        tol=params.tol,
        random_state=seed,
    )


def _hist(spec: DatasetSpec, params: HistGradientBoostingParams, seed: int) -> BaseEstimator:
    shared = params.model_dump(exclude={"family", "target_transform", "class_weight"})
    if not spec.is_classification:
        return HistGradientBoostingRegressor(**shared, random_state=seed)
    return HistGradientBoostingClassifier(
        **shared, class_weight=params.class_weight, random_state=seed
    )


def _lightgbm(spec: DatasetSpec, params: LightGBMParams, seed: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier, LGBMRegressor

    shared = params.model_dump(exclude={"family", "target_transform", "class_weight", "n_jobs"})
    common = {**shared, "random_state": seed, "n_jobs": params.n_jobs or None, "verbose": -1}
    if not spec.is_classification:
        return LGBMRegressor(**common)
    return LGBMClassifier(**common, class_weight=params.class_weight)


def _xgboost(spec: DatasetSpec, params: XGBoostParams, seed: int) -> BaseEstimator:
    from xgboost import XGBClassifier, XGBRegressor

    common = {
        **params.booster_params(),
        "tree_method": "hist",
        "random_state": seed,
        "n_jobs": params.n_jobs or None,
    }
    return XGBClassifier(**common) if spec.is_classification else XGBRegressor(**common)


def build_estimator(
    spec: DatasetSpec,
    params: Hyperparameters,
    seed: int,
    *,
    log_target: tuple[float, float] | None = None,
) -> BaseEstimator:
    """The unfitted estimator of `params.family` for the task; with `log_target` (`log_range`
    of the training target) it is fitted on log1p(y) and predicts expm1, within that range."""
    if isinstance(params, HistGradientBoostingParams):
        estimator = _hist(spec, params, seed)
    elif isinstance(params, LightGBMParams):
        estimator = _lightgbm(spec, params, seed)
    elif isinstance(params, XGBoostParams):
        estimator = _xgboost(spec, params, seed)
    else:
        estimator = _linear(spec, params, seed)
    if spec.is_classification or log_target is None:
        return estimator
    return log_target_regressor(estimator, log_target)


def log_target_regressor(
    regressor: BaseEstimator, log_target: tuple[float, float]
) -> TransformedTargetRegressor:
    """`regressor` fitted on log1p(y), predicting expm1 clipped to `log_target` (unfitted)."""
    low, high = log_target
    inverse = functools.partial(bounded_expm1, low=low, high=high)
    return TransformedTargetRegressor(
        regressor=regressor, func=np.log1p, inverse_func=inverse, check_inverse=False
    )


class Trial(Protocol):
    """The part of `optuna.Trial` a search space uses."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...


def search_space(trial: Trial, family: str, spec: DatasetSpec) -> dict[str, Any]:
    """Sampled hyper-parameters of `family` (names prefixed by family: one space per family)."""
    if family == "linear":
        if not spec.is_classification:
            return {"alpha": trial.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}
        return {"C": trial.suggest_float("linear.C", 1e-3, 1e2, log=True)}
    if family == "hist_gradient_boosting":
        return {
            "learning_rate": trial.suggest_float("hgb.learning_rate", 0.02, 0.3, log=True),
            "max_leaf_nodes": trial.suggest_int("hgb.max_leaf_nodes", 7, 127, log=True),
            "min_samples_leaf": trial.suggest_int("hgb.min_samples_leaf", 5, 100, log=True),
            "l2_regularization": trial.suggest_float("hgb.l2_regularization", 1e-6, 10, log=True),
            "max_features": trial.suggest_float("hgb.max_features", 0.3, 1.0),
            "max_iter": 300,
        }
    if family == "xgboost":
        return {
            "learning_rate": trial.suggest_float("xgb.learning_rate", 0.02, 0.3, log=True),
            "max_depth": trial.suggest_int("xgb.max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("xgb.min_child_weight", 0.5, 20, log=True),
            "colsample_bytree": trial.suggest_float("xgb.colsample_bytree", 0.3, 1.0),
            "subsample": trial.suggest_float("xgb.subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("xgb.reg_lambda", 1e-3, 10, log=True),
            "n_estimators": trial.suggest_int("xgb.n_estimators", 50, 400, log=True),
        }
    return {
        "learning_rate": trial.suggest_float("lgbm.learning_rate", 0.02, 0.3, log=True),
        "num_leaves": trial.suggest_int("lgbm.num_leaves", 7, 127, log=True),
        "min_child_samples": trial.suggest_int("lgbm.min_child_samples", 5, 100, log=True),
        "colsample_bytree": trial.suggest_float("lgbm.colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("lgbm.subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "reg_lambda": trial.suggest_float("lgbm.reg_lambda", 1e-6, 10, log=True),
        "n_estimators": trial.suggest_int("lgbm.n_estimators", 50, 400, log=True),
    }
