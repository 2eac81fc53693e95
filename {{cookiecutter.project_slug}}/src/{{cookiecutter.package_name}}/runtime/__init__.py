"""One predictor per runtime, shared by the optimization parity check, the server and MLflow.

`optimization` measures parity on exactly the code that serves: `onnx_predictor`,
`tflite_predictor` and `native_predictor` build a `Predictor` that takes RAW features
(numbers, None/NaN where a value is missing, strings for categoricals) as a frame
(`predict_frame`) or as tuples in feature order (`predict_rows`, the server's hot path; for
all-numeric data that is one `np.asarray`), and returns float64 (n, k) class probabilities in
`spec.classes` order, or (n, 1) regression values.

Where the preprocessing runs: the scikit-learn ONNX graph contains it (one float input
`features` [n, n_features] when every feature is numeric, else one input per column named
after it: float [n, 1] or string [n, 1]); for PyTorch and Keras `training.preprocess.Encoder`
(read from the bundle's `native/preprocessing.json`) runs before the ONNX/TFLite network,
whose one input is the encoded float32 matrix. Either way a missing category is the
`MISSING` string before the model sees it, and an unknown one encodes as none of the known
ones; `Predictor.reject_unknown` enforces `unknown_category: reject` for callers that serve.

`load_bundle_predictor(bundle, prefer_optimized)` picks what a model bundle (`contracts.bundle`)
serves: the optimized artifact only when its recorded parity check passed, else (when
allowed) the native model. A truncated, empty or foreign artifact is a one-line `UserError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.contracts.bundle import NATIVE_DIR, Bundle
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data.derived import MISSING
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.training.preprocess import (
    Encoder,
    RawInputs,
    UnknownCategoryError,
)

OPTIMIZED_DIR = "optimized"
PARITY_FILE = "parity.json"
ONNX_FILE = f"{OPTIMIZED_DIR}/model.onnx"
TFLITE_FILE = f"{OPTIMIZED_DIR}/model.tflite"
PROBABILITIES = "probabilities"  # the ONNX output of a classifier, every exporter here
VALUES = "values"  # the ONNX output of a regressor
RAW_INPUT = "features"  # the one input of an all-numeric scikit-learn graph

Rows = Sequence[Sequence[Any]]
Run = Callable[[np.ndarray, np.ndarray], np.ndarray]


def output_name(spec: DatasetSpec) -> str:
    return PROBABILITIES if spec.is_classification else VALUES


def as_output(values: Any, spec: DatasetSpec) -> np.ndarray:
    """float64 (n, k) probabilities or (n, 1) values from a runtime's raw output."""
    width = len(spec.classes) if spec.is_classification else 1
    return np.asarray(values, dtype=np.float64).reshape(-1, width)


