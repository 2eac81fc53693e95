"""`init-data`: adopt a CSV or Parquet file as the project's dataset, in one command.

It reads the file, infers each column's role and type and the task (`infer`), and writes
what repeats the data, all or nothing (temporary files renamed into place):
- configs/model_config.yaml: the `dataset:` section (the one source of truth everything
  downstream reads), `evaluation:` (thresholds between a dummy baseline and the configured
  model cross-validated on the training split, `baseline`)
  and `intended_use:`; the rest of the file and its comments stay as they are;
- configs/data_validation.yaml: rules that pass on this file and catch corruption (`rules`).
DVC (dvc.yaml reads `dataset.path` from model_config.yaml), Feast (feature_repo/ reads the
spec), serving, monitoring and the tests read the spec, so nothing else needs rewriting.
Each written section carries a fingerprint: a section edited by hand is not overwritten
without `force`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from shlex import quote
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.adopt.baseline import Reached, evaluation_section, gate_notes
from {{ cookiecutter.package_name }}.adopt.blocks import (
    atomic_write,
    current_block,
    is_pristine,
    replace_block,
    replace_file,
    stamp,
)
from {{ cookiecutter.package_name }}.adopt.family import FAMILY_CHOICES, Choice, choose_family
from {{ cookiecutter.package_name }}.adopt.infer import Inferred, Problem, ProblemsError, infer, plain
from {{ cookiecutter.package_name }}.adopt.render import (
    dataset_block,
    evaluation_block,
    intended_use_block,
    readme_dataset,
    rules_text,
)
from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import ordered_levels, read_table
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.validation.derive import derive_rules

TASK_CHOICES = ("auto", "binary", "multiclass", "regression")


@dataclass(frozen=True)
class Request:
    """The command line of `init-data` (paths relative to the project root)."""

    data: Path
    target: str
    task: str = "auto"
    id_columns: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    drop_missing_target: bool = False
    force: bool = False
    family: str = "auto"  # scikit-learn: auto (compare) or one of training.families


@dataclass(frozen=True)
class Project:
    """Where the project keeps what `init-data` writes."""

    root: Path
    model_config: Path
    rules: Path
    seed: int


@dataclass
class Adopted:
    spec: DatasetSpec
    written: list[Path]
    baseline: dict[str, float]
    notes: list[str]
    model: dict[str, Reached] | None = None  # what the configured model reaches


def _relative(path: Path, root: Path) -> Path:
    absolute = path if path.is_absolute() else root / path
    return absolute.relative_to(root) if absolute.is_relative_to(root) else absolute


def _check_columns(frame: pd.DataFrame, request: Request) -> None:
    columns = [str(name) for name in frame.columns]
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    if request.target not in columns:
        raise UserError(f"target column '{request.target}' is not in {request.data} "
                        f"(columns: {shown}); pass --target one of them")  # fmt: skip
    for option, names in (("--drop", request.drop), ("--id-columns", request.id_columns)):
        for name in names:
            if name not in columns:
                raise UserError(f"{option} {name}: no such column (columns: {shown})")
            if name == request.target:
                raise UserError(f"{option} {name}: that is the target; pick another --target")


def fix_command(request: Request, problems: list[Problem]) -> str:
    """The one `make init-data` line with the options that fix every fixable problem."""
    options: list[str] = []
    task = request.task
    for problem in problems:
        if problem.options[:1] == ("--task",):
            task = problem.options[1]
        elif problem.options and " ".join(problem.options) not in " ".join(options):
            options += problem.options
    given = [*(["--task", task] if task != "auto" else []),
             *(part for name in request.id_columns for part in ("--id-columns", name)),
             *(part for name in request.drop for part in ("--drop", name)),
             *(["--drop-missing-target"] if request.drop_missing_target else []),
             *(["--force"] if request.force else [])]  # fmt: skip
    args = " ".join(quote(part) for part in [*given, *options])
    extra = f' INIT_DATA_ARGS="{args}"' if args else ""
    return f"make init-data DATA={quote(str(request.data))} TARGET={quote(request.target)}{extra}"


def problems_message(request: Request, problems: list[Problem]) -> str:
    """Every problem in one line, then the command that fixes them all (or what to edit)."""
    listed = "; ".join(
        f"({index}) {p.message}" + (f", {p.hint}" if p.hint and p.options else "")
        + (f" ({p.hint})" if p.hint and not p.options else "")
        for index, p in enumerate(problems, start=1)
    )  # fmt: skip
    head = f"{len(problems)} problem(s) in {request.data}: " if len(problems) > 1 else ""
    if any(p.options for p in problems):
        return f"{head}{listed}; fix: {fix_command(request, problems)}"
    return f"{head}{listed}"


def _labelled(
    frame: pd.DataFrame, request: Request, source: Path
) -> tuple[pd.DataFrame, Path | None, str | None, list[Problem]]:
    """The rows with a target; with --drop-missing-target also the file they go to (without
    it, a problem and the labelled rows, so the other problems are found in the same run)."""
    missing = int(frame[request.target].isna().sum())
    if not missing:
        return frame, None, None, []
    if not request.drop_missing_target:
        problem = Problem(
            f"target column '{request.target}' has {missing} missing value(s) of {len(frame)}",
            ("--drop-missing-target",),
            "or fill them in the file",
        )
        return frame[frame[request.target].notna()].reset_index(drop=True), None, None, [problem]
    kept = frame[frame[request.target].notna()].reset_index(drop=True)
    if pd.api.types.is_float_dtype(kept[request.target]) and all(
        isinstance(plain(v), int) for v in kept[request.target]
    ):
        kept[request.target] = kept[request.target].astype("int64")  # labels 0.0/1.0 -> 0/1
    out = source.with_name(f"{source.stem}_labelled.csv")
    text = kept.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    return read_csv_text(text), out, text, []


def read_csv_text(text: str) -> pd.DataFrame:
    """The frame training will read back from the written CSV (its dtypes, not ours)."""
    return pd.read_csv(StringIO(text))


def _spec(
    request: Request, path: Path, inferred: Inferred, previous: dict[str, Any]
) -> DatasetSpec:
    try:
        return DatasetSpec(
            name=path.stem.replace("_", "-"),
            version="1",
            path=path,
            target=request.target,
            task=inferred.task,
            classes=inferred.classes,
            positive_class=inferred.positive_class,
            features=inferred.features,
            id_columns=inferred.id_columns,
            dates=inferred.dates,
            orders=inferred.orders,
            unknown_category=previous.get("unknown_category", "ignore"),
            sha256=None,
            test_size=previous.get("test_size", 0.2),
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(
            f"dataset spec: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


def _model_config(config_text: str, spec: DatasetSpec, where: str) -> ModelConfig:
    """The project's model config with the adopted dataset: what training will fit."""
    try:
        raw = yaml.safe_load(config_text)
        return ModelConfig.model_validate(raw | {"dataset": spec.model_dump(mode="json")})
    except (yaml.YAMLError, TypeError, ValidationError) as error:
        detail = one_line(error)
        raise UserError(f"{where} is not a valid model config ({detail}); fix it first") from None


