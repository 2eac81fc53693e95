"""The FastAPI routes: probes, model info, metrics, MLflow's /ping and /version.

Probes and scrapes are counted in `model_probe_requests_total`, apart from client traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from {{ cookiecutter.package_name }}.serving.fields import Feature
from {{ cookiecutter.package_name }}.serving.metrics import LogCounts
from {{ cookiecutter.package_name }}.serving.mlflow_protocol import mlflow_version
from {{ cookiecutter.package_name }}.serving.model import LoadedModel
from {{ cookiecutter.package_name }}.serving.openapi import error_responses
from {{ cookiecutter.package_name }}.serving.responses import error_response, json_response
from {{ cookiecutter.package_name }}.serving.state import ServingState

Probe = Callable[[str, Response], Response]


def add_routes(app: FastAPI, state: ServingState, drift_report: Path) -> None:
    metrics = state.metrics

    def probe(route: str, response: Response) -> Response:
        metrics.child(metrics.probes, route, str(response.status_code)).inc()
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        response = error_response(error.status_code, str(error.detail))
        response.headers.update(error.headers or {})  # e.g. Allow on a 405
        return response

    _add_probes(app, state, probe)
    _add_model_routes(app, state, drift_report, probe)
    metrics.watch_log(lambda: _log_counts(state))


def _add_probes(app: FastAPI, state: ServingState, probe: Probe) -> None:
    """/health, /ready and MLflow's /ping and /version."""

    @app.get("/health", summary="Liveness", responses=_errors(503))
    async def health() -> Response:
        """200 while the process can serve; 503 once the prediction log cannot be written
        any more (the process is then stopping: restart it)."""
        predlog = state.predlog
        if state.fatal is not None or (predlog is not None and predlog.failed):
            why = state.fatal or "the prediction log writer stopped"
            return probe("/health", error_response(503, f"{why}; the server needs a restart"))
        return probe("/health", json_response({"status": "ok"}))

    @app.get("/ready", summary="Readiness", responses=_errors(503))
    async def ready() -> Response:
        """200 when the model is loaded and warm and the prediction log commits; 503 while
        it cannot (traffic drains to other replicas until it recovers)."""
        predlog = state.predlog
        if not state.ready or predlog is None:
            return probe("/ready", error_response(503, "model not loaded yet"))
        if not predlog.alive:
            return probe("/ready", error_response(503, predlog.refusal()))
        return probe("/ready", json_response({"status": "ready", "model_version": state.version()}))

    @app.get("/ping", summary="MLflow liveness (ScoringServerClient.ping)", responses=_errors(503))
    async def ping() -> Response:
        """MLflow's health check: 200 once the model is loaded."""
        if not state.ready:
            return probe("/ping", error_response(503, "model not loaded yet"))
        return probe("/ping", json_response({"status": "ok"}))

    @app.get(
        "/version",
        summary="MLflow version (ScoringServerClient.get_version)",
        response_class=PlainTextResponse,
    )
    async def version() -> Response:
        return probe("/version", PlainTextResponse(mlflow_version()))


def _add_model_routes(app: FastAPI, state: ServingState, drift_report: Path, probe: Probe) -> None:
    """/model (what is served, the routing state) and /metrics."""
    metrics = state.metrics

    @app.get("/model", summary="The models served and the routing state", responses=_errors(503))
    async def model_info() -> Response:
        if not state.ready or state.champion is None:
            return error_response(503, "model not loaded yet")
        body: dict[str, Any] = {"routing": state.router.state()}
        for role, model in (("champion", state.champion), ("challenger", state.challenger)):
            if model is not None:
                body[role] = _describe(model)
        return json_response(body)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> Response:
        if state.predlog is not None:
            metrics.log_queue_depth.set(state.predlog.depth)
        metrics.refresh_drift(drift_report)
        body = generate_latest(metrics.registry)
        return probe("/metrics", Response(body, media_type=CONTENT_TYPE_LATEST))


def _describe(model: LoadedModel) -> dict[str, Any]:
    """A served model as /model shows it."""
    return {
        "version": model.version,
        "runtime": model.runtime,
        "bundle": str(model.bundle) if model.bundle else None,
        "features": model.feature_names,
        "feature_types": {f.name: _kind(f) for f in model.features},
        # What a request row carries: the features, with date columns for their parts.
        "inputs": {f.name: _kind(f) for f in model.inputs or model.features},
        "task": model.task.task,
        "classes": list(model.task.classes),
        **{k: v for k, v in model.info.items() if k != "input_example"},
    }


def _kind(feature: Feature) -> str:
    return "date" if feature.date else "numeric" if feature.numeric else "categorical"


def _log_counts(state: ServingState) -> LogCounts | None:
    predlog = state.predlog
    if predlog is None:
        return None
    return LogCounts(
        predlog.written, predlog.not_stored, predlog.commit_failures, predlog.restarted,
        predlog.alive,
    )  # fmt: skip


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*statuses)
