"""A stand-in GitHub Actions runner for the template's tests: one job's steps from a fresh clone.

`WorkflowRunner.run_job(workflow, job)` reads `.github/workflows/<workflow>` of a committed
project and runs the job in a new clone: the `run:` steps in order with `bash -e`, the env the
workflow, the job and the step set (`${{ secrets.* }}`, `${{ vars.* }}`, `${{ github.* }}` from
the contexts given, `a || 'default'` too), `if:` conditions (`env.X == 'value'`), step
outputs (`$GITHUB_OUTPUT`, `steps.<id>.outputs`), job outputs and `needs.<job>.outputs` of
the jobs it needs, and each `uses:` step replaced by a stand-in for what it provides
(checkout = the clone, setup-python = a cached virtualenv; pass more in `uses=`). A step that
needs what the machine cannot reach (a cloud login, a container registry, a cluster) is stood
in only when the caller names it (its `run:` text or its action) in `stand_ins=` with the
reason, a `run:` step optionally with a command run in its place (the part that needs no
cloud); the result records every stand-in, and one that matches no step fails. An
expression, condition or action it cannot honour fails the test instead of being skipped.
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
    stood_in: str = ""  # why the step did not run as written (empty: it did)


@dataclass(frozen=True)
class StandIn:
    """A `run:` step the machine cannot run as written: why, and what runs instead (or nothing)."""

    reason: str
    instead: str = ""


@dataclass
class JobResult:
    workspace: Path
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    def stood_in(self) -> dict[str, str]:
        """Step name -> reason, for every step that was stood in."""
        return {step.name: step.stood_in for step in self.steps if step.stood_in}

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

    def substitute(
        self, text: str, env: dict[str, str], job: dict[str, dict[str, str]] | None = None
    ) -> str:
        """`${{ ... }}` from env, the job's own contexts (steps, needs), then the runner's."""
        contexts = self.contexts | (job or {})

        def operand(text: str, whole: str) -> str:
            if text.startswith("'") and text.endswith("'"):
                return text[1:-1]
            root, _, name = text.partition(".")
            if root == "env":
                return env.get(name, "")
            if root not in contexts:
                raise AssertionError(f"the runner has no '{root}' context: {whole}")
            if root in {"steps", "needs"} and name not in contexts[root]:
                raise AssertionError(f"nothing set {whole}")
            return contexts[root].get(name, "")  # unset secrets read as '', like GitHub

        def value(match: re.Match[str]) -> str:
            # `a || b || 'default'`: the first non-empty operand, as GitHub's falsy rule gives
            values = [operand(part.strip(), match.group(0)) for part in match.group(1).split("||")]
            return next((item for item in values if item), "")

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
        compared = re.fullmatch(r"env\.(\w+) (==|!=) '([^']*)'", text)
        if compared is None:
            raise AssertionError(f"the runner cannot evaluate `if: {expression}`")
        equal = env.get(compared.group(1), "") == compared.group(3)
        return (equal if compared.group(2) == "==" else not equal) and not failed

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
        stand_ins: dict[str, StandIn] | None = None,
        needs: dict[str, JobResult] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> JobResult:
        """Run `job_name` of `.github/workflows/<workflow>` from a new clone."""
        self.runs += 1
        clone = self.workdir / f"run-{self.runs}" / "workspace"
        clone.parent.mkdir(parents=True)
        spec = yaml.safe_load((self.origin / ".github/workflows" / workflow).read_text())
        job = spec["jobs"][job_name]
        assert "if" not in job, f"the runner does not evaluate the job-level `if:` of {job_name}"
        needed = needs or {}
        assert set(needed) == set(job.get("needs", [])), f"{job_name} needs {job.get('needs')}"
        contexts: dict[str, dict[str, str]] = {
            "steps": {},
            "needs": {
                f"{n}.outputs.{k}": v for n, r in needed.items() for k, v in r.outputs.items()
            },
        }
        env = self.base_env(clone, extra_env or {})
        for scope in (spec.get("env", {}), job.get("env", {})):
            env |= {key: self.substitute(value, env, contexts) for key, value in scope.items()}
        actions: dict[str, UsesStandIn] = {"actions/checkout": self.checkout} | (uses or {})
        replaced = stand_ins or {}
        unmatched = set(replaced) - {
            step["run"].strip() if "run" in step else step["uses"].split("@")[0]
            for step in job["steps"]
        }
        assert not unmatched, f"stand-ins that match no step of {job_name}: {sorted(unmatched)}"
        result, failed = JobResult(clone), False
        for index, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("run") or step["uses"].split("@")[0]
            if not self.condition(step.get("if"), env, failed):
                continue
            step_env = env | {
                k: self.substitute(v, env, contexts) for k, v in step.get("env", {}).items()
            }
            if "uses" in step and step["uses"].split("@")[0] in replaced:
                stand_in = replaced[step["uses"].split("@")[0]]  # a cloud login: nothing to do
                assert not stand_in.instead, f"`uses:` stand-ins run nothing ({name})"
                result.steps.append(
                    StepResult(name, 0, f"stood in ({stand_in.reason})", stand_in.reason)
                )
                continue
            if "uses" in step:
                action = step["uses"].split("@")[0]
                assert action in actions, f"no stand-in for `uses: {action}` ({name})"
                error = actions[action](step.get("with", {}), env)
                result.steps.append(StepResult(name, int(error is not None), error or action))
                failed = failed or error is not None
                continue
            assert set(step) <= {"name", "id", "run", "if", "env"}, f"unsupported keys: {step}"
            stand_in = replaced.get(step["run"].strip())
            done = self.run_step(step, index, name, step_env, contexts, stand_in)
            result.steps.append(done)
            failed = failed or done.returncode != 0
        result.outputs = {
            key: self.substitute(value, env, contexts)
            for key, value in job.get("outputs", {}).items()
        }
        return result

    def run_step(
        self,
        step: dict[str, Any],
        index: int,
        name: str,
        env: dict[str, str],
        contexts: dict[str, dict[str, str]],
        stand_in: StandIn | None,
    ) -> StepResult:
        """A `run:` step (or its stand-in); its `$GITHUB_OUTPUT` lands in `steps.<id>.outputs`."""
        clone = Path(env["GITHUB_WORKSPACE"])
        script = stand_in.instead if stand_in else self.substitute(step["run"], env, contexts)
        output_file = clone.parent / "runner" / f"output-{index}"
        output_file.touch()
        code, output = self.run_script(
            script, clone, env | {"GITHUB_OUTPUT": str(output_file)}, index
        )
        if "id" in step:
            contexts["steps"] |= {
                f"{step['id']}.outputs.{key}": value
                for key, value in step_outputs(output_file).items()
            }
        if stand_in is None:
            return StepResult(name, code, output)
        note = f"stood in ({stand_in.reason}); ran instead: {script or 'nothing'}"
        return StepResult(name, code, f"{note}\n{output}", stand_in.reason)

    @staticmethod
    def run_script(script: str, clone: Path, env: dict[str, str], index: int) -> tuple[int, str]:
        """One `run:` block with `bash -e` in the workspace, as GitHub's default shell."""
        if not script:
            return 0, ""
        path = clone.parent / "runner" / f"step-{index}.sh"
        path.write_text(script)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", str(path)],
            cwd=clone, env=env, capture_output=True, text=True,
            timeout=STEP_TIMEOUT_S, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    def checkout(self, _with: dict[str, Any], env: dict[str, str]) -> str | None:
        """actions/checkout: the workspace is a fresh clone of the repository."""
        git = require_tool("git", "apt-get install git")
        subprocess.run(
            [git, "clone", "--quiet", str(self.origin), env["GITHUB_WORKSPACE"]],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return None


def step_outputs(path: Path) -> dict[str, str]:
    """`name=value` lines a step appended to $GITHUB_OUTPUT (the multi-line form is refused)."""
    outputs: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, equals, value = line.partition("=")
        assert equals and "<<" not in key, f"the runner reads only name=value outputs: {line}"
        outputs[key] = value
    return outputs


def setup_python(venv: Path) -> UsesStandIn:
    """actions/setup-python: `venv`, the cached virtualenv the project's `make install` fills."""

    def stand_in(_with: dict[str, Any], env: dict[str, str]) -> str | None:
        env["VENV"] = str(venv)
        return None

    return stand_in


def setup_uv(uv: str, version: str) -> UsesStandIn:
    """astral-sh/setup-uv: `uv` (the machine's, of the `version` the step pins) put on PATH."""

    def stand_in(with_: dict[str, Any], env: dict[str, str]) -> str | None:
        if str(with_.get("version")) != version:
            return f"setup-uv pins uv {with_.get('version')}; the stand-in has {version}"
        env["PATH"] = os.pathsep.join([str(Path(uv).parent), env["PATH"]])
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
