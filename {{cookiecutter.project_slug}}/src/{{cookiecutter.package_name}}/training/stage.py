"""The `train` stage: split the data, fit the model, write the candidate bundle with lineage.

The candidate bundle (`models/candidate/`, see `settings.pipeline.candidate_dir`; its contract
is `contracts.bundle`) holds `model_config.yaml` (the seed's fields with the dataset hash filled
in, plus `lineage`, `categories` (`{column: [the categories training saw]}`, what
`unknown_category: reject` checks), `input_example` (the first test row, raw: strings stay
strings, a missing value is null) and `metrics`) and `native/` (the framework's saved model);
`make optimize` adds `optimized/`, and `register` makes the version an MLflow model directory
(`runtime.mlflow_model`). For regression, `lineage.target_quantiles` holds the training
target's deciles (10% ... 90%), the buckets serving's value histogram uses. The split goes to
`data/processed/{train,test}.csv` so evaluation and optimization use the same held-out rows.
"""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import UTC, datetime
{%- if cookiecutter.feature_store == "feast" %}
from importlib.metadata import version
{%- endif %}
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.contracts.bundle import NATIVE_DIR, write_bundle_config
from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.contracts.metrics import compute_metrics
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import read_table, sha256_file, split_features, train_test
{%- if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.data.spark import spark_master
{%- endif %}
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.provenance import git_commit, library_versions, lock_sha256
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import TrainedModel, train_model
{%- if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.training.spark import check_engine, train_on_spark, xgboost_params
{%- endif %}

TRAIN_FILE = "train.csv"
TEST_FILE = "test.csv"


def dataset_path(settings: Settings, config: ModelConfig) -> Path:
    return settings.resolve(config.dataset.path)


def load_dataset(settings: Settings, config: ModelConfig) -> tuple[pd.DataFrame, str]:
    """The configured dataset and its sha256, checked against the pinned hash if any."""
    path = dataset_path(settings, config)
    frame = read_table(path)
    digest = sha256_file(path)
    pinned = config.dataset.sha256
    if pinned is not None and pinned != digest:
        raise UserError(
            f"{path} has sha256 {digest[:12]}..., but configs/model_config.yaml pins "
            f"{pinned[:12]}...; restore the pinned data or update dataset.sha256 "
            "and dataset.version"
        )
    return frame, digest


def read_split(settings: Settings, name: str, spec: DatasetSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw features and encoded target of `data/processed/<name>` (written by the train stage)."""
    path = settings.resolve(settings.pipeline.processed_dir) / name
    if not path.is_file():
        raise UserError(f"{path} not found; run `make train` first")
    return split_features(read_table(path), spec)


def raw_value(value: Any) -> Any:
    """A feature value as YAML/JSON carry it: numpy scalars unwrapped, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def target_quantiles(y_train: np.ndarray) -> list[float]:
    """The training target's deciles (10% ... 90%), for regression value histograms."""
    deciles = np.quantile(np.asarray(y_train, dtype=np.float64), np.linspace(0.1, 0.9, 9))
    return [float(f"{value:.6g}") for value in deciles]


{%- if cookiecutter.ml_framework == "scikit-learn" %}


def fit_model(
    settings: Settings, config: ModelConfig, x_train: pd.DataFrame, y_train: np.ndarray,
    engine: str,
) -> tuple[TrainedModel, str]:  # fmt: skip
    """The model fitted here or on Spark (`training.spark`), and the engine, for the lineage."""
    if engine == "spark":
        master = spark_master(settings)
        model = train_on_spark(x_train, y_train, config, settings.seed, master)
        return model, f"spark ({master})"
    return train_model(x_train, y_train, config, settings.seed), "local"


def run(settings: Settings, engine: str = "local") -> Path:
    """Train on the configured dataset (`engine`: local or spark); return the candidate bundle
    directory."""
    config = settings.read_model_config()
    check_engine(engine)
    if engine == "spark":
        xgboost_params(config)  # a config Spark cannot train fails before any work
{%- else %}


def fit_model(
    settings: Settings, config: ModelConfig, x_train: pd.DataFrame, y_train: np.ndarray
) -> tuple[TrainedModel, str]:
    """The fitted model, and the engine, for the lineage."""
    return train_model(x_train, y_train, config, settings.seed), "local"


def run(settings: Settings) -> Path:
    """Train on the configured dataset; return the candidate bundle directory."""
    config = settings.read_model_config()
{%- endif %}
    started = time.perf_counter()
    frame, digest = load_dataset(settings, config)
{%- if cookiecutter.feature_store == "feast" %}
    from {{ cookiecutter.package_name }}.feature_store import (
        SERVICE,
        enabled,
        is_current,
        sync,
        training_frame,
    )

    target = config.dataset.target
    from_feast = enabled(settings)
    if from_feast:  # point-in-time join of the labels with the feature service (`make features`)
        if not is_current(settings, digest):  # DVC, Airflow and Kubeflow call `train` directly
            sync(settings, dataset_path(settings, config), target)
        columns = [str(name) for name in frame.columns]
        frame = training_frame(settings, target, columns=columns, dataset_sha256=digest)
{%- endif %}
    spec = config.dataset
    split_features(frame, spec)  # fails early on a bad target or a missing feature column
    train, test = train_test(frame, spec, settings.seed)
    processed = settings.resolve(settings.pipeline.processed_dir)
    processed.mkdir(parents=True, exist_ok=True)
    for name, part in ((TRAIN_FILE, train), (TEST_FILE, test)):
        part.to_csv(processed / name, index=False, float_format="%.10g", lineterminator="\n")
    x_train, y_train = split_features(train, spec)
    x_test, y_test = split_features(test, spec)
{%- if cookiecutter.ml_framework == "scikit-learn" %}
    model, trained_by = fit_model(settings, config, x_train, y_train, engine)
{%- else %}
    model, trained_by = fit_model(settings, config, x_train, y_train)
{%- endif %}
    metrics = compute_metrics(spec, y_test, model.predict(x_test))
    bundle = settings.resolve(settings.pipeline.candidate_dir)
    if bundle.exists():
        shutil.rmtree(bundle)
    model.save(bundle / NATIVE_DIR)
    trained_at = datetime.now(UTC)
    run_suffix = uuid.uuid4().hex[:8]  # two trainings in one second still differ
    seed_fields = config.model_dump(mode="json")
    seed_fields["dataset"]["sha256"] = digest
    if seed_fields.get("tuning") is None:  # only a tuned config carries its tuning lineage
        seed_fields.pop("tuning", None)
    example = input_example(test, spec)
    quantiles = {} if spec.is_classification else {"target_quantiles": target_quantiles(y_train)}
    write_bundle_config(
        bundle,
        {
            **seed_fields,
            "lineage": {
                "bundle_id": f"{config.model_id}-{trained_at:%Y%m%dT%H%M%SZ}-{run_suffix}",
                "dataset_path": str(config.dataset.path),
                "dataset_sha256": digest,
                "dataset_rows": len(frame),
                "train_rows": len(train),
                "test_rows": len(test),
                "git_commit": git_commit(settings.project_root),
                "uv_lock_sha256": lock_sha256(settings.project_root),
                "trained_at": trained_at.isoformat(timespec="seconds"),
                "training_seconds": round(time.perf_counter() - started, 3),
                "seed": settings.seed,
                "engine": trained_by,
                "params": config.hyperparameters,
                "library_versions": library_versions(),
                **quantiles,
{%- if cookiecutter.feature_store == "feast" %}
                **(
                    {
                        "feature_store": {
                            "provider": "feast",
                            "feature_service": SERVICE,
                            "repo": "feature_repo",
                            "feast_version": version("feast"),
                        }
                    }
                    if from_feast
                    else {}
                ),
{%- endif %}
            },
            "categories": model.categories,
            "input_example": example,
            "metrics": metrics,
        },
    )
    return bundle


def input_example(test: pd.DataFrame, spec: DatasetSpec) -> dict[str, Any]:
    """The first test row as a client sends it: the input columns (dates as text), raw; a
    date column the frame lacks (Feast stores its parts) is null, which requests may send."""
    first = test.iloc[0]
    example = {
        name: raw_value(first[name]) if name in test else None for name in spec.input_columns
    }
    for name in spec.numeric_features:  # 127, not 127.0, would fail MLflow's double check
        value = example.get(name)
        if value is not None:
            example[name] = float(value)
    for name in spec.dates:
        example[name] = None if example[name] is None else str(example[name])
    return example
