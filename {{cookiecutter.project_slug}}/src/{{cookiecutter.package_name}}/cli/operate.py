"""Commands that run the model: serve, smoke, batch scoring, monitoring, benchmarks.

Stage code is imported inside each command (the server's start-up checks run before its
imports; `batch-score --engine local` never imports pyspark).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from {{ cookiecutter.package_name }}.cli.app import CLI_MESSAGE_LIMIT, app
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError, one_line
from {{ cookiecutter.package_name }}.settings import get_settings


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
        typer.echo(f"error: {one_line(error, CLI_MESSAGE_LIMIT)}", err=True)
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


@app.command("canary-analysis")
def canary_analysis(
    prometheus: Annotated[
        str, typer.Option(envvar="PROMETHEUS_URL", help="Prometheus base URL.")
    ] = "http://127.0.0.1:9090",
    spec: Annotated[Path, typer.Option(help="The analysis spec.")] = Path(
        "configs/canary_analysis.yaml"
    ),
    stable: Annotated[
        str | None, typer.Option(help="Stable model_version (default: the champion's).")
    ] = None,
    canary: Annotated[
        str | None, typer.Option(help="Canary model_version (default: the challenger's).")
    ] = None,
    promote: Annotated[
        bool, typer.Option(help="On a pass, point the registry's champion at the challenger.")
    ] = False,
) -> None:
    """Canary vs stable on the servers' metrics in Prometheus: exit 0 pass, 1 fail, 3 no
    verdict (too little traffic)."""
    from {{ cookiecutter.package_name }}.monitoring.canary import CanaryOptions, run

    code, report = run(get_settings(), CanaryOptions(prometheus, spec, stable, canary, promote))
    typer.echo(report)
    if code:
        raise typer.Exit(code)


@app.command("verify-env")
def verify_env(
    requirements: Annotated[
        str,
        typer.Option(help="`uv export --format requirements.txt` of uv.lock; - reads stdin."),
    ],
) -> None:
    """Installed packages vs the lock's export: exit 1 with a table of every difference.

    `make verify-image` runs it inside the built image.
    """
    import sys

    from {{ cookiecutter.package_name }}.provenance import (
        environment_differences,
        installed_versions,
        locked_versions,
    )
    from {{ cookiecutter.package_name }}.tables import render

    if requirements == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(requirements).read_text(encoding="utf-8")
        except OSError as error:
            raise UserError(f"--requirements {requirements}: {error.strerror}") from None
    locked = locked_versions(text)
    if not locked:
        raise UserError("--requirements lists no package: pass the export of uv.lock")
    differences = environment_differences(locked, installed_versions("{{ cookiecutter.project_slug }}"))
    if not differences:
        typer.echo(f"ok: the {len(locked)} installed packages equal uv.lock")
        return
    rows = [(d.package, d.locked, d.installed) for d in differences]
    typer.echo(render(["package", "uv.lock", "installed"], rows))
    typer.echo(
        f"error: {len(differences)} installed packages differ from uv.lock (above)", err=True
    )
    raise typer.Exit(1)


# ---- smoke test, benchmarks and the prediction log's writer process
@app.command()
def smoke() -> None:
    """Start the server on loopback; check /health, /predict, /feedback, /metrics; stop it."""
    from {{ cookiecutter.package_name }}.serving.smoke import main as run_smoke

    code = run_smoke()
    if code:
        raise typer.Exit(code)


@app.command("bench-serve")
def bench_serve(
    connections: Annotated[int, typer.Option(min=1, help="wrk connections.")] = 16,
    threads: Annotated[int, typer.Option(min=1, help="wrk threads.")] = 2,
    duration: Annotated[int, typer.Option(min=1, help="Measured seconds.")] = 20,
    warmup: Annotated[int, typer.Option(min=1, help="Warm-up seconds.")] = 5,
    skip: Annotated[
        list[str] | None, typer.Option(help="Leave a server out: mlflow or lean (repeatable).")
    ] = None,
) -> None:
    """Load-test this server (commit and buffered durability) vs `mlflow models serve` vs a
    lean app: req/s, cores, CPU ms per request, p50/p99."""
    from {{ cookiecutter.package_name }}.benchmarks.serve import LoadOptions, run

    unknown = sorted(set(skip or []) - {"mlflow", "lean"})
    if unknown:
        raise UserError(f"--skip {unknown[0]}: use mlflow or lean")
    code = run(LoadOptions(connections, threads, duration, warmup, tuple(skip or [])))
    if code:
        raise typer.Exit(code)


@app.command()
def chaos(
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="server-kill, writer-kill, disk-full, read-only, replica-kill, sigterm or "
            "database-stop "
            "(repeatable; default: every one the log can take)."
        ),
    ] = None,
    durability: Annotated[
        list[str] | None, typer.Option(help="commit or buffered (repeatable; default: both).")
    ] = None,
    clients: Annotated[int, typer.Option(min=1, help="Client threads.")] = 8,
    hold: Annotated[float, typer.Option(min=0.1, help="Seconds each fault lasts.")] = 2.0,
    database_url: Annotated[
        str | None, typer.Option(help="A PostgreSQL log the replicas share (default: SQLite).")
    ] = None,
    database_stop: Annotated[
        str | None, typer.Option(help="Command that stops that PostgreSQL (database-stop).")
    ] = None,
    database_start: Annotated[
        str | None, typer.Option(help="Command that starts it again.")
    ] = None,
) -> None:
    """Faults under load against the prediction log: acknowledged, stored, lost, recovery."""
    from {{ cookiecutter.package_name }}.benchmarks.chaos import MODES, ChaosOptions, applicable, run

    options = ChaosOptions(
        modes=tuple(durability or MODES), clients=clients, hold_s=hold,
        database_url=database_url, database_stop=database_stop, database_start=database_start,
    )  # fmt: skip
    possible = applicable(options)
    unknown = sorted(set(fault or []) - set(possible))
    if unknown:
        raise UserError(
            f"--fault {unknown[0]}: this log takes {', '.join(possible)} (disk-full needs SQLite, "
            "read-only --database-url, database-stop --database-url, --database-stop and "
            "--database-start)"
        )
    unknown = sorted(set(durability or []) - set(MODES))
    if unknown:
        raise UserError(f"--durability {unknown[0]}: use commit or buffered")
    code = run(replace(options, faults=tuple(fault or possible)))
    if code:
        raise typer.Exit(code)


{%- if cookiecutter.ml_framework == "scikit-learn" %}


@app.command("bench-model")
def bench_model(
    flaml_seconds: Annotated[
        float, typer.Option(min=0, help="FLAML search budget in seconds (0: no FLAML).")
    ] = 60.0,
    tolerance: Annotated[
        float, typer.Option(min=0, help="Allowed shortfall vs the best baseline (0.01 = 1 %).")
    ] = 0.01,
) -> None:
    """The candidate vs HistGradientBoosting, LightGBM and FLAML on the same split."""
    from {{ cookiecutter.package_name }}.benchmarks import model

    text, code = model.run(get_settings(), flaml_seconds, tolerance)
    typer.echo(text)
    if code:
        raise typer.Exit(code)
{%- endif %}


@app.command("bench-batch")
def bench_batch(
    rows: Annotated[int, typer.Option(min=1, help="Rows of the 1x input.")] = 200_000,
    child: Annotated[
        tuple[str, Path, Path] | None, typer.Option(hidden=True, help="ENGINE INPUT OUTPUT.")
    ] = None,
) -> None:
    """Batch scoring throughput and memory: local engine, Spark, spark_udf, a naive loop."""
    from {{ cookiecutter.package_name }}.benchmarks import batch

    if child is not None:  # one measured engine run, in its own process (peak RSS)
        engine, source, output = child
        typer.echo(json.dumps(batch.child(engine, source, output)))
        return
    code = batch.run(rows)
    if code:
        raise typer.Exit(code)


@app.command("log-writer", hidden=True)
def log_writer() -> None:
    """The prediction log's writer process (started by the server; speaks frames on stdio)."""
    from {{ cookiecutter.package_name }}.predlog.writer import main as run_writer

    raise typer.Exit(run_writer())
