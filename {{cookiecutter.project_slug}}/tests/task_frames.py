"""Small datasets of every task, built in code, and the specs and configs that describe them.

They do not depend on the project's configured dataset, so the model tests cover binary,
multiclass (string labels) and regression targets, string categoricals and missing values
whatever sample or data the project was rendered or adopted with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from {{ cookiecutter.package_name }}.contracts.config import ModelConfig, load_model_config
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import split_features, train_test

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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
