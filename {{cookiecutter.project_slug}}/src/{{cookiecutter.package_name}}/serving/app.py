"""The model server (FastAPI): health, readiness, predictions, feedback and metrics.

Routes: GET /health (liveness), GET /ready (model loaded and warm), GET /model, POST /predict,
POST /invocations (MLflow scoring payloads), POST /feedback, GET /metrics.

The hot routes (POST /predict, /invocations, /feedback) are served by a raw ASGI handler in
front of FastAPI (`HotRoutes`, dispatched by `ModelServer.__call__`): no routing table,
middleware stack, per-request telemetry checks, Request/Response objects or dependency
machinery per request (Prometheus metrics cover them; FastAPI's OpenTelemetry does not).
Bodies are read as bytes, parsed with orjson and checked against the training schema
(pydantic-core re-validates anything the fast check does not accept, naming the field), and
answers are serialised with orjson; every bad input is a 4xx naming the field. Inference runs
inline (small models answer in microseconds; a thread hop costs more); the prediction log is
written by a separate process (`predlog`) and shadow scoring runs on a background thread.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

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
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def _error(status: int, message: str) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return _json({"detail": message}, status, headers)


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


@dataclass(slots=True)
class Reply:
    """A hot route's answer: status, JSON body, the model version for metrics, extra headers."""

    status: int
    body: bytes
    model_version: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def _error_reply(status: int, message: str) -> Reply:
    headers = [(b"retry-after", b"1")] if status == 503 else []
    return Reply(status, orjson.dumps({"detail": message}), None, headers)


HOT_ROUTES = frozenset({"/predict", "/invocations", "/feedback"})
HotHandler = Callable[[str, bytes, str | None], Awaitable[Reply]]


class RequestIds:
    """Request ids: a 48-bit millisecond timestamp then 80 random bits, as 32 hex digits.

    Random enough that nobody can guess (and label) others' requests; time-ordered (like
    UUIDv7) so the prediction log's primary-key index grows at its end instead of at random
    places, which halves the log writer's CPU. The random bits come from one `os.urandom`
    call per 1024 ids: a getrandom syscall per request costs more than scoring a row in some
    sandboxes.
    """

    RANDOM_BYTES = 10

    def __init__(self, per_refill: int = 1024) -> None:
        self._size = self.RANDOM_BYTES * per_refill
        self._pool = b""
        self._at = self._size
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self._at >= self._size:
                self._pool, self._at = os.urandom(self._size), 0
            at = self._at
            self._at = at + self.RANDOM_BYTES
        millis = time.time_ns() // 1_000_000
        return f"{millis:012x}{self._pool[at : at + self.RANDOM_BYTES].hex()}"


class HotRoutes:
    """Raw ASGI handler for POST /predict, /invocations and /feedback.

    FastAPI's per-request routing, Request/Response objects and dependency resolution cost
    more than validating and scoring a row; these three routes skip them. Everything else
    (health, readiness, model info, metrics, lifespan) goes to FastAPI.
    """

    def __init__(
        self,
        *,
        handle: HotHandler,
        observe: Callable[[str, int, str, float], None],
        version: Callable[[], str],
        max_body_bytes: int,
        key_header: str,
    ) -> None:
        self.handle = handle
        self.observe = observe
        self.version = version
        self.limit = max_body_bytes
        self.key_header = key_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["path"]
        started = time.perf_counter()
        if scope["method"] != "POST":
            reply = _error_reply(405, "Method Not Allowed")
            reply.headers.append((b"allow", b"POST"))
        else:
            try:
                body, key = await self._read(scope, receive)
                # Yield once between reading and answering: the loop polls the sockets again
                # first, so requests that arrived meanwhile join this round instead of
                # waiting a whole extra one (without it, latency under load is bimodal and
                # p99 is about twice p50).
                await asyncio.sleep(0)
                reply = await self.handle(route, body, key)
            except RequestError as error:
                reply = _error_reply(error.status, error.message)
            except Exception:  # a bug: log it, answer 500 without a traceback, keep serving
                log.exception("%s failed", route)
                reply = _error_reply(500, "internal error; see the server log")
        self.observe(route, reply.status, reply.model_version or self.version(), started)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(reply.body)).encode()),
            *reply.headers,
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, str | None]:
        content_type = declared = key = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                declared = value.decode("latin-1")
            elif name == self.key_header:
                key = value.decode("latin-1")
        if content_type is None or content_type.split(";")[0].strip().lower() != JSON:
            raise RequestError(
                415, f"content-type {content_type or '(none)'!r} is not supported; send {JSON}"
            )
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise RequestError(413, f"body of {declared} bytes exceeds the maximum of {self.limit}")
        chunks = []
        size = 0
        more = True
        while more:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "body: client disconnected before sending it")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise RequestError(413, f"body exceeds the maximum of {self.limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), key


class ModelServer(FastAPI):
    """FastAPI with the hot routes dispatched before FastAPI/Starlette see the request."""

    hot: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None and scope["type"] == "http" and scope["path"] in HOT_ROUTES:
            await self.hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


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
        classes, positive, confidence = _classes(proba)
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
                        classes,
                        positive,
                    )
                )
            except LogFullError:
                state.metrics.shadow_dropped.labels(model.version).inc()
        self.scored += 1


