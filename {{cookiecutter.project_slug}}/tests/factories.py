"""Factories for the tests: projects, datasets, specs and configs, built in one place.

- The configured project: `PROJECT_ROOT`, `configured_spec()` and `copy_project(root)`, a
  throwaway root with this project's configs and its configured dataset (the bundled sample
  written afresh, or your data copied; the test skips where it is absent).
- Small datasets of every task built in code (`frame_of`, `spec_of`, `config_of`,
  `split_of`): binary, multiclass (string labels) and regression targets, string
  categoricals and missing values, whatever sample or data the project was adopted with.
- Small synthetic projects for the monitoring and evaluation tests (`make_project`, one per
  task, with string labels, categoricals and nulls; `log_predictions`, `write_candidate`,
  `fake_bundle`): the code under test reads everything from their `dataset:` spec.

`conftest.py` turns the expensive ones into fixtures (a project trained once per session).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sqlalchemy import create_engine, insert

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle, BundleConfig
from {{ cookiecutter.package_name }}.contracts.config import ModelConfig, load_model_config
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import split_features, train_test
from {{ cookiecutter.package_name }}.data.samples import sample_at
from {{ cookiecutter.package_name }}.pipeline import data as data_stage
from {{ cookiecutter.package_name }}.predlog.store import metadata, predictions
from {{ cookiecutter.package_name }}.settings import Settings, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIG = PROJECT_ROOT / "configs" / "model_config.yaml"
PACKAGE = "{{ cookiecutter.package_name }}"
# The file registry: a throwaway root's champion lives in its models/, not in an MLflow store.
FILE_REGISTRY_ENV = {f"{PACKAGE.upper()}_PIPELINE__REGISTRY_BACKEND": "file"}


def configured_spec() -> DatasetSpec:
    """The project's dataset spec (configs/model_config.yaml `dataset:`): tests follow it."""
    raw = yaml.safe_load(MODEL_CONFIG.read_text(encoding="utf-8"))
    return DatasetSpec.model_validate(raw["dataset"])


def copy_project(root: Path, **overrides: Any) -> Settings:
    """A throwaway project root with this project's configs and its configured dataset: the
    bundled sample written afresh, or your data copied (the test skips where it is absent)."""
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs", dirs_exist_ok=True)
    settings = load_settings(project_root=root, **overrides)
    spec = configured_spec()
    if sample_at(spec.path) is not None:
        data_stage(settings)
        return settings
    source = PROJECT_ROOT / spec.path
    if not source.is_file():
        pytest.skip(f"{spec.path} is not in this checkout; `dvc pull` it to run this test")
    (root / spec.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, root / spec.path)
    return settings


# ---- datasets of every task
TASKS = ("binary", "multiclass", "regression")
SHADES = ("dark", "light", "pale")


