"""The hooks, unit-tested by import, and their refusals end to end through cookiecutter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.hooks_loader import load_hook
from tests.options import COOKIECUTTER_JSON, TEMPLATE_DIR, defaults, option_values

pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")

VALID: dict[str, Any] = {
    "project_name": "Churn Model",
    "project_slug": "churn-model",
    "package_name": "churn_model",
    "description": "d",
    "author_name": "Jane Doe",
    "author_email": "jane.doe@example.com",
    "github_org": "my-org",
} | defaults()

# (option, bad value, words the message must contain)
INVALID_ANSWERS = [
    ("project_name", "", "non-empty"),
    ("project_name", "   ", "non-empty"),
    ("project_name", "!!!", "letter or digit"),
    ("project_slug", "Churn Model", "DNS-style"),
    ("project_slug", "-churn", "DNS-style"),
    ("project_slug", "churn--model", "DNS-style"),
    ("project_slug", "1churn", "DNS-style"),
    ("project_slug", "churn_model", "DNS-style"),
    ("project_slug", "x" * 64, "at most 63"),
    ("package_name", "1churn", "identifier"),
    ("package_name", "churn-model", "identifier"),
    ("package_name", "Churn", "identifier"),
    ("package_name", "class", "keyword"),
    ("package_name", "match", "keyword"),
    ("package_name", "json", "standard-library"),
    ("package_name", "logging", "standard-library"),
    ("package_name", "sklearn", "dependency"),
    ("package_name", "mlflow", "dependency"),
    ("package_name", "test", "dependency"),
    ("author_name", "", "non-empty"),
    ("author_email", "jane", "address"),
    ("author_email", "jane@localhost", "address"),
    ("author_email", "jane doe@example.com", "address"),
    ("github_org", "-org", "GitHub"),
    ("github_org", "my_org", "GitHub"),
    ("github_org", "x" * 40, "GitHub"),
    ("python_version", "3.10", "choose one of"),
    ("license", "GPL-3.0", "choose one of"),
    ("use_jenkins", "maybe", "yes or no"),
    ("use_gitlab_ci", "2", "yes or no"),
]


def test_valid_answers_have_no_problems() -> None:
    assert pre_gen.problems(VALID) == []


@pytest.mark.parametrize(("option", "value", "words"), INVALID_ANSWERS)
def test_invalid_answer_is_one_line_naming_option_and_value(
    option: str, value: str, words: str
) -> None:
    found = pre_gen.problems(VALID | {option: value})
    assert found, f"{option}={value!r} was accepted"
    message = found[0]
    assert "\n" not in message
    assert message.startswith(f"ERROR: {option}={value!r}")
    assert words in message


@pytest.mark.parametrize(
    "option", [name for name, values in option_values().items() if len(values) > 1]
)
def test_every_offered_value_is_accepted(option: str) -> None:
    for value in option_values()[option]:
        assert not [
            problem for problem in pre_gen.problems(VALID | {option: value}) if option in problem
        ], f"{option}={value!r}"


def test_hook_choices_are_exactly_cookiecutter_json() -> None:
    """The hook's copy of the choices (it cannot read cookiecutter.json) has not drifted."""
    offered = {
        name: tuple(value)
        for name, value in COOKIECUTTER_JSON.items()
        if not name.startswith("_") and isinstance(value, list)
    }
    booleans = tuple(
        name
        for name, value in COOKIECUTTER_JSON.items()
        if not name.startswith("_") and isinstance(value, bool)
    )
    assert offered == pre_gen.CHOICES
    assert booleans == pre_gen.BOOLEAN_OPTIONS


def test_post_gen_table_names_only_offered_values() -> None:
    """A misspelt value in the table would own paths that no answer keeps: they would go."""
    offered = option_values()
    for option, table in post_gen.OWNED_PATHS.items():
        assert option in offered, f"{option} is not an option of cookiecutter.json"
        assert set(table) <= set(offered[option]), f"{option}: {set(table) - set(offered[option])}"


INCOMPATIBLE_IDS = [message[:40] for _, message, _ in pre_gen.INCOMPATIBLE]


@pytest.mark.parametrize(
    ("applies", "message", "example"), pre_gen.INCOMPATIBLE, ids=INCOMPATIBLE_IDS
)
def test_incompatible_combination_is_refused(
    tmp_path: Path, applies: Any, message: str, example: dict[str, Any]
) -> None:
    assert applies(VALID | example)
    assert pre_gen.problems(VALID | example) == [f"ERROR: {message}"]
    assert "\n" not in message
    result = run_cookiecutter(tmp_path, *(f"{key}={value}" for key, value in example.items()))
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == f"ERROR: {message}"
    assert list(tmp_path.iterdir()) == []


