"""Bake the scikit-learn pipeline: `make pipeline`, its artifacts, `make lint test`, `dvc repro`.

Two renders cover the tracking/versioning options cheaply: MLflow + DVC (the defaults) and
none + none (file registry, no DVC). Both share one cached virtualenv keyed by the MLflow + DVC
project's dependencies (a superset of the other's), under <cache>/venvs/pipeline-sklearn-<hash>.
The defaults' own `make test` runs in test_bake.py, so here the MLflow + DVC bake runs
`make lint` (with the pipeline's artifacts present) and `dvc repro`; none + none runs both.
MLflow's own tools load the registered champion: `mlflow.pyfunc.load_model`,
`mlflow.pyfunc.spark_udf` (pyspark, `local[1]`) and `mlflow models serve` (full `mlflow`,
installed once into the cached venv).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, make, python_for, render, require_tool, run_checked, uv
from tests.mlflow_tools import check_mlflow_tools

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv-pipeline-sklearn")]

METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
PYTHON = "3.11"


def venv_for(project: Path) -> Path:
    """The cached venv for this dependency set (old ones for other sets are removed)."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    payload = json.dumps(
        [PYTHON, sorted(meta["dependencies"]), meta["optional-dependencies"]], sort_keys=True
    )
    venv = VENV_CACHE / f"pipeline-sklearn-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
    for stale in VENV_CACHE.glob("pipeline-sklearn-*"):
        if stale != venv:
            shutil.rmtree(stale, ignore_errors=True)
    return venv


def run(command: list[str], cwd: Path, venv: Path) -> str:
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(Path(uv()).parent), env["PATH"]])
    env.pop("MLFLOW_TRACKING_URI", None)
    return run_checked(command, cwd, env=env, timeout=900)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def check_artifacts(project: Path, output: str, bundle: Path) -> None:
    """What `make pipeline` must leave behind, and say where it went."""
    reports = project / "reports"
    for name in ("validation.json", "metrics.json", "plots/confusion_matrix.png",
                 "plots/roc_curve.png", "model_card.md", "parity.json", "benchmark.json",
                 "benchmark.md"):  # fmt: skip
        assert (reports / name).is_file(), name
        assert str(reports / name) in output, name
    metrics = json.loads((reports / "metrics.json").read_text())
    assert set(metrics["metrics"]) == METRICS and metrics["passed"]
    scores = dict(metrics["metrics"])
    assert 0 <= scores.pop("log_loss") <= 0.3  # lower is better
    assert all(0.9 <= value <= 1 for value in scores.values())
    config = load_yaml(bundle / "model_config.yaml")
    assert re.fullmatch(r"[0-9a-f]{64}", config["lineage"]["dataset_sha256"])
    assert config["dataset"]["sha256"] == config["lineage"]["dataset_sha256"]
    assert set(config["metrics"]) == METRICS
    assert {"python", "scikit-learn", "numpy"} <= set(config["lineage"]["library_versions"])
    assert (bundle / "native" / "model.pkl").is_file()
    mlmodel = load_yaml(bundle / "MLmodel")  # every registered version is an MLflow model
    assert set(mlmodel["flavors"]) == {"python_function", "sklearn"}
    assert mlmodel["signature"]["inputs"] and (bundle / "input_example.json").is_file()
    assert (bundle / "optimized" / "model.onnx").stat().st_size > 0
    parity = json.loads((bundle / "optimized" / "parity.json").read_text())
    assert parity["passed"] and parity["variants"]["onnx"]["max_probability_diff"] < 1e-4
    rows = json.loads((bundle / "optimized" / "benchmark.json").read_text())["rows"]
    assert [row["variant"] for row in rows] == ["native", "onnx"]
    assert "single-row p50 (ms)" in (reports / "benchmark.md").read_text()


def test_mlflow_and_dvc(tmp_path: Path) -> None:
    project = render(tmp_path, experiment_tracking="mlflow", data_versioning="dvc")
    venv = venv_for(project)
    python = python_for(PYTHON)
    make(project, "install", venv=venv, PYTHON=python)
    output = make(project, "pipeline", venv=venv).stdout
    assert (project / "mlflow.db").is_file()
    bundle = Path(re.findall(r"^\[6/6\] register .* at (\S+)$", output, re.MULTILINE)[0])
    assert bundle.is_relative_to(project / "mlruns")  # the embedded MLflow artifact store
    check_artifacts(project, output, bundle)
    resolved = run([str(venv / "bin" / "churn_model"), "resolve", "champion"], project, venv)
    assert resolved.strip() == str(bundle)
    check_mlflow_tools(venv, project, "models:/churn-model@champion", bundle,
                       tracking_uri=f"sqlite:///{project / 'mlflow.db'}")  # fmt: skip
    make(project, "lint", venv=venv)

    # DVC, offline: a git work tree with one commit, reproduce every stage, push to the remote.
    identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    git = [require_tool("git", "apt-get install git"), *identity]
    run([*git, "init", "-q"], project, venv)
    run([*git, "add", "-A"], project, venv)
    run([*git, "commit", "-qm", "baked"], project, venv)
    shutil.rmtree(project / "models")
    shutil.rmtree(project / "reports")
    run([str(venv / "bin" / "dvc"), "repro"], project, venv)
    lock = load_yaml(project / "dvc.lock")
    assert set(lock["stages"]) == {"data", "validate", "train", "evaluate", "optimize"}
    candidate = load_yaml(project / "models" / "candidate" / "model_config.yaml")
    head = run(["git", "rev-parse", "HEAD"], project, venv).strip()
    assert candidate["lineage"]["git_commit"] == head
    assert "up to date" in run([str(venv / "bin" / "dvc"), "status"], project, venv).lower()
    run([str(venv / "bin" / "dvc"), "push"], project, venv)
    assert any(path.is_file() for path in (project / ".dvc-storage").rglob("*"))


def test_file_registry_without_dvc(tmp_path: Path) -> None:
    default = render(tmp_path / "default")  # the venv is keyed by the superset of dependencies
    project = render(tmp_path / "plain", experiment_tracking="none", data_versioning="none")
    assert not (project / "dvc.yaml").exists()
    venv = venv_for(default)
    make(project, "install", venv=venv, PYTHON=python_for(PYTHON))
    output = make(project, "pipeline", venv=venv).stdout
    registry = json.loads((project / "models" / "registry.json").read_text())
    assert registry["aliases"] == {"challenger": 1, "champion": 1}
    check_artifacts(project, output, project / "models" / "churn-model-v1")
    assert not (project / "mlflow.db").exists()
    make(project, "lint", "test", venv=venv)
