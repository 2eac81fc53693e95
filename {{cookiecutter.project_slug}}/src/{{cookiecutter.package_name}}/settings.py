"""The one typed settings object for the whole project.

Values come, highest priority first, from: keyword arguments, environment variables
(`{{ cookiecutter.package_name | upper }}_SEED=7`, nested with `__`:
`{{ cookiecutter.package_name | upper }}_PATHS__DATA_DIR=/mnt/data`), then `configs/settings.yaml`,
then the defaults below. Stage-specific rules (model hyper-parameters, validation rules, ...)
live in their own files under `configs/`, whose paths are settings here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from {{ cookiecutter.package_name }}.contracts.config import ModelConfig, load_model_config
from {{ cookiecutter.package_name }}.errors import UserError

# The serving choices, declared once (serving.routing reads them from here).
Role = Literal["champion", "challenger"]
Strategy = Literal["single", "canary", "shadow", "ab-test", "bandit"]
BanditPolicy = Literal["epsilon-greedy", "thompson"]

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
SETTINGS_FILE_ENV = f"{ENV_PREFIX}SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = Path("configs/settings.yaml")


class Section(BaseModel):
    """Base for a settings section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(Section):
    """Where artifacts live; relative paths are resolved against the project root."""

    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    reports_dir: Path = Path("reports")


class PipelineSettings(Section):
    """The model pipeline: its config files, where the candidate bundle goes, the registry."""

    model_config_file: Path = Path("configs/model_config.yaml")
    validation_rules: Path = Path("configs/data_validation.yaml")
    processed_dir: Path = Path("data/processed")
    candidate_dir: Path = Path("models/candidate")
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    registry_backend: Literal["mlflow", "file"] = "mlflow"
    # MLflow store when MLFLOW_TRACKING_URI is unset: SQLite + artifacts under the project.
    mlflow_db: Path = Path("mlflow.db")
    mlflow_artifacts: Path = Path("mlruns")
{%- else %}
    registry_backend: Literal["file"] = "file"  # models/registry.json
{%- endif %}


class ServingSettings(Section):
    """The model server: address, champion/challenger routing, input limits, prediction log."""

    host: str = "127.0.0.1"  # the container sets 0.0.0.0
    port: int = Field(default=8080, ge=1, le=65535)
    # The registry alias a single-model server serves (canary/shadow Deployments: challenger).
    model_alias: Role = "champion"
    champion_bundle: Path | None = None  # a bundle directory instead of the registry's champion
    challenger_bundle: Path | None = None
    prefer_optimized: bool = True  # serve optimized/model.onnx|tflite when the bundle has one
    routing: Strategy = {% if cookiecutter.online_experiment == "ab-test" %}"ab-test"{% elif cookiecutter.online_experiment == "bandit" %}"bandit"{% else %}"single"{% endif %}
    canary_weight: float = Field(default=0.1, ge=0.0, le=1.0)
    ab_split: float = Field(default=0.5, ge=0.0, le=1.0)  # share of users on the challenger
    bandit_policy: BanditPolicy = "thompson"
    bandit_epsilon: float = Field(default=0.1, ge=0.0, le=1.0)
    routing_key_header: str = "x-user-id"  # sticky canary / A/B key; the request id otherwise
    max_batch_size: int = Field(default=1000, ge=1)
    # Fields of a request row that are neither a feature nor an id column (`dataset.id_columns`,
    # logged and echoed): `ignore` them (clients send whole records) or `reject` (422 naming it).
    extra_fields: Literal["ignore", "reject"] = "ignore"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # SQLAlchemy URL of the prediction log; DATABASE_URL is used when this is unset.
    database_url: str | None = None
    database_url_file: Path | None = None  # a file holding the URL (a mounted Secret)
    prediction_log: Path = Path("data/predictions.db")  # SQLite file when no URL is set
    log_queue_size: int = Field(default=10_000, ge=1)
    shadow_queue_size: int = Field(default=1_000, ge=1)
    feedback_timeout_s: float = Field(default=5.0, gt=0.0)
    # commit: a prediction is answered after its rows are committed to the log (an answer is
    # a stored row; a 503 when the log cannot commit in commit_timeout_s) | buffered: answered
    # once queued (lower latency; rows still queued die with the process).
    durability: Literal["commit", "buffered"] = "commit"
    commit_timeout_s: float = Field(default=5.0, gt=0.0)
    # `make drift`'s report, exported as model_*_drift_score gauges on /metrics
    drift_report: Path = Path("reports/drift/drift_report.json")


