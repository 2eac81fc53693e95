"""Every model bundle is an MLflow model directory, whichever registry holds it.

`write_mlflow_model(bundle, ...)` (called by the registry) writes `MLmodel` next to
`model_config.yaml`, `native/` and (after `make optimize`) `optimized/`, plus the input
example and the environment files, so the directory the registry stores is the directory
both MLflow (`mlflow models serve -m models:/<name>@champion --env-manager local`,
`mlflow.pyfunc.load_model`, `mlflow.pyfunc.spark_udf`) and this project's server load.

Flavors: `python_function` with this module as its loader (it serves what our server serves:
the optimized artifact whose parity check passed, else the native model), and for
scikit-learn also MLflow's native `sklearn` flavor (`native/model.pkl`, a plain pickle).
PyTorch and Keras get no native MLflow flavor: MLflow's `pytorch` flavor pickles the whole
module (loading runs arbitrary code and ties the file to this package's class layout) and its
`keras` flavor wants its own `data/` layout; `native/` keeps the framework's safe formats
(a `state_dict` with `weights_only` loading, a `.keras` file in safe mode) instead.

`predict` takes raw features (numbers with NaN/None where missing, strings for categorical
columns: `string` in the signature, or `boolean`/`long` when the input example holds one)
and returns a DataFrame per task: binary
`probability` (P(positive_class)) and `prediction` (the label, its own type); multiclass
`probability` (P(predicted class)), `prediction` and one `probability_<label>` column per
class; regression `prediction` (the value). `spark_udf` takes the first column by default:
the probability, or the regression value. Under `unknown_category: reject` an unseen
category is a `UserError` naming the column and value.

The file is written by hand (the MLmodel format is plain YAML) so projects without MLflow
(`experiment_tracking: none`) get the same layout; the template's tests load it with MLflow.
"""

from __future__ import annotations

import json
import platform
import uuid
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from {{ cookiecutter.package_name }}.contracts.bundle import Bundle, read_bundle
from {{ cookiecutter.package_name }}.contracts.decode import decode
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import feature_frame
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.runtime import load_bundle_predictor

MLMODEL_FILE = "MLmodel"
INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
PROBABILITY, PREDICTION = "probability", "prediction"  # spark_udf's default: the first column
REQUIREMENTS = (
    "numpy",
    "pandas",
    "pyyaml",
    "scikit-learn",
    "onnxruntime",
    "torch",
    "tensorflow-cpu",
    "keras",
)


def _installed(names: tuple[str, ...]) -> list[str]:
    pinned = []
    for name in names:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pinned


def _label_type(spec: DatasetSpec) -> str:
    kinds = {type(label) for label in spec.classes}
    if kinds == {bool}:
        return "boolean"
    return "long" if kinds == {int} else "string"


def output_columns(spec: DatasetSpec) -> list[dict[str, Any]]:
    """The pyfunc output schema of the task (see the module docstring)."""
    if not spec.is_classification:
        return [{"type": "double", "name": PREDICTION, "required": True}]
    columns = [
        {"type": "double", "name": PROBABILITY, "required": True},
        {"type": _label_type(spec), "name": PREDICTION, "required": True},
    ]
    if spec.task == "multiclass":
        columns += [
            {"type": "double", "name": f"{PROBABILITY}_{label}", "required": True}
            for label in spec.classes
        ]
    return columns


def _input_type(kind: str, example: Any) -> str:
    """A column's signature type: numeric is double, a date is text; a categorical one
    follows its example value (booleans stay bool, integers long, else string)."""
    if kind == "numeric":
        return "double"
    if kind == "date":
        return "string"
    if isinstance(example, bool):
        return "boolean"
    return "long" if isinstance(example, int) else "string"


def _signature(spec: DatasetSpec, example: dict[str, Any]) -> dict[str, str | None]:
    kinds = {**spec.features, **dict.fromkeys(spec.dates, "date")}
    inputs = [
        {"type": _input_type(kinds[name], example.get(name)), "name": name, "required": True}
        for name in spec.input_columns
    ]
    outputs = output_columns(spec)
    return {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None}


def write_mlflow_model(model: Bundle, framework: str, project: str) -> None:
    """Write `MLmodel`, the input example and the environment files into the bundle."""
    bundle, spec, example = model.path, model.spec, model.config.input_example
    columns = spec.input_columns
    missing = [name for name in columns if name not in example]
    if missing:
        raise UserError(
            f"{bundle}: input_example lacks {', '.join(missing[:5])}; retrain with `make train`"
        )
    split = {"columns": columns, "data": [[example[name] for name in columns]]}
    (bundle / INPUT_EXAMPLE_FILE).write_text(json.dumps(split) + "\n", encoding="utf-8")
    serving = {"dataframe_split": split}
    (bundle / SERVING_INPUT_FILE).write_text(json.dumps(serving) + "\n", encoding="utf-8")
    requirements = [*_installed(REQUIREMENTS), project]
    (bundle / REQUIREMENTS_FILE).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    python_env = {
        "python": platform.python_version(),
        "build_dependencies": ["pip"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (bundle / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env), encoding="utf-8")
    flavors: dict[str, Any] = {
        "python_function": {
            "loader_module": __name__,
            "python_version": platform.python_version(),
            "env": {"virtualenv": PYTHON_ENV_FILE},
        }
    }
    if framework == "scikit-learn":
        flavors["sklearn"] = {
            "pickled_model": "native/model.pkl",
            "serialization_format": "pickle",
            "sklearn_version": version("scikit-learn"),
            "code": None,
        }
    mlmodel = {
        "flavors": flavors,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": _signature(spec, example),
        "saved_input_example_info": {
            "artifact_path": INPUT_EXAMPLE_FILE,
            "type": "dataframe",
            "pandas_orient": "split",
            "serving_input_path": SERVING_INPUT_FILE,
        },
    }
    (bundle / MLMODEL_FILE).write_text(yaml.safe_dump(mlmodel, sort_keys=False), encoding="utf-8")


class BundleModel:
    """What `mlflow.pyfunc.load_model` returns the `predict` of (columns: module docstring)."""

    def __init__(self, bundle: Path) -> None:
        model = read_bundle(bundle)
        self.spec = model.spec
        self.predictor = load_bundle_predictor(model)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        frame = feature_frame(frame, self.spec) if self.spec.derived else frame
        frame = self.predictor.inputs.ordered(frame)
        if self.spec.unknown_category == "reject":
            self.predictor.reject_unknown(list(frame.itertuples(index=False, name=None)))
        output = self.predictor.predict_frame(frame)
        spec = self.spec
        decision = decode(spec, output)
        if decision.indices is None:
            return pd.DataFrame({PREDICTION: decision.scores})
        labels = pd.Series(decision.labels, dtype=object)
        result = pd.DataFrame({PROBABILITY: decision.scores, PREDICTION: labels})
        if spec.task == "multiclass":
            for index, label in enumerate(spec.classes):
                result[f"{PROBABILITY}_{label}"] = output[:, index]
        kind = _label_type(spec)
        if kind != "string":  # the signature's type, not pandas' object column
            result[PREDICTION] = result[PREDICTION].astype(bool if kind == "boolean" else np.int64)
        return result


def _load_pyfunc(path: str) -> BundleModel:
    """MLflow's entry point for the `python_function` flavor (path: the model directory)."""
    return BundleModel(Path(path))
