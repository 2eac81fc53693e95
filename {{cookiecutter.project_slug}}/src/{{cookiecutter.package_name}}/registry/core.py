"""Registry operations over either backend: open, register, promote, resolve, export."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle, write_bundle_config
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.registry.base import (
    ALIASES,
    METRICS_REPORT,
    REGISTRY_VERSION_FILE,
    AliasNotSetError,
    Registry,
    evaluation_files,
)
from {{ cookiecutter.package_name }}.registry.file_registry import FileRegistry
{%- if cookiecutter.experiment_tracking == "mlflow" %}
from {{ cookiecutter.package_name }}.registry.mlflow_registry import MlflowRegistry
{%- endif %}
from {{ cookiecutter.package_name }}.runtime import OPTIMIZED_FILE, parity_failure
from {{ cookiecutter.package_name }}.runtime.mlflow_model import write_mlflow_model
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import FRAMEWORK


def _model_id(settings: Settings) -> str:
    return settings.read_model_config().model_id


def open_registry(settings: Settings) -> Registry:
    """The configured backend for this project's model."""
    model_id = _model_id(settings)
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    if settings.pipeline.registry_backend == "mlflow":
        return MlflowRegistry(settings, model_id)
{%- endif %}
    return FileRegistry(settings, model_id)


def _check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise UserError(f"unknown alias '{alias}'; use one of: {', '.join(ALIASES)}")


def _aliased_version(alias: str, settings: Settings) -> tuple[Registry, int]:
    """The registry and the version `alias` points at (AliasNotSetError when it is not set)."""
    _check_alias(alias)
    registry = open_registry(settings)
    version = registry.get_alias(alias)
    if version is None:
        raise AliasNotSetError(
            f"no model has the '{alias}' alias yet; run `make pipeline` or `make register`"
        )
    return registry, version


def resolve_bundle(alias: str, settings: Settings) -> Path:
    """The local bundle directory the alias points at (UserError when it is not set)."""
    registry, version = _aliased_version(alias, settings)
    return registry.bundle_path(version)


def export_bundle(alias: str, settings: Settings, into: Path) -> str:
    """Copy the aliased version into `into` (e.g. the image's build context); its version.

    The copy records where it came from: `REGISTRY_VERSION` (`<model_id>-v<N>`, the image
    label) and `version` in its model_config.yaml (the server's `model_version` label).
    """
    registry, version = _aliased_version(alias, settings)
    source = registry.bundle_path(version)
    label = f"{_model_id(settings)}-v{version}"
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("__pycache__"))
    write_bundle_config(into, read_bundle(into).raw | {"version": label})
    (into / REGISTRY_VERSION_FILE).write_text(label + "\n", encoding="utf-8")
    return label


def _evaluation_report(settings: Settings, bundle: Path) -> dict[str, Any]:
    path = settings.resolve(settings.paths.reports_dir) / METRICS_REPORT
    if not path.is_file():
        raise UserError(f"{path} not found; run `make evaluate` before registering")
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    bundle_id = read_bundle(bundle).bundle_id
    if report.get("bundle_id") != bundle_id:
        raise UserError(
            f"{path} evaluates {report.get('bundle_id')}, not the candidate {bundle_id}; "
            "run `make evaluate` again"
        )
    if not report.get("passed"):
        raise GateFailedError(
            f"the candidate {bundle_id} failed evaluation "
            f"({'; '.join(report.get('failures', []))}); "
            "it cannot be registered"
        )
    if (bundle / OPTIMIZED_FILE).exists():
        failure = parity_failure(bundle)
        if failure is not None:
            raise GateFailedError(
                f"the candidate's {OPTIMIZED_FILE}: {failure}; it cannot be registered: "
                "fix the optimization and run `make optimize` again"
            )
    return report


def _project_requirement() -> str:
    """This project as a pip requirement: the pyfunc loader module lives in its package."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{{ cookiecutter.project_slug }}=={version('{{ cookiecutter.project_slug }}')}"
    except PackageNotFoundError:
        return "{{ cookiecutter.project_slug }}"


def _assemble(candidate: Path, report: dict[str, Any], reports: Path, staging: Path) -> Path:
    """The bundle to register: the candidate plus its evaluation (metrics, card, plots),
    written as an MLflow model directory (`MLmodel`, signature, input example)."""
    bundle = staging / "bundle"
    shutil.copytree(candidate, bundle)
    keys = ("thresholds", "primary_metric", "champion_tolerance", "champion", "passed", "test_rows")
    evaluation = {key: report[key] for key in keys}
    content = read_bundle(bundle).raw | {"metrics": report["metrics"], "evaluation": evaluation}
    write_bundle_config(bundle, content)
    write_mlflow_model(read_bundle(bundle), FRAMEWORK, _project_requirement())
    for name in evaluation_files(report):
        if (reports / name).is_file():
            (bundle / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(reports / name, bundle / name)
    return bundle


def register(settings: Settings, *, promote: bool = False) -> dict[str, Any]:
    """Register the evaluated candidate bundle; return the version and the aliases."""
    candidate = settings.resolve(settings.pipeline.candidate_dir)
    report = _evaluation_report(settings, candidate)
    registry = open_registry(settings)
    with tempfile.TemporaryDirectory() as staging:
        bundle = _assemble(
            candidate, report, settings.resolve(settings.paths.reports_dir), Path(staging)
        )
        version = registry.add_version(bundle, report)
    registry.set_alias("challenger", version)
    if promote or registry.get_alias("champion") is None:
        registry.set_alias("champion", version)
    return {
        "version": version,
        "bundle": str(registry.bundle_path(version)),
        "aliases": {alias: registry.get_alias(alias) for alias in ALIASES},
    }


def promote(settings: Settings) -> dict[str, Any]:
    """Point `champion` at the current challenger."""
    registry = open_registry(settings)
    challenger = registry.get_alias("challenger")
    if challenger is None:
        raise UserError("there is no challenger to promote; run `make register` first")
    previous = registry.get_alias("champion")
    registry.set_alias("champion", challenger)
    return {"champion": challenger, "previous_champion": previous}
