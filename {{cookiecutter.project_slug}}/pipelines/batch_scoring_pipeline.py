"""Kubeflow Pipelines (KFP v2): import a batch -> score it with the champion -> its drift report.

`input_uri` names the table (a CSV/Parquet file or a directory of them in the pipeline's
object store: gs://, s3://, minio://) and `reference_uri` the training data (the file that
`dataset.path` names, e.g. in the DVC remote); importers bring both in as Dataset artifacts,
so KFP records which data each run scored. `batch-score` runs in the project image (the
same code as `make batch-score`) and writes the predictions, the rejected rows and the
manifest as the output Dataset; too many rejected rows fail the step
(batch.max_rejected_share). `batch-drift` compares the scored rows with the reference and
keeps the drift report. By default the step scores with the champion pinned in the image
(/app/model/champion: the version the deployed server serves, no registry access); pass
`model=champion` (or a version) with MLFLOW_TRACKING_URI in the pipeline's environment to
score with the registry's current one. Caching is off: the same URI holds new data daily.

Compile: `python pipelines/batch_scoring_pipeline.py build/kubeflow/batch_scoring_pipeline.yaml`,
upload it (`kfp pipeline create`) and schedule it (`kfp recurring-run create`).
"""

import os
import sys
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Artifact, Dataset, Input, Output

PACKAGE = "{{ cookiecutter.package_name }}"
DEFAULT_IMAGE = "ghcr.io/{{ cookiecutter.github_org | lower }}/{{ cookiecutter.project_slug }}:latest"
IMAGE = os.environ.get(f"{PACKAGE.upper()}_IMAGE", DEFAULT_IMAGE)
PINNED_CHAMPION = "/app/model/champion"  # `make build` resolves the champion into the image
WORKDIR = """set -eu
work=$(mktemp -d)
cd "$work"
cp -a /app/configs .
"""


def _step(body: str) -> str:
    """A step's script: a scratch directory holding the image's configs (nothing writes into
    /app), then `body`."""
    return WORKDIR + body.replace("{package}", PACKAGE)


# $0: output Dataset, $1: input batch, $2: model (a bundle directory or a registry alias /
# version), $3: engine (local|spark).
SCORE = _step("""mkdir -p "$(dirname "$0")"
{package} batch-score --input "$1" --output "$0" --model "$2" --engine "$3" --force
""")
# $0: output report directory, $1: the scored batch, $2: the training data.
DRIFT = _step("""{package} drift --current "$1" --reference "$2"
mkdir -p "$0"
cp -a reports/drift/. "$0"/
""")


@dsl.container_component
def batch_score(
    batch: Input[Dataset], predictions: Output[Dataset], model: str, engine: str
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["sh", "-c", SCORE],
        args=[predictions.path, batch.path, model, engine],
    )


@dsl.container_component
def batch_drift(
    predictions: Input[Dataset], reference: Input[Dataset], report: Output[Artifact]
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["sh", "-c", DRIFT],
        args=[report.path, predictions.path, reference.path],
    )


@dsl.pipeline(
    name="{{ cookiecutter.project_slug }}-batch-scoring",
    description="Score a batch with the champion, then compare it with the training reference.",
)
def batch_scoring_pipeline(
    input_uri: str, reference_uri: str, model: str = PINNED_CHAMPION, engine: str = "local"
) -> None:
    batch = dsl.importer(artifact_uri=input_uri, artifact_class=Dataset, reimport=True)
    batch.set_display_name("import-batch")
    reference = dsl.importer(artifact_uri=reference_uri, artifact_class=Dataset)
    reference.set_display_name("import-reference")
    scored = batch_score(batch=batch.output, model=model, engine=engine)
    scored.set_caching_options(False)
    drift = batch_drift(predictions=scored.outputs["predictions"], reference=reference.output)
    drift.set_caching_options(False)


def compile_pipeline(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=batch_scoring_pipeline, package_path=str(path))
    return path


if __name__ == "__main__":
    default = "build/kubeflow/batch_scoring_pipeline.yaml"
    print(compile_pipeline(Path(sys.argv[1] if len(sys.argv) > 1 else default)))
