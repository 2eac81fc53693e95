"""Feast definitions over the configured dataset: one entity, one feature view, a service.

Nothing here names a column: the features and their kinds come from the dataset spec in
configs/model_config.yaml (`dataset.features`, written by `init-data`), so adopting other
data needs no edit here. The source Parquet is written by
`{{ cookiecutter.package_name }}.feature_store.prepare_source` (`make features`): one row per
example with a `patient_id` entity key and an event timestamp; numeric features are Float64,
categorical ones String. The feature service `model_features` is what training and serving
request.
"""

from datetime import timedelta
from pathlib import Path

import yaml
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, String

SPEC_FILE = Path(__file__).resolve().parents[1] / "configs" / "model_config.yaml"
DATASET = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))["dataset"]
FEAST_TYPES = {"numeric": Float64, "categorical": String}

row = Entity(
    name="patient",
    join_keys=["patient_id"],
    value_type=ValueType.INT64,
    description=f"One example (a row) of the {DATASET['name']} dataset.",
)

source = FileSource(
    name=f"{DATASET['name']}_features".replace("-", "_"),
    path="../data/feast/measurements.parquet",
    timestamp_field="event_timestamp",
    description=f"The features of {DATASET['path']}, one row per example.",
)

dataset_features = FeatureView(
    name="dataset_features",
    entities=[row],
    ttl=timedelta(days=3650),
    schema=[
        Field(name=name, dtype=FEAST_TYPES[kind]) for name, kind in DATASET["features"].items()
    ],
    source=source,
    online=True,
    description="Every model feature, in model-input order (dataset.features).",
)

model_features = FeatureService(
    name="model_features",
    features=[dataset_features],
    description="Every feature the model is trained on and served with.",
)
