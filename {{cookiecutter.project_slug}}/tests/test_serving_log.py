"""The prediction/feedback log: batching, back-pressure, durability, SQLite and PostgreSQL.

The PostgreSQL tests run when TEST_DATABASE_URL points at a server, e.g.
`TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres` (the template's own tests
start a throwaway server and set it); they are skipped otherwise.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, InternalError

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.predlog.pump import PredictionLog
from {{ cookiecutter.package_name }}.predlog.store import (
    LogFullError,
    LogWriteError,
    PredictionBatch,
    check_database,
    database_url,
    make_engine,
    predictions,
)
from {{ cookiecutter.package_name }}.predlog.writer import _is_outage

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


def batch(ids: list[str], version: str = "v1") -> PredictionBatch:
    return PredictionBatch(
        ids, version, "champion", ["a", "b"], [(1.0, 2.0)] * len(ids), [1] * len(ids),
        [0.9] * len(ids),
    )  # fmt: skip


def sqlite_url(tmp_path: Path) -> str:
    return database_url(None, tmp_path / "data" / "predictions.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set (no PostgreSQL server to test against)")
    yield database_url(POSTGRES_URL, tmp_path)


def test_predictions_and_feedback_round_trip(url: str) -> None:
    prefix = uuid.uuid4().hex
    ids = [f"{prefix}-{i}" for i in range(300)]
    log = PredictionLog(url, max_batch=64)
    log.start()
    try:
        for start in range(0, 300, 30):
            log.submit(batch(ids[start : start + 30]))
        result = log.feedback(ids[5], "0").result(timeout=30)
        missing = log.feedback(f"{prefix}-missing", "1").result(timeout=30)
        again = log.feedback(ids[5], "1").result(timeout=30)
    finally:
        log.close()
    assert result is not None and result.prediction == "1" and not result.duplicate
    assert missing is None
    assert again is not None and again.duplicate
    reader = make_engine(url)
    try:
        with reader.connect() as connection:
            rows = connection.execute(
                select(predictions.c.request_id, predictions.c.label).where(
                    predictions.c.request_id.startswith(prefix)
                )
            ).all()
            connection.execute(
                delete(predictions).where(predictions.c.request_id.startswith(prefix))
            )
            connection.commit()
    finally:
        reader.dispose()
    assert len(rows) == 300
    assert dict(rows)[ids[5]] == "1"  # the label's JSON text
    assert sum(label is not None for _, label in rows) == 1


def test_full_queue_refuses_instead_of_growing(tmp_path: Path) -> None:
    log = PredictionLog(sqlite_url(tmp_path), max_queue=2)  # writer not started
    log.submit(batch(["a"]))
    log.submit(batch(["b"]))
    with pytest.raises(LogFullError):
        log.submit(batch(["c"]))
    with pytest.raises(LogFullError):
        log.feedback("a", "1")


KILLED_WRITER = """
import os, signal, sys
from {{ cookiecutter.package_name }}.predlog.pump import PredictionLog
from {{ cookiecutter.package_name }}.predlog.store import PredictionBatch
log = PredictionLog(sys.argv[1])
log.start()
prefix = sys.argv[2]
log.submit(PredictionBatch([prefix], "v1", "champion", ["a"], [(1.0,)], [1], [0.8]))
result = log.feedback(prefix, '"no"').result(timeout=30)
assert result is not None
print("acknowledged", flush=True)
for i in range(200):  # more work in flight when the process dies
    log.submit(PredictionBatch([f"{prefix}-{i}"], "v1", "champion", ["a"], [(1.0,)], [1], [0.8]))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_acknowledged_feedback_survives_kill(tmp_path: Path, backend: str) -> None:
    if backend == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("TEST_DATABASE_URL is not set (no PostgreSQL server to test against)")
        url = database_url(POSTGRES_URL, tmp_path)
    else:
        url = sqlite_url(tmp_path)
    prefix = uuid.uuid4().hex
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(KILLED_WRITER))
    done = subprocess.run(
        [sys.executable, str(script), url, prefix],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "acknowledged" in done.stdout
    reader = make_engine(url)
    try:
        with reader.connect() as connection:
            label = connection.execute(
                select(predictions.c.label).where(predictions.c.request_id == prefix)
            ).scalar_one()
            connection.execute(
                delete(predictions).where(predictions.c.request_id.startswith(prefix))
            )
            connection.commit()
    finally:
        reader.dispose()
    assert label == '"no"'


def test_database_url_normalisation(tmp_path: Path) -> None:
    assert database_url("postgres://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert database_url(None, tmp_path / "x" / "p.db") == f"sqlite:///{tmp_path / 'x' / 'p.db'}"
    assert (tmp_path / "x").is_dir()


def test_timestamps_round_trip(url: str) -> None:
    prefix = uuid.uuid4().hex
    moments = [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: orjson omits them
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    ]
    log = PredictionLog(url)
    log.start()
    try:
        for i, moment in enumerate(moments):
            item = batch([f"{prefix}-{i}"])
            item.created_at = moment
            log.submit(item)
        log.feedback(f"{prefix}-1", "1").result(timeout=30)  # resolves after the commit
    finally:
        log.close()
    reader = make_engine(url)
    try:
        with reader.connect() as connection:
            query = (
                select(predictions.c.created_at)
                .where(predictions.c.request_id.startswith(prefix))
                .order_by(predictions.c.request_id)
            )
            stored = connection.execute(query).scalars().all()
            connection.execute(
                delete(predictions).where(predictions.c.request_id.startswith(prefix))
            )
            connection.commit()
    finally:
        reader.dispose()
    naive = [m.astimezone(UTC).replace(tzinfo=None) if m.tzinfo else m for m in stored]
    assert naive == [m.replace(tzinfo=None) for m in moments]


def test_writer_dying_too_often_is_fatal_and_writes_refused(
    tmp_path: Path, kill_log_writer: Callable[[PredictionLog], None]
) -> None:
    fatal: list[str] = []
    log = PredictionLog(sqlite_url(tmp_path), max_restarts=1, on_fatal=fatal.append)
    log.start()
    try:
        assert log.alive and not log.failed
        kill_log_writer(log)  # restarted once ...
        assert log.alive and log.restarted == 1
        kill_log_writer(log)  # ... but not twice within the window
        assert log.failed and not log.alive and len(fatal) == 1
        with pytest.raises(LogFullError):
            log.submit(batch(["late"]))
        with pytest.raises(LogFullError):
            log.feedback("late", "1")
        assert "restart" in log.refusal()
    finally:
        log.close()


def stored_ids(url: str, prefix: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                select(predictions.c.request_id).where(predictions.c.request_id.startswith(prefix))
            ).scalars()
            return set(found)
    finally:
        engine.dispose()


def test_timed_out_feedback_does_not_break_its_frame(tmp_path: Path) -> None:
    """A request that stops waiting cancels its future; the others in the same frame must
    still resolve (the pump once raised InvalidStateError and left them hanging)."""
    url = sqlite_url(tmp_path)
    log = PredictionLog(url, linger_s=0.3)  # a long linger: the three labels share a frame
    log.start()
    try:
        log.submit(batch(["a", "b", "c"]))
        assert log.feedback("a", "1").result(timeout=30) is not None
        timed_out = log.feedback("a", "0")
        others = [log.feedback("b", "1"), log.feedback("c", "0")]
        assert timed_out.cancel()  # what asyncio.wait_for does on timeout
        results = [future.result(timeout=30) for future in others]
    finally:
        log.close()
    assert [result is not None and not result.duplicate for result in results] == [True] * 2
    engine = make_engine(url)
    with engine.connect() as connection:
        query = select(predictions.c.request_id, predictions.c.label)
        labels = dict(connection.execute(query).all())
    engine.dispose()
    assert labels == {"a": "0", "b": "1", "c": "0"}  # the timed-out label was committed too


def test_one_bad_item_never_costs_its_frame(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    log = PredictionLog(url, linger_s=0.3)
    log.start()
    try:
        log.submit(batch(["good-1"]))
        bad = batch(["bad"])
        bad.scores = [None]  # type: ignore[list-item]
        log.submit(bad)
        log.submit(batch(["good-2"]))
        assert log.feedback("good-2", "1").result(timeout=30) is not None
        assert log.alive
    finally:
        log.close()
    assert stored_ids(url, "") == {"good-1", "good-2"}
    assert log.not_stored == 1 and log.written == 2


def test_a_row_the_database_refuses_is_never_acknowledged(tmp_path: Path) -> None:
    """Under `commit` a request whose row the database refuses gets an error, not a 200 for a
    row that is not stored; its neighbours in the frame commit."""
    url = sqlite_url(tmp_path)
    log = PredictionLog(url, linger_s=0.3, durability="commit")
    log.start()
    try:
        bad = batch(["bad"])
        bad.scores = [None]  # type: ignore[list-item]
        waiting = [log.submit(batch(["good-1"])), log.submit(bad), log.submit(batch(["good-2"]))]
        assert all(future is not None for future in waiting)
        good_1, refused, good_2 = (future for future in waiting if future is not None)
        assert good_1.result(timeout=30) is None and good_2.result(timeout=30) is None
        with pytest.raises(LogWriteError, match="refused"):
            refused.result(timeout=30)
    finally:
        log.close()
    assert stored_ids(url, "") == {"good-1", "good-2"}
    assert log.not_stored == 0 and log.written == 2  # nobody was told "bad" is stored
    assert log.refused == 1


def test_failed_commits_refuse_writes_retry_and_lose_nothing(tmp_path: Path) -> None:
    """While the database cannot commit (here: the writer may not grow any file, as on a
    full disk), writes are refused, the held frame is retried, and it commits afterwards."""
    url = sqlite_url(tmp_path)
    log = PredictionLog(url, retry_s=0.05)
    log.start()
    try:
        log.submit(batch(["before"]))
        assert log.feedback("before", "1").result(timeout=30) is not None
        assert log._process is not None
        pid = log._process.pid
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        log.submit(batch([f"held-{i}" for i in range(50)]))
        deadline = time.monotonic() + 30
        while log.failing is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.failing is not None and not log.alive
        with pytest.raises(LogFullError):
            log.submit(batch(["refused"]))
        assert "cannot commit" in log.refusal()
        resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
        while log.failing is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.alive and log.commit_failures >= 1
    finally:
        log.close()
    assert stored_ids(url, "held-") == {f"held-{i}" for i in range(50)}
    assert log.not_stored == 0


def test_commit_durability_answers_after_the_commit_without_waiting_the_linger(
    tmp_path: Path,
) -> None:
    """`commit`: a submit wakes the pump (a 5 s linger is never waited for), the future
    resolves once the rows are in the database, and concurrent submits share commits."""
    url = sqlite_url(tmp_path)
    log = PredictionLog(url, linger_s=5.0, durability="commit")
    log.start()
    try:
        started = time.monotonic()
        committed = log.submit(batch(["first"]))
        assert committed is not None
        committed.result(timeout=4)
        assert time.monotonic() - started < 4 and stored_ids(url, "first") == {"first"}
        futures = [log.submit(batch([f"many-{i}"])) for i in range(200)]
        for future in futures:
            assert future is not None
            future.result(timeout=30)
        assert stored_ids(url, "many-") == {f"many-{i}" for i in range(200)}
        assert log.submit(batch(["shadow"]), acknowledge=False) is None  # nobody waits
    finally:
        log.close()
    assert log.not_stored == 0 and log.refused == 0


def test_commit_durability_refuses_what_cannot_be_committed(tmp_path: Path) -> None:
    """`commit`: a batch whose commit fails fails its waiter (its request answers 503) and is
    not retried, so nothing unacknowledged is stored later; commits resume afterwards."""
    url = sqlite_url(tmp_path)
    log = PredictionLog(url, retry_s=1.0, durability="commit")
    log.start()
    try:
        assert log.submit(batch(["before"])).result(timeout=30) is None  # type: ignore[union-attr]
        assert log._process is not None
        pid = log._process.pid
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))  # disk full
        failed = log.submit(batch([f"held-{i}" for i in range(20)]))
        assert failed is not None
        with pytest.raises(LogWriteError, match="cannot commit"):
            failed.result(timeout=30)
        with pytest.raises(LogFullError):  # refused for retry_s after the failed commit
            log.submit(batch(["refused"]))
        assert not log.alive  # /ready fails meanwhile
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
        time.sleep(1.1)  # then the next request tries again, and its commit clears the fault
        assert log.submit(batch(["after"])).result(timeout=30) is None  # type: ignore[union-attr]
        assert log.alive
    finally:
        log.close()
    assert stored_ids(url, "") == {"before", "after"}
    assert log.refused == 20 and log.not_stored == 0


def test_unusable_database_is_one_line_without_the_password() -> None:
    with pytest.raises(UserError) as raised:
        check_database("postgresql+psycopg://u:s3cret@127.0.0.1:1/db")
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert "DATABASE_URL" in message and "127.0.0.1:1" in message


def test_labels_and_predictions_of_any_type_round_trip_as_json(url: str) -> None:
    """Strings stay strings, numbers numbers, booleans booleans (monitoring decodes them)."""
    prefix = uuid.uuid4().hex
    values = ["class_0", 3, True, 151.25]
    log = PredictionLog(url)
    log.start()
    try:
        for i, value in enumerate(values):
            log.submit(
                PredictionBatch(
                    [f"{prefix}-{i}"], "v1", "champion", ["a"], [("x",)], [value], [0.5]
                )
            )
        joined = [
            log.feedback(f"{prefix}-{i}", json.dumps(v)).result(timeout=30)
            for i, v in enumerate(values)
        ]
    finally:
        log.close()
    assert [json.loads(result.prediction) for result in joined if result] == values
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = (
                select(predictions.c.features, predictions.c.prediction, predictions.c.label)
                .where(predictions.c.request_id.startswith(prefix))
                .order_by(predictions.c.request_id)
            )
            stored = connection.execute(query).all()
            connection.execute(
                delete(predictions).where(predictions.c.request_id.startswith(prefix))
            )
            connection.commit()
    finally:
        engine.dispose()
    assert [json.loads(row.prediction) for row in stored] == values
    assert [json.loads(row.label) for row in stored] == values
    assert all(
        type(json.loads(row.prediction)) is type(v) for row, v in zip(stored, values, strict=True)
    )
    assert json.loads(stored[0].features) == {"a": "x"}


@contextmanager
def empty_database(url: str) -> Iterator[str]:
    """A database of its own (PostgreSQL: created and dropped here; SQLite: a new file)."""
    if url.startswith("sqlite"):
        yield url
        return
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def test_a_log_of_the_earlier_schema_is_refused_with_the_fix(url: str) -> None:
    with empty_database(url) as legacy:
        engine = make_engine(legacy)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE predictions (request_id TEXT PRIMARY KEY, created_at TIMESTAMP, "
                "model_version TEXT, role TEXT, features TEXT, predicted_class INTEGER, "
                "probability FLOAT, label INTEGER, feedback_at TIMESTAMP)"
            )
        engine.dispose()
        with pytest.raises(UserError) as raised:
            check_database(legacy)
        message = str(raised.value)
        assert "\n" not in message and "predicted_class" in message
        fix = "predictions.db aside" if legacy.startswith("sqlite") else "RENAME TO predictions_v1"
        assert fix in message, message
        with pytest.raises(UserError, match="earlier schema"):
            PredictionLog(legacy).start()  # the server's start-up runs the same check


def test_a_log_without_ids_is_refused_with_the_alter_that_fixes_it(tmp_path: Path) -> None:
    """The log before ids were logged: refused in one line naming the one ALTER TABLE; after
    it, the old rows stay and new ones carry their ids."""
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE predictions (request_id VARCHAR(160) PRIMARY KEY, created_at TIMESTAMP "
            "NOT NULL, model_version TEXT NOT NULL, role VARCHAR(16) NOT NULL, features TEXT NOT "
            "NULL, prediction TEXT NOT NULL, score FLOAT NOT NULL, label TEXT, feedback_at "
            "TIMESTAMP)"
        )
        connection.exec_driver_sql(
            "INSERT INTO predictions VALUES ('old', '2024-01-01 00:00:00.000000', 'v0', "
            "'champion', '{}', '1', 0.5, NULL, NULL)"
        )
    with pytest.raises(UserError) as raised:
        check_database(url)
    message = str(raised.value)
    assert "\n" not in message and "ALTER TABLE predictions ADD COLUMN ids TEXT" in message
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE predictions ADD COLUMN ids TEXT")
    check_database(url)
    log = PredictionLog(url)
    log.start()
    try:
        log.submit(
            PredictionBatch(
                ["new"], "v1", "champion", ["a"], [(1.0,)], [1], [0.8], ids=[{"key": "K-1"}]
            )
        )
    finally:
        log.close()
    with engine.connect() as connection:
        stored = dict(connection.execute(select(predictions.c.request_id, predictions.c.ids)).all())
    engine.dispose()
    assert stored == {"old": None, "new": '{"key": "K-1"}'}


def test_a_read_only_database_is_an_outage_not_a_refused_row() -> None:
    """PostgreSQL raises "read-only transaction" (SQLSTATE 25006) as an InternalError. It
    refuses every row alike: the frame is kept (buffered) or its requests answered 503
    (commit), never counted as rows the database refused one by one while their clients
    were told they are stored (`make chaos --fault read-only` lost 327 of 1355 that way)."""

    class ReadOnlyTransactionError(Exception):
        sqlstate = "25006"

    class UniqueViolationError(Exception):
        sqlstate = "23505"

    assert _is_outage(InternalError("INSERT", {}, ReadOnlyTransactionError()))
    assert not _is_outage(IntegrityError("INSERT", {}, UniqueViolationError()))
