"""`make bench-batch`: batch scoring throughput and memory, side by side in one run.

Rows/s of the local engine, of the Spark engine on `local[2]` (`mapInPandas` over our
predictor, what `--engine spark` runs), of `mlflow.pyfunc.spark_udf` on the same bundle
(the alternative the Spark engine was measured against), and of a naive loop calling the
model's predict once per row; plus the local engine's peak RSS at 1x and 10x the input. Each
engine run is its own process (`bench-batch --child`), so peak RSS is that run's alone. Spark
timings include starting the session. Targets: local >= 50x naive; RSS at 10x <= 1.5x RSS at 1x.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from {{ cookiecutter.package_name }}.batch.job import batch_score
from {{ cookiecutter.package_name }}.batch.model import load_model
from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.settings import get_settings
from {{ cookiecutter.package_name }}.tables import render

SPEEDUP_TARGET = 50.0
RSS_TARGET = 1.5
NAIVE_ROWS = 2000


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_inputs(directory: Path, rows: int, copies: int) -> Path:
    """`copies` Parquet files of `rows` rows each (the training data repeated)."""
    settings = get_settings()
    spec = settings.read_model_config().dataset
    sample = read_table(settings.resolve(spec.path))
    table = pa.Table.from_pandas(
        pd.concat([sample] * (rows // len(sample) + 1), ignore_index=True).head(rows),
        preserve_index=False,
    )
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(copies):
        pq.write_table(table, directory / f"part-{index:03d}.parquet")
    return directory


def child(engine: str, source: Path, output: Path) -> dict[str, Any]:
    """One measured run in this process: rows, seconds, rows/s, peak RSS."""
    settings = get_settings()
    started = time.perf_counter()
    if engine == "spark_udf":
        rows = _spark_udf(settings, source, output)
    else:
        manifest = batch_score(settings, source, output, engine=engine, progress=False)
        rows = manifest.rows["input"]
        started += manifest.seconds["load_model"]  # loading the model is paid once per run
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "rss_mib": _peak_rss_mib()}  # fmt: skip


def _spark_udf(settings: Any, source: Path, output: Path) -> int:
    """MLflow's own Spark scoring of the champion's bundle (an MLflow model directory)."""
    # Imported here: pyspark and full MLflow are this comparison's own, optional stacks.
    import mlflow.pyfunc

    from {{ cookiecutter.package_name }}.data.spark import session, spark_master

    model = load_model("champion", settings)
    arrow = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(settings.batch.batch_size)}
    spark = session(spark_master(settings), "bench-batch", arrow)
    try:
        frame = spark.read.parquet(str(source)).select(*model.feature_names)
        udf = mlflow.pyfunc.spark_udf(spark, str(model.bundle), env_manager="local")
        frame.withColumn("prediction", udf(*model.feature_names)).write.parquet(str(output))
        return int(spark.read.parquet(str(output)).count())
    finally:
        spark.stop()


def naive(source: Path) -> dict[str, Any]:
    """The model's predict called once per row, on the first NAIVE_ROWS rows."""
    model = load_model("champion", get_settings())
    frame = pq.read_table(next(source.glob("*.parquet"))).to_pandas().head(NAIVE_ROWS)
    features = frame[model.feature_names]
    started = time.perf_counter()
    for index in range(len(features)):
        model.predict(features.iloc[[index]])
    seconds = time.perf_counter() - started
    return {"rows": len(features), "seconds": seconds, "rows_per_s": len(features) / seconds,
            "rss_mib": None}  # fmt: skip


def _in_subprocess(engine: str, source: Path, output: Path) -> dict[str, Any] | str:
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "bench-batch", "--child", engine, str(source),
               str(output)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        return f"failed: {(errors or ['no output'])[-1][:100]}"
    measured: dict[str, Any] = json.loads(lines[-1])
    return measured


def run(rows: int) -> int:
    results: list[tuple[str, dict[str, Any] | str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        scratch = Path(tmp)
        one = write_inputs(scratch / "in-1x", rows, 1)
        ten = write_inputs(scratch / "in-10x", rows, 10)
        plan = [("local engine, 1x", "local", one), ("local engine, 10x", "local", ten),
                ("spark local[2] mapInPandas (--engine spark), 1x", "spark", one),
                ("spark local[2] mlflow.pyfunc.spark_udf, 1x", "spark_udf", one)]  # fmt: skip
        for index, (name, engine, source) in enumerate(plan):
            print(f"[{index + 1}/{len(plan) + 1}] {name} ...", file=sys.stderr, flush=True)
            results.append((name, _in_subprocess(engine, source, scratch / f"out-{index}")))
        print(f"[{len(plan) + 1}/{len(plan) + 1}] naive per-row loop ...", file=sys.stderr)
        results.append(("naive loop: predict per row", naive(one)))
    return report(results)


def report(results: list[tuple[str, dict[str, Any] | str]]) -> int:
    measured = {name: value for name, value in results if isinstance(value, dict)}
    base = measured.get("naive loop: predict per row", {}).get("rows_per_s")
    table = []
    for name, value in results:
        if isinstance(value, str):
            table.append([name, "-", "-", "-", "-", value])
            continue
        speedup = f"{value['rows_per_s'] / base:,.0f}x" if base else "-"
        rss = f"{value['rss_mib']:,.0f}" if value["rss_mib"] is not None else "-"
        table.append([name, f"{value['rows']:,}", f"{value['seconds']:.2f}",
                      f"{value['rows_per_s']:,.0f}", speedup, rss])  # fmt: skip
    headers = ["engine", "rows", "seconds", "rows/s", "vs naive", "peak RSS MiB"]
    print(render(headers, table, right=headers[1:]))
    local1, local10 = measured.get("local engine, 1x"), measured.get("local engine, 10x")
    if not (local1 and local10 and base):
        print("targets: not measured (a run failed)")
        return 1
    speedup = local10["rows_per_s"] / base
    growth = local10["rss_mib"] / local1["rss_mib"]
    ok = speedup >= SPEEDUP_TARGET and growth <= RSS_TARGET
    print(f"local engine vs naive loop: {speedup:,.0f}x (target >= {SPEEDUP_TARGET:.0f}x); "
          f"peak RSS 10x / 1x: {growth:.2f} (target <= {RSS_TARGET}): "
          f"{'ok' if ok else 'MISSED'}")  # fmt: skip
    return 0 if ok else 1
