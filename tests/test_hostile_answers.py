"""Answers with quotes, colons, `#`, backslashes and non-ASCII letters still give valid files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import render

HOSTILE = {
    "project_name": 'Ünïcødé "Quoted": #1 \\ Modèle',
    "description": "He said \"hi\": it's #1 \\o/ — naïve 'single' ${HOME} $(id) `id` % {x} Ж",
    "author_name": 'O\'Brien "Bob" \\ Łukasz: #ops',
    "author_email": "o.brien+ml@example.co.uk",
}
# Groovy, HCL, shell and Dockerfiles must carry only validated identifiers, never free text.
NO_FREE_TEXT_SUFFIXES = (".tf", ".sh", ".groovy", ".hcl")
NO_FREE_TEXT_NAMES = ("Jenkinsfile", "Dockerfile")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("hostile"), **HOSTILE)


def test_slug_and_package_are_derived_safely(project: Path) -> None:
    assert project.name == "unicode-quoted-1-modele"
    assert (project / "src" / "unicode_quoted_1_modele").is_dir()


def test_pyproject_round_trips_the_answers(project: Path) -> None:
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["description"] == HOSTILE["description"]
    assert meta["authors"] == [{"name": HOSTILE["author_name"], "email": HOSTILE["author_email"]}]


def test_structured_files_parse(project: Path) -> None:
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for path in project.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    for path in project.rglob("*.toml"):
        tomllib.loads(path.read_text(encoding="utf-8"))
    for path in project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_yaml_values_round_trip(project: Path) -> None:
    """Wherever a YAML file carries a free-text answer, it carries it exactly."""
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        text = path.read_text(encoding="utf-8")
        for document in yaml.safe_load_all(text):
            for value in _strings(document):
                for answer in HOSTILE.values():
                    if answer[:8] in value:
                        assert answer in value, f"{path}: {value!r} mangles {answer!r}"


def test_free_text_never_reaches_groovy_hcl_shell_or_docker(project: Path) -> None:
    for path in project.rglob("*"):
        if path.is_file() and (
            path.suffix in NO_FREE_TEXT_SUFFIXES or path.name in NO_FREE_TEXT_NAMES
        ):
            text = path.read_text(encoding="utf-8")
            for answer in HOSTILE.values():
                assert answer not in text, f"{path.relative_to(project)} carries {answer!r}"


def test_readme_and_license_show_the_answers_verbatim(project: Path) -> None:
    assert HOSTILE["project_name"] in (project / "README.md").read_text(encoding="utf-8")
    assert HOSTILE["author_name"] in (project / "LICENSE").read_text(encoding="utf-8")


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


@pytest.mark.parametrize("orchestrator", ["airflow", "kubeflow"])
def test_no_default_names_leak_into_another_project(tmp_path: Path, orchestrator: str) -> None:
    """Every file follows the answers: nothing keeps the default project's or org's name."""
    project = render(
        tmp_path,
        project_name="Fraud Scoring",
        github_org="acme-ml",
        orchestrator=orchestrator,
        feature_store="feast",
        use_gitlab_ci=True,
    )
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8").lower()
            for default in ("churn", "my-org"):
                assert default not in text, f"{path.relative_to(project)} mentions {default!r}"
