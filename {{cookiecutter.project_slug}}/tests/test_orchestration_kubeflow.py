"""The Kubeflow pipeline compiles to a KFP v2 IR YAML with the stages chained in order."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import yaml

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines/training_pipeline.py"
STAGES = ["data", "validate", "train", "evaluate", "optimize", "register"]


def load_pipeline_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("training_pipeline", PIPELINE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pipeline_compiles_with_chained_stages(tmp_path: Path) -> None:
    module = load_pipeline_module()
    path = module.compile_pipeline(tmp_path / "pipeline.yaml")
    spec = yaml.safe_load(path.read_text())
    assert spec["pipelineInfo"]["name"] == "{{ cookiecutter.project_slug }}-training"
    assert spec["schemaVersion"] == "2.1.0"
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(STAGES)
    for before, after in itertools.pairwise(STAGES):
        artifact = tasks[after]["inputs"]["artifacts"]["previous"]["taskOutputArtifact"]
        assert artifact == {"outputArtifactKey": "workdir", "producerTask": before}
    executors = spec["deploymentSpec"]["executors"]
    stages_run = sorted(executor["container"]["args"][-1] for executor in executors.values())
    assert stages_run == sorted(STAGES)
    images = {executor["container"]["image"] for executor in executors.values()}
    assert images == {module.IMAGE}


def test_the_step_script_fails_fast() -> None:
    module = load_pipeline_module()
    assert module.STEP.startswith("set -eu\n")
    assert '{{ cookiecutter.package_name }} "$2"' in module.STEP
