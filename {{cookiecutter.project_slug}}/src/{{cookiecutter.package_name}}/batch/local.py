"""The local engine: stream each input file in record batches, score, write Parquet as it goes.

Memory holds one batch at a time (its input, features and outputs), whatever the input size.
"""

from __future__ import annotations

import numpy as np

from {{ cookiecutter.package_name }}.batch.engine import Counts, EngineRun
from {{ cookiecutter.package_name }}.batch.io import (
    PREDICTIONS_DIR,
    REJECTED_DIR,
    InputFile,
    PartWriter,
    stream,
)
from {{ cookiecutter.package_name }}.batch.progress import Progress
from {{ cookiecutter.package_name }}.batch.score import ROW, SOURCE_FILE, score_batch


def _score_file(index: int, item: InputFile, job: EngineRun, progress: Progress) -> Counts:
    model = job.model
    scored_part = PartWriter(job.staging / PREDICTIONS_DIR / f"part-{index:05d}.parquet")
    rejected_part = PartWriter(job.staging / REJECTED_DIR / f"part-{index:05d}.parquet")
    offset = 0
    try:
        for batch in stream(item, job.columns, job.options.batch_size):
            scored, rejected, mask = score_batch(
                batch, model, job.run_id, job.options.include_features, job.keep
            )
            rejected.insert(0, SOURCE_FILE, str(item.path))
            rejected.insert(1, ROW, np.flatnonzero(mask).astype(np.int64) + offset)
            scored_part.write(scored)
            rejected_part.write(rejected)
            offset += batch.num_rows
            progress.advance(batch.num_rows)
    finally:
        scored_part.close()
        rejected_part.close()
    return Counts(offset, scored_part.rows, rejected_part.rows)


def run_local(job: EngineRun) -> Counts:
    """Score every input file of `job` into its staging directory (their columns were
    checked by `job`)."""
    total = Counts(0, 0, 0)
    with Progress("batch-score", enabled=job.options.progress) as progress:
        for index, item in enumerate(job.inputs):
            total = total + _score_file(index, item, job, progress)
    return total
