"""The model pipeline, stage by stage and end to end.

data -> validate -> train -> evaluate -> optimize -> register. Optimization runs on the
candidate before registration so a registered version is complete (native + optimized model
+ reports) and never changes afterwards; serving loads `optimized/` from the champion.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

{% if cookiecutter.ml_framework == "scikit-learn" -%}
from {{ cookiecutter.package_name }} import tables
from {{ cookiecutter.package_name }}.adopt.regate import regate
{% endif -%}
from {{ cookiecutter.package_name }}.data.samples import SAMPLE_DIR, SAMPLES, sample_at, write_sample
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.evaluation import gate
{%- if cookiecutter.feature_store == "feast" %}
from {{ cookiecutter.package_name }}.feature_store import SERVICE, enabled, sync
{%- endif %}
from {{ cookiecutter.package_name }}.optimization import BENCHMARK_TABLE
from {{ cookiecutter.package_name }}.optimization import run as optimize
from {{ cookiecutter.package_name }}.optimization.base import BENCHMARK_FILE, PARITY_FILE
from {{ cookiecutter.package_name }}.registry import register
{%- if cookiecutter.ml_framework == "scikit-learn" and cookiecutter.experiment_tracking == "mlflow" %}
from {{ cookiecutter.package_name }}.registry.mlflow_registry import MlflowTuningLog
{%- endif %}
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import stage
{%- if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.training.tune import TrialLog, TuneOptions
from {{ cookiecutter.package_name }}.training.tune import run as run_tune
{%- endif %}
from {{ cookiecutter.package_name }}.validation import enforce, render_table
from {{ cookiecutter.package_name }}.validation import validate as run_validation

VALIDATION_REPORT = "validation.json"

Echo = Callable[[str], None]


def dataset_file(settings: Settings) -> Path:
    """The dataset configured in `configs/model_config.yaml` (absolute)."""
    config = settings.read_model_config()
    return settings.resolve(config.dataset.path)


def data(settings: Settings, *, force: bool = False) -> tuple[Path, bool]:
    """Write the bundled sample `dataset.path` names (data/raw/<sample>.csv); (path, written)."""
    path = dataset_file(settings)
    if path.exists() and not force:
        return path, False
    root = settings.project_root
    relative = path.relative_to(root) if path.is_relative_to(root) else path
    if sample_at(relative) is None:
        samples = ", ".join(str(SAMPLE_DIR / name) for name in SAMPLES)
        raise UserError(
            f"dataset {path} not found: put your CSV or Parquet file there (then run "
            f"`make init-data DATA={relative} TARGET=<column>`), or set dataset.path in "
            f"configs/model_config.yaml to a bundled sample ({samples})"
        )
    return path, write_sample(path, force=True, sample=relative)


def validate(
    settings: Settings, data_path: Path | None = None, rules_path: Path | None = None
) -> dict[str, Any]:
    """Validate the dataset against the rules; write `reports/validation.json`."""
    return run_validation(
        data_path or dataset_file(settings),
        rules_path or settings.resolve(settings.pipeline.validation_rules),
        settings.resolve(settings.paths.reports_dir) / VALIDATION_REPORT,
    )


def run_all(settings: Settings, echo: Echo) -> dict[str, Any]:
    """Every stage in order, echoing where each artifact went; stops at the first failure."""
    reports = settings.resolve(settings.paths.reports_dir)
    path, written = data(settings)
    echo(f"[1/6] data      {'wrote' if written else 'kept'} {path}")
    report = validate(settings)
    echo(render_table(report))
    enforce(report, reports / VALIDATION_REPORT)
    echo(f"[2/6] validate  report {reports / VALIDATION_REPORT}")
{%- if cookiecutter.feature_store == "feast" %}
    if enabled(settings):  # training reads Feast: refresh source, registry and online store
        config = settings.read_model_config()
        synced = sync(settings, path, config.dataset.target)
        echo(f"      features  feast apply + materialize ({SERVICE}) into {synced.online_store}")
{%- endif %}
    bundle = stage.run(settings)
    echo(f"[3/6] train     candidate bundle {bundle}")
    metrics = gate.run(settings, bundle)
    summary = ", ".join(f"{name} {value:.4f}" for name, value in metrics["metrics"].items())
    echo(f"[4/6] evaluate  {summary}")
    for name in (gate.METRICS_FILE, *metrics["files"], gate.MODEL_CARD):
        echo(f"                {reports / name}")
    optimized = optimize(settings, bundle)
    echo(f"[5/6] optimize  {optimized['artifact']} (parity passed)")
    for name in (PARITY_FILE, BENCHMARK_FILE, BENCHMARK_TABLE):
        echo(f"                {reports / name}")
    registered = register(settings)
    aliases = ", ".join(f"{k}=v{v}" for k, v in registered["aliases"].items() if v is not None)
    echo(f"[6/6] register  version {registered['version']} ({aliases}) at {registered['bundle']}")
    return {"bundle": bundle, "metrics": metrics, "optimized": optimized, "registered": registered}

{%- if cookiecutter.ml_framework == "scikit-learn" %}


def tune(settings: Settings, options: TuneOptions) -> str:
    """`training.tune.run` with the MLflow trial log when MLflow is the registry; its report."""
    log: TrialLog | None = None
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    if settings.pipeline.registry_backend == "mlflow":
        log = MlflowTuningLog(settings, settings.read_model_config().model_id)
{%- endif %}
    result = run_tune(settings, options, log)
    top = [[row["trial"], row["family"], row["cv_score"], row["seconds"]] for row in result["top"]]
    headers = ["trial", "family", f"CV {result['metric']}", "seconds"]
    report = tables.render(headers, top, right=headers[2:]) + (
        f"\nstudy {result['study']}: {result['new_trials']} new trials in {result['seconds']} s; "
        f"best trial {result['trial']} ({result['hyperparameters']['family']}, CV "
        f"{result['cv_score']}) written to configs/model_config.yaml: `make pipeline` trains it"
    )
    if not options.write_config:
        return report
    return f"{report}\n{regate(settings)}"  # the gate measures the model it will judge
{%- endif %}
