"""Run the model server with uvicorn (`{{ cookiecutter.package_name }} serve`, `make serve`).

One process, one event loop. Scale with replicas (Kubernetes) rather than `--workers`:
uvicorn's multi-worker mode loses TCP_NODELAY on the shared listening socket and unloaded
latency jumps to ~50 ms.
"""

from __future__ import annotations

import importlib.util
import logging

import uvicorn

from {{ cookiecutter.package_name }}.serving.app import (
    check_models,
    create_app,
    prediction_log_url,
    resolve_bundles,
)
from {{ cookiecutter.package_name }}.serving.predlog import check_database
from {{ cookiecutter.package_name }}.settings import Settings


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def serve(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM drain the prediction log before exiting)."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # Load and check the models and the log's database before uvicorn starts, so a missing
    # bundle or a bad DATABASE_URL is a one-line error (exit 2), not a startup traceback.
    check_database(prediction_log_url(settings))
    champion, challenger = resolve_bundles(settings)
    check_models(settings.serving, champion, challenger)
    config = uvicorn.Config(
        create_app(settings, champion=champion, challenger=challenger),
        host=settings.serving.host,
        port=settings.serving.port,
        workers=1,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=20,
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run()
