"""Load a model bundle for serving: the optimized artifact when present, else the native model.

Bundle layout (shared with the pipeline): `model_config.yaml` (features, lineage, metrics),
`native/` (loaded by `training.load_model`), `optimized/model.onnx` or `optimized/model.tflite`.
The model is loaded once and warmed up before the server reports ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.serving.schema import Feature, features_from_config

CONFIG_FILE = "model_config.yaml"
ONNX_FILE = "optimized/model.onnx"
TFLITE_FILE = "optimized/model.tflite"

Rows = Sequence[tuple[Any, ...]]
PredictRows = Callable[[Rows], np.ndarray]


@dataclass
class LoadedModel:
    """A model ready to serve: `predict(rows)` -> (n, 2) class probabilities."""

    version: str
    features: list[Feature]
    runtime: str
    bundle: Path | None
    predict: PredictRows
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def warm_up(self, repeats: int = 20) -> None:
        """Run the model a few times so the first request pays no lazy initialisation."""
        example = self.info.get("input_example")
        if isinstance(example, dict) and set(example) == set(self.feature_names):
            row = tuple(example[name] for name in self.feature_names)
        else:
            row = tuple(0.0 if feature.numeric else "" for feature in self.features)
        for size in (1, 8) * max(1, repeats // 2):
            proba = self.predict([row] * size)
            if proba.shape != (size, 2) or not np.all(np.isfinite(proba)):
                raise UserError(
                    f"model {self.version} returned {proba.shape} probabilities on warm-up; "
                    "expected (n, 2) finite values: re-run the pipeline"
                )


def model_version(config: dict[str, Any], bundle: Path) -> str:
    """The `model_version` label: a recorded version, else the registry's bundle name."""
    raw = config.get("lineage")
    lineage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for value in (
        config.get("version"),
        config.get("model_version"),
        lineage.get("version"),
        lineage.get("model_version"),
    ):
        if value not in (None, ""):
            return str(value)
    # The registry names bundles `<model_id>-v<N>`; other directories fall back to the
    # training run's bundle id.
    model_id = str(config.get("model_id") or "")
    if model_id and bundle.name.startswith(model_id):
        return bundle.name
    return str(lineage.get("bundle_id") or bundle.name)


def _onnx_predictor(path: Path, features: list[Feature]) -> PredictRows:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # small models: threads cost more than they give
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    # skl2onnx classifiers output (label, probabilities); take the 2-column float output.
    proba_name = next((o.name for o in outputs if "prob" in o.name.lower()), outputs[-1].name)
    names = [feature.name for feature in features]

    if len(inputs) == 1:
        input_name = inputs[0].name
        is_double = "double" in inputs[0].type
        dtype = np.float64 if is_double else np.float32

        def predict_matrix(rows: Rows) -> np.ndarray:
            matrix = np.asarray(rows, dtype=dtype)
            return _as_proba(session.run([proba_name], {input_name: matrix})[0])

        return predict_matrix

    by_name = {i.name: i for i in inputs}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise UserError(f"{path} has no input for feature {missing[0]!r}; re-run `make optimize`")

    def predict_columns(rows: Rows) -> np.ndarray:
        columns = list(zip(*rows, strict=True))
        feed = {}
        for index, name in enumerate(names):
            kind = by_name[name].type
            dtype: Any = (
                np.str_ if "string" in kind else np.int64 if "int64" in kind
                else np.float64 if "double" in kind else np.float32
            )  # fmt: skip
            feed[name] = np.asarray(columns[index], dtype=dtype).reshape(-1, 1)
        return _as_proba(session.run([proba_name], feed)[0])

    return predict_columns


def _as_proba(output: Any) -> np.ndarray:
    if isinstance(output, list):  # ZipMap: [{0: p0, 1: p1}, ...]
        return np.asarray([[row[0], row[1]] for row in output], dtype=np.float64)
    return np.asarray(output, dtype=np.float64)


def _tflite_predictor(path: Path) -> PredictRows:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
    lock = threading.Lock()  # an interpreter is not thread-safe

    def predict(rows: Rows) -> np.ndarray:
        matrix = np.asarray(rows, dtype=np.float32)
        with lock:
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, matrix.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(index, matrix)
            interpreter.invoke()
            out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        out = np.asarray(out, dtype=np.float64)
        if out.ndim == 1 or out.shape[1] == 1:  # a single sigmoid output: P(class 1)
            positive = out.reshape(-1)
            return np.column_stack([1.0 - positive, positive])
        return out

    return predict


def _native_predictor(bundle: Path, features: list[Feature]) -> PredictRows:
    import pandas as pd

    from {{ cookiecutter.package_name }}.training import load_model

    model = load_model(bundle)
    names = [feature.name for feature in features]
    if list(model.feature_names) != names:
        raise UserError(
            f"{bundle}: native model features {model.feature_names} differ from "
            f"{CONFIG_FILE} features {names}; re-run the pipeline"
        )

    def predict(rows: Rows) -> np.ndarray:
        return np.asarray(model.predict_proba(pd.DataFrame.from_records(rows, columns=names)))

    return predict


def load_bundle(bundle: Path, prefer_optimized: bool = True) -> LoadedModel:
    """Load `bundle` (a `models/<bundle>/` directory); `UserError` when it is unusable."""
    config_path = bundle / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(
            f"{config_path} not found; run `make pipeline` or point serving at a bundle"
        )
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        features = features_from_config(config)
    except (yaml.YAMLError, ValueError, KeyError) as error:
        raise UserError(f"{config_path}: {error}") from None
    runtime = "native"
    if prefer_optimized and (bundle / ONNX_FILE).is_file():
        runtime, predict = "onnx", _onnx_predictor(bundle / ONNX_FILE, features)
    elif prefer_optimized and (bundle / TFLITE_FILE).is_file():
        runtime, predict = "tflite", _tflite_predictor(bundle / TFLITE_FILE)
    else:
        predict = _native_predictor(bundle, features)
    info = {
        key: config[key]
        for key in ("model_id", "lineage", "metrics", "dataset", "input_example")
        if key in config
    }
    return LoadedModel(model_version(config, bundle), features, runtime, bundle, predict, info)
