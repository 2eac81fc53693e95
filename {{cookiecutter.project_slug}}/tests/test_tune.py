"""`tune`: an Optuna study over the families, cross-validated on the training split, resumable,
shared by workers on one storage, its best trial written to the model config with lineage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from {{ cookiecutter.package_name }}.adopt.blocks import current_block, is_pristine
from {{ cookiecutter.package_name }}.contracts.config import load_model_config
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.pipeline import tune as tune_and_regate
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import stage
from {{ cookiecutter.package_name }}.training.tune import TuneOptions, run

from factories import FILE_REGISTRY_ENV, copy_project

PACKAGE = "{{ cookiecutter.package_name }}"
# Tiny budgets: the three defaults plus a few sampled trials on a few hundred rows.
FAMILIES = ("linear", "hist_gradient_boosting")


class Recorder:
    """A `TrialLog` that keeps what it is told."""

    def __init__(self) -> None:
        self.started: dict[str, Any] = {}
        self.trials: list[tuple[int, str, float | None]] = []
        self.best: dict[str, Any] = {}

    def start(self, study: str, settings: dict[str, Any]) -> None:
        self.started = {"study": study, **settings}

    def trial(
        self, number: int, state: str, params: dict[str, Any], score: float | None, seconds: float
    ) -> None:
        assert params["family"] in FAMILIES and seconds >= 0.0
        self.trials.append((number, state, score))

    def finish(self, best: dict[str, Any]) -> None:
        self.best = best


def _options(tmp_path: Path, trials: int, **changes: Any) -> TuneOptions:
    fields: dict[str, Any] = {
        "trials": trials,
        "timeout": None,
        "storage": f"sqlite:///{tmp_path / 'study.db'}",
        "study": "test",
        "families": FAMILIES,
    }
    return TuneOptions(**(fields | changes))


@pytest.fixture
def project(tmp_path: Path) -> Settings:
    return copy_project(tmp_path / "project", seed=0)


def _trials(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    return optuna.load_study(study_name="test", storage=storage).trials


def test_tune_writes_the_best_trial_and_its_lineage(project: Settings, tmp_path: Path) -> None:
    path = project.resolve(project.pipeline.model_config_file)
    before = path.read_text(encoding="utf-8")
    log = Recorder()
    result = run(project, _options(tmp_path, 3), log)
    assert [number for number, _, _ in log.trials] == [0, 1, 2]
    assert log.started["study"] == "test" and log.best["trial"] == result["trial"]
    config = load_model_config(path)
    assert config.hyperparameters["family"] == result["hyperparameters"]["family"]
    assert config.tuning is not None
    assert config.tuning.study == "test" and config.tuning.trial == result["trial"]
    assert config.tuning.metric == config.evaluation.primary_metric
    assert config.tuning.cv_score == result["cv_score"]
    # The other blocks and their comments are kept, byte for byte.
    after = path.read_text(encoding="utf-8")
    for key in ("dataset", "evaluation", "optimization"):
        assert _block(after, key) == _block(before, key)
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert all(line in after for line in comments)
    # `make pipeline` trains what tune chose.
    bundle = stage.run(project)
    trained = yaml.safe_load((bundle / "model_config.yaml").read_text(encoding="utf-8"))
    assert trained["hyperparameters"]["family"] == config.hyperparameters["family"]
    assert trained["tuning"]["trial"] == result["trial"]


def _block(text: str, key: str) -> list[str]:
    """The lines of the top-level `key:` block."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = start + 1
    while end < len(lines) and (not lines[end] or lines[end][0] in " #"):
        end += 1
    return lines[start:end]


def test_tune_never_reads_the_test_split(project: Settings, tmp_path: Path) -> None:
    """The CV rows are the training split `make train` writes: same rows, same count."""
    from {{ cookiecutter.package_name }}.training.tune import cross_validation

    cv, _ = cross_validation(project, 3)
    stage.run(project)
    train = (project.resolve(project.pipeline.processed_dir) / stage.TRAIN_FILE).read_text()
    assert len(cv.data) == len(train.strip().splitlines()) - 1
    assert sum(len(held_out) for _, held_out in cv.folds) == len(cv.data)


