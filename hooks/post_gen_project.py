"""Remove the generated paths that belong to options the user did not choose.

`OWNED_PATHS` is the one declarative table from option values to the paths they own. The
hook deletes the paths owned by every value that was *not* chosen (unless the chosen value
owns them too) and touches nothing else. It is deterministic and idempotent, with no git,
network, randomness or clock, because `cruft update` re-runs it on every update.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# {option: {value: [paths relative to the project root owned by that value]}}.
# Booleans use the keys True / False. "{pkg}" stands for the package directory.
OWNED_PATHS: dict[str, dict[Any, list[str]]] = {
    # ci/cd
    "use_github_actions": {
        True: [
            ".github/dependabot.yml",
            ".github/workflows/batch-score.yml",
            ".github/workflows/ci.yml",
            ".github/workflows/deploy.yml",
            ".github/workflows/retrain-check.yml",
            ".github/workflows/template-update.yml",
            ".github/workflows/train.yml",
        ],
        False: [],
    },
    "use_jenkins": {True: ["Jenkinsfile"], False: []},
    "use_gitlab_ci": {True: [".gitlab-ci.yml"], False: []},
    "cloud_provider": {
        "aws": ["terraform", "terraform/modules/aws"],
        "gcp": ["terraform", "terraform/modules/gcp"],
        "azure": ["terraform", "terraform/modules/azure"],
        "none": [],
    },
    # pipeline (the other frameworks' modules are listed so that they are dropped)
    "ml_framework": {
        "scikit-learn": [
            "{pkg}/training/sklearn_model.py",
            "{pkg}/adopt/regate.py",
            "{pkg}/benchmarks/model.py",
            "{pkg}/training/families.py",
            "{pkg}/training/spark.py",
            "{pkg}/training/tune.py",
            "{pkg}/optimization/sklearn_onnx.py",
            "tests/test_bench_model.py",
            "tests/test_families.py",
            "tests/test_tune.py",
        ],
        "pytorch": [
            "{pkg}/training/torch_model.py",
            "{pkg}/optimization/torch_quant.py",
            "tests/test_frameworks.py",
        ],
        "tensorflow": [
            "{pkg}/training/keras_model.py",
            "{pkg}/optimization/tflite.py",
            "tests/test_frameworks.py",
        ],
    },
    "experiment_tracking": {"mlflow": ["{pkg}/registry/mlflow_registry.py"], "none": []},
    "data_versioning": {
        "dvc": [".dvc", ".dvcignore", "dvc.yaml", "params.yaml", "tests/test_pipeline_dvc.py"],
        "none": [],
    },
    # serving
    "rollout_strategy": {"rolling": [], "canary": ["k8s/canary"], "shadow": ["k8s/shadow"]},
    # monitoring
    "orchestrator": {
        "none": [],
        "airflow": ["dags", "tests/test_orchestration_airflow.py"],
        "kubeflow": ["pipelines", "tests/test_orchestration_kubeflow.py"],
    },
    "feature_store": {
        "none": [],
        "feast": [
            "feature_repo",
            "{pkg}/feature_store.py",
            "{pkg}/serving/online_features.py",
            "tests/test_feast.py",
            "tests/test_feast_serving.py",
        ],
    },
}

PACKAGE_DIR = "src/{package_name}"


# The same as_bool stands in pre_gen_project.py: each hook runs as a standalone script.
def as_bool(value: Any) -> bool:
    """cookiecutter gives booleans; replay files and cruft may give their string forms."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "y", "on"}


def _chosen(table: Mapping[Any, list[str]], value: Any) -> Any:
    is_boolean_option = all(isinstance(key, bool) for key in table)
    return as_bool(value) if is_boolean_option else str(value)


def _expand(path: str, context: Mapping[str, Any]) -> str:
    return path.replace("{pkg}", PACKAGE_DIR.format(package_name=context["package_name"]))


def paths_to_remove(context: Mapping[str, Any]) -> list[str]:
    """Paths owned only by values that were not chosen, sorted, relative to the project."""
    keep: set[str] = set()
    drop: set[str] = set()
    for option, table in OWNED_PATHS.items():
        if option not in context:
            continue
        chosen = _chosen(table, context[option])
        for value, paths in table.items():
            expanded = {_expand(path, context) for path in paths}
            (keep if value == chosen else drop).update(expanded)
    return sorted(drop - keep)


def remove_paths(root: Path, paths: Iterable[str]) -> None:
    """Delete files and directories under `root`; missing ones are fine (idempotent)."""
    for relative in paths:
        target = root / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def remove_empty_dirs(root: Path) -> None:
    """Drop directories left empty by the removals (deepest first)."""
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def main(context: Mapping[str, Any], root: Path) -> int:
    remove_paths(root, paths_to_remove(context))
    remove_empty_dirs(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | jsonify }}"""), Path.cwd()))
