"""PyTorch: ONNX export run by onnxruntime, and dynamic int8 quantization.

Two artifacts land in the bundle's `optimized/` folder:

* `model.onnx` (primary, what serving loads): the network and its softmax (classification)
  or target rescaling (regression), exported with a dynamic batch axis and run by
  onnxruntime (no PyTorch dispatcher, so much faster for single rows). Its one input
  `encoded` is the preprocessed float32 matrix: the fitted preprocessing
  (`training.preprocess.Encoder`, `native/preprocessing.json`) runs before it in
  `runtime.onnx_predictor`, on raw features, and the parity check covers that whole path.
  With `onnx_float16` (default) the weights are stored as float16, each behind a
  `Cast` to float32 that onnxruntime constant-folds when the session is created: the file
  is about half the size and the arithmetic at run time is still float32 (probabilities
  move by ~1e-3; the parity gate checks it).
* `model_int8.pt`: `torch.ao.quantization.quantize_dynamic` on the `nn.Linear` layers (int8
  weights; activations quantized on the fly with one scale per batch), saved as a
  `state_dict` and reloaded into a freshly quantized copy of the architecture. The input
  layer stays float32 by default: it sees the standardised features, whose heavy tails
  make a per-batch int8 scale coarse enough to flip borderline predictions; the wider
  hidden layers hold most of the weights, so the file still shrinks to ~40%.

Both go through the same parity gate and benchmark (`optimization.base.finish`).
`config.options`: `onnx_opset` (int, default 18), `onnx_float16` (bool, default true: float16
weights in `model.onnx`), `int8` (bool, default true: write `model_int8.pt`),
`int8_input_layer` (bool, default false: quantize the input layer too).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import torch
from onnx import TensorProto, helper, numpy_helper
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

from {{ cookiecutter.package_name }}.contracts.config import OptimizationSpec
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError, first_problem
from {{ cookiecutter.package_name }}.optimization.base import Variant, finish
from {{ cookiecutter.package_name }}.runtime import onnx_predictor, output_name
from {{ cookiecutter.package_name }}.training.base import TrainedModel
from {{ cookiecutter.package_name }}.training.torch_model import (
    TabularMLP,
    TorchModel,
    build_network,
)

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.pt"
INPUT_NAME = "encoded"


class TorchOptions(BaseModel):
    """`optimization.options` for PyTorch in configs/model_config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onnx_opset: int = Field(default=18, ge=13, le=23)
    onnx_float16: bool = True
    int8: bool = True
    int8_input_layer: bool = False


@contextmanager
def _known_deprecations() -> Iterator[None]:
    """Silence the deprecation notices of the APIs this module uses on purpose.

    `torch.ao.quantization` (eager dynamic quantization) and the TorchScript-based ONNX
    exporter are deprecated upstream in favour of torchao and the dynamo exporter; both
    still work on the pinned torch range and need no extra dependency.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*deprecated.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*TypedStorage.*", category=UserWarning)
        yield


def _options(raw: dict[str, Any]) -> TorchOptions:
    try:
        return TorchOptions.model_validate(raw)
    except ValidationError as error:
        raise UserError(
            f"configs/model_config.yaml: invalid optimization option {first_problem(error)} "
            f"(PyTorch accepts {', '.join(TorchOptions.model_fields)})"
        ) from None


def store_float16(path: Path) -> None:
    """Rewrite `path` with float16 weight tensors, each behind a Cast back to float32.

    onnxruntime folds the casts into float32 initializers when it builds the session, so
    only the file shrinks. Tensors that do not fit float16's range stay float32.
    """
    model = onnx.load(str(path))
    graph = model.graph
    kept: list[onnx.TensorProto] = []
    casts: list[onnx.NodeProto] = []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        limit = float(np.finfo(np.float16).max)
        if values.dtype != np.float32 or values.size < 2 or np.abs(values).max() >= limit:
            kept.append(tensor)
            continue
        half = f"{tensor.name}_f16"
        kept.append(numpy_helper.from_array(values.astype(np.float16), half))
        casts.append(helper.make_node("Cast", [half], [tensor.name], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(
    network: TabularMLP,
    spec: DatasetSpec,
    n_inputs: int,
    path: Path,
    opset: int,
    *,
    float16: bool = True,
) -> None:
    """Export `network` (encoded matrix in, probabilities or values out), dynamic batch axis."""
    example = torch.zeros(1, n_inputs, dtype=torch.float32)
    output = output_name(spec)
    with _known_deprecations():
        torch.onnx.export(
            copy.deepcopy(network).eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[output],
            dynamic_axes={INPUT_NAME: {0: "batch"}, output: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    if float16:
        store_float16(path)


def _quantized_copy(network: nn.Module, input_layer: bool) -> nn.Module:
    """Dynamic int8 on the `nn.Linear` layers (all, or all but the first)."""
    linears = [name for name, module in network.named_modules() if isinstance(module, nn.Linear)]
    chosen = linears if input_layer else linears[1:]
    with _known_deprecations():
        quantized: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
            network, dict.fromkeys(chosen, default_dynamic_qconfig), dtype=torch.qint8
        )
    return quantized


def save_int8(model: TorchModel, path: Path, input_layer: bool) -> None:
    quantized = _quantized_copy(model.network.eval(), input_layer)
    with _known_deprecations():
        torch.save(quantized.state_dict(), path)


def load_int8(model: TorchModel, path: Path, input_layer: bool) -> nn.Module:
    """A quantized network rebuilt from the architecture and the saved int8 `state_dict`."""
    network = build_network(model.spec, model.encoder.width, model.params).eval()
    fresh = _quantized_copy(network, input_layer)
    with _known_deprecations():
        fresh.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return fresh.eval()


def int8_predictor(network: nn.Module, model: TorchModel) -> Callable[[pd.DataFrame], np.ndarray]:
    """Raw features -> the same encoder as the native model -> the int8 network."""

    def predict(features: pd.DataFrame) -> np.ndarray:
        with torch.inference_mode():
            outputs = network(torch.from_numpy(model.encode(features))).numpy()
        return np.asarray(outputs, dtype=np.float64)

    return predict


def optimize(
    model: TrainedModel,
    X_test: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_test: np.ndarray,
    out_dir: Path,
    config: OptimizationSpec,
) -> dict[str, Any]:
    """Write `model.onnx` (+ `model_int8.pt`), check parity, benchmark, write the reports."""
    if not isinstance(model, TorchModel):
        raise UserError(f"the PyTorch optimizer got a {model.framework} model; retrain it")
    options = _options(config.options)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / ONNX_FILE
    export_onnx(
        model.network,
        model.spec,
        model.encoder.width,
        onnx_path,
        options.onnx_opset,
        float16=options.onnx_float16,
    )
    served = onnx_predictor(onnx_path, model.spec, model.categories, model.encoder)
    variants = [Variant.served("onnx", onnx_path, served)]
    if options.int8:
        int8_path = out_dir / INT8_FILE
        save_int8(model, int8_path, options.int8_input_layer)
        network = load_int8(model, int8_path, options.int8_input_layer)
        variants.append(Variant("dynamic_int8", int8_path, int8_predictor(network, model)))
    return finish(model, variants, X_test, y_test, out_dir, config)
