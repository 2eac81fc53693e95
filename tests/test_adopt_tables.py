"""Any adopted table stays green: `make init-data` (no flags), `make pipeline`, the generated
tests that depend on the data (`pytest -m data`) and `make lint`, with no hand edit.

Nine tables the test builds, one per property that used to turn a generated project red:
nulls in every column (an integer column among them), many duplicate rows, Parquet with pandas
category columns (one ordered), a nullable integer, a string column and booleans, a date column,
constant and empty columns, a near-unique string in 76 rows, 83 rows, a weak signal and a
category with long level names (its `allowed_values` list wraps in the rules file). Some files
live outside `data/raw/`. One render and one virtualenv serve them all (each table adopts into a
copy of the rendered project); the whole generated suite runs on two of them. Served, each
adopted model takes a client's raw record (its id columns, fields the model does not use, the
target and a null) on `/predict` and `/invocations`, and a label on `/feedback`.
"""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, make, render, run_checked
from tests.test_user_data import _call, serving

# Its own venv and xdist group: the nine tables run on one worker while the default project's
# bakes (test_bake, test_user_data, test_workflow_steps) run on the other.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv-adopt")]

VENV = VENV_CACHE / "bake-adopt"
Row = dict[str, Any]  # the template's own environment has no pandas: plain rows and csv


def gappy(rng: random.Random) -> list[Row]:
    """Binary; a missing value in every feature column, an integer column among them."""
    rows = []
    for _ in range(300):
        rating, colour = rng.gauss(0, 1), rng.choice(["red", "green", "blue"])
        label = "yes" if rating + (colour == "red") + rng.gauss(0, 0.7) > 0.5 else "no"
        row: Row = {"rating": round(rating, 3), "visits": rng.randint(0, 30), "colour": colour,
                    "member": rng.choice([True, False]), "label": label}  # fmt: skip
        for name in ("rating", "visits", "colour", "member"):
            if rng.random() < 0.1:
                row[name] = None
        rows.append(row)
    return rows


def dupes(rng: random.Random) -> list[Row]:
    """Multi-class with few distinct feature values: hundreds of duplicate rows."""
    rows = []
    for _ in range(400):
        grade, shift = rng.randint(1, 5), rng.choice(["day", "night"])
        hours = rng.choice([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5])
        outcome = "low" if grade <= 2 else "mid" if grade <= 3 else "high"
        rows.append({"grade": grade, "shift": shift, "hours": hours, "outcome": outcome})
    return rows


def houses(rng: random.Random) -> list[Row]:
    """Regression, written as Parquet with category (one ordered), Int64, boolean, string."""
    bonus = {"centre": 80.0, "suburb": 0.0, "harbour": 40.0}
    rows = []
    for index in range(300):
        size, district = rng.choice(["S", "M", "L", "XL"]), rng.choice(list(bonus))
        area = round(rng.uniform(30, 200), 1)
        price = 2.0 * area + bonus[district] + 20.0 * "SMLX".index(size[0]) + rng.gauss(0, 10)
        rows.append(
            {
                "listing": f"L{index:05d}",
                "size": size,
                "district": None if rng.random() < 0.05 else district,
                "area": area,
                "rooms": None if rng.random() < 0.05 else rng.randint(1, 9),
                "garden": rng.choice([True, False]),
                "agent": rng.choice(["ann", "bob", "cy"]),
                "price": round(price, 2),
            }
        )
    return rows


HOUSES_PARQUET = """
import sys
import pandas as pd
frame = pd.read_csv(sys.argv[1])
frame["size"] = pd.Categorical(frame["size"], categories=["S", "M", "L", "XL"], ordered=True)
frame["district"] = frame["district"].astype("category")
frame["rooms"] = frame["rooms"].astype("Int64")
frame["garden"] = frame["garden"].astype("boolean")
frame["agent"] = frame["agent"].astype("string[pyarrow]")
frame["listing"] = frame["listing"].astype("string")
frame.to_parquet(sys.argv[2], index=False)
"""


