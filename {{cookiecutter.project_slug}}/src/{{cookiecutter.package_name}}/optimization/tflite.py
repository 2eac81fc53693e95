"""TensorFlow: TFLite float16 and dynamic-range int8, both run by the TFLite interpreter.

Two artifacts land in the bundle's `optimized/` folder:

* `model.tflite` (primary, what serving loads): float16 weights
  (`optimizations=[Optimize.DEFAULT]`, `supported_types=[tf.float16]`), half the size;
  the interpreter de-quantizes them to float32 on load, so accuracy is practically unchanged.
* `model_int8.tflite`: dynamic-range quantization (`optimizations=[Optimize.DEFAULT]` alone):
  int8 weights, activations quantized on the fly by hybrid kernels; about a quarter of the size.

Both take the encoded float32 matrix: the fitted preprocessing (`training.preprocess.Encoder`,
`native/preprocessing.json`) runs before the interpreter in `runtime.tflite_predictor`, on raw
features, and the parity check covers that whole path. Both go through the same parity gate
and benchmark (`optimization.base.finish`).
`config.options` accepts `int8` (bool, default true) and `num_threads` (interpreter threads,
default 1).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from {{ cookiecutter.package_name }}.contracts.config import OptimizationSpec
from {{ cookiecutter.package_name }}.errors import UserError, first_problem
from {{ cookiecutter.package_name }}.optimization.base import Variant, finish
from {{ cookiecutter.package_name }}.runtime import tflite_predictor
from {{ cookiecutter.package_name }}.training.base import TrainedModel
from {{ cookiecutter.package_name }}.training.keras_model import KerasModel

FLOAT16_FILE = "model.tflite"
INT8_FILE = "model_int8.tflite"


class TFLiteOptions(BaseModel):
    """`optimization.options` for TensorFlow in configs/model_config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    int8: bool = True
    num_threads: int = Field(default=1, ge=1, le=64)


def _options(raw: dict[str, Any]) -> TFLiteOptions:
    try:
        return TFLiteOptions.model_validate(raw)
    except ValidationError as error:
        raise UserError(
            f"configs/model_config.yaml: invalid optimization option {first_problem(error)} "
            f"(TensorFlow accepts {', '.join(TFLiteOptions.model_fields)})"
        ) from None


def convert(model: KerasModel, *, float16: bool) -> bytes:
    """TFLite flatbuffer: float16 weights, or dynamic-range int8 when `float16` is false."""
    with tempfile.TemporaryDirectory() as scratch:
        saved_model = Path(scratch) / "saved_model"
        model.model.export(str(saved_model), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if float16:
            converter.target_spec.supported_types = [tf.float16]
        return bytes(converter.convert())


def optimize(
    model: TrainedModel,
    X_test: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_test: np.ndarray,
    out_dir: Path,
    config: OptimizationSpec,
) -> dict[str, Any]:
    """Write `model.tflite` (+ `model_int8.tflite`), check parity, benchmark, write reports."""
    if not isinstance(model, KerasModel):
        raise UserError(f"the TensorFlow optimizer got a {model.framework} model; retrain it")
    options = _options(config.options)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = (model.spec, model.categories, model.encoder, options.num_threads)
    float16_path = out_dir / FLOAT16_FILE
    float16_path.write_bytes(convert(model, float16=True))
    served = tflite_predictor(float16_path, *inputs)  # what serving runs
    variants = [Variant.served("tflite_float16", float16_path, served)]
    if options.int8:
        int8_path = out_dir / INT8_FILE
        int8_path.write_bytes(convert(model, float16=False))
        int8 = tflite_predictor(int8_path, *inputs)
        variants.append(Variant.served("tflite_dynamic_int8", int8_path, int8))
    return finish(model, variants, X_test, y_test, out_dir, config)
