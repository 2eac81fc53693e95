"""The evaluation gate per task: thresholds by direction, champion comparison, plots,
per-class reports and the model card.

The synthetic projects (tests/factories.py) have string labels, categoricals and nulls;
a fixed rule stands in for the model so every task is covered without training. One test
trains on the configured dataset and checks its configured thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.contracts.config import EvaluationSpec, load_model_config
from {{ cookiecutter.package_name }}.contracts.metrics import (
    METRIC_DIRECTIONS,
    TASK_METRICS,
    higher_is_better,
)
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.evaluation import gate, plots
from {{ cookiecutter.package_name }}.evaluation.gate import worse_than
from {{ cookiecutter.package_name }}.settings import Settings

import factories

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASKS = ("binary", "multiclass", "regression")
FILES = {
    "binary": [plots.CONFUSION_PNG, plots.ROC_PNG, plots.PR_PNG],
    "multiclass": [plots.CONFUSION_PNG, plots.CLASS_REPORT],
    "regression": [plots.RESIDUALS_PNG, plots.PREDICTED_PNG],
}


def test_every_metric_has_a_direction() -> None:
    assert {name for names in TASK_METRICS.values() for name in names} == set(METRIC_DIRECTIONS)
    assert {name for name, way in METRIC_DIRECTIONS.items() if way == "lower"} == {
        "log_loss", "rmse", "mae"
    }  # fmt: skip
    assert worse_than("rmse", 3.0, 2.0) and not worse_than("rmse", 1.0, 2.0)
    assert worse_than("r2", 0.1, 0.5) and not worse_than("r2", 0.9, 0.5)


def test_thresholds_are_minimums_or_maximums_by_direction() -> None:
    spec = EvaluationSpec(thresholds={"rmse": 10.0, "mae": 8.0, "r2": 0.5}, primary_metric="rmse")
    assert gate.threshold_failures({"rmse": 9.0, "mae": 8.0, "r2": 0.5}, spec) == []
    assert gate.threshold_failures({"rmse": 12.0, "mae": 7.0, "r2": 0.2}, spec) == [
        "rmse 12.0000 > maximum 10.0",
        "r2 0.2000 < minimum 0.5",
    ]


@pytest.mark.parametrize(("primary", "champion", "within", "worse"), [
    ("f1_macro", 0.80, 0.795, 0.78),  # higher is better: a lower candidate regresses
    ("rmse", 10.0, 10.005, 10.5),  # lower is better: a higher candidate regresses
    ("log_loss", 0.30, 0.305, 0.35),
])  # fmt: skip
def test_champion_comparison_respects_the_direction(
    primary: str, champion: float, within: float, worse: float
) -> None:
    spec = EvaluationSpec(thresholds={}, primary_metric=primary, champion_tolerance=0.01)
    better = champion + (0.05 if higher_is_better(primary) else -0.05)
    assert gate.champion_comparison({primary: within}, {primary: champion}, spec) == []
    assert gate.champion_comparison({primary: better}, {primary: champion}, spec) == []
    (failure,) = gate.champion_comparison({primary: worse}, {primary: champion}, spec)
    assert "regresses" in failure and ("lower is better" in failure) is (primary != "f1_macro")
    assert gate.champion_comparison({primary: worse}, None, spec) == []


def _spec(task: str) -> DatasetSpec:
    return DatasetSpec.model_validate(factories.dataset_section(task))


@pytest.mark.parametrize("task", TASKS)
def test_metric_names_must_belong_to_the_task(task: str) -> None:
    dataset = _spec(task)
    thresholds, primary = factories.THRESHOLDS[task]
    gate.check_metric_names(EvaluationSpec(thresholds=thresholds, primary_metric=primary), dataset)
    foreign = "roc_auc" if task == "regression" else "rmse"
    with pytest.raises(UserError, match=f"{foreign}.* are not {task} metrics") as caught:
        gate.check_metric_names(
            EvaluationSpec(thresholds={foreign: 0.5}, primary_metric=primary), dataset
        )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("task", TASKS)
def test_plots_and_report_files_per_task(tmp_path: Path, task: str) -> None:
    dataset = _spec(task)
    frame = factories.make_frame(task, 200, seed=3)
    output = factories.RuleModel(task).predict(frame)
    if task == "regression":
        y_true: np.ndarray = frame["target"].to_numpy(dtype=np.float64)
    else:
        y_true = frame["target"].map(dataset.classes.index).to_numpy(dtype=np.int64)
    (tmp_path / plots.PLOTS_DIR).mkdir()
    (tmp_path / plots.ROC_PNG).write_bytes(b"stale")  # another task's file is removed
    written = plots.write_plots(dataset, y_true, output, tmp_path)
    assert written == FILES[task]
    found = [f"{plots.PLOTS_DIR}/{path.name}" for path in (tmp_path / plots.PLOTS_DIR).iterdir()]
    assert sorted(found) == sorted(written)
    for name in written:
        if name.endswith(".png"):
            assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC), name
    if task == "multiclass":
        report = json.loads((tmp_path / plots.CLASS_REPORT).read_text())
        assert report["classes"] == ["high", "low", "mid"]
        per_class = report["per_class"]
        for label in ("high", "low", "mid"):
            assert set(per_class[label]) == {"precision", "recall", "f1", "support"}
        assert sum(per_class[label]["support"] for label in ("high", "low", "mid")) == 200
        assert np.asarray(report["confusion_matrix"]).sum() == 200


@pytest.fixture(params=TASKS)
def candidate(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, str]:  # fmt: skip
    task = str(request.param)
    settings = factories.make_project(tmp_path, task, pipeline={"registry_backend": "file"})
    factories.write_candidate(settings, task)
    monkeypatch.setattr(gate, "load_model", lambda _bundle: factories.RuleModel(task))
    return settings, task


def test_gate_writes_the_tasks_reports_and_card(candidate: tuple[Settings, str]) -> None:
    settings, task = candidate
    report = gate.run(settings)
    assert report["passed"], report["failures"]
    assert report["task"] == task and list(report["metrics"]) == list(TASK_METRICS[task])
    assert report["files"] == FILES[task] and report["champion"] is None
    reports = settings.resolve(settings.paths.reports_dir)
    saved = json.loads((reports / gate.METRICS_FILE).read_text())
    assert saved == json.loads(json.dumps(report))
    card = (reports / gate.MODEL_CARD).read_text()
    for section in ("## Intended use", "## Data", "### Features", "## Lineage", "## Metrics"):
        assert section in card
    assert f"synthetic-{task}-1" in card
    assert "| plan " in card and "categorical" in card and "numeric" in card
    for name in FILES[task]:
        assert name in card
    if task == "regression":
        assert "- Task: regression" in card and "Classes" not in card
        assert "maximum 50.0" in card and "minimum 0.0" in card  # rmse, r2
    else:
        labels = ["no", "yes"] if task == "binary" else ["high", "low", "mid"]
        assert "Classes (model-output order): " + ", ".join(f'`"{x}"`' for x in labels) in card
        assert "maximum" in card  # log_loss is bounded from above
    assert ('positive class `"yes"`' in card) is (task == "binary")


def _impossible(name: str) -> float:
    return 1.5 if higher_is_better(name) else -1.0


def test_gate_fails_on_the_wrong_side_of_any_bound(candidate: tuple[Settings, str]) -> None:
    settings, _task = candidate
    path = settings.resolve(settings.pipeline.model_config_file)
    import yaml

    config = yaml.safe_load(path.read_text())
    primary = config["evaluation"]["primary_metric"]
    config["evaluation"]["thresholds"][primary] = _impossible(primary)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    sign = "<" if higher_is_better(primary) else ">"
    with pytest.raises(GateFailedError, match=rf"{primary} \S+ {sign} ") as caught:
        gate.run(settings)
    assert "\n" not in str(caught.value)
    report = json.loads(
        (settings.resolve(settings.paths.reports_dir) / gate.METRICS_FILE).read_text()
    )
    assert not report["passed"] and report["failures"]


def test_a_worse_champion_passes_a_better_one_refuses(
    candidate: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, task = candidate
    dataset_config = factories.dataset_section(task)

    def champion(model: Any) -> Any:
        return lambda _settings, _id: (factories.fake_bundle(dataset_config, "champion-1"), model)

    monkeypatch.setattr(gate, "_champion", champion(factories.RuleModel(task, noise=2.0)))
    report = gate.run(settings)
    assert report["passed"] and report["champion"]["bundle_id"] == "champion-1"
    monkeypatch.setattr(gate, "load_model", lambda _bundle: factories.RuleModel(task, noise=2.0))
    monkeypatch.setattr(gate, "_champion", champion(factories.RuleModel(task)))
    with pytest.raises(GateFailedError, match="regresses against the champion"):
        gate.run(settings)


def test_a_champion_of_another_task_is_not_compared(
    candidate: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, task = candidate
    other = "regression" if task != "regression" else "binary"
    champion = factories.fake_bundle(factories.dataset_section(other), "champion-1")
    found = (champion, factories.RuleModel(other))
    monkeypatch.setattr(gate, "_champion", lambda _settings, _id: found)
    report = gate.run(settings)
    assert report["passed"] and report["champion"]["comparable"] is False
    card = (settings.resolve(settings.paths.reports_dir) / gate.MODEL_CARD).read_text()
    assert "not compared" in card


@pytest.fixture
def trained(tmp_path: Path, trained_copy: Callable[..., Settings]) -> Settings:
    return trained_copy(tmp_path, pipeline={"registry_backend": "file"})


@pytest.mark.data
def test_the_configured_model_meets_the_configured_thresholds(trained: Settings) -> None:
    """The model performance test on the configured dataset and its thresholds."""
    report = gate.run(trained)
    config = load_model_config(factories.PROJECT_ROOT / "configs" / "model_config.yaml")
    assert list(report["metrics"]) == list(TASK_METRICS[config.dataset.task])
    for name, bound in config.evaluation.thresholds.items():
        assert not worse_than(name, report["metrics"][name], bound), name
    assert report["passed"] and report["champion"] is None
    assert report["files"] == FILES[config.dataset.task]
