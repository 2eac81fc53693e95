"""TensorFlow: a Keras multi-layer perceptron for tabular binary classification.

The model starts with a `Normalization` layer adapted on the training split, so the saved
model, and every TFLite conversion of it, take raw features. Training is seeded and
deterministic (`keras.utils.set_random_seed` + `enable_op_determinism`, oneDNN off unless
`TF_ENABLE_ONEDNN_OPTS` says otherwise), with a progress bar over epochs. `save()` writes
`model.keras` (Keras' own zip of architecture JSON + weights; loaded with `safe_mode`, no
pickle) next to the bundle's `meta.json`.
"""

from __future__ import annotations

import os

# Before TensorFlow is imported: deterministic kernels and quiet C++ logs (users may override).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training.base import (
    ModelConfig,
    read_native_meta,
    validate_hyperparameters,
    write_native_meta,
)

FRAMEWORK = "tensorflow"
MODEL_FILE = "model.keras"


class KerasParams(BaseModel):
    """Hyper-parameters of the network (`hyperparameters:` in configs/model_config.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_units: list[int] = Field(default=[64, 32], min_length=1)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    epochs: int = Field(default=30, ge=1, le=10_000)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    l2: float = Field(default=1e-4, ge=0.0)


def parse_params(raw: dict[str, Any]) -> KerasParams:
    """Validate `config.hyperparameters` (one-line `UserError` naming the bad key)."""
    params = validate_hyperparameters(KerasParams, raw)
    if any(units < 1 for units in params.hidden_units):
        raise UserError(
            "configs/model_config.yaml: invalid hyperparameter 'hidden_units': "
            "every layer needs at least 1 unit"
        )
    return params


def as_array(features: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """The model's input matrix: the training columns, in training order, as float32."""
    if features.columns.tolist() != feature_names:  # fast path: already in training order
        missing = [name for name in feature_names if name not in features.columns]
        if missing:
            raise UserError(
                f"input lacks the model's feature(s) {', '.join(missing[:5])}; "
                "send every feature the model was trained on"
            )
        features = features[feature_names]
    try:
        return np.asarray(features.to_numpy(dtype=np.float32, copy=True))
    except (TypeError, ValueError):
        raise UserError(
            "input features must all be numeric for the model; "
            "encode categorical columns before training"
        ) from None


def build_network(inputs: np.ndarray, params: KerasParams, seed: int) -> keras.Model:
    """Normalization (adapted on `inputs`) -> [Dense -> Dropout]* -> Dense(2, softmax)."""
    normalize = keras.layers.Normalization(axis=-1, name="standardize")
    normalize.adapt(inputs)
    regularizer = keras.regularizers.L2(params.l2) if params.l2 else None
    layers: list[keras.layers.Layer] = [keras.Input(shape=(inputs.shape[1],), name="features")]
    layers.append(normalize)
    for index, units in enumerate(params.hidden_units):
        layers.append(
            keras.layers.Dense(
                units,
                activation="relu",
                kernel_regularizer=regularizer,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + index),
                name=f"dense_{index}",
            )
        )
        if params.dropout:
            layers.append(keras.layers.Dropout(params.dropout, seed=seed + index))
    layers.append(
        keras.layers.Dense(
            2,
            activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(layers)),
            name="probabilities",
        )
    )
    return keras.Sequential(layers, name="tabular_mlp")


def as_proba(outputs: np.ndarray) -> np.ndarray:
    """(n, 2) float64 class probabilities from a float32 softmax: [1 - p, p], rows sum to 1."""
    proba = np.empty((len(outputs), 2), dtype=np.float64)
    proba[:, 1] = outputs[:, 1]
    proba[:, 0] = 1.0 - proba[:, 1]
    return proba


class _EpochBar(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
    """A tqdm bar over epochs showing the training loss."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs, desc="train tensorflow", unit="epoch", disable=not enabled)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None:
            self.bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.bar.close()


class KerasModel:
    """A trained Keras model behind the `TrainedModel` protocol."""

    framework = FRAMEWORK

    def __init__(self, model: keras.Model, feature_names: list[str]) -> None:
        self.model = model
        self.feature_names = list(feature_names)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        inputs = as_array(features, self.feature_names)
        # A direct call: `Model.predict` adds ~30 ms of set-up per call, wrong for single rows.
        outputs = self.model(inputs, training=False).numpy()
        return as_proba(outputs)

    def save(self, directory: Path) -> None:
        write_native_meta(directory, FRAMEWORK, self.feature_names)
        self.model.save(directory / MODEL_FILE)


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
    *,
    progress: bool = True,
) -> KerasModel:
    """Fit with Adam on sparse cross-entropy; deterministic for a given seed."""
    params = parse_params(config.hyperparameters)
    feature_names = [str(name) for name in X_train.columns]
    inputs = as_array(X_train, feature_names)
    targets = np.asarray(y_train).astype(np.int64)
    if len(inputs) == 0:
        raise UserError("the training split is empty; provide more rows of data")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_network(inputs, params, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=params.learning_rate),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(
        inputs,
        targets,
        epochs=params.epochs,
        batch_size=params.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[_EpochBar(params.epochs, progress)],
    )
    return KerasModel(model, feature_names)


def load(directory: Path) -> KerasModel:
    """Load `model.keras` (safe mode: no arbitrary code) and the feature names."""
    feature_names = read_native_meta(directory, FRAMEWORK)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{directory} has no {MODEL_FILE}; retrain it with `make train`")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(
            f"{path} holds a corrupt or incompatible Keras model ({type(error).__name__}); "
            "retrain it with `make train`"
        ) from None
    return KerasModel(model, feature_names)
