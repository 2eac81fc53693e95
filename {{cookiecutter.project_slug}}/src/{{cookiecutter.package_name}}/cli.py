"""The project's single command-line interface: `{{ cookiecutter.package_name }} --help`.

Each command is a thin wrapper over a stage function. Bad input never shows a traceback:
`main()` prints one `error: ...` line and exits 2 (1 when a quality gate refuses).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.settings import get_settings

app = typer.Typer(
    name="{{ cookiecutter.package_name }}",
    help="Data -> validation -> training -> evaluation -> serving -> monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command()
def info() -> None:
    """Print the effective settings (after YAML and environment overrides) as JSON."""
    typer.echo(json.dumps(get_settings().model_dump(mode="json"), indent=2, sort_keys=True))


# ---- pipeline: data -> validate -> train -> evaluate -> optimize -> register
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
) -> None:
    """Adopt your data: the dataset section, validation rules and gate thresholds from it."""
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
        data, target, task, _listed(id_columns), _listed(drop), drop_missing_target, force
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
def train() -> None:
    """Train from configs/model_config.yaml; write the candidate bundle with lineage."""
    from {{ cookiecutter.package_name }}.training.stage import run

    typer.echo(f"candidate bundle: {run(get_settings())}")


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


# ---- serving
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (serving.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (serving.port, 8080).")] = None,
    routing: Annotated[
        str | None,
        typer.Option(help="single, canary, shadow, ab-test or bandit (serving.routing)."),
    ] = None,
) -> None:
    """Serve the registered model over HTTP (FastAPI + uvicorn) until interrupted."""
    from pydantic import ValidationError

    from {{ cookiecutter.package_name }}.settings import ServingSettings

    settings = get_settings()  # bad settings fail here, before the server's imports
    changes = {
        key: value
        for key, value in {"host": host, "port": port, "routing": routing}.items()
        if value is not None
    }
    try:
        serving = ServingSettings.model_validate(settings.serving.model_dump() | changes)
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"--{first['loc'][0]}: {first['msg']}") from None
    from {{ cookiecutter.package_name }}.serving.server import ServerStoppedError
    from {{ cookiecutter.package_name }}.serving.server import serve as run_server

    try:
        run_server(settings.model_copy(update={"serving": serving}))
    except ServerStoppedError as error:  # a runtime failure, not bad input: exit 1
        typer.echo(f"error: {_one_line(str(error))}", err=True)
        raise typer.Exit(1) from None


# ---- batch scoring
@app.command("batch-score")
def batch_score(
    input_path: Annotated[Path, typer.Option("--input", help="CSV/Parquet file or directory.")],
    output: Annotated[Path, typer.Option(help="Output directory (committed at the end).")],
    model: Annotated[
        str, typer.Option(help="champion, challenger, a version, or a resolved model directory.")
    ] = "champion",
    engine: Annotated[str, typer.Option(help="local or spark.")] = "local",
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --output.")] = False,
) -> None:
    """Score a table of any size into Parquet predictions, rejected rows and a manifest."""
    from {{ cookiecutter.package_name }}.batch.job import batch_score as run_batch

    manifest = run_batch(get_settings(), input_path, output, model, engine, force=force)
    rows = manifest.rows
    typer.echo(
        f"scored {rows['scored']} rows ({rows['rejected']} rejected) with "
        f"{manifest.model['version']} in {manifest.seconds['score']:.1f}s "
        f"({manifest.seconds['rows_per_s']:,.0f} rows/s) -> {output}"
    )


# ---- monitoring
@app.command()
def drift(
    current: Annotated[
        Path | None,
        typer.Option(help="CSV/Parquet of recent features instead of the prediction log."),
    ] = None,
    window: Annotated[
        int | None, typer.Option(min=1, help="Latest predictions to compare.")
    ] = None,
    fail_on_drift: Annotated[bool, typer.Option(help="Exit 1 when the dataset drifted.")] = False,
    reference: Annotated[
        Path | None, typer.Option(help="The training data's file (default: dataset.path).")
    ] = None,
) -> None:
    """Compare the champion's recent traffic (or a file) with the training reference."""
    from {{ cookiecutter.package_name }} import tables
    from {{ cookiecutter.package_name }}.monitoring.run import NotEnoughTrafficError, run_drift

    try:
        result = run_drift(
            get_settings(), current_path=current, window_size=window, reference_path=reference
        )
    except NotEnoughTrafficError as waiting:  # a state of the log, not bad input
        typer.echo(f"drift: {waiting}")
        return
    report = result.report
    typer.echo(f"current: {report.current}")
    rows = [
        [item.feature, f"{item.scores['psi']:.4f}", f"{item.p_value:.3g}",
         "DRIFT" if item.drifted else "ok"]
        for item in sorted(report.features, key=lambda f: -f.scores["psi"])
    ]  # fmt: skip
    typer.echo(
        tables.render(["feature", "PSI", "p-value", "state"], rows, right=["PSI", "p-value"])
    )
    for summary in report.traffic.get("others", []):
        typer.echo(
            f"not judged: {summary['role']} {summary['model_version']}: {summary['rows']} rows, "
            f"online accuracy {summary['online_accuracy']}, MAE {summary['online_mae']}"
        )
    state = "DRIFT" if report.prediction_drifted else "ok"
    typer.echo(f"prediction drift: {report.prediction} ({state})")
    verdict = "DRIFT" if report.dataset_drift else "no drift"
    typer.echo(f"{verdict}: {len(report.drifted_features)}/{len(report.features)} features drifted")
    for kind, path in result.paths.items():
        typer.echo(f"wrote {kind}: {path}")
    if fail_on_drift and report.dataset_drift:
        raise GateFailedError(
            f"dataset drift: {', '.join(report.drifted_features) or 'predictions'} drifted; "
            "see the drift report and run `make retrain-check`"
        )


