"""Where a model and an image come from: the commit, the lock, the libraries; and the lock check.

`uv.lock` pins every package the project installs (`make lock`); a bundle's lineage records its
sha256 (`lock_sha256`) beside the git commit and the versions of the libraries that shape the
model, and the image carries it as a label. `environment_differences` compares what is installed
in the running interpreter with the lock's export (`uv export --format requirements.txt`), whose
markers it evaluates here: `verify-env` (run inside the image by `make verify-image`) prints them.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from {{ cookiecutter.package_name }}.errors import UserError, one_line

LOCK_FILE = "uv.lock"
# A venv's installers (`uv venv --seed`, `python -m venv`): not the project's dependencies.
INSTALLERS = frozenset({"pip", "setuptools", "wheel"})
LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "xgboost-cpu",
    "pyspark",
    "torch",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "pandera",
    "mlflow-skinny",
    "dvc",
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the model (those installed)."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_commit(root: Path) -> str | None:
    """The checked-out commit of the project, or None outside a git work tree."""
    git = shutil.which("git")
    if git is None:
        return None
    result = subprocess.run(
        [git, "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def lock_sha256(root: Path) -> str | None:
    """sha256 of the project's uv.lock, or None when it has none (an install without the lock)."""
    path = root / LOCK_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@dataclass(frozen=True)
class Difference:
    """One package where the environment and the lock disagree (None: absent on that side)."""

    package: str
    locked: str | None
    installed: str | None


def locked_versions(requirements: str) -> dict[str, str]:
    """`{package: version}` of an exported lock, for the markers of the running interpreter."""
    locked: dict[str, str] = {}
    for number, raw in enumerate(requirements.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue  # comments, hashes' continuation lines, `-e .`, index options
        try:
            requirement = Requirement(line.rstrip("\\").strip())
        except InvalidRequirement as error:
            raise UserError(
                f"requirements line {number} is not a requirement ({one_line(error)}): "
                "pass `uv export --format requirements.txt` output"
            ) from None
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pins = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if len(pins) != 1:
            raise UserError(
                f"requirements line {number} ({line}) pins no single version: "
                "pass `uv export --format requirements.txt` output of uv.lock"
            )
        locked[canonicalize_name(requirement.name)] = _normal(pins[0])
    return locked


def _normal(text: str) -> str:
    """A version in its normal form ("1.0" and "1.0.0" differ in text, not as versions)."""
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


def installed_versions(exclude: str) -> dict[str, str]:
    """`{package: version}` installed for this interpreter, without the project itself."""
    found: dict[str, str] = {
        canonicalize_name(dist.metadata["Name"]): _normal(dist.version) for dist in distributions()
    }
    found.pop(canonicalize_name(exclude), None)
    return found


def environment_differences(locked: dict[str, str], installed: dict[str, str]) -> list[Difference]:
    """Every package missing, extra or at another version than the lock, sorted by name."""
    names = sorted(set(locked) | set(installed))
    return [
        Difference(name, locked.get(name), installed.get(name))
        for name in names
        if locked.get(name) != installed.get(name)
        and not (name in INSTALLERS and name not in locked)
    ]
