"""The evaluation gate: model performance against the configured thresholds, champion check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.evaluation import gate
from {{ cookiecutter.package_name }}.evaluation.metrics import METRICS
from {{ cookiecutter.package_name }}.pipeline import data as data_stage
from {{ cookiecutter.package_name }}.settings import Settings, load_settings
from {{ cookiecutter.package_name }}.training import load_model_config, stage

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def trained(tmp_path: Path) -> Settings:
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    settings = load_settings(project_root=tmp_path, pipeline={"registry_backend": "file"})
    data_stage(settings)
    stage.run(settings)
    return settings


def _set_thresholds(settings: Settings, **thresholds: float) -> None:
    path = settings.resolve(settings.pipeline.model_config_file)
    config = yaml.safe_load(path.read_text())
    config["evaluation"]["thresholds"].update(thresholds)
    path.write_text(yaml.safe_dump(config))


def test_model_meets_the_configured_thresholds(trained: Settings) -> None:
    """The model performance test: every metric at or above its threshold in the config."""
    report = gate.run(trained)
    thresholds = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml").evaluation
    assert set(report["metrics"]) == set(METRICS)
    for name, minimum in thresholds.thresholds.items():
        assert report["metrics"][name] >= minimum, name
    assert report["passed"] and report["champion"] is None


def test_reports_plots_and_model_card(trained: Settings) -> None:
    gate.run(trained)
    reports = trained.resolve(trained.paths.reports_dir)
    saved = json.loads((reports / gate.METRICS_FILE).read_text())
    assert saved["passed"] and set(saved["metrics"]) == set(METRICS)
    for name in (gate.CONFUSION_PNG, gate.ROC_PNG):
        assert (reports / name).read_bytes().startswith(PNG_MAGIC)
    card = (reports / gate.MODEL_CARD).read_text()
    for section in ("## Intended use", "## Data", "## Lineage", "## Metrics", gate.ROC_PNG):
        assert section in card
    assert saved["bundle_id"] in card


def test_gate_fails_below_a_threshold(trained: Settings) -> None:
    _set_thresholds(trained, recall=0.9999)
    with pytest.raises(GateFailedError, match=r"recall 0\.\d+ < threshold 0.9999") as caught:
        gate.run(trained)
    assert "\n" not in str(caught.value)
    report = json.loads(
        (trained.resolve(trained.paths.reports_dir) / gate.METRICS_FILE).read_text()
    )
    assert not report["passed"] and report["failures"]


def test_unknown_metric_in_config(trained: Settings) -> None:
    _set_thresholds(trained, balanced_accuracy=0.5)
    with pytest.raises(UserError, match="balanced_accuracy"):
        gate.run(trained)


def test_champion_regression_is_refused() -> None:
    spec = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml").evaluation
    champion = dict.fromkeys(METRICS, 0.99)
    within = {**champion, spec.primary_metric: 0.99 - spec.champion_tolerance / 2}
    worse = {**champion, spec.primary_metric: 0.99 - spec.champion_tolerance * 2}
    assert gate.champion_comparison(within, champion, spec) == []
    assert "regresses" in gate.champion_comparison(worse, champion, spec)[0]
    assert gate.champion_comparison(worse, None, spec) == []
