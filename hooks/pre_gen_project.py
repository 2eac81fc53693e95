"""Refuse bad answers before anything is written.

Each check returns an error line naming the option, the bad value and what is accepted.
`main()` prints the first problem as one line on stderr and exits 1; cookiecutter then
removes the directory it created, so nothing is left behind. The functions take the
context as a plain dict so the template's tests can import and call them directly.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[^@\s\"',;<>]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
GITHUB_ORG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
MAX_SLUG_LENGTH = 63  # a DNS label: the slug names images, Kubernetes objects and buckets

# Import names the generated project depends on (or that tooling owns): a package with one
# of these names would shadow it.
RESERVED_PACKAGE_NAMES = frozenset(
    {
        "airflow", "app", "click", "conftest", "dvc", "fastapi", "feast", "hydra", "keras",
        "kfp", "matplotlib", "mlflow", "numpy", "onnx", "onnxruntime", "pandas", "pandera",
        "prometheus_client", "pydantic", "pydantic_settings", "pytest", "scipy", "setup",
        "site", "skl2onnx", "sklearn", "sqlalchemy", "src", "starlette", "tensorflow", "test",
        "tests", "tf", "torch", "tqdm", "typer", "uvicorn", "yaml",
    }
)  # fmt: skip

# Choice options and their accepted values. cookiecutter checks choices given on the command
# line, but replay files and `cruft update --variables-to-update` bypass that check.
# A copy of cookiecutter.json's lists, because this hook cannot read that file: it runs as a
# rendered temporary script, and cruft (create and update) gives it no template path (no
# `_repo_dir`; cookiecutter's may be relative to another directory). tests/test_hooks.py pins
# this copy, BOOLEAN_OPTIONS and post_gen_project.py's table to cookiecutter.json.
CHOICES: dict[str, tuple[str, ...]] = {
    "python_version": ("3.11", "3.12"),
    "license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
    "ml_framework": ("scikit-learn", "pytorch", "tensorflow"),
    "task": ("binary", "multiclass", "regression"),
    "experiment_tracking": ("mlflow", "none"),
    "data_versioning": ("dvc", "none"),
    "cloud_provider": ("aws", "gcp", "azure", "none"),
    "orchestrator": ("none", "airflow", "kubeflow"),
    "rollout_strategy": ("rolling", "canary", "shadow"),
    "online_experiment": ("none", "ab-test", "bandit"),
    "feature_store": ("none", "feast"),
}

BOOLEAN_OPTIONS: tuple[str, ...] = ("use_github_actions", "use_jenkins", "use_gitlab_ci")
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "off", ""})


# The same as_bool stands in post_gen_project.py: each hook runs as a standalone script.
def as_bool(value: Any) -> bool:
    """cookiecutter gives booleans; replay files and cruft may give their string forms."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def _bad(option: str, value: Any, accepted: str) -> str:
    return f"ERROR: {option}={value!r} is invalid: {accepted}"


def check_project_name(context: Mapping[str, Any]) -> str | None:
    name = str(context.get("project_name", ""))
    if not any(character.isalnum() for character in name):
        return _bad("project_name", name, "give a non-empty name with at least one letter or digit")
    return None


def check_project_slug(context: Mapping[str, Any]) -> str | None:
    slug = str(context.get("project_slug", ""))
    if not SLUG_RE.match(slug) or len(slug) > MAX_SLUG_LENGTH:
        return _bad(
            "project_slug",
            slug,
            f"use a lowercase DNS-style name of at most {MAX_SLUG_LENGTH} characters: a letter, "
            "then letters, digits and single hyphens (e.g. 'churn-model')",
        )
    return None


