"""Model serving: FastAPI app, champion/challenger routing, prediction and feedback log."""

from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, load_bundle
from {{ cookiecutter.package_name }}.serving.routing import STRATEGIES, make_router

__all__ = ["STRATEGIES", "LoadedModel", "create_app", "load_bundle", "make_router"]
