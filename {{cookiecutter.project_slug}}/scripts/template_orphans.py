"""List files the template stopped shipping that are still in this project.

`cruft update` applies the template's diff: a file the template deleted is deleted here too,
unless it was edited locally (then git refuses the deletion and the file stays). Such files,
and files owned by an option you switched off after editing them, are "orphans": nothing
maintains them any more.

How: every earlier template state recorded in the git history of .cruft.json (template commit
+ answers) is rendered with `cruft create`, and so is the current one. Orphans are the paths
an earlier render had, the current render lacks, and the project still contains, minus the
paths listed in `[tool.cruft] skip` (pyproject.toml): add a path there to keep it on purpose.

Exit status: 0 no orphans, 1 orphans listed on stdout (one per line), 2 usage error.
Run it through `make template-orphans`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

CRUFT_FILE = ".cruft.json"


class OrphanError(Exception):
    """A problem the user can fix; printed as one line."""


def git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise OrphanError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def load_state(text: str, where: str) -> dict[str, Any]:
    try:
        state = json.loads(text)
        return {
            "template": str(state["template"]),
            "commit": str(state["commit"]),
            "directory": state.get("directory"),
            "context": {
                key: value
                for key, value in state["context"]["cookiecutter"].items()
                if not key.startswith("_")
            },
        }
    except (ValueError, KeyError, TypeError) as error:
        raise OrphanError(
            f"{where} is not a cruft state file ({error}); restore it from git history"
        ) from error


def is_git_checkout(project: Path) -> bool:
    probe = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() == "true"


def earlier_states(project: Path, current: dict[str, Any]) -> list[dict[str, Any]]:
    """Distinct template states from the committed history of .cruft.json, oldest first."""
    if not is_git_checkout(project):  # no history to compare with
        return []
    revisions = git(project, "log", "--format=%H", "--", CRUFT_FILE).split()
    states: list[dict[str, Any]] = []
    for revision in reversed(revisions):
        text = git(project, "show", f"{revision}:{CRUFT_FILE}")
        state = load_state(text, f"{CRUFT_FILE} at {revision[:12]}")
        if state != current and state not in states:
            states.append(state)
    return states


def rendered_files(
    cruft: str, state: dict[str, Any], workdir: Path, clones: dict[str, Path]
) -> set[str]:
    """Relative paths of the files the template renders for `state` (without .cruft.json)."""
    workdir.mkdir(parents=True)
    template = state["template"]
    if template not in clones:  # fetch each template once (all refs), render from the copy
        clone = workdir / "template.git"
        result = subprocess.run(
            ["git", "clone", "--quiet", "--mirror", template, str(clone)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise OrphanError(
                f"cannot clone template {template}: {result.stderr.strip()}; "
                "check the template URL in .cruft.json and your access to it"
            )
        clones[template] = clone
    answers = workdir / "answers.json"
    answers.write_text(json.dumps(state["context"]), encoding="utf-8")
    output = workdir / "out"
    command = [
        cruft,
        "create",
        str(clones[template]),
        "--checkout",
        state["commit"],
        "--no-input",
        "--extra-context-file",
        str(answers),
        "--output-dir",
        str(output),
    ]
    if state["directory"]:
        command += ["--directory", str(state["directory"])]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
        raise OrphanError(
            f"cannot render template {state['template']} at {state['commit'][:12]}: "
            f"{' '.join(last) or 'cruft create failed'}; check that the commit is in the template"
        )
    (project_dir,) = [path for path in output.iterdir() if path.is_dir()]
    return {
        path.relative_to(project_dir).as_posix()
        for path in project_dir.rglob("*")
        if path.is_file() and path.name != CRUFT_FILE
    }


def skip_patterns(project: Path) -> list[str]:
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        return []
    try:
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise OrphanError(f"pyproject.toml does not parse ({error}); fix the TOML") from error
    skip = config.get("tool", {}).get("cruft", {}).get("skip", [])
    return [str(entry).strip("/") for entry in skip]


def is_skipped(path: str, patterns: list[str]) -> bool:
    """cruft's rule: entries with '*' are globs, others are exact file or directory paths."""
    parents = [path] + ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    for pattern in patterns:
        if "*" in pattern:
            if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in parents):
                return True
        elif pattern in parents:
            return True
    return False


def find_orphans(project: Path, cruft: str) -> tuple[list[str], int]:
    cruft_file = project / CRUFT_FILE
    if not cruft_file.is_file():
        raise OrphanError(
            f"{cruft_file} not found; run this in a project created with `cruft create` "
            "(or link one with `cruft link`)"
        )
    current = load_state(cruft_file.read_text(encoding="utf-8"), CRUFT_FILE)
    earlier = earlier_states(project, current)
    if not earlier:
        return [], 0
    clones: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="template-orphans-") as tmp:
        now = rendered_files(cruft, current, Path(tmp) / "current", clones)
        before: set[str] = set()
        for index, state in enumerate(earlier):
            before |= rendered_files(cruft, state, Path(tmp) / f"earlier-{index}", clones)
    patterns = skip_patterns(project)
    orphans = sorted(
        path
        for path in before - now
        if (project / path).exists() and not is_skipped(path, patterns)
    )
    return orphans, len(earlier)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path(), help="project directory")
    parser.add_argument("--cruft", default=None, help="cruft executable (default: on PATH)")
    args = parser.parse_args(argv)
    cruft = shutil.which(args.cruft or "cruft")
    try:
        if cruft is None:
            raise OrphanError("cruft not found; run `make template-orphans` (installs it)")
        orphans, compared = find_orphans(args.project.resolve(), str(Path(cruft).absolute()))
    except OrphanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if compared == 0:
        print(
            f"template-orphans: no earlier template version in the git history of {CRUFT_FILE}; "
            "nothing to compare",
            file=sys.stderr,
        )
        return 0
    if not orphans:
        print(
            f"template-orphans: none (compared with {compared} earlier version(s))",
            file=sys.stderr,
        )
        return 0
    print(
        f"template-orphans: {len(orphans)} file(s) the template no longer ships; delete them, "
        "or list them under [tool.cruft] skip in pyproject.toml to keep them:",
        file=sys.stderr,
    )
    for path in orphans:
        print(path)
    return 1


if __name__ == "__main__":
    sys.exit(main())
