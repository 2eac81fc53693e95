"""Run the model server with uvicorn (`{{ cookiecutter.package_name }} serve`, `make serve`).

One process, one event loop. Scale with replicas (Kubernetes) rather than `--workers`:
uvicorn's multi-worker mode loses TCP_NODELAY on the shared listening socket and unloaded
latency jumps to ~50 ms.

Start-up faults are one line and exit 2 (`UserError`), checked cheapest first and before
anything slow: the address (bad host, busy port) before the models load, the prediction
log's database (unknown scheme, missing driver, unreachable, read-only) before the models
load, then the models. When the prediction log can no longer be written (its writer died
more often than `predlog.pump` restarts it), the server stops and exits 1, so Docker
(`restart: unless-stopped`), systemd (`Restart=on-failure`) and Kubernetes all restart it
the same way: a restart is the one recovery every supervisor performs.
"""

from __future__ import annotations

import importlib.util
import logging
import socket

import uvicorn

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.predlog.store import check_database, prediction_log_url
from {{ cookiecutter.package_name }}.settings import Settings

log = logging.getLogger(__name__)


class ServerStoppedError(Exception):
    """The server stopped itself (the prediction log could no longer be written): exit 1."""


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_address(host: str, port: int) -> None:
    """Bind `host:port` once and release it: a bad host or a busy port is a `UserError`
    now, before the models load, not a uvicorn error after start-up."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UserError(
            f"serving.host {host!r} is not an address of this machine ({error.strerror}); "
            "use 127.0.0.1, 0.0.0.0 or a local interface's address"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == 98:  # EADDRINUSE
                hint = "stop the other server or pick another with --port"
                raise UserError(f"port {port} on {host} is already in use; {hint}") from None
            raise UserError(
                f"cannot listen on {host}:{port} ({error.strerror}); "
                "use 127.0.0.1, 0.0.0.0 or a local interface's address"
            ) from None


def serve(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM drain the prediction log before exiting)."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    serving = settings.serving
    check_address(serving.host, serving.port)
    check_database(prediction_log_url(settings))
    # The app and the model runtimes import in seconds: only once the cheap checks passed.
    from {{ cookiecutter.package_name }}.serving.app import create_app
    from {{ cookiecutter.package_name }}.serving.state import check_models, resolve_bundles

    champion, challenger = resolve_bundles(settings)
    check_models(serving, champion, challenger)
    app = create_app(settings, champion=champion, challenger=challenger)
    config = uvicorn.Config(
        app,
        host=serving.host,
        port=serving.port,
        workers=1,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=20,
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    state = app.state.serving

    def stop() -> None:
        server.should_exit = True

    state.on_fatal = stop
    server.run()
    if state.fatal is not None:
        raise ServerStoppedError(f"model server stopped: {state.fatal}; restart it")