def _classes(proba: np.ndarray) -> tuple[list[int], list[float], list[float]]:
    """Predicted classes, P(class 1) and confidence as lists (plain Python: requests are
    small batches, where a numpy call costs more than the loop)."""
    pairs = proba.tolist()
    positive = [pair[1] for pair in pairs]
    return [int(p >= THRESHOLD) for p in positive], positive, [max(pair) for pair in pairs]


def _count_predictions(
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


def configured_url(settings: Settings) -> str | None:
    """The prediction log's configured URL (`Settings.configured_log_url`, shared with
    monitoring)."""
    return settings.configured_log_url()


def prediction_log_url(settings: Settings) -> str:
    return database_url(configured_url(settings), settings.resolve(settings.serving.prediction_log))


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
        state.predlog = PredictionLog(
            prediction_log_url(settings), max_queue=serving.log_queue_size
        )
        # The log's pump runs on this loop: no thread competes with requests for the GIL.
        await asyncio.to_thread(state.predlog.start, asyncio.get_running_loop())
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

    request_ids_source = RequestIds()
    app = ModelServer(
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

    observers: dict[tuple[str, int, str], tuple[Any, Any]] = {}

    def observe(route: str, status: int, model_version: str, started: float) -> None:
        found = observers.get((route, status, model_version))
        if found is None:
            found = observers[(route, status, model_version)] = (
                metrics.requests.labels(route, str(status), model_version),
                metrics.latency.labels(route, model_version),
            )
        found[0].inc()
        found[1].observe(time.perf_counter() - started)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        return _error(error.status_code, str(error.detail))

    @app.get("/health")
    async def health() -> Response:
        started = time.perf_counter()
        if state.predlog is not None and state.predlog.failed:
            # Unrecoverable in-process: fail liveness so the orchestrator restarts us.
            observe("/health", 503, version(), started)
            return _error(503, state.predlog.refusal())
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

    def score_lists(
        key: str | None, rows: Rows, row_json: str | None = None
    ) -> tuple[str, LoadedModel, str, np.ndarray, list[int], list[float], list[str]]:
        """Route, predict, log, count: (request id, model, role, proba, classes, P(1), ids)."""
        assert state.predlog is not None
        if state.predlog.full():
            raise RequestError(503, state.predlog.refusal())
        request_id = request_ids_source.next()
        decision = state.router.route(key or request_id)
        model = state.model(decision.role)
        # A single-model server logs the alias it serves (a canary/shadow Deployment: challenger).
        role = decision.role if state.router.needs_challenger else serving.model_alias
        proba = model.predict(rows)
        classes, positive, confidence = _classes(proba)
        request_ids = (
            [request_id] if len(rows) == 1 else [f"{request_id}-{i}" for i in range(len(rows))]
        )
        try:
            # Tuples, not lists: queued entries live ~20 ms, and the cyclic GC stops tracking
            # tuples of atoms, so young-generation collections (latency spikes) stay short.
            state.predlog.submit(
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
            raise RequestError(503, state.predlog.refusal()) from None
        metrics.child(metrics.routed, model.version, role, state.router.strategy).inc()
        _count_predictions(metrics, model.version, classes, confidence)
        if decision.shadow and state.shadow is not None:
            state.shadow.submit(request_ids, rows)
        return request_id, model, role, proba, classes, positive, request_ids

    def score(
        key: str | None, rows: Rows, row_json: str | None = None
    ) -> tuple[str, LoadedModel, str, np.ndarray, np.ndarray, list[str]]:
        """`score_lists` with numpy results: proba (n, 2) and classes (n,)."""
        request_id, model, role, proba, classes, _, request_ids = score_lists(key, rows, row_json)
        return request_id, model, role, proba, np.asarray(classes, dtype=np.int64), request_ids

    def prediction_route(route: str, body: bytes, key: str | None) -> Reply:
        if not state.ready or state.schema is None:
            raise RequestError(503, "model not loaded yet; retry when /ready answers 200")
        row_json = None
        if route == "/predict":
            rows = state.schema.parse_predict(body)
            if len(rows) == 1 and body.count(b"[") == 1 and body.count(b"]") == 1:
                # Validated as {"instances": [ {...} ]} with no other bracket: the text
                # between the brackets is the row's JSON object as sent; log it verbatim.
                row_json = body[body.index(b"[") + 1 : body.index(b"]")].decode().strip()
        else:
            rows = state.schema.parse_invocations(body)
        request_id, model, role, _, classes, positive, request_ids = score_lists(
            key, rows, row_json
        )
        if route == "/predict":
            payload: dict[str, Any] = {
                "request_id": request_id,
                "model_version": model.version,
                "role": role,
                "predictions": classes,
                "probabilities": positive,
            }
            if len(request_ids) > 1:
                payload["request_ids"] = request_ids
        else:
            payload = {"predictions": classes}
        headers = [
            (b"x-request-id", request_id.encode()),
            (b"x-model-version", model.version.encode()),
        ]
        return Reply(200, orjson.dumps(payload), model.version, headers)

    async def feedback_route(body: bytes) -> Reply:
        if not state.ready or state.predlog is None:
            raise RequestError(503, "model not loaded yet; retry when /ready answers 200")
        request_id, label = parse_feedback(body)
        try:
            pending = state.predlog.feedback(request_id, label)
        except LogFullError:
            raise RequestError(503, state.predlog.refusal()) from None
        timeout = serving.feedback_timeout_s
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(pending), timeout)
        except TimeoutError:
            raise RequestError(
                503, "feedback not yet committed; retry (it is idempotent)"
            ) from None
        except Exception as error:  # the database refused the write
            raise RequestError(503, f"feedback could not be stored: {error}; retry") from None
        if result is None:
            raise RequestError(
                404,
                f"request_id: no logged prediction {request_id!r}; "
                "send an id that /predict returned",
            )
        correct = result.predicted_class == label
        if not result.duplicate:
            metrics.record_feedback(result.model_version, correct)
            state.router.reward(result.role, float(correct))
        body = orjson.dumps(
            {
                "request_id": request_id,
                "model_version": result.model_version,
                "correct": correct,
                "duplicate": result.duplicate,
            }
        )
        return Reply(200, body, result.model_version)

    async def hot_route(route: str, body: bytes, key: str | None) -> Reply:
        if route == "/feedback":
            return await feedback_route(body)
        return prediction_route(route, body, key)

    app.hot = HotRoutes(
        handle=hot_route,
        observe=observe,
        version=version,
        max_body_bytes=serving.max_body_bytes,
        key_header=serving.routing_key_header,
    )
{%- if cookiecutter.feature_store == "feast" %}

    from {{ cookiecutter.package_name }}.serving.online_features import add_entity_route

    add_entity_route(app, settings, score=score, observe=observe)  # POST /predict/entities
{%- endif %}

    drift_report = settings.resolve(serving.drift_report)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        if state.predlog is not None:
            metrics.log_queue_depth.set(state.predlog.depth)
        metrics.refresh_drift(drift_report)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
