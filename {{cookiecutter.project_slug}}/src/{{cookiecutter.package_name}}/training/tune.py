"""`tune`: an Optuna study over the model families and their hyper-parameters.

Every trial picks a family (`training.families.COMPARED`, or those asked for) and samples its
space (`families.search_space`), then scores the pipeline by k-fold cross-validation on the
TRAINING split only (the split `make train` writes; the test split stays untouched for the
gate), on the configured primary metric. After each fold the running mean is reported, so the
median pruner stops a trial that is worse than the median of earlier trials at that fold.
A new study starts with each family's defaults, so the search never ends below them.
Each trial runs on one core (OpenMP threads of HistGradientBoosting and LightGBM limited to
1, LightGBM's `n_jobs: 1`): on folds this size threads cost more than they give (on a busy
2-core machine a HistGradientBoosting CV took 0.7 s on one thread, 12.8 s on two), and
parallelism comes from workers sharing the study.

The budget is `trials` and `timeout` seconds for this run (whichever comes first; a trial that
is running when the time is up finishes). The study lives in `storage`: SQLite under the
project (`models/tuning/optuna.db`) by default, any SQLAlchemy URL otherwise (PostgreSQL
lets several workers, CI jobs or a Kubernetes Job with `parallelism`, share one study). The
same study name on the same storage resumes it: new trials add to the old ones. The default
name is the model id plus the dataset hash, so new data starts a new study.

The best trial of the whole study is then written to configs/model_config.yaml: the
`hyperparameters:` block and a `tuning:` block with its lineage (study, storage without
password, trial, metric, CV score, folds, finished trials, time). The file's other blocks and
comments stay as they were; `make pipeline` trains the result. `TrialLog` receives every
finished trial (the MLflow variant logs a parent run with one child run per trial).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import optuna
import pandas as pd
import yaml
from sklearn.model_selection import KFold, StratifiedKFold
from sqlalchemy.engine import make_url
from threadpoolctl import threadpool_limits

from {{ cookiecutter.package_name }}.contracts.metrics import compute_metrics, higher_is_better
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import split_features, train_test
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training.families import COMPARED, FAMILIES, search_space, written
from {{ cookiecutter.package_name }}.training.preprocess import RawInputs
from {{ cookiecutter.package_name }}.training.sklearn_model import build_pipeline, parse, target_range
from {{ cookiecutter.package_name }}.training.stage import load_dataset

DEFAULT_STORAGE = Path("tuning/optuna.db")  # under settings.paths.models_dir
# What a worker sees when another one creates the study schema at the same moment.
SCHEMA_RACES = ("already exists", "UNIQUE constraint failed", "duplicate key", "database is locked")
DEFAULT_TRIALS = 100
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class TuneOptions:
    trials: int = DEFAULT_TRIALS
    timeout: float | None = DEFAULT_TIMEOUT
    folds: int = 3
    storage: str | None = None  # SQLAlchemy URL; None: SQLite under the project
    study: str | None = None  # None: <model_id>-<dataset sha256[:8]>
    families: tuple[str, ...] = COMPARED
    write_config: bool = True


class TrialLog(Protocol):
    """Where finished trials are recorded (MLflow: a parent run, one child run per trial)."""

    def start(self, study: str, settings: dict[str, Any]) -> None: ...

    def trial(
        self, number: int, state: str, params: dict[str, Any], score: float | None, seconds: float
    ) -> None: ...

    def finish(self, best: dict[str, Any]) -> None: ...


@dataclass
class CrossValidation:
    """The training split prepared once, its folds and the metric that scores them."""

    spec: DatasetSpec
    data: pd.DataFrame
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    metric: str
    seed: int

    def fold_scores(self, hyperparameters: dict[str, Any]) -> Iterator[float]:
        """The metric on each held-out fold, one fold at a time (so a trial can be pruned)."""
        params = parse(hyperparameters)
        for fit_rows, score_rows in self.folds:
            y_fit = self.y[fit_rows]
            log_target = target_range(self.spec, params, y_fit)
            pipeline = build_pipeline(self.spec, params, self.seed, log_target=log_target)
            pipeline.fit(self.data.iloc[fit_rows], y_fit)
            held_out = self.data.iloc[score_rows]
            if self.spec.is_classification:
                output = pipeline.predict_proba(held_out)
            else:
                output = np.asarray(pipeline.predict(held_out)).reshape(-1, 1)
            yield compute_metrics(self.spec, self.y[score_rows], output)[self.metric]


def cross_validation(settings: Settings, folds: int) -> tuple[CrossValidation, str]:
    """The training split of the configured data (as `make train` splits it), and its hash."""

    config = settings.read_model_config()
    spec = config.dataset
    frame, digest = load_dataset(settings, config)
    train, _ = train_test(frame, spec, settings.seed)
    features, y = split_features(train, spec)
    inputs = RawInputs.of(spec)
    data = inputs.prepared(*inputs.split_frame(features))
    kind = StratifiedKFold if spec.is_classification else KFold
    splitter = kind(n_splits=folds, shuffle=True, random_state=settings.seed)
    if len(data) < 2 * folds:
        raise UserError(f"{len(data)} training rows cannot make {folds} folds; add rows")
    try:
        split = [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(data, y)]
    except ValueError as error:
        raise UserError(f"cannot make {folds} cross-validation folds ({error})") from None
    metric = config.evaluation.primary_metric
    return CrossValidation(spec, data, y, split, metric, settings.seed), digest


def storage_url(settings: Settings, storage: str | None) -> str:
    if storage:
        return storage
    path = settings.resolve(settings.paths.models_dir) / DEFAULT_STORAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _without_password(url: str) -> str:
    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not an SQLAlchemy URL: shown as given (it has no password field)
        return url


def shown_url(url: str, settings: Settings) -> str:
    """The storage URL without its password; the project's SQLite file relative to it."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: optuna refuses it later with its own message
        return url
    root = f"sqlite:///{settings.project_root}/"
    return "sqlite:///" + shown[len(root) :] if shown.startswith(root) else shown


