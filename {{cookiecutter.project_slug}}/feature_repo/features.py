"""Feast definitions over the bundled dataset: one entity, three feature views, a service.

The source Parquet is written by `{{ cookiecutter.package_name }}.feature_store.prepare_source`
(`make features`) from data/raw/: one row per patient with an event timestamp. The feature
views group the 30 measurements by statistic (mean, standard error, worst); the feature
service `model_features` is what training and serving request.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

STATISTICS = ("mean", "error", "worst")
MEASUREMENTS = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave_points", "symmetry", "fractal_dimension",
)  # fmt: skip

patient = Entity(
    name="patient",
    join_keys=["patient_id"],
    value_type=ValueType.INT64,
    description="One examined patient (a row of the dataset).",
)

source = FileSource(
    name="breast_cancer_measurements",
    path="../data/feast/measurements.parquet",
    timestamp_field="event_timestamp",
    description="Cell-nucleus measurements, one row per patient.",
)


def feature_name(statistic: str, measurement: str) -> str:
    """Column name in the dataset: `mean_radius`, `radius_error`, `worst_radius`."""
    return f"{measurement}_error" if statistic == "error" else f"{statistic}_{measurement}"


views = [
    FeatureView(
        name=f"tumor_{statistic}",
        entities=[patient],
        ttl=timedelta(days=3650),
        schema=[Field(name=feature_name(statistic, m), dtype=Float64) for m in MEASUREMENTS],
        source=source,
        online=True,
        description=f"The {statistic} of each measurement.",
    )
    for statistic in STATISTICS
]
tumor_mean, tumor_error, tumor_worst = views

model_features = FeatureService(
    name="model_features",
    features=[tumor_mean, tumor_error, tumor_worst],
    description="Every feature the model is trained on and served with.",
)
