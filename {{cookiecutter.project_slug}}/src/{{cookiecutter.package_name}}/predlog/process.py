"""Start and stop the prediction log's writer process (`writer`), from the server's side."""

from __future__ import annotations

import subprocess
import sys
import threading
from contextlib import suppress

import orjson

from {{ cookiecutter.package_name }}.predlog.store import LogWriteError, read_frame, write_frame


def start_writer(url: str, timeout_s: float) -> subprocess.Popen[bytes]:
    """Start `python -m <package> log-writer` (`writer.main`), send it the URL (never argv: `ps`
    shows argv) and wait until it is connected; `LogWriteError` when it cannot connect or does
    not answer."""
    process = subprocess.Popen(  # our own interpreter and module
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "log-writer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    write_frame(process.stdin, orjson.dumps({"url": url}))
    stdout = process.stdout
    got: list[bytes | None] = []
    reader = threading.Thread(target=lambda: got.append(read_frame(stdout)), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not got or got[0] is None:
        stop_writer(process)
        why = "did not answer" if not got else f"exited with code {process.returncode}"
        raise LogWriteError(f"prediction log writer {why}; see the log above")
    hello = orjson.loads(got[0])
    if "error" in hello:
        stop_writer(process)
        raise LogWriteError(f"prediction log writer could not connect: {hello['error']}")
    return process


def stop_writer(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Close its pipes (end of input: it commits what it has and exits), wait, then kill."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with suppress(OSError):
                stream.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
