"""Airflow DAG: validate -> train -> evaluate -> optimize -> register.

Each task runs one stage of the project's CLI (the same code as `make <stage>`) in the
project directory, so Airflow adds scheduling, retries and history, not a second
implementation. The evaluation gate fails the run when the candidate is not good enough;
`register` makes a passing candidate the *challenger* (champion only when none exists yet),
so a retrained model never replaces the champion without `make promote`.

Deploy: install the project (`pip install ".[airflow]"`) into the Airflow image, or set
`{{ cookiecutter.package_name | upper }}_PYTHON` to a project virtualenv's python, and point
`{{ cookiecutter.package_name | upper }}_PROJECT_DIR` at a checkout holding configs/ and data/.
Triggered by the drift-check DAG or `{{ cookiecutter.package_name }} retrain-check`
(monitoring.retrain.trigger: airflow); also runs weekly.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PACKAGE = "{{ cookiecutter.package_name }}"
DAG_ID = f"{PACKAGE}_training"
PROJECT_DIR = os.environ.get(
    f"{PACKAGE.upper()}_PROJECT_DIR", str(Path(__file__).resolve().parents[1])
)
# The project's Python: the Airflow environment's own, or a project virtualenv.
PYTHON = os.environ.get(f"{PACKAGE.upper()}_PYTHON", sys.executable)
CLI = f"{shlex.quote(PYTHON)} -m {PACKAGE}"
STAGES = ("validate", "train", "evaluate", "optimize", "register")

with DAG(
    dag_id=DAG_ID,
    description="Validate, train, evaluate (gate), optimize and register the model as challenger.",
    schedule="0 3 * * 1",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["mlops", PACKAGE],
) as dag:
    previous: BashOperator | None = None
    for stage in STAGES:
        task = BashOperator(
            task_id=stage,
            bash_command=f"{CLI} {stage}",
            cwd=PROJECT_DIR,
            append_env=True,
            execution_timeout=timedelta(hours=2),
        )
        if previous is not None:
            previous >> task
        previous = task
