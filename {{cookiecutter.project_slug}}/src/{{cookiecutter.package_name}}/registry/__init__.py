"""Model registry: numbered versions of model bundles with `champion` / `challenger` aliases.

Two backends with the same semantics and CLI: MLflow (`registry_backend: mlflow`; SQLite store
`mlflow.db` + artifacts in `mlruns/` under the project unless `MLFLOW_TRACKING_URI` is set) and
a file registry (`registry_backend: file`; `models/registry.json` + `models/<model_id>-v<N>/`).

`register` adds the evaluated candidate as a new version and points `challenger` at it (and
`champion` too when there is none yet, or with `promote=True`); `promote` moves `champion` to
the current challenger. `resolve_bundle(alias, settings)` gives a local bundle directory;
`export_bundle(alias, settings, into)` copies it (the image's build context, `make build`).
Every version is an MLflow model directory (`runtime.mlflow_model`): `MLmodel` with the pyfunc
flavor, signature and input example, next to `native/`, `optimized/` and `model_config.yaml`;
a candidate whose optimized artifact failed its parity check is never registered.
"""

from {{ cookiecutter.package_name }}.registry.base import ALIASES, AliasNotSetError, Registry
from {{ cookiecutter.package_name }}.registry.core import (
    export_bundle,
    open_registry,
    promote,
    register,
    resolve_bundle,
)

__all__ = [
    "ALIASES",
    "AliasNotSetError",
    "Registry",
    "export_bundle",
    "open_registry",
    "promote",
    "register",
    "resolve_bundle",
]
