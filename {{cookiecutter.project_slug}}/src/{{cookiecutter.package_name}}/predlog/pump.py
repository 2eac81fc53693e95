"""The prediction log's queue and pump: request handlers -> writer process -> database.

Request handlers only append to a bounded deque (no lock, no serialisation on the request
path). A pump on the server's event loop drains it into one orjson frame per `linger_s` and
writes that to a non-blocking pipe to a writer process (`writer`), which commits each frame
in one transaction (group commit) and answers it; no thread here shuttles data, so logging
never holds the GIL while a request waits.

Durability: under `commit` (the server's default) a request's answer waits for the commit of
its rows (`submit` returns the future), so an acknowledged prediction is a stored one. A
submit wakes the pump when no frame is in flight, and rows queued meanwhile form the next
frame as soon as the writer answers. A failed commit fails its waiting requests (503, never
acknowledged, not retried). Under `buffered` requests are answered at once, and:
- a frame stays in memory until committed; a failed commit puts it back at the head of the
  queue, sent again every `retry_s` (inserts are idempotent), and new writes are refused
  (`LogFullError`: 503 + Retry-After, /ready fails) until one commits;
- a writer process that dies is restarted and sent its unanswered frames again, at most
  `max_restarts` times per `restart_window_s`; past that the log is `failed` and `on_fatal`
  is called (the server exits non-zero so its supervisor restarts it).
Rows that can never be stored (refused by the database, not encodable, or still queued when
`close` gives up) are counted in `not_stored` and logged with their request ids.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from typing import Any

from {{ cookiecutter.package_name }}.predlog.channel import WriterChannel
from {{ cookiecutter.package_name }}.predlog.frames import (
    Durability,
    Frame,
    abandon,
    encodable,
    encode,
    fail,
    rows_of,
    settle_feedback,
    wire,
)
from {{ cookiecutter.package_name }}.predlog.store import (
    FeedbackResult,
    LogFullError,
    LogWriteError,
    PendingFeedback,
    PredictionBatch,
    check_database,
)

log = logging.getLogger(__name__)


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
        durability: Durability = "buffered",
    ) -> None:
        self.url = url
        self.durability = durability
        self._kicked = False  # a wake-up of the pump is scheduled (`commit`)
        self.linger_s, self.retry_s = linger_s, retry_s
        self.max_batch, self.max_queue = max_batch, max_queue
        self.max_restarts, self.restart_window_s = max_restarts, restart_window_s
        self.on_fatal = on_fatal
        # deque.append/popleft are atomic: producers (any thread) never take a lock.
        self._queue: deque[Any] = deque()
        self._inflight: deque[Frame] = deque()  # answered in order by the writer
        self._channel: WriterChannel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._private_loop = False
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._stopped = threading.Event()  # set when the writer's output has ended for good
        self._restarts: deque[float] = deque()
        self._retry_at = 0.0
        self.restarting = False  # a new writer process is starting
        self.failing: str | None = None  # why the last commit failed, until one succeeds
        self.failed = False  # the writer died too often: the process must be restarted
        self.written = 0  # rows committed
        self.not_stored = 0  # rows acknowledged that will never be stored
        self.refused = 0  # `commit` rows not committed (failed or refused): answered 503
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
        self._channel = WriterChannel(self.url, timeout_s, self._settle_frame, self._writer_ended)

    @property
    def _process(self) -> subprocess.Popen[bytes] | None:
        """The writer process (tests kill it)."""
        return None if self._channel is None else self._channel.process

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
        self._writer_stop(timeout)
        if self._private_loop and loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def _give_up(self, why: str) -> None:
        """Fail everything still held; count (and log, once) the acknowledged rows in it."""
        items = [item for frame in self._inflight for item in frame.items]
        self._inflight.clear()
        while self._queue:
            items.append(self._queue.popleft())
        self.not_stored += abandon(items, why)

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
            and self._channel is not None
            and self._channel.running()
        )

    @property
    def depth(self) -> int:
        return len(self._queue)

    def full(self) -> bool:
        return (
            self.failed
            or self._closing  # shutting down: nothing new could still be committed
            or self.restarting
            or self._refusing()
            or len(self._queue) >= self.max_queue
        )

    def _refusing(self) -> bool:
        """After a failed commit: `buffered` refuses until a retried frame commits;
        `commit` (nothing to retry) for `retry_s`, then the next requests try again."""
        if self.failing is None:
            return False
        return self.durability == "buffered" or time.monotonic() < self._retry_at

    def refusal(self) -> str:
        """Why writes are refused (the 503's message)."""
        if self.failed:
            return "prediction log writer stopped; the server needs a restart"
        if self._closing:
            return "the server is stopping; retry on another replica"
        if self.restarting:
            return "prediction log writer is restarting; retry shortly"
        if self.failing is not None:
            return f"prediction log cannot commit ({self.failing}); retry shortly"
        return "prediction log is saturated; retry shortly"

    # ---------------------------------------------------------------- producers
    def submit(self, batch: PredictionBatch, acknowledge: bool = True) -> Future[None] | None:
        """Queue a batch of predictions (no I/O); `LogFullError` when no more is taken.

        Under `commit`, returns the future that resolves when the batch is committed (None
        when nobody will wait: `acknowledge=False`, e.g. a shadow model's rows)."""
        if self.full():
            raise LogFullError
        if self.durability == "buffered" or not acknowledge:
            self._queue.append(batch)
            return None
        batch.committed = Future()
        self._queue.append(batch)
        if not self._kicked:
            self._kicked = True
            self._pump.call_soon_threadsafe(self._kick)
        return batch.committed

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

    @property
    def _writer(self) -> WriterChannel:
        assert self._channel is not None, "start() first"
        return self._channel

    def _writer_stop(self, timeout: float) -> None:
        if self._channel is not None:
            self._channel.stop(timeout)

    def _attach(self) -> None:
        self._writer.attach(self._pump)
        self._timer = self._pump.call_later(self.linger_s, self._tick)

    def _detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._writer.detach()

    def _kick(self) -> None:
        # `commit`: send now unless a frame is in flight; its answer sends the next one.
        self._kicked = False
        if not self._inflight and not self._writer.pending:
            self._tick()

    def _tick(self) -> None:
        # Group commit by polling: one frame with whatever is queued, every `linger_s`.
        # Producers never wake the pump; feedback waits at most `linger_s` plus the commit.
        # While the pipe still holds an earlier frame, items stay queued (back-pressure).
        if self._timer is not None:
            self._timer.cancel()
        if self.failed or self.restarting or self._stopped.is_set():
            return
        waiting_retry = self.failing is not None and time.monotonic() < self._retry_at
        pending = self._writer.pending
        if not pending and not waiting_retry and (not self._inflight or not self.failing):
            self._frame()
        if self._closing and not self._queue and not self._writer.pending and not self._inflight:
            self._writer.end_input()  # the writer commits what it has and exits
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
        entries = [wire(item) for item in items]
        try:
            payload = encode(entries)
        except TypeError:  # a value orjson cannot encode: drop that item, not its frame
            items, payload = self._encodable(items, entries)
            if not items:
                return
        waiting = [item for item in items if type(item) is PendingFeedback]
        self._inflight.append(Frame(items, waiting))  # batches' futures: `_settle_commits`
        self._writer.send(payload)

    def _encodable(self, items: list[Any], entries: list[Any]) -> tuple[list[Any], bytes]:
        kept, payload, refused = encodable(items, entries)
        for item, error in refused:
            self.not_stored += rows_of(item)
            log.error("prediction log: an item cannot be encoded, not stored: %s", error)
            fail(item, LogWriteError(str(error)))
        return kept, payload

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
            self._queue.extendleft(reversed(self._refuse_waiting(frame.items)))  # sent again
            return
        if self.failing is not None:
            log.warning("prediction log commits again; accepting writes")
            self.failing = None
        self.written += reply["written"]
        waited = self._settle_commits(frame.items, set(reply.get("refused") or ()))
        self.not_stored += reply.get("rejected", 0) - waited
        settle_feedback(frame.waiting, reply["feedback"])

    def _refuse_waiting(self, items: list[Any]) -> list[Any]:
        """A failed commit: the batches whose requests wait (`commit`) fail now (503, never
        acknowledged, not retried); the rest is returned to be sent again."""
        error = LogWriteError(f"prediction log cannot commit ({self.failing})")
        kept = []
        for item in items:
            if type(item) is PredictionBatch and item.committed is not None:
                self.refused += len(item.request_ids)
                fail(item, error)
            else:
                kept.append(item)
        return kept

    def _settle_commits(self, items: list[Any], refused: set[str]) -> int:
        """A committed frame: its waiting requests are answered (an error where the database
        refused their rows), and what queued meanwhile is sent at once (`commit`: the next
        group commit). Returns the refused rows whose requests were waiting (not lost)."""
        waited = 0
        for item in items:
            committed = item.committed if type(item) is PredictionBatch else None
            if committed is None:
                continue
            if refused.intersection(item.request_ids):
                waited += len(refused.intersection(item.request_ids))
                self.refused += len(item.request_ids)  # answered 503, like a failed commit
                fail(item, LogWriteError("the prediction log refused this prediction's row"))
            elif not committed.done():
                with suppress(InvalidStateError):  # its request timed out meanwhile
                    committed.set_result(None)
        if self.durability == "commit" and self._queue and not self._inflight:
            self._tick()
        return waited

    # ---------------------------------------------------------------- writer restarts
    def _writer_ended(self) -> None:
        code = self._writer.process.poll()
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
        self._writer.drop_output()
        for frame in reversed(self._inflight):  # unanswered: sent again to the new writer
            self._queue.extendleft(reversed(frame.items))
        self._inflight.clear()
        self._pump.run_in_executor(None, self._restart)

    def _restart(self) -> None:
        """(Executor thread) reap the dead writer, start a new one, resume the pump."""
        self._writer_stop(5.0)
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
