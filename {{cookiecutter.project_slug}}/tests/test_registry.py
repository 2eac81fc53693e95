"""The registry: versions, champion / challenger aliases, promotion, resolution, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }} import optimization
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.evaluation import gate
from {{ cookiecutter.package_name }}.registry import (
    export_bundle,
    open_registry,
    promote,
    register,
    resolve_bundle,
)
from {{ cookiecutter.package_name }}.runtime.mlflow_model import _load_pyfunc
from {{ cookiecutter.package_name }}.settings import Settings, load_settings
from {{ cookiecutter.package_name }}.training import load_model, stage

import factories
from factories import PROJECT_ROOT

pytestmark = pytest.mark.data  # a project built from the configured dataset
BACKENDS = [{% if cookiecutter.experiment_tracking == "mlflow" %}"mlflow", {% endif %}"file"]


def _evaluated(root: Path, backend: str) -> Settings:
    settings = factories.copy_project(root, pipeline={"registry_backend": backend})
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


@pytest.mark.parametrize("uri", ["ftp://mlflow.internal/store", "s3://bucket/mlflow", "nope:x"])
def test_unsupported_tracking_uri_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    uri: str,
) -> None:
    from {{ cookiecutter.package_name }}.cli import main

    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("{{ cookiecutter.package_name | upper }}_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for command in (["resolve", "champion"], ["serve"]):
        with pytest.raises(SystemExit) as exited:
            main(command)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: MLFLOW_TRACKING_URI=") and "unsupported scheme" in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_registry_outage_is_an_error_never_no_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    settings = _evaluated(tmp_path, "mlflow")  # a candidate the gate could compare
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.raises(UserError, match="failed to read the 'champion' alias") as caught:
        resolve_bundle("champion", settings)
    assert "no model has" not in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(UserError, match="failed to read the 'champion' alias"):
        gate.run(settings)  # an outage never lets a candidate pass as "the first model"

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database" * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{broken}")
    with pytest.raises(UserError, match="the MLflow registry at sqlite"):
        resolve_bundle("champion", settings)


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


def _optimized(root: Path, backend: str) -> Settings:
    settings = _evaluated(root, backend)
    optimization.run(settings)
    return settings


def test_registered_versions_are_mlflow_models(tmp_path: Path, backend: str) -> None:
    settings = _optimized(tmp_path, backend)
    register(settings)
    champion = resolve_bundle("champion", settings)
    mlmodel = yaml.safe_load((champion / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "{{ cookiecutter.package_name }}.runtime.mlflow_model"
{%- if cookiecutter.ml_framework == "scikit-learn" %}
    assert (champion / mlmodel["flavors"]["sklearn"]["pickled_model"]).is_file()
{%- endif %}
    inputs = [column["name"] for column in json.loads(mlmodel["signature"]["inputs"])]
    assert inputs == load_model(champion).spec.input_columns  # what a client sends
    example_file = champion / mlmodel["saved_input_example_info"]["artifact_path"]
    example = json.loads(example_file.read_text())
    frame = pd.DataFrame(example["data"], columns=example["columns"])
    assert (champion / "optimized" / "parity.json").is_file()
    assert (champion / "model_config.yaml").is_file()  # lineage travels inside the model
    predicted = _load_pyfunc(str(champion)).predict(frame)
    spec = load_model(champion).spec
    if spec.task == "regression":
        assert list(predicted.columns) == ["prediction"]
    else:
        per_class = [f"probability_{label}" for label in spec.classes]
        extra = per_class if spec.task == "multiclass" else []
        assert list(predicted.columns) == ["probability", "prediction", *extra]
        assert 0.0 <= float(predicted["probability"].iloc[0]) <= 1.0
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    import mlflow.pyfunc

    loaded = mlflow.pyfunc.load_model(str(champion))  # MLflow's own loader, same directory
    pd.testing.assert_frame_equal(loaded.predict(frame), predicted)
{%- endif %}

    exported = export_bundle("champion", settings, tmp_path / "context" / "champion")
    assert exported == "{{ cookiecutter.project_slug }}-v1"
    copy = tmp_path / "context" / "champion"
    assert (copy / "REGISTRY_VERSION").read_text().strip() == exported
    assert yaml.safe_load((copy / "model_config.yaml").read_text())["version"] == exported
    assert (copy / "MLmodel").read_bytes() == (champion / "MLmodel").read_bytes()


def test_failed_parity_blocks_register(tmp_path: Path) -> None:
    settings = _optimized(tmp_path, "file")
    parity_path = settings.resolve(settings.pipeline.candidate_dir) / "optimized" / "parity.json"
    report = json.loads(parity_path.read_text())
    variant = next(iter(report["variants"]))
    report["passed"] = False
    report["variants"][variant] |= {"passed": False, "failures": ["max_probability_diff 0.0776"]}
    parity_path.write_text(json.dumps(report))
    with pytest.raises(GateFailedError, match="failed its parity check") as caught:
        register(settings)
    assert "\n" not in str(caught.value) and "0.0776" in str(caught.value)
    assert open_registry(settings).versions() == []
    parity_path.unlink()  # an artifact that was never checked is refused too
    with pytest.raises(GateFailedError, match="never checked"):
        register(settings)
