"""Score one record batch: the same code for the local engine and every Spark task.

Scored rows carry, in this order, the input's passthrough columns (`batch.passthrough`: every
column that is not a feature, or only `dataset.id_columns`), the features
(`batch.include_features`), the prediction columns of `BatchModel.output_columns`, the model
version and the run id, so results join back to the input. An output column whose name an
input column already has is written as `output_<name>` (`output_names`; the manifest's
`columns` records the mapping), so an input `score` column or feature is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from {{ cookiecutter.package_name }}.batch.model import PREDICTION, PROBABILITY_PREFIX, SCORE, BatchModel
from {{ cookiecutter.package_name }}.batch.validate import check_rows

MODEL_VERSION = "model_version"
RUN_ID = "run_id"
REASON = "reason"
SOURCE_FILE = "source_file"
ROW = "row"  # 0-based row of the input file (the local engine; Spark leaves it null)
OUTPUT_PREFIX = "output_"
PASSTHROUGH = ("all", "ids")


def passthrough_columns(model: BatchModel, inputs: Sequence[Sequence[str]], mode: str) -> list[str]:
    """The input columns written next to the predictions: the id columns, and (`all`) every
    other non-feature column every input file has, in the first file's order."""
    if mode == "ids" or not inputs:
        return list(model.id_columns)
    features = set(model.feature_names)
    shared = set(inputs[0]).intersection(*map(set, inputs[1:]))
    return [name for name in inputs[0] if name in shared and name not in features]


def output_names(model: BatchModel, taken: Iterable[str]) -> dict[str, str]:
    """Each output column's name in the written table: its own, or `output_<name>` (repeated)
    when an input column written next to it has that name."""
    used = set(taken)
    names = {}
    probabilities = [f"{PROBABILITY_PREFIX}{label}" for label in model.classes]
    for name in (PREDICTION, SCORE, *probabilities, MODEL_VERSION, RUN_ID):
        written = name
        while written in used:
            written = OUTPUT_PREFIX + written
        used.add(written)
        names[name] = written
    return names


def score_batch(
    batch: pa.RecordBatch,
    model: BatchModel,
    run_id: str,
    include_features: bool,
    keep: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(scored rows, rejected rows with their reason, mask of the rejected rows).

    `keep`: the input columns to carry (default: the id columns); rejected rows carry the id
    columns and their reason.
    """
    keep = list(model.id_columns if keep is None else keep)
    features, reasons = check_rows(batch, model)
    rejected = reasons != None  # noqa: E711 (elementwise on an object array)
    index = pd.RangeIndex(batch.num_rows)
    # Arrow-backed columns: the input's types are written back as they were (a column that is
    # all null in one batch keeps its type).
    carried = pd.DataFrame(
        {name: batch.column(name).to_pandas(types_mapper=pd.ArrowDtype) for name in keep},
        index=index,
    )
    kept = ~rejected
    scored = carried[kept].reset_index(drop=True)
    valid = features[kept].reset_index(drop=True)
    if include_features:
        scored = pd.concat([scored, valid], axis=1)
    names = output_names(model, scored.columns)
    if len(valid):
        for name, values in model.output_columns(model.predict(valid)).items():
            scored[names[name]] = values
    else:
        scored = scored.iloc[0:0]
    scored[names[MODEL_VERSION]] = model.version
    scored[names[RUN_ID]] = run_id
    bad = carried[[name for name in model.id_columns if name in carried]][rejected]
    bad = bad.reset_index(drop=True)
    bad[REASON] = reasons[rejected]
    return scored, bad, rejected
