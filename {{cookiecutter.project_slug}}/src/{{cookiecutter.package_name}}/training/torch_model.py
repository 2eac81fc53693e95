"""PyTorch: a multi-layer perceptron for tabular binary classification.

The network carries its own standardisation (feature means and scales are buffers of the
module), so the saved model, its int8 quantization and its ONNX export all take raw
features. Training is seeded and deterministic on CPU (GPU is used when present), with a
progress bar over epochs. `save()` writes `model.pt` (a `state_dict`, loaded back with
`weights_only=True`, never a pickled module), `network.json` (architecture and
hyper-parameters) and the shared `meta.json` (framework + feature names).
"""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm.auto import tqdm

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training.base import (
    ModelConfig,
    read_native_meta,
    validate_hyperparameters,
    write_native_meta,
)

FRAMEWORK = "pytorch"
WEIGHTS_FILE = "model.pt"
SPEC_FILE = "network.json"


class TorchParams(BaseModel):
    """Hyper-parameters of the MLP (`hyperparameters:` in configs/model_config.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_units: list[int] = Field(default=[32, 128, 64], min_length=1)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    epochs: int = Field(default=20, ge=1, le=10_000)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=1e-2, ge=0.0)
    # PyTorch's CPU thread pool (process-wide) for training and prediction. A small MLP gains
    # nothing from more threads; on a busy host they only wait on each other (batch throughput
    # fell ~50x with 2 threads on a loaded 2-core machine), and a fixed count keeps the
    # floating-point reductions, so the trained weights, identical across machines.
    num_threads: int = Field(default=1, ge=1, le=256)


def parse_params(raw: Mapping[str, Any]) -> TorchParams:
    """Validate `config.hyperparameters` (one-line `UserError` naming the bad key)."""
    params = validate_hyperparameters(TorchParams, dict(raw))
    if any(units < 1 for units in params.hidden_units):
        raise UserError(
            "configs/model_config.yaml: invalid hyperparameter 'hidden_units': "
            "every layer needs at least 1 unit"
        )
    return params


class TabularMLP(nn.Module):
    """Standardise -> [Linear -> ReLU -> Dropout]* -> Linear(2); `forward` gives probabilities."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int, hidden_units: list[int], dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        layers: list[nn.Module] = []
        width = n_features
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, 2))
        self.layers = nn.Sequential(*layers)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features - self.mean) / self.scale)  # type: ignore[no-any-return]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(features), dim=1)


def seed_everything(seed: int) -> None:
    """Seed every generator torch training touches and ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False  # no-op on CPU; on GPU, no autotuned kernels


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_array(features: pd.DataFrame, feature_names: list[str] | pd.Index) -> np.ndarray:
    """The model's input matrix: the training columns, in training order, as float32.

    Pass the names as a `pd.Index` built once (as `TorchModel` does) on hot paths:
    `Index.equals` costs about half of `columns.tolist() != names` for one row, a
    fixed overhead every single-row prediction pays.
    """
    expected = feature_names if isinstance(feature_names, pd.Index) else pd.Index(feature_names)
    if not features.columns.equals(expected):  # fast path: already in training order
        missing = [name for name in feature_names if name not in features.columns]
        if missing:
            raise UserError(
                f"input lacks the model's feature(s) {', '.join(missing[:5])}; "
                "send every feature the model was trained on"
            )
        features = features[list(expected)]
    try:
        return np.asarray(features.to_numpy(dtype=np.float32, copy=True))
    except (TypeError, ValueError):
        raise UserError(
            "input features must all be numeric for the model; "
            "encode categorical columns before training"
        ) from None


def as_proba(outputs: np.ndarray) -> np.ndarray:
    """(n, 2) float64 class probabilities from a float32 softmax: [1 - p, p], rows sum to 1."""
    proba = np.asarray(outputs).astype(np.float64)  # always a fresh (n, 2) array
    np.subtract(1.0, proba[:, 1], out=proba[:, 0])
    return proba


class TorchModel:
    """A trained `TabularMLP` behind the `TrainedModel` protocol."""

    framework = FRAMEWORK

    def __init__(self, network: TabularMLP, feature_names: list[str], params: TorchParams) -> None:
        torch.set_num_threads(params.num_threads)
        self.network = network.cpu().eval()
        self.feature_names = list(feature_names)
        self.columns = pd.Index(self.feature_names)
        self.params = params

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        inputs = torch.from_numpy(as_array(features, self.columns))
        with torch.inference_mode():
            return as_proba(self.network(inputs).numpy())

    def save(self, directory: Path) -> None:
        write_native_meta(directory, FRAMEWORK, self.feature_names)
        torch.save(self.network.state_dict(), directory / WEIGHTS_FILE)
        spec = {"torch_version": torch.__version__, "params": self.params.model_dump()}
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")


def build_network(n_features: int, params: TorchParams) -> TabularMLP:
    return TabularMLP(n_features, params.hidden_units, params.dropout)


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
    *,
    progress: bool = True,
) -> TorchModel:
    """Fit the MLP with Adam on cross-entropy; deterministic for a given seed."""
    params = parse_params(config.hyperparameters)
    feature_names = [str(name) for name in X_train.columns]
    inputs = as_array(X_train, feature_names)
    targets = np.asarray(y_train).astype(np.int64)
    if len(inputs) == 0:
        raise UserError("the training split is empty; provide more rows of data")
    seed_everything(seed)
    device = _device()
    network = build_network(len(feature_names), params)
    mean = inputs.mean(axis=0)
    scale = inputs.std(axis=0)
    network.mean.copy_(torch.from_numpy(mean))
    network.scale.copy_(torch.from_numpy(np.where(scale > 0, scale, 1.0).astype(np.float32)))
    network.to(device)
    x = torch.from_numpy(inputs).to(device)
    y = torch.from_numpy(targets).to(device)
    optimizer = torch.optim.Adam(
        network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    bar = tqdm(range(params.epochs), desc="train pytorch", unit="epoch", disable=not progress)
    torch.set_num_threads(params.num_threads)
    for _ in bar:
        network.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), params.batch_size):
            batch = order[start : start + params.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(network.logits(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        bar.set_postfix(loss=f"{total / len(x):.4f}", refresh=False)
    return TorchModel(network, feature_names, params)


def load(directory: Path) -> TorchModel:
    """Rebuild the network from `network.json` and load `model.pt` (weights only)."""
    feature_names = read_native_meta(directory, FRAMEWORK)
    spec_path, weights_path = directory / SPEC_FILE, directory / WEIGHTS_FILE
    if not spec_path.is_file() or not weights_path.is_file():
        raise UserError(
            f"{directory} has no PyTorch model ({SPEC_FILE} + {WEIGHTS_FILE}); "
            "retrain it with `make train`"
        )
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        params = TorchParams.model_validate(spec["params"])
        network = build_network(len(feature_names), params)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except (
        KeyError,
        TypeError,
        ValueError,
        RuntimeError,
        EOFError,
        pickle.UnpicklingError,
    ) as error:
        raise UserError(
            f"{directory} holds a corrupt or incompatible PyTorch model ({type(error).__name__}); "
            "retrain it with `make train`"
        ) from None
    return TorchModel(network, feature_names, params)
