"""One predictor per runtime, shared by the optimization parity check, the server and MLflow.

`optimization` measures parity on exactly the code that serves: `onnx_predictor`,
`tflite_predictor` and `native_predictor` build a `Predictor` whose `run(matrix)` maps a
(n, n_features) matrix in training-column order to (n, 2) float64 class probabilities.
`load_bundle_predictor(bundle, prefer_optimized)` picks what a model directory serves:
the optimized artifact only when its recorded parity check passed, else (when allowed)
the native model. A truncated, empty or foreign artifact is a one-line `UserError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.errors import UserError

OPTIMIZED_DIR = "optimized"
PARITY_FILE = "parity.json"
ONNX_FILE = f"{OPTIMIZED_DIR}/model.onnx"
TFLITE_FILE = f"{OPTIMIZED_DIR}/model.tflite"
PROBABILITIES = "probabilities"  # the ONNX output every exporter here names

Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Predictor:
    """A loaded runtime: `run(matrix)` -> (n, 2) probabilities; `dtype` is the matrix type."""

    runtime: str
    artifact: Path
    feature_names: list[str]
    dtype: type[np.floating[Any]]
    run: Run

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The model's input matrix: the training columns, in training order."""
        names = self.feature_names
        if features.columns.tolist() != names:
            missing = [name for name in names if name not in features.columns]
            if missing:
                raise UserError(
                    f"input lacks the model's feature(s) {', '.join(missing[:5])}; "
                    "send every feature the model was trained on"
                )
            features = features[names]
        try:
            return np.asarray(features.to_numpy(dtype=self.dtype))
        except (TypeError, ValueError):
            raise UserError("input features must all be numeric for the model") from None

    def predict_frame(self, features: pd.DataFrame) -> np.ndarray:
        return self.run(self.matrix(features))

    def predict_rows(self, rows: Sequence[tuple[Any, ...]]) -> np.ndarray:
        return self.run(np.asarray(rows, dtype=self.dtype))


def two_columns(output: Any) -> np.ndarray:
    """(n, 2) float64 [1 - p, p] from a softmax (n, 2) or a sigmoid (n,) / (n, 1) output."""
    values = np.asarray(output, dtype=np.float64)
    positive = values[:, 1] if values.ndim == 2 and values.shape[1] == 2 else values.reshape(-1)
    proba = np.empty((len(positive), 2), dtype=np.float64)
    proba[:, 1] = positive
    proba[:, 0] = 1.0 - positive
    return proba


def _unusable(path: Path, kind: str, detail: str) -> UserError:
    reason = " ".join(detail.split())[:160]
    return UserError(
        f"{path} is not a usable {kind} model ({reason}); re-run `make optimize` "
        "(or `make pipeline`) to write it again"
    )


def _check_file(path: Path, kind: str) -> None:
    if not path.is_file():
        raise _unusable(path, kind, "file missing")
    if path.stat().st_size == 0:
        raise _unusable(path, kind, "empty file")
{%- if cookiecutter.ml_framework in ["scikit-learn", "pytorch"] %}


OPTIMIZED_FILE = ONNX_FILE


def onnx_predictor(path: Path, feature_names: list[str], threads: int = 1) -> Predictor:
    """onnxruntime on CPU: input `features` [n, n_features], output `probabilities`."""
    import onnxruntime as ort

    _check_file(path, "ONNX")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # small models: threads cost more than they give
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own pybind classes for bad files
        raise _unusable(path, "ONNX", str(error).splitlines()[0] if str(error) else "") from None
    inputs, outputs = session.get_inputs(), [output.name for output in session.get_outputs()]
    if len(inputs) != 1 or PROBABILITIES not in outputs:
        raise _unusable(path, "ONNX", f"expected one input and a '{PROBABILITIES}' output")
    input_name = inputs[0].name
    dtype: type[np.floating[Any]] = np.float64 if "double" in inputs[0].type else np.float32
    wanted = [PROBABILITIES]
    # Reused: with none, every run() builds a default RunOptions (~0.8 us of a ~7 us call).
    run_options = ort.RunOptions()

    def run(matrix: np.ndarray) -> np.ndarray:
        return two_columns(session.run(wanted, {input_name: matrix}, run_options)[0])

    return Predictor("onnx", path, feature_names, dtype, run)


optimized_predictor = onnx_predictor
{%- else %}


OPTIMIZED_FILE = TFLITE_FILE