def check_package_name(context: Mapping[str, Any]) -> str | None:
    name = str(context.get("package_name", ""))
    if not PACKAGE_RE.match(name) or not name.isidentifier():
        return _bad(
            "package_name",
            name,
            "use a lowercase Python identifier: a letter, then letters, digits and underscores "
            "(e.g. 'churn_model')",
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return _bad("package_name", name, "it is a Python keyword; pick another name")
    if name in sys.stdlib_module_names:
        return _bad(
            "package_name",
            name,
            "it shadows a standard-library module; pick another name",
        )
    if name in RESERVED_PACKAGE_NAMES:
        return _bad("package_name", name, "it shadows a dependency or tool; pick another name")
    return None


def check_author(context: Mapping[str, Any]) -> str | None:
    if not str(context.get("author_name", "")).strip():
        return _bad("author_name", context.get("author_name", ""), "give a non-empty name")
    email = str(context.get("author_email", ""))
    if not EMAIL_RE.match(email):
        return _bad("author_email", email, "use an address like 'team@example.com'")
    return None


def check_github_org(context: Mapping[str, Any]) -> str | None:
    org = str(context.get("github_org", ""))
    if not GITHUB_ORG_RE.match(org):
        return _bad(
            "github_org",
            org,
            "use a GitHub user or organisation name: letters, digits and single hyphens, "
            "at most 39 characters",
        )
    return None


def check_choices(context: Mapping[str, Any]) -> str | None:
    for option, accepted in CHOICES.items():
        if option in context and str(context[option]) not in accepted:
            return _bad(option, context[option], "choose one of " + ", ".join(accepted))
    for option in BOOLEAN_OPTIONS:
        value = context.get(option, False)
        if (
            not isinstance(value, bool)
            and str(value).strip().lower() not in TRUE_WORDS | FALSE_WORDS
        ):
            return _bad(option, value, "answer yes or no (true / false)")
    return None


# Combinations the generated project cannot honour:
# (predicate on the context, one-line message, example answers that trigger it — for the tests).
INCOMPATIBLE: list[tuple[Callable[[Mapping[str, Any]], bool], str, dict[str, Any]]] = [
    # ci/cd: the scheduled retrain-check and template-check, the evaluation gate before a
    # deploy and the lint/test gate on every change only run from a CI system.
    (
        lambda c: (
            not any(
                as_bool(c.get(option, True))
                for option in ("use_github_actions", "use_jenkins", "use_gitlab_ci")
            )
        ),
        "use_github_actions, use_jenkins and use_gitlab_ci are all false: a production MLOps "
        "repository needs one CI system for its gates and scheduled checks; enable at least one",
        {"use_github_actions": False, "use_jenkins": False, "use_gitlab_ci": False},
    ),
    # serving: a canary/shadow rollout splits (or mirrors) live traffic between champion and
    # challenger at the ingress; an online experiment splits it again inside the server, so
    # neither result would be attributable.
    (
        lambda c: (
            str(c.get("rollout_strategy", "rolling")) != "rolling"
            and str(c.get("online_experiment", "none")) != "none"
        ),
        "rollout_strategy and online_experiment both split live traffic between champion and "
        "challenger; use rollout_strategy=rolling with an online experiment, or "
        "online_experiment=none",
        {"rollout_strategy": "canary", "online_experiment": "bandit"},
    ),
]


def check_combinations(context: Mapping[str, Any]) -> str | None:
    for applies, message, _example in INCOMPATIBLE:
        if applies(context):
            return f"ERROR: {message}"
    return None


CHECKS: tuple[Callable[[Mapping[str, Any]], str | None], ...] = (
    check_project_name,
    check_project_slug,
    check_package_name,
    check_author,
    check_github_org,
    check_choices,
    check_combinations,
)


def problems(context: Mapping[str, Any]) -> list[str]:
    """Every problem with the answers, in prompt order (empty when all is well)."""
    return [message for check in CHECKS if (message := check(context)) is not None]


def main(context: Mapping[str, Any]) -> int:
    found = problems(context)
    if found:
        # One line, first problem only, before cookiecutter's own traceback.
        print(found[0], file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | jsonify }}""")))
