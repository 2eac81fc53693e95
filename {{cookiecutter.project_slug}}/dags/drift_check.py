"""Airflow DAG: daily drift report and retraining decision.

`drift` compares the latest predictions with the training reference (JSON + HTML report and
gauges in reports/drift/); `retrain_check` decides from drift, online accuracy, feedback
volume and the schedule and records reports/retrain/decision.json (dry run: this DAG starts
the retraining itself); when retraining is due, the training DAG is triggered.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG

PACKAGE = "{{ cookiecutter.package_name }}"
DAG_ID = f"{PACKAGE}_drift_check"
TRAINING_DAG_ID = f"{PACKAGE}_training"
PROJECT_DIR = os.environ.get(
    f"{PACKAGE.upper()}_PROJECT_DIR", str(Path(__file__).resolve().parents[1])
)
# The project's Python: the Airflow environment's own, or a project virtualenv.
PYTHON = os.environ.get(f"{PACKAGE.upper()}_PYTHON", sys.executable)
CLI = f"{shlex.quote(PYTHON)} -m {PACKAGE}"
DECISION = Path(PROJECT_DIR) / "reports/retrain/decision.json"


def retrain_needed(decision_file: str) -> bool:
    """True when the retrain-check decision asks for retraining."""
    decision = json.loads(Path(decision_file).read_text(encoding="utf-8"))
    return bool(decision["retrain"])


with DAG(
    dag_id=DAG_ID,
    description="Drift report, then retrain when drift, accuracy, feedback or schedule say so.",
    schedule="30 4 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    tags=["mlops", "monitoring", PACKAGE],
) as dag:
    drift = BashOperator(
        task_id="drift", bash_command=f"{CLI} drift", cwd=PROJECT_DIR, append_env=True
    )
    decide = BashOperator(
        task_id="retrain_check",
        bash_command=f"{CLI} retrain-check --dry-run",
        cwd=PROJECT_DIR,
        append_env=True,
    )
    gate = ShortCircuitOperator(
        task_id="retrain_needed",
        python_callable=retrain_needed,
        op_kwargs={"decision_file": str(DECISION)},
    )
    retrain = TriggerDagRunOperator(task_id="trigger_training", trigger_dag_id=TRAINING_DAG_ID)
    drift >> decide >> gate >> retrain