def tflite_predictor(path: Path, feature_names: list[str], threads: int = 1) -> Predictor:
    """The TFLite interpreter (one per predictor, behind a lock: it is not thread-safe)."""
    import threading
    import warnings

    import tensorflow as tf

    _check_file(path, "TFLite")
    try:
        with warnings.catch_warnings():
            # tf.lite.Interpreter still ships with (and is tested on) the pinned TensorFlow;
            # its successor, ai-edge-litert, would be one more heavy dependency.
            warnings.filterwarnings("ignore", message=".*Interpreter is deprecated.*")
            interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]
    except (ValueError, RuntimeError, IndexError) as error:
        raise _unusable(path, "TFLite", str(error).splitlines()[0] if str(error) else "") from None
    lock = threading.Lock()
    shape: list[tuple[int, ...]] = [()]

    def run(matrix: np.ndarray) -> np.ndarray:
        with lock:
            if matrix.shape != shape[0]:  # resizing re-plans the graph: only on a new shape
                interpreter.resize_tensor_input(input_index, list(matrix.shape))
                interpreter.allocate_tensors()
                shape[0] = matrix.shape
            interpreter.set_tensor(input_index, matrix)
            interpreter.invoke()
            return two_columns(interpreter.get_tensor(output_index))

    return Predictor("tflite", path, feature_names, np.float32, run)


optimized_predictor = tflite_predictor
{%- endif %}


def native_predictor(bundle: Path) -> Predictor:
    """The framework's own model from `<bundle>/native/`."""
    from {{ cookiecutter.package_name }}.training import NATIVE_DIR, load_model

    model = load_model(bundle)
    names = list(model.feature_names)

    def run(matrix: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(matrix, columns=names)
        return np.asarray(model.predict_proba(frame), dtype=np.float64)

    return Predictor("native", bundle / NATIVE_DIR, names, np.float64, run)


def file_sha256(path: Path) -> str:
    """sha256 of a file (a directory artifact: of nothing, "")."""
    if not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checked_digest(bundle: Path, artifact: Path) -> str | None:
    try:
        report = json.loads((bundle / OPTIMIZED_DIR / PARITY_FILE).read_text(encoding="utf-8"))
        return next(
            str(check.get("sha256"))
            for check in report["variants"].values()
            if check.get("artifact") == artifact.name
        )
    except (OSError, json.JSONDecodeError, KeyError, AttributeError, StopIteration):
        return None


def parity_failure(bundle: Path) -> str | None:
    """Why the bundle's optimized artifact may not be served (None: its parity check passed)."""
    path = bundle / OPTIMIZED_DIR / PARITY_FILE
    if not path.is_file():
        return f"{path} is missing (the artifact was never checked)"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        failures = [
            f"{name}: {', '.join(check.get('failures', [])) or 'failed'}"
            for name, check in report["variants"].items()
            if not check.get("passed")
        ]
    except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
        return f"{path} is not a parity report"
    if failures or not report.get("passed"):
        return f"it failed its parity check ({'; '.join(failures) or 'see ' + str(path)})"
    return None


def load_bundle_predictor(
    bundle: Path, feature_names: list[str], prefer_optimized: bool = True
) -> Predictor:
    """What `bundle` serves: its optimized artifact (parity passed), else the native model."""
    artifact = bundle / OPTIMIZED_FILE
    if not prefer_optimized or not artifact.exists():
        return native_predictor(bundle)
    failure = parity_failure(bundle)
    if failure is not None:
        raise UserError(
            f"refusing to serve {artifact}: {failure}; re-run `make optimize`, or set "
            "serving.prefer_optimized: false to serve the native model instead"
        )
    _check_file(artifact, artifact.suffix.lstrip(".").upper())
    # Only the exact file the parity check passed: a truncated or replaced artifact is refused
    # before a runtime parses it (the TFLite interpreter does not verify its input).
    if file_sha256(artifact) != _checked_digest(bundle, artifact):
        raise _unusable(artifact, artifact.suffix.lstrip(".").upper(),
                        "it is not the file its parity check passed")  # fmt: skip
    return optimized_predictor(artifact, feature_names)


__all__ = [
    "ONNX_FILE",
    "OPTIMIZED_DIR",
    "OPTIMIZED_FILE",
    "PARITY_FILE",
    "TFLITE_FILE",
    "Predictor",
    "file_sha256",
    "load_bundle_predictor",
    "native_predictor",
    "optimized_predictor",
    "parity_failure",
    "two_columns",
]
