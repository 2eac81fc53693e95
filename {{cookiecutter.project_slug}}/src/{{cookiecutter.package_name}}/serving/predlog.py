"""The prediction / feedback log, written off the request path and out of the server's process.

Schema (shared with monitoring): `predictions(request_id TEXT PK, created_at TIMESTAMP,
model_version TEXT, role TEXT, features JSON TEXT, predicted_class INT, probability FLOAT,
label INT NULL, feedback_at TIMESTAMP NULL)`; `probability` is P(class 1).

Embedded SQLite in WAL mode by default; PostgreSQL when `DATABASE_URL` is set (several
replicas share one log). Request handlers only append to a bounded deque (no lock, no
wake-up, no serialisation on the request path). Every `linger_s` (20 ms) a timer on the
server's event loop drains the deque into one orjson frame and writes it to a non-blocking pipe
to a writer process (`logwriter`), which commits each frame in one transaction (group commit).
The database work runs in another interpreter and no thread of this process wakes to shuttle
data, so logging never holds the GIL while a request waits. When the deque is full, `submit` refuses
and the server answers 503 with Retry-After (back-pressure) instead of buffering without
bound. Feedback is acknowledged only after the writer reports the transaction holding it
committed, so no acknowledged feedback is lost if the server is killed; the writer commits
what it has already received and exits when the server's end of the pipe closes.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
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
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.errors import UserError

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


INSERT_COLUMNS = (
    "request_id", "created_at", "model_version", "role", "features", "predicted_class",
    "probability",
)  # fmt: skip

FRAME_HEADER = struct.Struct("!I")


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    """One length-prefixed frame (the server <-> writer-process protocol, see `logwriter`)."""
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


def check_database(url: str) -> None:
    """Connect and create the table now: a bad DATABASE_URL is a one-line `UserError` before
    the server starts, not a traceback from its startup."""
    engine = make_engine(url)
    try:
        try:
            metadata.create_all(engine, checkfirst=True)
        except SQLAlchemyError:
            # Another replica may have created the table at the same moment.
            metadata.create_all(engine, checkfirst=True)
    except SQLAlchemyError as error:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise UserError(
            f"prediction log database {shown} is not usable: {reason}; "
            "fix DATABASE_URL (or serving.database_url)"
        ) from None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class FeedbackResult:
    """What the feedback joined to: the logged prediction's model and class."""

    model_version: str
    role: str
    predicted_class: int
    duplicate: bool


@dataclass(slots=True)
class PredictionBatch:
    """One request's predictions; turned into rows by the writer process, not the request."""

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

    def wire(self) -> list[Any]:
        """The writer process's item (`logwriter.LogWriter.handle`): names and rows only
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
            self.predicted_classes,
            self.probabilities,
            self.created_at,
        ]


@dataclass
class _Feedback:
    request_id: str
    label: int
    done: Future[FeedbackResult | None] = field(default_factory=Future)


class LogFullError(Exception):
    """The log takes no more writes (queue full, or its writer stopped): shed load (503)."""


class LogWriteError(Exception):
    """The writer process could not commit (database refused, or the writer stopped)."""


def _plain(value: Any) -> Any:
    """orjson fallback: numpy scalars (from feature stores) and anything else as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _settle(waiting: Sequence[_Feedback], error: Exception) -> None:
    for item in waiting:
        if not item.done.done():
            with suppress(InvalidStateError):  # settled meanwhile by the other thread
                item.done.set_exception(error)


WIRE_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
PIPE_BYTES = 1 << 20  # a whole group commit fits: one write per frame, no partial writes
F_SETPIPE_SZ = 1031  # Linux fcntl; elsewhere the default pipe size just means more writes


