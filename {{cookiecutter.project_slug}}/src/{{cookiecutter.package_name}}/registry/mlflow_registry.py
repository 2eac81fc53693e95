"""The MLflow backend: runs log params, metrics, plots and the model card; the bundle is
registered as a model version and aliased `champion` / `challenger`.

The store is `MLFLOW_TRACKING_URI` when set, else SQLite (`mlflow.db`) with artifacts in
`mlruns/` under the project, so nothing needs a server. A URI with an unsupported scheme and
any registry failure (network, auth, a broken store) is a one-line `UserError`: only "this
alias is not set" reads as "no champion", never an outage.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlparse

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.registry.base import evaluation_files
from {{ cookiecutter.package_name }}.settings import Settings

# Stores MLflow's client opens (`postgresql+psycopg://` etc. count as their base scheme).
SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")
NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST",)

F = TypeVar("F", bound=Callable[..., Any])


def tracking_uri(settings: Settings) -> str:
    """`MLFLOW_TRACKING_URI`, or the project's SQLite store; UserError for another scheme."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (
        f"sqlite:///{settings.resolve(settings.pipeline.mlflow_db)}"
    )
    scheme = urlparse(uri).scheme.split("+", 1)[0].lower()
    if scheme and scheme not in SCHEMES:
        raise UserError(
            f"MLFLOW_TRACKING_URI={uri!r} has the unsupported scheme '{scheme}'; use "
            "http(s)://<tracking server>, sqlite:///<file>, postgresql://..., mysql://... or "
            "file:///<dir>, or unset it for the project's sqlite:///mlflow.db"
        )
    return uri


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat |= _flatten(f"{prefix}.{key}" if prefix else str(key), item)
        return flat
    return {prefix: str(value)}


def _alias_missing(error: Exception, alias: str) -> bool:
    """MLflow reports an unset alias as INVALID_PARAMETER_VALUE '... alias <a> not found'."""
    message = str(error)
    return (
        getattr(error, "error_code", "") == "INVALID_PARAMETER_VALUE"
        and f"alias {alias} not found" in message.lower()
    )


