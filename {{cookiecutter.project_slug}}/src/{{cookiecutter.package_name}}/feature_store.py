"""Feast feature store (feature_repo/): source preparation, training and serving reads.

`prepare_source` turns the configured dataset into the Parquet source of feature_repo/ (a
`patient_id` entity key, a deterministic `event_timestamp` per row, the spec's features:
numeric as float64, categorical as strings) plus the label table. feature_repo/features.py
reads the same spec, so adopting other data (`init-data`) needs no edit there.
After `feast apply` and `feast materialize` (`make features`, or `sync` which the pipeline
runs before training), training reads point-in-time correct historical features with
`training_frame`, and serving reads the online store (SQLite) with `online_features`
(`POST /predict/entities`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import read_table, sha256_file
from {{ cookiecutter.package_name }}.data.derived import with_derived
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import Settings

REPO_DIR = Path("feature_repo")
SOURCE = Path("data/feast/measurements.parquet")
LABELS = Path("data/feast/labels.parquet")
# Which dataset (path, sha256) the source was prepared from: training refuses a stale source.
PROVENANCE = Path("data/feast/source.json")
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


def source_columns(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The spec's features in Feast's types: numeric float64, categorical strings (None kept)."""
    missing = [name for name in spec.input_columns if name not in frame.columns]
    if missing:
        raise UserError(
            f"the dataset lacks feature column(s) {', '.join(missing[:5])} of dataset.features; "
            "run `make init-data` for this file"
        )
    frame = with_derived(frame, spec)  # the derived features (calendar parts, ranks) are stored
    columns = {}
    for name, kind in spec.features.items():
        values = frame[name]
        columns[name] = (
            values.astype("float64")
            if kind == "numeric"
            else values.map(lambda value: None if pd.isna(value) else str(value)).astype(object)
        )
    return pd.DataFrame(columns)


def configured_spec(settings: Settings, target: str | None = None) -> DatasetSpec:
    """The dataset spec of configs/model_config.yaml (what feature_repo/ reads too).

    `target`, when a caller passes its label column, must be the spec's.
    """
    spec = settings.read_model_config().dataset
    if target is not None and target != spec.target:
        raise UserError(f"label column '{target}' is not dataset.target '{spec.target}'")
    return spec


def prepare_source(settings: Settings, dataset: Path, target: str | None = None) -> PreparedSource:
    """Write the Feast source (features) and the label table from `dataset`."""
    spec = configured_spec(settings, target)
    frame = read_table(dataset)
    if spec.target not in frame.columns:
        raise UserError(f"{dataset} has no target column '{spec.target}'; fix dataset.target")
    frame = frame.reset_index(drop=True)
    features = source_columns(frame, spec)
    features.insert(0, ENTITY_KEY, range(1, len(frame) + 1))
    timestamps = [EPOCH + timedelta(hours=int(i)) for i in range(len(frame))]
    features.insert(1, TIMESTAMP, pd.to_datetime(timestamps, utc=True))
    source = settings.resolve(SOURCE)
    labels = settings.resolve(LABELS)
    source.parent.mkdir(parents=True, exist_ok=True)
    features.to_parquet(source, index=False)
    label_table = features[[ENTITY_KEY, TIMESTAMP]].assign(**{spec.target: frame[spec.target]})
    label_table.to_parquet(labels, index=False)
    provenance = {"dataset": str(dataset), "sha256": sha256_file(dataset), "rows": len(frame)}
    settings.resolve(PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    return PreparedSource(source, labels, len(frame), timestamps[0], timestamps[-1])


def enabled(settings: Settings) -> bool:
    """True when the project has its Feast repo (feature_repo/feature_store.yaml)."""
    return (settings.resolve(REPO_DIR) / "feature_store.yaml").is_file()


def store(settings: Settings) -> Any:
    """The Feast `FeatureStore` of feature_repo/ (feast is the `feast` extra)."""
    from feast import FeatureStore

    repo = settings.resolve(REPO_DIR)
    if not (repo / "feature_store.yaml").is_file():
        raise UserError(f"{repo}/feature_store.yaml not found; run from the project root")
    return FeatureStore(repo_path=str(repo))


def feast_command(settings: Settings, *args: str) -> str:
    """Run the Feast CLI of this interpreter on feature_repo/; its output, or a `UserError`."""
    repo = settings.resolve(REPO_DIR)
    command = [sys.executable, "-m", "feast.cli.cli", "-c", str(repo), *args]
    result = subprocess.run(
        command, cwd=settings.project_root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise UserError(f"`feast {args[0]}` failed: {lines[-1].strip()}; fix feature_repo/")
    return result.stdout


@dataclass(frozen=True)
class Synced:
    prepared: PreparedSource
    registry: Path
    online_store: Path


def sync(settings: Settings, dataset: Path, target: str | None = None) -> Synced:
    """`make features` in one call: prepare the source, `feast apply`, materialize it all."""
    prepared = prepare_source(settings, dataset, target)
    feast_command(settings, "apply")
    end = prepared.end + timedelta(seconds=1)
    feast_command(settings, "materialize", prepared.start.isoformat(), end.isoformat())
    data_dir = settings.resolve(SOURCE).parent
    return Synced(prepared, data_dir / "registry.db", data_dir / "online_store.db")


def is_current(settings: Settings, dataset_sha256: str) -> bool:
    """True when data/feast/ was prepared from the dataset with this sha256."""
    provenance_path = settings.resolve(PROVENANCE)
    if not provenance_path.is_file():
        return False
    return bool(json.loads(provenance_path.read_text()).get("sha256") == dataset_sha256)


def training_frame(
    settings: Settings,
    target: str = "target",
    columns: list[str] | None = None,
    dataset_sha256: str | None = None,
) -> pd.DataFrame:
    """Point-in-time correct features for every labelled patient, with the label column.

    `columns` (the dataset's column order) orders the result so that a model trained from
    Feast sees its features in the same order as one trained from the file. With
    `dataset_sha256`, a source prepared from other data is refused.
    """
    labels_path = settings.resolve(LABELS)
    if not labels_path.is_file():
        raise UserError(f"{labels_path} not found; run `make features` first")
    if dataset_sha256 is not None:
        provenance_path = settings.resolve(PROVENANCE)
        prepared = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
        if prepared.get("sha256") != dataset_sha256:
            raise UserError(
                "the Feast source in data/feast/ was not prepared from the current dataset; "
                "run `make features` to refresh it"
            )
    feature_store = store(settings)
    entities = pd.read_parquet(labels_path)
    if target not in entities.columns:
        raise UserError(f"{labels_path} has no label column '{target}'; run `make features`")
    service = feature_store.get_feature_service(SERVICE)
    frame = feature_store.get_historical_features(entity_df=entities, features=service).to_df()
    frame = frame.sort_values(ENTITY_KEY).reset_index(drop=True)
    frame = frame.drop(columns=[ENTITY_KEY, TIMESTAMP])
    if columns is None:
        return frame
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise UserError(
            f"feature service '{SERVICE}' lacks column(s) {', '.join(missing[:5])} of the "
            "dataset; add them to feature_repo/features.py and run `make features`"
        )
    return frame[columns]


def online_features(
    settings: Settings, patient_ids: list[int], feature_store: Any | None = None
) -> pd.DataFrame:
    """The latest materialized features of `patient_ids` from the online store.

    Pass `feature_store` (from `store`) to reuse one: building it reads the registry.
    """
    feature_store = feature_store if feature_store is not None else store(settings)
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
