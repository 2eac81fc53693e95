"""What the project's DAGs share: where the project lives, how its CLI runs, DAG defaults.

Airflow puts its DAGs folder on sys.path, so the DAG files import this module as `_common`
(point AIRFLOW__CORE__DAGS_FOLDER at this directory). It defines no DAG itself.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = os.environ.get(
    f"{PACKAGE.upper()}_PROJECT_DIR", str(Path(__file__).resolve().parents[1])
)
# The project's Python: the Airflow environment's own, or a project virtualenv.
PYTHON = os.environ.get(f"{PACKAGE.upper()}_PYTHON", sys.executable)
CLI = f"{shlex.quote(PYTHON)} -m {PACKAGE}"


def dag_defaults(retry_delay: timedelta) -> dict[str, Any]:
    """DAG(...) arguments every project DAG uses: no backfill, one run at a time, one retry."""
    return {
        "start_date": datetime(2024, 1, 1),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {"retries": 1, "retry_delay": retry_delay},
    }


def cli_task(task_id: str, command: str, **kwargs: Any) -> BashOperator:
    """A task running `<package> <command>` (the same code as the Makefile) in the project."""
    return BashOperator(
        task_id=task_id,
        bash_command=f"{CLI} {command}",
        cwd=PROJECT_DIR,
        append_env=True,
        **kwargs,
    )
