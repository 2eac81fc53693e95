"""The Spark engine: the same job on a cluster (`batch.spark_master` or `SPARK_MASTER`).

Spark reads the inputs (CSV as text, like the local engine), and `mapInPandas` runs
`score.score_batch` (the local engine's code, hence the same predictions, columns and
reasons) in every task over a model each Python worker loads once from the bundle. Scored
and rejected rows leave the tasks as one stream, cached and split into `predictions/` and
`rejected/`. Spark cannot number the rows of a file, so `rejected.row` is null here.

Why not `mlflow.pyfunc.spark_udf` on the registered model: it returns one column per row
and cannot set bad rows aside with a reason, and it is not faster: `make bench-batch` on
`local[2]`, 200 000 rows, measured 8 923 rows/s for this engine and 7 361 for spark_udf on a
quiet machine (6 620 and 7 265 on a busy one; spark_udf writing only the prediction), both
dominated by starting Spark (~20 s). Under spark-submit
its `--master` is used; executors need this project installed (the same image or wheel).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pyarrow as pa

from {{ cookiecutter.package_name }}.batch.engine import Counts, EngineRun
from {{ cookiecutter.package_name }}.batch.io import PREDICTIONS_DIR, REJECTED_DIR
from {{ cookiecutter.package_name }}.batch.model import (
    CATEGORICAL,
    PREDICTION,
    PROBABILITY_PREFIX,
    SCORE,
    BatchModel,
    label_dtype,
    model_from_bundle,
)
from {{ cookiecutter.package_name }}.batch.score import (
    MODEL_VERSION,
    REASON,
    ROW,
    RUN_ID,
    SOURCE_FILE,
    output_names,
    score_batch,
)
from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.data.spark import session
from {{ cookiecutter.package_name }}.errors import UserError

NULLABLE = {"bigint": "Int64", "boolean": "boolean"}  # Spark type -> pandas nullable type
_MODELS: dict[str, BatchModel] = {}  # per Python worker: load the bundle once, not per task


def _read(spark: Any, job: EngineRun) -> Any:
    from pyspark.sql import functions as sf

    columns = job.columns
    frames = []
    for fmt in ("csv", "parquet"):
        paths = [str(item.path) for item in job.inputs if item.format == fmt]
        if not paths:
            continue
        reader = spark.read.option("header", "true") if fmt == "csv" else spark.read
        frame = reader.format(fmt).load(paths)
        frames.append(frame.select(*columns).withColumn(SOURCE_FILE, sf.input_file_name()))
    if len(frames) > 1:  # a column typed differently in CSV and Parquet: text in both
        types = [dict(frame.dtypes) for frame in frames]
        mixed = {name for name in columns if len({kinds[name] for kinds in types}) > 1}
        frames = [
            frame.select(*[sf.col(c).cast("string").alias(c) if c in mixed else sf.col(c)
                           for c in frame.columns])
            for frame in frames
        ]  # fmt: skip
    combined = frames[0]
    for other in frames[1:]:
        combined = combined.unionByName(other)
    return combined


def _output_schema(job: EngineRun, source: Any) -> Any:
    from pyspark.sql import types as st

    model, include_features = job.model, job.options.include_features
    by_name = {field.name: field.dataType for field in source.schema.fields}
    fields = [st.StructField(name, by_name[name]) for name in job.keep]
    if include_features:
        fields += [
            st.StructField(name, by_name[name] if kind == CATEGORICAL else st.DoubleType())
            for name, kind in model.features.items()
        ]
    labels: dict[type, Any] = {
        np.int64: st.LongType(),
        bool: st.BooleanType(),
        np.float64: st.DoubleType(),
    }
    names = output_names(model, [field.name for field in fields])
    if model.task == "regression":
        fields.append(st.StructField(names[PREDICTION], st.DoubleType()))
    else:
        kind = label_dtype(model.classes)
        fields.append(st.StructField(names[PREDICTION], labels.get(kind, st.StringType())))
    fields.append(st.StructField(names[SCORE], st.DoubleType()))
    if model.task != "regression":
        fields += [
            st.StructField(names[f"{PROBABILITY_PREFIX}{c}"], st.DoubleType())
            for c in model.classes
        ]
    fields += [st.StructField(names[name], st.StringType()) for name in (MODEL_VERSION, RUN_ID)]
    fields += [st.StructField(SOURCE_FILE, st.StringType()), st.StructField(ROW, st.LongType()),
               st.StructField(REASON, st.StringType())]  # fmt: skip
    return st.StructType(fields)


def local_path(uri: str) -> str:
    """A `file:` URI as the local engine names the file (other schemes stay URIs)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri


