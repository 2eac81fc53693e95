"""Airflow DAG: daily batch scoring, then the scored batch's drift against the reference.

`batch_score` scores a table with the registry's champion into one output directory per
logical date. The job writes to a hidden sibling and renames it at the end, so a failed try
leaves nothing that looks complete, and `--force` lets a retry replace the same date's
output. Too many rejected rows fail the task (exit 1, batch.max_rejected_share).
`batch_drift` compares the scored rows with the training reference (reports/drift/).

Environment of the DAG processor:
- {{ cookiecutter.package_name | upper }}_BATCH_INPUT: CSV/Parquet file or directory (default: data/raw)
- {{ cookiecutter.package_name | upper }}_BATCH_ROOT: where the dated outputs go (default: data/batch)
- {{ cookiecutter.package_name | upper }}_BATCH_ENGINE: local, or spark with SPARK_MASTER
"""

from __future__ import annotations

import os
import shlex
from datetime import timedelta
from pathlib import Path

from _common import PACKAGE, PROJECT_DIR, cli_task, dag_defaults
from airflow.sdk import DAG

DAG_ID = f"{PACKAGE}_batch_scoring"
PREFIX = PACKAGE.upper()
BATCH_INPUT = shlex.quote(os.environ.get(f"{PREFIX}_BATCH_INPUT", "data/raw"))
BATCH_ROOT = os.environ.get(f"{PREFIX}_BATCH_ROOT", str(Path(PROJECT_DIR) / "data/batch"))
ENGINE = shlex.quote(os.environ.get(f"{PREFIX}_BATCH_ENGINE", "local"))
# One directory per logical date: Airflow renders {% raw %}{{ ds }}{% endraw %} in the command.
OUTPUT = shlex.quote(BATCH_ROOT) + "/{% raw %}{{ ds }}{% endraw %}"

with DAG(
    dag_id=DAG_ID,
    description="Score the day's batch with the champion, then check the batch's drift.",
    schedule="0 5 * * *",
    tags=["mlops", "batch", PACKAGE],
    **dag_defaults(retry_delay=timedelta(minutes=10)),
) as dag:
    score = cli_task(
        "batch_score",
        f"batch-score --input {BATCH_INPUT} --output {OUTPUT} --model champion "
        f"--engine {ENGINE} --force",
        execution_timeout=timedelta(hours=6),
    )
    drift = cli_task("batch_drift", f"drift --current {OUTPUT}")
    score >> drift