def dated(rng: random.Random) -> list[Row]:
    """Binary with a date column (its calendar parts become features, `dataset.dates`)."""
    rows = []
    for day in range(360):
        usage = rng.gauss(10, 3)
        rows.append({"signup": f"2024-{1 + day // 30:02d}-{1 + day % 28:02d}",
                     "usage": round(usage, 2), "plan": rng.choice(["a", "b"]),
                     "churned": int(usage + rng.gauss(0, 2) < 9)})  # fmt: skip
    return rows


def constants(rng: random.Random) -> list[Row]:
    """Multi-class with two constant columns and an empty one."""
    rows = []
    for _ in range(300):
        x = rng.gauss(0, 1)
        rows.append({"country": "NO", "version": 3, "notes": None, "x": round(x, 3),
                     "y": round(rng.gauss(0, 1), 3),
                     "kind": "a" if x < -0.4 else "b" if x < 0.4 else "c"})  # fmt: skip
    return rows


def tagged(rng: random.Random) -> list[Row]:
    """76 rows, a string column with 70 levels (near-unique: an identifier, not a category)."""
    rows = []
    for index in range(76):
        x = rng.gauss(0, 1)
        rows.append({"name": f"item {index % 70}", "x": round(x, 3),
                     "z": round(rng.gauss(5, 2), 3),
                     "good": "yes" if x + rng.gauss(0, 0.5) > 0 else "no"})  # fmt: skip
    return rows


def tiny(rng: random.Random) -> list[Row]:
    """Regression on 83 rows."""
    rows = []
    for _ in range(83):
        a, b = rng.uniform(0, 10), rng.uniform(0, 5)
        rows.append({"a": round(a, 2), "b": round(b, 2), "tone": rng.choice(["x", "y"]),
                     "value": round(3 * a - 2 * b + rng.gauss(0, 1), 3)})  # fmt: skip
    return rows


def weak(rng: random.Random) -> list[Row]:
    """Binary with a weak signal (ROC AUC about 0.6): a dummy-plus-20% gate refuses it."""
    rows = []
    for _ in range(500):
        x, noise = rng.gauss(0, 1), rng.gauss(0, 1)
        rows.append({"x": round(x, 3), "noise": round(noise, 3),
                     "segment": rng.choice(["p", "q", "r"]),
                     "responded": int(0.3 * x + rng.gauss(0, 1) > 0.8)})  # fmt: skip
    return rows


def departments(rng: random.Random) -> list[Row]:
    """Multi-class with a 60-level category of long names (the rules' list wraps)."""
    names = [f"department of regional affairs and planning number {i:02d}" for i in range(60)]
    rows = []
    for _ in range(600):
        level, budget = rng.randrange(60), rng.gauss(100, 30)
        rows.append(
            {
                "department": names[level],
                "budget": round(budget, 1),
                "tier": "gold" if level < 20 else "silver" if level < 40 else "bronze",
            }
        )
    return rows


# name: (builder, target, file inside the project, Parquet conversion script or None)
TABLES: dict[str, tuple[Callable[[random.Random], list[Row]], str, str, str | None]] = {
    "gappy": (gappy, "label", "data/raw/gappy.csv", None),
    "dupes": (dupes, "outcome", "incoming/dupes.csv", None),
    "houses": (houses, "price", "incoming/houses.parquet", HOUSES_PARQUET),
    "dated": (dated, "churned", "data/raw/dated.csv", None),
    "constants": (constants, "kind", "data/raw/constants.csv", None),
    "tagged": (tagged, "good", "incoming/tagged.csv", None),
    "tiny": (tiny, "value", "data/raw/tiny.csv", None),
    "weak": (weak, "responded", "data/raw/weak.csv", None),
    "departments": (departments, "tier", "incoming/departments.csv", None),
}
# The whole generated suite and `make lint` run on a multi-class and a regression table (the
# default project's bake covers binary); on the others `pytest -m data` and yamllint, since
# only the configs, rules and README that init-data writes change with the data.
WHOLE_SUITE = ("dupes", "houses")


