"""The one Spark session factory: batch scoring (`batch.spark`) and Spark training
(`training.spark`) start Spark here, on `batch.spark_master` or `SPARK_MASTER`.

pyspark is optional (the `[spark]` extra) and imported only inside `session`, so nothing else
pulls it in; without it, or without Java, the error is one line. Under spark-submit its
`--master` decides. Local workers run this interpreter, so they see this venv.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.settings import Settings

SPARK_MASTER_ENV = "SPARK_MASTER"
SUBMITTED_ENV = "PYSPARK_GATEWAY_PORT"  # set when spark-submit started this Python driver


def spark_master(settings: Settings) -> str:
    """`SPARK_MASTER`, else `batch.spark_master` (local[2], spark://..., yarn, k8s://...)."""
    return os.environ.get(SPARK_MASTER_ENV) or settings.batch.spark_master


def session(master: str, app: str, config: dict[str, str] | None = None) -> Any:
    """A SparkSession on `master` (one-line `UserError` without pyspark, Java or master)."""
    try:
        from pyspark.sql import SparkSession  # optional heavy stack: the [spark] extra
    except ImportError:
        raise UserError(
            "the spark engine needs pyspark and Java 17+: install the [spark] extra "
            "(make install EXTRAS=dev,spark) or use --engine local"
        ) from None
    if master.startswith("local"):  # local workers run this interpreter (this venv)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    if SUBMITTED_ENV not in os.environ:  # under spark-submit, its --master decides
        builder = builder.master(master)
    builder = (
        builder.appName(f"{{ cookiecutter.package_name }}-{app}")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as error:  # Java missing, master unreachable: py4j/pyspark errors
        detail = one_line(error)
        raise UserError(
            f"cannot start Spark on '{master}' ({detail}); check Java and the master"
        ) from None
