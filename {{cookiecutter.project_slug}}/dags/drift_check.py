"""Airflow DAG: daily drift report and retraining decision.

`drift` compares the latest predictions with the training reference (JSON + HTML report and
gauges in reports/drift/); `retrain_check` decides from drift, online accuracy, feedback
volume and the schedule and records reports/retrain/decision.json (dry run: this DAG starts
the retraining itself); when retraining is due, the training DAG is triggered.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from _common import PACKAGE, PROJECT_DIR, cli_task, dag_defaults
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG

DAG_ID = f"{PACKAGE}_drift_check"
TRAINING_DAG_ID = f"{PACKAGE}_training"
DECISION = Path(PROJECT_DIR) / "reports/retrain/decision.json"


def retrain_needed(decision_file: str) -> bool:
    """True when the retrain-check decision asks for retraining."""
    decision = json.loads(Path(decision_file).read_text(encoding="utf-8"))
    return bool(decision["retrain"])


with DAG(
    dag_id=DAG_ID,
    description="Drift report, then retrain when drift, accuracy, feedback or schedule say so.",
    schedule="30 4 * * *",
    tags=["mlops", "monitoring", PACKAGE],
    **dag_defaults(retry_delay=timedelta(minutes=10)),
) as dag:
    drift = cli_task("drift", "drift")
    decide = cli_task("retrain_check", "retrain-check --dry-run")
    gate = ShortCircuitOperator(
        task_id="retrain_needed",
        python_callable=retrain_needed,
        op_kwargs={"decision_file": str(DECISION)},
    )
    retrain = TriggerDagRunOperator(task_id="trigger_training", trigger_dag_id=TRAINING_DAG_ID)
    drift >> decide >> gate >> retrain