def test_generated_configs_are_all_supported() -> None:
    from tests.options import generate_configs

    for config in generate_configs():
        assert pre_gen.problems(VALID | config) == [], config


@pytest.mark.parametrize("value", [True, "True", "true", "yes", "1", "on"])
def test_as_bool_truthy(value: Any) -> None:
    assert pre_gen.as_bool(value) and post_gen.as_bool(value)


@pytest.mark.parametrize("value", [False, "False", "false", "no", "0", "off", ""])
def test_as_bool_falsy(value: Any) -> None:
    assert not pre_gen.as_bool(value) and not post_gen.as_bool(value)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_post_gen_removes_only_unchosen_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = {
        "flavour": {"a": ["only_a.txt", "shared.txt", "{pkg}/a"], "b": ["b_dir", "shared.txt"]},
        "use_x": {True: ["x.yml"]},
    }
    monkeypatch.setattr(post_gen, "OWNED_PATHS", table)
    for path in [
        "only_a.txt",
        "shared.txt",
        "b_dir/inner.txt",
        "x.yml",
        "keep.txt",
        "src/pkg/a/m.py",
    ]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("content")
    context = {"package_name": "pkg", "flavour": "a", "use_x": "False"}
    assert post_gen.paths_to_remove(context) == ["b_dir", "x.yml"]
    post_gen.main(context, tmp_path)
    after_first = _tree(tmp_path)
    assert after_first == {
        "only_a.txt",
        "shared.txt",
        "keep.txt",
        "src",
        "src/pkg",
        "src/pkg/a",
        "src/pkg/a/m.py",
    }
    post_gen.main(context, tmp_path)  # cruft re-runs hooks: a second run changes nothing
    assert _tree(tmp_path) == after_first


def test_post_gen_table_paths_exist_in_template() -> None:
    """Every path in the table is a real template path, so a typo cannot silently keep files."""
    project = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    for option, table in post_gen.OWNED_PATHS.items():
        for value, paths in table.items():
            for path in paths:
                real = path.replace("{pkg}", "src/{{cookiecutter.package_name}}")
                assert (project / real).exists(), f"{option}={value}: {path} is not in the template"


def test_hooks_are_deterministic_source() -> None:
    """No git, network, randomness or clock in hooks: cruft re-runs them on every update."""
    for name in ("pre_gen_project", "post_gen_project"):
        source = (TEMPLATE_DIR / "hooks" / f"{name}.py").read_text()
        for forbidden in (
            "import random",
            "import secrets",
            "uuid",
            "datetime",
            "time.time",
            "subprocess",
            "urllib",
            "git init",
        ):
            assert forbidden not in source, f"{name} uses {forbidden}"


def run_cookiecutter(output_dir: Path, *answers: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            str(TEMPLATE_DIR),
            "--no-input",
            "-o",
            str(output_dir),
            *answers,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


CLI_REFUSALS = [
    ("project_name=", "project_name"),
    ("project_name=???", "project_name"),
    ("project_slug=Bad Slug", "project_slug"),
    ("package_name=sklearn", "package_name"),
    ("package_name=import", "package_name"),
    ("author_email=not-an-email", "author_email"),
    ("github_org=bad_org!", "github_org"),
]


@pytest.mark.parametrize(("answer", "option"), CLI_REFUSALS)
def test_refusal_prints_our_line_first_and_leaves_nothing(
    tmp_path: Path, answer: str, option: str
) -> None:
    result = run_cookiecutter(tmp_path, answer)
    assert result.returncode != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"ERROR: {option}="), result.stderr
    assert list(tmp_path.iterdir()) == [], "a partial project directory was left behind"


def test_default_answers_render(tmp_path: Path) -> None:
    result = run_cookiecutter(tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["churn-model"]


# Free-text answers only: cookiecutter itself refuses unknown choice values before the hooks run.
FREE_TEXT_INVALID = [case for case in INVALID_ANSWERS if case[0] not in option_values()]


@pytest.mark.parametrize(("option", "value", "words"), FREE_TEXT_INVALID)
def test_pytest_cookies_bake_refuses_invalid_answer(
    cookies: Any, option: str, value: str, words: str
) -> None:
    result = cookies.bake(extra_context={option: value})
    assert result.exit_code != 0
    assert result.exception is not None
    assert result.project_path is None or not result.project_path.exists()


def test_pytest_cookies_bake_default(cookies: Any) -> None:
    result = cookies.bake()
    assert result.exit_code == 0, result.exception
    assert result.project_path.name == "churn-model"
    assert (result.project_path / "src" / "churn_model" / "cli" / "__init__.py").is_file()