@app.command("retrain-check")
def retrain_check(
    dry_run: Annotated[
        bool | None,
        typer.Option("--dry-run/--no-dry-run", help="Only print the trigger request."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Retrain whatever the signals say.")] = False,
) -> None:
    """Decide from drift, online accuracy, feedback volume or schedule; trigger retraining."""
    from {{ cookiecutter.package_name }}.monitoring.retrain import retrain_check as check

    settings = get_settings()
    decision, result = check(settings, dry_run=dry_run, force=force)
    typer.echo(json.dumps(decision.to_dict()["signals"], sort_keys=True))
    if not decision.retrain:
        typer.echo("retrain: no (every signal within its threshold)")
        return
    typer.echo("retrain: yes; " + "; ".join(decision.reasons))
    if result is None:
        typer.echo("trigger: none configured (monitoring.retrain.trigger); run `make pipeline`")
    elif result.dry_run:
        typer.echo(f"dry run, would send: {json.dumps(result.request, sort_keys=True)}")
        if result.missing:
            typer.echo(f"to send it for real, set: {', '.join(result.missing)}")
    else:
        typer.echo(f"triggered {result.system}: HTTP {result.status}")


{% if cookiecutter.feature_store == "feast" -%}
@app.command("feast-prepare")
def feast_prepare(
    dataset: Annotated[
        Path | None, typer.Option(help="CSV/Parquet with the features and the label.")
    ] = None,
) -> None:
    """Write the Feast source and label tables (data/feast/) from the dataset (dataset.path)."""
    from {{ cookiecutter.package_name }}.feature_store import configured_spec, prepare_source

    settings = get_settings()
    path = dataset or settings.resolve(configured_spec(settings).path)
    prepared = prepare_source(settings, path)
    typer.echo(f"wrote {prepared.source} and {prepared.labels} ({prepared.rows} rows)")
    first, last = (when.isoformat(timespec="seconds") for when in (prepared.start, prepared.end))
    typer.echo(f"event timestamps {first} .. {last}")


{% endif -%}
@app.command("alertmanager-config")
def alertmanager_config(
    source: Annotated[Path, typer.Option(help="Alertmanager config with placeholder URLs.")] = Path(
        "monitoring/alertmanager/alertmanager.yml"
    ),
    output: Annotated[Path, typer.Option(help="Where to write the deployable config.")] = Path(
        "build/alertmanager.yml"
    ),
) -> None:
    """Write the Alertmanager config with webhook URLs from $ALERT_WEBHOOK_URL."""
    import os

    from {{ cookiecutter.package_name }}.monitoring.alerting import (
        WEBHOOK_ENV,
        render_alertmanager_config,
    )

    url = os.environ.get(WEBHOOK_ENV, "")
    if not url:
        raise UserError(f"{WEBHOOK_ENV} is not set; export the receiver's webhook URL first")
    count = render_alertmanager_config(source, output, url)
    typer.echo(f"wrote {output} ({count} webhook receivers)")


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one line on stderr."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args or ["--help"], prog_name="{{ cookiecutter.package_name }}", standalone_mode=False)
    except GateFailedError as error:
        typer.echo(f"error: {_one_line(str(error))}", err=True)
        sys.exit(1)
    except UserError as error:
        typer.echo(f"error: {_one_line(str(error))}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as error:  # usage errors: unknown option, bad value, ...
        typer.echo(f"error: {_one_line(error.format_message())} (see --help)", err=True)
        sys.exit(error.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