def _scorer(job: EngineRun, kinds: dict[str, str]) -> Any:
    """The task function: picklable arguments only (the model is rebuilt in each worker)."""
    model = job.model
    bundle, version, uri = model.bundle, model.version, model.uri
    prefer_optimized = model.runtime != "native"
    run_id, include, keep = job.run_id, job.options.include_features, job.keep

    def score(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        key = str(bundle)
        if key not in _MODELS:
            contract = read_bundle(Path(bundle))
            _MODELS[key] = model_from_bundle(contract, version, uri, prefer_optimized)
        loaded = _MODELS[key]
        for frame in frames:
            # one RecordBatch: pandas' Arrow-backed columns convert to chunked arrays
            table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
            for batch in table.to_batches():
                yield _rows(batch, loaded, (run_id, include, keep), kinds)

    return score


def _rows(
    batch: pa.RecordBatch,
    model: BatchModel,
    run: tuple[str, bool, tuple[str, ...]],
    kinds: dict[str, str],
) -> pd.DataFrame:
    """One task batch scored (`run`: run id, include features, carried columns): scored and
    rejected rows in the engine's one output schema."""
    run_id, include, keep = run
    scored, rejected, mask = score_batch(batch, model, run_id, include, keep)
    sources = batch.column(SOURCE_FILE).to_pylist()
    rejected[SOURCE_FILE] = [local_path(sources[index]) for index in np.flatnonzero(mask)]
    rows = pd.concat([scored, rejected], ignore_index=True).reindex(columns=list(kinds))
    # Spark converts object columns holding None reliably; not pandas' Arrow-backed strings,
    # nor a float column of NaN where it expects strings or integers.
    for name, kind in kinds.items():
        if kind != "double":
            column = rows[name]
            typed = column.astype(NULLABLE[kind]) if kind in NULLABLE else column
            rows[name] = typed.astype(object).where(column.notna(), None)
    return rows


def _tidy(directory: Path) -> None:
    """Keep only the Parquet parts (Spark also writes _SUCCESS and .crc files)."""
    for path in directory.iterdir():
        if not path.name.endswith(".parquet"):
            path.unlink()


def run_spark(job: EngineRun) -> Counts:
    """Score every input of `job` on Spark into its staging directory (their columns were
    checked by `job`, with the local engine's one-line error, before Spark starts)."""
    arrow = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(job.options.batch_size)}
    spark = session(job.options.spark_master, "batch-score", arrow)
    try:
        from pyspark.sql import functions as sf

        source = _read(spark, job)
        schema = _output_schema(job, source)
        kinds = {field.name: field.dataType.simpleString() for field in schema.fields}
        rows = source.mapInPandas(_scorer(job, kinds), schema).persist()
        rejected_columns = [SOURCE_FILE, ROW, *job.model.id_columns, REASON]
        scored = rows.filter(sf.col(REASON).isNull()).drop(SOURCE_FILE, ROW, REASON)
        rejected = rows.filter(sf.col(REASON).isNotNull()).select(*rejected_columns)
        scored.write.parquet(str(job.staging / PREDICTIONS_DIR))
        rejected.write.parquet(str(job.staging / REJECTED_DIR))
        counts = Counts(rows.count(), scored.count(), rejected.count())
        rows.unpersist()
    except Exception as error:  # py4j / Spark errors: one line, the details are in Spark's log
        if isinstance(error, UserError):
            raise
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("[")), lines[0] if lines else "")
        raise UserError(
            f"the Spark job failed ({detail.strip()[:200]}); see the Spark log above"
        ) from None
    finally:
        spark.stop()
    for name in (PREDICTIONS_DIR, REJECTED_DIR):
        _tidy(job.staging / name)
    return counts