class PredictionLog:
    """Bounded in-process queue -> event-loop pump -> writer process -> database.

    The pump (a timer every `linger_s` and a reader of the writer's replies) runs on an
    asyncio loop: the server's own (`start(loop)`), so no thread ever competes with request
    handling for the GIL, or a private loop on a daemon thread when used standalone (tests,
    scripts). Pipes are non-blocking; frames are answered in order.
    """

    def __init__(
        self, url: str, max_queue: int = 10_000, max_batch: int = 1000, linger_s: float = 0.02
    ) -> None:
        self.url = url
        self.linger_s = linger_s
        # Here for schema creation and readers (tests, monitoring); writes go through the
        # writer process's own engine.
        self.engine = make_engine(url)
        self.max_batch = max_batch
        self.max_queue = max_queue
        # deque.append/popleft are atomic: producers (any thread) never take a lock.
        self._queue: deque[Any] = deque()
        # Feedback waiting for each frame sent, in order (the writer answers frames in order).
        self._inflight: deque[list[_Feedback]] = deque()
        self._process: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._private_loop = False
        self._out = bytearray()  # frames not yet accepted by the pipe
        self._in = bytearray()  # reply bytes not yet a whole frame
        self._timer: asyncio.TimerHandle | None = None
        self._stdin_fd = self._stdout_fd = -1  # the pipes' descriptors, once started
        self._closing = False
        self._stopped = threading.Event()  # set when the writer's output has ended
        self.failed = False  # the writer stopped without being asked to
        self.written = 0
        self.errors = 0

    # ---------------------------------------------------------------- lifecycle
    def start(
        self, loop: asyncio.AbstractEventLoop | None = None, startup_timeout_s: float = 60.0
    ) -> None:
        """Create the table, start the writer process, wait until it is connected, then
        pump on `loop` (the caller's running loop; called from another thread) or a private
        one. `UserError` when the database is not usable."""
        check_database(self.url)
        process = subprocess.Popen(  # our own interpreter and module
            [sys.executable, "-m", "{{ cookiecutter.package_name }}.serving.logwriter"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        write_frame(process.stdin, orjson.dumps({"url": self.url}))
        hello = self._first_reply(process, startup_timeout_s)
        if "error" in hello:
            self._stop_process()
            raise LogWriteError(f"prediction log writer could not connect: {hello['error']}")
        self._stdin_fd, self._stdout_fd = process.stdin.fileno(), process.stdout.fileno()
        for fd in (self._stdin_fd, self._stdout_fd):
            with suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
            os.set_blocking(fd, False)
        if loop is None:
            loop = asyncio.new_event_loop()
            self._private_loop = True
            threading.Thread(target=loop.run_forever, name="prediction-log", daemon=True).start()
        self._loop = loop
        loop.call_soon_threadsafe(self._attach)

    def _first_reply(self, process: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
        stdout = process.stdout
        assert stdout is not None
        got: list[bytes | None] = []
        reader = threading.Thread(target=lambda: got.append(read_frame(stdout)), daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not got or got[0] is None:
            self._stop_process()
            why = "did not answer" if not got else f"exited with code {process.returncode}"
            raise LogWriteError(f"prediction log writer {why}; see the log above")
        return dict(orjson.loads(got[0]))

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, let the writer commit it, then stop it (from any thread but
        the pump's loop)."""
        loop = self._loop
        if loop is not None and not self._closing:
            self._closing = True
            loop.call_soon_threadsafe(self._tick)  # last frames, then end of input
            if not self._stopped.wait(timeout):
                loop.call_soon_threadsafe(self._detach)
        self._stop_process(timeout)
        if self._private_loop and loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        self.engine.dispose()

    def _stop_process(self, timeout: float = 10.0) -> None:
        process = self._process
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def alive(self) -> bool:
        return (
            self._loop is not None
            and not self._closing
            and not self.failed
            and self._process is not None
            and self._process.poll() is None
        )

    @property
    def depth(self) -> int:
        return len(self._queue)

    def full(self) -> bool:
        return self.failed or len(self._queue) >= self.max_queue

    def refusal(self) -> str:
        """Why writes are refused (the 503's message)."""
        if self.failed:
            return "prediction log writer stopped; the server needs a restart"
        return "prediction log is saturated; retry shortly"

    # ---------------------------------------------------------------- producers
    def submit(self, batch: PredictionBatch) -> None:
        """Queue a batch of predictions (no I/O); `LogFullError` when no more is taken."""
        if self.failed or len(self._queue) >= self.max_queue:
            raise LogFullError
        self._queue.append(batch)

    def feedback(self, request_id: str, label: int) -> Future[FeedbackResult | None]:
        """Queue a label; the future resolves after commit (None: unknown request_id)."""
        if self.failed or len(self._queue) >= self.max_queue:
            raise LogFullError
        item = _Feedback(request_id, label)
        self._queue.append(item)
        return item.done

    # ---------------------------------------------------------------- the pump (loop thread)
    @property
    def _pump(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "start() first"
        return self._loop

    def _attach(self) -> None:
        self._pump.add_reader(self._stdout_fd, self._on_readable)
        self._timer = self._pump.call_later(self.linger_s, self._tick)

    def _detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with suppress(OSError, ValueError):  # the pipes may be closed already
            self._pump.remove_reader(self._stdout_fd)
            self._pump.remove_writer(self._stdin_fd)

    def _tick(self) -> None:
        # Group commit by polling: one frame with whatever is queued, every `linger_s`.
        # Producers never wake the pump; feedback waits at most `linger_s` plus the commit.
        # While the pipe still holds an earlier frame, items stay queued (back-pressure).
        if self._timer is not None:
            self._timer.cancel()
        process = self._process
        assert process is not None and process.stdin is not None
        stdin = process.stdin
        if self.failed or stdin.closed:
            return
        if not self._out:
            self._frame()
        if self._closing and not self._queue and not self._out:
            with suppress(OSError):
                stdin.close()  # end of input: the writer commits what it has and exits
            return
        self._timer = self._pump.call_later(self.linger_s, self._tick)

    def _frame(self) -> None:
        items: list[Any] = []
        waiting: list[_Feedback] = []
        while len(items) < self.max_batch:
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            if type(item) is _Feedback:
                items.append(["f", item.request_id, item.label])
                waiting.append(item)
            else:
                items.append(item.wire())
        if not items:
            return
        try:
            payload = orjson.dumps(items, default=_plain, option=WIRE_OPTIONS)
        except TypeError as error:  # a value orjson cannot encode: lose this frame, not the log
            self.errors += 1
            log.error("prediction log: could not encode %d items: %s", len(items), error)
            _settle(waiting, LogWriteError(str(error)))
            return
        self._inflight.append(waiting)
        self._out += FRAME_HEADER.pack(len(payload)) + payload
        self._flush()

    def _flush(self) -> None:
        try:
            sent = os.write(self._stdin_fd, self._out)
        except BlockingIOError:
            sent = 0
        except OSError:  # the writer is gone: `_on_readable` sees the end and reports it
            self._out.clear()
            return
        del self._out[:sent]
        if self._out:
            self._pump.add_writer(self._stdin_fd, self._on_writable)

    def _on_writable(self) -> None:
        self._pump.remove_writer(self._stdin_fd)
        self._flush()

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._stdout_fd, PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._pump.remove_reader(self._stdout_fd)
            self._writer_ended()
            return
        self._in += chunk
        while len(self._in) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(self._in)
            end = FRAME_HEADER.size + size
            if len(self._in) < end:
                break
            reply = orjson.loads(bytes(self._in[FRAME_HEADER.size : end]))
            del self._in[:end]
            self._settle_frame(reply)

    def _writer_ended(self) -> None:
        if not self._closing:
            self.failed = True
            log.error(
                "prediction log writer stopped (exit code %s); predictions are no longer "
                "logged: restart the server",
                self._process.poll() if self._process is not None else None,
            )
        if self._timer is not None:
            self._timer.cancel()
        stopped = LogWriteError("the prediction log writer stopped")
        while self._inflight:
            _settle(self._inflight.popleft(), stopped)
        self._stopped.set()

    def _settle_frame(self, reply: dict[str, Any]) -> None:
        waiting = self._inflight.popleft()
        if reply["error"] is not None:
            self.errors += 1
            _settle(waiting, LogWriteError(reply["error"]))
            return
        self.written += reply["written"]
        for item, found in zip(waiting, reply["feedback"], strict=True):
            item.done.set_result(None if found is None else FeedbackResult(*found))
