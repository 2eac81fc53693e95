"""The prediction / feedback log, written off the request path.

Schema (shared with monitoring): `predictions(request_id TEXT PK, created_at TIMESTAMP,
model_version TEXT, role TEXT, features JSON TEXT, predicted_class INT, probability FLOAT,
label INT NULL, feedback_at TIMESTAMP NULL)`; `probability` is P(class 1).

Embedded SQLite in WAL mode by default; PostgreSQL when `DATABASE_URL` is set (several
replicas share one log). Request handlers only append to a bounded deque (no lock, no
wake-up, no serialisation on the request path); one background thread formats the rows and
writes them in batches (one transaction per batch; on SQLite one multi-row INSERT per
`SQLITE_ROWS_PER_INSERT` rows, so the writer releases and re-takes the GIL once per chunk
instead of once per row). When the queue is full, `submit` refuses
and the server answers 503 with Retry-After (back-pressure) instead of buffering without
bound. Writes are group-committed: the writer drains the queue every `linger_s` (20 ms)
into one transaction. Feedback is acknowledged only after the transaction holding it has committed,
so no acknowledged feedback is lost if the process is killed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("request_id", String(160), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_version", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("features", Text, nullable=False),
    Column("predicted_class", Integer, nullable=False),
    Column("probability", Float, nullable=False),
    Column("label", Integer, nullable=True),
    Column("feedback_at", DateTime(timezone=True), nullable=True),
)


def database_url(url: str | None, default_path: Path) -> str:
    """SQLAlchemy URL: `url` (e.g. DATABASE_URL) or SQLite at `default_path`.

    Plain `postgresql://` / `postgres://` URLs use the psycopg (v3) driver.
    """
    if not url:
        default_path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{default_path}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


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


@dataclass(frozen=True)
class FeedbackResult:
    """What the feedback joined to: the logged prediction's model and class."""

    model_version: str
    role: str
    predicted_class: int
    duplicate: bool


@dataclass(slots=True)
class PredictionBatch:
    """One request's predictions; serialised to rows by the writer, not the request."""

    request_ids: Sequence[str]
    model_version: str
    role: str
    feature_names: Sequence[str]
    rows: Sequence[Sequence[Any]]
    predicted_classes: Sequence[int]
    probabilities: Sequence[float]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The rows' JSON objects exactly as the client sent them (already validated), when known:
    # saves re-serialising every feature value.
    features_json: Sequence[str] | None = None

    def records(self, created_at: Any) -> list[tuple[Any, ...]]:
        """Rows in `INSERT_COLUMNS` order (`created_at` already in the driver's format)."""
        features = self.features_json or [
            json.dumps(dict(zip(self.feature_names, row, strict=True))) for row in self.rows
        ]
        return [
            (
                request_id,
                created_at,
                self.model_version,
                self.role,
                row_json,
                int(predicted),
                float(probability),
            )
            for request_id, row_json, predicted, probability in zip(
                self.request_ids, features, self.predicted_classes, self.probabilities, strict=True
            )
        ]


INSERT_COLUMNS = (
    "request_id", "created_at", "model_version", "role", "features", "predicted_class",
    "probability",
)  # fmt: skip
# Rows per multi-row INSERT on SQLite: 7 columns x 128 rows stays under 999 bound variables,
# the limit of older SQLite builds.
SQLITE_ROWS_PER_INSERT = 128


@dataclass
class _Feedback:
    request_id: str
    label: int
    done: Future[FeedbackResult | None] = field(default_factory=Future)


class LogFullError(Exception):
    """The write queue is full: the caller should shed load (503 + Retry-After)."""


_STOP = object()


