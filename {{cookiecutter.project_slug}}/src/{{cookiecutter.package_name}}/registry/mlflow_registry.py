"""The MLflow backend: runs log params, metrics, plots and the model card; the bundle is
registered as a model version and aliased `champion` / `challenger`.

The store is `MLFLOW_TRACKING_URI` when set, else SQLite (`mlflow.db`) with artifacts in
`mlruns/` under the project, so nothing needs a server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training.stage import read_bundle_config

REPORT_FILES = ("metrics.json", "confusion_matrix.png", "roc_curve.png", "model_card.md")


def tracking_uri(settings: Settings) -> str:
    """`MLFLOW_TRACKING_URI`, or the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or (
        f"sqlite:///{settings.resolve(settings.pipeline.mlflow_db)}"
    )


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat |= _flatten(f"{prefix}.{key}" if prefix else str(key), item)
        return flat
    return {prefix: str(value)}


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
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.model_id)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None
        if "MLFLOW_TRACKING_URI" not in os.environ:
            location = self.settings.resolve(self.settings.pipeline.mlflow_artifacts).as_uri()
        return str(self.client.create_experiment(self.model_id, artifact_location=location))

    def add_version(self, bundle: Path, report: dict[str, Any]) -> int:
        from mlflow.exceptions import MlflowException

        config = read_bundle_config(bundle)
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
        for name in REPORT_FILES:
            if (reports / name).is_file():
                self.client.log_artifact(run_id, str(reports / name), "reports")
        self.client.log_artifacts(run_id, str(bundle), "bundle")
        self.client.set_terminated(run_id)
        try:
            self.client.get_registered_model(self.model_id)
        except MlflowException:
            self.client.create_registered_model(self.model_id)
        version = self.client.create_model_version(
            self.model_id, source=f"{run.info.artifact_uri}/bundle", run_id=run_id
        )
        return int(version.version)

    def set_alias(self, alias: str, version: int) -> None:
        self.client.set_registered_model_alias(self.model_id, alias, str(version))

    def get_alias(self, alias: str) -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(self.model_id, alias).version)
        except MlflowException:
            return None

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
