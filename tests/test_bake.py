"""Bake the default project (and Python 3.12): install it and run its own `make lint test`.

The default bake installs with uv, the 3.12 bake with plain venv + pip: both must work.
"""

from __future__ import annotations

import pytest

from tests.conftest import VENV_CACHE, make, python_for, render

pytestmark = pytest.mark.slow


@pytest.mark.xdist_group("venv-default")
def test_default_project_passes_its_own_lint_and_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = render(tmp_path_factory.mktemp("bake-default"))
    make(project, "install", "lint", "test", venv=VENV_CACHE / "bake-default")


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
