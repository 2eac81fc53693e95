"""scikit-learn -> ONNX (skl2onnx), run by onnxruntime.

What gets smaller and faster, measured with `make bench` on the sample data (see README):
- Latency: onnxruntime answers a single row several times faster than scikit-learn, whose
  per-call input validation dominates a small pipeline; batch throughput improves too.
- Size: the ONNX file is about a third of the joblib pickle (raw float32 constants instead of
  pickled Python objects), but both are a few KiB: size is not what this buys.
- int8 quantization buys nothing here: skl2onnx emits only `ai.onnx.ml` ops (Imputer, Scaler,
  OneHotEncoder, LinearClassifier/LinearRegressor), while `onnxruntime.quantization.
  quantize_dynamic` quantizes MatMul/Gemm-style default-domain ops; on this graph it refuses
  to run ("Failed to find proper ai.onnx domain"). So no int8 variant is produced.

The graph is the whole Pipeline: the ColumnTransformer (Imputer, Scaler, OneHotEncoder) and
the linear model. All-numeric data keeps one float input `features` [n, n_features] (the
server's fast path feeds it one matrix); with categorical features every column is its own
input (float [n, 1] or string [n, 1]), which is how skl2onnx maps a ColumnTransformer over
mixed types. Missing categories arrive as the `preprocess.MISSING` string (set by
`RawInputs` before the graph).

`config.options`: `target_opset` (int, default 17) for the ONNX default domain. The parity
check runs the artifact through `runtime.onnx_predictor` on raw test features, the
predictor the server uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.contracts.config import OptimizationSpec
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.optimization.base import Variant, finish
from {{ cookiecutter.package_name }}.runtime import RAW_INPUT, VALUES, onnx_predictor
from {{ cookiecutter.package_name }}.training.base import TrainedModel

ARTIFACT = "model.onnx"
DEFAULT_OPSET = 17


def initial_types(spec: DatasetSpec) -> list[tuple[str, Any]]:
    """One float input `features` for all-numeric data, else one typed input per column."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if not spec.categorical_features:
        return [(RAW_INPUT, FloatTensorType([None, len(spec.feature_names)]))]
    return [
        (name, StringTensorType([None, 1]) if kind == "categorical" else FloatTensorType([None, 1]))
        for name, kind in spec.features.items()
    ]


def convert(model: TrainedModel, path: Path, opset: int) -> None:
    """Write the whole fitted pipeline (preprocessing included) as ONNX.

    Outputs: `probabilities` [n, k] for a classifier (no ZipMap), `values` [n, 1] for a
    regressor; `runtime.onnx_predictor` checks for the one the task needs.
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    pipeline: Any = getattr(model, "pipeline", None)
    if pipeline is None:
        raise UserError("ONNX export needs a scikit-learn model bundle; retrain with `make train`")
    spec = model.spec
    estimator = pipeline.steps[-1][1]
    if spec.is_classification:
        options: dict[int, Any] | None = {id(estimator): {"zipmap": False}}
        final_types = None
    else:
        options, final_types = None, [(VALUES, FloatTensorType([None, 1]))]
    onnx_model = to_onnx(
        pipeline,
        initial_types=initial_types(spec),
        options=options,
        final_types=final_types,
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
    predictor = onnx_predictor(artifact, model.spec, model.categories).predict_frame
    return finish(model, [Variant("onnx", artifact, predictor)], X_test, y_test, out_dir, config)
