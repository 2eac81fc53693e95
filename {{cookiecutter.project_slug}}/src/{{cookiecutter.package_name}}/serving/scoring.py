"""Scoring on the hot path: route a request to a model, predict, log, count, answer.

Inference runs inline (small models answer in microseconds; a thread hop costs more); the
prediction log is written by a separate process (`logpump`) and shadow scoring runs on a
background thread (`ShadowScorer`). A prediction is acknowledged only when its rows are
queued for the log; a model output that is not finite is refused (422) and never logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from {{ cookiecutter.package_name }}.serving.hotpath import RequestIds
from {{ cookiecutter.package_name }}.serving.metrics import ServingMetrics
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, Rows
from {{ cookiecutter.package_name }}.serving.predlog import LogFullError, PredictionBatch
from {{ cookiecutter.package_name }}.serving.responses import Reply
from {{ cookiecutter.package_name }}.serving.schema import RequestError

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.serving.state import ServingState

log = logging.getLogger(__name__)

THRESHOLD = 0.5  # class 1 when P(class 1) >= 0.5, as in evaluation
Scored = tuple[str, LoadedModel, str, np.ndarray, list[int], list[float], list[str]]


def classes_of(proba: np.ndarray) -> tuple[list[int], list[float], list[float]]:
    """Predicted classes, P(class 1) and confidence as lists (plain Python: requests are
    small batches, where a numpy call costs more than the loop)."""
    pairs = proba.tolist()
    positive = [pair[1] for pair in pairs]
    return [int(p >= THRESHOLD) for p in positive], positive, [max(pair) for pair in pairs]


def count_predictions(
    metrics: ServingMetrics, version: str, classes: list[int], confidence: list[float]
) -> None:
    positives = sum(classes)
    if positives:
        metrics.child(metrics.predictions, version, "1").inc(positives)
    if len(classes) - positives:
        metrics.child(metrics.predictions, version, "0").inc(len(classes) - positives)
    histogram = metrics.child(metrics.confidence, version)
    for value in confidence:
        histogram.observe(value)


def first_bad_row(positive: list[float], confidence: list[float]) -> int | None:
    """The first row whose probabilities are not numbers in [0, 1] (NaN compares false)."""
    for row, (p, c) in enumerate(zip(positive, confidence, strict=True)):
        if not (0.0 <= p <= 1.0 and 0.0 <= c <= 1.0):
            return row
    return None


class Scorer:
    """Scores validated rows for the hot routes (`state` is filled in at start-up)."""

    def __init__(self, state: ServingState) -> None:
        self.state = state
        self.ids = RequestIds()

    def score(self, key: str | None, rows: Rows, field: str, row_json: str | None = None) -> Scored:
        """Route, predict, log, count: (request id, model, role, proba, classes, P(1), ids)."""
        state = self.state
        predlog = state.predlog
        assert predlog is not None
        if predlog.full():
            raise RequestError(503, predlog.refusal())
        request_id = self.ids.next()
        decision = state.router.route(key or request_id)
        model = state.model(decision.role)
        # A single-model server logs the alias it serves (a canary/shadow Deployment: challenger).
        role = decision.role if state.router.needs_challenger else state.settings.model_alias
        proba = model.predict(rows)
        classes, positive, confidence = classes_of(proba)
        bad = first_bad_row(positive, confidence)
        if bad is not None:
            raise RequestError(
                422,
                f"{field}[{bad}]: the model returned a non-finite probability for this row; "
                "its values are outside what the model can score: send values like the "
                "training data",
            )
        request_ids = (
            [request_id] if len(rows) == 1 else [f"{request_id}-{i}" for i in range(len(rows))]
        )
        try:
            # Tuples, not lists: queued entries live ~20 ms, and the cyclic GC stops tracking
            # tuples of atoms, so young-generation collections (latency spikes) stay short.
            predlog.submit(
                PredictionBatch(
                    tuple(request_ids),
                    model.version,
                    role,
                    model.feature_names,
                    tuple(rows),
                    tuple(classes),
                    tuple(positive),
                    features_json=None if row_json is None else (row_json,),
                )
            )
        except LogFullError:
            raise RequestError(503, predlog.refusal()) from None
        metrics = state.metrics
        metrics.child(metrics.routed, model.version, role, state.router.strategy).inc()
        count_predictions(metrics, model.version, classes, confidence)
        if decision.shadow and state.shadow is not None:
            state.shadow.submit(request_ids, rows)
        return request_id, model, role, proba, classes, positive, request_ids

    def score_arrays(
        self, key: str | None, rows: Rows
    ) -> tuple[str, LoadedModel, str, np.ndarray, np.ndarray, list[str]]:
        """`score` with numpy results, proba (n, 2) and classes (n,) (POST /predict/entities)."""
        request_id, model, role, proba, classes, _, request_ids = self.score(
            key, rows, "entity_ids"
        )
        return request_id, model, role, proba, np.asarray(classes, dtype=np.int64), request_ids

    def predict_reply(self, body: bytes, key: str | None) -> Reply:
        """POST /predict: `{"instances": [...]}` -> ids, classes and P(class 1)."""
        schema = self.state.require_schema()
        rows = schema.parse_predict(body)
        row_json = None
        if len(rows) == 1 and body.count(b"[") == 1 and body.count(b"]") == 1:
            # Validated as {"instances": [ {...} ]} with no other bracket: the text between
            # the brackets is the row's JSON object as sent; log it verbatim.
            row_json = body[body.index(b"[") + 1 : body.index(b"]")].decode().strip()
        request_id, model, role, _, classes, positive, request_ids = self.score(
            key, rows, "instances", row_json
        )
        payload: dict[str, Any] = {
            "request_id": request_id,
            "model_version": model.version,
            "role": role,
            "predictions": classes,
            "probabilities": positive,
        }
        if len(request_ids) > 1:
            payload["request_ids"] = request_ids
        return Reply(200, orjson.dumps(payload), model.version, _id_headers(request_id, model))

    def invocations_reply(self, rows: Rows, field: str, key: str | None) -> Reply:
        """POST /invocations (already parsed by `mlflow_protocol`): `{"predictions": [...]}`."""
        request_id, model, _, _, classes, _, _ = self.score(key, rows, field)
        body = orjson.dumps({"predictions": classes})
        return Reply(200, body, model.version, _id_headers(request_id, model))


def _id_headers(request_id: str, model: LoadedModel) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", request_id.encode()), (b"x-model-version", model.version.encode())]


class ShadowScorer:
    """Scores the challenger on copies of champion traffic, on its own thread.

    The response never waits for it: copies go on a bounded queue and are dropped (and
    counted) when it is full. Results are logged with role `shadow` and never returned.
    """

    def __init__(self, state: ServingState, size: int) -> None:
        self.state = state
        self._queue: queue.Queue[tuple[list[str], Rows] | None] = queue.Queue(maxsize=size)
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self.scored = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def submit(self, request_ids: list[str], rows: Rows) -> None:
        try:
            self._queue.put_nowait((request_ids, rows))
        except queue.Full:
            self.state.metrics.shadow_dropped.labels(self.state.model("challenger").version).inc()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            request_ids, rows = item
            try:
                self._score(request_ids, rows)
            except Exception:  # a broken challenger must never affect the champion
                log.exception("shadow scoring failed")

    def _score(self, request_ids: list[str], rows: Rows) -> None:
        state = self.state
        model = state.model("challenger")
        classes, positive, confidence = classes_of(model.predict(rows))
        if first_bad_row(positive, confidence) is not None:
            return  # never logged, as on the champion's path
        count_predictions(state.metrics, model.version, classes, confidence)
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
                        classes,
                        positive,
                    )
                )
            except LogFullError:
                state.metrics.shadow_dropped.labels(model.version).inc()
        self.scored += 1
