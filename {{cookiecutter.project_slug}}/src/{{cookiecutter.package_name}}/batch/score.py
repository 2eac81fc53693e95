"""Score one record batch: the same code for the local engine and every Spark task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from {{ cookiecutter.package_name }}.batch.model import BatchModel
from {{ cookiecutter.package_name }}.batch.validate import check_rows

MODEL_VERSION = "model_version"
RUN_ID = "run_id"
REASON = "reason"
SOURCE_FILE = "source_file"
ROW = "row"  # 0-based row of the input file (the local engine; Spark leaves it null)


def score_batch(
    batch: pa.RecordBatch, model: BatchModel, run_id: str, include_features: bool
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(scored rows, rejected rows with their reason, mask of the rejected rows).

    Scored rows carry the id columns, the features (`include_features`), the prediction
    columns of `BatchModel.output_columns`, the model version and the run id.
    """
    features, reasons = check_rows(batch, model)
    rejected = reasons != None  # noqa: E711 (elementwise on an object array)
    ids = pd.DataFrame(
        {name: batch.column(name).to_pandas() for name in model.id_columns},
        index=pd.RangeIndex(batch.num_rows),
    )
    kept = ~rejected
    scored = ids[kept].reset_index(drop=True)
    valid = features[kept].reset_index(drop=True)
    if include_features:
        scored = pd.concat([scored, valid], axis=1)
    if len(valid):
        for name, values in model.output_columns(model.predict(valid)).items():
            scored[name] = values
    else:
        scored = scored.iloc[0:0]
    scored[MODEL_VERSION] = model.version
    scored[RUN_ID] = run_id
    bad = ids[rejected].reset_index(drop=True)
    bad[REASON] = reasons[rejected]
    return scored, bad, rejected
