"""Check this project against its template, apply template updates and answer changes.

`cruft update` reports success even when it leaves conflicts behind, and when its three-way
merge fails it retries with `git apply --reject`, which skips what it cannot apply (for
example an edited file the template removes) and leaves the rest unstaged. This script runs
cruft, then inspects cruft's output and the git state and lists every file that needs you:
conflict markers, `*.rej` files, paths cruft could not apply, and orphans
(scripts/template_orphans.py).

Commands (run them through make):
  check   `make template-check`               is the template ahead of .cruft.json?
  update  `make template-update`              apply the template's changes
  answer  `make template-answer SET='{...}'`  change answers, at the recorded template commit

Exit status (make then prints "Error <status>" and itself exits 2):
  0  check: up to date; update/answer: applied (or nothing to apply), nothing to resolve
  1  check: out of date, the template has moved past the commit in .cruft.json
  2  usage error, not a clean git checkout, bad reference, template unreachable, cruft failed
  3  update/answer: applied, but files need you (listed on stderr)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from template_orphans import CRUFT_FILE, OrphanError, find_orphans, is_git_checkout

UP_TO_DATE, OUT_OF_DATE, ERROR, NEEDS_YOU = 0, 1, 2, 3
FALLBACK_MARKERS = ("Retrying again with a different update strategy", "may have *.rej files")
NOTHING_TO_DO = "Nothing to do"
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.MULTILINE)
# `git apply` names the paths it could not apply in lines like these (cruft passes them on).
PATCH_FAILED = re.compile(r"^error: patch failed: (?P<path>.+):\d+$", re.MULTILINE)
PATH_ERROR = re.compile(r"^error: (?P<path>[^:\n]+): (?P<why>[^\n]+)$", re.MULTILINE)


class LifecycleError(Exception):
    """A problem the user can fix; printed as one line, exit 2."""


def git(project: Path, *args: str) -> list[str]:
    result = subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LifecycleError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return [line for line in result.stdout.splitlines() if line]


def read_state(project: Path) -> dict[str, Any]:
    path = project / CRUFT_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if not (
            isinstance(state["template"], str)
            and isinstance(state["commit"], str)
            and isinstance(state["context"]["cookiecutter"], dict)
        ):
            raise TypeError("template, commit or context.cookiecutter has the wrong type")
    except FileNotFoundError as error:
        raise LifecycleError(
            f"{path} not found; this project is not linked to its template "
            "(cruft link <template url> adds it)"
        ) from error
    except (ValueError, KeyError, TypeError) as error:
        raise LifecycleError(
            f"{path} is not a cruft state file ({error}); restore it from git history"
        ) from error
    return state


def require_clean_checkout(project: Path) -> None:
    """cruft merges through git: the update must be the only change in the tree."""
    if not is_git_checkout(project):
        raise LifecycleError("not a git checkout; run `git init && git add -A && git commit` first")
    dirty = git(project, "status", "--porcelain")
    if dirty:
        raise LifecycleError(
            f"the git tree has {len(dirty)} uncommitted change(s) (first: {dirty[0][3:]}); "
            "commit or stash them first"
        )


def parse_answers(text: str, state: dict[str, Any]) -> dict[str, Any]:
    """The SET='{...}' JSON object, checked against the answers recorded in .cruft.json."""
    example = """SET='{"use_gitlab_ci": true}'"""
    try:
        answers = json.loads(text) if text.strip() else None
    except ValueError as error:
        raise LifecycleError(f"SET is not valid JSON ({error}); e.g. {example}") from error
    if not isinstance(answers, dict) or not answers:
        raise LifecycleError(f"SET must be a non-empty JSON object of answers, e.g. {example}")
    known = sorted(k for k in state["context"]["cookiecutter"] if not k.startswith("_"))
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise LifecycleError(
            f"unknown answer(s) {', '.join(unknown)}; the answers in {CRUFT_FILE} are: "
            + ", ".join(known)
        )
    return answers


def run_cruft(cruft: str, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Wide and colourless, so that cruft's messages are not wrapped or escaped.
    env = os.environ | {"COLUMNS": "500", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [cruft, *args], cwd=project, capture_output=True, text=True, env=env, check=False
    )


def cruft_failure(output: str, template: str, ref: str | None) -> str:
    """One line for a failed cruft run (cruft itself prints a long traceback)."""
    text = " ".join(output.split())
    if "Failed to check out the reference" in text:
        return (
            f"template reference {ref!r} not found in {template}; list the valid tags with "
            f"`git ls-remote --tags {template}`"
        )
    if "Failed to clone the repo" in text:
        return (
            f"cannot clone the template {template}; check the template URL in {CRUFT_FILE} "
            "and your access to it"
        )
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"cruft failed: {lines[-1] if lines else 'no output'}"


def unapplied_paths(stderr: str) -> list[str]:
    """Paths `git apply` reported it could not apply, in order, each once."""
    paths = [m["path"] for m in PATCH_FAILED.finditer(stderr)]
    paths += [m["path"] for m in PATH_ERROR.finditer(stderr) if m["path"] != "patch failed"]
    return list(dict.fromkeys(path.strip() for path in paths))


def fell_back(stdout: str) -> bool:
    return any(marker in stdout for marker in FALLBACK_MARKERS)


@dataclass
class Report:
    """What an update left for the user, by kind; empty when there is nothing to resolve."""

    unmerged: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    fallback: bool = False

    def sections(self) -> list[tuple[str, list[str]]]:
        return [
            ("unmerged (resolve, then `git add`)", self.unmerged),
            ("conflict markers (resolve them)", self.markers),
            ("*.rej files (apply the rejected hunks by hand, then delete them)", self.rejects),
            (
                "template changes cruft could not apply (apply them by hand; "
                "`make template-diff` shows the template's version)",
                self.unapplied,
            ),
            (
                "orphans, no longer shipped by the template (delete them, or keep them "
                "under [tool.cruft] skip in pyproject.toml)",
                self.orphans,
            ),
        ]

    def paths(self) -> set[str]:
        return {path for _, paths in self.sections() for path in paths}


def inspect(project: Path, result: subprocess.CompletedProcess[str], cruft: str) -> Report:
    unmerged = git(project, "diff", "--name-only", "--diff-filter=U")
    changed = git(project, "diff", "--name-only", "HEAD")
    changed += git(project, "ls-files", "--others", "--exclude-standard")
    markers = [
        path
        for path in dict.fromkeys(changed)
        if path not in unmerged
        and (project / path).is_file()
        and CONFLICT_MARKER.search((project / path).read_text(encoding="utf-8", errors="replace"))
    ]
    # Without --exclude-standard: a *.rej next to an ignored file is still a rejected change.
    rejects = git(project, "ls-files", "--others", "--", "*.rej")
    try:
        orphans, _ = find_orphans(project, cruft)
    except OrphanError as error:
        raise LifecycleError(f"applied, but listing the orphans failed: {error}") from error
    return Report(
        unmerged=unmerged,
        markers=markers,
        rejects=rejects,
        unapplied=[p for p in unapplied_paths(result.stderr) if p not in unmerged],
        orphans=orphans,
        # The fallback applies to the work tree only; the three-way merge stages its result.
        fallback=fell_back(result.stdout)
        or (bool(git(project, "diff", "--name-only", "--", ".", f":!{CRUFT_FILE}"))
            and not git(project, "diff", "--cached", "--name-only")),
    )  # fmt: skip


def print_report(name: str, report: Report, commit: str) -> int:
    if report.fallback:
        print(
            f"{name}: cruft fell back to `git apply --reject`: what it applied is unstaged "
            "(review it with `git status` and `git diff`, then `git add` it)",
            file=sys.stderr,
        )
    for title, paths in report.sections():
        if paths:
            print(f"{name}: {title}:", file=sys.stderr)
            for path in paths:
                print(f"  {path}", file=sys.stderr)
    count = len(report.paths())
    if count or report.fallback:
        print(
            f"{name}: needs attention: {count} path(s) listed above ({CRUFT_FILE} now records "
            f"template commit {commit[:12]}); resolve them, then commit",
            file=sys.stderr,
        )
        return NEEDS_YOU
    print(f"{name}: applied template commit {commit[:12]}; review and commit", file=sys.stderr)
    return UP_TO_DATE


def keep_recorded_checkout(project: Path, pinned: str, recorded: object) -> None:
    """cruft records the --checkout it was given; an answer change pinned to the recorded
    commit keeps the reference the project was following (the field is informational)."""
    path = project / CRUFT_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(f'"checkout": {json.dumps(pinned)}', f'"checkout": {json.dumps(recorded)}', 1),
        encoding="utf-8",
    )


def check(project: Path, cruft: str, ref: str | None) -> int:
    state = read_state(project)
    result = run_cruft(cruft, project, "check", *(["--checkout", ref] if ref else []))
    where = f"template at {ref}" if ref else "template's default branch"
    if result.returncode == 0:
        print(f"template-check: up to date with the {where}", file=sys.stderr)
        return UP_TO_DATE
    if "out of date" in result.stdout:
        print(
            f"template-check: out of date: the {where} has moved past commit "
            f"{state['commit'][:12]} in {CRUFT_FILE}; run `make template-update`",
            file=sys.stderr,
        )
        return OUT_OF_DATE
    raise LifecycleError(cruft_failure(result.stdout + result.stderr, state["template"], ref))


def update(project: Path, cruft: str, ref: str | None, answers: str | None = None) -> int:
    """`cruft update`, or with `answers` a change of answers; then report what needs you."""
    name = "template-answer" if answers is not None else "template-update"
    state = read_state(project)
    args = ["update", "--skip-apply-ask"]
    pinned = answers is not None and not ref
    if answers is not None:
        args += ["--variables-to-update", json.dumps(parse_answers(answers, state))]
        ref = ref or str(state["commit"])  # change the answer only, not the template version
    if ref:
        args += ["--checkout", ref]
    require_clean_checkout(project)
    result = run_cruft(cruft, project, *args)
    if result.returncode != 0:
        raise LifecycleError(cruft_failure(result.stdout + result.stderr, state["template"], ref))
    if pinned:
        keep_recorded_checkout(project, str(ref), state.get("checkout"))
    report = inspect(project, result, cruft)
    commit = str(read_state(project)["commit"])
    unchanged = NOTHING_TO_DO in result.stdout or not git(project, "status", "--porcelain")
    if unchanged and not report.paths():
        print(f"{name}: up to date, nothing to apply", file=sys.stderr)
        return UP_TO_DATE
    return print_report(name, report, commit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "update", "answer"])
    parser.add_argument("--project", type=Path, default=Path(), help="project directory")
    parser.add_argument("--cruft", default="cruft", help="cruft executable")
    parser.add_argument("--checkout", default=None, help="template tag, branch or commit")
    parser.add_argument("--set", default=None, help="answers to change, a JSON object")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    ref = args.checkout or None
    found = shutil.which(args.cruft)
    try:
        if found is None:
            raise LifecycleError(f"{args.cruft} not found; run this through make (installs cruft)")
        cruft = str(Path(found).absolute())
        if args.command == "check":
            return check(project, cruft, ref)
        if args.command == "answer":
            return update(project, cruft, ref, answers=args.set or "")
        return update(project, cruft, ref)
    except LifecycleError as error:
        print(f"error: {error}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
