"""The Airflow DAGs import cleanly (DagBag) and chain the stages in order."""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"
PACKAGE = "{{ cookiecutter.package_name }}"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("airflow-home")
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
    assert set(dagbag.dag_ids) == {f"{PACKAGE}_training", f"{PACKAGE}_drift_check"}


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
