"""`POST /predict/entities`: predict for known entities from the Feast online store.

The body names entities instead of sending features: `{"entity_ids": [1, 42]}`. Their
latest materialized features (`make features`) are read from the SQLite online store through
the feature service the model was trained on, then go down the same path as `/predict`:
routing, prediction log, metrics. An unknown id is a 404 naming it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from math import isnan
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.feature_store import ENTITY_KEY, online_features, store
from {{ cookiecutter.package_name }}.serving.fields import Feature
from {{ cookiecutter.package_name }}.serving.model import Rows
from {{ cookiecutter.package_name }}.serving.schema import RequestError, describe
from {{ cookiecutter.package_name }}.serving.scoring import Scored
from {{ cookiecutter.package_name }}.settings import Settings

ROUTE = "/predict/entities"

JSON = "application/json"

# `score(routing_key, rows, field)` (`Scorer.score`) and `observe(route, status,
# model_version, started)` of create_app.
Score = Callable[[str | None, Rows, str], Scored]
Acknowledge = Callable[[Scored], Awaitable[None]]
Observe = Callable[[str, int, str, float], None]


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def _error(status: int, message: str) -> Response:
    return _json({"detail": message}, status, {"Retry-After": "1"} if status == 503 else None)


class EntityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_ids: Annotated[list[Annotated[int, Field(strict=True, ge=1)]], Field(min_length=1)]


ENTITY_REQUEST = TypeAdapter(EntityRequest)


class OnlineFeatures:
    """Reads feature rows for entity ids; the Feast store is built once, on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Any | None = None
        self._lock = threading.Lock()

    def rows(self, entity_ids: list[int], features: list[Feature]) -> list[tuple[Any, ...]]:
        """Feature rows in model order: numbers as floats, categories as stored."""
        feature_names = [feature.name for feature in features]
        try:
            with self._lock:
                if self._store is None:
                    self._store = store(self.settings)
            frame = online_features(self.settings, entity_ids, feature_store=self._store)
        except UserError as error:
            if self._store is None:  # no feature repo where the server runs
                raise RequestError(503, f"feature store unavailable: {error}") from None
            raise RequestError(404, f"entity_ids: {error}") from None
        except Exception as error:  # Feast's own errors: no registry, no materialized table
            detail = " ".join(str(error).split())[:300]
            raise RequestError(
                503, f"online store not readable ({detail}); run `make features`"
            ) from None
        absent = [name for name in feature_names if name not in frame.columns]
        if absent:
            raise RequestError(
                503,
                f"the online store lacks feature(s) {', '.join(absent[:5])} the model needs; "
                "run `make features` with the feature repo the model was trained from",
            )
        columns = [
            frame[f.name].to_numpy(dtype=np.float64 if f.numeric else object).tolist()
            for f in features
        ]
        rows = list(zip(*columns, strict=True))
        for index, row in enumerate(rows):
            gaps = [name for name, value in zip(feature_names, row, strict=True) if _gap(value)]
            if gaps:
                raise RequestError(
                    422,
                    f"entity_ids: patient {frame[ENTITY_KEY].iloc[index]} has no online value for "
                    f"{', '.join(gaps[:5])}; re-materialize with `make features`",
                )
        return rows


def _gap(value: Any) -> bool:
    return value is None or (isinstance(value, float) and isnan(value))


async def read_body(request: Request, limit: int) -> bytes:
    """The JSON body, refusing other content types and bodies over `limit` bytes."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON:
        raise RequestError(
            415, f"content-type {content_type or '(none)'!r} is not supported; send {JSON}"
        )
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"body exceeds the maximum of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def add_entity_route(
    app: FastAPI, settings: Settings, *, score: Score, acknowledge: Acknowledge, observe: Observe
) -> OnlineFeatures:
    """Register `POST /predict/entities` on the model server built by `create_app`."""
    state = app.state.serving
    reader = OnlineFeatures(settings)
    serving = settings.serving
    limit = serving.max_batch_size

    def version() -> str:
        return str(state.champion.version) if state.champion is not None else "none"

    @app.post(ROUTE)
    async def predict_entities(request: Request) -> Response:
        started = time.perf_counter()
        if not state.ready or state.champion is None:
            observe(ROUTE, 503, version(), started)
            return _error(503, "model not loaded yet; retry when /ready answers 200")
        try:
            body = await read_body(request, serving.max_body_bytes)
            try:
                ids = ENTITY_REQUEST.validate_json(body).entity_ids
            except ValidationError as error:
                status = 400 if error.errors()[0]["type"] == "json_invalid" else 422
                raise RequestError(status, describe(error)) from None
            if len(ids) > limit:
                raise RequestError(422, f"entity_ids: {len(ids)} ids exceed the maximum of {limit}")
            rows = await asyncio.to_thread(reader.rows, ids, state.champion.features)
            key = request.headers.get(serving.routing_key_header)
            scored = score(key, rows, "entity_ids")
            await acknowledge(scored)  # `durability: commit`: after the rows' commit
        except RequestError as error:
            observe(ROUTE, error.status, version(), started)
            return _error(error.status, error.message)
        # As /predict's answer for the task, with the entity ids.
        payload: dict[str, Any] = {**scored.payload(), "entity_ids": ids}
        model = scored.model
        observe(ROUTE, 200, model.version, started)
        headers = {"X-Request-ID": scored.request_id, "X-Model-Version": model.version}
        return _json(payload, headers=headers)

    return reader