def _fails_in_one_line(what: str) -> Callable[[F], F]:
    """Turn an MLflow or network failure inside a registry method into `_failure(what)`."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: MlflowRegistry, *args: Any, **kwargs: Any) -> Any:
            from mlflow.exceptions import MlflowException

            try:
                return method(self, *args, **kwargs)
            except (MlflowException, OSError) as error:
                raise self._failure(what, error) from None

        return cast(F, wrapper)

    return decorate


class MlflowRegistry:
    """Registered model `<model_id>`; versions are MLflow model versions."""

    def __init__(self, settings: Settings, model_id: str) -> None:
        import logging

        from mlflow import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.settings = settings
        self.model_id = model_id
        self.uri = tracking_uri(settings)
        try:
            self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        except Exception as error:  # MLflow raises plain exceptions for unknown stores
            raise self._failure("open the store", error) from None

    def _failure(self, what: str, error: Exception) -> UserError:
        cause = one_line(error) or type(error).__name__
        return UserError(
            f"the MLflow registry at {self.uri} failed to {what} ({cause}); "
            "check MLFLOW_TRACKING_URI, the server and its credentials, then retry"
        )

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.model_id)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None
        if "MLFLOW_TRACKING_URI" not in os.environ:
            location = self.settings.resolve(self.settings.pipeline.mlflow_artifacts).as_uri()
        return str(self.client.create_experiment(self.model_id, artifact_location=location))

    @_fails_in_one_line("register the version")
    def add_version(self, bundle: Path, report: dict[str, Any]) -> int:
        from mlflow.exceptions import MlflowException

        config = read_bundle(bundle).raw
        run = self.client.create_run(self._experiment_id(), run_name=config["lineage"]["bundle_id"])
        run_id = run.info.run_id
        params = _flatten("", config.get("hyperparameters", {})) | {
            "seed": str(config["lineage"]["seed"]),
            "dataset.sha256": config["lineage"]["dataset_sha256"],
            "dataset.version": str(config["dataset"]["version"]),
            "base_architecture": str(config["base_architecture"]),
        }
        for key, value in params.items():
            self.client.log_param(run_id, key, value[:6000])
        for key, value in report["metrics"].items():
            self.client.log_metric(run_id, key, float(value))
        commit = config["lineage"].get("git_commit")
        if commit:
            self.client.set_tag(run_id, "mlflow.source.git.commit", commit)
        reports = self.settings.resolve(self.settings.paths.reports_dir)
        for name in evaluation_files(report):
            if (reports / name).is_file():
                folder = str(Path("reports", name).parent)  # plots/ keeps its folder
                self.client.log_artifact(run_id, str(reports / name), folder)
        self.client.log_artifacts(run_id, str(bundle), "bundle")
        self.client.set_terminated(run_id)
        try:
            self.client.get_registered_model(self.model_id)
        except MlflowException as error:
            if error.error_code not in NOT_FOUND:
                raise
            self.client.create_registered_model(self.model_id)
        version = self.client.create_model_version(
            self.model_id, source=f"{run.info.artifact_uri}/bundle", run_id=run_id
        )
        return int(version.version)

    @_fails_in_one_line("set the alias")
    def set_alias(self, alias: str, version: int) -> None:
        self.client.set_registered_model_alias(self.model_id, alias, str(version))

    def get_alias(self, alias: str) -> int | None:
        """The aliased version; None only when the model or the alias does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(self.model_id, alias).version)
        except MlflowException as error:
            if error.error_code in NOT_FOUND or _alias_missing(error, alias):
                return None
            raise self._failure(f"read the '{alias}' alias", error) from None
        except OSError as error:
            raise self._failure(f"read the '{alias}' alias", error) from None

    @_fails_in_one_line("fetch the version")
    def bundle_path(self, version: int) -> Path:
        source = self.client.get_model_version(self.model_id, str(version)).source
        parsed = urlparse(source)
        if parsed.scheme in ("", "file"):
            path = Path(unquote(parsed.path))
        else:  # remote artifact store: keep a local copy per version
            import mlflow.artifacts

            target = self.settings.resolve(self.settings.paths.models_dir) / ".mlflow"
            target = target / f"{self.model_id}-v{version}"
            if not target.is_dir():
                mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=str(target), tracking_uri=self.uri
                )
            path = target / "bundle" if (target / "bundle").is_dir() else target
        if not path.is_dir():
            raise UserError(f"bundle {path} of version {version} is missing from the MLflow store")
        return path

    @_fails_in_one_line("list the versions")
    def versions(self) -> list[dict[str, Any]]:
        found = self.client.search_model_versions(f"name='{self.model_id}'")
        aliases = self.client.get_registered_model(self.model_id).aliases
        return sorted(
            (
                {
                    "version": int(v.version),
                    "run_id": v.run_id,
                    "aliases": sorted(a for a, n in aliases.items() if int(n) == int(v.version)),
                }
                for v in found
            ),
            key=lambda entry: entry["version"],
        )


class MlflowTuningLog:
    """`tune` in MLflow: a parent run per worker's session, one child run per finished trial.

    In the model's experiment (the registry's store); each child run holds the trial's
    family and hyper-parameters (params), `cv_score` (metric), `duration_s` and its state.
    """

    def __init__(self, settings: Settings, model_id: str) -> None:
        self.registry = MlflowRegistry(settings, model_id)
        self.client = self.registry.client
        self.parent = ""

    def start(self, study: str, settings: dict[str, Any]) -> None:
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.create_run(self.registry._experiment_id(), run_name=f"tune-{study}")
        except (MlflowException, OSError) as error:
            raise self.registry._failure("start the tuning run", error) from None
        self.parent = run.info.run_id
        for key, value in ({"study": study} | settings).items():
            self.client.log_param(self.parent, key, str(value)[:6000])

    def trial(self, number: int, state: str, params: dict[str, Any], score: float | None,
              seconds: float) -> None:  # fmt: skip
        from mlflow.entities import Metric, Param, RunTag

        experiment = self.registry._experiment_id()
        tags = {"mlflow.parentRunId": self.parent, "trial_state": state}
        run = self.client.create_run(experiment, run_name=f"trial-{number}", tags=tags)
        metrics = [("duration_s", seconds)] + ([("cv_score", score)] if score is not None else [])
        self.client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, float(value), 0, 0) for key, value in metrics],
            params=[Param(key, str(value)) for key, value in ({"trial": number} | params).items()],
            tags=[RunTag("mlflow.runName", f"trial-{number}")],
        )
        self.client.set_terminated(run.info.run_id, "FINISHED" if score is not None else "KILLED")

    def finish(self, best: dict[str, Any]) -> None:
        self.client.log_metric(self.parent, "best_cv_score", float(best["cv_score"]))
        self.client.set_tag(self.parent, "best_trial", str(best["trial"]))
        self.client.set_terminated(self.parent)
