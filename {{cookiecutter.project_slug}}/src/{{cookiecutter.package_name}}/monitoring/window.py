"""Read the recent window of the prediction / feedback log written by the model server."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, desc, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.serving.predlog import database_url, predictions


@dataclass(frozen=True)
class LogWindow:
    """The latest predictions: their features, outputs and (when given) feedback labels."""

    features: pd.DataFrame
    probability: pd.Series
    predicted_class: pd.Series
    label: pd.Series  # float with NaN where no feedback arrived yet
    model_versions: list[str]

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


def log_url(configured: str | None, database_path: Path) -> str:
    """The log's SQLAlchemy URL (as the server picks it): `serving.database_url`, then
    `DATABASE_URL`, else the SQLite file `database_path`, which must exist."""
    url = configured or os.environ.get("DATABASE_URL", "")
    if not url and not database_path.exists():
        raise UserError(
            f"prediction log {database_path} not found; serve traffic first (`make serve`), "
            "set DATABASE_URL, or pass --current FILE"
        )
    return database_url(url or None, database_path)


def read_window(url: str, size: int) -> LogWindow:
    """The `size` most recent predictions (newest first in the log, oldest first here)."""
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table(predictions.name):
            raise UserError(
                f"the prediction log at {engine.url.render_as_string(hide_password=True)} has no "
                "'predictions' table; start the model server once to create it"
            )
        query = select(predictions).order_by(desc(predictions.c.created_at)).limit(size)
        with engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
    except SQLAlchemyError as error:
        detail = " ".join(str(error).split())[:200]
        raise UserError(f"cannot read the prediction log ({detail}); check DATABASE_URL") from None
    finally:
        engine.dispose()
    rows = list(reversed(rows))
    try:
        features = pd.DataFrame([json.loads(row["features"]) for row in rows])
    except (TypeError, ValueError):
        raise UserError(
            "the prediction log holds malformed 'features' JSON; fix the writer"
        ) from None
    frame = pd.DataFrame(
        {
            "probability": [row["probability"] for row in rows],
            "predicted_class": [row["predicted_class"] for row in rows],
            "label": pd.array([row["label"] for row in rows], dtype="Float64"),
        }
    )
    versions = sorted({str(row["model_version"]) for row in rows})
    return LogWindow(
        features=features,
        probability=frame["probability"].astype(float),
        predicted_class=frame["predicted_class"].astype(int),
        label=frame["label"].astype(float),
        model_versions=versions,
    )
