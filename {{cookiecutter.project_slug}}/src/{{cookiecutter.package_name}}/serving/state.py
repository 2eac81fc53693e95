"""What the server's handlers share, and how it is filled at start-up and emptied at shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.predlog.pump import PredictionLog
from {{ cookiecutter.package_name }}.predlog.store import prediction_log_url
from {{ cookiecutter.package_name }}.serving.metrics import ServingMetrics
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, load_bundle
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask
from {{ cookiecutter.package_name }}.serving.routing import Router, make_router
from {{ cookiecutter.package_name }}.serving.schema import RequestError, RequestSchema
from {{ cookiecutter.package_name }}.serving.scoring import ShadowScorer
from {{ cookiecutter.package_name }}.settings import ServingSettings, Settings

log = logging.getLogger(__name__)


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
    # Set when the prediction log can no longer be written (its writer died too often):
    # `on_fatal` stops the server, which then exits non-zero (`server.serve`).
    fatal: str | None = None
    on_fatal: Callable[[], None] | None = None

    def model(self, role: str) -> LoadedModel:
        model = self.challenger if role == "challenger" else self.champion
        assert model is not None
        return model

    def model_by_version(self, version: str) -> LoadedModel | None:
        """The loaded model of that version (None: a version no longer served here)."""
        for model in (self.champion, self.challenger):
            if model is not None and model.version == version:
                return model
        return None

    def version(self) -> str:
        return self.champion.version if self.champion is not None else "none"

    def require_schema(self) -> RequestSchema:
        if not self.ready or self.schema is None:
            raise RequestError(503, "model not loaded yet; retry when /ready answers 200")
        return self.schema

    def stop_serving(self, why: str) -> None:
        self.fatal, self.ready = why, False
        if self.on_fatal is not None:
            self.on_fatal()


def resolve_bundles(settings: Settings) -> tuple[LoadedModel, LoadedModel | None]:
    """Load the models the routing strategy needs (explicit paths first, then the registry)."""
    serving = settings.serving
    router = make_router(serving.routing)

    def bundle_for(alias: str, explicit: Any) -> LoadedModel:
        if explicit is not None:
            path = settings.resolve(explicit)
        else:  # imported here: the registry loads the framework (torch, tensorflow), which
            # a server given its bundle directories (the image) never needs
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


def check_models(
    serving: ServingSettings, champion: LoadedModel, challenger: LoadedModel | None
) -> None:
    """Refuse model combinations the routing strategy cannot serve (`UserError`)."""
    if make_router(serving.routing).needs_challenger and challenger is None:
        raise UserError(
            f"serving.routing={serving.routing} needs a challenger model; register one "
            "or set serving.routing=single"
        )
    if challenger is not None and _inputs(challenger) != _inputs(champion):
        raise UserError(
            f"champion {champion.version} and challenger {challenger.version} expect "
            "different features; both must be trained on the same schema"
        )
    if challenger is not None and not challenger.task.same_outputs(champion.task):
        raise UserError(
            f"champion {champion.version} ({champion.task.task}, classes "
            f"{list(champion.task.classes)}) and challenger {challenger.version} "
            f"({challenger.task.task}, classes {list(challenger.task.classes)}) predict "
            "different things; train both on the same dataset section"
        )
    if serving.routing == "bandit":
        for model in [m for m in (champion, challenger) if m is not None]:
            if not model.task.is_classification and model.task.offline_mae is None:
                raise UserError(
                    f"serving.routing=bandit rewards a regression prediction within the "
                    f"model's offline MAE, but bundle {model.version} records no metrics.mae; "
                    "re-run the pipeline (or use another routing)"
                )


def _inputs(model: LoadedModel) -> list[tuple[str, bool]]:
    # Categories may differ (a challenger trained on newer data saw more of them).
    return [(feature.name, feature.numeric) for feature in model.features]


def make_lifespan(
    settings: Settings,
    state: ServingState,
    champion: LoadedModel | None,
    challenger: LoadedModel | None,
    on_started: Callable[[FastAPI, RequestSchema, ModelTask], None],
) -> Callable[[FastAPI], Any]:
    """Start-up: models (loaded here unless given), warm-up, the log, shadow scoring;
    shutdown: drain the shadow queue and the log."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start(settings, state, champion, challenger)
        on_started(app, state.require_schema(), state.model("champion").task)
        try:
            yield
        finally:
            state.ready = False
            if state.shadow is not None:
                await asyncio.to_thread(state.shadow.stop)
            if state.predlog is not None:
                await asyncio.to_thread(state.predlog.close)

    return lifespan


async def start(
    settings: Settings,
    state: ServingState,
    champion: LoadedModel | None,
    challenger: LoadedModel | None,
) -> None:
    serving = settings.serving
    if champion is None:
        champion, challenger = await asyncio.to_thread(resolve_bundles, settings)
    assert champion is not None
    check_models(serving, champion, challenger)
    state.champion, state.challenger = champion, challenger
    state.schema = RequestSchema(
        champion.inputs or champion.features,
        serving.max_batch_size,
        reject_unknown=champion.task.unknown_category == "reject",
        id_columns=champion.id_columns,
        extra_fields=serving.extra_fields,
        expand=champion.expand,
    )
    state.metrics.describe_models([m for m in (champion, challenger) if m is not None])
    for model in (champion, challenger):
        if model is not None:
            await asyncio.to_thread(model.warm_up)
    loop = asyncio.get_running_loop()
    state.predlog = PredictionLog(
        prediction_log_url(settings),
        max_queue=serving.log_queue_size,
        on_fatal=state.stop_serving,
        durability=serving.durability,
    )
    # The log's pump runs on this loop: no thread competes with requests for the GIL.
    await asyncio.to_thread(state.predlog.start, loop)
    if state.router.strategy == "shadow":
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
    log.info("serving %s (%s) with routing=%s", champion.version, champion.runtime, serving.routing)
