"""Run inside a generated project's venv (cwd = the project, after `make pipeline`):
score the same payloads on this server and on `mlflow models serve` with MLflow's own
`ScoringServerClient`, and print what each answered as JSON (tests/test_serving_protocol.py).

argv: the package name, this server's port.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.scoring_server.client import ScoringServerClient


def post(url: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode(errors="replace")


def payloads(frame: pd.DataFrame) -> dict[str, tuple[bytes, str]]:
    records = frame.to_dict(orient="records")
    columns = {name: frame[name].tolist() for name in frame.columns}
    split = frame.to_dict(orient="split")
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    as_json = {
        "dataframe_split": {"dataframe_split": {k: split[k] for k in ("columns", "data")}},
        "dataframe_records": {"dataframe_records": records},
        "instances_rows": {"instances": records},
        "instances_columns": {"instances": columns},
        "inputs_columns": {"inputs": columns},
        "unknown_key": {"rows": records},
    }
    found = {key: (json.dumps(body).encode(), "application/json") for key, body in as_json.items()}
    found["csv"] = (frame.to_csv(index=False).encode(), "text/csv")
    found["parquet"] = (parquet.getvalue(), "application/vnd.apache.parquet")
    return found


def answers(port: int, frame: pd.DataFrame) -> dict[str, Any]:
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=180)
    client.ping()
    found: dict[str, Any] = {"version": client.get_version()}
    predictions = client.invoke(frame).get_predictions()
    found["client"] = [int(value) for value in pd.DataFrame(predictions).iloc[:, 0]]
    base = f"http://127.0.0.1:{port}/invocations"
    for name, (body, content_type) in payloads(frame).items():
        status, answer = post(base, body, content_type)
        if isinstance(answer, dict) and "predictions" in answer:
            answer = [int(value) for value in answer["predictions"]]
        elif isinstance(answer, dict):
            answer = sorted(answer)  # the error body's keys
        found[name] = [status, answer]
    return found


def with_signature(model_dir: Path, code: Path, frame: pd.DataFrame) -> None:
    """Save the bench's pyfunc again with a signature: `mlflow models serve` then accepts
    every format for it (the comparison the issue asks for)."""
    import shutil

    import mlflow.pyfunc
    from mlflow.models import infer_signature

    loaded = mlflow.pyfunc.load_model(str(model_dir))
    signature = infer_signature(frame, loaded.predict(frame))
    python_model = loaded.unwrap_python_model()
    artifacts = {"bundle": str(Path(model_dir) / "artifacts" / "bundle")}
    keep = Path(tempfile.mkdtemp(prefix="bundle-")) / "bundle"
    shutil.copytree(artifacts["bundle"], keep)
    shutil.rmtree(model_dir)
    mlflow.pyfunc.save_model(
        str(model_dir),
        python_model=python_model,
        artifacts={"bundle": str(keep)},
        code_paths=[str(code)],
        signature=signature,
    )


def main() -> int:
    package, port = sys.argv[1], int(sys.argv[2])
    settings = importlib.import_module(f"{package}.settings").get_settings()
    bundle = importlib.import_module(f"{package}.registry").resolve_bundle("champion", settings)
    model = importlib.import_module(f"{package}.serving.model").load_bundle(bundle)
    test_split = settings.resolve(settings.pipeline.processed_dir) / "test.csv"
    frame = pd.read_csv(test_split, nrows=5)[model.feature_names]
    bench = importlib.import_module(f"{package}.benchmarks.serve")
    scratch = Path(tempfile.mkdtemp(prefix="mlflow-compare-"))
    target = bench.mlflow_target(bundle, scratch, frame.iloc[0].to_dict())
    assert not isinstance(target, str), target
    with_signature(scratch / "mlflow-model", scratch / "bench_mlflow_model.py", frame)
    mlflow_port = bench.free_port()
    command = [part.replace("{port}", str(mlflow_port)) for part in target.command]
    log = (scratch / "mlflow.log").open("wb")
    process = subprocess.Popen(
        command, env={**os.environ, **target.env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        result = {"ours": answers(port, frame), "mlflow": answers(mlflow_port, frame)}
    finally:
        bench.stop(process)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