def _previous_dataset(config_text: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(config_text) or {}
    except yaml.YAMLError:
        return {}
    dataset = raw.get("dataset") if isinstance(raw, dict) else None
    return dataset if isinstance(dataset, dict) else {}


def adopt(project: Project, request: Request) -> Adopted:
    """Infer, derive and write everything, or raise a one-line `UserError` and write nothing."""
    if request.task not in TASK_CHOICES:
        raise UserError(f"--task {request.task}: choose one of {', '.join(TASK_CHOICES)}")
    if request.family not in FAMILY_CHOICES:
        raise UserError(f"--family {request.family}: choose one of {', '.join(FAMILY_CHOICES)}")
    source = project.root / request.data if not request.data.is_absolute() else request.data
    if not source.is_file():
        raise UserError(f"--data {request.data}: no such file; copy your CSV or Parquet there")
    frame = read_table(source)
    frame.columns = [str(name) for name in frame.columns]
    _check_columns(frame, request)
    frame, labelled_path, labelled_text, problems = _labelled(frame, request, source)
    config_text = project.model_config.read_text(encoding="utf-8")
    previous = _previous_dataset(config_text)
    model_frame = frame.drop(columns=request.drop)
    test_size = float(previous.get("test_size", 0.2))
    try:
        inferred = infer(model_frame, request.target, request.task, request.id_columns, test_size,
                         orders=ordered_levels(source))  # fmt: skip
    except ProblemsError as found:
        raise UserError(problems_message(request, [*problems, *found.problems])) from None
    if problems:
        raise UserError(problems_message(request, problems))
    spec = _spec(request, _relative(labelled_path or source, project.root), inferred, previous)
    choice = _choose(frame, config_text, spec, project, request)
    evaluation, measured = evaluation_section(frame, spec, project.seed, choice.reached)
    rules = derive_rules(frame, spec.target, classification=spec.is_classification,
                         categorical=set(spec.categorical_features),
                         numeric=set(spec.numeric_features))  # fmt: skip
    where = str(_relative(project.model_config, project.root))
    blocks = [
        ("intended_use", intended_use_block(spec), request.force),
        ("dataset", dataset_block(spec), request.force),
        # choose_family decided already whether the block may be replaced
        *([("hyperparameters", choice.block, True)] if choice.block else []),
        ("evaluation", evaluation_block(evaluation, measured, choice.reached), request.force),
    ]
    for key, block, force in blocks:
        config_text = replace_block(config_text, key, block, force=force, where=where)
    replace_file(project.rules, "", force=request.force)
    files = {project.model_config: config_text,
             project.rules: stamp(rules_text(rules, spec))}  # fmt: skip
    if labelled_path is not None and labelled_text is not None:
        files[labelled_path] = labelled_text
    readme = project.root / "README.md"  # its dataset paragraph names the adopted data
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if (described := readme_dataset(text, spec)) != text:
            files[readme] = described
    atomic_write(files)
    test_rows = math.ceil(spec.test_size * len(frame))
    gate = gate_notes(evaluation, measured, choice.reached, test_rows)
    notes = [*inferred.notes, *choice.notes, *gate]
    return Adopted(spec, list(files), measured, notes, choice.reached)


def _choose(
    frame: pd.DataFrame, config_text: str, spec: DatasetSpec, project: Project, request: Request
) -> Choice:
    """The model family (`adopt.family`): compared unless the file's block was tuned or edited
    by hand (kept without --force or --family)."""
    config = _model_config(config_text, spec, where=str(project.model_config))
    current = current_block(config_text, "hyperparameters")
    keep = not request.force and current is not None and not is_pristine(current)
    return choose_family(frame, config, project.seed, request.family, keep)
