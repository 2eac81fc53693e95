"""Spark on a real `local[2]`: batch scoring gives the local engine's output, and
`train --engine spark` fits the xgboost family with the same export and parity check.

For each framework the generated project is installed (the venvs test_frameworks.py and
test_bake.py cache), `make pipeline` registers a model, and `batch-score` runs twice on one
input directory (a CSV with bad cells and a Parquet file): `--engine local` and
`--engine spark`. pyspark is installed once with
`--target` beside the cached venv (the project's `[spark]` extra, kept out of the venv so its
dependency hash stays the one the other tests share) and put on PYTHONPATH. Java must be on
PATH: skipped locally without it, a failure under CI=true.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, lock_project, render, require_tool, run_checked, uv
from tests.test_frameworks import ANSWERS, bake_env, cached_venv
from tests.test_tune import prices, write_csv

pytestmark = pytest.mark.slow

PYSPARK = "pyspark>=3.5,<5"  # the generated pyproject's [spark] extra

MAKE_INPUT = """
import sys
from pathlib import Path
import pandas as pd
import yaml
features = list(yaml.safe_load(open("configs/model_config.yaml"))["dataset"]["features"])
frame = pd.read_csv("data/raw/breast_cancer.csv")[features]
frame = pd.concat([frame] * 3, ignore_index=True).astype(object)
frame.loc[3, features[0]] = "abc"
frame.loc[700, features[1]] = "-inf"
root = Path(sys.argv[1])
root.mkdir()
frame.to_csv(root / "a.csv", index=False)
pd.read_csv("data/raw/breast_cancer.csv")[features].to_parquet(root / "b.parquet")
"""

COMPARE = """
import json, sys
import pandas as pd
import pyarrow.dataset as ds
local, spark = sys.argv[1], sys.argv[2]
def table(root, name):
    return ds.dataset(f"{root}/{name}", format="parquet").to_table()
result = {}
for name in ("predictions", "rejected"):
    a, b = table(local, name), table(spark, name)
    result[name + "_schema_equal"] = a.schema.remove_metadata().equals(b.schema.remove_metadata())
    keep = [c for c in a.column_names if c not in ("run_id", "row")]
    x = a.to_pandas(ignore_metadata=True)[keep].sort_values(keep).reset_index(drop=True)
    y = b.to_pandas(ignore_metadata=True)[keep].sort_values(keep).reset_index(drop=True)
    pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=1e-12)
    result[name + "_rows"] = len(x)
    result[name + "_columns"] = keep
