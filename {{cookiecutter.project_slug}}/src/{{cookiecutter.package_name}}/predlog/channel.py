"""One writer process and its two non-blocking pipes, pumped on an event loop.

Frames go out through `send` (bytes the pipe does not take yet wait in `_out` and are written
when it is writable again); replies come in as whole frames to `on_reply`, and the end of the
writer's output (it exited or died) calls `on_end`. Nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import orjson

from {{ cookiecutter.package_name }}.predlog.process import start_writer, stop_writer
from {{ cookiecutter.package_name }}.predlog.store import FRAME_HEADER

PIPE_BYTES = 1 << 20  # a whole group commit fits: one write per frame, no partial writes
F_SETPIPE_SZ = 1031  # Linux fcntl; elsewhere the default pipe size just means more writes


class WriterChannel:
    """A started writer process (`process.start_writer`) and its pipes."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        on_reply: Callable[[dict[str, Any]], None],
        on_end: Callable[[], None],
    ) -> None:
        self.process: subprocess.Popen[bytes] = start_writer(url, timeout_s)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin_fd, self._stdout_fd = self.process.stdin.fileno(), self.process.stdout.fileno()
        for fd in (self._stdin_fd, self._stdout_fd):
            with suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
            os.set_blocking(fd, False)
        self.on_reply, self.on_end = on_reply, on_end
        self._out = bytearray()  # frame bytes not yet accepted by the pipe
        self._in = bytearray()  # reply bytes not yet a whole frame
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pending(self) -> bool:
        """Bytes of a frame still wait for the pipe (back-pressure)."""
        return bool(self._out)

    def running(self) -> bool:
        return self.process.poll() is None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._stdout_fd, self._on_readable)

    def detach(self) -> None:
        if self._loop is not None:
            with suppress(OSError, ValueError):  # the pipes may be closed already
                self._loop.remove_reader(self._stdout_fd)
                self._loop.remove_writer(self._stdin_fd)

    def send(self, payload: bytes) -> None:
        self._out += FRAME_HEADER.pack(len(payload)) + payload
        self._flush()

    def drop_output(self) -> None:
        self._out.clear()

    def end_input(self) -> None:
        """No more frames: the writer commits what it has and exits."""
        if self.process.stdin is not None:
            with suppress(OSError):
                self.process.stdin.close()

    def stop(self, timeout: float = 10.0) -> None:
        stop_writer(self.process, timeout)

    def _flush(self) -> None:
        try:
            sent = os.write(self._stdin_fd, self._out)
        except BlockingIOError:
            sent = 0
        except OSError:  # the writer is gone: `_on_readable` sees the end
            self._out.clear()
            return
        del self._out[:sent]
        if self._out and self._loop is not None:
            self._loop.add_writer(self._stdin_fd, self._on_writable)

    def _on_writable(self) -> None:
        if self._loop is not None:
            self._loop.remove_writer(self._stdin_fd)
        self._flush()

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._stdout_fd, PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            if self._loop is not None:
                self._loop.remove_reader(self._stdout_fd)
            self.on_end()
            return
        self._in += chunk
        while len(self._in) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(self._in)
            end = FRAME_HEADER.size + size
            if len(self._in) < end:
                break
            reply = orjson.loads(bytes(self._in[FRAME_HEADER.size : end]))
            del self._in[:end]
            self.on_reply(reply)
