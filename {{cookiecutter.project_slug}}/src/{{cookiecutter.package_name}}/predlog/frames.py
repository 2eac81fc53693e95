"""The items of the prediction log's queue and frames: encoding, waiters, what was promised.

A queue item is a `PredictionBatch` (a request's rows) or a `PendingFeedback` (a label). A
frame is the items sent to the writer in one transaction.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from {{ cookiecutter.package_name }}.predlog.store import (
    BatchIdError,
    FeedbackResult,
    LogWriteError,
    PendingFeedback,
    PredictionBatch,
)

log = logging.getLogger("{{ cookiecutter.package_name }}.predlog.pump")  # where its operators look

WIRE_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _plain(value: Any) -> Any:
    """orjson fallback: numpy scalars (from feature stores) and anything else as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def encode(items: list[Any]) -> bytes:
    return orjson.dumps(items, default=_plain, option=WIRE_OPTIONS)


Durability = Literal["commit", "buffered"]


def rows_of(item: Any) -> int:
    return len(item.request_ids) if type(item) is PredictionBatch else 0


def waiter(item: Any) -> Future[Any] | None:
    """The future a request awaits for `item` (feedback, or a batch under `commit`)."""
    return item.done if type(item) is PendingFeedback else item.committed


def fail(item: Any, error: Exception) -> None:
    pending = waiter(item)
    if pending is not None and not pending.done():
        with suppress(InvalidStateError):  # cancelled by a timed-out request meanwhile
            pending.set_exception(error)


def acknowledged(item: Any) -> bool:
    """Rows a client was told are logged (`buffered` batches): lost rows are counted."""
    return type(item) is PredictionBatch and item.committed is None


def abandon(items: list[Any], why: str) -> int:
    """Fail `items` (their waiting requests get `LogWriteError`); log the request ids of the
    acknowledged rows among them in one line and return how many there are."""
    error = LogWriteError(f"prediction log: {why}")
    for item in items:
        fail(item, error)
    lost = [rid for item in items if acknowledged(item) for rid in item.request_ids]
    if lost:
        shown = ", ".join(lost[:20]) + (", ..." if len(lost) > 20 else "")
        log.error("prediction log: %d acknowledged rows not stored (%s): %s", len(lost), shown, why)
    return len(lost)


@dataclass(slots=True)
class Frame:
    """A frame sent and not yet answered: its queue items, to send again if it fails."""

    items: list[Any]
    waiting: list[PendingFeedback]


def wire(item: Any) -> list[Any]:
    """An item as the writer process reads it."""
    return ["f", item.request_id, item.label] if type(item) is PendingFeedback else item.wire()


def encodable(items: list[Any], entries: list[Any]) -> tuple[list[Any], bytes, list[Any]]:
    """(the items orjson can encode, their frame, [(item, error)] of the others)."""
    kept: list[Any] = []
    kept_entries: list[Any] = []
    refused: list[tuple[Any, TypeError]] = []
    for item, entry in zip(items, entries, strict=True):
        try:
            encode([entry])
        except TypeError as error:
            refused.append((item, error))
            continue
        kept.append(item)
        kept_entries.append(entry)
    return kept, encode(kept_entries), refused


def settle_feedback(waiting: list[PendingFeedback], found: list[Any]) -> None:
    """Resolve a committed frame's labels: the join, None (unknown id) or a multi-row id."""
    for item, joined in zip(waiting, found, strict=True):
        if item.done.done():  # its request timed out and cancelled it: nobody waits
            continue
        with suppress(InvalidStateError):
            if joined == []:
                item.done.set_exception(BatchIdError(item.request_id))
            else:
                item.done.set_result(None if joined is None else FeedbackResult(*joined))