def open_study(url: str, name: str, maximize: bool, seed: int) -> Any:
    """The study `name` in `url`, created when new (its direction must match the metric's)."""
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(5):  # workers starting together race to create the schema: retry
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            break
        except Exception as error:  # an unreachable server or a bad URL: one line
            if attempt == 4 or not any(race in str(error) for race in SCHEMA_RACES):
                shown = _without_password(url)
                raise UserError(
                    f"cannot open the study storage {shown!r} ({one_line(error)})"
                ) from None
            time.sleep(0.5 + attempt)
    direction: Literal["maximize", "minimize"] = "maximize" if maximize else "minimize"
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,
        load_if_exists=True,
        # Seeded, but workers sharing a study must not all propose the same first trials.
        sampler=optuna.samplers.TPESampler(seed=seed + os.getpid(), multivariate=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
    )
    if study.direction.name.lower() != direction:
        raise UserError(
            f"study {name!r} was made to {study.direction.name.lower()}, the primary metric "
            f"needs {direction}: pass another --study"
        )
    return study


def objective(cv: CrossValidation, families: tuple[str, ...]) -> Any:
    def run(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(families))
        params: dict[str, Any] = {"family": family}
        if not trial.user_attrs.get("defaults"):
            params |= search_space(trial, family, cv.spec)
        trial.set_user_attr("hyperparameters", params)
        scores: list[float] = []
        for step, score in enumerate(cv.fold_scores(params)):
            scores.append(score)
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned
        return float(np.mean(scores))

    return run


def _block_span(lines: list[str], key: str) -> tuple[int, int] | None:
    """[start, end) of the top-level `key:` block (a comment before the next key stays)."""
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    while end > start + 1 and (lines[end - 1].startswith("#") or not lines[end - 1].strip()):
        end -= 1
    return start, end


def with_block(text: str, key: str, block: str, after: str) -> str:
    """`text` with its `key:` block replaced by `block` (inserted after `after:` if absent)."""
    lines, new = text.splitlines(), block.rstrip("\n").splitlines()
    span = _block_span(lines, key)
    if span is None:
        anchor = _block_span(lines, after)
        at = len(lines) if anchor is None else anchor[1]
        span = (at, at)
    return "\n".join([*lines[: span[0]], *new, *lines[span[1] :]]) + "\n"


def write_best(path: Path, hyperparameters: dict[str, Any], tuning: dict[str, Any]) -> None:
    """Write the `hyperparameters:` and `tuning:` blocks, keeping the rest of the file."""

    def block(key: str, values: dict[str, Any], comment: str) -> str:
        body = yaml.safe_dump(values, sort_keys=False, default_flow_style=False, width=88)
        return f"{key}:  # {comment}\n" + "".join(f"  {line}\n" for line in body.splitlines())

    note = f"written by `make tune` (study {tuning['study']}, trial {tuning['trial']})"
    text = path.read_text(encoding="utf-8")
    text = with_block(
        text, "hyperparameters", block("hyperparameters", hyperparameters, note), after="dataset"
    )
    lineage = block("tuning", tuning, "lineage of the hyperparameters above (`make tune`)")
    text = with_block(text, "tuning", lineage, after="hyperparameters")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    Path(temporary).replace(path)  # whole or not at all, even with workers writing at once


