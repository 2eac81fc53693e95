"""POST /feedback: a label for a logged prediction, acknowledged only once committed.

The label joins the prediction in the log's database. Answers: 200 once the transaction
holding it committed (`duplicate` when the prediction already had a label); 503 with
Retry-After when it is not committed in `feedback_timeout_s`, when the log cannot commit, or
when the prediction may not be stored yet; 404 when it cannot be. One server's labels queue
behind its own predictions, so on a log of its own (SQLite) an unknown id was never
acknowledged: 404. On a log shared by replicas (PostgreSQL) another replica may still hold
the prediction (its database was down), so an id of our format issued in the last
`UNLOGGED_RETRY_WINDOW_S` is a 503 to retry, never a 404. Labels are idempotent, so a retry
is always safe.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.serving.hotpath import RequestIds
from {{ cookiecutter.package_name }}.serving.predlog import BatchIdError, LogFullError
from {{ cookiecutter.package_name }}.serving.responses import Reply
from {{ cookiecutter.package_name }}.serving.schema import RequestError, describe

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.serving.state import ServingState

UNLOGGED_RETRY_WINDOW_S = 600.0


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Annotated[str, Field(min_length=1, max_length=160)]
    label: Literal[0, 1]


class FeedbackResponse(BaseModel):
    request_id: str
    model_version: str
    correct: bool
    duplicate: bool


FEEDBACK = TypeAdapter(FeedbackRequest)


def parse_feedback(body: bytes) -> tuple[str, int]:
    """`{request_id, label}` -> (request_id, label); `RequestError` naming the bad field."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if type(payload) is dict and len(payload) == 2:
        request_id, label = payload.get("request_id"), payload.get("label")
        if (
            isinstance(request_id, str)
            and 0 < len(request_id) <= 160
            and type(label) is int
            and label in (0, 1)
        ):
            return request_id, label
    try:  # not certainly valid: pydantic names the field
        item = FEEDBACK.validate_json(body)
    except ValidationError as error:
        status = 400 if error.errors()[0]["type"] == "json_invalid" else 422
        raise RequestError(status, describe(error)) from None
    return item.request_id, item.label


def unknown_id_error(request_id: str, shared_log: bool) -> RequestError:
    """The answer for a label whose prediction is not in the log (see the module doc)."""
    issued = RequestIds.issued_at(request_id)
    recent = issued is not None and abs(time.time() - issued) < UNLOGGED_RETRY_WINDOW_S
    if shared_log and recent:
        return RequestError(
            503, f"request_id: prediction {request_id!r} is not stored yet; retry shortly"
        )
    return RequestError(
        404,
        f"request_id: no logged prediction {request_id!r}; send an id that /predict returned",
    )


async def feedback_reply(state: ServingState, body: bytes) -> Reply:
    predlog = state.predlog
    if not state.ready or predlog is None:
        raise RequestError(503, "model not loaded yet; retry when /ready answers 200")
    request_id, label = parse_feedback(body)
    try:
        pending = predlog.feedback(request_id, label)
    except LogFullError:
        raise RequestError(503, predlog.refusal()) from None
    try:
        # On timeout this cancels `pending`; the pump skips settled futures, so the
        # rest of its frame still resolves (and the label is still committed).
        result = await asyncio.wait_for(
            asyncio.wrap_future(pending), state.settings.feedback_timeout_s
        )
    except TimeoutError:
        raise RequestError(503, "feedback not yet committed; retry (it is idempotent)") from None
    except BatchIdError:
        raise RequestError(
            422,
            f"request_id: {request_id!r} names a request of several rows; label each row "
            "with its id from that answer's request_ids",
        ) from None
    except Exception as error:  # the database refused the write
        raise RequestError(503, f"feedback could not be stored: {error}; retry") from None
    if result is None:
        raise unknown_id_error(request_id, shared_log=not predlog.url.startswith("sqlite"))
    correct = result.predicted_class == label
    if not result.duplicate:
        state.metrics.record_feedback(result.model_version, correct)
        state.router.reward(result.role, float(correct))
    answer = FeedbackResponse(
        request_id=request_id,
        model_version=result.model_version,
        correct=correct,
        duplicate=result.duplicate,
    )
    return Reply(200, orjson.dumps(answer.model_dump()), result.model_version)