def _with_categoricals(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add a string column with gaps (`shade`), a boolean one and a few missing numbers."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    numeric = frame.columns[0]
    # The shade carries signal (it follows the first feature), so the encoding matters.
    ranks = frame[numeric].rank(pct=True).to_numpy()
    shade = np.array(SHADES, dtype=object)[np.minimum((ranks * 3).astype(int), 2)]
    shade[rng.random(len(frame)) < 0.1] = None
    frame.insert(1, "shade", shade)
    frame.insert(2, "flag", rng.random(len(frame)) < 0.5)
    frame.loc[rng.random(len(frame)) < 0.05, numeric] = np.nan
    return frame


def frame_of(task: str, *, categorical: bool = True) -> pd.DataFrame:
    """binary: breast cancer (0/1); multiclass: wine, labels class_0..2; regression: diabetes."""
    if task == "binary":
        frame = load_breast_cancer(as_frame=True).frame
    elif task == "multiclass":
        frame = load_wine(as_frame=True).frame
        frame["target"] = "class_" + frame["target"].astype(str)
    else:
        frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.columns = [str(name).strip().replace(" ", "_") for name in frame.columns]
    return _with_categoricals(frame, seed=len(frame)) if categorical else frame


def spec_of(frame: pd.DataFrame, task: str, **changes: object) -> DatasetSpec:
    features = {
        str(name): "categorical" if name in ("shade", "flag") else "numeric"
        for name in frame.columns
        if name != "target"
    }
    classes: list[object] = []
    if task != "regression":
        classes = sorted(frame["target"].unique().tolist())
    fields: dict[str, object] = {
        "name": f"test-{task}",
        "version": "1",
        "path": "data/raw/test.csv",
        "target": "target",
        "task": task,
        "classes": classes,
        "positive_class": classes[-1] if task == "binary" else None,
        "features": features,
    }
    return DatasetSpec.model_validate({**fields, **changes})


def config_of(spec: DatasetSpec, **hyperparameters: object) -> ModelConfig:
    """The project's model config with `spec` as its dataset."""
    config = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml")
    merged = {**config.hyperparameters, **hyperparameters}
    return config.model_copy(update={"dataset": spec, "hyperparameters": merged})


def split_of(
    frame: pd.DataFrame, spec: DatasetSpec, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """x_train, y_train, x_test, y_test."""
    train, test = train_test(frame, spec, seed)
    return (*split_features(train, spec), *split_features(test, spec))


# ---- synthetic projects
PLANS = ["basic", "pro", "team"]
FEATURES = {"age": "numeric", "income": "numeric", "plan": "categorical", "seats": "categorical"}
CLASSES: dict[str, list[Any]] = {"binary": ["no", "yes"], "multiclass": ["high", "low", "mid"]}
THRESHOLDS = {
    "binary": ({"roc_auc": 0.6, "log_loss": 0.9}, "roc_auc"),
    "multiclass": ({"f1_macro": 0.3, "log_loss": 1.5}, "f1_macro"),
    "regression": ({"rmse": 50.0, "r2": 0.0}, "rmse"),
}
# In the primary metric's units; fixed here so the rendered sample's own value never leaks in.
CHAMPION_TOLERANCE = {"binary": 0.01, "multiclass": 0.01, "regression": 1.0}


def make_frame(task: str, rows: int = 600, seed: int = 0, *, shift: bool = False) -> pd.DataFrame:
    """Features (nulls in `age` and `plan`) and the task's target."""
    rng = np.random.default_rng(seed)
    age = rng.normal(55.0 if shift else 40.0, 10.0, rows)
    age[rng.random(rows) < 0.05] = np.nan
    plan = rng.choice(PLANS, rows, p=[0.2, 0.3, 0.5] if shift else [0.6, 0.3, 0.1]).astype(object)
    plan[rng.random(rows) < 0.05] = None
    frame = pd.DataFrame(
        {
            "age": age,
            "income": rng.lognormal(10.0, 0.5, rows),
            "plan": plan,
            "seats": rng.choice([1, 2, 5], rows),  # an integer categorical
        }
    )
    signal = np.nan_to_num(age, nan=40.0) / 10.0 + rng.normal(0.0, 1.0, rows)
    if task == "regression":
        frame["target"] = np.round(signal * 20.0, 3)
    elif task == "binary":
        frame["target"] = np.where(signal > 4.0, "yes", "no")
    else:
        frame["target"] = np.select([signal < 3.5, signal < 4.5], ["low", "mid"], "high")
    return frame


def dataset_section(task: str) -> dict[str, Any]:
    section: dict[str, Any] = {
        "name": f"synthetic-{task}",
        "version": "1",
        "path": "data/raw/synthetic.csv",
        "target": "target",
        "task": task,
        "features": FEATURES,
    }
    if task != "regression":
        section["classes"] = CLASSES[task]
    if task == "binary":
        section["positive_class"] = "yes"
    return section


def make_project(root: Path, task: str, **settings: Any) -> Settings:
    """A project at `root` whose configured dataset is the synthetic one of `task`."""
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs", dirs_exist_ok=True)
    path = root / "configs/model_config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    thresholds, primary = THRESHOLDS[task]
    config["dataset"] = dataset_section(task)
    config["evaluation"] |= {
        "thresholds": thresholds,
        "primary_metric": primary,
        "champion_tolerance": CHAMPION_TOLERANCE[task],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    data = root / "data/raw/synthetic.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    make_frame(task).to_csv(data, index=False)
    return load_settings(project_root=root, **settings)


def log_predictions(
    settings: Settings,
    features: pd.DataFrame,
    predicted: list[Any],
    scores: list[float],
    labels: list[Any],
    *,
    role: str = "champion",
    version: str = "1",
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
) -> None:
    """Insert rows as the server logs them (contract: prediction / label are JSON text)."""
    db = settings.resolve(settings.serving.prediction_log)
    db.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{db}")
    metadata.create_all(engine)
    records = features.astype(object).where(features.notna(), None).to_dict(orient="records")
    rows = [
        {
            "request_id": f"{role}-{version}-{start.timestamp():.0f}-{index}",
            "created_at": start + timedelta(seconds=index),
            "model_version": version,
            "role": role,
            "features": json.dumps(record),
            "prediction": json.dumps(predicted[index]),
            "score": float(scores[index]),
            "label": None if labels[index] is None else json.dumps(labels[index]),
            "feedback_at": None if labels[index] is None else start + timedelta(seconds=index),
        }
        for index, record in enumerate(records)
    ]
    with engine.begin() as connection:
        connection.execute(insert(predictions), rows)
    engine.dispose()


class RuleModel:
    """A fixed rule on `age` in the model interface (contract: (n, k) probabilities in
    `classes` order, or (n, 1) values), so evaluation tests need no training framework."""

    framework = "rule"

    def __init__(self, task: str, *, noise: float = 0.0) -> None:
        self.task = task
        self.noise = noise  # > 0: a worse model (for champion comparisons)
        self.feature_names = list(FEATURES)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        signal = frame["age"].fillna(40.0).to_numpy(dtype=np.float64) / 10.0
        signal = signal + np.random.default_rng(0).normal(0.0, self.noise, len(signal))
        if self.task == "regression":
            return (signal * 20.0).reshape(-1, 1)
        if self.task == "binary":
            positive = 1.0 / (1.0 + np.exp(-(signal - 4.0) * 2.0))
            return np.column_stack([1.0 - positive, positive])
        centres = np.array([5.0, 3.0, 4.0])  # high, low, mid (the classes' order)
        logits = -((signal[:, None] - centres[None, :]) ** 2) * 2.0
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))


def write_candidate(settings: Settings, task: str) -> Path:
    """The held-out split and a candidate bundle's model_config.yaml as training writes them."""
    frame = make_frame(task, 300, seed=11)
    processed = settings.resolve(settings.pipeline.processed_dir)
    processed.mkdir(parents=True, exist_ok=True)
    frame.to_csv(processed / "test.csv", index=False)
    config = yaml.safe_load(settings.resolve(settings.pipeline.model_config_file).read_text())
    bundle = settings.resolve(settings.pipeline.candidate_dir)
    bundle.mkdir(parents=True, exist_ok=True)
    lineage = {
        "bundle_id": f"synthetic-{task}-1", "dataset_path": "data/raw/synthetic.csv",
        "dataset_sha256": "0" * 64, "dataset_rows": 1500, "train_rows": 1200, "test_rows": 300,
        "git_commit": None, "trained_at": "2025-01-01T00:00:00+00:00", "training_seconds": 1.0,
        "seed": 42, "library_versions": {"numpy": np.__version__},
    }  # fmt: skip
    content = config | {"lineage": lineage, "metrics": {}}
    (bundle / "model_config.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    return bundle


def fake_bundle(dataset: dict[str, Any], bundle_id: str) -> Bundle:
    """A registered bundle's contract (no files): what the gate reads of a champion."""
    raw = {"model_id": "champion-model", "dataset": dataset, "lineage": {"bundle_id": bundle_id}}
    return Bundle(Path(bundle_id), BundleConfig.model_validate(raw), raw)
