"""Render every generated config and check the files themselves (fast, no installs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.conftest import render
from tests.expected_files import expected_files
from tests.options import config_id, generate_configs, option_values

CONFIGS = generate_configs()
IDS = [config_id(config) for config in CONFIGS]

# Template syntax that must survive rendering: GitHub Actions `${{ ... }}`, Prometheus
# `{{ $labels.x }}` / `{{ $value }}`, Grafana legends `{{instance}}`, Go templates in
# Alertmanager `{{ .Status }}` / `{{ range ... }}`.
ALLOWED_BRACES = re.compile(
    r"\$\{\{[^}]*\}\}"
    r"|\{\{-?\s*(?:\$labels|\$value|\$externalLabels|\.|range|end|if|else|template|define|humanize|printf|toUpper|title|len|with)[^}]*\}\}"
    r"|\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}"
)
LEFTOVER = re.compile(r"\{\{|\{%|%\}|cookiecutter\.[a-z_]")


@cache
def _render(index: int, root: Path) -> Path:
    return render(root / f"config-{index}", **CONFIGS[index])


@pytest.fixture(scope="session")
def render_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("renders")


@pytest.fixture(params=range(len(CONFIGS)), ids=IDS)
def project(request: pytest.FixtureRequest, render_root: Path) -> tuple[dict[str, Any], Path]:
    return CONFIGS[request.param], _render(request.param, render_root)


def text_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def test_every_option_value_is_rendered() -> None:
    for name, values in option_values().items():
        rendered = {str(config[name]) for config in CONFIGS}
        assert rendered == {str(value) for value in values}, name


def test_exact_file_set(project: tuple[dict[str, Any], Path]) -> None:
    config, root = project
    actual = {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
    expected = expected_files(config, package_name=root.name.replace("-", "_"))
    assert sorted(actual - expected) == [], "stray files"
    assert sorted(expected - actual) == [], "missing files"


def test_no_unrendered_template_syntax(project: tuple[dict[str, Any], Path]) -> None:
    _, root = project
    for path in text_files(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = ALLOWED_BRACES.sub("", line)
            assert not LEFTOVER.search(stripped), f"{path.relative_to(root)}:{number}: {line}"


def test_yaml_parses_and_passes_yamllint(project: tuple[dict[str, Any], Path]) -> None:
    _, root = project
    config = YamlLintConfig(file=str(root / ".yamllint"))
    for path in [*root.rglob("*.yml"), *root.rglob("*.yaml"), root / ".yamllint"]:
        text = path.read_text(encoding="utf-8")
        list(yaml.safe_load_all(text))
        problems = [p for p in linter.run(text, config, str(path)) if p.level == "error"]
        assert not problems, f"{path.relative_to(root)}: {problems}"


def test_toml_and_json_parse(project: tuple[dict[str, Any], Path]) -> None:
    _, root = project
    for path in root.rglob("*.toml"):
        tomllib.loads(path.read_text(encoding="utf-8"))
    for path in root.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_python_passes_ruff(project: tuple[dict[str, Any], Path]) -> None:
    _, root = project
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run(
        [*ruff, "check", "--no-cache", "."], cwd=root, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "--no-cache", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_import_contracts_hold(project: tuple[dict[str, Any], Path]) -> None:
    """`lint-imports` (the generated `make lint` runs it): layers point down, no cycles."""
    _, root = project
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=root, capture_output=True, text=True, check=False,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(root / "src")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_python_compiles(project: tuple[dict[str, Any], Path]) -> None:
    _, root = project
    for path in root.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