class GitHubTriggerSettings(Section):
    repository: str = "{{ cookiecutter.github_org }}/{{ cookiecutter.project_slug }}"
    workflow: str = "train.yml"
    ref: str = "main"
    api_url: str = "https://api.github.com"
    auth_env: str = "GITHUB_TOKEN"  # a token allowed to dispatch workflows (actions: write)


class JenkinsTriggerSettings(Section):
    url: str = "http://jenkins:8080"
    job: str = "{{ cookiecutter.project_slug }}-train"
    user_env: str = "JENKINS_USER"
    api_key_env: str = "JENKINS_TOKEN"


class AirflowTriggerSettings(Section):
    url: str = "http://airflow-webserver:8080"
    dag_id: str = "{{ cookiecutter.package_name }}_training"
    user_env: str = "AIRFLOW_USER"
    credential_env: str = "AIRFLOW_PASSWORD"


class KubeflowTriggerSettings(Section):
    host: str = "http://ml-pipeline-ui:80"
    pipeline_id: str = ""  # `kfp pipeline list`; required to trigger a real run
    experiment_id: str = ""
    auth_env: str = "KFP_TOKEN"


class RetrainSettings(Section):
    """When to retrain and which system runs the training pipeline."""

    trigger: Literal["none", "github", "jenkins", "airflow", "kubeflow"] = {% if cookiecutter.orchestrator == "airflow" %}"airflow"{% elif cookiecutter.orchestrator == "kubeflow" %}"kubeflow"{% elif cookiecutter.use_github_actions %}"github"{% elif cookiecutter.use_jenkins %}"jenkins"{% else %}"none"{% endif %}
    dry_run: bool = True  # print the request instead of sending it (CI passes --no-dry-run)
    min_online_accuracy: float = Field(default=0.85, ge=0.0, le=1.0)  # classification
    # Regression: retrain when the online MAE exceeds this multiple of the champion's
    # offline test MAE (its bundle's metrics); the Prometheus alert uses the same 1.25.
    max_online_mae_ratio: float = Field(default=1.25, gt=1.0)
    min_feedback_for_accuracy: int = Field(default=50, ge=1)  # labels needed to judge either
    feedback_volume: int = Field(default=500, ge=1)  # new labels that justify a retrain
    max_model_age_days: int = Field(default=30, ge=1)  # the schedule: retrain at least this often
    timeout_s: float = Field(default=30.0, gt=0.0)
    github: GitHubTriggerSettings = GitHubTriggerSettings()
    jenkins: JenkinsTriggerSettings = JenkinsTriggerSettings()
    airflow: AirflowTriggerSettings = AirflowTriggerSettings()
    kubeflow: KubeflowTriggerSettings = KubeflowTriggerSettings()


class MonitoringSettings(Section):
    """Drift detection against the training reference and the retraining trigger.

    The reference data, its target and which features are categorical come from the
    dataset spec (`dataset:` in configs/model_config.yaml), not from here.
    """

    window_size: int = Field(default=1000, ge=1)  # latest predictions compared
    min_window_size: int = Field(default=100, ge=10)
    psi_threshold: float = Field(default=0.2, gt=0.0)  # same as the Prometheus drift alerts
    psi_bins: int = Field(default=10, ge=2, le=100)
    ks_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    chi2_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    drift_share: float = Field(default=0.25, gt=0.0, le=1.0)
    report_dir: Path = Path("reports/drift")
    retrain: RetrainSettings = RetrainSettings()


