"""The Airflow DAGs import cleanly (DagBag), chain the stages in order, and the batch DAG's
commands, rendered as Airflow renders them for one date, score and check drift for real."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from factories import FILE_REGISTRY_ENV

DAGS = Path(__file__).resolve().parents[1] / "dags"
PACKAGE = "{{ cookiecutter.package_name }}"
PREFIX = PACKAGE.upper()


@pytest.fixture(scope="module")
def batch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-outputs")


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory, batch_root: Path) -> Any:
    home = tmp_path_factory.mktemp("airflow-home")
    os.environ[f"{PREFIX}_BATCH_ROOT"] = str(batch_root)  # read when the DAG file is parsed
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    # Airflow's dag processor puts the DAG bundle (dags/) on sys.path: dags/_common.py imports.
    if str(DAGS) not in sys.path:
        sys.path.append(str(DAGS))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dags_import_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        f"{PACKAGE}_training",
        f"{PACKAGE}_drift_check",
        f"{PACKAGE}_batch_scoring",
    }


def test_training_dag_runs_the_stages_in_order(dagbag: Any) -> None:
    dag = dagbag.dags[f"{PACKAGE}_training"]
    order = ["validate", "train", "evaluate", "optimize", "register"]
    assert sorted(dag.task_ids) == sorted(order)
    for before, after in itertools.pairwise(order):
        assert dag.get_task(before).downstream_task_ids == {after}
    assert dag.get_task("evaluate").bash_command.endswith(f"-m {PACKAGE} evaluate")
    assert dag.max_active_runs == 1


def test_drift_dag_triggers_training_only_when_needed(dagbag: Any, tmp_path: Path) -> None:
    dag = dagbag.dags[f"{PACKAGE}_drift_check"]
    assert dag.get_task("drift").downstream_task_ids == {"retrain_check"}
    assert dag.get_task("retrain_needed").downstream_task_ids == {"trigger_training"}
    assert dag.get_task("trigger_training").trigger_dag_id == f"{PACKAGE}_training"
    gate = dag.get_task("retrain_needed").python_callable
    decision = tmp_path / "decision.json"
    decision.write_text(json.dumps({"retrain": True, "reasons": ["data drift"]}))
    assert gate(str(decision)) is True
    decision.write_text(json.dumps({"retrain": False, "reasons": []}))
    assert gate(str(decision)) is False


def test_batch_dag_scores_with_the_champion_then_checks_drift(
    dagbag: Any, batch_root: Path, champion_root: Path
) -> None:
    dag = dagbag.dags[f"{PACKAGE}_batch_scoring"]
    score, drift = dag.get_task("batch_score"), dag.get_task("batch_drift")
    assert score.downstream_task_ids == {"batch_drift"}
    assert dag.max_active_runs == 1
    env = os.environ | FILE_REGISTRY_ENV
    for task in (score, drift):  # as Airflow renders the template for one logical date
        command = jinja2.Template(task.bash_command).render(ds="2026-12-01")
        done = subprocess.run(
            ["bash", "-c", command], cwd=champion_root, env=env,
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
    output = batch_root / "2026-12-01"
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["model"]["reference"] == "champion" and manifest["status"] == "complete"
    assert manifest["rows"]["scored"] > 0
    assert f"current: {output}" in done.stdout
