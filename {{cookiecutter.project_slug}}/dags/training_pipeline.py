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

from datetime import timedelta

from _common import PACKAGE, cli_task, dag_defaults
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

DAG_ID = f"{PACKAGE}_training"
STAGES = ("validate", "train", "evaluate", "optimize", "register")

with DAG(
    dag_id=DAG_ID,
    description="Validate, train, evaluate (gate), optimize and register the model as challenger.",
    schedule="0 3 * * 1",
    tags=["mlops", PACKAGE],
    **dag_defaults(retry_delay=timedelta(minutes=5)),
) as dag:
    previous: BashOperator | None = None
    for stage in STAGES:
        task = cli_task(stage, stage, execution_timeout=timedelta(hours=2))
        if previous is not None:
            previous >> task
        previous = task
