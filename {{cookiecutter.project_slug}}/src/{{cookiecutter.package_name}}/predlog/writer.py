"""The prediction log's writer process: owns the database connection, commits what it is sent.

Started by `PredictionLog.start` as `python -m {{ cookiecutter.package_name }} log-writer`. Why a
process and not a thread: formatting rows and driving SQLAlchemy and the database driver hold
the GIL, and every millisecond the writer holds it is a millisecond the event loop cannot answer; in
its own process the writer has its own interpreter and the server only serialises batches.

Protocol (length-prefixed orjson frames, `predlog.read_frame` / `write_frame`), over the child's
stdin and stdout:
  server -> writer: `{"url": ...}` once (not argv: a password in argv is visible in `ps`),
                    then one list of items per group commit (`PredictionBatch.wire`);
  writer -> server: `{"ready": true}` or `{"error": ...}` once, then one reply per list,
                    `{"written": n, "rejected": n, "feedback": [...], "error": null | str}`
                    (per label: the join, null for an unknown id, [] for a batch's id),
                    sent after the transaction holding the list has committed; `error` set
                    means nothing of the list was committed and the server sends it again.
One bad item never costs its list's other items: an item that cannot be turned into rows, or
that the database refuses on its own (a data error, not an outage), is left out and counted
in `rejected`; the rest commit. Inserts skip request ids already stored, so a list sent again
after a lost reply commits once.
End of input (the server closed the pipe, or died) means: commit what was read, then exit.
SIGINT and SIGTERM are ignored: Ctrl-C reaches the whole process group, and the writer
must outlive the server long enough to commit the server's last batch.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from {{ cookiecutter.package_name }}.predlog.store import (
    INSERT_COLUMNS,
    make_engine,
    predictions,
    read_frame,
    write_frame,
)

log = logging.getLogger(__name__)

# Rows per multi-row INSERT on SQLite: 8 columns x 124 rows stays under 999 bound variables,
# the limit of older SQLite builds.
SQLITE_ROWS_PER_INSERT = 124
# Idempotent inserts (SQLite >= 3.24 and PostgreSQL): a list sent again commits once.
ON_CONFLICT = " ON CONFLICT (request_id) DO NOTHING"


# PostgreSQL's "read-only transaction" (a read-only replica, `default_transaction_read_only`):
# the driver raises it as an InternalError, yet it refuses every row alike.
READ_ONLY_SQLSTATE = "25006"


def _is_outage(error: SQLAlchemyError) -> bool:
    """The database cannot commit anything now (down, disk full, read-only, locked), as
    opposed to refusing one row: the server keeps the list and sends it again."""
    if isinstance(error, OperationalError):
        return True
    if getattr(getattr(error, "orig", None), "sqlstate", None) == READ_ONLY_SQLSTATE:
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _request_ids(item: list[Any]) -> list[str]:
    """A prediction item's request ids (none when the item is too malformed to say)."""
    ids = item[1] if len(item) > 1 and isinstance(item[1], list) else []
    return [str(request_id) for request_id in ids]


def _reply(written: int, refused: list[str], feedback: list[Any]) -> dict[str, Any]:
    """A committed frame's answer: rows written, the request ids of rows the database refused
    (or that were malformed), the feedback results."""
    return {"written": written, "rejected": len(refused), "refused": refused,
            "feedback": feedback, "error": None}  # fmt: skip


def sqlite_timestamp(iso: str) -> str:
    """orjson's UTC ISO text -> the text SQLAlchemy's DateTime stores and reads on SQLite
    (SQLite has no timestamp type). Slicing, not strptime/strftime: it runs once per row."""
    fraction = iso[19:26] if iso[19:20] == "." else ".000000"
    return f"{iso[:10]} {iso[11:19]}{fraction}"


