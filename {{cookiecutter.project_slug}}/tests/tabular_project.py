"""Small synthetic projects for the monitoring and evaluation tests, one per task.

Every frame has numeric features with nulls and categorical string features with nulls;
labels are strings for classification ("no"/"yes", "low"/"mid"/"high") and floats for
regression. `make_project` writes the dataset and a model config whose `dataset:` section
describes it, so the code under test reads everything from the spec, as in a real project.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import create_engine, insert

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle, BundleConfig
from {{ cookiecutter.package_name }}.predlog.store import metadata, predictions
from {{ cookiecutter.package_name }}.settings import Settings, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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
