"""Scoring on the hot path: route a request to a model, predict, log, count, answer.

Inference runs inline (small models answer in microseconds; a thread hop costs more); the
prediction log is written by a separate process (`predlog.pump`) and shadow scoring runs on a
background thread (`ShadowScorer`). With `serving.durability: commit` (the default) a
prediction is acknowledged only after its rows are committed (`acknowledge`: a 503 with
Retry-After when the log cannot commit them in `commit_timeout_s`); with `buffered`, once they
are queued. A model output that is not finite (or a probability outside [0, 1]) is refused
(422) and never logged. What the output means per task is `outputs.ModelTask`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from {{ cookiecutter.package_name }}.predlog.store import LogFullError, LogWriteError, PredictionBatch
from {{ cookiecutter.package_name }}.serving.hotpath import RequestIds
from {{ cookiecutter.package_name }}.serving.metrics import ServingMetrics
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, Rows
from {{ cookiecutter.package_name }}.serving.outputs import Decoded
from {{ cookiecutter.package_name }}.serving.responses import Reply
from {{ cookiecutter.package_name }}.serving.schema import RequestError, RowIds

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.serving.state import ServingState

log = logging.getLogger(__name__)


@dataclass(slots=True)  # built per request: a frozen dataclass's __init__ costs more
class Scored:
    """One scored request: its id (and per-row ids), the model and role that answered."""

    request_id: str
    model: LoadedModel
    role: str
    decoded: Decoded
    request_ids: list[str]
    ids: RowIds = None
    committed: Future[None] | None = None  # `durability: commit`: the rows' commit

    def payload(self) -> dict[str, Any]:
        """The /predict answer: ids, model, `predictions` (label or value per row), the
        task's fields (binary: P(positive class) per row; multiclass: probabilities per
        class and the classes) and, when the rows carried id columns, `ids` per row."""
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "model_version": self.model.version,
            "role": self.role,
            "predictions": self.decoded.predictions,
            **self.decoded.extra,
        }
        if len(self.request_ids) > 1:
            body["request_ids"] = self.request_ids
        if self.ids is not None and any(self.ids):
            body["ids"] = self.ids
        return body


def count_predictions(metrics: ServingMetrics, model: LoadedModel, decoded: Decoded) -> None:
    """Classification: predictions by class and the confidence histogram; regression: the
    predicted-value histogram."""
    version = model.version
    if decoded.indices is None:
        histogram = metrics.child(metrics.prediction_value(), version)
        for value in decoded.predictions:
            histogram.observe(value)
        return
    names = model.task.label_texts
    if len(decoded.indices) == 1:
        metrics.child(metrics.predictions, version, names[decoded.indices[0]]).inc()
    else:
        for index, count in Counter(decoded.indices).items():
            metrics.child(metrics.predictions, version, names[index]).inc(count)
    histogram = metrics.child(metrics.confidence, version)
    for value in decoded.confidence or ():
        histogram.observe(value)


class Scorer:
    """Scores validated rows for the hot routes (`state` is filled in at start-up)."""

    def __init__(self, state: ServingState) -> None:
        self.state = state
        self.ids = RequestIds()

    def score(
        self,
        key: str | None,
        rows: Rows,
        field: str,
        row_json: str | None = None,
        ids: RowIds = None,
    ) -> Scored:
        """Route, predict, log (with the rows' id columns), count."""
        state = self.state
        predlog = state.predlog
        assert predlog is not None
        if predlog.full():
            raise RequestError(503, predlog.refusal())
        request_id = self.ids.next()
        decision = state.router.route(key or request_id)
        model = state.model(decision.role)
        # Logged under the alias it serves (a canary/shadow Deployment: challenger).
        role = decision.role if state.router.needs_challenger else state.settings.model_alias
        decoded = model.task.decode(model.predict(rows), field)
        request_ids = (
            [request_id] if len(rows) == 1 else [f"{request_id}-{i}" for i in range(len(rows))]
        )
        try:
            # Tuples, not lists: queued entries live ~20 ms, and the cyclic GC stops tracking
            # tuples of atoms, so young-generation collections (latency spikes) stay short.
            committed = predlog.submit(
                PredictionBatch(
                    tuple(request_ids),
                    model.version,
                    role,
                    model.feature_names,
                    tuple(rows),
                    tuple(decoded.predictions),
                    tuple(decoded.scores),
                    features_json=None if row_json is None else (row_json,),
                    ids=ids,
                )
            )
        except LogFullError:
            raise RequestError(503, predlog.refusal()) from None
        metrics = state.metrics
        metrics.child(metrics.routed, model.version, role, state.router.strategy).inc()
        count_predictions(metrics, model, decoded)
        if decision.shadow and state.shadow is not None:
            state.shadow.submit(request_ids, rows, ids)
        return Scored(request_id, model, role, decoded, request_ids, ids, committed)

    async def acknowledge(self, scored: Scored) -> None:
        """Wait (`durability: commit`) until the request's rows are committed; a 503 when
        they cannot be in `commit_timeout_s` (the client retries; nothing was acknowledged)."""
        if scored.committed is None:
            return
        try:
            timeout = self.state.settings.commit_timeout_s
            await asyncio.wait_for(asyncio.wrap_future(scored.committed), timeout)
        except TimeoutError:
            raise RequestError(503, "prediction log did not commit in time; retry") from None
        except LogWriteError as error:
            raise RequestError(503, f"prediction not stored: {error}; retry") from None

    async def predict_reply(self, body: bytes, key: str | None) -> Reply:
        """POST /predict: `{"instances": [...]}` -> `Scored.payload`."""
        schema = self.state.require_schema()
        rows, ids = schema.parse_predict(body)
        row_json = None
        if ids is None and len(rows) == 1 and body.count(b"[") == 1 and body.count(b"]") == 1:
            # Validated as {"instances": [ {...} ]} of exactly the features, with no other
            # bracket: the text between the brackets is the row's JSON as sent; log it verbatim.
            row_json = body[body.index(b"[") + 1 : body.index(b"]")].decode().strip()
        scored = self.score(key, rows, "instances", row_json, ids)
        await self.acknowledge(scored)
        headers = _id_headers(scored.request_id, scored.model)
        return Reply(200, orjson.dumps(scored.payload()), scored.model.version, headers)

    async def invocations_reply(
        self, rows: Rows, ids: RowIds, field: str, key: str | None
    ) -> Reply:
        """POST /invocations (already parsed by `mlflow_protocol`): `{"predictions": [...]}`,
        the label (classification) or value (regression) per row, as MLflow's pyfunc (plus
        `ids` per row when the rows carried id columns)."""
        scored = self.score(key, rows, field, ids=ids)
        await self.acknowledge(scored)
        answer: dict[str, Any] = {"predictions": scored.decoded.predictions}
        if ids is not None and any(ids):
            answer["ids"] = ids
        body = orjson.dumps(answer)
        return Reply(200, body, scored.model.version, _id_headers(scored.request_id, scored.model))


def _id_headers(request_id: str, model: LoadedModel) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", request_id.encode()), (b"x-model-version", model.version.encode())]


class ShadowScorer:
    """Scores the challenger on copies of champion traffic, on its own thread.

    The response never waits for it: copies go on a bounded queue and are dropped (and
    counted) when it is full. Results are logged with role `shadow` and never returned.
    """

    def __init__(self, state: ServingState, size: int) -> None:
        self.state = state
        self._queue: queue.Queue[tuple[list[str], Rows, RowIds] | None] = queue.Queue(maxsize=size)
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self.scored = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def submit(self, request_ids: list[str], rows: Rows, ids: RowIds = None) -> None:
        try:
            self._queue.put_nowait((request_ids, rows, ids))
        except queue.Full:
            self.state.metrics.shadow_dropped.labels(self.state.model("challenger").version).inc()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            request_ids, rows, ids = item
            try:
                self._score(request_ids, rows, ids)
            except Exception:  # a broken challenger must never affect the champion
                log.exception("shadow scoring failed")

    def _score(self, request_ids: list[str], rows: Rows, ids: RowIds) -> None:
        state = self.state
        model = state.model("challenger")
        try:
            decoded = model.task.decode(model.predict(rows), "instances")
        except RequestError:
            return  # never logged, as on the champion's path
        count_predictions(state.metrics, model, decoded)
        state.metrics.child(state.metrics.routed, model.version, "shadow", "shadow").inc()
        if state.predlog is not None:
            try:
                state.predlog.submit(
                    PredictionBatch(
                        [f"{request_id}.shadow" for request_id in request_ids],
                        model.version,
                        "shadow",
                        model.feature_names,
                        rows,
                        decoded.predictions,
                        decoded.scores,
                        ids=ids,
                    ),
                    acknowledge=False,  # no client waits for shadow rows
                )
            except LogFullError:
                state.metrics.shadow_dropped.labels(model.version).inc()
        self.scored += 1
