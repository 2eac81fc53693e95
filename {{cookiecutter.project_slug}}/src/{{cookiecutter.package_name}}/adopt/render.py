"""The text `init-data` writes: YAML sections with the comments a reviewer needs."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.adopt.baseline import (
    FOLDS,
    LOWER_IS_BETTER,
    SHARE,
    SPREAD,
    Reached,
    Z,
)
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.validation.derive import rules_yaml

LINE_LIMIT = 100  # below the project's yamllint line-length (120)


def scalar(value: Any) -> str:
    """One YAML value in flow style (strings quoted when YAML would misread them)."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1 << 16)
        .strip()
        .removesuffix("\n...")
        .strip()
    )


def dataset_block(spec: DatasetSpec) -> str:
    lines = [
        "dataset:",
        f"  name: {scalar(spec.name)}",
        f"  version: {scalar(spec.version)}",
        "  # CSV or Parquet, adopted by `make init-data` (re-run it when its columns change)",
        f"  path: {scalar(str(spec.path))}",
        f"  target: {scalar(spec.target)}",
        "  # binary | multiclass | regression; classes in model-output order (classification only)",
        f"  task: {spec.task}",
    ]
    if spec.is_classification:
        lines.append(f"  classes: {scalar(spec.classes)}")
    if spec.task == "binary":
        note = "  # binary: the class whose probability /predict reports"
        lines.append(f"  positive_class: {scalar(spec.positive_class)}{note}")
    lines += [
        f"  id_columns: {scalar(spec.id_columns)}"
        "  # carried into logs and batch outputs, never fed to the model",
        "  # A category training never saw: ignore (none of the known ones) | reject (422)",
        f"  unknown_category: {spec.unknown_category}",
        "  # column: numeric | categorical, in model-input order; other columns are not used",
        "  features:",
        *(f"    {scalar(name)}: {kind}" for name, kind in spec.features.items()),
        *_dates_lines(spec),
        "  # null: record the file's hash at training time; set it to pin the data (training then",
        "  # refuses any other file).",
        "  sha256: null",
        f"  test_size: {spec.test_size}",
    ]
    return "\n".join(lines)


def _dates_lines(spec: DatasetSpec) -> list[str]:
    lines = []
    if spec.dates:
        lines += [
            "  # date column: the calendar parts the model gets, each the feature <column>_<part>",
            "  # (year, month, day, day_of_week, hour); requests and files send the column itself",
            "  dates:",
            *(f"    {scalar(name)}: {scalar(parts)}" for name, parts in spec.dates.items()),
        ]
    if spec.orders:
        lines += [
            "  # ordered category: its levels, lowest first; the model also gets the level's rank",
            "  # as the feature <column>_rank",
            "  orders:",
            *(line for name, levels in spec.orders.items() for line in _levels(name, levels)),
        ]
    return lines


def _levels(name: str, levels: list[Any]) -> list[str]:
    """`name: [levels]` on one line when it fits yamllint's limit, else one level a line."""
    line = f"    {scalar(name)}: {scalar(levels)}"
    if len(line) <= LINE_LIMIT:
        return [line]
    return [f"    {scalar(name)}:", *(f"      - {scalar(level)}" for level in levels)]


def evaluation_block(
    section: dict[str, Any],
    measured: dict[str, float],
    model: dict[str, Reached] | None,
) -> str:
    def said(name: str) -> str:
        if model is None or name not in model:
            return f"dummy {measured[name]} (no cross-validation: too few rows per class)"
        mean, sd, se = model[name]
        return f"dummy {measured[name]}, model {mean:.4f} (sd {sd:.4f}, se {se:.4f})"

    bounds = [
        f"    {name}: {value}  # {'maximum' if name in LOWER_IS_BETTER else 'minimum'}; "
        + said(name)
        for name, value in section["thresholds"].items()
    ]
    return "\n".join(
        [
            "evaluation:",
            "  # Gate on the held-out split: below a minimum (above a maximum for log_loss,",
            "  # rmse, mae) `make evaluate` exits 1. Set by init-data between a dummy model",
            "  # (class priors / the training mean) and this model cross-validated in "
            f"{FOLDS} folds",
            f"  # of the training split: minimum = min(dummy + {SHARE} x (model - dummy),",
            f"  # model - {SPREAD} x sd, model - {Z} x se), sd over the folds, se the metric's",
            "  # standard error on a test-split-sized set; maximum: the mirror image.",
            "  # Edit them after review; re-derive them with",
            "  # `make init-data DATA=... TARGET=... INIT_DATA_ARGS=--force`.",
            "  thresholds:",
            *bounds,
            "  # A candidate whose primary metric is worse than the champion's by more than the",
            "  # tolerance (in the metric's units) is refused.",
            f"  primary_metric: {section['primary_metric']}",
            f"  champion_tolerance: {section['champion_tolerance']}",
        ]
    )


def intended_use_block(spec: DatasetSpec) -> str:
    if spec.task == "binary":
        positive = scalar(spec.positive_class)
        what = f"Binary classification of `{spec.target}` (positive class {positive})"
    elif spec.task == "multiclass":
        what = f"Multi-class classification of `{spec.target}` into {len(spec.classes)} classes"
    else:
        what = f"Regression of the numeric `{spec.target}`"
    text = (
        f"{what} for tabular records like {spec.path.name}. A decision aid reviewed by a "
        "person, not an autonomous decision. Review this text: say who uses the model, for "
        "what, and where it must not be used."
    )
    return "intended_use: >-\n" + textwrap.fill(
        text, width=92, initial_indent="  ", subsequent_indent="  "
    )


def rules_text(rules: dict[str, Any], spec: DatasetSpec) -> str:
    header = [
        "---",
        f"# Data validation rules (`make validate`) for {spec.path}, derived by `init-data` and",
        "# to be reviewed. Per column: dtype (pandas name), nullable (as observed), min/max",
        "# (inclusive: the observed range widened by 10% of the larger of its span and its",
        "# largest magnitude, clamped at 0 for non-negative columns; integer-valued columns get",
        "# a range too, not a list), allowed_values and",
        "# max_categories (categorical features and class labels only). Dataset-wide:",
        "# min_rows, allow_extra_columns, max_duplicate_rows and, for classification, label",
        "# balance (each class at least min_class_fraction of the rows).",
    ]
    return "\n".join(header) + "\n" + rules_yaml(rules)


README_DATASET = re.compile(r"(<!-- dataset:[^\n]*-->\n)(.*?)(<!-- /dataset -->)", re.DOTALL)


def readme_dataset(text: str, spec: DatasetSpec) -> str:
    """The README with its dataset paragraph (between the `<!-- dataset: ... -->` markers)
    describing `spec`; unchanged when the markers are gone."""
    paragraph = (
        f"The configured dataset is `{spec.name}` ({spec.task}, target `{spec.target}`) in "
        f"`{spec.path}`, adopted by `make init-data`; `dataset:` in `configs/model_config.yaml` "
        "describes it.\n"
    )
    return README_DATASET.sub(lambda m: m.group(1) + paragraph + m.group(3), text, count=1)
