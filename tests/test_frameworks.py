"""Bake tests for the deep-learning frameworks: PyTorch and TensorFlow.

Each renders the template with `ml_framework` set, installs the project into a cached
virtualenv (`<cache>/venvs/<framework>-<hash of the generated dependencies>`, reused between
runs, rebuilt when the dependencies change), runs the generated `make pipeline`, checks the
artifacts (native model, optimized models, parity and benchmark reports), then runs the
generated `make lint test`; MLflow's own tools (pyfunc, spark_udf, `mlflow models serve`) load the
registered version. `make install` installs the project's uv.lock: for PyTorch it takes torch
from the CPU index, here the machine's local CPU wheel (conftest.lock_project); any other
source would download the CUDA build.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, lock_project, render, require_tool, run_checked
from tests.mlflow_tools import check_mlflow_tools

VENVS = VENV_CACHE
PYTHON = "3.11"  # the local CPU torch wheel is built for CPython 3.11

# The primary optimized artifact (what serving loads) and the variants the reports list.
EXPECTED: dict[str, dict[str, Any]] = {
    "pytorch": {
        "native": {"meta.json", "model.pt", "network.json"},
        "primary": "model.onnx",
        "variants": ["onnx", "dynamic_int8"],
        "artifacts": {"model.onnx", "model_int8.pt"},
    },
    "tensorflow": {
        "native": {"meta.json", "model.keras"},
        "primary": "model.tflite",
        "variants": ["tflite_float16", "tflite_dynamic_int8"],
        "artifacts": {"model.tflite", "model_int8.tflite"},
    },
}

ANSWERS = {"experiment_tracking": "none", "data_versioning": "none", "python_version": PYTHON}


def _python() -> str:
    return require_tool(f"python{PYTHON}", "the local CPU torch wheel needs CPython " + PYTHON)


def venv_key(framework: str, project: Path) -> str:
    """Hash of everything that decides the venv's contents."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    payload = {
        "python": PYTHON,
        "dependencies": sorted(meta["dependencies"]),
        "optional": {key: sorted(value) for key, value in meta["optional-dependencies"].items()},
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return f"{framework}-{digest[:12]}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_venv(framework: str, project: Path) -> Path:
    """The venv of the project's dependency set, `make install`ed from its uv.lock (one at a
    time: a sync makes the venv exactly the lock)."""
    venv = VENVS / venv_key(framework, project)
    lock_project(project)
    with _locked(VENVS / f".{venv.name}.lock"):
        install = ["make", f"VENV={venv}", f"PYTHON={_python()}", "install"]
        run_checked(install, cwd=project, env=bake_env(venv))
    return venv


