"""`configs/model_config.yaml`: the project's model config (the seed's fields), typed.

`Settings.read_model_config()` is the one accessor every stage calls; `load_model_config(path)`
reads another file (a bundle's copy, a test's). Lineage is added by training, in the bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError, first_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class EnvironmentSpec(_Strict):
    """The environment the model is meant for; training records the actual versions."""

    python: str
    framework: str
    framework_version: str


class EvaluationSpec(_Strict):
    """Quality gate: minimum metrics and the allowed regression against the champion."""

    thresholds: dict[str, float]
    primary_metric: str = "roc_auc"
    # In the primary metric's own units (a regression RMSE tolerance can exceed 1).
    champion_tolerance: float = Field(default=0.01, ge=0.0)


class BenchmarkSpec(_Strict):
    """How `optimization.base.benchmark` measures latency and throughput."""

    warmup: int = Field(default=20, ge=0)
    single_row_runs: int = Field(default=300, ge=10)
    batch_size: int = Field(default=1000, ge=1)
    batch_repeats: int = Field(default=5, ge=1)


class OptimizationSpec(_Strict):
    """Parity tolerances (absolute, on the test split) and benchmark settings.

    Classification: `max_probability_diff`, `max_accuracy_delta` (+ `max_roc_auc_delta`
    for binary). Regression: `max_value_diff` (max |native - optimized| as a fraction of
    the test target's standard deviation) and `max_rmse_delta` (also relative to that std).
    `options` holds framework-specific switches (documented in each optimization module).
    """

    max_accuracy_delta: float = Field(default=0.005, ge=0.0)
    max_roc_auc_delta: float = Field(default=0.005, ge=0.0)
    max_probability_diff: float = Field(default=0.01, ge=0.0)
    max_value_diff: float = Field(default=0.01, ge=0.0)
    max_rmse_delta: float = Field(default=0.005, ge=0.0)
    benchmark: BenchmarkSpec = BenchmarkSpec()
    options: dict[str, Any] = {}


class TuningRecord(_Strict):
    """Where the `hyperparameters:` came from when `tune` wrote them (its lineage)."""

    study: str
    storage: str
    trial: int = Field(ge=0)
    metric: str
    cv_score: float
    folds: int = Field(ge=2)
    finished_trials: int = Field(ge=1)
    tuned_at: str


class ModelConfig(_Strict):
    """`configs/model_config.yaml`: the seed's fields. Lineage is added by training."""

    model_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    base_architecture: str
    intended_use: str = ""
    dataset: DatasetSpec
    hyperparameters: dict[str, Any] = {}
    tuning: TuningRecord | None = None
    environment: EnvironmentSpec
    evaluation: EvaluationSpec
    optimization: OptimizationSpec = OptimizationSpec()


def read_yaml_mapping(path: Path, what: str, fix: str) -> dict[str, Any]:
    """A YAML file holding a mapping, or a one-line `UserError` saying what to do (`fix`)."""
    if not path.is_file():
        raise UserError(f"{what} {path} not found; {fix}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise UserError(f"{path} is not valid YAML: fix the syntax") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a YAML mapping of the {what} fields")
    return raw


Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[Model], what: str, fix: str) -> Model:{% if cookiecutter.python_version != "3.11" %}  # noqa: UP047{% endif %}
    """A YAML config file validated as `model`; any problem is a one-line `UserError`."""
    raw = read_yaml_mapping(path, what, fix)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"{path}: invalid {first_problem(error)}") from None


def load_model_config(path: Path) -> ModelConfig:
    """Read and validate a model config, turning any problem into a one-line `UserError`."""
    return load_yaml_model(
        path, ModelConfig, "model config", "create it (see configs/model_config.yaml)"
    )
