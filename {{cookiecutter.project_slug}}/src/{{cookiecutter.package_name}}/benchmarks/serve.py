"""`make bench-serve`: this server vs `mlflow models serve` vs a lean FastAPI + onnxruntime app.

All three serve the registered champion on loopback, one at a time (they would fight for the
same cores otherwise), and are driven by `wrk` with the same load: a warm-up run first, then
the measured run (same connections, threads and duration). This server runs exactly as
`make serve` runs it (validation, metrics and the prediction log all on; the log goes to a
scratch database so benchmark traffic never reaches monitoring). The lean baseline does no
validation, metrics or logging. Prints requests/s, cores used, memory, p50, p99 and errors side
by side (`benchmarks.load` says how cores are counted).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.benchmarks.load import (
    Usage,
    WrkResult,
    measure,
    parse_wrk,
    wrk_run,
)
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.registry import resolve_bundle
from {{ cookiecutter.package_name }}.serving.model import ONNX_FILE, load_bundle
from {{ cookiecutter.package_name }}.serving.smoke import call, free_port, stop
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, get_settings
from {{ cookiecutter.package_name }}.tables import render

LEAN_APP = '''
"""The lean baseline: FastAPI + onnxruntime, no validation, metrics or logging."""
import json
import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request

session = ort.InferenceSession(os.environ["LEAN_MODEL"], providers=["CPUExecutionProvider"])
names = json.loads(os.environ["LEAN_FEATURES"])
input_name = session.get_inputs()[0].name
app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request):
    rows = (await request.json())["instances"]
    x = np.asarray([[row[name] for name in names] for row in rows], dtype=np.float32)
    proba = np.asarray(session.run(None, {input_name: x})[-1])[:, 1]
    return {"predictions": (proba >= 0.5).astype(int).tolist(), "probabilities": proba.tolist()}
'''

MLFLOW_MODEL = '''
"""An MLflow pyfunc wrapping the same bundle (what `mlflow models serve` loads)."""
import mlflow.pyfunc


class Bundle(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from pathlib import Path

        from {{ cookiecutter.package_name }}.training import load_model

        self.model = load_model(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input, params=None):
        proba = self.model.predict_proba(model_input[self.model.feature_names])
        return (proba[:, 1] >= 0.5).astype(int)
'''

WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""


@dataclass
class Result:
    name: str
    load: WrkResult | None = None
    usage: Usage | None = None
    note: str = ""


@dataclass
class Target:
    name: str
    command: list[str]
    ready_path: str
    path: str
    payload: dict[str, Any]
    env: dict[str, str]


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if call(url, timeout=2)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def bench(target: Target, wrk: str, scratch: Path, args: LoadOptions) -> Result:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in target.command]
    base = f"http://127.0.0.1:{port}"
    log = (scratch / f"{target.name.split()[0]}.log").open("wb")
    process = subprocess.Popen(
        command, env={**os.environ, **target.env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        if not wait_for(base + target.ready_path, process):
            log.flush()
            tail = Path(log.name).read_text(errors="replace").strip().splitlines()[-1:]
            return Result(target.name, note=f"did not start: {' '.join(tail)[:160]}")
        status, body = call(base + target.path, target.payload)
        if status != 200:
            return Result(target.name, note=f"HTTP {status}: {body[:120]!r}")
        script = scratch / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=json.dumps(json.dumps(target.payload))))
        load = {"threads": args.threads, "connections": args.connections}
        wrk_run(wrk, base + target.path, script, seconds=args.warmup, **load)
        with measure(process.pid) as usage:
            output = wrk_run(wrk, base + target.path, script, seconds=args.duration, **load)
        return Result(target.name, parse_wrk(output), usage)
    finally:
        stop(process)
        log.close()


def example_row(settings: Settings, names: list[str]) -> dict[str, float]:
    """A real row of the held-out split when the pipeline wrote one, else zeros."""
    test_split = settings.resolve(settings.pipeline.processed_dir) / "test.csv"
    if test_split.is_file():
        import pandas as pd

        frame = pd.read_csv(test_split, nrows=1)
        if set(names) <= set(frame.columns):
            return {name: float(frame[name].iloc[0]) for name in names}
    return dict.fromkeys(names, 0.0)


def mlflow_target(bundle: Path, scratch: Path, payload_row: dict[str, float]) -> Target | str:
    try:
        import mlflow.pyfunc
    except ImportError:
        return "mlflow is not installed (experiment_tracking=none): pip install mlflow"
    sys.path.insert(0, str(scratch))
    (scratch / "bench_mlflow_model.py").write_text(textwrap.dedent(MLFLOW_MODEL))
    bundle_class = importlib.import_module("bench_mlflow_model").Bundle

    model_dir = scratch / "mlflow-model"
    mlflow.pyfunc.save_model(
        str(model_dir),
        python_model=bundle_class(),
        artifacts={"bundle": str(bundle)},
        code_paths=[str(scratch / "bench_mlflow_model.py")],
    )
    return Target(
        "mlflow models serve",
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--env-manager",
            "local",
        ],
        "/ping",
        "/invocations",
        {"dataframe_records": [payload_row]},
        # mlflow starts `uvicorn` by name: the venv's bin must be on PATH.
        {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])},
    )


def print_table(results: list[Result], args: LoadOptions) -> None:
    print(
        f"\nbench-serve: {args.connections} connections, {args.threads} wrk threads, "
        f"{args.warmup}s warm-up + {args.duration}s measured, one row per request\n"
    )
    notes = any(r.note for r in results)
    rows = []
    for r in results:
        load, usage = r.load, r.usage
        rows.append(
            [r.name]
            + (
                [f"{load.requests_per_s:.0f}", f"{usage.cores:.2f}",
                 f"{1000 * usage.cores / max(load.requests_per_s, 1e-9):.3f}",
                 f"{usage.rss_mib:.0f}", f"{load.p50_ms:.2f}", f"{load.p99_ms:.2f}", load.errors]
                if load and usage
                else [None] * 7
            )
            + ([r.note] if notes else [])
        )  # fmt: skip
    numbers = ("req/s", "cores used", "CPU ms/req", "RSS MiB", "p50 ms", "p99 ms", "errors")
    print(render(["server", *numbers, *(["note"] if notes else [])], rows, right=numbers))
    print(
        "\ncores used: the server's CPU seconds (main process + children, e.g. the log writer)"
        " / wall seconds of the measured run; CPU ms/req: those CPU seconds per request;"
        " RSS MiB: their resident memory at its end."
        "\ncommit: a prediction is answered after its log row is committed (the default);"
        " buffered: once queued (serving.durability)."
        "\nThe Kubernetes pods are sized from this server's cores used: see Sizing in the README."
    )


def server_target(scratch: Path, row: dict[str, float], durability: str) -> Target:
    """This server exactly as `make serve` runs it (`serving.durability` set), logging to a
    scratch database."""
    return Target(
        f"this server ({durability})",
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve",
         "--host", "127.0.0.1", "--port", "{port}"],
        "/ready",
        "/predict",
        {"instances": [row]},
        {
            f"{ENV_PREFIX}SERVING__PREDICTION_LOG": str(scratch / f"predictions-{durability}.db"),
            f"{ENV_PREFIX}SERVING__ROUTING": "single",
            f"{ENV_PREFIX}SERVING__DURABILITY": durability,
            f"{ENV_PREFIX}LOG_LEVEL": "WARNING",
        },
    )  # fmt: skip


def lean_target(
    bundle: Path, scratch: Path, row: dict[str, float], names: list[str]
) -> Target | str:
    if not (bundle / ONNX_FILE).is_file():
        return f"no {ONNX_FILE} in {bundle} (the lean baseline runs ONNX)"
    (scratch / "lean_app.py").write_text(LEAN_APP)
    return Target(
        "lean fastapi+onnxruntime",
        [sys.executable, "-m", "uvicorn", "--app-dir", str(scratch), "lean_app:app",
         "--host", "127.0.0.1", "--port", "{port}", "--no-access-log", "--log-level", "warning"],
        "/health",
        "/predict",
        {"instances": [row]},
        {"LEAN_MODEL": str(bundle / ONNX_FILE), "LEAN_FEATURES": json.dumps(names)},
    )  # fmt: skip


@dataclass(frozen=True)
class LoadOptions:
    """The load `bench-serve` puts on each server (the CLI's options)."""

    connections: int = 16
    threads: int = 2
    duration: int = 20  # measured seconds
    warmup: int = 5  # warm-up seconds
    skip: tuple[str, ...] = ()  # "mlflow", "lean": servers left out


def run(args: LoadOptions) -> int:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise UserError("wrk not found; install it (apt-get install wrk / brew install wrk)")
    settings = get_settings()
    bundle = resolve_bundle("champion", settings)
    model = load_bundle(bundle)
    row = example_row(settings, model.feature_names)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        scratch = Path(tmp)
        targets: list[tuple[str, Target | str]] = [
            (f"this server ({mode})", server_target(scratch, row, mode))
            for mode in ("commit", "buffered")
        ]
        if "mlflow" not in args.skip:
            targets.append(("mlflow models serve", mlflow_target(bundle, scratch, row)))
        if "lean" not in args.skip:
            lean = lean_target(bundle, scratch, row, model.feature_names)
            targets.append(("lean fastapi+onnxruntime", lean))
        for index, (name, target) in enumerate(targets):
            if isinstance(target, str):
                results.append(Result(name, note=target))
                continue
            print(f"[{index + 1}/{len(targets)}] {name} ...", flush=True)
            results.append(bench(target, wrk, scratch, args))
    print_table(results, args)
    return 0 if all(r.load is None or r.load.errors == 0 for r in results) else 1
