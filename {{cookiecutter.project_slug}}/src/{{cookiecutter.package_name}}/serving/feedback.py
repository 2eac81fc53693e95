"""POST /feedback: a label for a logged prediction, acknowledged only once committed.

The label joins the prediction in the log's database. It must be one of the model's classes,
with their JSON type (422 naming the allowed ones), or for regression a finite number. Answers:
200 once the transaction holding it committed (`duplicate` when the prediction already had a
label); 503 with Retry-After when it is not committed in `feedback_timeout_s`, when the log
cannot commit, or when the prediction may not be stored yet; 404 when it cannot be. One
server's labels queue behind its own predictions, so on a log of its own (SQLite) an unknown id
was never acknowledged: 404. On a log shared by replicas (PostgreSQL) another replica may still
hold the prediction (its database was down), so an id of our format issued in the last
`UNLOGGED_RETRY_WINDOW_S` is a 503 to retry, never a 404. Labels are idempotent, so a retry is
always safe.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.predlog.store import BatchIdError, FeedbackResult, LogFullError
from {{ cookiecutter.package_name }}.serving.hotpath import RequestIds
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask, label_key
from {{ cookiecutter.package_name }}.serving.responses import Reply
from {{ cookiecutter.package_name }}.serving.routing import reward
from {{ cookiecutter.package_name }}.serving.schema import RequestError, describe

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.serving.state import ServingState

UNLOGGED_RETRY_WINDOW_S = 600.0


class FeedbackRequest(BaseModel):
    """The envelope; the label's type and values depend on the model (`ModelTask.check_label`)."""

    model_config = ConfigDict(extra="forbid")

    request_id: Annotated[str, Field(min_length=1, max_length=160)]
    label: Any = Field(
        description='One of the model\'s classes (its JSON type: "class_0", 1, true) or, for '
        "regression, the true value (a finite number)."
    )


class FeedbackResponse(BaseModel):
    """Classification: whether the logged prediction was the label."""

    request_id: str
    model_version: str
    correct: bool
    duplicate: bool


class RegressionFeedbackResponse(BaseModel):
    """Regression: |label - logged prediction|."""

    request_id: str
    model_version: str
    absolute_error: float
    duplicate: bool


FEEDBACK = TypeAdapter(FeedbackRequest)


def parse_feedback(body: bytes, task: ModelTask) -> tuple[str, Any]:
    """`{request_id, label}` -> (request_id, label); `RequestError` naming the bad field."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if type(payload) is dict and len(payload) == 2 and "label" in payload:
        request_id = payload.get("request_id")
        if isinstance(request_id, str) and 0 < len(request_id) <= 160:
            return request_id, task.check_label(payload["label"])
    try:  # not certainly valid: pydantic names the field
        item = FEEDBACK.validate_json(body)
    except ValidationError as error:
        status = 400 if error.errors()[0]["type"] == "json_invalid" else 422
        raise RequestError(status, describe(error)) from None
    return item.request_id, task.check_label(item.label)


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
    if not state.ready or predlog is None or state.champion is None:
        raise RequestError(503, "model not loaded yet; retry when /ready answers 200")
    # Champion and challenger share their task and classes (`check_models`).
    task = state.champion.task
    request_id, label = parse_feedback(body, task)
    try:
        pending = predlog.feedback(request_id, orjson.dumps(label).decode())
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
    return _answer(state, request_id, label, result)


def _answer(state: ServingState, request_id: str, label: Any, result: FeedbackResult) -> Reply:
    """Count the label (online accuracy or error sums) and reward the bandit, once per
    prediction; answer per task."""
    prediction = orjson.loads(result.prediction)
    version = result.model_version
    served = state.model_by_version(version)
    task = served.task if served is not None else state.model("champion").task
    answer: BaseModel
    if task.is_classification:
        correct = label_key(prediction) == label_key(label)
        answer = FeedbackResponse(
            request_id=request_id, model_version=version, correct=correct,
            duplicate=result.duplicate,
        )  # fmt: skip
        if not result.duplicate:
            state.metrics.record_feedback(version, correct)
    else:
        error = float(label) - float(prediction)
        answer = RegressionFeedbackResponse(
            request_id=request_id, model_version=version, absolute_error=abs(error),
            duplicate=result.duplicate,
        )  # fmt: skip
        if not result.duplicate:
            state.metrics.record_error(version, error)
    if not result.duplicate:
        value = reward(task, prediction, label)
        if value is not None:
            state.router.reward(result.role, value)
    return Reply(200, orjson.dumps(answer.model_dump()), version)
