"""The prediction / feedback log's database side: table, URL, start-up check, wire types.

The queue, pump and writer process that fill it are `predlog.pump.PredictionLog` and
`predlog.writer`.

Schema (shared with monitoring, which decodes the JSON): `predictions(request_id TEXT PK,
created_at TIMESTAMP, model_version TEXT, role TEXT, features JSON TEXT, prediction TEXT,
score FLOAT, label TEXT NULL, feedback_at TIMESTAMP NULL, ids JSON TEXT NULL)`. `ids` holds the
request row's id columns (`dataset.id_columns`, e.g. `{"customer_id": "C-17"}`; null when the
row carried none), so predictions join back to the caller's records. `prediction` is the JSON of the
predicted label (`"class_0"`, `1`, `true`) or regression value; `score` is P(positive class)
(binary), P(predicted class) (multiclass) or the value (regression); `label` is the JSON of
the feedback label or true value. A database with an earlier schema is refused at start-up
with the fix (`check_database`): one without `ids` takes an `ALTER TABLE ... ADD COLUMN`, the
first one (`predicted_class`, `probability`) is moved aside.

Embedded SQLite in WAL mode by default; PostgreSQL when `DATABASE_URL` is set (several
replicas share one log). Inserts are idempotent (`ON CONFLICT DO NOTHING` on the request id),
so a frame may be sent again after a failed commit or a writer restart.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from {{ cookiecutter.package_name }}.errors import UserError

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.settings import Settings

metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("request_id", String(160), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_version", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("features", Text, nullable=False),
    Column("prediction", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("label", Text, nullable=True),
    Column("feedback_at", DateTime(timezone=True), nullable=True),
    Column("ids", Text, nullable=True),
)


def database_url(url: str | None, default_path: Path) -> str:
    """SQLAlchemy URL: `url` (e.g. DATABASE_URL) or SQLite at `default_path`.

    Plain `postgresql://` / `postgres://` URLs use the psycopg (v3) driver.
    """
    if not url:
        try:
            default_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"prediction log directory {default_path.parent} cannot be created: "
                f"{error.strerror or error}; set serving.prediction_log to a writable path"
            ) from None
        return f"sqlite:///{default_path}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def prediction_log_url(settings: Settings) -> str:
    """The one resolver of the log's URL (server, drift, retrain-check): DATABASE_URL, its
    file or serving settings (`Settings.configured_log_url`), else the SQLite file."""
    return database_url(
        settings.configured_log_url(), settings.resolve(settings.serving.prediction_log)
    )


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives the process being killed (only an OS
            # crash or power loss can drop the last commits).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


INSERT_COLUMNS = (
    "request_id", "created_at", "model_version", "role", "features", "prediction", "score", "ids",
)  # fmt: skip
LEGACY_COLUMNS = frozenset({"predicted_class", "probability"})

FRAME_HEADER = struct.Struct("!I")


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    """One length-prefixed frame (the server <-> writer-process protocol, see `predlog.writer`)."""
    stream.write(FRAME_HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload; None at end of input (a torn frame is end of input too)."""
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"  # never echo it: it may hold a password


def _refuse(url: str, reason: str) -> UserError:
    return UserError(
        f"prediction log database {_shown(url)} is not usable: {reason}; "
        "fix DATABASE_URL (or serving.database_url)"
    )


