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
the model of the configured family (`training.families`): LinearClassifier/LinearRegressor,
or a TreeEnsemble for HistGradientBoosting (skl2onnx), LightGBM and XGBoost (onnxmltools'
converters, registered with skl2onnx here). A log1p target transform becomes Clip, Exp - 1 on
the output.
skl2onnx 1.20 writes HistGradientBoosting leaves with a Python `False` into an integer
attribute, which protobuf 7 refuses ("Expected an int, got a boolean"): pyproject.toml holds
protobuf below 7 until a fixed skl2onnx is released.

All-numeric data keeps one float input `features` [n, n_features] (the server's fast path
feeds it one matrix); with categorical features every column is its own input (float [n, 1]
or string [n, 1]), which is how skl2onnx maps a ColumnTransformer over mixed types. Missing
categories arrive as the `preprocess.MISSING` string (set by `RawInputs` before the graph).

`config.options`: `target_opset` (int, default 17) for the ONNX default domain. The parity
check runs the artifact through `runtime.onnx_predictor` on raw test features, the
predictor the server uses.
"""

from __future__ import annotations

import warnings
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


def _register(
    classifier: Any, regressor: Any, prefix: str, converter: Any, regressor_options: Any = None
) -> None:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        classifier,
        f"{prefix}{classifier.__name__}",
        calculate_linear_classifier_output_shapes,
        converter,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        regressor,
        f"{prefix}{regressor.__name__}",
        calculate_linear_regressor_output_shapes,
        converter,
        options=regressor_options,
    )


def register_boosters() -> None:
    """Teach skl2onnx the LightGBM and XGBoost estimators (onnxmltools' converters); those
    not installed are skipped."""
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        split = {"split": None}  # LightGBM's converter may split its trees into several ops
        _register(LGBMClassifier, LGBMRegressor, "LightGbm", convert_lightgbm, split)
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        return
    _register(XGBClassifier, XGBRegressor, "XGBoost", convert_xgboost)


def with_expm1(onnx_model: Any, raw: str, low: float, high: float) -> Any:
    """`onnx_model` whose regression output `raw` becomes `VALUES` = exp(clip(raw)) - 1."""
    from onnx import TensorProto, helper

    graph = onnx_model.graph
    for name, value in (("expm1_low", low), ("expm1_high", high), ("expm1_one", 1.0)):
        graph.initializer.append(helper.make_tensor(name, TensorProto.FLOAT, [], [value]))
    graph.node.extend(
        [
            helper.make_node("Clip", [raw, "expm1_low", "expm1_high"], ["expm1_in"], name="clip"),
            helper.make_node("Exp", ["expm1_in"], ["expm1_exp"], name="expm1_exp"),
            helper.make_node("Sub", ["expm1_exp", "expm1_one"], [VALUES], name="expm1_sub"),
        ]
    )
    (output,) = graph.output
    output.name = VALUES
    return onnx_model


def convert(model: TrainedModel, path: Path, opset: int) -> None:
    """Write the whole fitted pipeline (preprocessing included) as ONNX.

    Outputs: `probabilities` [n, k] for a classifier (no ZipMap), `values` [n, 1] for a
    regressor; `runtime.onnx_predictor` checks for the one the task needs.
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    pipeline: Any = getattr(model, "pipeline", None)
    if pipeline is None:
        raise UserError("ONNX export needs a scikit-learn model bundle; retrain with `make train`")
    register_boosters()
    spec = model.spec
    estimator = pipeline.steps[-1][1]
    log_target = isinstance(estimator, TransformedTargetRegressor)
    if log_target:  # the fitted inner regressor; clip + expm1 is appended to the graph below
        bounds = estimator.inverse_func.keywords
        estimator = estimator.regressor_
        pipeline = Pipeline([*pipeline.steps[:-1], ("model", estimator)])
    output = "log1p_values" if log_target else VALUES
    if spec.is_classification:
        options: dict[int, Any] | None = {id(estimator): {"zipmap": False}}
        final_types = None
    else:
        options, final_types = None, [(output, FloatTensorType([None, 1]))]
    with warnings.catch_warnings():  # protobuf 6 warns about the bool (module docstring)
        warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints", DeprecationWarning)
        onnx_model = to_onnx(
            pipeline,
            initial_types=initial_types(spec),
            options=options,
            final_types=final_types,
            target_opset={"": opset, "ai.onnx.ml": 3},
        )
    if log_target:
        onnx_model = with_expm1(onnx_model, output, bounds["low"], bounds["high"])
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
    served = onnx_predictor(artifact, model.spec, model.categories)
    variants = [Variant.served("onnx", artifact, served)]
    return finish(model, variants, X_test, y_test, out_dir, config)
