"""A model bundle's contract: `models/<bundle>/model_config.yaml`, read once into `Bundle`.

A bundle (the candidate, a registered version, the image's `/app/model/champion`) holds
`model_config.yaml` — the project's model config as trained (`dataset.sha256` filled in) plus
`lineage`, `categories` (`{column: [the categories training saw]}`), `input_example` (one raw
test row), `metrics`, and once registered `evaluation` (the gate's verdict) and `version` —
next to `native/` (the framework's model) and, after `make optimize`, `optimized/`. Each fact is
stored once: the features, their kinds and the classes live in `dataset:` only.

Serving, batch scoring, the runtimes, evaluation, monitoring and the registry read a bundle
through `read_bundle`; only training and the registry write it (`write_bundle_config`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from {{ cookiecutter.package_name }}.contracts.config import read_yaml_mapping
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import UserError, first_problem

BUNDLE_CONFIG = "model_config.yaml"
NATIVE_DIR = "native"


class BundleConfig(BaseModel):
    """The typed part of a bundle's `model_config.yaml`; other keys are kept as written."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    model_id: str
    dataset: DatasetSpec
    lineage: dict[str, Any] = {}
    categories: dict[str, list[Any]] = {}
    input_example: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    version: str | None = None


@dataclass(frozen=True)
class Bundle:
    """One model bundle, read once: what every stage needs to know about it."""

    path: Path
    config: BundleConfig
    raw: dict[str, Any]  # the file as read: what the registry updates and writes back

    @property
    def spec(self) -> DatasetSpec:
        return self.config.dataset

    @property
    def native_dir(self) -> Path:
        return self.path / NATIVE_DIR

    @property
    def categories(self) -> dict[str, list[str]]:
        """Categorical column -> the categories training saw, as the encoders compare them."""
        return {str(k): [str(v) for v in values] for k, values in self.config.categories.items()}

    @property
    def lineage(self) -> dict[str, Any]:
        return self.config.lineage

    @property
    def bundle_id(self) -> str:
        return str(self.lineage.get("bundle_id") or self.path.name)

    @property
    def metrics(self) -> dict[str, float]:
        """The held-out metrics that are finite numbers."""
        return {
            str(name): float(value)
            for name, value in self.config.metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value)
        }  # fmt: skip

    @property
    def model(self) -> dict[str, Any]:
        """What the bundle holds: `family` (scikit-learn's `hyperparameters.family`, else the
        framework), its other `hyperparameters` and the `tuning` lineage (None: not tuned)."""
        hyperparameters = dict(self.raw.get("hyperparameters") or {})
        framework = str((self.raw.get("environment") or {}).get("framework", ""))
        default = "linear" if framework == "scikit-learn" else framework
        family = str(hyperparameters.pop("family", None) or default)
        return {
            "family": family,
            "hyperparameters": hyperparameters,
            "tuning": self.raw.get("tuning"),
        }

    @property
    def target_quantiles(self) -> tuple[float, ...]:
        """Regression: the training target's deciles (serving's value histogram buckets)."""
        raw = self.lineage.get("target_quantiles") or ()
        numbers = {
            float(v)
            for v in (raw.values() if isinstance(raw, dict) else raw)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }
        return tuple(sorted(numbers))

    @property
    def version_label(self) -> str:
        """The `model_version` label: the registry's `<model_id>-v<N>` when it wrote one, a
        registry directory's name, else the training run's bundle id."""
        if self.config.version:
            return self.config.version
        if self.path.name.startswith(self.config.model_id):
            return self.path.name
        return self.bundle_id


def read_bundle(path: Path) -> Bundle:
    """The bundle at `path`, or a one-line `UserError` saying how to get a usable one."""
    fix = "run `make pipeline` (or `make train`), or point at a model bundle directory"
    raw = read_yaml_mapping(path / BUNDLE_CONFIG, "model bundle config", fix)
    try:
        config = BundleConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError(
            f"{path / BUNDLE_CONFIG}: invalid {first_problem(error)}; retrain with `make train`"
        ) from None
    return Bundle(path, config, raw)


def write_bundle_config(path: Path, content: dict[str, Any]) -> None:
    """Write a bundle's `model_config.yaml` (training and the registry; keys in given order)."""
    text = "---\n" + yaml.safe_dump(content, sort_keys=False, width=100)
    (path / BUNDLE_CONFIG).write_text(text, encoding="utf-8")
