"""MLflow's own tools on a registered model version (shared by the pipeline and framework bakes).

`mlflow.pyfunc.load_model`, `mlflow.pyfunc.spark_udf` (pyspark, `local[1]`) and `mlflow models
serve --env-manager local` load the version and must agree. Full `mlflow` (the project's
mlflow-skinny version, or the newest for projects without MLflow) and pyspark are installed once
with `--target` beside the cached venv (numpy, pandas, scikit-learn, onnxruntime and protobuf
pinned to the venv's versions), and put on PYTHONPATH only for these checks: with pyspark
importable, pandera warns on every CLI call, which the project's own tests would see.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import CONSTRAINTS, free_port, run_checked, uv

MLFLOW_CHECK = """
import json, sys
import mlflow, pandas as pd
from pyspark.sql import SparkSession

model_uri, example_file = sys.argv[1:3]
example = json.loads(open(example_file).read())
frame = pd.DataFrame(example["data"] * 3, columns=example["columns"])
pyfunc = mlflow.pyfunc.load_model(model_uri).predict(frame)["probability"].tolist()
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local")
rows = spark.createDataFrame(frame).select(udf(*frame.columns)).collect()
spark.stop()
print(json.dumps({"pyfunc": pyfunc, "spark": [row[0][0] for row in rows]}))
"""


def mlflow_tools(venv: Path) -> Path:
    """Full `mlflow` and pyspark in a directory beside `venv` (built once)."""
    target = venv.with_name(venv.name + "-mlflow-tools")
    if (target / ".complete").exists():
        return target
    python = str(venv / "bin" / "python")
    frozen = run_checked([uv(), "pip", "freeze", "--python", python], venv)
    # Pin what decides the model's answers to the venv's versions; MLflow's server-side
    # dependencies (pyarrow, flask, ...) resolve freely.
    shared = ("numpy==", "pandas==", "scikit-learn==", "onnxruntime==", "protobuf==")
    shared += ("mlflow-skinny==",)
    pins = "\n".join(line for line in frozen.splitlines() if line.lower().startswith(shared))
    # The project's mlflow-skinny version; projects without MLflow get a current release (an
    # unbounded spec lets the resolver fall back to MLflow 1.x under the venv's protobuf pin).
    skinny = next(
        (line for line in pins.splitlines() if line.startswith("mlflow-skinny==")),
        "mlflow-skinny>=3.0,<4",
    )
    constraints = venv / "mlflow-tools-constraints.txt"
    constraints.write_text(pins + "\n", encoding="utf-8")
    run_checked([uv(), "pip", "install", "--quiet", "--python", python, "--target", str(target),
                 "--constraint", str(constraints), "--constraint", str(CONSTRAINTS),
                 skinny.replace("-skinny", ""), "pyspark>=3.5,<5"], venv, timeout=1800)  # fmt: skip
    (target / ".complete").touch()
    return target


def check_mlflow_tools(
    venv: Path, project: Path, model_uri: str, bundle: Path, tracking_uri: str | None = None
) -> None:
    """MLflow's own tools on a registered version: pyfunc, spark_udf, `mlflow models serve`."""
    tools = mlflow_tools(venv)
    example = bundle / "input_example.json"
    env = os.environ | {
        "PYTHONPATH": str(tools),
        "PYSPARK_PYTHON": str(venv / "bin" / "python"),
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",  # mlflow starts `uvicorn` by name
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri is not None:
        env |= {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_REGISTRY_URI": tracking_uri}
    command = [str(venv / "bin" / "python"), "-c", MLFLOW_CHECK, model_uri, str(example)]
    output = run_checked(command, project, env=env, timeout=900)
    scored = json.loads(next(line for line in output.splitlines() if line.startswith('{"pyfunc"')))
    # float32 ONNX Runtime: a batch of 3 and a single row may differ in the last bits
    assert scored["spark"] == pytest.approx(scored["pyfunc"], abs=1e-6)
    port = free_port()
    server = subprocess.Popen(
        [str(venv / "bin" / "python"), "-m", "mlflow", "models", "serve",
         "-m", model_uri, "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        payload = (bundle / "serving_input_example.json").read_bytes()
        deadline, answer = time.monotonic() + 180, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations", data=payload,
                    headers={"content-type": "application/json"},
                )  # fmt: skip
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(1)
        assert answer is not None, "mlflow models serve did not answer within 180 s"
        served = answer["predictions"][0]["probability"]
        assert served == pytest.approx(scored["pyfunc"][0], abs=1e-6)
    finally:
        server.terminate()
        server.wait(timeout=30)
