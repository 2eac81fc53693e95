"""Which metrics each task reports, which way each one improves, and each task's default
primary metric: the one table the gate, the champion comparison and `metrics` share.

Lower is better for the losses and errors (`log_loss`, `rmse`, `mae`), higher for the rest.
A threshold is a minimum for a higher-better metric and a maximum for a lower-better one.
"""

from __future__ import annotations

from typing import Literal

from {{ cookiecutter.package_name }}.data.spec import Task

Direction = Literal["higher", "lower"]

TASK_METRICS: dict[Task, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
METRIC_DIRECTIONS: dict[str, Direction] = {
    name: "lower" if name in LOWER_IS_BETTER else "higher"
    for names in TASK_METRICS.values()
    for name in names
}
PRIMARY_METRICS: dict[Task, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "rmse",
}


def higher_is_better(name: str) -> bool:
    return METRIC_DIRECTIONS[name] == "higher"


def worse_than(name: str, value: float, bound: float) -> bool:
    """Whether `value` is on the wrong side of `bound` for metric `name`."""
    return value < bound if higher_is_better(name) else value > bound


def bound_word(name: str) -> str:
    """How a threshold on `name` reads: a minimum or a maximum."""
    return "minimum" if higher_is_better(name) else "maximum"