def finished(study: Any) -> list[Any]:
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


class NoLog:
    """A `TrialLog` that records nothing (no experiment tracking)."""

    def start(self, study: str, settings: dict[str, Any]) -> None:
        return None

    def trial(
        self, number: int, state: str, params: dict[str, Any], score: float | None, seconds: float
    ) -> None:
        return None

    def finish(self, best: dict[str, Any]) -> None:
        return None


def check(options: TuneOptions) -> None:
    unknown = sorted(set(options.families) - set(FAMILIES))
    if unknown or not options.families:
        raise UserError(f"unknown family {unknown}; choose from {', '.join(FAMILIES)}")
    if options.folds < 2:
        raise UserError(f"--folds {options.folds}: cross-validation needs at least 2 folds")
    if options.trials < 1:
        raise UserError(f"--trials {options.trials}: run at least one trial")


def lineage(study: Any, name: str, shown: str, cv: CrossValidation, folds: int) -> dict[str, Any]:
    """The `tuning:` block of the study's best trial so far (any worker's)."""
    complete = finished(study)
    if not complete:
        raise UserError(
            f"study {name!r} has no finished trial yet; give it more --trials or --timeout"
        )
    best = study.best_trial
    return {
        "study": name,
        "storage": shown,
        "trial": best.number,
        "metric": cv.metric,
        "cv_score": float(f"{best.value:.6g}"),
        "folds": folds,
        "finished_trials": len(complete),
        "tuned_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run(settings: Settings, options: TuneOptions, log: TrialLog | None = None) -> dict[str, Any]:
    """Run the study for this budget; write the best trial to the model config; a summary."""
    check(options)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = log or NoLog()
    cv, digest = cross_validation(settings, options.folds)
    name = options.study or f"{settings.read_model_config().model_id}-{digest[:8]}"
    url = storage_url(settings, options.storage)
    study = open_study(url, name, higher_is_better(cv.metric), settings.seed)
    before = len(study.trials)
    if not study.trials:
        for family in options.families:  # the defaults first: tuning never ends below them
            study.enqueue_trial(
                {"family": family}, user_attrs={"defaults": True}, skip_if_exists=True
            )
    shown = shown_url(url, settings)
    budget = {"trials": options.trials, "timeout": options.timeout, "folds": options.folds}
    families = ",".join(options.families)
    trials.start(name, {"storage": shown, "metric": cv.metric, **budget, "families": families})

    def record(_: Any, trial: Any) -> None:
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        params = trial.user_attrs.get("hyperparameters", {})
        trials.trial(trial.number, trial.state.name, params, trial.value, seconds)

    started = time.perf_counter()
    with threadpool_limits(limits=1):  # one core per trial (module docstring)
        study.optimize(
            objective(cv, options.families),
            n_trials=options.trials,
            timeout=options.timeout,
            callbacks=[record],
            catch=(ValueError,),
        )
    tuning = lineage(study, name, shown, cv, options.folds)
    best = parse(study.best_trial.user_attrs["hyperparameters"])
    hyperparameters = written(best, cv.spec)
    if options.write_config:
        write_best(settings.resolve(settings.pipeline.model_config_file), hyperparameters, tuning)
    summary = {
        **tuning,
        "hyperparameters": hyperparameters,
        "new_trials": len(study.trials) - before,
        "seconds": round(time.perf_counter() - started, 1),
        "top": leaderboard(study, 5),
    }
    trials.finish(summary)
    return summary


def leaderboard(study: Any, count: int) -> list[dict[str, Any]]:
    """The best finished trials: number, family, CV score, seconds."""
    reverse = study.direction.name == "MAXIMIZE"
    ranked = sorted(finished(study), key=lambda t: t.value, reverse=reverse)[:count]
    return [
        {
            "trial": t.number,
            "family": t.params.get("family"),
            "cv_score": round(t.value, 6),
            "seconds": round(t.duration.total_seconds(), 2) if t.duration else None,
        }
        for t in ranked
    ]
