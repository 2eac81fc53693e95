"""Read the recent window of the prediction / feedback log written by the model server.

Drift and the online metric (accuracy, or MAE for regression) judge the deployed champion
only: rows the server logged with role `champion` for the newest champion model version (rows
of an earlier champion, i.e. before the current one was promoted and deployed, are left out),
optionally only rows newer than the last retrain. `prediction` and `label` are JSON text
(predlog/store.py), decoded here. Challenger and shadow traffic over the same period is
summarised apart, so a shadow copy of a request is never counted twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, and_, case, cast, desc, func, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.predlog.store import make_engine, prediction_log_url, predictions
from {{ cookiecutter.package_name }}.settings import Settings

CHAMPION = "champion"


def same_label(predicted: object, label: object) -> bool:
    """Equal labels of the same kind (the class `True` is not the class `1`)."""
    return isinstance(predicted, bool) == isinstance(label, bool) and predicted == label


@dataclass(frozen=True)
class RoleSummary:
    """Traffic of one (role, model version) other than the champion's, reported apart."""

    role: str
    model_version: str
    rows: int
    labelled: int
    online_accuracy: float | None  # classification
    online_mae: float | None = None  # regression


@dataclass(frozen=True)
class LogWindow:
    """The latest champion predictions: features, outputs and (when given) feedback labels.

    `prediction` and `label` hold the decoded JSON (class labels keep their type; regression
    values are numbers); `label` is None where no feedback arrived yet.
    """

    features: pd.DataFrame
    prediction: pd.Series
    score: pd.Series
    label: pd.Series
    model_version: str | None  # the champion version judged; None when it served nothing
    classification: bool = True
    since: datetime | None = None  # rows at or before this instant were left out
    newest_at: datetime | None = None
    others: list[RoleSummary] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.features)

    @property
    def feedback_count(self) -> int:
        return int(self.label.notna().sum())

    def _labelled(self) -> tuple[list[Any], list[Any]]:
        labelled = self.label.notna()
        return list(self.prediction[labelled]), list(self.label[labelled])

    def online_accuracy(self) -> float | None:
        """Share of feedback labels equal to the prediction (classification only)."""
        predicted, labels = self._labelled()
        if not self.classification or not labels:
            return None
        return sum(map(same_label, predicted, labels)) / len(labels)

    def online_mae(self) -> float | None:
        """Mean absolute error of the predictions with feedback (regression only)."""
        predicted, labels = self._labelled()
        if self.classification or not labels:
            return None
        errors = np.abs(np.asarray(predicted, dtype=np.float64) - np.asarray(labels, float))
        return float(errors.mean())


def log_url(settings: Settings) -> str:
    """The log's SQLAlchemy URL, picked as the server picks it (`Settings.configured_log_url`),
    else the SQLite file `serving.prediction_log`, which must exist."""
    database_path = settings.resolve(settings.serving.prediction_log)
    if not settings.configured_log_url() and not database_path.exists():
        raise UserError(
            f"prediction log {database_path} not found; serve traffic first (`make serve`), "
            "set DATABASE_URL, or pass --current FILE"
        )
    return prediction_log_url(settings)


def has_predictions(url: str) -> bool:
    """Whether the log has its table yet (the server creates it on start)."""
    engine = make_engine(url)
    try:
        return bool(inspect(engine).has_table(predictions.name))
    except SQLAlchemyError as error:
        detail = one_line(error)
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


def _others(
    connection: Connection, after: ColumnElement[bool], classification: bool
) -> list[RoleSummary]:
    """Rows, labels and the online metric per (role, version); both sides of the label
    comparison are JSON the server wrote the same way, so equal labels are equal text."""
    labelled = predictions.c.label.is_not(None)
    if classification:
        hit = case((predictions.c.label == predictions.c.prediction, 1), else_=0)
        metric = func.sum(case((labelled, hit), else_=0))
    else:
        error = func.abs(predictions.c.score - cast(predictions.c.label, Float))
        metric = func.sum(case((labelled, error), else_=0.0))
    query = (
        select(predictions.c.role, predictions.c.model_version, func.count(),
               func.count(predictions.c.label), metric)
        .where(and_(predictions.c.role != CHAMPION, after))
        .group_by(predictions.c.role, predictions.c.model_version)
        .order_by(predictions.c.role, predictions.c.model_version)
    )  # fmt: skip
    summaries = []
    for role, version, rows, labels, total in connection.execute(query):
        mean = float(total) / labels if labels else None
        summaries.append(
            RoleSummary(str(role), str(version), int(rows), int(labels),
                        mean if classification else None, None if classification else mean)
        )  # fmt: skip
    return summaries


def _decode(text: object, column: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(str(text))
    except ValueError:
        raise UserError(
            f"the prediction log holds malformed '{column}' JSON ({str(text)[:40]!r}); "
            "fix the writer"
        ) from None


def _frame(rows: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        features = pd.DataFrame([json.loads(row["features"]) for row in rows])
    except (TypeError, ValueError):
        raise UserError(
            "the prediction log holds malformed 'features' JSON; fix the writer"
        ) from None
    outputs = pd.DataFrame(
        {
            "prediction": pd.Series([_decode(row["prediction"], "prediction") for row in rows],
                                    dtype=object),
            "score": pd.Series([row["score"] for row in rows], dtype=np.float64),
            "label": pd.Series([_decode(row["label"], "label") for row in rows], dtype=object),
        }
    )  # fmt: skip
    return features, outputs


def read_window(
    url: str, size: int, since: datetime | None = None, *, classification: bool = True
) -> LogWindow:
    """The `size` most recent champion predictions after `since` (oldest first here);
    `classification` says how to judge feedback (accuracy, or MAE for regression)."""
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
            others = _others(connection, after, classification)
    except SQLAlchemyError as error:
        detail = one_line(error)
        raise UserError(f"cannot read the prediction log ({detail}); check DATABASE_URL") from None
    finally:
        engine.dispose()
    rows.reverse()
    features, outputs = _frame(rows)
    return LogWindow(
        features=features,
        prediction=outputs["prediction"],
        score=outputs["score"],
        label=outputs["label"],
        model_version=version,
        classification=classification,
        since=since,
        newest_at=aware(rows[-1]["created_at"]) if rows else None,
        others=others,
    )
