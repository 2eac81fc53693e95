"""Rendering helpers shared by the template's tests."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

from tests.options import TEMPLATE_DIR

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Tools installed by .ci/install-tools.sh and requirements-dev.txt are found on PATH.
_TOOL_DIRS = [TEMPLATE_DIR / ".cache/npm-tools/node_modules/.bin", Path(sys.executable).parent]
os.environ["PATH"] = os.pathsep.join([*map(str, _TOOL_DIRS), os.environ.get("PATH", "")])

# Every install the tests make (generated `make install`, the mlflow server and tools venvs) takes
# the pinned set in constraints.txt: upstream releases that cannot install must not turn CI red.
CONSTRAINTS = Path(__file__).with_name("constraints.txt")
os.environ["UV_CONSTRAINT"] = str(CONSTRAINTS)
os.environ["PIP_CONSTRAINT"] = str(CONSTRAINTS)


def render(output_dir: Path, **answers: Any) -> Path:
    """Render the template with `answers` over the defaults; return the project directory."""
    return Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            accept_hooks=True,
        )
    )


def require_tool(name: str, hint: str) -> str:
    """Path to an external tool; skip locally when missing, fail under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found ({hint})"
        if IN_CI:
            pytest.fail(message + "; CI must install it (.ci/run)")
        pytest.skip(message)
    return path


# Outside the repository, so fresh clones on the same machine (CI runs in one) reuse the
# virtualenvs, the Docker base image and the mlflow server venv; MLOPS_TEMPLATE_CACHE moves it.
CACHE_ROOT = Path(os.environ.get("MLOPS_TEMPLATE_CACHE", Path.home() / ".cache" / "mlops-template"))
VENV_CACHE = CACHE_ROOT / "venvs"
CHECKOV_VERSION = "3.3.30"


def checkov() -> str:
    """checkov in its own cached venv (its pins clash with the template's tools), built once."""
    venv = VENV_CACHE / "checkov"
    marker = venv / f".checkov-{CHECKOV_VERSION}"
    if not marker.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
                check=True,
                timeout=900,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            if IN_CI:
                pytest.fail(f"could not install checkov: {error}")
            pytest.skip(f"could not install checkov (offline?): {error}")
        marker.touch()
    return str(venv / "bin" / "checkov")


def uv() -> str:
    """uv from the template's own virtualenv (requirements-dev.txt pins it)."""
    path = Path(sys.executable).parent / "uv"
    return str(path) if path.exists() else shutil.which("uv") or "uv"


def python_for(version: str) -> str:
    """An interpreter for `version`: on PATH, or pyenv's; fail under CI, skip locally."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")
    )
    for candidate in candidates:
        if (
            candidate
            and subprocess.run(
                [candidate, "--version"], capture_output=True, check=False
            ).returncode
            == 0
        ):
            return candidate
    message = f"python{version} not found"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


LOCK_CACHE = CACHE_ROOT / "locks"
TORCH_CPU_INDEX = 'url = "https://download.pytorch.org/whl/cpu"'


def _torch_index_stand_in(pyproject: Path) -> None:
    """The PyTorch CPU index is unreachable here: its stand-in is the machine's local CPU wheel
    directory (pip's find-links), a flat index holding one torch wheel (CPython 3.11, x86-64),
    so the lock covers the platforms that wheel serves. Elsewhere the project keeps its index."""
    text = pyproject.read_text(encoding="utf-8")
    wheels = os.environ.get("PIP_FIND_LINKS", "").split()
    if TORCH_CPU_INDEX not in text or not wheels or not list(Path(wheels[0]).glob("torch-*.whl")):
        return
    text = text.replace(TORCH_CPU_INDEX, f'url = "{wheels[0]}"\nformat = "flat"')
    lines = [line for line in text.splitlines(keepends=True) if "'aarch64'" not in line]
    text = "".join(lines).replace("python_full_version < '3.14'", "python_full_version < '3.12'")
    pyproject.write_text(text, encoding="utf-8")


def _test_constraints(pyproject: Path) -> None:
    """`uv lock` does not read UV_CONSTRAINT: the test pins (constraints.txt) go into the
    project's `[tool.uv] constraint-dependencies`, so its lock takes the versions the test
    tooling installs beside it (the loopback `mlflow server` matches the client's version)."""
    pins = [
        line.strip()
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    text = pyproject.read_text(encoding="utf-8")
    assert "\n[tool.uv]\n" in text and "constraint-dependencies" not in text
    listed = ", ".join(f'"{pin}"' for pin in pins)
    text = text.replace("\n[tool.uv]\n", f"\n[tool.uv]\nconstraint-dependencies = [{listed}]\n", 1)
    pyproject.write_text(text, encoding="utf-8")


def lock_project(project: Path, env: dict[str, str] | None = None) -> Path:
    """The project's uv.lock, written by its own `make lock` once per pyproject.toml text and
    copied from the cache after that (a committed lock, as users have). The first `make lock`
    of a dependency set resolves against PyPI: the tests need the network (or a warm cache)."""
    target = project / "uv.lock"
    if target.is_file():
        return target
    pyproject = project / "pyproject.toml"
    _torch_index_stand_in(pyproject)
    _test_constraints(pyproject)
    key = hashlib.sha256(pyproject.read_bytes()).hexdigest()[:16]
    cached = LOCK_CACHE / f"{key}.lock"
    LOCK_CACHE.mkdir(parents=True, exist_ok=True)
    with (LOCK_CACHE / f".{key}.flock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not cached.is_file():
            run_checked(["make", "lock"], cwd=project, env=env, timeout=900)
            shutil.copyfile(target, cached.with_suffix(".tmp"))
            cached.with_suffix(".tmp").replace(cached)
    shutil.copyfile(cached, target)
    return target


def free_port() -> int:
    """A free TCP port on loopback, for servers the tests start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_checked(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 1800
) -> str:
    """Run a command; fail the test with the tail of its output unless it exits 0."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-6000:]}"
    return output


def make(
    project: Path,
    *targets: str,
    venv: Path,
    timeout: int = 1200,
    use_uv: bool = True,
    check: bool = True,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run the generated Makefile with a cached virtualenv (and the project's uv.lock, written
    first when missing); unless `check` is off, fail with its output.

    With `use_uv` uv is put on PATH; without, every directory holding a uv is taken off PATH,
    so `make install` bootstraps its pinned uv with pip.
    """
    environment = os.environ | env
    uv_dir = str(Path(uv()).parent)
    path = [entry for entry in environment["PATH"].split(os.pathsep) if entry != uv_dir]
    if use_uv:
        path = [uv_dir, *path]
    else:
        path = [entry for entry in path if not (Path(entry) / "uv").exists()]
    environment["PATH"] = os.pathsep.join(path)
    environment.pop("VIRTUAL_ENV", None)
    lock_project(project, environment)
    result = subprocess.run(
        ["make", "-C", str(project), f"VENV={venv}", *targets],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )
    assert not check or result.returncode == 0, (
        f"make {' '.join(targets)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return result
