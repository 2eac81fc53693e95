"""The exact set of files each config must generate (nothing stray, nothing missing).

Written independently of the post-gen hook's table, so a wrong table entry fails a test.
Each feature area contributes one function; `expected_files` is their union.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PKG = "src/{pkg}"


def core_files(config: dict[str, Any]) -> set[str]:
    return {
        ".editorconfig",
        ".gitignore",
        ".pre-commit-config.yaml",
        ".yamllint",
        "LICENSE",
        "Makefile",
        "README.md",
        "configs/settings.yaml",
        "pyproject.toml",
        f"{PKG}/__init__.py",
        f"{PKG}/__main__.py",
        f"{PKG}/cli.py",
        f"{PKG}/errors.py",
        f"{PKG}/settings.py",
        "tests/conftest.py",
        "tests/test_cli.py",
        "tests/test_settings.py",
    }


AREAS: list[Callable[[dict[str, Any]], set[str]]] = [core_files]


def expected_files(config: dict[str, Any], package_name: str) -> set[str]:
    files: set[str] = set()
    for area in AREAS:
        files |= area(config)
    return {path.replace("{pkg}", package_name) for path in files}
