"""TensorFlow: a Keras multi-layer perceptron for tabular classification and regression.

Preprocessing runs before the network: `training.preprocess` fits the shared
ColumnTransformer (impute, scale, one-hot) on the training split and `Encoder` applies its
arithmetic in NumPy; the Keras model (and every TFLite conversion of it) takes that float32
matrix. The output is `Dense(k, softmax)` for classification, or `Dense(1)` followed by a
`Rescaling` to the training target's mean and standard deviation for regression (so the
network learns a standardised target and still returns values in the target's units).
Training is seeded and
deterministic (`keras.utils.set_random_seed` + `enable_op_determinism`, oneDNN off unless
`TF_ENABLE_ONEDNN_OPTS` says otherwise), with a progress bar over epochs. `save()` writes
`model.keras` (Keras' own zip of architecture JSON + weights; loaded with `safe_mode`, no
pickle) next to `preprocessing.json` and the bundle's `meta.json`.
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

from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training.base import (
    output_width,
    read_native_meta,
    require_classifier,
    validate_hyperparameters,
    write_native_meta,
)
from {{ cookiecutter.package_name }}.training.preprocess import (
    Encoder,
    RawInputs,
    fit_encoder,
    known_categories,
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


def build_network(
    spec: DatasetSpec, n_inputs: int, params: KerasParams, seed: int, target: np.ndarray
) -> keras.Model:
    """[Dense -> Dropout]* -> Dense(k, softmax), or Dense(1) -> Rescaling(std, mean)."""
    regularizer = keras.regularizers.L2(params.l2) if params.l2 else None
    layers: list[keras.layers.Layer] = [keras.Input(shape=(n_inputs,), name="encoded")]
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
    initializer = keras.initializers.GlorotUniform(seed=seed + len(layers))
    if spec.is_classification:
        layers.append(
            keras.layers.Dense(
                output_width(spec), activation="softmax", kernel_initializer=initializer,
                name="probabilities",
            )
        )  # fmt: skip
    else:
        mean, scale = float(np.mean(target)), float(np.std(target)) or 1.0
        layers.append(keras.layers.Dense(1, kernel_initializer=initializer, name="standardized"))
        layers.append(keras.layers.Rescaling(scale, offset=mean, name="values"))
    return keras.Sequential(layers, name="tabular_mlp")


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
    """A trained Keras model and its preprocessing behind the `TrainedModel` protocol."""

    framework = FRAMEWORK

    def __init__(self, model: keras.Model, spec: DatasetSpec, encoder: Encoder) -> None:
        self.model = model
        self.spec = spec
        self.feature_names = spec.feature_names
        self.inputs = RawInputs.of(spec)
        self.encoder = encoder
        self.categories = known_categories(encoder)

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """The network's float32 input (the preprocessing runs here, before the network)."""
        return self.encoder.encode(*self.inputs.split_frame(features))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        # A direct call: `Model.predict` adds ~30 ms of set-up per call, wrong for single rows.
        outputs = self.model(self.encode(features), training=False).numpy()
        return np.asarray(outputs, dtype=np.float64)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        require_classifier(self.spec)
        return self.predict(features)

    def save(self, directory: Path) -> None:
        write_native_meta(directory, FRAMEWORK, self.spec)
        self.encoder.save(directory)
        self.model.save(directory / MODEL_FILE)


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
    *,
    progress: bool = True,
) -> KerasModel:
    """Fit the preprocessor, then the network with Adam (cross-entropy or MSE); deterministic."""
    params = parse_params(config.hyperparameters)
    spec = config.dataset
    if len(X_train) == 0:
        raise UserError("the training split is empty; provide more rows of data")
    encoder, inputs = fit_encoder(spec, X_train)
    dtype = np.int64 if spec.is_classification else np.float32
    targets = np.asarray(y_train).astype(dtype)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_network(spec, inputs.shape[1], params, seed, targets)
    loss = "sparse_categorical_crossentropy" if spec.is_classification else "mse"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=params.learning_rate), loss=loss)
    model.fit(
        inputs,
        targets,
        epochs=params.epochs,
        batch_size=params.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[_EpochBar(params.epochs, progress)],
    )
    return KerasModel(model, spec, encoder)


def load(directory: Path) -> KerasModel:
    """Load `model.keras` (safe mode: no arbitrary code), the encoder and the spec."""
    spec = read_native_meta(directory, FRAMEWORK)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{directory} has no {MODEL_FILE}; retrain it with `make train`")
    encoder = Encoder.load(directory)
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(
            f"{path} holds a corrupt or incompatible Keras model ({type(error).__name__}); "
            "retrain it with `make train`"
        ) from None
    return KerasModel(model, spec, encoder)
