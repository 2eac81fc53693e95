"""Load-test machinery: drive a URL with `wrk` and measure the server's CPU while it runs.

"Cores used" is the CPU seconds (user + system) the server's whole process tree spent during
the measured run, divided by its wall seconds: the main process plus its children (the
prediction log's writer, uvicorn workers a baseline may start). It is the figure the
Kubernetes CPU requests and limits are sized from (see "Sizing" in the README).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.errors import UserError, one_line


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors + non-2xx responses


@dataclass
class Usage:
    """What a process tree used during a window; filled in when the window ends."""

    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    rss_mib: float = 0.0

    @property
    def cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, p50 and p99 in ms, and errors from the output of `wrk --latency`."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if not (rate and p50 and p99):
        raise UserError(f"could not read wrk's output: {one_line(output)}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(float(rate.group(1)), _ms(*p50.groups()), _ms(*p99.groups()), errors)


def wrk_run(
    wrk: str, url: str, script: Path, *, threads: int, connections: int, seconds: int
) -> str:
    """The output of one `wrk --latency` run; a failed run raises `UserError`."""
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "--timeout", "5s", "-s", str(script), url,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise UserError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(pid: int) -> dict[tuple[int, float], float]:
    """CPU seconds so far of every live process in the tree, keyed so a reused pid is new."""
    import psutil

    seconds: dict[tuple[int, float], float] = {}
    for process in _tree(pid):
        try:
            times = process.cpu_times()
            seconds[(process.pid, process.create_time())] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # exited between listing and reading: its share is lost
    return seconds


def _rss_mib(pid: int) -> float:
    import psutil

    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / (1 << 20)


@contextmanager
def measure(pid: int) -> Iterator[Usage]:
    """Cores used and resident memory of the process tree under `pid` during the block.

    Two readings (start and end), so measuring costs the server nothing while it runs. A
    process that exits inside the window loses its share; the servers measured here keep
    theirs for the whole run.
    """
    try:
        import psutil  # noqa: F401 - checked here, used by the helpers
    except ImportError as error:
        raise UserError("psutil is not installed; run `make install` (dev extra)") from error
    usage = Usage()
    before, start = _cpu_seconds(pid), time.monotonic()
    yield usage
    after, usage.wall_seconds = _cpu_seconds(pid), time.monotonic() - start
    usage.cpu_seconds = sum(value - before.get(key, 0.0) for key, value in after.items())
    usage.rss_mib = _rss_mib(pid)