result["reasons"] = sorted(table(spark, "rejected").to_pandas()["reason"])
manifests = [json.load(open(f"{root}/manifest.json")) for root in (local, spark)]
result["rows"] = [m["rows"] for m in manifests]
result["engines"] = [m["engine"] for m in manifests]
print("RESULT " + json.dumps(result))
"""


def _pyspark(venv: Path) -> Path:
    """pyspark in a directory beside `venv`, installed once."""
    target = venv.with_name(venv.name + "-pyspark")
    if not (target / ".complete").exists():
        run_checked([uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                     "--target", str(target), "--no-deps", PYSPARK, "py4j"], venv)  # fmt: skip
        (target / ".complete").touch()
    return target


def _venv(framework: str, project: Path) -> Path:
    if framework == "scikit-learn":
        return VENV_CACHE / "bake-sklearn-batch"
    return cached_venv(framework, project)


SKLEARN_VENV = "venv-sklearn-batch"  # xdist group: the tests sharing that venv run in turn


@pytest.mark.parametrize(
    "framework",
    [
        pytest.param("scikit-learn", marks=pytest.mark.xdist_group(SKLEARN_VENV)),
        "pytorch",
        "tensorflow",
    ],
)
def test_spark_engine_matches_the_local_engine(framework: str, tmp_path: Path) -> None:
    require_tool("java", "apt-get install openjdk-17-jre-headless")
    require_tool("make", "apt-get install make")
    project = render(tmp_path, ml_framework=framework, **ANSWERS)
    venv = _venv(framework, project)
    env = bake_env(venv)
    lock_project(project)
    run_checked(["make", f"VENV={venv}", "install", "pipeline"], cwd=project, env=env)
    python = str(venv / "bin" / "python")
    run_checked([python, "-c", MAKE_INPUT, "in"], cwd=project, env=env)

    spark_env = env | {
        "PYTHONPATH": str(_pyspark(venv)),
        "PYSPARK_PYTHON": python,
        "SPARK_MASTER": "local[2]",
    }
    cli = [python, "-m", project.name.replace("-", "_"), "batch-score", "--input", "in"]
    run_checked([*cli, "--output", "out-local"], cwd=project, env=env)
    run_checked([*cli, "--output", "out-spark", "--engine", "spark"], cwd=project, env=spark_env)

    output = run_checked([python, "-c", COMPARE, "out-local", "out-spark"], project, spark_env)
    marked = (line[7:] for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(next(marked))
    assert result["predictions_schema_equal"] and result["rejected_schema_equal"], result
    assert result["rows"][0] == result["rows"][1]
    assert result["rows"][0]["rejected"] == result["rejected_rows"] == 2
    assert result["predictions_rows"] == result["rows"][0]["scored"] == 4 * 569 - 2
    assert result["engines"] == ["local", "spark (local[2])"]
    assert any(reason.endswith("not a number ('abc')") for reason in result["reasons"])
    assert any(reason.endswith("not finite") for reason in result["reasons"])


def _trained(project: Path, venv: Path, env: dict[str, str], *make_args: str) -> dict[str, Any]:
    """`make train evaluate` with `make_args`; the test metrics and the bundle's lineage."""
    run_checked(["make", f"VENV={venv}", *make_args, "train", "evaluate"], cwd=project, env=env)
    bundle = yaml.safe_load((project / "models/candidate/model_config.yaml").read_text())
    metrics = json.loads((project / "reports/metrics.json").read_text())["metrics"]
    return {"rmse": metrics["rmse"], "lineage": bundle["lineage"], "bundle": bundle}


@pytest.mark.xdist_group(SKLEARN_VENV)
def test_spark_training_fits_xgboost_with_the_same_export_and_parity(tmp_path: Path) -> None:
    """A skewed, positive price with categories (log1p target, one-hot) trained on Spark:
    ONNX parity passes, and the model is as good as XGBoost trained here, better than linear."""
    require_tool("java", "apt-get install openjdk-17-jre-headless")
    require_tool("make", "apt-get install make")
    project = render(tmp_path, **ANSWERS)
    venv = VENV_CACHE / "bake-sklearn-batch"
    env = bake_env(venv)
    write_csv(project / "data/raw/prices.csv", prices(random.Random(11)))
    adopt = ["DATA=data/raw/prices.csv", "TARGET=price", "INIT_DATA_ARGS=--family xgboost"]
    lock_project(project)
    run_checked(["make", f"VENV={venv}", "install", "init-data", *adopt], cwd=project, env=env)
    python = str(venv / "bin" / "python")
    spark_env = env | {
        "PYTHONPATH": str(_pyspark(venv)),
        "PYSPARK_PYTHON": python,
        "SPARK_MASTER": "local[2]",
    }
    on_spark = _trained(project, venv, spark_env, "TRAIN_ENGINE=spark")
    assert on_spark["lineage"]["engine"] == "spark (local[2])"
    assert on_spark["bundle"]["hyperparameters"]["family"] == "xgboost"
    run_checked(["make", f"VENV={venv}", "optimize"], cwd=project, env=env)
    parity = json.loads((project / "reports/parity.json").read_text())
    assert parity["passed"] and parity["variants"]["onnx"]["passed"], parity

    here = _trained(project, venv, env)
    assert here["lineage"]["engine"] == "local"
    config_path = project / "configs/model_config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["hyperparameters"] = {"family": "linear"}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    linear = _trained(project, venv, env)
    assert on_spark["rmse"] <= 1.15 * here["rmse"], (on_spark["rmse"], here["rmse"])
    assert on_spark["rmse"] < linear["rmse"], (on_spark["rmse"], linear["rmse"])

    config["hyperparameters"] = {"family": "lightgbm"}  # Spark fits xgboost only: one line
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    cli = [str(venv / "bin" / project.name.replace("-", "_")), "train", "--engine", "spark"]
    refused = subprocess.run(cli, cwd=project, env=spark_env, capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "sets family lightgbm" in refused.stderr
