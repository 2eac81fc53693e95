"""The orchestrator option (Airflow DAGs, Kubeflow pipeline) and the Feast feature store.

Fast checks render each value and look at the files and defaults. Slow checks install the
generated project with its extra (cached venv) and run its `make lint` plus the generated
tests: DagBag imports with zero errors, the KFP pipeline compiles, and Feast applies,
materializes and serves features offline (`make data features`, then tests/test_feast.py), and
the pipeline trains from Feast historical features while the server answers
`POST /predict/entities` from the online store (tests/test_feast_serving.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import VENV_CACHE, make, render


@pytest.mark.parametrize(
    ("orchestrator", "present", "absent", "trigger"),
    [
        ("none", [], ["dags", "pipelines"], "github"),
        ("airflow", ["dags/training_pipeline.py", "dags/drift_check.py"], ["pipelines"], "airflow"),
        ("kubeflow", ["pipelines/training_pipeline.py"], ["dags"], "kubeflow"),
    ],
)
def test_orchestrator_files_and_retrain_trigger(
    tmp_path: Path, orchestrator: str, present: list[str], absent: list[str], trigger: str
) -> None:
    project = render(tmp_path, orchestrator=orchestrator)
    for path in present:
        assert (project / path).is_file(), path
    for path in absent:
        assert not (project / path).exists(), path
    settings = yaml.safe_load((project / "configs/settings.yaml").read_text())
    assert settings["monitoring"]["retrain"]["trigger"] == trigger
    makefile = (project / "Makefile").read_text()
    extras = "dev" if orchestrator == "none" else f"dev,{orchestrator}"
    assert f"EXTRAS ?= {extras}\n" in makefile


def test_gitlab_only_has_no_trigger_client(tmp_path: Path) -> None:
    project = render(tmp_path, use_github_actions=False, use_jenkins=False, use_gitlab_ci=True)
    settings = yaml.safe_load((project / "configs/settings.yaml").read_text())
    assert settings["monitoring"]["retrain"]["trigger"] == "none"


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ["airflow", "kubeflow"])
def test_orchestrator_project_lints_and_its_dags_load(
    tmp_path_factory: pytest.TempPathFactory, orchestrator: str
) -> None:
    project = render(
        tmp_path_factory.mktemp(f"orchestrator-{orchestrator}"), orchestrator=orchestrator
    )
    venv = VENV_CACHE / f"bake-{orchestrator}"
    make(project, "install", "lint", venv=venv)
    result = subprocess.run(
        [str(venv / "bin/pytest"), "-q", "-p", "no:cacheprovider",
         f"tests/test_orchestration_{orchestrator}.py"],
        cwd=project, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_feast_files_only_with_the_feast_option(tmp_path: Path) -> None:
    with_feast = render(tmp_path / "feast", feature_store="feast")
    assert (with_feast / "feature_repo/feature_store.yaml").is_file()
    assert "feast-prepare" in (with_feast / "src/churn_model/cli/operate.py").read_text()
    assert "EXTRAS ?= dev,feast\n" in (with_feast / "Makefile").read_text()
    assert "\ntrain: features\n" in (with_feast / "Makefile").read_text()
    package = with_feast / "src/churn_model"
    assert "add_entity_route(" in (package / "serving/app.py").read_text()
    assert "training_frame(settings" in (package / "training/stage.py").read_text()
    assert "sync(settings" in (package / "pipeline.py").read_text()
    without = render(tmp_path / "plain")
    assert not (without / "feature_repo").exists()
    assert not (without / "src/churn_model/feature_store.py").exists()
    assert not (without / "src/churn_model/serving/online_features.py").exists()
    for module in ("cli/operate.py", "serving/app.py", "training/stage.py", "pipeline.py"):
        text = (without / "src/churn_model" / module).read_text()
        assert "feast" not in text and "feature_store" not in text, module
    assert "train: features" not in (without / "Makefile").read_text()


@pytest.mark.slow
def test_feast_project_applies_materializes_and_serves(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = render(tmp_path_factory.mktemp("feature-store-feast"), feature_store="feast")
    venv = VENV_CACHE / "bake-feast"
    make(project, "install", "lint", "data", "features", venv=venv)
    assert (project / "data/feast/online_store.db").is_file()
    assert (project / "data/feast/registry.db").is_file()
    result = subprocess.run(
        [str(venv / "bin/pytest"), "-q", "-p", "no:cacheprovider", "tests/test_feast.py",
         "tests/test_feast_serving.py"],
        cwd=project, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "15 passed" in result.stdout and "skipped" not in result.stdout