def test_a_resumed_study_continues_from_its_trials(project: Settings, tmp_path: Path) -> None:
    first = run(project, _options(tmp_path, 3))
    second = run(project, _options(tmp_path, 2))
    trials = _trials(tmp_path)
    assert first["new_trials"] == 3 and second["new_trials"] == 2
    assert [trial.number for trial in trials] == [0, 1, 2, 3, 4]
    assert sum(bool(trial.user_attrs.get("defaults")) for trial in trials) == len(FAMILIES)
    assert second["finished_trials"] >= first["finished_trials"]


def test_two_workers_share_one_study(project: Settings, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = [sys.executable, "-m", PACKAGE, "tune", "--trials", "3", "--timeout", "0",
               "--storage", storage, "--study", "test",
               *[arg for family in FAMILIES for arg in ("--family", family)]]  # fmt: skip
    env = os.environ | FILE_REGISTRY_ENV
    workers = [
        subprocess.Popen(
            command,
            cwd=project.project_root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, out[-2000:] + err[-2000:]
    trials = _trials(tmp_path)
    assert len(trials) == 6  # 3 from each worker, numbered once in the shared study
    assert sorted(trial.number for trial in trials) == list(range(6))
    config = load_model_config(project.resolve(project.pipeline.model_config_file))
    assert config.tuning is not None and config.tuning.finished_trials >= 3


def test_bad_options_are_one_line(project: Settings, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown family"):
        run(project, _options(tmp_path, 1, families=("boosted",)))
    with pytest.raises(UserError, match="at least 2 folds"):
        run(project, _options(tmp_path, 1, folds=1))
    with pytest.raises(UserError, match="cannot open the study storage"):
        run(project, _options(tmp_path, 1, storage="nosuchdb://x"))
{%- if cookiecutter.experiment_tracking == "mlflow" %}


def test_mlflow_has_a_parent_run_and_one_child_run_per_trial(
    project: Settings, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from {{ cookiecutter.package_name }}.registry.mlflow_registry import MlflowTuningLog, tracking_uri

    model_id = project.read_model_config().model_id
    run(project, _options(tmp_path, 3), MlflowTuningLog(project, model_id))
    client = MlflowClient(tracking_uri=tracking_uri(project))
    experiment = client.get_experiment_by_name(model_id)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [found for found in runs if found.info.run_name == "tune-test"]
    children = [
        found for found in runs if found.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
    assert sorted(child.info.run_name for child in children) == ["trial-0", "trial-1", "trial-2"]
    for child in children:
        assert child.data.params["family"] in FAMILIES
        assert {"cv_score", "duration_s"} <= set(child.data.metrics)
    assert parent.data.params["study"] == "test"
    assert "best_cv_score" in parent.data.metrics
{%- endif %}


def test_tune_rederives_the_gate_for_the_tuned_model(tmp_path: Path) -> None:
    """The gate's thresholds measure the tuned model; a block edited by hand is kept."""
    settings = copy_project(tmp_path / "project", seed=0, pipeline={"registry_backend": "file"})
    path = settings.resolve(settings.pipeline.model_config_file)
    report = tune_and_regate(settings, _options(tmp_path, 3))
    assert "evaluation thresholds re-derived for the tuned model: " in report
    block = current_block(path.read_text(encoding="utf-8"), "evaluation")
    assert block is not None and is_pristine(block)
    config = load_model_config(path)
    assert config.hyperparameters["family"] in FAMILIES
    bounds = ", ".join(f"{k} {v}" for k, v in config.evaluation.thresholds.items())
    assert report.endswith(bounds)
    edited = block.replace("  thresholds:", "  # reviewed by hand\n  thresholds:")
    path.write_text(path.read_text(encoding="utf-8").replace(block, edited), encoding="utf-8")
    report = tune_and_regate(settings, _options(tmp_path, 4))  # resumes: one more trial
    assert report.endswith("edited by hand, kept (check them against the tuned model; "
                           "init-data --force re-derives them)")  # fmt: skip
    assert current_block(path.read_text(encoding="utf-8"), "evaluation") == edited
