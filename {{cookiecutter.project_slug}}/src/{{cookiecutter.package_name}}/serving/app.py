"""The model server (FastAPI): health, readiness, predictions, feedback and metrics.

Routes: GET /health (liveness), GET /ready (model loaded and warm), GET /model, POST /predict,
POST /invocations (MLflow scoring payloads), POST /feedback, GET /metrics.

Request bodies are read as bytes and validated by pydantic-core against the training schema;
every bad input is a 4xx naming the field. Inference runs inline (small models answer in
microseconds; a thread hop costs more), logging and shadow scoring run on background threads.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.serving.metrics import ServingMetrics
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, Rows, load_bundle
from {{ cookiecutter.package_name }}.serving.predlog import (
    LogFullError,
    PredictionBatch,
    PredictionLog,
    database_url,
)
from {{ cookiecutter.package_name }}.serving.routing import Router, make_router
from {{ cookiecutter.package_name }}.serving.schema import RequestError, RequestSchema, describe
from {{ cookiecutter.package_name }}.settings import ServingSettings, Settings

log = logging.getLogger(__name__)

THRESHOLD = 0.5  # class 1 when P(class 1) >= 0.5, as in evaluation
JSON = "application/json"


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Annotated[str, Field(min_length=1, max_length=160)]
    label: Literal[0, 1]


FEEDBACK = TypeAdapter(FeedbackRequest)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def _error(status: int, message: str) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return _json({"detail": message}, status, headers)


@dataclass
class ServingState:
    """Everything the handlers share; built by `create_app`, filled in at startup."""

    settings: ServingSettings
    seed: int
    champion: LoadedModel | None = None
    challenger: LoadedModel | None = None
    router: Router = field(default_factory=Router)
    schema: RequestSchema | None = None
    predlog: PredictionLog | None = None
    metrics: ServingMetrics = field(default_factory=ServingMetrics)
    shadow: ShadowScorer | None = None
    ready: bool = False

    def model(self, role: str) -> LoadedModel:
        model = self.challenger if role == "challenger" else self.champion
        assert model is not None
        return model


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
        proba = model.predict(rows)
        classes, confidence = _classes(proba)
        _count_predictions(state.metrics, model.version, classes, confidence)
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
                        classes.tolist(),
                        proba[:, 1].tolist(),
                    )
                )
            except LogFullError:
                state.metrics.shadow_dropped.labels(model.version).inc()
        self.scored += 1


def _classes(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = (proba[:, 1] >= THRESHOLD).astype(np.int64)
    return classes, proba.max(axis=1)


def _count_predictions(
    metrics: ServingMetrics, version: str, classes: np.ndarray, confidence: np.ndarray
) -> None:
    positives = int(classes.sum())
    if positives:
        metrics.child(metrics.predictions, version, "1").inc(positives)
    if len(classes) - positives:
        metrics.child(metrics.predictions, version, "0").inc(len(classes) - positives)
    histogram = metrics.child(metrics.confidence, version)
    for value in confidence.tolist():
        histogram.observe(value)


def resolve_bundles(settings: Settings) -> tuple[LoadedModel, LoadedModel | None]:
    """Load the models the routing strategy needs (explicit paths first, then the registry)."""
    serving = settings.serving
    router = make_router(serving.routing)

    def bundle_for(alias: str, explicit: Any) -> LoadedModel:
        if explicit is not None:
            path = settings.resolve(explicit)
        else:
            from {{ cookiecutter.package_name }}.registry import resolve_bundle

            path = resolve_bundle(alias, settings)
        return load_bundle(path, prefer_optimized=serving.prefer_optimized)

    if not router.needs_challenger:
        alias = serving.model_alias
        explicit = serving.champion_bundle if alias == "champion" else serving.challenger_bundle
        return bundle_for(alias, explicit), None
    return (
        bundle_for("champion", serving.champion_bundle),
        bundle_for("challenger", serving.challenger_bundle),
    )


def configured_url(serving: ServingSettings) -> str | None:
    """The prediction log's URL: setting, then DATABASE_URL, then the URL file if present."""
    url = serving.database_url or os.environ.get("DATABASE_URL")
    if not url and serving.database_url_file is not None and serving.database_url_file.is_file():
        url = serving.database_url_file.read_text(encoding="utf-8").strip()
    return url or None