def _check_sqlite_file(url: str) -> None:
    """Root ignores file modes, so look at them: a read-only file is refused for everyone."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    for target in (path, path.parent):
        if target.exists() and not target.stat().st_mode & 0o222:
            raise _refuse(url, f"{target} is read-only")
        if target.exists() and not os.access(target, os.W_OK):
            raise _refuse(url, f"{target} is not writable (file permissions or a read-only mount)")


def check_database(url: str) -> None:
    """Connect, create the table and write a probe row in a transaction that is rolled back:
    a bad, unreachable or read-only log is a one-line `UserError` before the server starts."""
    try:
        engine = make_engine(url)
    except ArgumentError as error:  # unknown scheme or unparseable URL
        raise _refuse(url, str(error).splitlines()[0]) from None
    except ImportError as error:  # the driver is not installed
        raise _refuse(url, f"its driver is not installed ({error.name or error})") from None
    try:
        if engine.dialect.name == "sqlite":
            _check_sqlite_file(url)
        try:
            metadata.create_all(engine, checkfirst=True)
        except SQLAlchemyError:
            # Another replica may have created the table at the same moment.
            metadata.create_all(engine, checkfirst=True)
        _check_columns(engine, url)
        with engine.connect() as connection:
            probe = connection.begin()
            connection.execute(predictions.insert().values(PROBE_ROW))
            probe.rollback()
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise _refuse(url, reason) from None
    finally:
        engine.dispose()


def _check_columns(engine: Engine, url: str) -> None:
    """An existing table of another schema (the earlier `predicted_class`/`probability`
    one) is refused with how to move it aside: it is never altered in place."""
    columns = {column["name"] for column in inspect(engine).get_columns(predictions.name)}
    missing = [column.name for column in predictions.columns if column.name not in columns]
    if not missing:
        return
    if missing == ["ids"]:  # the schema before ids were logged: one added column, no data lost
        raise UserError(
            f"prediction log database {_shown(url)} has a predictions table without the ids "
            "column; run `ALTER TABLE predictions ADD COLUMN ids TEXT` on it"
            + (f" (sqlite3 {make_url(url).database})" if engine.dialect.name == "sqlite" else "")
            + " and start again"
        )
    if columns & LEGACY_COLUMNS:
        old = "the earlier schema (predicted_class, probability)"
    else:
        old = f"other columns (missing {', '.join(missing)})"
    if engine.dialect.name == "sqlite":
        fix = f"move {make_url(url).database} aside (e.g. rename it *.v1.db)"
    else:
        fix = "run `ALTER TABLE predictions RENAME TO predictions_v1` on it"
    raise UserError(
        f"prediction log database {_shown(url)} has a predictions table with {old}; {fix} "
        "and start again: the server creates the new table (monitoring reads only the new one)"
    )


PROBE_ROW = {
    "request_id": "startup-write-probe",
    "created_at": datetime(2000, 1, 1, tzinfo=UTC),
    "model_version": "probe",
    "role": "probe",
    "features": "{}",
    "prediction": "0",
    "score": 0.0,
}


@dataclass(frozen=True)
class FeedbackResult:
    """What the feedback joined to: the logged prediction's model, role and prediction (its
    JSON text, as stored)."""

    model_version: str
    role: str
    prediction: str
    duplicate: bool


@dataclass(slots=True)
class PredictionBatch:
    """One request's predictions; turned into rows by the writer process, not the request."""

    request_ids: Sequence[str]
    model_version: str
    role: str
    feature_names: Sequence[str]
    rows: Sequence[Sequence[Any]]
    predictions: Sequence[Any]  # the predicted label or regression value per row
    scores: Sequence[float]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The rows' JSON objects exactly as the client sent them (already validated), when known:
    # saves re-serialising every feature value.
    features_json: Sequence[str] | None = None
    # Per row, the id columns the request carried ({column: value}); None when none did.
    ids: Sequence[dict[str, Any]] | None = None
    # `durability: commit`: resolves once the rows are committed (the request's answer waits
    # for it); an exception when they cannot be (the answer is a 503, nothing acknowledged).
    committed: Future[None] | None = None

    def wire(self) -> list[Any]:
        """The writer process's item (`predlog.writer.LogWriter.handle`): names and rows only
        when the rows' JSON is not known already."""
        known = self.features_json is not None
        return [
            "p",
            self.request_ids,
            self.model_version,
            self.role,
            None if known else self.feature_names,
            None if known else self.rows,
            self.features_json,
            self.predictions,
            self.scores,
            self.created_at,
            self.ids,
        ]


@dataclass
class PendingFeedback:
    """A label (its JSON text) waiting for its commit; `done` resolves to the join (None:
    unknown id)."""

    request_id: str
    label: str
    done: Future[FeedbackResult | None] = field(default_factory=Future)


class LogFullError(Exception):
    """The log takes no more writes (queue full, commits failing, writer stopped): 503."""


class LogWriteError(Exception):
    """The writer process could not commit (database refused, or the writer stopped)."""


class BatchIdError(LookupError):
    """Feedback named a multi-row request's id: its rows have their own ids."""
