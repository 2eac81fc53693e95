"""Rendering helpers shared by the template's tests."""

from __future__ import annotations

import os
import shutil
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