def check_models(
    serving: ServingSettings, champion: LoadedModel, challenger: LoadedModel | None
) -> None:
    """Refuse model combinations the routing strategy cannot serve (`UserError`)."""
    if make_router(serving.routing).needs_challenger and challenger is None:
        raise UserError(
            f"serving.routing={serving.routing} needs a challenger model; register one "
            "or set serving.routing=single"
        )
    if challenger is not None and challenger.feature_names != champion.feature_names:
        raise UserError(
            f"champion {champion.version} and challenger {challenger.version} expect "
            "different features; both must be trained on the same schema"
        )


def create_app(
    settings: Settings,
    champion: LoadedModel | None = None,
    challenger: LoadedModel | None = None,
) -> FastAPI:
    """Build the app; models given here are used as-is, else they load at startup."""
    serving = settings.serving
    state = ServingState(settings=serving, seed=settings.seed)
    state.router = make_router(
        serving.routing,
        canary_weight=serving.canary_weight,
        ab_split=serving.ab_split,
        bandit_policy=serving.bandit_policy,
        bandit_epsilon=serving.bandit_epsilon,
        seed=settings.seed,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal champion, challenger
        if champion is None:
            champion, challenger = await asyncio.to_thread(resolve_bundles, settings)
        assert champion is not None
        check_models(serving, champion, challenger)
        state.champion, state.challenger = champion, challenger
        state.schema = RequestSchema(champion.features, serving.max_batch_size)
        for model in (champion, challenger):
            if model is not None:
                await asyncio.to_thread(model.warm_up)
        url = database_url(configured_url(serving), settings.resolve(serving.prediction_log))
        state.predlog = PredictionLog(url, max_queue=serving.log_queue_size)
        await asyncio.to_thread(state.predlog.start)
        if isinstance(state.router, Router) and state.router.strategy == "shadow":
            state.shadow = ShadowScorer(state, serving.shadow_queue_size)
            state.shadow.start()
        for model in (champion, challenger):
            if model is not None:
                state.metrics.up.labels(model.version).set(1)
        # Startup objects (models, libraries) never die: move them out of the collector's
        # reach so full collections stay short and do not show up as latency spikes.
        gc.collect()
        gc.freeze()
        state.ready = True
        log.info(
            "serving %s (%s) with routing=%s", champion.version, champion.runtime, serving.routing
        )
        try:
            yield
        finally:
            state.ready = False
            if state.shadow is not None:
                await asyncio.to_thread(state.shadow.stop)
            await asyncio.to_thread(state.predlog.close)

    app = FastAPI(
        title="model server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.serving = state
    metrics = state.metrics

    def version() -> str:
        return state.champion.version if state.champion is not None else "none"

    def observe(route: str, status: int, model_version: str, started: float) -> None:
        metrics.child(metrics.requests, route, str(status), model_version).inc()
        metrics.child(metrics.latency, route, model_version).observe(time.perf_counter() - started)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        return _error(error.status_code, str(error.detail))

    @app.get("/health")
    async def health() -> Response:
        started = time.perf_counter()
        observe("/health", 200, version(), started)
        return _json({"status": "ok"})

    @app.get("/ready")
    async def ready() -> Response:
        started = time.perf_counter()
        alive = state.ready and state.predlog is not None and state.predlog.alive
        status = 200 if alive else 503
        observe("/ready", status, version(), started)
        if not alive:
            return _error(503, "model not loaded or prediction log not running yet")
        return _json({"status": "ready", "model_version": version()})

    @app.get("/model")
    async def model_info() -> Response:
        started = time.perf_counter()
        if not state.ready or state.champion is None:
            observe("/model", 503, version(), started)
            return _error(503, "model not loaded yet")
        body: dict[str, Any] = {"routing": state.router.state()}
        for role, model in (("champion", state.champion), ("challenger", state.challenger)):
            if model is not None:
                body[role] = {
                    "version": model.version,
                    "runtime": model.runtime,
                    "bundle": str(model.bundle) if model.bundle else None,
                    "features": model.feature_names,
                    **{k: v for k, v in model.info.items() if k != "input_example"},
                }
        observe("/model", 200, version(), started)
        return _json(body)

    async def read_json_body(request: Request) -> bytes:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != JSON:
            raise RequestError(
                415, f"content-type {content_type or '(none)'!r} is not supported; send {JSON}"
            )
        limit = serving.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"body of {declared} bytes exceeds the maximum of {limit}")
        if declared is not None:  # already bounded: read it in one go
            return await request.body()
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"body exceeds the maximum of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def score(
        request: Request, rows: Rows, row_json: str | None = None
    ) -> tuple[str, LoadedModel, str, np.ndarray, np.ndarray, list[str]]:
        assert state.predlog is not None
        if state.predlog.full():
            raise RequestError(503, "prediction log is saturated; retry shortly")
        request_id = uuid.uuid4().hex
        key = request.headers.get(serving.routing_key_header) or request_id
        decision = state.router.route(key)
        model = state.model(decision.role)
        # A single-model server logs the alias it serves (a canary/shadow Deployment: challenger).
        role = decision.role if state.router.needs_challenger else serving.model_alias
        proba = model.predict(rows)
        classes, confidence = _classes(proba)
        request_ids = (
            [request_id] if len(rows) == 1 else [f"{request_id}-{i}" for i in range(len(rows))]
        )
        try:
            state.predlog.submit(
                PredictionBatch(
                    request_ids,
                    model.version,
                    role,
                    model.feature_names,
                    rows,
                    classes.tolist(),
                    proba[:, 1].tolist(),
                    features_json=None if row_json is None else [row_json],
                )
            )
        except LogFullError:
            raise RequestError(503, "prediction log is saturated; retry shortly") from None
        metrics.child(metrics.routed, model.version, role, state.router.strategy).inc()
        _count_predictions(metrics, model.version, classes, confidence)
        if decision.shadow and state.shadow is not None:
            state.shadow.submit(request_ids, rows)
        return request_id, model, role, proba, classes, request_ids

    async def prediction_route(request: Request, route: str) -> Response:
        started = time.perf_counter()
        if not state.ready or state.schema is None:
            observe(route, 503, version(), started)
            return _error(503, "model not loaded yet; retry when /ready answers 200")
        try:
            body = await read_json_body(request)
            row_json = None
            if route == "/predict":
                rows = state.schema.parse_predict(body)
                if len(rows) == 1 and body.count(b"[") == 1 and body.count(b"]") == 1:
                    # Validated as {"instances": [ {...} ]} with no other bracket: the text
                    # between the brackets is the row's JSON object as sent; log it verbatim.
                    row_json = body[body.index(b"[") + 1 : body.index(b"]")].decode().strip()
            else:
                rows = state.schema.parse_invocations(body)
            request_id, model, role, proba, classes, request_ids = score(request, rows, row_json)
        except RequestError as error:
            observe(route, error.status, version(), started)
            return _error(error.status, error.message)
        if route == "/predict":
            payload: dict[str, Any] = {
                "request_id": request_id,
                "model_version": model.version,
                "role": role,
                "predictions": classes.tolist(),
                "probabilities": proba[:, 1].tolist(),
            }
            if len(request_ids) > 1:
                payload["request_ids"] = request_ids
        else:
            payload = {"predictions": classes.tolist()}
        headers = {"X-Request-ID": request_id, "X-Model-Version": model.version}
        observe(route, 200, model.version, started)
        return _json(payload, headers=headers)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        return await prediction_route(request, "/predict")

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        return await prediction_route(request, "/invocations")

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        started = time.perf_counter()
        if not state.ready or state.predlog is None:
            observe("/feedback", 503, version(), started)
            return _error(503, "model not loaded yet; retry when /ready answers 200")
        try:
            body = await read_json_body(request)
            try:
                item = FEEDBACK.validate_json(body)
            except ValidationError as error:
                status = 400 if error.errors()[0]["type"] == "json_invalid" else 422
                raise RequestError(status, describe(error)) from None
            try:
                pending = state.predlog.feedback(item.request_id, item.label)
            except LogFullError:
                raise RequestError(503, "prediction log is saturated; retry shortly") from None
            try:
                result = await asyncio.wait_for(
                    asyncio.wrap_future(pending), serving.feedback_timeout_s
                )
            except TimeoutError:
                raise RequestError(
                    503, "feedback not yet committed; retry (it is idempotent)"
                ) from None
            except Exception as error:  # the database refused the write
                raise RequestError(503, f"feedback could not be stored: {error}; retry") from None
            if result is None:
                raise RequestError(
                    404,
                    f"request_id: no logged prediction {item.request_id!r}; "
                    "send an id that /predict returned",
                )
        except RequestError as error:
            observe("/feedback", error.status, version(), started)
            return _error(error.status, error.message)
        correct = result.predicted_class == item.label
        if not result.duplicate:
            metrics.record_feedback(result.model_version, correct)
            state.router.reward(result.role, float(correct))
        observe("/feedback", 200, result.model_version, started)
        return _json(
            {
                "request_id": item.request_id,
                "model_version": result.model_version,
                "correct": correct,
                "duplicate": result.duplicate,
            }
        )

    drift_report = settings.resolve(serving.drift_report)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        if state.predlog is not None:
            metrics.log_queue_depth.set(state.predlog.depth)
        metrics.refresh_drift(drift_report)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
