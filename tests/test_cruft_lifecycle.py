"""Template lifecycle with cruft: create, user edits, template release, update, answer change.

The template's current working tree (committed or not) is copied into a throwaway git
repository and tagged as version N; a project is created from it with `cruft create`, edited
as a user would, and carried to N+1 (and N+2 for orphaned files) with `cruft update`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

from tests.conftest import VENV_CACHE
from tests.options import TEMPLATE_DIR

SLUG_DIR = "{{cookiecutter.project_slug}}"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "build", "__pycache__", "*.pyc", ".pytest_cache",
    ".ruff_cache", ".mypy_cache", "node_modules",
)  # fmt: skip
# The Makefile builds cruft's own virtualenv; keep it between runs.
CRUFT_VENV = VENV_CACHE / "cruft"
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.MULTILINE)

# What the user changes (step 2) and what the template changes for N+1 (step 3).
USER_CODE = "\n\ndef team_threshold() -> float:\n    return 0.42\n"
USER_MAKE_TARGET = "\n.PHONY: team-report\nteam-report: ## The team's own target\n\t@echo team\n"
USER_FILE = "notebooks/team_notes.md"
TEMPLATE_MAKE_LINE = "# Template N+1: this line was added by the template release.\n"
TEMPLATE_README = "\n## Support (template N+1)\n\nAsk in the team channel.\n"
TEMPLATE_EDITORCONFIG = "\n[*.md]\ntrim_trailing_whitespace = false\n"
TEMPLATE_PYPROJECT = "\n[tool.coverage.run]\nbranch = true\n"
TEMPLATE_NEW_FILE = "TEMPLATE_NOTES.md"


@pytest.fixture
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI has no git identity; user/global git config must not leak in (signing, hooks)."""
    empty = tmp_path / "gitconfig"
    empty.write_text("", encoding="utf-8")
    for key, value in {
        "GIT_AUTHOR_NAME": "Template Test",
        "GIT_AUTHOR_EMAIL": "template-test@example.com",
        "GIT_COMMITTER_NAME": "Template Test",
        "GIT_COMMITTER_EMAIL": "template-test@example.com",
        "GIT_CONFIG_GLOBAL": str(empty),
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)


def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} (in {cwd}) exited {result.returncode}:\n"
                    f"{result.stdout}\n{result.stderr}")  # fmt: skip
    return result


