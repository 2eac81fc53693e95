"""scikit-learn -> ONNX (skl2onnx), run by onnxruntime.

What gets smaller and faster, measured with `make bench` on the sample data (see README):
- Latency: onnxruntime answers a single row several times faster than scikit-learn, whose
  per-call input validation dominates a small pipeline; batch throughput improves too.
- Size: the ONNX file is about a third of the joblib pickle (raw float32 constants instead of
  pickled Python objects), but both are a few KiB: size is not what this buys.
- int8 quantization buys nothing here: skl2onnx emits only `ai.onnx.ml` ops (Imputer, Scaler,
  LinearClassifier), while `onnxruntime.quantization.quantize_dynamic` quantizes MatMul/Gemm-
  style default-domain ops; on this graph it refuses to run ("Failed to find proper ai.onnx
  domain"). So no int8 variant is produced.

`config.options`: `target_opset` (int, default 17) for the ONNX default domain. The parity
check runs the artifact through `runtime.onnx_predictor`, the predictor the server uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.optimization.base import Variant, finish
from {{ cookiecutter.package_name }}.runtime import onnx_predictor
from {{ cookiecutter.package_name }}.training.base import OptimizationSpec, TrainedModel

ARTIFACT = "model.onnx"
INPUT_NAME = "features"
DEFAULT_OPSET = 17


def convert(model: TrainedModel, path: Path, opset: int) -> None:
    """Write the fitted pipeline as ONNX: float32 input `features` [n, n_features]."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    pipeline: Any = getattr(model, "pipeline", None)
    if pipeline is None:
        raise UserError("ONNX export needs a scikit-learn model bundle; retrain with `make train`")
    onnx_model = to_onnx(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(model.feature_names)]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset={"": opset, "ai.onnx.ml": 3},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model.SerializeToString())


def optimize(
    model: TrainedModel,
    X_test: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_test: np.ndarray,
    out_dir: Path,
    config: OptimizationSpec,
) -> dict[str, Any]:
    """Export to ONNX, check parity on the test split, benchmark against scikit-learn."""
    opset = int(config.options.get("target_opset", DEFAULT_OPSET))
    artifact = out_dir / ARTIFACT
    convert(model, artifact, opset)
    predictor = onnx_predictor(artifact, model.feature_names).predict_frame
    return finish(model, [Variant("onnx", artifact, predictor)], X_test, y_test, out_dir, config)