class LogWriter:
    """Commits lists of wire items (predictions and feedback) in one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._values_sql = f"({', '.join([marker] * len(INSERT_COLUMNS))})"
        # Built from constants only (table and column names, the driver's placeholder).
        columns = ", ".join(INSERT_COLUMNS)
        self._insert_head = f"INSERT INTO {predictions.name} ({columns}) VALUES "  # noqa: S608
        self._multi_sql: dict[int, str] = {}

    def handle(self, items: list[list[Any]]) -> dict[str, Any]:
        rows: list[tuple[Any, ...]] = []
        feedback: list[tuple[str, str]] = []
        refused: list[str] = []  # request ids of rows not stored (their requests may wait)
        for item in items:
            if item[0] != "p":
                feedback.append((item[1], item[2]))
                continue
            try:
                rows.extend(self._records(item))
            except (TypeError, ValueError, IndexError) as error:
                refused.extend(_request_ids(item))
                log.error("prediction log: a malformed batch was not stored: %s", error)
        try:
            results = self._commit(rows, feedback)
        except SQLAlchemyError as error:
            if _is_outage(error):
                return self._failed(error, len(rows))
            # A data error: commit item by item so only the refused ones are left out.
            return self._one_by_one(items, refused)
        return _reply(len(rows), refused, results)

    def _failed(self, error: SQLAlchemyError, count: int) -> dict[str, Any]:
        message = " ".join(str(getattr(error, "orig", None) or error).split())[:500]
        log.error("prediction log write failed (%d rows, will be retried): %s", count, message)
        return {"written": 0, "rejected": 0, "feedback": None, "error": message}

    def _one_by_one(self, items: list[list[Any]], refused: list[str]) -> dict[str, Any]:
        written = 0
        results: list[list[Any] | None] = []
        for item in items:
            feedback = [] if item[0] == "p" else [(item[1], item[2])]
            try:
                rows = self._records(item) if item[0] == "p" else []
            except (TypeError, ValueError, IndexError):
                continue  # counted as rejected by `handle` already
            try:
                found = self._commit(rows, feedback)
            except SQLAlchemyError as error:
                if _is_outage(error):
                    return self._failed(error, len(rows))
                log.error("prediction log refused an item, not stored: %s", error)
                refused.extend(_request_ids(item) if item[0] == "p" else [])
                found = [None] * len(feedback)
            written += len(rows) if found is not None else 0
            results.extend(found)
        return _reply(written, refused, results)

    def _records(self, item: list[Any]) -> list[tuple[Any, ...]]:
        _, request_ids, version, role, names, rows, features_json, predicted, scores, created = (
            item[:10]
        )
        ids = item[10] if len(item) > 10 and item[10] is not None else [None] * len(request_ids)
        if features_json is None:
            features_json = [json.dumps(dict(zip(names, row, strict=True))) for row in rows]
        created_at = sqlite_timestamp(created) if self.sqlite else datetime.fromisoformat(created)
        return [
            (request_id, created_at, version, role, row_json, _json(value), float(score),
             json.dumps(row_ids) if row_ids else None)
            for request_id, row_json, value, score, row_ids in zip(
                request_ids, features_json, predicted, scores, ids, strict=True
            )
        ]  # fmt: skip

    def _multi_insert(self, count: int) -> str:
        sql = self._multi_sql.get(count)
        if sql is None:
            values = ", ".join([self._values_sql] * count)
            sql = self._multi_sql[count] = self._insert_head + values + ON_CONFLICT
        return sql

    def _commit(
        self, rows: list[tuple[Any, ...]], feedback: list[tuple[str, str]]
    ) -> list[list[Any] | None]:
        results: list[list[Any] | None] = []
        with self.engine.begin() as connection:
            if rows and self.sqlite:
                # One statement per chunk: far fewer driver round trips than executemany.
                for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
                    chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
                    connection.exec_driver_sql(
                        self._multi_insert(len(chunk)), tuple(v for row in chunk for v in row)
                    )
            elif rows:
                sql = self._insert_head + self._values_sql + ON_CONFLICT
                connection.exec_driver_sql(sql, rows)
            for request_id, label in feedback:
                found = connection.execute(
                    select(
                        predictions.c.model_version,
                        predictions.c.role,
                        predictions.c.prediction,
                        predictions.c.label,
                    ).where(predictions.c.request_id == request_id)
                ).first()
                if found is None:
                    # A multi-row request's id names no row (its rows are `<id>-<i>`): []
                    # tells the server to say so instead of "unknown".
                    results.append([] if self._is_batch(connection, request_id) else None)
                    continue
                connection.execute(
                    update(predictions)
                    .where(predictions.c.request_id == request_id)
                    .values(label=label, feedback_at=datetime.now(UTC))
                )
                duplicate = found.label is not None
                results.append([found.model_version, found.role, found.prediction, duplicate])
        return results

    @staticmethod
    def _is_batch(connection: Any, request_id: str) -> bool:
        # A multi-row request's rows are `<id>-0`, `<id>-1`, ...: one primary-key lookup.
        found = connection.execute(
            select(predictions.c.request_id).where(predictions.c.request_id == f"{request_id}-0")
        ).first()
        return found is not None


def _json(value: Any) -> str:
    """A predicted label or value as stored: its JSON text (strings stay strings)."""
    if type(value) not in (str, int, float, bool):
        raise TypeError(f"prediction {value!r} is not a label or a number")
    return orjson.dumps(value).decode()


def serve(source: IO[bytes], sink: IO[bytes]) -> int:
    """Read the URL, then commit lists until end of input (exit code 2: cannot connect)."""
    first = read_frame(source)
    if first is None:
        return 0
    try:
        engine = make_engine(orjson.loads(first)["url"])
        with engine.connect():
            pass
    except (SQLAlchemyError, KeyError, ValueError) as error:
        write_frame(sink, orjson.dumps({"error": " ".join(str(error).split())[:500]}))
        return 2
    writer = LogWriter(engine)
    write_frame(sink, orjson.dumps({"ready": True}))
    try:
        while (payload := read_frame(source)) is not None:
            write_frame(sink, orjson.dumps(writer.handle(orjson.loads(payload))))
    except BrokenPipeError:  # the server died after sending: what it sent is committed
        pass
    finally:
        engine.dispose()
    return 0


def main() -> int:
    """The writer process (`<package> log-writer`, started by `process.start_writer`)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return serve(sys.stdin.buffer, sys.stdout.buffer)
