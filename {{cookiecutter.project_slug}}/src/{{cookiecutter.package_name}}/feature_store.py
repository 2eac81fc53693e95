"""Feast feature store (feature_repo/): source preparation, training and serving reads.

`prepare_source` turns the bundled dataset into the Parquet source of feature_repo/ (a
`patient_id` entity key and a deterministic `event_timestamp` per row) plus the label table.
After `feast apply` and `feast materialize` (`make features`), training reads point-in-time
correct historical features with `training_frame`, and serving reads the online store
(SQLite) with `online_features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import Settings

REPO_DIR = Path("feature_repo")
SOURCE = Path("data/feast/measurements.parquet")
LABELS = Path("data/feast/labels.parquet")
SERVICE = "model_features"
ENTITY_KEY = "patient_id"
TIMESTAMP = "event_timestamp"
# Rows get one timestamp per hour from this instant: deterministic, so reruns are identical.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PreparedSource:
    source: Path
    labels: Path
    rows: int
    start: datetime
    end: datetime


def prepare_source(settings: Settings, dataset: Path, target: str = "target") -> PreparedSource:
    """Write the Feast source (features) and the label table from `dataset`."""
    frame = read_table(dataset)
    if target not in frame.columns:
        raise UserError(f"{dataset} has no target column '{target}'; pass the label column name")
    frame = frame.reset_index(drop=True)
    frame.insert(0, ENTITY_KEY, range(1, len(frame) + 1))
    timestamps = [EPOCH + timedelta(hours=int(i)) for i in range(len(frame))]
    frame.insert(1, TIMESTAMP, pd.to_datetime(timestamps, utc=True))
    source = settings.resolve(SOURCE)
    labels = settings.resolve(LABELS)
    source.parent.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=[target]).to_parquet(source, index=False)
    frame[[ENTITY_KEY, TIMESTAMP, target]].to_parquet(labels, index=False)
    return PreparedSource(source, labels, len(frame), timestamps[0], timestamps[-1])


def store(settings: Settings) -> Any:
    """The Feast `FeatureStore` of feature_repo/ (feast is the `feast` extra)."""
    from feast import FeatureStore

    repo = settings.resolve(REPO_DIR)
    if not (repo / "feature_store.yaml").is_file():
        raise UserError(f"{repo}/feature_store.yaml not found; run from the project root")
    return FeatureStore(repo_path=str(repo))


def training_frame(settings: Settings, target: str = "target") -> pd.DataFrame:
    """Point-in-time correct features for every labelled patient, with the label column."""
    labels_path = settings.resolve(LABELS)
    if not labels_path.is_file():
        raise UserError(f"{labels_path} not found; run `make features` first")
    feature_store = store(settings)
    entities = pd.read_parquet(labels_path)
    service = feature_store.get_feature_service(SERVICE)
    frame = feature_store.get_historical_features(entity_df=entities, features=service).to_df()
    frame = frame.sort_values(ENTITY_KEY).reset_index(drop=True)
    return frame.drop(columns=[ENTITY_KEY, TIMESTAMP])


def online_features(settings: Settings, patient_ids: list[int]) -> pd.DataFrame:
    """The latest materialized features of `patient_ids` from the online store."""
    feature_store = store(settings)
    service = feature_store.get_feature_service(SERVICE)
    rows = [{ENTITY_KEY: int(patient_id)} for patient_id in patient_ids]
    frame = feature_store.get_online_features(features=service, entity_rows=rows).to_df()
    missing = frame.drop(columns=[ENTITY_KEY]).isna().all(axis=1)
    if missing.any():
        unknown = ", ".join(str(v) for v in frame.loc[missing, ENTITY_KEY])
        raise UserError(
            f"no online features for patient_id {unknown}; run `make features` or check the id"
        )
    return frame