class PredictionLog:
    """Bounded queue + one background writer thread."""

    def __init__(
        self, url: str, max_queue: int = 10_000, max_batch: int = 1000, linger_s: float = 0.02
    ) -> None:
        self.url = url
        self.linger_s = linger_s
        self.engine = make_engine(url)
        self._sqlite = self.engine.dialect.name == "sqlite"
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        # Built from constants only (table and column names, the driver's placeholder).
        self._insert_sql = (
            f"INSERT INTO {predictions.name} ({', '.join(INSERT_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join([marker] * len(INSERT_COLUMNS))})"
        )
        self._values_sql = f"({', '.join([marker] * len(INSERT_COLUMNS))})"
        self._multi_sql: dict[int, str] = {}
        self.max_batch = max_batch
        self.max_queue = max_queue
        # deque.append/popleft are atomic: producers never take a lock or wake the writer.
        self._queue: deque[Any] = deque()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.errors = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except SQLAlchemyError:
            # Another replica may have created the table at the same moment.
            metadata.create_all(self.engine, checkfirst=True)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued, then stop the writer."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.append(_STOP)
            self._thread.join(timeout)
        self.engine.dispose()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def depth(self) -> int:
        return len(self._queue)

    def full(self) -> bool:
        return len(self._queue) >= self.max_queue

    # ---------------------------------------------------------------- producers
    def submit(self, batch: PredictionBatch) -> None:
        """Queue a batch of predictions (no I/O); `LogFullError` when the queue is full."""
        if len(self._queue) >= self.max_queue:
            raise LogFullError
        self._queue.append(batch)

    def feedback(self, request_id: str, label: int) -> Future[FeedbackResult | None]:
        """Queue a label; the future resolves after commit (None: unknown request_id)."""
        if len(self._queue) >= self.max_queue:
            raise LogFullError
        item = _Feedback(request_id, label)
        self._queue.append(item)
        return item.done

    # ---------------------------------------------------------------- writer
    def _run(self) -> None:
        # Group commit by polling: drain whatever is queued into one transaction, then sleep
        # `linger_s`. Producers never wake this thread (a wake-up per request would bounce
        # the GIL between threads); feedback waits at most `linger_s` plus the commit.
        stopping = False
        while not stopping:
            batch: list[Any] = []
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.popleft()
                except IndexError:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)
            if not stopping and len(batch) < self.max_batch:
                time.sleep(self.linger_s)

    def _write(self, batch: list[Any]) -> None:
        rows = [
            row
            for item in batch
            if isinstance(item, PredictionBatch)
            for row in item.records(self._timestamp(item.created_at))
        ]
        feedback = [item for item in batch if isinstance(item, _Feedback)]
        try:
            results = self._commit(rows, feedback)
        except SQLAlchemyError as error:
            self.errors += 1
            log.error("prediction log write failed (%d rows): %s", len(rows), error)
            for item in feedback:
                item.done.set_exception(error)
            return
        self.written += len(rows)
        for item, result in zip(feedback, results, strict=True):
            item.done.set_result(result)

    def _multi_insert(self, count: int) -> str:
        sql = self._multi_sql.get(count)
        if sql is None:
            # Built from constants only (table and column names, the driver's placeholder).
            head = self._insert_sql.split(" VALUES ")[0]
            sql = self._multi_sql[count] = f"{head} VALUES {', '.join([self._values_sql] * count)}"
        return sql

    def _timestamp(self, moment: datetime) -> Any:
        # SQLite has no timestamp type: store the text SQLAlchemy's DateTime stores and reads.
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if self._sqlite else moment

    def _commit(
        self, rows: list[tuple[Any, ...]], feedback: list[_Feedback]
    ) -> list[FeedbackResult | None]:
        results: list[FeedbackResult | None] = []
        with self.engine.begin() as connection:
            if rows and self._sqlite:
                # One statement per chunk: sqlite3's executemany steps (and so releases and
                # re-takes the GIL, waiting on the request thread each time) once per row.
                for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
                    chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
                    connection.exec_driver_sql(
                        self._multi_insert(len(chunk)), tuple(v for row in chunk for v in row)
                    )
            elif rows:
                # Straight to the driver's executemany: no per-row SQLAlchemy processing
                # (the writer shares the GIL with the request handlers).
                connection.exec_driver_sql(self._insert_sql, rows)
            for item in feedback:
                found = connection.execute(
                    select(
                        predictions.c.model_version,
                        predictions.c.role,
                        predictions.c.predicted_class,
                        predictions.c.label,
                    ).where(predictions.c.request_id == item.request_id)
                ).first()
                if found is None:
                    results.append(None)
                    continue
                connection.execute(
                    update(predictions)
                    .where(predictions.c.request_id == item.request_id)
                    .values(label=item.label, feedback_at=datetime.now(UTC))
                )
                results.append(
                    FeedbackResult(
                        model_version=found.model_version,
                        role=found.role,
                        predicted_class=found.predicted_class,
                        duplicate=found.label is not None,
                    )
                )
        return results
