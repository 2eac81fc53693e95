"""The prediction log's queue and pump: request handlers -> writer process -> database.

Request handlers only append to a bounded deque (no lock, no wake-up, no serialisation on
the request path). Every `linger_s` (20 ms) a timer on the server's event loop drains the
deque into one orjson frame and writes it to a non-blocking pipe to a writer process
(`writer`), which commits each frame in one transaction (group commit) and answers it.
The database work runs in another interpreter and no thread of this process wakes to shuttle
data, so logging never holds the GIL while a request waits.

Nothing acknowledged is lost while the process lives:
- a frame stays in memory until the writer reports its transaction committed; a failed
  commit (database down, disk full, read-only) puts the frame back at the head of the queue
  and it is sent again every `retry_s` (inserts are idempotent) until it commits;
- from the first failed commit until the next successful one the log refuses new writes
  (`LogFullError`: the server answers 503 with Retry-After and /ready fails), so the rows
  held in memory stay bounded by `max_queue` plus the frames in flight;
- a writer process that dies is restarted and sent its unanswered frames again, at most
  `max_restarts` times per `restart_window_s`; past that the log is `failed` and `on_fatal`
  is called (the server then exits non-zero so its supervisor restarts it).
Rows that can never be stored (the database refuses that row itself, a value that cannot be
encoded, or still queued when `close` gives up) are counted in `not_stored` and logged.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson

from {{ cookiecutter.package_name }}.predlog.process import start_writer, stop_writer
from {{ cookiecutter.package_name }}.predlog.store import (
    FRAME_HEADER,
    BatchIdError,
    FeedbackResult,
    LogFullError,
    LogWriteError,
    PendingFeedback,
    PredictionBatch,
    check_database,
)

log = logging.getLogger(__name__)

WIRE_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
PIPE_BYTES = 1 << 20  # a whole group commit fits: one write per frame, no partial writes
F_SETPIPE_SZ = 1031  # Linux fcntl; elsewhere the default pipe size just means more writes


def _plain(value: Any) -> Any:
    """orjson fallback: numpy scalars (from feature stores) and anything else as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _encode(items: list[Any]) -> bytes:
    return orjson.dumps(items, default=_plain, option=WIRE_OPTIONS)


def _rows(item: Any) -> int:
    return len(item.request_ids) if type(item) is PredictionBatch else 0


def _fail(item: Any, error: Exception) -> None:
    if type(item) is PendingFeedback and not item.done.done():
        with suppress(InvalidStateError):  # cancelled by a timed-out request meanwhile
            item.done.set_exception(error)


@dataclass(slots=True)
class _Frame:
    """A frame sent and not yet answered: its queue items, to send again if it fails."""

    items: list[Any]
    waiting: list[PendingFeedback]