def bake_env(venv: Path) -> dict[str, str]:
    env = {**os.environ, "CI": os.environ.get("CI", ""), "PYTHONHASHSEED": "0"}
    env["PATH"] = os.pathsep.join(
        [str(venv / "bin"), str(Path(sys.executable).parent), env["PATH"]]
    )
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_framework_bake(framework: str, tmp_path: Path) -> None:
    require_tool("make", "apt-get install make")
    project = render(tmp_path, ml_framework=framework, **ANSWERS)
    venv = cached_venv(framework, project)
    env = bake_env(venv)
    make = ["make", f"VENV={venv}"]
    run_checked([*make, "install"], cwd=project, env=env)
    run_checked([*make, "pipeline"], cwd=project, env=env)

    expected = EXPECTED[framework]
    bundles = [path.parent for path in (project / "models").rglob("native") if path.is_dir()]
    assert bundles, "make pipeline wrote no model bundle"
    bundle = bundles[0]
    assert expected["native"] <= {path.name for path in (bundle / "native").iterdir()}
    optimized = bundle / "optimized"
    assert expected["artifacts"] <= {path.name for path in optimized.iterdir()}
    for name in expected["artifacts"]:
        assert (optimized / name).stat().st_size > 0

    parity = json.loads((optimized / "parity.json").read_text(encoding="utf-8"))
    assert parity["framework"] == framework
    assert parity["passed"] is True
    assert list(parity["variants"]) == expected["variants"]
    for check in parity["variants"].values():
        assert abs(check["accuracy_delta"]) <= parity["tolerances"]["max_accuracy_delta"]
        assert check["max_probability_diff"] <= parity["tolerances"]["max_probability_diff"]

    benchmark = json.loads((optimized / "benchmark.json").read_text(encoding="utf-8"))
    rows = {row["variant"]: row for row in benchmark["rows"]}
    assert list(rows) == ["native", *expected["variants"]]
    assert benchmark["primary"] == expected["variants"][0]
    for row in rows.values():
        assert row["size_bytes"] > 0
        assert 0 < row["single_row_p50_ms"] <= row["single_row_p99_ms"]
        assert row["batch_rows_per_s"] > 0
    # The int8 variant really is smaller than the native float32 model.
    assert rows[expected["variants"][1]]["size_bytes"] < rows["native"]["size_bytes"]

    config = yaml.safe_load((bundle / "model_config.yaml").read_text(encoding="utf-8"))
    assert config["environment"]["framework"] == framework

    # The registered version is an MLflow model (pyfunc only: no native MLflow flavor here)
    # whose loader serves the optimized artifact through the predictor the parity check used.
    registered = project / "models" / "churn-model-v1"
    mlmodel = yaml.safe_load((registered / "MLmodel").read_text(encoding="utf-8"))
    assert set(mlmodel["flavors"]) == {"python_function"}
    score = (
        "import json, sys, pandas as pd\n"
        "from churn_model.runtime.mlflow_model import _load_pyfunc\n"
        "example = json.load(open(sys.argv[1] + '/input_example.json'))\n"
        "frame = pd.DataFrame(example['data'], columns=example['columns'])\n"
        "model = _load_pyfunc(sys.argv[1])\n"
        "print(model.predictor.runtime, float(model.predict(frame)['probability'].iloc[0]))\n"
    )
    scored = run_checked([str(venv / "bin" / "python"), "-c", score, str(registered)],
                         cwd=project, env=env)  # fmt: skip
    line = next(row for row in scored.splitlines() if row.startswith(("onnx ", "tflite ")))
    runtime, probability = line.split()
    assert runtime == ("onnx" if framework == "pytorch" else "tflite")
    assert 0.0 <= float(probability) <= 1.0
    check_mlflow_tools(venv, project, str(registered), registered)  # the file registry's layout
    run_checked([*make, "lint", "test"], cwd=project, env=env)


# Every task x framework is baked (the binary deep-learning ones above, binary scikit-learn
# in test_bake.py / test_pipeline.py). To keep the suite within its budget, each runs
# `make pipeline` on its bundled sample and the generated tests where the task changes the
# code path (training, optimization, serving, validation, adoption), the scikit-learn ones
# `make lint` too; the whole generated suite runs for a multi-class and a regression
# scikit-learn project in tests/test_adopt_tables.py (on adopted data).
TASK_SUBSET = [
    "tests/test_training.py",
    "tests/test_optimization.py",
    "tests/test_serving.py",
    "tests/test_validation.py",
    "tests/test_adopt.py",
]
PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
TASK_COMBOS = [
    ("scikit-learn", "multiclass"),
    ("scikit-learn", "regression"),
    ("pytorch", "multiclass"),
    ("pytorch", "regression"),
    ("tensorflow", "multiclass"),
    ("tensorflow", "regression"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "task"), TASK_COMBOS)
def test_task_bake(framework: str, task: str, tmp_path: Path) -> None:
    require_tool("make", "apt-get install make")
    project = render(tmp_path, ml_framework=framework, task=task, **ANSWERS)
    venv = cached_venv(framework, project)
    env = bake_env(venv)
    make = ["make", f"VENV={venv}"]
    run_checked([*make, "install"], cwd=project, env=env)
    run_checked([*make, "pipeline"], cwd=project, env=env)

    bundle = project / "models" / "churn-model-v1"
    config = yaml.safe_load((bundle / "model_config.yaml").read_text(encoding="utf-8"))
    assert config["dataset"]["task"] == task
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert PRIMARY[task] in metrics["metrics"]
    if task == "multiclass":
        assert config["dataset"]["classes"] == ["class_0", "class_1", "class_2"]
    if framework == "scikit-learn":
        run_checked([*make, "lint"], cwd=project, env=env)
    pytest_args = [str(venv / "bin" / "python"), "-m", "pytest", "-q", *TASK_SUBSET]
    run_checked(pytest_args, cwd=project, env=env)
