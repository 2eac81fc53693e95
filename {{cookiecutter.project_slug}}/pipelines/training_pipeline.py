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
from typing import Any

from kfp import compiler, dsl
from kfp.dsl import Artifact, Input, Output

PACKAGE = "{{ cookiecutter.package_name }}"
DEFAULT_IMAGE = "ghcr.io/{{ cookiecutter.github_org | lower }}/{{ cookiecutter.project_slug }}:latest"
IMAGE = os.environ.get(f"{PACKAGE.upper()}_IMAGE", DEFAULT_IMAGE)
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


def _stage_component(stage: str) -> Any:
    """A step that runs `stage` on the previous step's working directory (one per CLI stage)."""

    def component(previous: Input[Artifact], workdir: Output[Artifact]) -> dsl.ContainerSpec:
        return dsl.ContainerSpec(
            image=IMAGE, command=["sh", "-c", STEP], args=[workdir.path, previous.path, stage]
        )

    component.__name__ = component.__qualname__ = stage  # KFP names the component after it
    return dsl.container_component(component)


STAGES = [
    _stage_component(stage) for stage in ("validate", "train", "evaluate", "optimize", "register")
]


@dsl.pipeline(
    name="{{ cookiecutter.project_slug }}-training",
    description="Validate, train, evaluate (gate), optimize and register the model as challenger.",
)
def training_pipeline() -> None:
    step = data()
    for stage in STAGES:
        step = stage(previous=step.outputs["workdir"])
        step.set_caching_options(False)


def compile_pipeline(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=training_pipeline, package_path=str(path))
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/kubeflow/training_pipeline.yaml")
    print(compile_pipeline(target))
