"""`make tune` picks a model that beats the linear one where the linear one is known to lose.

The test renders the default project, adopts a table it builds (`make init-data`), runs
`make tune` with a small budget and `make pipeline`, then trains the linear model on the same
split and compares both on the held-out test split. Two tables: a binary target that is an
interaction of thresholds (XOR of two cut-offs: no line separates it) and a skewed, positive
regression target (prices multiplied by factors), which the tree models also keep positive.
"""

from __future__ import annotations

import csv
import json
import math
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, make, render

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv-default")]

VENV = VENV_CACHE / "bake-default"  # the default project's venv (test_bake.py)
ROWS = 1500
Row = dict[str, Any]


def thresholds(rng: random.Random) -> list[Row]:
    rows = []
    for _ in range(ROWS):
        load, age = rng.uniform(0, 100), rng.uniform(0, 10)
        site = rng.choice(["a", "b", "c"])
        hit = (load > 60) != (age > 4) if site != "c" else load > 80
        if rng.random() < 0.05:
            hit = not hit
        rows.append(
            {
                "load": round(load, 2),
                "age": round(age, 3),
                "site": site,
                "noise": round(rng.gauss(0, 1), 3),
                "failed": "yes" if hit else "no",
            }
        )
    return rows


def prices(rng: random.Random) -> list[Row]:
    factor = {"centre": 3.0, "suburb": 1.0, "harbour": 2.0}
    rows = []
    for _ in range(ROWS):
        area, rooms = rng.uniform(20, 200), rng.randint(1, 6)
        district = rng.choice(list(factor))
        price = area * factor[district] * (1.5 if rooms > 3 and area > 100 else 1.0)
        price *= math.exp(rng.gauss(0, 0.1))
        rows.append(
            {
                "area": round(area, 1),
                "rooms": rooms,
                "district": district,
                "price": round(price * 1000, 0),
            }
        )
    return rows


TABLES = {"thresholds": (thresholds, "failed"), "prices": (prices, "price")}


def write_csv(path: Path, rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _metrics(project: Path) -> dict[str, Any]:
    return json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))


def _linear_metrics(project: Path) -> dict[str, Any]:
    """Train and evaluate the linear family on the same split (the gate may refuse it: a
    worse model than the tuned champion; its metrics are written either way)."""
    path = project / "configs/model_config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["hyperparameters"] = {"family": "linear"}
    config.pop("tuning", None)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    cli = str(VENV / "bin" / "churn_model")
    subprocess.run([cli, "train"], cwd=project, check=True, capture_output=True, timeout=600)
    subprocess.run([cli, "evaluate"], cwd=project, check=False, capture_output=True, timeout=600)
    return _metrics(project)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tune_then_pipeline_beats_the_linear_model(tmp_path: Path, name: str) -> None:
    build, target = TABLES[name]
    project = render(tmp_path)
    write_csv(project / f"data/raw/{name}.csv", build(random.Random(7)))
    make(project, "install", venv=VENV)
    make(project, "init-data", f"DATA=data/raw/{name}.csv", f"TARGET={target}", venv=VENV)
    tuned = make(project, "tune", "TUNE_TRIALS=8", "TUNE_TIMEOUT=90", venv=VENV).stdout
    assert "written to configs/model_config.yaml" in tuned, tuned[-2000:]
    config = yaml.safe_load((project / "configs/model_config.yaml").read_text(encoding="utf-8"))
    family = config["hyperparameters"]["family"]
    assert family != "linear", tuned[-2000:]
    assert config["tuning"]["finished_trials"] >= 3
    make(project, "pipeline", venv=VENV)
    selected = _metrics(project)
    assert selected["model"]["family"] == family
    assert selected["model"]["tuning"]["trial"] == config["tuning"]["trial"]
    card = (project / "reports/model_card.md").read_text(encoding="utf-8")
    assert f"Model family: {family}, chosen by `make tune`" in card
    linear = _linear_metrics(project)
    assert linear["model"]["family"] == "linear"
    primary = selected["primary_metric"]
    better = selected["directions"][primary] == "higher"
    ours, theirs = selected["metrics"][primary], linear["metrics"][primary]
    assert (ours > theirs) if better else (ours < theirs), (primary, ours, theirs)
