"""Progress of a batch run: a live bar (rows, rows/s) on a terminal, plain lines in CI/logs."""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType

PLAIN_EVERY_S = 10.0


class Progress:
    """`advance(rows)` after each batch; a context manager that closes the bar."""

    def __init__(self, label: str, total: int | None = None, enabled: bool = True) -> None:
        self.label = label
        self.rows = 0
        self.started = time.perf_counter()
        self._last = self.started
        self._bar = None
        interactive = sys.stderr.isatty() and not os.environ.get("CI")
        if enabled and interactive:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("rows {task.fields[rate]}"), TimeElapsedColumn(), transient=True,
            )  # fmt: skip
            self._task = self._bar.add_task(label, total=total, rate="")
            self._bar.start()
        self._plain = enabled and not interactive

    def rate(self) -> float:
        return self.rows / max(time.perf_counter() - self.started, 1e-9)

    def advance(self, rows: int) -> None:
        self.rows += rows
        if self._bar is not None:
            self._bar.update(self._task, advance=rows, rate=f"{self.rate():,.0f}/s")
        elif self._plain and time.perf_counter() - self._last >= PLAIN_EVERY_S:
            self._last = time.perf_counter()
            print(f"{self.label}: {self.rows:,} rows, {self.rate():,.0f} rows/s", file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
