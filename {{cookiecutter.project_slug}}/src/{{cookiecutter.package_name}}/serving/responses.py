"""Answers shared by the routes: JSON bodies, errors with Retry-After, MLflow's error shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.responses import Response

JSON = "application/json"
RETRY_AFTER_S = "1"


@dataclass(slots=True)
class Reply:
    """A hot route's answer: status, JSON body, the model version for metrics, extra headers."""

    status: int
    body: bytes
    model_version: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def error_reply(status: int, message: str) -> Reply:
    """`{"detail": message}`; a 503 says when to retry."""
    headers = [(b"retry-after", RETRY_AFTER_S.encode())] if status == 503 else []
    return Reply(status, orjson.dumps({"detail": message}), None, headers)


def mlflow_error_reply(status: int, message: str) -> Reply:
    """MLflow's error body: a bad payload is 400 BAD_REQUEST as in `mlflow models serve`;
    413, 415 and 503 keep their status (503 with Retry-After)."""
    shown = 400 if status == 422 else status
    if status < 500:
        code = "BAD_REQUEST"
    else:
        code = "TEMPORARILY_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR"
    headers = [(b"retry-after", RETRY_AFTER_S.encode())] if status == 503 else []
    return Reply(shown, orjson.dumps({"error_code": code, "message": message}), None, headers)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def error_response(status: int, message: str) -> Response:
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    return json_response({"detail": message}, status, headers)