def write_table(project: Path, name: str, python: Path) -> str:
    """Build table `name` into `project` (Parquet through the project's own Python)."""
    build, _, relative, to_parquet = TABLES[name]
    rows = build(random.Random(7))
    path = project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    source = path.with_suffix(".csv")
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    if to_parquet is not None:
        subprocess.run([str(python), "-c", to_parquet, str(source), str(path)], check=True)
        source.unlink()
    return relative


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, rendered and installed once for every table."""
    project = render(tmp_path_factory.mktemp("render"))
    make(project, "install", venv=VENV)
    return project


def raw_records(rows: list[Row], spec: dict[str, Any]) -> list[Row]:
    """Two of the client's records as they are: every column but the target, one more field,
    and a null in the first feature of the first record (the model imputes it)."""
    records = [
        {**{k: v for k, v in row.items() if k != spec["target"]}, "sent_by": "crm"}
        for row in rows[:2]
    ]
    records[0][next(name for name in spec["features"] if name in records[0])] = None
    return records


def check_a_client(project: Path, rows: list[Row], spec: dict[str, Any]) -> None:
    """`/predict` and `/invocations` take raw records and echo their ids; `/feedback` joins."""
    records = raw_records(rows, spec)
    ids = [{name: record[name] for name in spec["id_columns"]} for record in records]
    with serving(project, VENV) as url:
        status, answer = _call(f"{url}/predict", {"instances": records})
        assert status == 200, answer
        assert answer.get("ids", [{}, {}]) == ids, answer
        label = rows[0][spec["target"]]
        if spec["task"] == "regression":
            label = float(label)
        feedback = {"request_id": answer["request_ids"][0], "label": label}
        status, joined = _call(f"{url}/feedback", feedback)
        assert status in (200, 202), joined
        status, invoked = _call(f"{url}/invocations", {"dataframe_records": records})
        assert status == 200 and invoked["predictions"] == answer["predictions"], invoked


def adopt_and_check(project: Path, name: str) -> dict[str, Any]:
    """init-data (no flags), pipeline, lint, a client; the adopted dataset section."""
    build, target, _, _ = TABLES[name]
    data = write_table(project, name, VENV / "bin" / "python")
    output = make(project, "init-data", f"DATA={data}", f"TARGET={target}", venv=VENV).stdout
    assert "review" in output, output
    config = yaml.safe_load((project / "configs" / "model_config.yaml").read_text())
    spec: dict[str, Any] = config["dataset"]
    assert spec["path"] == data and spec["target"] == target
    readme = (project / "README.md").read_text()
    assert "breast" not in readme.lower() and f"`{data}`" in readme, readme[:2000]
    make(project, "pipeline", venv=VENV)
    if name in WHOLE_SUITE:
        make(project, "lint", venv=VENV)
    else:
        run_checked([str(VENV / "bin" / "yamllint"), "--strict", "."], project)
    check_a_client(project, build(random.Random(7)), spec)
    return spec


@pytest.mark.parametrize("name", list(TABLES))
def test_any_adopted_table_stays_green(rendered: Path, tmp_path: Path, name: str) -> None:
    started = time.monotonic()
    project = tmp_path / rendered.name
    shutil.copytree(rendered, project, ignore=shutil.ignore_patterns(".pytest_cache", "*.pyc"))
    adopt_and_check(project, name)
    selection = [] if name in WHOLE_SUITE else ["-m", "data"]
    result = subprocess.run(
        [str(VENV / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", *selection],
        cwd=project, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"\n{name}: {summary} ({time.monotonic() - started:.0f} s)")
    assert result.returncode == 0, f"{name}: {result.stdout[-8000:]}\n{result.stderr[-3000:]}"
