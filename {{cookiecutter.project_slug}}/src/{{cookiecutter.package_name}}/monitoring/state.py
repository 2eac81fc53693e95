"""Monitoring state every run must see: the last drift result and the last retrain trigger.

A CI runner starts from a fresh clone, so nothing here lives in the work tree.
{%- if cookiecutter.experiment_tracking == "mlflow" %}
With the MLflow registry (`pipeline.registry_backend: mlflow`) each record is a tag of the
experiment `<model_id>-monitoring` on the tracking server (`MLFLOW_TRACKING_URI`: the shared
registry in CI); with the file registry it is a row of the `monitoring_state` table in the
prediction-log database.
{%- else %}
Each record is a row of the `monitoring_state` table in the prediction-log database
(`DATABASE_URL` in CI).
{%- endif %}
Records are JSON objects and carry their own timestamps.

`last_reset` is the instant signals restart from: the newer of the last retrain trigger and
the newest registered model version (its lineage's `trained_at`). Drift, accuracy and feedback
older than it were already acted on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.predlog.store import make_engine, prediction_log_url
from {{ cookiecutter.package_name }}.registry import open_registry
from {{ cookiecutter.package_name }}.settings import Settings

DRIFT = "drift"
RETRAIN = "retrain"
TAG_PREFIX = "monitoring."

metadata = MetaData()
monitoring_state = Table(
    "monitoring_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class StateStore(Protocol):
    where: str

    def load(self, name: str) -> dict[str, Any] | None: ...
    def save(self, name: str, record: dict[str, Any]) -> None: ...


def parse_time(text: object) -> datetime | None:
    """An ISO timestamp as an aware UTC datetime (None when absent or malformed)."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def _decode(name: str, text: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise UserError(
            f"monitoring state '{name}' in {where} is not a JSON object; delete it and rerun"
        )
    return record


class DatabaseStateStore:
    """Rows of `monitoring_state` in the prediction-log database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.where = self.engine.url.render_as_string(hide_password=True)

    def _fail(self, error: SQLAlchemyError) -> UserError:
        detail = one_line(error)
        return UserError(f"cannot use the monitoring state in {self.where} ({detail})")

    def load(self, name: str) -> dict[str, Any] | None:
        try:
            metadata.create_all(self.engine)
            with self.engine.connect() as connection:
                query = select(monitoring_state.c.value).where(monitoring_state.c.name == name)
                text = connection.execute(query).scalar_one_or_none()
        except SQLAlchemyError as error:
            raise self._fail(error) from None
        return None if text is None else _decode(name, str(text), self.where)

    def save(self, name: str, record: dict[str, Any]) -> None:
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as connection:
                connection.execute(delete(monitoring_state).where(monitoring_state.c.name == name))
                connection.execute(
                    insert(monitoring_state).values(
                        name=name, value=json.dumps(record), updated_at=datetime.now(UTC)
                    )
                )
        except SQLAlchemyError as error:
            raise self._fail(error) from None
{%- if cookiecutter.experiment_tracking == "mlflow" %}


class MlflowStateStore:
    """Tags of the experiment `<model_id>-monitoring` on the MLflow tracking server."""

    def __init__(self, settings: Settings, model_id: str) -> None:
        # Imported here: MLflow's client is heavy, and only this store (not the file one) needs it.
        import logging

        from mlflow import MlflowClient

        from {{ cookiecutter.package_name }}.registry.mlflow_registry import tracking_uri

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.settings = settings
        self.name = f"{model_id}-monitoring"
        self.where = f"MLflow experiment '{self.name}' at {tracking_uri(settings)}"
        self.client = MlflowClient(tracking_uri=tracking_uri(settings))

    def _experiment_id(self) -> str:
        import os

        experiment = self.client.get_experiment_by_name(self.name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            artifacts = self.settings.resolve(self.settings.pipeline.mlflow_artifacts)
            location = artifacts.as_uri()
        return str(self.client.create_experiment(self.name, artifact_location=location))

    def _fail(self, error: Exception) -> UserError:
        detail = one_line(error)
        return UserError(
            f"cannot use the monitoring state in {self.where} ({detail}); check MLFLOW_TRACKING_URI"
        )

    def load(self, name: str) -> dict[str, Any] | None:
        from mlflow.exceptions import MlflowException

        try:
            experiment = self.client.get_experiment_by_name(self.name)
        except MlflowException as error:
            raise self._fail(error) from None
        text = None if experiment is None else experiment.tags.get(TAG_PREFIX + name)
        return None if text is None else _decode(name, text, self.where)

    def save(self, name: str, record: dict[str, Any]) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.set_experiment_tag(
                self._experiment_id(), TAG_PREFIX + name, json.dumps(record)
            )
        except MlflowException as error:
            raise self._fail(error) from None
{%- endif %}


def open_state(settings: Settings) -> StateStore:
    """The configured store: the MLflow tracking server or the prediction-log database."""
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    if settings.pipeline.registry_backend == "mlflow":
        config = settings.read_model_config()
        return MlflowStateStore(settings, config.model_id)
{%- endif %}
    return DatabaseStateStore(prediction_log_url(settings))


def last_registered_at(settings: Settings) -> datetime | None:
    """When the newest registered version was trained (its lineage), None before the first.

    `register` points the `challenger` alias at every new version, so it names the newest.
    """
    registry = open_registry(settings)
    version = registry.get_alias("challenger")
    if version is None:
        return None
    return parse_time(read_bundle(registry.bundle_path(version)).lineage.get("trained_at"))


def last_reset(settings: Settings, store: StateStore) -> datetime | None:
    """The newer of the last retrain trigger and the newest registered version."""
    triggered = parse_time((store.load(RETRAIN) or {}).get("triggered_at"))
    moments = [moment for moment in (triggered, last_registered_at(settings)) if moment]
    return max(moments) if moments else None
