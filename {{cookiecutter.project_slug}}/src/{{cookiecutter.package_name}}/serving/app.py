"""The model server (FastAPI): predictions, feedback, MLflow's protocol, probes, metrics, docs.

Routes: GET /health (liveness), GET /ready (model warm and prediction log committing),
GET /model, POST /predict, POST /invocations (MLflow scoring protocol), GET /ping and
/version (MLflow), POST /feedback, GET /metrics, GET /openapi.json, /docs, /redoc.

Where things live: `hotpath` (the raw ASGI front for the POST routes), `scoring` (predict, log,
count), `outputs` (what the model's output means for its task: labels, probabilities, values;
feedback labels), `feedback`, `mlflow_protocol` (content types and payloads), `routes` (the GET
routes), `state` (shared state, start-up and shutdown), `openapi` (the document), `responses`
(bodies and error shapes). Bad input is a 4xx naming the field; a 503 carries Retry-After.
"""

from __future__ import annotations

import time
from typing import Any

from {{ cookiecutter.package_name }}.predlog.store import prediction_log_url
from {{ cookiecutter.package_name }}.serving.feedback import feedback_reply
from {{ cookiecutter.package_name }}.serving.hotpath import HotRoutes, ModelServer
from {{ cookiecutter.package_name }}.serving.mlflow_protocol import JSON, check_content_type, parse_invocations
from {{ cookiecutter.package_name }}.serving.model import LoadedModel
from {{ cookiecutter.package_name }}.serving.openapi import document_hot_routes
from {{ cookiecutter.package_name }}.serving.responses import Reply
from {{ cookiecutter.package_name }}.serving.routes import add_routes
from {{ cookiecutter.package_name }}.serving.routing import make_router
from {{ cookiecutter.package_name }}.serving.scoring import Scorer
from {{ cookiecutter.package_name }}.serving.state import (
    ServingState,
    check_models,
    make_lifespan,
    resolve_bundles,
)
from {{ cookiecutter.package_name }}.settings import Settings

__all__ = [
    "check_models",
    "create_app",
    "prediction_log_url",
    "resolve_bundles",
]


def create_app(
    settings: Settings,
    champion: LoadedModel | None = None,
    challenger: LoadedModel | None = None,
) -> ModelServer:
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
    app = ModelServer(
        title="model server",
        description="{{ cookiecutter.project_slug }}: predictions from the registered model.",
        lifespan=make_lifespan(settings, state, champion, challenger, document_hot_routes),
    )
    app.state.serving = state
    scorer = Scorer(state)
    observe = make_observer(state)

    async def hot_route(route: str, body: bytes, content_type: str, key: str | None) -> Reply:
        if route == "/invocations":
            rows, ids, field = parse_invocations(state.require_schema(), body, content_type)
            return await scorer.invocations_reply(rows, ids, field, key)
        check_content_type(content_type, (JSON,))
        if route == "/feedback":
            return await feedback_reply(state, body)
        return await scorer.predict_reply(body, key)

    app.hot = HotRoutes(
        handle=hot_route,
        observe=observe,
        version=state.version,
        max_body_bytes=serving.max_body_bytes,
        key_header=serving.routing_key_header,
    )
    add_routes(app, state, settings.resolve(serving.drift_report))
{%- if cookiecutter.feature_store == "feast" %}

    from {{ cookiecutter.package_name }}.serving.online_features import add_entity_route

    add_entity_route(
        app, settings, score=scorer.score, acknowledge=scorer.acknowledge, observe=observe
    )
{%- endif %}
    return app


def make_observer(state: ServingState) -> Any:
    """`observe(route, status, model_version, started)`: count a client request, cached
    per label set (the hot path skips prometheus_client's label lookup)."""
    metrics = state.metrics
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

    return observe