class PredictionLog:
    """Bounded in-process queue -> event-loop pump -> writer process -> database.

    The pump (a timer every `linger_s` and a reader of the writer's replies) runs on an
    asyncio loop: the server's own (`start(loop)`), so no thread ever competes with request
    handling for the GIL, or a private loop on a daemon thread when used standalone (tests,
    scripts). Pipes are non-blocking; frames are answered in order.
    """

    def __init__(
        self,
        url: str,
        max_queue: int = 10_000,
        max_batch: int = 1000,
        linger_s: float = 0.02,
        *,
        retry_s: float = 0.5,
        max_restarts: int = 3,
        restart_window_s: float = 60.0,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.linger_s, self.retry_s = linger_s, retry_s
        self.max_batch, self.max_queue = max_batch, max_queue
        self.max_restarts, self.restart_window_s = max_restarts, restart_window_s
        self.on_fatal = on_fatal
        # deque.append/popleft are atomic: producers (any thread) never take a lock.
        self._queue: deque[Any] = deque()
        self._inflight: deque[_Frame] = deque()  # answered in order by the writer
        self._process: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._private_loop = False
        self._out = bytearray()  # frame bytes not yet accepted by the pipe
        self._in = bytearray()  # reply bytes not yet a whole frame
        self._timer: asyncio.TimerHandle | None = None
        self._stdin_fd = self._stdout_fd = -1
        self._closing = False
        self._stopped = threading.Event()  # set when the writer's output has ended for good
        self._restarts: deque[float] = deque()
        self._retry_at = 0.0
        self.restarting = False  # a new writer process is starting
        self.failing: str | None = None  # why the last commit failed, until one succeeds
        self.failed = False  # the writer died too often: the process must be restarted
        self.written = 0  # rows committed
        self.not_stored = 0  # rows acknowledged that will never be stored
        self.commit_failures = 0
        self.restarted = 0  # writer processes started again after one died

    # ---------------------------------------------------------------- lifecycle
    def start(
        self, loop: asyncio.AbstractEventLoop | None = None, startup_timeout_s: float = 60.0
    ) -> None:
        """Check the database, start the writer process, wait until it is connected, then
        pump on `loop` (the caller's running loop; called from another thread) or a private
        one. `UserError` when the database is not usable."""
        check_database(self.url)
        self._spawn(startup_timeout_s)
        if loop is None:
            loop = asyncio.new_event_loop()
            self._private_loop = True
            threading.Thread(target=loop.run_forever, name="prediction-log", daemon=True).start()
        self._loop = loop
        loop.call_soon_threadsafe(self._attach)

    def _spawn(self, timeout_s: float) -> None:
        self._process = start_writer(self.url, timeout_s)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._in.clear()
        self._stdin_fd, self._stdout_fd = (
            self._process.stdin.fileno(),
            self._process.stdout.fileno(),
        )
        for fd in (self._stdin_fd, self._stdout_fd):
            with suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
            os.set_blocking(fd, False)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, let the writer commit it (retrying failed commits until
        `timeout`), then stop it (from any thread but the pump's loop)."""
        loop = self._loop
        if loop is not None and not self._closing:
            self._closing = True
            loop.call_soon_threadsafe(self._tick)  # last frames, then end of input
            if not self._stopped.wait(timeout):
                loop.call_soon_threadsafe(self._detach)
                self._give_up("the server stopped before they were committed")
        self._stop_process(timeout)
        if self._private_loop and loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def _give_up(self, why: str) -> None:
        """Count what is still held as not stored (and say so, once)."""
        items = [item for frame in self._inflight for item in frame.items]
        self._inflight.clear()
        while self._queue:
            items.append(self._queue.popleft())
        lost = sum(map(_rows, items))
        error = LogWriteError(f"prediction log: {why}")
        for item in items:
            _fail(item, error)
        if lost:
            self.not_stored += lost
            log.error("prediction log: %d acknowledged rows not stored: %s", lost, why)

    def _stop_process(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            stop_writer(self._process, timeout)

    # ---------------------------------------------------------------- state
    @property
    def alive(self) -> bool:
        """The writer runs and the last commit succeeded (readiness)."""
        return (
            self._loop is not None
            and not self._closing
            and not self.failed
            and not self.restarting
            and self.failing is None
            and self._process is not None
            and self._process.poll() is None
        )

    @property
    def depth(self) -> int:
        return len(self._queue)

    def full(self) -> bool:
        return (
            self.failed
            or self.restarting
            or self.failing is not None
            or len(self._queue) >= self.max_queue
        )

    def refusal(self) -> str:
        """Why writes are refused (the 503's message)."""
        if self.failed:
            return "prediction log writer stopped; the server needs a restart"
        if self.restarting:
            return "prediction log writer is restarting; retry shortly"
        if self.failing is not None:
            return f"prediction log cannot commit ({self.failing}); retry shortly"
        return "prediction log is saturated; retry shortly"

    # ---------------------------------------------------------------- producers
    def submit(self, batch: PredictionBatch) -> None:
        """Queue a batch of predictions (no I/O); `LogFullError` when no more is taken."""
        if self.full():
            raise LogFullError
        self._queue.append(batch)

    def feedback(self, request_id: str, label: str) -> Future[FeedbackResult | None]:
        """Queue a label (its JSON text, as stored); the future resolves after commit
        (None: unknown request_id)."""
        if self.full():
            raise LogFullError
        item = PendingFeedback(request_id, label)
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
        if self.failed or self.restarting or self._stopped.is_set():
            return
        waiting_retry = self.failing is not None and time.monotonic() < self._retry_at
        if not self._out and not waiting_retry and (not self._inflight or not self.failing):
            self._frame()
        if self._closing and not self._queue and not self._out and not self._inflight:
            process = self._process
            if process is not None and process.stdin is not None:
                with suppress(OSError):
                    process.stdin.close()  # end of input: the writer exits
            return
        self._timer = self._pump.call_later(self.linger_s, self._tick)

    def _frame(self) -> None:
        items: list[Any] = []
        while len(items) < self.max_batch:
            try:
                items.append(self._queue.popleft())
            except IndexError:
                break
        if not items:
            return
        wire = [
            ["f", item.request_id, item.label] if type(item) is PendingFeedback else item.wire()
            for item in items
        ]
        try:
            payload = _encode(wire)
        except TypeError:  # a value orjson cannot encode: drop that item, not its frame
            items, payload = self._encodable(items, wire)
            if not items:
                return
        waiting = [item for item in items if type(item) is PendingFeedback]
        self._inflight.append(_Frame(items, waiting))
        self._out += FRAME_HEADER.pack(len(payload)) + payload
        self._flush()

    def _encodable(self, items: list[Any], wire: list[Any]) -> tuple[list[Any], bytes]:
        kept: list[Any] = []
        kept_wire: list[Any] = []
        for item, entry in zip(items, wire, strict=True):
            try:
                _encode([entry])
            except TypeError as error:
                self.not_stored += _rows(item)
                log.error("prediction log: an item cannot be encoded, not stored: %s", error)
                _fail(item, LogWriteError(str(error)))
                continue
            kept.append(item)
            kept_wire.append(entry)
        return kept, _encode(kept_wire)

    def _flush(self) -> None:
        try:
            sent = os.write(self._stdin_fd, self._out)
        except BlockingIOError:
            sent = 0
        except OSError:  # the writer is gone: `_on_readable` sees the end and restarts it
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

    def _settle_frame(self, reply: dict[str, Any]) -> None:
        frame = self._inflight.popleft()
        if reply["error"] is not None:
            self.commit_failures += 1
            if self.failing is None:
                log.error(
                    "prediction log cannot commit, refusing writes and retrying: %s",
                    reply["error"],
                )
            self.failing = str(reply["error"])[:200]
            self._retry_at = time.monotonic() + self.retry_s
            self._queue.extendleft(reversed(frame.items))  # sent again, first
            return
        if self.failing is not None:
            log.warning("prediction log commits again; accepting writes")
            self.failing = None
        self.written += reply["written"]
        self.not_stored += reply.get("rejected", 0)
        for item, found in zip(frame.waiting, reply["feedback"], strict=True):
            if item.done.done():  # its request timed out and cancelled it: nobody waits
                continue
            with suppress(InvalidStateError):
                if found == []:
                    item.done.set_exception(BatchIdError(item.request_id))
                else:
                    item.done.set_result(None if found is None else FeedbackResult(*found))

    # ---------------------------------------------------------------- writer restarts
    def _writer_ended(self) -> None:
        code = self._process.poll() if self._process is not None else None
        if self._closing:
            if self._inflight or self._queue:
                self._give_up(f"the writer stopped (exit code {code}) during shutdown")
            self._stopped.set()
            return
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self.restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            self._fatal(
                f"the prediction log writer died {len(self._restarts) + 1} times within "
                f"{self.restart_window_s:g} s"
            )
            return
        self._restarts.append(now)
        self.restarted += 1
        log.error("prediction log writer stopped (exit code %s); restarting it", code)
        self.restarting = True
        self._detach()
        self._out.clear()
        for frame in reversed(self._inflight):  # unanswered: sent again to the new writer
            self._queue.extendleft(reversed(frame.items))
        self._inflight.clear()
        self._pump.run_in_executor(None, self._restart)

    def _restart(self) -> None:
        """(Executor thread) reap the dead writer, start a new one, resume the pump."""
        self._stop_process(timeout=5.0)
        try:
            self._spawn(timeout_s=60.0)
        except (LogWriteError, OSError) as error:
            self._pump.call_soon_threadsafe(self._fatal, str(error))
            return
        self._pump.call_soon_threadsafe(self._resume)

    def _resume(self) -> None:
        self.restarting = False
        log.warning("prediction log writer restarted")
        self._attach()

    def _fatal(self, why: str) -> None:
        self.failed, self.restarting = True, False
        log.error("%s; predictions are no longer logged: the server must restart", why)
        self._give_up(why)
        self._stopped.set()
        if self.on_fatal is not None:
            self.on_fatal(why)
