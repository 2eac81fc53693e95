"""The exact set of files each config must generate (nothing stray, nothing missing).

Written independently of the post-gen hook's table, so a wrong table entry fails a test.
Each feature area contributes one function; `expected_files` is their union.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PKG = "src/{pkg}"


def core_files(config: dict[str, Any]) -> set[str]:
    return {
        ".editorconfig",
        ".gitignore",
        ".pre-commit-config.yaml",
        ".yamllint",
        "LICENSE",
        "Makefile",
        "README.md",
        "configs/settings.yaml",
        "data/raw/.gitkeep",
        "pyproject.toml",
        f"{PKG}/__init__.py",
        f"{PKG}/__main__.py",
        f"{PKG}/cli/__init__.py",
        f"{PKG}/cli/app.py",
        f"{PKG}/cli/operate.py",
        f"{PKG}/cli/develop.py",
        f"{PKG}/errors.py",
        f"{PKG}/contracts/__init__.py",
        f"{PKG}/contracts/bundle.py",
        f"{PKG}/contracts/config.py",
        f"{PKG}/contracts/decode.py",
        f"{PKG}/contracts/metrics.py",
        f"{PKG}/provenance.py",
        f"{PKG}/settings.py",
        f"{PKG}/tables.py",
        "tests/conftest.py",
        "tests/test_cli.py",
        "tests/test_provenance.py",
        "tests/test_settings.py",
        "tests/test_tables.py",
    }


def lifecycle_files(config: dict[str, Any]) -> set[str]:
    files = {"scripts/template_lifecycle.py", "scripts/template_orphans.py"}
    if config.get("use_github_actions", True):
        files.add(".github/workflows/template-update.yml")
    return files


AREAS: list[Callable[[dict[str, Any]], set[str]]] = [core_files]
AREAS.append(lifecycle_files)


def pipeline_files(config: dict[str, Any]) -> set[str]:
    framework = {
        "scikit-learn": ("sklearn_model.py", "sklearn_onnx.py"),
        "pytorch": ("torch_model.py", "torch_quant.py"),
        "tensorflow": ("keras_model.py", "tflite.py"),
    }[config.get("ml_framework", "scikit-learn")]
    files = {
        "configs/data_validation.yaml",
        "configs/model_config.yaml",
        f"{PKG}/data/__init__.py",
        f"{PKG}/adopt/__init__.py",
        f"{PKG}/adopt/baseline.py",
        f"{PKG}/adopt/family.py",
        f"{PKG}/adopt/blocks.py",
        f"{PKG}/adopt/infer.py",
        f"{PKG}/adopt/render.py",
        f"{PKG}/adopt/report.py",
        f"{PKG}/data/samples.py",
        f"{PKG}/data/derived.py",
        f"{PKG}/data/spark.py",
        f"{PKG}/contracts/spec.py",
        f"{PKG}/evaluation/__init__.py",
        f"{PKG}/evaluation/gate.py",
        f"{PKG}/evaluation/card.py",
        f"{PKG}/evaluation/plots.py",
        f"{PKG}/training/preprocess.py",
        f"{PKG}/optimization/__init__.py",
        f"{PKG}/optimization/base.py",
        f"{PKG}/optimization/{framework[1]}",
        f"{PKG}/pipeline.py",
        f"{PKG}/registry/__init__.py",
        f"{PKG}/registry/base.py",
        f"{PKG}/registry/core.py",
        f"{PKG}/registry/file_registry.py",
        f"{PKG}/runtime/__init__.py",
        f"{PKG}/runtime/mlflow_model.py",
        f"{PKG}/training/__init__.py",
        f"{PKG}/training/base.py",
        f"{PKG}/training/stage.py",
        f"{PKG}/training/{framework[0]}",
        f"{PKG}/validation/__init__.py",
        f"{PKG}/validation/derive.py",
        "tests/test_adopt.py",
        "tests/test_adopt_family.py",
        "tests/test_derived.py",
        "tests/test_data.py",
        "tests/test_evaluation.py",
        "tests/test_metrics.py",
        "tests/factories.py",
        "tests/test_optimization.py",
        "tests/test_pipeline.py",
        "tests/test_registry.py",
        "tests/test_training.py",
        "tests/test_validation.py",
    }
    if config.get("experiment_tracking", "mlflow") == "mlflow":
        files.add(f"{PKG}/registry/mlflow_registry.py")
    if config.get("data_versioning", "dvc") == "dvc":
        files |= {
            ".dvc/.gitignore",
            ".dvc/config",
            ".dvcignore",
            "dvc.yaml",
            "params.yaml",
            "tests/test_pipeline_dvc.py",
        }
    return files


AREAS.append(pipeline_files)


def framework_files(config: dict[str, Any]) -> set[str]:
    return {
        "scikit-learn": {
            f"{PKG}/adopt/regate.py",
            f"{PKG}/benchmarks/model.py",
            f"{PKG}/training/families.py",
            f"{PKG}/training/spark.py",
            f"{PKG}/training/tune.py",
            "tests/test_bench_model.py",
            "tests/test_families.py",
            "tests/test_tune.py",
        },
        "pytorch": {"tests/test_frameworks.py"},
        "tensorflow": {"tests/test_frameworks.py"},
    }[config.get("ml_framework", "scikit-learn")]


AREAS.append(framework_files)


def monitoring_files(config: dict[str, Any]) -> set[str]:
    files = {
        "k8s/monitoring/kustomization.yaml",
        "k8s/monitoring/prometheusrule.yaml",
        "k8s/monitoring/servicemonitor.yaml",
        "monitoring/alertmanager/alertmanager.yml",
        "monitoring/grafana/dashboards/model-overview.json",
        "monitoring/grafana/provisioning/dashboards/dashboards.yml",
        "monitoring/grafana/provisioning/datasources/prometheus.yml",
        "monitoring/prometheus/prometheus.yml",
        "monitoring/prometheus/rules/model_rules.yml",
        "monitoring/prometheus/tests/model_rules_test.yml",
        f"{PKG}/monitoring/__init__.py",
        f"{PKG}/monitoring/alerting.py",
        f"{PKG}/monitoring/canary.py",
        f"{PKG}/monitoring/drift.py",
        f"{PKG}/monitoring/reports.py",
        f"{PKG}/monitoring/retrain.py",
        f"{PKG}/monitoring/run.py",
        f"{PKG}/monitoring/state.py",
        f"{PKG}/monitoring/triggers.py",
        f"{PKG}/monitoring/window.py",
        "configs/canary_analysis.yaml",
        "tests/test_canary.py",
        "tests/test_drift.py",
        "tests/test_monitoring_config.py",
        "tests/test_monitoring_retrain.py",
    }
    if config.get("use_github_actions", True):
        files.add(".github/workflows/retrain-check.yml")
    if config.get("orchestrator") == "airflow":
        files |= {"dags/_common.py", "dags/drift_check.py", "dags/training_pipeline.py"}
        files.add("tests/test_orchestration_airflow.py")
    if config.get("orchestrator") == "kubeflow":
        files |= {"pipelines/training_pipeline.py", "tests/test_orchestration_kubeflow.py"}
    if config.get("feature_store") == "feast":
        files |= {"feature_repo/feature_store.yaml", "feature_repo/features.py"}
        files |= {f"{PKG}/feature_store.py", "tests/test_feast.py"}
        files |= {f"{PKG}/serving/online_features.py", "tests/test_feast_serving.py"}
    return files


AREAS.append(monitoring_files)


def serving_files(config: dict[str, Any]) -> set[str]:
    files = {
        ".dockerignore",
        "Dockerfile",
        "scripts/smoke_image.py",
        f"{PKG}/serving/__init__.py",
        f"{PKG}/serving/app.py",
        f"{PKG}/benchmarks/__init__.py",
        f"{PKG}/benchmarks/load.py",
        f"{PKG}/benchmarks/serve.py",
        f"{PKG}/benchmarks/chaos.py",
        f"{PKG}/serving/metrics.py",
        f"{PKG}/serving/model.py",
        f"{PKG}/serving/feedback.py",
        f"{PKG}/serving/hotpath.py",
        f"{PKG}/predlog/__init__.py",
        f"{PKG}/predlog/pump.py",
        f"{PKG}/predlog/channel.py",
        f"{PKG}/predlog/frames.py",
        f"{PKG}/predlog/writer.py",
        f"{PKG}/serving/mlflow_protocol.py",
        f"{PKG}/serving/openapi.py",
        f"{PKG}/serving/outputs.py",
        f"{PKG}/predlog/store.py",
        f"{PKG}/serving/responses.py",
        f"{PKG}/serving/routes.py",
        f"{PKG}/serving/routing.py",
        f"{PKG}/serving/schema.py",
        f"{PKG}/serving/fields.py",
        f"{PKG}/serving/scoring.py",
        f"{PKG}/serving/server.py",
        f"{PKG}/serving/smoke.py",
        f"{PKG}/serving/state.py",
        f"{PKG}/predlog/process.py",
        "k8s/base/configmap.yaml",
        "k8s/base/deployment.yaml",
        "k8s/base/hpa.yaml",
        "k8s/base/ingress.yaml",
        "k8s/base/kustomization.yaml",
        "k8s/base/networkpolicy.yaml",
        "k8s/base/pdb.yaml",
        "k8s/base/service.yaml",
        "k8s/base/serviceaccount.yaml",
        "k8s/overlays/production/kustomization.yaml",
        "k8s/overlays/production/namespace.yaml",
        "k8s/overlays/staging/kustomization.yaml",
        "k8s/overlays/staging/namespace.yaml",
        "tests/test_benchmarks.py",
        "tests/test_serving.py",
        "tests/test_serving_faults.py",
        "tests/test_serving_log.py",
        "tests/test_serving_routing.py",
        "tests/test_serving_tasks.py",
    }
    rollout = config.get("rollout_strategy", "rolling")
    if rollout == "canary":
        files |= {
            "k8s/canary/deployment-canary.yaml",
            "k8s/canary/hpa-canary.yaml",
            "k8s/canary/ingress-canary.yaml",
            "k8s/canary/kustomization.yaml",
            "k8s/canary/pdb-canary.yaml",
            "k8s/canary/service-canary.yaml",
        }
    elif rollout == "shadow":
        files |= {
            "k8s/shadow/deployment-shadow.yaml",
            "k8s/shadow/hpa-shadow.yaml",
            "k8s/shadow/kustomization.yaml",
            "k8s/shadow/pdb-shadow.yaml",
            "k8s/shadow/service-shadow.yaml",
        }
    return files


AREAS.append(serving_files)


BATCH_MODULES = ("__init__", "engine", "io", "job", "local", "manifest", "model", "progress",
                 "reader", "score", "spark", "validate")  # fmt: skip


def batch_files(config: dict[str, Any]) -> set[str]:
    files = {f"{PKG}/batch/{name}.py" for name in BATCH_MODULES}
    if config.get("use_github_actions", True):
        files.add(".github/workflows/batch-score.yml")
    if config.get("orchestrator") == "airflow":
        files.add("dags/batch_scoring.py")
    if config.get("orchestrator") == "kubeflow":
        files.add("pipelines/batch_scoring_pipeline.py")
    return files | {f"{PKG}/benchmarks/batch.py", "tests/test_batch.py"}


AREAS.append(batch_files)

TERRAFORM_ENV_FILES = ("backend.tfbackend", "terraform.tfvars")


def cicd_files(config: dict[str, Any]) -> set[str]:
    files: set[str] = set()
    if config.get("use_github_actions", True):
        files |= {
            ".github/dependabot.yml",
            ".github/workflows/ci.yml",
            ".github/workflows/deploy.yml",
            ".github/workflows/train.yml",
        }
    if config.get("use_jenkins", True):
        files.add("Jenkinsfile")
    if config.get("use_gitlab_ci", False):
        files.add(".gitlab-ci.yml")
    cloud = config.get("cloud_provider", "aws")
    if cloud != "none":
        files |= {f"terraform/{name}" for name in ("README.md", "main.tf", "outputs.tf")}
        files |= {"terraform/variables.tf", "terraform/versions.tf"}
        for env in ("staging", "production"):
            files |= {f"terraform/environments/{env}/{name}" for name in TERRAFORM_ENV_FILES}
        common = ("ci", "main", "network", "outputs", "registry", "storage", "variables")
        cluster = {"aws": "eks", "gcp": "gke", "azure": "aks"}[cloud]
        modules = (*common, "versions", cluster)
        files |= {f"terraform/modules/{cloud}/{name}.tf" for name in modules}
    return files


AREAS.append(cicd_files)


def expected_files(config: dict[str, Any], package_name: str) -> set[str]:
    files: set[str] = set()
    for area in AREAS:
        files |= area(config)
    return {path.replace("{pkg}", package_name) for path in files}
