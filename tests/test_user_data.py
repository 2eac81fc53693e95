"""End to end with the user's own data: render the default project, adopt a dataset with
`make init-data` and run everything downstream with no hand edit.

Three datasets the test builds, of different shapes: binary with string categoricals,
booleans, an identifier and missing values (string labels yes/no); multi-class with a
string target; regression with an integer `year` and a string category. For each: `make
init-data`, `make pipeline`, serve, one raw prediction (strings and a null), one feedback,
a batch large enough for drift, `make drift`, the generated tests marked `data`.
"""

from __future__ import annotations

import csv
import json
import os
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, make, render, run_checked, uv

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv-default")]

VENV = VENV_CACHE / "bake-default"  # the default project's venv (test_bake.py)
ROWS = 400
Row = dict[str, Any]  # the template's own environment has no pandas: plain rows and csv


def churn(rng: random.Random) -> list[Row]:
    rows = []
    for index in range(ROWS):
        plan = rng.choice(["basic", "plus", "pro"])
        tenure = rng.randint(1, 72)
        risk = (plan == "basic") * 2.0 - tenure / 24 + rng.gauss(0, 0.5)
        rows.append(
            {
                "customer_id": f"C{index:05d}",
                "plan": plan,
                "region": rng.choice(["north", "south", "east", None]),
                "tenure_months": tenure,
                "monthly_fee": None if rng.random() < 0.06 else round(rng.gauss(40, 12), 2),
                "paperless": rng.choice([True, False]),
                "churned": "yes" if risk > 0 else "no",
            }
        )
    return rows


def species(rng: random.Random) -> list[Row]:
    centre = {"setosa": 1.0, "versicolor": 3.0, "virginica": 5.0}
    rows = []
    for _ in range(ROWS):
        label = rng.choice(list(centre))
        rows.append(
            {
                "petal_length": round(centre[label] + rng.gauss(0, 0.5), 3),
                "sepal_width": round(3 + rng.gauss(0, 0.4), 3),
                "colour": rng.choice(["white", "purple"]),
                "species": label,
            }
        )
    return rows


def prices(rng: random.Random) -> list[Row]:
    bonus = {"centre": 80.0, "suburb": 0.0, "harbour": 40.0}
    rows = []
    for _ in range(ROWS):
        year, area = rng.randint(2005, 2023), round(rng.uniform(30, 200), 1)
        district = rng.choice(list(bonus))
        price = 2.0 * area + 5.0 * (year - 2005) + bonus[district] + rng.gauss(0, 10)
        rows.append({"year": year, "area": area, "district": district, "price": round(price, 2)})
    return rows


DATASETS: dict[str, tuple[Callable[[random.Random], list[Row]], str, str]] = {
    "churn": (churn, "churned", "binary"),
    "species": (species, "species", "multiclass"),
    "prices": (prices, "price", "regression"),
}


def write_csv(path: Path, rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@contextmanager
def serving(project: Path, venv: Path = VENV) -> Iterator[str]:
    """`<package> serve` from `venv` on a free loopback port, until the block ends."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(Path(uv()).parent), env["PATH"]])
    server = subprocess.Popen(
        [str(venv / "bin" / "python"), "-m", "churn_model", "serve", "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(
                    f"server exited: {server.stdout.read() if server.stdout else ''}"
                )
            try:
                if _call(f"{url}/ready")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("server not ready within 180 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def _instance(row: Row, features: list[str]) -> Row:
    """A raw JSON instance: strings stay strings, missing values are null."""
    return {name: row[name] for name in features}


@pytest.mark.parametrize("name", list(DATASETS))
def test_init_data_then_everything_downstream(tmp_path: Path, name: str) -> None:
    build, target, task = DATASETS[name]
    project = render(tmp_path)
    rows = build(random.Random(7))
    write_csv(project / "data" / "raw" / f"{name}.csv", rows)

    make(project, "install", venv=VENV)
    output = make(project, "init-data", f"DATA=data/raw/{name}.csv", f"TARGET={target}",
                  venv=VENV).stdout  # fmt: skip
    assert f"task {task}" in output and "review" in output
    spec = yaml.safe_load((project / "configs" / "model_config.yaml").read_text())["dataset"]
    assert spec["task"] == task and spec["target"] == target
    make(project, "pipeline", venv=VENV)

    features = list(spec["features"])
    instance = _instance(rows[0], features)
    categorical = [f for f, kind in spec["features"].items() if kind == "categorical"]
    numeric = [f for f, kind in spec["features"].items() if kind == "numeric"]
    assert any(isinstance(instance[f], str) for f in categorical), instance
    instance[numeric[0]] = None  # the model imputes it
    with serving(project) as url:
        status, answer = _call(f"{url}/predict", {"instances": [instance]})
        assert status == 200, answer
        predicted = answer["predictions"][0]
        if task == "regression":
            assert isinstance(predicted, float) and "probabilities" not in answer
            label: Any = float(rows[0][target])
        else:
            assert predicted in spec["classes"]
            label = rows[0][target]
        status, answer = _call(
            f"{url}/feedback", {"request_id": answer["request_id"], "label": label}
        )
        assert status in (200, 202), answer
        batch = [_instance(row, features) for row in rows[:150]]
        status, answer = _call(f"{url}/predict", {"instances": batch})
        assert status == 200, answer
    drift = make(project, "drift", venv=VENV).stdout
    assert "features drifted" in drift, drift
    # The data-dependent generated tests on each table; the whole suite runs on adopted tables
    # in test_adopt_tables.py (multi-class, regression) and on the sample in test_bake.py.
    run_checked([str(VENV / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", "-m", "data"],
                project, timeout=2400)  # fmt: skip
