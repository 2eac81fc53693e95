"""The option space and the config generator (after cookiecutter-data-science v2).

Interacting options are rendered as a full product filtered by `is_valid`; every other
option is cycled alongside, so each value of each option is rendered at least once.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
COOKIECUTTER_JSON = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())

# Options whose values change the same files, so every combination must render.
INTERACTING = ("ml_framework", "experiment_tracking", "orchestrator")

# Options that change the same files as one other option only: every pair of their values
# is rendered (task x ml_framework = 9 projects) without multiplying the full product.
PAIRED = (("ml_framework", "task"),)

# How often the cycled options are redrawn to make an interacting combination valid.
MAX_DRAWS = 12


def option_values() -> dict[str, list[Any]]:
    """Every choice and boolean option offered by cookiecutter.json, with all its values."""
    values: dict[str, list[Any]] = {}
    for name, default in COOKIECUTTER_JSON.items():
        if name.startswith("_"):
            continue
        if isinstance(default, list):
            values[name] = list(default)
        elif isinstance(default, bool):
            values[name] = [default, not default]
    return values


def defaults() -> dict[str, Any]:
    """The answers `--no-input` gives for choice and boolean options."""
    return {name: vals[0] for name, vals in option_values().items()}


def is_valid(config: dict[str, Any]) -> bool:
    """Mirror of the pre-gen hook's refusals, for generating supported configs only."""
    from tests.hooks_loader import load_hook

    return not load_hook("pre_gen_project").problems({**_identity(), **config})


def _identity() -> dict[str, Any]:
    return {
        key: value
        for key, value in COOKIECUTTER_JSON.items()
        if not key.startswith("_") and isinstance(value, str) and "{{" not in value
    } | {"project_slug": "churn-model", "package_name": "churn_model"}


def generate_configs() -> list[dict[str, Any]]:
    """Supported configs: product of interacting options, the others cycled alongside."""
    values = option_values()
    interacting = [name for name in INTERACTING if name in values]
    others = [name for name in values if name not in interacting]
    cycles = {name: itertools.cycle(values[name]) for name in others}
    configs: list[dict[str, Any]] = []
    for combo in itertools.product(*(values[name] for name in interacting)):
        base = dict(zip(interacting, combo, strict=True))
        # Every interacting combination is kept: draw the cycled options again until valid.
        for _ in range(MAX_DRAWS):
            config = base | {name: next(cycles[name]) for name in others}
            if is_valid(config):
                configs.append(config)
                break
        else:
            raise AssertionError(f"no supported config for {base}")
    for first, second in PAIRED:
        for pair in itertools.product(values.get(first, []), values.get(second, [])):
            if not any((config[first], config[second]) == pair for config in configs):
                configs.append(_valid_config_with(first, pair[0], {second: pair[1]}))
    # Any value not rendered yet (too few rows, or filtered out) gets a config of its own.
    for name, choices in values.items():
        for value in choices:
            if not any(config[name] == value for config in configs):
                configs.append(_valid_config_with(name, value))
    return configs


def _valid_config_with(
    name: str, value: Any, fixed: dict[str, Any] | None = None
) -> dict[str, Any]:
    fixed = fixed or {}
    base = defaults() | {name: value} | fixed
    if is_valid(base):
        return base
    for other, choices in option_values().items():
        for choice in choices:
            candidate = base | {other: choice}
            if other != name and other not in fixed and is_valid(candidate):
                return candidate
    raise AssertionError(f"no supported config renders {name}={value!r}")


def config_id(config: dict[str, Any]) -> str:
    return "-".join(f"{value}" for value in config.values()) or "default"