def cruft(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("cruft")
    assert executable, "cruft is in requirements-dev.txt"
    return run(executable, *args, cwd=cwd, check=check)


def commit_all(repo: Path, message: str, tag: str | None = None) -> str:
    run("git", "add", "--all", cwd=repo)
    run("git", "commit", "--quiet", "--message", message, cwd=repo)
    if tag:
        run("git", "tag", tag, cwd=repo)
    return run("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def files_under(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def answers(project: Path) -> dict[str, Any]:
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    return {k: v for k, v in state["context"]["cookiecutter"].items() if not k.startswith("_")}


def fresh_render(template: Path, out: Path, context: dict[str, Any]) -> Path:
    return Path(cookiecutter(str(template), no_input=True, extra_context=context,
                             output_dir=str(out), accept_hooks=True))  # fmt: skip


def skipped(project: Path) -> list[str]:
    config = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(entry).strip("/") for entry in config["tool"]["cruft"]["skip"]]


def template_files(files: dict[str, bytes], project: Path) -> dict[str, bytes]:
    """Files cruft manages: everything but .cruft.json and the skip list."""
    orphans = load_module(project / "scripts/template_orphans.py", "generated_template_orphans")
    patterns = skipped(project)
    return {
        path: data
        for path, data in files.items()
        if path != ".cruft.json" and not orphans.is_skipped(path, patterns)
    }


def assert_clean_merge(project: Path) -> None:
    assert not list(project.rglob("*.rej")), "cruft update left .rej files"
    unmerged = run("git", "diff", "--name-only", "--diff-filter=U", cwd=project).stdout
    assert not unmerged.strip(), f"unmerged paths: {unmerged}"
    for path, data in files_under(project).items():
        text = data.decode("utf-8", errors="replace")
        assert not CONFLICT_MARKER.search(text), f"conflict markers in {path}"


def make(
    project: Path, target: str, *variables: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(
        "make", "--silent", "--no-print-directory", target, f"CRUFT_VENV={CRUFT_VENV}",
        f"PYTHON={sys.executable}", *variables, cwd=project, check=check,
    )  # fmt: skip


def script_status(result: subprocess.CompletedProcess[str]) -> int:
    """The lifecycle script's exit status, as make reports it (make itself exits 2)."""
    if result.returncode == 0:
        return 0
    assert result.returncode == 2, result.stdout + result.stderr
    # `make[1]:` when the suite itself runs under make (MAKELEVEL is inherited).
    match = re.search(r"^make(?:\[\d+\])?: \*\*\* \[.*\] Error (\d+)$", result.stderr, re.MULTILINE)
    assert match, result.stderr
    return int(match.group(1))


def own_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What the script printed: every output line but make's own "make: ***" line."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if not re.match(r"make(\[\d+\])?: \*\*\*", line)]


def model_code_file(project: Path, package: str) -> Path:
    """The model code the user edits: the training package when present, else the CLI."""
    training = sorted((project / "src" / package / "training").glob("*.py"))
    candidates = [p for p in training if p.name != "__init__.py"] or training
    return candidates[0] if candidates else project / "src" / package / "cli" / "develop.py"


def edit_config(path: Path) -> str:
    """Change the first integer setting of a YAML config; return the new line."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^(\s*[a-z_]+:\s*)(\d+)\s*$", text, re.MULTILINE)
    if match:
        line = f"{match.group(1)}{int(match.group(2)) + 1}"
        text = text[: match.start()] + line + text[match.end() :]
    else:
        line = "# tuned by the team"
        text += line + "\n"
    path.write_text(text, encoding="utf-8")
    return line


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


@pytest.fixture
def template_repo(tmp_path: Path, hermetic_git: None) -> Iterator[Path]:
    """The template's working tree as a throwaway git repository, tagged v1.0.0 (version N)."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, repo, ignore=COPY_IGNORE)
    run("git", "init", "--quiet", "--initial-branch", "main", cwd=repo)
    commit_all(repo, "template N", tag="v1.0.0")
    yield repo


def test_cruft_create_matches_cookiecutter(template_repo: Path, tmp_path: Path) -> None:
    """cruft create = cookiecutter + .cruft.json; rendering and the hooks are repeatable."""
    created = tmp_path / "created"
    cruft("create", str(template_repo), "--no-input", "--checkout", "v1.0.0",
          "--output-dir", str(created), cwd=tmp_path)  # fmt: skip
    (project,) = created.iterdir()
    first = fresh_render(template_repo, tmp_path / "cc1", {})
    second = fresh_render(template_repo, tmp_path / "cc2", {})

    created_files = files_under(project)
    assert ".cruft.json" in created_files
    del created_files[".cruft.json"]
    assert created_files == files_under(first), "cruft create differs from cookiecutter"
    assert files_under(second) == files_under(first), "rendering is not deterministic"

    # cruft re-runs the post-generation hook on every update: a second run changes nothing.
    hook_source = (template_repo / "hooks/post_gen_project.py").read_text(encoding="utf-8")
    hook_path = tmp_path / "post_gen_project.py"
    hook_path.write_text(hook_source, encoding="utf-8")
    hook = load_module(hook_path, "lifecycle_post_gen_project")
    before = files_under(first)
    hook.main(answers(project), first)
    assert files_under(first) == before, "the post-gen hook is not idempotent"

    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    tag_commit = run("git", "rev-parse", "v1.0.0^{commit}", cwd=template_repo).stdout.strip()
    assert state["commit"] == tag_commit
    assert state["checkout"] == "v1.0.0"
    assert "skip" not in state, "the skip list lives in pyproject.toml [tool.cruft]"
    assert {"data", "models", "reports", "mlruns", "mlflow.db", ".env"} <= set(skipped(project))


@pytest.mark.slow
def test_cruft_update_lifecycle(template_repo: Path, tmp_path: Path) -> None:
    # 1. A project created with cruft from version N, committed. GitHub Actions off, so that
    #    step 5 can switch it on.
    workspace = tmp_path / "projects"
    cruft("create", str(template_repo), "--no-input", "--checkout", "v1.0.0",
          "--output-dir", str(workspace), "--extra-context",
          json.dumps({"use_github_actions": False}), cwd=tmp_path)  # fmt: skip
    (project,) = workspace.iterdir()
    package = answers(project)["package_name"]
    assert not (project / ".github/workflows/template-update.yml").exists()
    run("git", "init", "--quiet", "--initial-branch", "main", cwd=project)
    commit_all(project, "generated from the template")
    cruft("check", cwd=project)
    assert cruft("diff", "--exit-code", cwd=project, check=False).returncode == 0

    # 2. User edits: model code, a config, the Makefile's end, a new file.
    code_file = model_code_file(project, package)
    append(code_file, USER_CODE)
    config_line = edit_config(project / "configs/settings.yaml")
    append(project / "Makefile", USER_MAKE_TARGET)
    (project / USER_FILE).parent.mkdir(parents=True, exist_ok=True)
    (project / USER_FILE).write_text("# Team notes\n", encoding="utf-8")
    commit_all(project, "user edits")
    user_edited = {
        code_file.relative_to(project).as_posix(),
        "configs/settings.yaml",
        "Makefile",
    }

    # 3. Template N+1: several generated files change, one file is new.
    generated = template_repo / SLUG_DIR
    makefile = generated / "Makefile"
    lines = makefile.read_text(encoding="utf-8").splitlines(keepends=True)
    makefile.write_text("".join([lines[0], TEMPLATE_MAKE_LINE, *lines[1:]]), encoding="utf-8")
    append(generated / "README.md", TEMPLATE_README)
    append(generated / ".editorconfig", TEMPLATE_EDITORCONFIG)
    append(generated / "pyproject.toml", TEMPLATE_PYPROJECT)
    (generated / TEMPLATE_NEW_FILE).write_text(
        "# Notes for {{ cookiecutter.project_name }}\n\nAdded by template N+1.\n", encoding="utf-8"
    )
    n1_commit = commit_all(template_repo, "template N+1", tag="v1.1.0")
    check = cruft("check", cwd=project, check=False)
    assert check.returncode == 1, "cruft check must flag the newer template"
    outdated = make(project, "template-check", check=False)
    assert script_status(outdated) == 1, outdated.stderr
    # .github/workflows/template-update.yml tells "outdated" from a failure by this text.
    assert "template-check: out of date" in outdated.stderr

    # 4. make template-update (cruft update) applies N+1: changes land, no conflicts, user
    #    edits kept, nothing to report (exit 0).
    applied = make(project, "template-update")
    assert "template-update: applied template commit" in applied.stderr, applied.stderr
    assert_clean_merge(project)
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == n1_commit
    reference = fresh_render(template_repo, tmp_path / "n1", answers(project))
    expected = template_files(files_under(reference), project)
    actual = template_files(files_under(project), project)
    assert TEMPLATE_NEW_FILE in actual
    assert b"Notes for " + answers(project)["project_name"].encode() in actual[TEMPLATE_NEW_FILE]
    for path, data in expected.items():
        assert path in actual, f"{path} missing after the update"
        if path not in user_edited:
            assert actual[path] == data, f"{path} differs from template N+1"
    assert sorted(set(actual) - set(expected)) == [USER_FILE]
    assert USER_CODE in code_file.read_text(encoding="utf-8")
    assert config_line in (project / "configs/settings.yaml").read_text(encoding="utf-8")
    merged_makefile = (project / "Makefile").read_text(encoding="utf-8")
    assert TEMPLATE_MAKE_LINE in merged_makefile and USER_MAKE_TARGET in merged_makefile
    commit_all(project, "update to template v1.1.0")
    cruft("check", cwd=project)
    assert make(project, "template-check").returncode == 0
    # Documented: `cruft diff --exit-code` exits 1 when template-managed files differ from the
    # linked template version (the user's edits) and shows only those files.
    diff = cruft("diff", "--exit-code", cwd=project, check=False)
    assert diff.returncode == 1
    shown = set(re.findall(r"^diff --git upstream-template-old/(\S+)", diff.stdout, re.MULTILINE))
    assert shown == user_edited, diff.stdout

    # 5. Change an answer: GitHub Actions on. Its files appear; the hook's table is honoured.
    make(project, "template-answer", "SET=" + json.dumps({"use_github_actions": True}))
    assert_clean_merge(project)
    assert answers(project)["use_github_actions"] is True
    hook = load_module(template_repo / "hooks/post_gen_project.py", "lifecycle_hook_n1")
    owned = hook.OWNED_PATHS["use_github_actions"][True]
    assert ".github/workflows/template-update.yml" in owned
    for path in owned:
        assert (project / hook._expand(path, answers(project))).exists(), path
    for path in hook.paths_to_remove(answers(project)):
        assert not (project / path).exists(), f"{path} is owned by an answer not chosen"
    reference = fresh_render(template_repo, tmp_path / "n1-actions", answers(project))
    expected = template_files(files_under(reference), project)
    actual = template_files(files_under(project), project)
    assert sorted(set(actual) ^ set(expected)) == [USER_FILE]
    commit_all(project, "turn on GitHub Actions")
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()

    # 6. A second update is a no-op.
    again = cruft("update", "-y", cwd=project)
    assert "Nothing to do" in again.stdout
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""
    again = make(project, "template-update")
    assert "template-update: up to date, nothing to apply" in again.stderr, again.stderr
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""
    assert run("git", "rev-parse", "HEAD", cwd=project).stdout.strip() == head

    # Orphans: N+2 stops shipping an untouched file (cruft deletes it) and a file the user
    # edited (cruft keeps it); `make template-orphans` lists only the kept one, although the
    # history also holds renders without GitHub Actions and without TEMPLATE_NOTES.md.
    run("git", "rm", "--quiet", f"{SLUG_DIR}/{TEMPLATE_NEW_FILE}",
        f"{SLUG_DIR}/configs/settings.yaml", cwd=template_repo)  # fmt: skip
    commit_all(template_repo, "template N+2", tag="v2.0.0")
    cruft("update", "-y", cwd=project)
    assert not (project / TEMPLATE_NEW_FILE).exists()
    assert (project / "configs/settings.yaml").exists()
    commit_all(project, "update to template v2.0.0")
    orphans = make(project, "template-orphans", check=False)
    assert script_status(orphans) == 1, orphans.stdout + orphans.stderr
    assert orphans.stdout.split() == ["configs/settings.yaml"], orphans.stdout + orphans.stderr


# ---------------------------------------------------------------- what the targets report

SCRIPTS_DIR = TEMPLATE_DIR / SLUG_DIR / "scripts"
# Captured from cruft 2.16 when a file the user edited is removed by the template: the
# three-way merge fails, the `git apply --reject` retry applies the rest and skips this file.
FALLBACK_STDOUT = (
    "Failed to apply the update. Retrying again with a different update strategy.\n"
    "Project directory may have *.rej files reflecting merge conflicts with the update. "
    "Please resolve those conflicts manually.\n"
    "Good work! Project's cruft has been updated and is as clean as possible!\n"
)
FALLBACK_STDERR = """Applied patch to '.editorconfig' cleanly.
Falling back to direct application...
error: patch failed: configs/settings.yaml:1
error: configs/settings.yaml: patch does not apply

Checking patch .editorconfig...
Checking patch configs/settings.yaml...
error: while searching for:
---
seed: 42

error: patch failed: configs/settings.yaml:1
error: removal patch leaves file contents
error: configs/settings.yaml: patch does not apply
Applied patch .editorconfig cleanly.
"""
# cruft's traceback for an unknown --checkout, as rich wraps it.
BAD_REF_TRACEBACK = """\u2502    60 \u2502   \u2502   \u2502   )     \u2502
InvalidCookiecutterRepository: Unable to initialize the cookiecutter using
/tmp/template! Failed to check out the reference v9.9.9. stderr: 'error:
pathspec 'v9.9.9' did not match any file(s) known to git'
"""


@pytest.fixture
def lifecycle(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS_DIR))
    return load_module(SCRIPTS_DIR / "template_lifecycle.py", "generated_template_lifecycle")


def test_lifecycle_reads_cruft_output(lifecycle: ModuleType) -> None:
    assert lifecycle.fell_back(FALLBACK_STDOUT)
    assert not lifecycle.fell_back("Good work! Project's cruft has been updated\n")
    assert lifecycle.unapplied_paths(FALLBACK_STDERR) == ["configs/settings.yaml"]
    assert lifecycle.unapplied_paths("Applied patch to 'a.py' with conflicts.\n") == []
    line = lifecycle.cruft_failure(BAD_REF_TRACEBACK, "/tmp/template", "v9.9.9")
    assert line == (
        "template reference 'v9.9.9' not found in /tmp/template; list the valid tags with "
        "`git ls-remote --tags /tmp/template`"
    )
    clone = lifecycle.cruft_failure("... Failed to clone the\nrepo. fatal: ...", "u", None)
    assert clone.startswith("cannot clone the template u;")
    other = lifecycle.cruft_failure("Traceback ...\nValueError: boom\n", "u", None)
    assert other == "cruft failed: ValueError: boom"


def test_lifecycle_checks_the_answers(lifecycle: ModuleType) -> None:
    state = {"context": {"cookiecutter": {"ml_framework": "sklearn", "_template": "x"}}}
    assert lifecycle.parse_answers('{"ml_framework": "pytorch"}', state) == {
        "ml_framework": "pytorch"
    }
    for text, message in [
        ("", "non-empty JSON object"),
        ("[1]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ("{ml_framework: x}", "not valid JSON"),
        ('{"_template": "y"}', "unknown answer(s) _template; the answers in .cruft.json are: "
                               "ml_framework"),
    ]:  # fmt: skip
        with pytest.raises(lifecycle.LifecycleError, match=re.escape(message)):
            lifecycle.parse_answers(text, state)


def fake_venv(tmp_path: Path, project: Path) -> Path:
    """A VENV holding only ruff (the template's own), newer than pyproject.toml and uv.lock
    (an empty stand-in: nothing is installed from it), so that `make format` runs the real ruff
    without installing the project's ML stack."""
    (project / "uv.lock").touch()
    venv = tmp_path / "ruff-venv"
    (venv / "bin").mkdir(parents=True)
    ruff = shutil.which("ruff")
    assert ruff, "ruff is in requirements-dev.txt"
    (venv / "bin" / "ruff").symlink_to(ruff)
    (venv / ".installed").touch()
    assert (venv / ".installed").stat().st_mtime >= (project / "pyproject.toml").stat().st_mtime
    return venv


PARAMETERS = ("first_value", "second_value", "third_value", "fourth_value", "fifth_value")
SIGNATURE = f"def total({', '.join(f'{name}: int' for name in PARAMETERS)}) -> int:"
LONG_COMMENT = (
    "# A comment longer than the line length limit, " + "that no formatter shortens, " * 3 + "ok"
)
LONG_LINES = (
    f"import os\n\n\n{SIGNATURE}\n    return {' + '.join(PARAMETERS)}\n\n\n{LONG_COMMENT}\n"
)


def test_make_format_formats_then_reports_what_it_cannot_fix(
    template_repo: Path, tmp_path: Path
) -> None:
    project = fresh_render(template_repo, tmp_path / "fmt", {})
    (package,) = (project / "src").iterdir()
    module = package / "long_lines.py"
    assert len(SIGNATURE) > 100 and len(LONG_COMMENT) > 100
    module.write_text(LONG_LINES, encoding="utf-8")
    venv = fake_venv(tmp_path, project)
    result = run("make", "--no-print-directory", "format", f"VENV={venv}", cwd=project)
    text = module.read_text(encoding="utf-8")
    assert "import os" not in text, "ruff check --fix did not run"
    assert "def total(\n" in text, "ruff format did not split the long signature"
    comment = [n for n, line in enumerate(text.splitlines(), 1) if line == LONG_COMMENT]
    assert f"long_lines.py:{comment[0]}:" in result.stdout and "E501" in result.stdout
    assert "format: ruff cannot fix the findings above" in result.stderr
    run(str(venv / "bin/ruff"), "format", "--check", str(module), cwd=project)


@pytest.mark.slow
def test_template_targets_report_what_needs_you(template_repo: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "projects"
    cruft("create", str(template_repo), "--no-input", "--checkout", "v1.0.0",
          "--output-dir", str(workspace), cwd=tmp_path)  # fmt: skip
    (project,) = workspace.iterdir()
    run("git", "init", "--quiet", "--initial-branch", "main", cwd=project)
    commit_all(project, "generated from the template")

    # A bad reference: one line naming it and how to list the valid ones; status 2, no traceback.
    for target in ("template-check", "template-update"):
        bad = make(project, target, "TEMPLATE_REF=v9.9.9", check=False)
        assert script_status(bad) == 2, bad.stderr
        assert own_lines(bad) == [
            f"error: template reference 'v9.9.9' not found in {template_repo}; list the valid "
            f"tags with `git ls-remote --tags {template_repo}`"
        ], bad.stdout + bad.stderr

    # An answer change on a dirty tree is refused; so is an unknown answer.
    edit_config(project / "configs/model_config.yaml")
    dirty = make(project, "template-answer", 'SET={"ml_framework": "pytorch"}', check=False)
    assert script_status(dirty) == 2
    assert own_lines(dirty) == [
        "error: the git tree has 1 uncommitted change(s) (first: configs/model_config.yaml); "
        "commit or stash them first"
    ]
    commit_all(project, "tune a hyper-parameter")
    unknown = make(project, "template-answer", 'SET={"framework": "pytorch"}', check=False)
    assert script_status(unknown) == 2
    assert len(own_lines(unknown)) == 1 and "unknown answer(s) framework" in unknown.stderr

    # The new framework's config replaces the tuned one: a conflict, named, status 3 (cruft
    # itself says "Good work!" and exits 0).
    answer = make(project, "template-answer", 'SET={"ml_framework": "pytorch"}', check=False)
    assert script_status(answer) == 3, answer.stderr
    assert "unmerged (resolve, then `git add`):\n  configs/model_config.yaml\n" in answer.stderr
    assert "template-answer: needs attention: 1 path(s)" in answer.stderr
    assert answers(project)["ml_framework"] == "pytorch"
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    tag_commit = run("git", "rev-parse", "v1.0.0^{commit}", cwd=template_repo).stdout.strip()
    assert (state["commit"], state["checkout"]) == (tag_commit, "v1.0.0"), "answer only"
    assert CONFLICT_MARKER.search((project / "configs/model_config.yaml").read_text())
    run("git", "reset", "--quiet", "--hard", cwd=project)
    run("git", "clean", "--quiet", "-fd", cwd=project)

    # The template removes a file the user edited: cruft's three-way merge fails, its
    # `git apply --reject` retry applies the rest unstaged and skips the file, writing no *.rej.
    append(project / "configs/settings.yaml", "# the team's note\n")
    commit_all(project, "user edits settings.yaml")
    run("git", "rm", "--quiet", f"{SLUG_DIR}/configs/settings.yaml", cwd=template_repo)
    append(template_repo / SLUG_DIR / ".editorconfig", TEMPLATE_EDITORCONFIG)
    commit_all(template_repo, "template N+1 drops settings.yaml", tag="v1.1.0")
    update = make(project, "template-update", check=False)
    assert script_status(update) == 3, update.stderr
    assert not list(project.rglob("*.rej"))
    assert "template-update: cruft fell back to `git apply --reject`" in update.stderr
    assert "could not apply (apply them by hand; `make template-diff` shows the template's " \
           "version):\n  configs/settings.yaml\n" in update.stderr  # fmt: skip
    assert "no longer shipped by the template" in update.stderr
    assert "template-update: needs attention: 1 path(s)" in update.stderr
    assert run("git", "diff", "--name-only", cwd=project).stdout.split() == [
        ".cruft.json",
        ".editorconfig",
    ], "the fallback's changes are unstaged"
