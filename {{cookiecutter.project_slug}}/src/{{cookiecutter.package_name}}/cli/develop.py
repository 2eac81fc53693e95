"""Commands of the model pipeline: data -> validate -> train -> evaluate -> optimize -> register.

Each command is a thin wrapper over a stage function, imported inside it: `--help` and a bad
option stay fast, and a command loads only its own stage's libraries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import get_settings


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command()
def info() -> None:
    """Print the effective settings (after YAML and environment overrides) as JSON."""
    typer.echo(json.dumps(get_settings().model_dump(mode="json"), indent=2, sort_keys=True))


DEFAULT_RULES = Path("configs/data_validation.yaml")


@app.command()
def data(
    force: Annotated[bool, typer.Option("--force", help="Rewrite the sample if present.")] = False,
) -> None:
    """Write the bundled sample dataset to the configured dataset path (data/raw/)."""
    from {{ cookiecutter.package_name }}.pipeline import data as write_data

    path, written = write_data(get_settings(), force=force)
    typer.echo(f"{'wrote' if written else 'kept existing'} {path}")


@app.command()
def validate(
    data: Annotated[Path | None, typer.Option(help="Data file (default: dataset.path).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rules file (default: settings).")] = None,
) -> None:
    """Check the dataset against configs/data_validation.yaml; exit 1 listing failed rules."""
    from {{ cookiecutter.package_name }}.pipeline import VALIDATION_REPORT
    from {{ cookiecutter.package_name }}.pipeline import validate as run_validation
    from {{ cookiecutter.package_name }}.validation import enforce, render_table

    settings = get_settings()
    report = run_validation(settings, data, rules)
    typer.echo(render_table(report))
    enforce(report, settings.resolve(settings.paths.reports_dir) / VALIDATION_REPORT)


@app.command("init-data")
def init_data(
    data: Annotated[Path, typer.Option(help="Your CSV or Parquet file (inside the project).")],
    target: Annotated[str, typer.Option(help="The column the model predicts.")],
    task: Annotated[str, typer.Option(help="auto, binary, multiclass or regression.")] = "auto",
    id_columns: Annotated[
        list[str] | None, typer.Option("--id-columns", help="Row identifiers (repeatable).")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="Columns to ignore (repeatable).")] = None,
    drop_missing_target: Annotated[
        bool, typer.Option("--drop-missing-target", help="Keep only the labelled rows.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite hand-edited sections.")] = False,
    family: Annotated[
        str, typer.Option(help="scikit-learn: auto (compare the model families) or one family.")
    ] = "auto",
) -> None:
    """Adopt your data: the dataset section, validation rules, model family and gate."""
    from {{ cookiecutter.package_name }}.adopt import Project, Request, adopt
    from {{ cookiecutter.package_name }}.adopt.report import summary

    settings = get_settings()
    project = Project(
        root=settings.project_root,
        model_config=settings.resolve(settings.pipeline.model_config_file),
        rules=settings.resolve(settings.pipeline.validation_rules),
        seed=settings.seed,
    )
    request = Request(
        data, target, task, _listed(id_columns), _listed(drop), drop_missing_target, force, family
    )
    typer.echo(summary(adopt(project, request), settings.project_root))


def _listed(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike: `--drop a,b --drop c`."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


@app.command("derive-rules")
def derive_rules(
    data: Annotated[Path, typer.Option(help="A trusted CSV/Parquet file to learn from.")],
    out: Annotated[Path, typer.Option(help="Rules file to write.")] = DEFAULT_RULES,
    target: Annotated[
        str | None, typer.Option(help="Label column ('' for none; default: dataset.target).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the rules file.")] = False,
) -> None:
    """Write validation rules from a trusted file (feature kinds from the dataset spec)."""
    from {{ cookiecutter.package_name }}.data import read_table
    from {{ cookiecutter.package_name }}.validation import derive_rules as derive
    from {{ cookiecutter.package_name }}.validation import write_rules

    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to overwrite it or choose --out")
    settings = get_settings()
    spec = settings.read_model_config().dataset
    frame = read_table(data)
    label = spec.target if target is None else (target or None)
    if label is not None and label not in frame.columns:
        raise UserError(f"label column '{label}' is not in {data}; pass --target NAME or ''")
    kinds: dict[str, set[str] | None] = {
        "categorical": set(spec.categorical_features),
        "numeric": set(spec.numeric_features),
    }
    if not set(spec.features) & set(frame.columns):
        kinds = {"categorical": None, "numeric": None}  # another table: guess the kinds
    classification = spec.is_classification if label == spec.target else None
    write_rules(derive(frame, label, classification=classification, **kinds), out, data)
    typer.echo(f"wrote {out} ({len(frame.columns)} columns); review it before use")


@app.command()
{%- if cookiecutter.ml_framework == "scikit-learn" %}
def train(
    engine: Annotated[
        str, typer.Option(help="local, or spark: the xgboost family on SPARK_MASTER.")
    ] = "local",
) -> None:
    """Train from configs/model_config.yaml; write the candidate bundle with lineage."""
    from {{ cookiecutter.package_name }}.training.stage import run

    typer.echo(f"candidate bundle: {run(get_settings(), engine)}")
{%- else %}
def train() -> None:
    """Train from configs/model_config.yaml; write the candidate bundle with lineage."""
    from {{ cookiecutter.package_name }}.training.stage import run

    typer.echo(f"candidate bundle: {run(get_settings())}")
{%- endif %}


{%- if cookiecutter.ml_framework == "scikit-learn" %}


@app.command()
def tune(
    trials: Annotated[int, typer.Option(help="Trials for this run (budget).")] = 100,
    timeout: Annotated[float, typer.Option(help="Seconds for this run (budget; 0: none).")] = 120,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (training split).")] = 3,
    storage: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the study.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (an existing one resumes).")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Families (repeatable).")] = None,
) -> None:
    """Search model families and hyper-parameters (Optuna, CV on the training split); write
    the best to configs/model_config.yaml."""
    from {{ cookiecutter.package_name }}.pipeline import tune as run_tune
    from {{ cookiecutter.package_name }}.training.tune import TuneOptions

    chosen = tuple(family) if family else TuneOptions.families
    options = TuneOptions(trials, timeout or None, folds, storage, study, chosen)
    typer.echo(run_tune(get_settings(), options))
{%- endif %}


@app.command()
def evaluate() -> None:
    """Score the candidate on the test split; exit 1 below thresholds or vs the champion."""
    from {{ cookiecutter.package_name }}.evaluation.gate import run

    report = run(get_settings())
    typer.echo(json.dumps(report["metrics"], indent=2))


@app.command()
def optimize() -> None:
    """Export the candidate to the optimized runtime; check parity; write benchmark reports."""
    from {{ cookiecutter.package_name }}.optimization import run

    result = run(get_settings())
    typer.echo(f"optimized model: {result['artifact']} (parity passed)")


@app.command()
def bench() -> None:
    """Benchmark native vs optimized (size, single-row p50/p99, rows/s, metric delta)."""
    from {{ cookiecutter.package_name }}.optimization import render_table, run

    typer.echo(render_table(run(get_settings())["benchmark"]))


@app.command()
def register(
    promote: Annotated[bool, typer.Option("--promote", help="Also make it the champion.")] = False,
) -> None:
    """Register the evaluated candidate as a new version aliased 'challenger'."""
    from {{ cookiecutter.package_name }}.registry import register as run_register

    result = run_register(get_settings(), promote=promote)
    typer.echo(json.dumps(result, indent=2))


@app.command()
def promote() -> None:
    """Move the 'champion' alias to the current challenger."""
    from {{ cookiecutter.package_name }}.registry import promote as run_promote

    typer.echo(json.dumps(run_promote(get_settings()), indent=2))


@app.command()
def resolve(
    alias: Annotated[str, typer.Argument(help="champion or challenger")],
    into: Annotated[
        Path | None, typer.Option(help="Copy the model directory here (the image build context).")
    ] = None,
) -> None:
    """Print the local bundle directory of a registry alias (or copy it with --into)."""
    from {{ cookiecutter.package_name }}.registry import export_bundle, resolve_bundle

    if into is None:
        typer.echo(str(resolve_bundle(alias, get_settings())))
        return
    version = export_bundle(alias, get_settings(), into)
    typer.echo(f"{alias}: {version} -> {into}")


@app.command()
def pipeline() -> None:
    """Run data -> validate -> train -> evaluate -> optimize -> register."""
    from {{ cookiecutter.package_name }}.pipeline import run_all

    run_all(get_settings(), typer.echo)
