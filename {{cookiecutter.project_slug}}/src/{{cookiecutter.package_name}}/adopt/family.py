"""init-data's choice of model family (the scikit-learn framework's `hyperparameters.family`).

Each family compared (`training.families.COMPARED`: linear, hist_gradient_boosting, lightgbm;
`--family xgboost` asks for the fourth) is cross-validated with its default settings on the
training split (`baseline.cross_validated`, the folds the gate uses); the choice is the
simplest family (in that order) whose mean primary metric is within one standard error of the
best one's (the folds' sd / sqrt(FOLDS): the one-standard-error rule), so a more complex model
has to earn its place. The comparison is written into the `hyperparameters:` block as
comments. A block `make tune` wrote, or edited by hand, is kept (and cross-validated as it is)
unless `--force` or `--family` asks for a new choice. PyTorch and Keras projects keep their
networks (`--family` is for the scikit-learn framework).
"""

from __future__ import annotations
{% if cookiecutter.ml_framework == "scikit-learn" %}
import importlib.util
import math
import textwrap
{%- endif %}
from dataclasses import dataclass, field

import pandas as pd
{%- if cookiecutter.ml_framework == "scikit-learn" %}
import yaml
{%- endif %}

from {{ cookiecutter.package_name }}.adopt.baseline import (
{%- if cookiecutter.ml_framework == "scikit-learn" %}
    FOLDS,
    LOWER_IS_BETTER,
    PRIMARY,
    FoldOutputs,
{%- endif %}
    Reached,
    cross_validated,
{%- if cookiecutter.ml_framework == "scikit-learn" %}
    fold_outputs,
{%- endif %}
)
from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
{%- if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.training.families import (
    COMPARED,
    FAMILIES,
    parse_hyperparameters,
    written,
)

FAMILY_CHOICES = ("auto", *FAMILIES)
{%- else %}

FAMILY_CHOICES = ("auto",)
{%- endif %}


@dataclass(frozen=True)
class Choice:
    """The config training will fit, what it reaches, and what to write and say."""

    config: ModelConfig
    reached: dict[str, Reached] | None
    block: str | None = None  # the `hyperparameters:` block to write (None: keep the file's)
    notes: list[str] = field(default_factory=list)
{%- if cookiecutter.ml_framework == "scikit-learn" %}


def _available(family: str) -> bool:
    # the optional families' modules are named like them
    return family not in ("lightgbm", "xgboost") or importlib.util.find_spec(family) is not None


def _with_family(config: ModelConfig, family: str) -> ModelConfig:
    return config.model_copy(update={"hyperparameters": {"family": family}})


def simplest_within_one_se(compared: dict[str, dict[str, Reached]], metric: str) -> str:
    """The first family (simplest) whose mean is within one standard error of the best."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = max(compared, key=lambda family: sign * compared[family][metric].mean)
    top = compared[best][metric]
    allowance = top.sd / math.sqrt(FOLDS)
    return next(
        family
        for family, reached in compared.items()
        if sign * reached[metric].mean >= sign * top.mean - allowance
    )


def _block(config: ModelConfig, family: str, why: list[str]) -> str:
    values = written(parse_hyperparameters({"family": family}), config.dataset)
    body = yaml.safe_dump(values, sort_keys=False, default_flow_style=False, width=88)
    comments = textwrap.wrap(" ".join(why), width=92)  # yamllint: lines up to 120
    lines = [*(f"  # {line}" for line in comments), *(f"  {line}" for line in body.splitlines())]
    return "\n".join(["hyperparameters:", *lines])


def _why(family: str, compared: dict[str, dict[str, Reached]], metric: str) -> list[str]:
    scores = ", ".join(f"{name} {reached[metric].mean:.4f}" for name, reached in compared.items())
    if len(compared) == 1:
        return [f"{family} as --family asked: {metric} {scores.split()[-1]} ({FOLDS}-fold CV)."]
    return [
        f"init-data compared the families ({metric}, {FOLDS}-fold CV on the training split):",
        f"{scores}; chose {family}, the simplest within one standard error of the best.",
        "`make tune` searches their settings.",
    ]


def choose_family(
    frame: pd.DataFrame, config: ModelConfig, seed: int, wanted: str, keep: bool
) -> Choice:
    """The family to train (see the module docstring) and what it reaches on this data."""
    if keep and wanted == "auto":
        note = ("hyperparameters kept as they are (tuned or edited by hand); pass --force or "
                "--family to compare the model families again")  # fmt: skip
        return Choice(config, cross_validated(frame, config, seed), notes=[note])
    candidates = [family for family in COMPARED if _available(family)]
    candidates = candidates if wanted == "auto" else [wanted]
    outputs: dict[str, FoldOutputs] = {}
    for family in candidates:
        folds = fold_outputs(frame, _with_family(config, family), seed)
        if folds is None:  # too few rows per class to cross-validate: the simplest family
            why = ["too few rows per class to cross-validate the families: the simplest one."]
            first = candidates[0]
            return Choice(_with_family(config, first), None, _block(config, first, why))
        outputs[family] = folds
    compared = {family: folds.reached(seed, errors=False) for family, folds in outputs.items()}
    metric = PRIMARY[config.dataset.task]
    family = simplest_within_one_se(compared, metric)
    block = _block(config, family, _why(family, compared, metric))
    return Choice(_with_family(config, family), outputs[family].reached(seed), block)
{%- else %}


def choose_family(
    frame: pd.DataFrame, config: ModelConfig, seed: int, wanted: str, keep: bool
) -> Choice:
    """The network of configs/model_config.yaml as it is, and what it reaches on this data."""
    del wanted, keep  # one model family: the framework's network
    return Choice(config, cross_validated(frame, config, seed))
{%- endif %}
