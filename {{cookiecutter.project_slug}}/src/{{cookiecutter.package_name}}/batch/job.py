"""One batch-scoring run, whichever engine scores: resolve the model, stage, score, commit.

The engine writes `predictions/` and `rejected/` Parquet parts into a staging directory;
the manifest is added and the directory renamed onto `--output` only when scoring finished.
Any error removes the staging directory, so an existing output is never a partial run.
A run whose rejected share exceeds `batch.max_rejected_share` is committed with status
`too_many_rejected` (its rejected rows are the evidence) and fails with exit 1.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from {{ cookiecutter.package_name }}.batch.engine import Counts, EngineRun, Options
from {{ cookiecutter.package_name }}.batch.io import (
    PREDICTIONS_DIR,
    REJECTED_DIR,
    check_output,
    commit,
    file_columns,
    find_inputs,
    parts,
    staging_dir,
)
from {{ cookiecutter.package_name }}.batch.local import run_local
from {{ cookiecutter.package_name }}.batch.manifest import (
    COMPLETE,
    TOO_MANY_REJECTED,
    Manifest,
    describe_inputs,
)
from {{ cookiecutter.package_name }}.batch.model import load_model
from {{ cookiecutter.package_name }}.batch.score import output_names, passthrough_columns
from {{ cookiecutter.package_name }}.batch.validate import check_columns
from {{ cookiecutter.package_name }}.data.spark import spark_master
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.settings import Settings

ENGINES = ("local", "spark")


class TooManyRejectedError(GateFailedError):
    """More rows failed the model's input schema than `batch.max_rejected_share` allows."""


def options_from(settings: Settings, progress: bool = True) -> Options:
    batch = settings.batch
    master = spark_master(settings)
    return Options(batch.batch_size, batch.max_rejected_share, batch.include_features, master,
                   progress, batch.passthrough)  # fmt: skip


def _engine(name: str) -> Callable[[EngineRun], Counts]:
    if name == "local":
        return run_local
    if name == "spark":
        # Imported here: pyspark (a heavy optional stack) loads only for the Spark engine.
        from {{ cookiecutter.package_name }}.batch.spark import run_spark

        return run_spark
    raise UserError(f"unknown engine '{name}'; use one of: {', '.join(ENGINES)}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _manifest(
    job: EngineRun, counts: Counts, reference: str, engine: str, times: tuple[str, float, float]
) -> Manifest:
    """The run's manifest; `times`: start time (ISO), clock at start, clock after loading."""
    started, clock, loaded = times
    finished = time.perf_counter()
    model, options = job.model, job.options
    share = counts.rejected / counts.input if counts.input else 0.0
    return Manifest(
        run_id=job.run_id,
        engine=engine if engine == "local" else f"spark ({options.spark_master})",
        model={"reference": reference, "version": model.version, "uri": model.uri,
               "bundle": str(model.bundle), "runtime": model.runtime, "task": model.task},
        inputs=describe_inputs(job.inputs),
        started_at=started,
        status=COMPLETE if share <= options.max_rejected_share else TOO_MANY_REJECTED,
        finished_at=_now(),
        rows={"input": counts.input, "scored": counts.scored, "rejected": counts.rejected,
              "rejected_share": round(share, 6)},
        seconds={"load_model": round(loaded - clock, 3), "score": round(finished - loaded, 3),
                 "rows_per_s": round(counts.input / max(finished - loaded, 1e-9), 1)},
        outputs={PREDICTIONS_DIR: parts(job.staging / PREDICTIONS_DIR),
                 REJECTED_DIR: parts(job.staging / REJECTED_DIR)},
        settings={"batch_size": options.batch_size,
                  "max_rejected_share": options.max_rejected_share,
                  "passthrough": options.passthrough},
        columns={"passthrough": list(job.keep),
                 "features": model.feature_names if options.include_features else [],
                 "outputs": output_names(model, [*job.keep, *(
                     model.feature_names if options.include_features else [])])},
    )  # fmt: skip


def batch_score(
    settings: Settings,
    source: Path,
    output: Path,
    reference: str = "champion",
    engine: str = "local",
    *,
    force: bool = False,
    progress: bool = True,
) -> Manifest:
    """Score `source` with the registry model `reference` into `output`; its manifest."""
    run = _engine(engine)
    output = output.resolve()
    check_output(output, force)
    inputs = find_inputs(source)
    started, clock = _now(), time.perf_counter()
    model = load_model(reference, settings)
    loaded = time.perf_counter()
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    options = options_from(settings, progress)
    for item in inputs:  # every file's columns first: a bad last file fails before any work
        check_columns(file_columns(item), model, str(item.path))
    keep = passthrough_columns(model, [file_columns(item) for item in inputs], options.passthrough)
    job = EngineRun(model, inputs, staging_dir(output, run_id), run_id, options, tuple(keep))
    job.staging.mkdir(parents=True)
    try:
        counts = run(job)
        manifest = _manifest(job, counts, reference, engine, (started, clock, loaded))
        manifest.write(job.staging)
        commit(job.staging, output)
    except BaseException:
        shutil.rmtree(job.staging, ignore_errors=True)
        raise
    if manifest.status == TOO_MANY_REJECTED:
        share, bound = (format(value, ".2%") for value in (
            manifest.rows["rejected_share"], job.options.max_rejected_share))  # fmt: skip
        raise TooManyRejectedError(
            f"{counts.rejected} of {counts.input} rows ({share}) failed the model's input "
            f"schema, above batch.max_rejected_share {bound}; see {output / REJECTED_DIR} "
            "for the reason per row"
        )
    return manifest
