"""Batch scoring on a real local Spark (`local[2]`): the same output as the local engine.

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
from pathlib import Path

import pytest

from tests.conftest import VENV_CACHE, render, require_tool, run_checked, uv
from tests.test_frameworks import ANSWERS, bake_env, cached_venv

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


@pytest.mark.parametrize("framework", ["scikit-learn", "pytorch", "tensorflow"])
def test_spark_engine_matches_the_local_engine(framework: str, tmp_path: Path) -> None:
    require_tool("java", "apt-get install openjdk-17-jre-headless")
    require_tool("make", "apt-get install make")
    project = render(tmp_path, ml_framework=framework, **ANSWERS)
    venv = _venv(framework, project)
    env = bake_env(venv)
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
