"""Terraform of the generated project (cloud_provider aws, gcp, azure; none has none).

python-hcl2 parses every file (checkov silently skips files it cannot parse), `terraform fmt`
finds nothing to change, checkov reports zero failed checks (every skip is inline with a
reason), and the structure CI relies on is there: remote state, pinned providers, validated
and described variables, the registry_url / cluster_name outputs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions
from lark.exceptions import LarkError

from tests.conftest import checkov, render, require_tool

CLOUDS = ("aws", "gcp", "azure")
BACKENDS = {"aws": "s3", "gcp": "gcs", "azure": "azurerm"}
PROVIDERS = {"aws": {"aws", "tls"}, "gcp": {"google"}, "azure": {"azurerm"}}
ENVIRONMENTS = ("staging", "production")
STATE_KEY = {"aws": "key", "gcp": "prefix", "azure": "key"}
# Root inputs without a default that are not in the committed tfvars (secret-ish or per-user).
APPLY_TIME_INPUTS = {
    "aws": {"api_allowed_cidrs"},
    "gcp": {"api_allowed_cidrs", "project_id"},
    "azure": {"api_allowed_cidrs", "subscription_id"},
}
SKIP_WITH_REASON = re.compile(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)")
# Plain values: no comment keys, no block markers, strings without their quotes.
PLAIN = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("terraform")
    return {cloud: render(root / cloud, cloud_provider=cloud) for cloud in (*CLOUDS, "none")}


def tf_files(project: Path) -> list[Path]:
    """Every HCL file: configuration (.tf), per-environment values and backend settings."""
    terraform = project / "terraform"
    return sorted(p for ext in ("tf", "tfvars", "tfbackend") for p in terraform.rglob(f"*.{ext}"))


def parse(path: Path) -> dict[str, Any]:
    return dict(hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=PLAIN))


def blocks(project: Path, kind: str, under: str = "") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in tf_files(project):
        if under in str(path.relative_to(project)):
            found += parse(path).get(kind, [])
    return found


def test_only_the_chosen_cloud_is_generated(projects: dict[str, Path]) -> None:
    assert not (projects["none"] / "terraform").exists()
    for cloud in CLOUDS:
        modules = {p.name for p in (projects[cloud] / "terraform/modules").iterdir()}
        assert modules == {cloud}
        for env in ENVIRONMENTS:
            for name in ("backend.tfbackend", "terraform.tfvars"):
                assert (projects[cloud] / f"terraform/environments/{env}/{name}").exists()


def test_every_file_parses_with_python_hcl2(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        files = tf_files(projects[cloud])
        assert len(files) >= 17
        for path in files:
            parse(path)  # raises on a syntax error


def test_python_hcl2_rejects_broken_hcl() -> None:
    with pytest.raises(LarkError):
        hcl2.loads('resource "a" "b" {\n  x = \n')


def test_remote_state_and_pinned_providers(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        terraform = parse(projects[cloud] / "terraform/versions.tf")["terraform"][0]
        assert terraform["required_version"].startswith(">= 1.10, < 2")
        assert list(terraform["backend"][0]) == [BACKENDS[cloud]], cloud
        providers = terraform["required_providers"][0]
        assert set(providers) == PROVIDERS[cloud]
        for name, spec in providers.items():
            assert re.fullmatch(r">= [\d.]+, < [\d.]+", spec["version"]), (cloud, name)
        # Each environment completes the partial backend with its own state key.
        keys = set()
        for env in ENVIRONMENTS:
            settings = parse(projects[cloud] / f"terraform/environments/{env}/backend.tfbackend")
            assert set(settings) == {STATE_KEY[cloud]}, (cloud, env)
            assert env in settings[STATE_KEY[cloud]]
            keys.add(settings[STATE_KEY[cloud]])
        assert len(keys) == len(ENVIRONMENTS), f"{cloud}: environments share a state"
        module_versions = parse(projects[cloud] / f"terraform/modules/{cloud}/versions.tf")
        for spec in module_versions["terraform"][0]["required_providers"][0].values():
            assert "<" in spec["version"]


def test_variables_are_described_and_validated(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        variables = blocks(projects[cloud], "variable")
        assert variables
        for block in variables:
            for name, body in block.items():
                assert body.get("description"), f"{cloud}: variable {name} has no description"
        for block in blocks(projects[cloud], "variable", under="modules/"):
            for name, body in block.items():
                if body.get("type") != "bool":
                    assert body.get("validation"), f"{cloud}: variable {name} is not validated"


def test_environments_set_every_required_input(projects: dict[str, Path]) -> None:
    """Each tfvars sets exactly the root inputs that have no default, minus the ones given at
    apply time (-var / TF_VAR_*), and the environments differ in network and size."""
    for cloud in CLOUDS:
        variables = {n: b for block in parse(projects[cloud] / "terraform/variables.tf")["variable"]
                     for n, b in block.items()}  # fmt: skip
        required = {name for name, body in variables.items() if "default" not in body}
        values = {
            env: parse(projects[cloud] / f"terraform/environments/{env}/terraform.tfvars")
            for env in ENVIRONMENTS
        }
        for env, given in values.items():
            assert set(given) == required - APPLY_TIME_INPUTS[cloud], (cloud, env)
            assert given["environment"] == env
        staging, production = values["staging"], values["production"]
        assert staging["network_cidr"] != production["network_cidr"], cloud
        assert (staging["create_shared"], production["create_shared"]) == (False, True), cloud


def test_outputs_ci_consumes(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        outputs = set()
        for block in parse(projects[cloud] / "terraform/outputs.tf")["output"]:
            outputs |= set(block)
        assert {"registry_url", "cluster_name", "ci_identity", "artifact_storage"} <= outputs


def resources(project: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for block in blocks(project, "resource"):
        for kind, named in block.items():
            found.setdefault(kind, []).extend(named.values())
    return found


PLATFORM = {
    "aws": (
        "aws_vpc", "aws_eks_cluster", "aws_ecr_repository", "aws_s3_bucket",
        "aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block", "aws_iam_openid_connect_provider", "aws_iam_role",
    ),
    "gcp": (
        "google_compute_network", "google_container_cluster", "google_artifact_registry_repository",
        "google_storage_bucket", "google_iam_workload_identity_pool_provider",
    ),
    "azure": (
        "azurerm_virtual_network", "azurerm_kubernetes_cluster", "azurerm_container_registry",
        "azurerm_storage_account", "azurerm_federated_identity_credential",
    ),
}  # fmt: skip


def test_each_cloud_has_its_platform(projects: dict[str, Path]) -> None:
    for cloud, kinds in PLATFORM.items():
        missing = set(kinds) - set(resources(projects[cloud]))
        assert not missing, f"{cloud}: no {sorted(missing)}"


def test_checkov_skips_are_inline_with_a_reason(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        for path in tf_files(projects[cloud]):
            for line in path.read_text().splitlines():
                if "checkov:skip" in line:
                    match = SKIP_WITH_REASON.search(line)
                    assert match and len(match.group(2).strip()) >= 20, f"{path}: {line}"


@pytest.mark.slow
def test_terraform_fmt_finds_nothing_to_change(projects: dict[str, Path]) -> None:
    terraform = require_tool("terraform", "https://developer.hashicorp.com/terraform/install")
    for cloud in CLOUDS:
        result = subprocess.run(
            [terraform, "fmt", "-check", "-recursive", "-diff", "terraform"],
            cwd=projects[cloud], capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"{cloud}:\n{result.stdout}{result.stderr}"


def run_checkov(directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [checkov(), "--directory", str(directory), "--framework", "terraform", "--output", "json",
         "--quiet", "--skip-download"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = report.get("results", {}).get("failed_checks", [])
    assert result.returncode == 0 and not failed, (
        "\n".join(f"{c['check_id']} {c['resource']} {c['file_path']}" for c in failed)
        or result.stderr[-3000:]
    )
    return report


@pytest.mark.slow
def test_checkov_has_zero_failed_checks(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        report = run_checkov(projects[cloud] / "terraform")
        summary = report["summary"]
        assert summary["parsing_errors"] == 0, cloud
        assert summary["passed"] >= 50, (cloud, summary)


@pytest.mark.slow
def test_checkov_fails_an_unencrypted_public_bucket(projects: dict[str, Path]) -> None:
    project = projects["aws"]
    storage = project / "terraform/modules/aws/storage.tf"
    original = storage.read_text()
    try:
        storage.write_text(
            original.replace("block_public_acls       = true", "block_public_acls       = false")
        )
        with pytest.raises(AssertionError, match="CKV_AWS_53"):
            run_checkov(project / "terraform")
    finally:
        storage.write_text(original)
