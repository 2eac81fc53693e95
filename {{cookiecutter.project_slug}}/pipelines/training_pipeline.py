"""Kubeflow Pipelines (KFP v2): data -> validate -> train -> evaluate -> optimize -> register.

Every step runs one stage of the project's CLI inside the project image, the same code as
`make <stage>`. The working directory (data/, models/, reports/) travels between steps as a
KFP artifact, so no shared volume is needed. The evaluation gate fails the run when the
candidate is not good enough; `register` records it as the *challenger* (champion only when
none exists yet). Set MLFLOW_TRACKING_URI in the image (or the pipeline's Kubernetes
environment) so that the registry outlives the run.

Compile: `python pipelines/training_pipeline.py build/kubeflow/training_pipeline.yaml`, then
upload it (`kfp pipeline create`) and put its id in monitoring.retrain.kubeflow.pipeline_id.
"""

import os
import sys
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Artifact, Input, Output

PACKAGE = "{{ cookiecutter.package_name }}"
IMAGE = os.environ.get(f"{PACKAGE.upper()}_IMAGE", "ghcr.io/my-org/churn-model:latest")
# $0: output workdir, $1: input workdir ("" for the first step), $2: the CLI stage.
STEP = """set -eu
work=$(mktemp -d)
cd "$work"
cp -a /app/configs .
if [ -n "$1" ]; then cp -a "$1"/. .; fi
{package} "$2"
mkdir -p "$0"
cp -a . "$0"/
""".replace("{package}", PACKAGE)


@dsl.container_component
def data(workdir: Output[Artifact]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, "", "data"]
    )


@dsl.container_component
def validate(previous: Input[Artifact], workdir: Output[Artifact]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, previous.path, "validate"]
    )


@dsl.container_component
def train(previous: Input[Artifact], workdir: Output[Artifact]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, previous.path, "train"]
    )


@dsl.container_component
def evaluate(previous: Input[Artifact], workdir: Output[Artifact]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, previous.path, "evaluate"]
    )


@dsl.container_component
def optimize(previous: Input[Artifact], workdir: Output[Artifact]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, previous.path, "optimize"]
    )


@dsl.container_component
def register(previous: Input[Artifact], workdir: Output[Artifact]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, previous.path, "register"]
    )


@dsl.pipeline(
    name="churn-model-training",
    description="Validate, train, evaluate (gate), optimize and register the model as challenger.",
)
def training_pipeline() -> None:
    step = data()
    for stage in (validate, train, evaluate, optimize, register):
        step = stage(previous=step.outputs["workdir"])
        step.set_caching_options(False)


def compile_pipeline(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=training_pipeline, package_path=str(path))
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/kubeflow/training_pipeline.yaml")
    print(compile_pipeline(target))
