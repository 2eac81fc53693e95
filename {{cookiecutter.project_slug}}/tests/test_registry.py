"""The registry: versions, champion / challenger aliases, promotion, resolution, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.evaluation import gate
from {{ cookiecutter.package_name }}.pipeline import data as data_stage
from {{ cookiecutter.package_name }}.registry import open_registry, promote, register, resolve_bundle
from {{ cookiecutter.package_name }}.settings import Settings, load_settings
from {{ cookiecutter.package_name }}.training import load_model, stage

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BACKENDS = [{% if cookiecutter.experiment_tracking == "mlflow" %}"mlflow", {% endif %}"file"]


def _evaluated(root: Path, backend: str) -> Settings:
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs", dirs_exist_ok=True)
    settings = load_settings(project_root=root, pipeline={"registry_backend": backend})
    data_stage(settings)
    stage.run(settings)
    gate.run(settings)
    return settings


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return str(request.param)


def test_champion_challenger_lifecycle(tmp_path: Path, backend: str) -> None:
    settings = _evaluated(tmp_path, backend)
    first = register(settings)
    assert first["version"] == 1
    assert first["aliases"] == {"champion": 1, "challenger": 1}  # the first becomes champion
    champion = resolve_bundle("champion", settings)
    assert load_model(champion).feature_names
    assert (champion / "model_card.md").is_file() and (champion / "metrics.json").is_file()
    assert "metrics" in (champion / "model_config.yaml").read_text()

    _evaluated(tmp_path, backend)  # retrain; the gate compares with the champion
    report = json.loads((tmp_path / "reports" / gate.METRICS_FILE).read_text())
    assert report["champion"] is not None
    second = register(settings)
    assert second["aliases"] == {"champion": 1, "challenger": 2}
    assert resolve_bundle("challenger", settings) != resolve_bundle("champion", settings)

    assert promote(settings) == {"champion": 2, "previous_champion": 1}
    assert resolve_bundle("champion", settings) == resolve_bundle("challenger", settings)
    versions = open_registry(settings).versions()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["aliases"] == ["challenger", "champion"]


{% if cookiecutter.experiment_tracking == "mlflow" -%}
def test_mlflow_store_defaults_to_the_project_unless_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from {{ cookiecutter.package_name }}.registry.mlflow_registry import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = load_settings(project_root=tmp_path)
    assert tracking_uri(settings) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert tracking_uri(settings) == "http://mlflow.internal:5000"


{% endif -%}
def test_empty_registry_refuses_politely(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    settings = load_settings(project_root=tmp_path, pipeline={"registry_backend": "file"})
    with pytest.raises(UserError, match="no model has the 'champion' alias"):
        resolve_bundle("champion", settings)
    with pytest.raises(UserError, match="unknown alias"):
        resolve_bundle("best", settings)
    with pytest.raises(UserError, match="no challenger"):
        promote(settings)


def test_register_needs_a_passing_evaluation_of_this_candidate(tmp_path: Path) -> None:
    settings = _evaluated(tmp_path, "file")
    metrics = tmp_path / "reports" / gate.METRICS_FILE
    report = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({**report, "passed": False, "failures": ["recall low"]}))
    with pytest.raises(GateFailedError, match="recall low"):
        register(settings)
    metrics.write_text(json.dumps({**report, "bundle_id": "another"}))
    with pytest.raises(UserError, match="run `make evaluate` again"):
        register(settings)
    metrics.unlink()
    with pytest.raises(UserError, match="run `make evaluate` before registering"):
        register(settings)
