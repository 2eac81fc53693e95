"""Training: fit the configured model and save it in the framework's native format.

`train_model(X_train, y_train, config, seed) -> TrainedModel` and
`load_model(directory) -> TrainedModel` come from the framework chosen for this project;
`load_model` accepts a bundle directory (`models/<bundle>/`) or its `native/` folder.
"""

from __future__ import annotations

from pathlib import Path

from {{ cookiecutter.package_name }}.contracts.bundle import NATIVE_DIR
from {{ cookiecutter.package_name }}.training.base import TrainedModel
{%- if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.training.sklearn_model import FRAMEWORK
from {{ cookiecutter.package_name }}.training.sklearn_model import load as _load_native
from {{ cookiecutter.package_name }}.training.sklearn_model import train as train_model
{%- elif cookiecutter.ml_framework == "pytorch" %}
from {{ cookiecutter.package_name }}.training.torch_model import FRAMEWORK
from {{ cookiecutter.package_name }}.training.torch_model import load as _load_native
from {{ cookiecutter.package_name }}.training.torch_model import train as train_model
{%- elif cookiecutter.ml_framework == "tensorflow" %}
from {{ cookiecutter.package_name }}.training.keras_model import FRAMEWORK
from {{ cookiecutter.package_name }}.training.keras_model import load as _load_native
from {{ cookiecutter.package_name }}.training.keras_model import train as train_model
{%- endif %}


def load_model(directory: Path) -> TrainedModel:
    """Load a trained model from a bundle directory or from its `native/` folder."""
    native = directory / NATIVE_DIR
    return _load_native(native if native.is_dir() else directory)


__all__ = [
    "FRAMEWORK",
    "NATIVE_DIR",
    "TrainedModel",
    "load_model",
    "train_model",
]
