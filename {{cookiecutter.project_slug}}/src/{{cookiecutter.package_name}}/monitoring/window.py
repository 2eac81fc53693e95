"""Read the recent window of the prediction / feedback log written by the model server.

Drift and online accuracy judge the deployed champion only: rows the server logged with role
`champion` for the newest champion model version (rows of an earlier champion, i.e. before
the current one was promoted and deployed, are left out), optionally only rows newer than the
last retrain. Challenger and shadow traffic over the same period is summarised apart, so a
shadow copy of a request is never counted twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, desc, func, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.serving.predlog import database_url, make_engine, predictions
from {{ cookiecutter.package_name }}.settings import Settings

CHAMPION = "champion"


@dataclass(frozen=True)
class RoleSummary:
    """Traffic of one (role, model version) other than the champion's, reported apart."""

    role: str
    model_version: str
    rows: int
    labelled: int
    online_accuracy: float | None


@dataclass(frozen=True)
class LogWindow:
    """The latest champion predictions: features, outputs and (when given) feedback labels."""

    features: pd.DataFrame
    probability: pd.Series
    predicted_class: pd.Series
    label: pd.Series  # float with NaN where no feedback arrived yet
    model_version: str | None  # the champion version judged; None when it served nothing
    since: datetime | None = None  # rows at or before this instant were left out
    newest_at: datetime | None = None
    others: list[RoleSummary] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.features)

    @property
    def feedback_count(self) -> int:
        return int(self.label.notna().sum())

    def online_accuracy(self) -> float | None:
        labelled = self.label.notna()
        if not labelled.any():
            return None
        correct = self.label[labelled].astype(int) == self.predicted_class[labelled].astype(int)
        return float(correct.mean())


def log_url(settings: Settings) -> str:
    """The log's SQLAlchemy URL, picked as the server picks it (`Settings.configured_log_url`),
    else the SQLite file `serving.prediction_log`, which must exist."""
    configured = settings.configured_log_url()
    database_path = settings.resolve(settings.serving.prediction_log)
    if not configured and not database_path.exists():
        raise UserError(
            f"prediction log {database_path} not found; serve traffic first (`make serve`), "
            "set DATABASE_URL, or pass --current FILE"
        )
    return database_url(configured, database_path)


def has_predictions(url: str) -> bool:
    """Whether the log has its table yet (the server creates it on start)."""
    engine = make_engine(url)
    try:
        return bool(inspect(engine).has_table(predictions.name))
    except SQLAlchemyError as error:
        detail = " ".join(str(error).split())[:200]
        raise UserError(f"cannot read the prediction log ({detail}); check DATABASE_URL") from None
    finally:
        engine.dispose()


def bound(engine: Engine, moment: datetime) -> datetime:
    """`moment` as the log's column compares it: SQLite stores naive UTC timestamps."""
    return moment.replace(tzinfo=None) if engine.dialect.name == "sqlite" else moment


def aware(moment: datetime) -> datetime:
    """A timestamp read from the log, in UTC (SQLite returns naive ones)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _after(engine: Engine, since: datetime | None) -> ColumnElement[bool]:
    if since is None:
        return predictions.c.created_at.is_not(None)
    return predictions.c.created_at > bound(engine, since)


def _champion_version(connection: Connection, after: ColumnElement[bool]) -> str | None:
    """The model version of the newest champion row: the champion that is deployed now."""
    query = (
        select(predictions.c.model_version)
        .where(and_(predictions.c.role == CHAMPION, after))
        .order_by(desc(predictions.c.created_at))
        .limit(1)
    )
    found = connection.execute(query).scalar_one_or_none()
    return None if found is None else str(found)


def _others(connection: Connection, after: ColumnElement[bool]) -> list[RoleSummary]:
    labelled = predictions.c.label.is_not(None)
    correct = case((predictions.c.label == predictions.c.predicted_class, 1), else_=0)
    query = (
        select(
            predictions.c.role,
            predictions.c.model_version,
            func.count(),
            func.count(predictions.c.label),
            func.sum(case((labelled, correct), else_=0)),
        )
        .where(and_(predictions.c.role != CHAMPION, after))
        .group_by(predictions.c.role, predictions.c.model_version)
        .order_by(predictions.c.role, predictions.c.model_version)
    )
    return [
        RoleSummary(str(role), str(version), int(rows), int(labels),
                    float(hits) / labels if labels else None)
        for role, version, rows, labels, hits in connection.execute(query)
    ]  # fmt: skip


def _frame(rows: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        features = pd.DataFrame([json.loads(row["features"]) for row in rows])
    except (TypeError, ValueError):
        raise UserError(
            "the prediction log holds malformed 'features' JSON; fix the writer"
        ) from None
    outputs = pd.DataFrame(
        {
            "probability": pd.array([row["probability"] for row in rows], dtype="Float64"),
            "predicted_class": pd.array([row["predicted_class"] for row in rows], dtype="Int64"),
            "label": pd.array([row["label"] for row in rows], dtype="Float64"),
        }
    )
    return features, outputs


def read_window(url: str, size: int, since: datetime | None = None) -> LogWindow:
    """The `size` most recent champion predictions after `since` (oldest first here)."""
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table(predictions.name):
            raise UserError(
                f"the prediction log at {engine.url.render_as_string(hide_password=True)} has no "
                "'predictions' table; start the model server once to create it"
            )
        after = _after(engine, since)
        with engine.connect() as connection:
            version = _champion_version(connection, after)
            query = (
                select(predictions)
                .where(and_(predictions.c.role == CHAMPION,
                            predictions.c.model_version == version, after))
                .order_by(desc(predictions.c.created_at))
                .limit(size)
            )  # fmt: skip
            rows = list(connection.execute(query).mappings().all()) if version else []
            others = _others(connection, after)
    except SQLAlchemyError as error:
        detail = " ".join(str(error).split())[:200]
        raise UserError(f"cannot read the prediction log ({detail}); check DATABASE_URL") from None
    finally:
        engine.dispose()
    rows.reverse()
    features, outputs = _frame(rows)
    return LogWindow(
        features=features,
        probability=outputs["probability"].astype(float),
        predicted_class=outputs["predicted_class"].astype(int),
        label=outputs["label"].astype(float),
        model_version=version,
        since=since,
        newest_at=aware(rows[-1]["created_at"]) if rows else None,
        others=others,
    )
