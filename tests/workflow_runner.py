"""A stand-in GitHub Actions runner for the template's tests: one job's steps from a fresh clone.

`WorkflowRunner.run_job(workflow, job)` reads `.github/workflows/<workflow>` of a committed
project and runs the job in a new clone: the `run:` steps in order with `bash -e`, the env the
workflow, the job and the step set (`${{ secrets.* }}`, `${{ vars.* }}`, `${{ github.* }}` from
the contexts given), `if:` conditions, and each `uses:` step replaced by a stand-in for what it
provides (checkout = the clone, setup-python = a cached virtualenv; pass more in `uses=`, e.g. a
Docker engine's build for the deploy job). An expression, condition or action it cannot honour
fails the test instead of being skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import require_tool

EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
PACKAGE_PREFIX = "CHURN_MODEL_"
# Variables of the machine running the tests that a fresh runner would not have.
SCRUBBED = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "VIRTUAL_ENV", "DATABASE_URL")
STEP_TIMEOUT_S = 900


# ---------------------------------------------------------------- the runner
@dataclass
class StepResult:
    name: str
    returncode: int
    output: str


@dataclass
class JobResult:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.returncode == 0 for step in self.steps)

    def step(self, name: str) -> StepResult:
        return next(step for step in self.steps if step.name == name)

    def names(self) -> list[str]:
        return [step.name for step in self.steps]

    def log(self) -> str:
        return "\n".join(
            f"--- {s.name} (exit {s.returncode})\n{s.output[-3000:]}" for s in self.steps
        )


# A `uses:` stand-in gets the step's `with:` and the job's env; it returns an error or None.
UsesStandIn = Callable[[dict[str, Any], dict[str, str]], str | None]


class WorkflowRunner:
    """Runs a job's steps from a fresh clone of `origin`, like a GitHub-hosted runner."""

    def __init__(self, origin: Path, workdir: Path, contexts: dict[str, dict[str, str]]) -> None:
        self.origin = origin
        self.workdir = workdir
        self.contexts = contexts
        self.runs = 0

    def substitute(self, text: str, env: dict[str, str]) -> str:
        def value(match: re.Match[str]) -> str:
            root, _, name = match.group(1).partition(".")
            if root == "env":
                return env.get(name, "")
            if root not in self.contexts:
                raise AssertionError(f"the runner has no '{root}' context: {match.group(0)}")
            return self.contexts[root].get(name, "")  # unset secrets read as '', like GitHub

        return EXPRESSION.sub(value, str(text))

    @staticmethod
    def condition(expression: str | None, env: dict[str, str], failed: bool) -> bool:
        if expression is None:
            return not failed
        text = EXPRESSION.sub(lambda m: m.group(1), expression).strip()
        if text == "always()":
            return True
        if text == "failure()":
            return failed
        if text == "success()":
            return not failed
        compared = re.fullmatch(r"env\.(\w+) (==|!=) ''", text)
        if compared is None:
            raise AssertionError(f"the runner cannot evaluate `if: {expression}`")
        empty = env.get(compared.group(1), "") == ""
        return (empty if compared.group(2) == "==" else not empty) and not failed

    def base_env(self, clone: Path, extra: dict[str, str]) -> dict[str, str]:
        machine = {
            key: value
            for key, value in os.environ.items()
            if key not in SCRUBBED and not key.startswith(("MLFLOW_", PACKAGE_PREFIX, "PYTEST_"))
        }
        runner = clone.parent / "runner"
        runner.mkdir(exist_ok=True)
        return (
            machine
            | {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(clone),
                "GITHUB_OUTPUT": str(runner / "output"),
                "GITHUB_ENV": str(runner / "env"),
                "RUNNER_TEMP": str(runner),
            }
            | extra
        )

    def run_job(
        self,
        workflow: str,
        job_name: str,
        *,
        uses: dict[str, UsesStandIn] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> JobResult:
        """Run `job_name` of `.github/workflows/<workflow>` from a new clone."""
        self.runs += 1
        clone = self.workdir / f"run-{self.runs}" / "workspace"
        clone.parent.mkdir(parents=True)
        spec = yaml.safe_load((self.origin / ".github/workflows" / workflow).read_text())
        job = spec["jobs"][job_name]
        env = self.base_env(clone, extra_env or {})
        for scope in (spec.get("env", {}), job.get("env", {})):
            env |= {key: self.substitute(value, env) for key, value in scope.items()}
        stand_ins: dict[str, UsesStandIn] = {"actions/checkout": self.checkout}
        stand_ins |= uses or {}
        result, failed = JobResult(), False
        for index, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("run") or step["uses"].split("@")[0]
            if not self.condition(step.get("if"), env, failed):
                continue
            step_env = env | {k: self.substitute(v, env) for k, v in step.get("env", {}).items()}
            if "uses" in step:
                action = step["uses"].split("@")[0]
                assert action in stand_ins, f"no stand-in for `uses: {action}` ({name})"
                error = stand_ins[action](step.get("with", {}), env)
                result.steps.append(StepResult(name, int(error is not None), error or action))
                failed = failed or error is not None
                continue
            assert set(step) <= {"name", "id", "run", "if", "env"}, f"unsupported keys: {step}"
            script = clone.parent / "runner" / f"step-{index}.sh"
            script.write_text(self.substitute(step["run"], step_env))
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-e", str(script)],
                cwd=clone, env=step_env, capture_output=True, text=True,
                timeout=STEP_TIMEOUT_S, check=False,
            )  # fmt: skip
            result.steps.append(StepResult(name, done.returncode, done.stdout + done.stderr))
            failed = failed or done.returncode != 0
        return result

    def checkout(self, _with: dict[str, Any], env: dict[str, str]) -> str | None:
        """actions/checkout: the workspace is a fresh clone of the repository."""
        git = require_tool("git", "apt-get install git")
        subprocess.run(
            [git, "clone", "--quiet", str(self.origin), env["GITHUB_WORKSPACE"]],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return None


def setup_python(venv: Path) -> UsesStandIn:
    """actions/setup-python: `venv`, the cached virtualenv the project's `make install` fills."""

    def stand_in(_with: dict[str, Any], env: dict[str, str]) -> str | None:
        env["VENV"] = str(venv)
        return None

    return stand_in


def upload_artifact(uploaded: list[Path]) -> UsesStandIn:
    """actions/upload-artifact: note which listed paths exist (nothing leaves the machine)."""

    def stand_in(with_: dict[str, Any], env: dict[str, str]) -> str | None:
        workspace = Path(env["GITHUB_WORKSPACE"])
        lines = [line.strip() for line in str(with_["path"]).splitlines() if line.strip()]
        found = [workspace / line for line in lines if (workspace / line).exists()]
        uploaded.extend(found)
        if not found and with_.get("if-no-files-found") == "error":
            return f"upload-artifact: none of {lines} exists"
        return None

    return stand_in
