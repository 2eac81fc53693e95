"""`bench-model`: the candidate against a notebook's gradient boosting on the same split."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.benchmarks import model as bench
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training import stage

from factories import TASKS, make_project


@pytest.mark.parametrize("task", TASKS)
def test_the_candidate_is_compared_on_the_same_split(task: str, tmp_path: Path) -> None:
    settings = make_project(tmp_path, task, seed=0)
    stage.run(settings)
    text, code = bench.run(settings, flaml_seconds=0)
    report = json.loads((tmp_path / "reports" / bench.REPORT).read_text(encoding="utf-8"))
    names = [row["name"] for row in report["rows"]]
    assert names == [
        "this project (linear)",
        "HistGradientBoosting, defaults",
        "LightGBM, defaults",
    ]
    assert all(name in text for name in names)
    primary = report["primary_metric"]
    higher = primary not in ("rmse", "mae", "log_loss")
    metrics = [row["metric"] for row in report["rows"]]
    best = (max if higher else min)(metrics[1:])
    assert report["rows"][0]["gap_percent"] == pytest.approx(
        bench.gap(metrics[0], best, primary), abs=1e-3
    )
    assert report["passed"] == (report["rows"][0]["gap_percent"] >= -1.0)
    assert code == (0 if report["passed"] else 1)


def test_gap_follows_the_metric_direction() -> None:
    assert bench.gap(0.9, 1.0, "roc_auc") == pytest.approx(-10.0)
    assert bench.gap(90.0, 100.0, "rmse") == pytest.approx(10.0)
    assert bench.gap(110.0, 100.0, "rmse") == pytest.approx(-10.0)


def test_missing_inputs_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_project(tmp_path, "binary", seed=0)
    with pytest.raises(UserError, match=r"model_config.yaml not found; run `make pipeline`"):
        bench.run(settings, flaml_seconds=0)
    stage.run(settings)
    monkeypatch.setitem(sys.modules, "flaml", None)  # as if the [bench] extra were missing
    with pytest.raises(UserError) as raised:
        bench.run(settings, flaml_seconds=5)
    assert str(raised.value).startswith("bench-model's FLAML baseline needs flaml: install")
    assert "\n" not in str(raised.value)