@dataclass(frozen=True)
class Predictor:
    """A loaded runtime: `run(numeric, categorical)` -> (n, k) probabilities or (n, 1) values.

    `numeric` is float64 (n, n_numeric) with NaN for missing values, `categorical` an object
    array (n, n_categorical) of category strings (`RawInputs` builds both).
    """

    runtime: str
    artifact: Path
    spec: DatasetSpec
    categories: dict[str, list[str]]
    run: Run
    inputs: RawInputs = field(init=False, repr=False)
    _known: list[frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", RawInputs.of(self.spec))
        names = self.spec.categorical_features
        known = [frozenset(self.categories.get(name, ())) for name in names]
        object.__setattr__(self, "_known", known)

    @property
    def feature_names(self) -> list[str]:
        return self.spec.feature_names

    def predict_frame(self, features: pd.DataFrame) -> np.ndarray:
        return self.run(*self.inputs.split_frame(features))

    def predict_rows(self, rows: Rows) -> np.ndarray:
        return self.run(*self.inputs.split_rows(rows))

    def unknown(self, rows: Rows) -> tuple[str, Any] | None:
        """The first (column, value) of a category training never saw, else None."""
        if not self._known:
            return None
        _, categorical = self.inputs.split_rows(rows)
        names = self.spec.categorical_features
        for index, known in enumerate(self._known):
            for row, text in enumerate(categorical[:, index]):
                if text != MISSING and text not in known:
                    position = self.feature_names.index(names[index])
                    return names[index], rows[row][position]
        return None

    def reject_unknown(self, rows: Rows) -> None:
        """Under `unknown_category: reject`, raise `UnknownCategoryError` for an unseen value."""
        if self.spec.unknown_category == "reject":
            found = self.unknown(rows)
            if found is not None:
                raise UnknownCategoryError(*found)


def _unusable(path: Path, kind: str, detail: str) -> UserError:
    reason = one_line(detail)
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


def _onnx_feeds(
    session: Any, spec: DatasetSpec, encoder: Encoder | None
) -> Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """How (numeric, categorical) become the graph's inputs (see the module docstring)."""
    names = [item.name for item in session.get_inputs()]
    if encoder is not None:  # PyTorch: the encoder runs before the network
        (name,) = names

        def encoded(numeric: np.ndarray, categorical: np.ndarray) -> dict[str, np.ndarray]:
            return {name: encoder.encode(numeric, categorical)}

        return encoded
    if names == [RAW_INPUT] and not spec.categorical_features:

        def matrix(numeric: np.ndarray, categorical: np.ndarray) -> dict[str, np.ndarray]:
            return {RAW_INPUT: numeric.astype(np.float32)}

        return matrix
    # One input per column, in feature order (skl2onnx keeps the order of `initial_types` and
    # may rename a column whose name is not a valid ONNX identifier).
    if len(names) != len(spec.feature_names):
        raise ValueError(f"{len(names)} inputs for {len(spec.feature_names)} features")
    kinds = [spec.features[name] for name in spec.feature_names]
    numeric_inputs = [n for n, kind in zip(names, kinds, strict=True) if kind == "numeric"]
    categorical_inputs = [n for n, kind in zip(names, kinds, strict=True) if kind != "numeric"]

    def per_column(numeric: np.ndarray, categorical: np.ndarray) -> dict[str, np.ndarray]:
        # Transposed once: every column is then a contiguous (n, 1) view, no copy per input.
        numbers = np.ascontiguousarray(numeric.T, dtype=np.float32)
        texts = np.ascontiguousarray(categorical.T)
        feeds = {n: numbers[i].reshape(-1, 1) for i, n in enumerate(numeric_inputs)}
        feeds.update({n: texts[i].reshape(-1, 1) for i, n in enumerate(categorical_inputs)})
        return feeds

    return per_column


def onnx_predictor(
    path: Path,
    spec: DatasetSpec,
    categories: dict[str, list[str]],
    encoder: Encoder | None = None,
    threads: int = 1,
) -> Predictor:
    """onnxruntime on CPU; output `probabilities` (classification) or `values` (regression)."""
    import onnxruntime as ort

    _check_file(path, "ONNX")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # small models: threads cost more than they give
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        wanted = [output_name(spec)]
        if wanted[0] not in [output.name for output in session.get_outputs()]:
            raise ValueError(f"no '{wanted[0]}' output")
        feeds = _onnx_feeds(session, spec, encoder)
    except Exception as error:  # onnxruntime raises its own pybind classes for bad files
        raise _unusable(path, "ONNX", str(error)) from None
    # Reused: with none, every run() builds a default RunOptions (~0.8 us of a ~7 us call).
    run_options = ort.RunOptions()

    def run(numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        return as_output(session.run(wanted, feeds(numeric, categorical), run_options)[0], spec)

    return Predictor("onnx", path, spec, categories, run)


def optimized_predictor(
    path: Path, spec: DatasetSpec, categories: dict[str, list[str]], native: Path
) -> Predictor:
    """The served ONNX artifact of a bundle whose native model lives in `native`."""
{%- if cookiecutter.ml_framework == "pytorch" %}
    return onnx_predictor(path, spec, categories, Encoder.load(native))
{%- else %}
    return onnx_predictor(path, spec, categories)
{%- endif %}
{%- else %}


OPTIMIZED_FILE = TFLITE_FILE


def tflite_predictor(
    path: Path,
    spec: DatasetSpec,
    categories: dict[str, list[str]],
    encoder: Encoder,
    threads: int = 1,
) -> Predictor:
    """The TFLite interpreter (one per predictor, behind a lock: it is not thread-safe).

    The encoder runs before the interpreter, whose one input is the encoded float32 matrix.
    """
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
        raise _unusable(path, "TFLite", str(error)) from None
    lock = threading.Lock()
    shape: list[tuple[int, ...]] = [()]

    def run(numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        matrix = encoder.encode(numeric, categorical)
        with lock:
            if matrix.shape != shape[0]:  # resizing re-plans the graph: only on a new shape
                interpreter.resize_tensor_input(input_index, list(matrix.shape))
                interpreter.allocate_tensors()
                shape[0] = matrix.shape
            interpreter.set_tensor(input_index, matrix)
            interpreter.invoke()
            return as_output(interpreter.get_tensor(output_index), spec)

    return Predictor("tflite", path, spec, categories, run)


def optimized_predictor(
    path: Path, spec: DatasetSpec, categories: dict[str, list[str]], native: Path
) -> Predictor:
    """The served TFLite artifact of a bundle whose native model lives in `native`."""
    return tflite_predictor(path, spec, categories, Encoder.load(native))
{%- endif %}


def native_predictor(bundle: Path) -> Predictor:
    """The framework's own model from `<bundle>/native/`."""
    # Imported here: the framework's stack (torch, tensorflow) loads only to serve natively.
    from {{ cookiecutter.package_name }}.training import load_model

    model = load_model(bundle)
    inputs = RawInputs.of(model.spec)

    def run(numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        return as_output(model.predict(inputs.prepared(numeric, categorical)), model.spec)

    return Predictor("native", bundle / NATIVE_DIR, model.spec, model.categories, run)


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


def load_bundle_predictor(bundle: Bundle, prefer_optimized: bool = True) -> Predictor:
    """What `bundle` serves: its optimized artifact (parity passed), else the native model."""
    artifact = bundle.path / OPTIMIZED_FILE
    if not prefer_optimized or not artifact.exists():
        predictor = native_predictor(bundle.path)
        if predictor.feature_names != bundle.spec.feature_names:
            raise UserError(
                f"{bundle.path}: the native model's features {predictor.feature_names[:5]} "
                f"differ from the bundle's {bundle.spec.feature_names[:5]}; re-run the pipeline"
            )
        return predictor
    failure = parity_failure(bundle.path)
    if failure is not None:
        raise UserError(
            f"refusing to serve {artifact}: {failure}; re-run `make optimize`, or set "
            "serving.prefer_optimized: false to serve the native model instead"
        )
    _check_file(artifact, artifact.suffix.lstrip(".").upper())
    # Only the exact file the parity check passed: a truncated or replaced artifact is refused
    # before a runtime parses it (the TFLite interpreter does not verify its input).
    if file_sha256(artifact) != _checked_digest(bundle.path, artifact):
        raise _unusable(artifact, artifact.suffix.lstrip(".").upper(),
                        "it is not the file its parity check passed")  # fmt: skip
    return optimized_predictor(artifact, bundle.spec, bundle.categories, bundle.native_dir)


__all__ = [
    "ONNX_FILE",
    "OPTIMIZED_DIR",
    "OPTIMIZED_FILE",
    "PARITY_FILE",
    "TFLITE_FILE",
    "Predictor",
    "Rows",
    "UnknownCategoryError",
    "as_output",
    "file_sha256",
    "load_bundle_predictor",
    "native_predictor",
    "optimized_predictor",
    "output_name",
    "parity_failure",
]