class BatchSettings(Section):
    """`batch-score`: batch size, the rejected-rows bound, the Spark master."""

    batch_size: int = Field(default=65_536, ge=1)  # rows per record batch (memory per batch)
    # Share of input rows allowed to fail the model's input schema before the run fails.
    max_rejected_share: float = Field(default=0.01, ge=0.0, le=1.0)
    include_features: bool = True  # write the features next to the predictions (drift reads them)
    # Input columns written next to the predictions, so results join back to the input:
    # `all` (every column that is not a feature: ids, keys, the target, ...) or `ids` only.
    passthrough: Literal["all", "ids"] = "all"
    spark_master: str = "local[2]"  # SPARK_MASTER overrides it (spark://..., yarn, k8s://...)


class Settings(BaseSettings):
    """Project settings; build with `get_settings()` so errors become one-line messages."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    project_root: Path = Field(default_factory=Path.cwd)
    seed: int = Field(default=42, ge=0, description="Seed for every random number generator.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    paths: PathSettings = PathSettings()
    pipeline: PipelineSettings = PipelineSettings()
    serving: ServingSettings = ServingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    batch: BatchSettings = BatchSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=settings_file())
        return (init_settings, env_settings, yaml_source)

    def resolve(self, path: Path) -> Path:
        """An absolute path: `path` itself if absolute, else relative to the project root."""
        return path if path.is_absolute() else self.project_root / path

    def read_model_config(self) -> ModelConfig:
        """`pipeline.model_config_file`, validated: the one accessor every stage calls (read on
        each call: `init-data` and hand edits change it between stages of one process)."""
        return load_model_config(self.resolve(self.pipeline.model_config_file))

    def configured_log_url(self) -> str | None:
        """The prediction log's configured URL, or None for the SQLite file `prediction_log`.

        The one resolver the server, `drift` and `retrain-check` share: `serving.database_url`,
        then `DATABASE_URL`, then the file `serving.database_url_file` (a mounted Kubernetes
        Secret) when it exists.
        """
        serving = self.serving
        url = serving.database_url or os.environ.get("DATABASE_URL")
        if not url and serving.database_url_file is not None:
            path = self.resolve(serving.database_url_file)
            if path.is_file():
                url = path.read_text(encoding="utf-8").strip()
        return url or None


def settings_file() -> Path:
    """The YAML settings file: `${{ cookiecutter.package_name | upper }}_SETTINGS_FILE` or `configs/settings.yaml`."""
    return Path(os.environ.get(SETTINGS_FILE_ENV, DEFAULT_SETTINGS_FILE))


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"invalid setting '{where}': {first['msg']}{more}"


def check_settings_file(source: Path) -> None:
    """A settings file named explicitly must exist; any settings file must be UTF-8 YAML
    holding a mapping of sections (`UserError` otherwise)."""
    if not source.is_file():
        if SETTINGS_FILE_ENV in os.environ:
            raise UserError(
                f"{SETTINGS_FILE_ENV}={source} does not exist; point it at a settings file "
                "or unset it to use configs/settings.yaml"
            )
        return
    try:
        text = source.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"{source} is not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise UserError(f"{source} cannot be read: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{source}{line} is not valid YAML: fix the syntax") from None
    if data is not None and not isinstance(data, dict):
        raise UserError(
            f"{source} holds a YAML {type(data).__name__}, not a mapping of settings "
            "sections (e.g. `serving:` with `port: 8080` under it)"
        )


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation and YAML errors into a one-line `UserError`."""
    source = settings_file()
    check_settings_file(source)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise UserError(
            f"{_describe(error)}; fix it in {source} or the {ENV_PREFIX}* environment"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{source}{line} is not valid YAML: fix the syntax") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call `get_settings.cache_clear()` in tests)."""
    return load_settings()
