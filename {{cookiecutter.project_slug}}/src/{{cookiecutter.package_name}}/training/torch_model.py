"""PyTorch: a multi-layer perceptron for tabular classification (binary, multiclass), regression.

Preprocessing runs before the network: `training.preprocess` fits the shared
ColumnTransformer (impute, scale, one-hot) on the training split and `Encoder` applies its
arithmetic in NumPy; the network (and its ONNX and int8 exports) takes that float32 matrix.
`native/preprocessing.json` holds the fitted encoder. Training is seeded and deterministic
on CPU (GPU is used when present), with a progress bar over epochs. `save()` writes
`model.pt` (a `state_dict`, loaded back with `weights_only=True`, never a pickled module),
`network.json` (architecture and hyper-parameters), `preprocessing.json` and the shared
`meta.json` (framework + dataset spec).
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
    """[Linear -> ReLU -> Dropout]* -> Linear(k) on the encoded matrix.

    `forward` gives softmax probabilities (classification) or the value (regression: the
    last layer predicts the standardised target; `target_mean`/`target_scale` undo that, in
    the graph, so every export returns values in the target's units).
    """

    target_mean: torch.Tensor
    target_scale: torch.Tensor

    def __init__(
        self,
        n_inputs: int,
        hidden_units: list[int],
        dropout: float,
        n_outputs: int,
        regression: bool,
    ) -> None:
        super().__init__()
        self.regression = regression
        self.register_buffer("target_mean", torch.zeros(1))
        self.register_buffer("target_scale", torch.ones(1))
        layers: list[nn.Module] = []
        width = n_inputs
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)  # type: ignore[no-any-return]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        raw = self.logits(features)
        if self.regression:
            return raw * self.target_scale + self.target_mean
        return torch.softmax(raw, dim=1)


def seed_everything(seed: int) -> None:
    """Seed every generator torch training touches and ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False  # no-op on CPU; on GPU, no autotuned kernels


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchModel:
    """A trained `TabularMLP` and its preprocessing behind the `TrainedModel` protocol."""

    framework = FRAMEWORK

    def __init__(
        self, network: TabularMLP, spec: DatasetSpec, encoder: Encoder, params: TorchParams
    ) -> None:
        torch.set_num_threads(params.num_threads)
        self.network = network.cpu().eval()
        self.spec = spec
        self.feature_names = spec.feature_names
        self.inputs = RawInputs.of(spec)
        self.encoder = encoder
        self.categories = known_categories(encoder)
        self.params = params

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """The network's float32 input (the preprocessing runs here, before the network)."""
        return self.encoder.encode(*self.inputs.split_frame(features))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        with torch.inference_mode():
            outputs = self.network(torch.from_numpy(self.encode(features))).numpy()
        return np.asarray(outputs, dtype=np.float64)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        require_classifier(self.spec)
        return self.predict(features)

    def save(self, directory: Path) -> None:
        write_native_meta(directory, FRAMEWORK, self.spec)
        self.encoder.save(directory)
        torch.save(self.network.state_dict(), directory / WEIGHTS_FILE)
        spec = {"torch_version": torch.__version__, "params": self.params.model_dump()}
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")


def build_network(spec: DatasetSpec, n_inputs: int, params: TorchParams) -> TabularMLP:
    regression = not spec.is_classification
    return TabularMLP(n_inputs, params.hidden_units, params.dropout, output_width(spec), regression)


def _targets(spec: DatasetSpec, y_train: np.ndarray, network: TabularMLP) -> torch.Tensor:
    """Class indices, or the standardised target (its mean and scale go into the network)."""
    if spec.is_classification:
        return torch.from_numpy(np.asarray(y_train).astype(np.int64))
    values = np.asarray(y_train, dtype=np.float64)
    mean, scale = float(values.mean()), float(values.std()) or 1.0
    network.target_mean.fill_(mean)
    network.target_scale.fill_(scale)
    return torch.from_numpy(((values - mean) / scale).astype(np.float32)).reshape(-1, 1)


def train(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
    *,
    progress: bool = True,
) -> TorchModel:
    """Fit the preprocessor, then the MLP with Adam (cross-entropy or MSE); deterministic."""
    params = parse_params(config.hyperparameters)
    spec = config.dataset
    if len(X_train) == 0:
        raise UserError("the training split is empty; provide more rows of data")
    encoder, inputs = fit_encoder(spec, X_train)
    seed_everything(seed)
    device = _device()
    network = build_network(spec, inputs.shape[1], params)
    y = _targets(spec, y_train, network).to(device)
    network.to(device)
    x = torch.from_numpy(inputs).to(device)
    optimizer = torch.optim.Adam(
        network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    loss_fn: nn.Module = nn.CrossEntropyLoss() if spec.is_classification else nn.MSELoss()
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
    return TorchModel(network, spec, encoder, params)


def load(directory: Path) -> TorchModel:
    """Rebuild the network from `network.json` and load `model.pt` (weights only)."""
    spec = read_native_meta(directory, FRAMEWORK)
    spec_path, weights_path = directory / SPEC_FILE, directory / WEIGHTS_FILE
    if not spec_path.is_file() or not weights_path.is_file():
        raise UserError(
            f"{directory} has no PyTorch model ({SPEC_FILE} + {WEIGHTS_FILE}); "
            "retrain it with `make train`"
        )
    encoder = Encoder.load(directory)
    try:
        saved = json.loads(spec_path.read_text(encoding="utf-8"))
        params = TorchParams.model_validate(saved["params"])
        network = build_network(spec, encoder.width, params)
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
    return TorchModel(network, spec, encoder, params)
