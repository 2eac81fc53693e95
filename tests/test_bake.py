"""Bake the default project (and Python 3.12): install it and run its own `make lint test`.

Both install exactly the project's uv.lock: the default bake with uv on PATH, the 3.12 bake
without one (`make install` bootstraps its pinned uv with pip). The default bake also checks
that a second install, offline, gives the same packages and that a range edited without
`make lock` stops `make lint` in one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import VENV_CACHE, make, python_for, render, run_checked, uv

pytestmark = pytest.mark.slow


@pytest.mark.xdist_group("venv-default")
def test_default_project_passes_its_own_lint_and_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = render(tmp_path_factory.mktemp("bake-default"))
    venv = VENV_CACHE / "bake-default"
    make(project, "install", "lint", "test", venv=venv)

    # A second install, offline (uv's cache is warm now): the same packages.
    again = tmp_path_factory.mktemp("again") / "venv"
    make(project, "install", venv=again, UV_OFFLINE="1")
    assert freeze(again) == freeze(venv)

    pyproject = project / "pyproject.toml"
    edited = pyproject.read_text().replace('"joblib>=1.3,<2"', '"joblib>=1.4,<2"')
    assert edited != pyproject.read_text()
    pyproject.write_text(edited)
    (venv / ".installed").touch()  # installed: lint's own lock check is what refuses
    stale = make(project, "lint", venv=venv, check=False)
    assert stale.returncode == 2, stale.stdout + stale.stderr
    errors = [line for line in stale.stderr.splitlines() if not line.startswith("make")]
    assert errors == [
        "error: uv.lock does not match pyproject.toml: run `make lock` and commit uv.lock"
    ], stale.stderr


# A venv's own installers (the cached venv was once seeded with pip), not the project's packages.
INSTALLERS = ("pip==", "setuptools==", "wheel==")


def freeze(venv: Path) -> list[str]:
    """`uv pip freeze` of a venv: every installed distribution, pinned."""
    listed = run_checked([uv(), "pip", "freeze", "--python", str(venv / "bin/python")], venv)
    return sorted(line for line in listed.splitlines() if line and not line.startswith(INSTALLERS))


@pytest.mark.xdist_group("venv-py312")
def test_python_312_project_passes_its_own_lint_and_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    python = python_for("3.12")
    project = render(tmp_path_factory.mktemp("bake-312"), python_version="3.12")
    make(
        project,
        "install",
        "lint",
        "test",
        venv=VENV_CACHE / "bake-py312-pip",
        use_uv=False,
        PYTHON=python,
    )
