"""The Kubeflow pipelines compile to KFP v2 IR YAML: the training stages chained in order, and
the batch pipeline importing its input, scoring it, then checking the scored batch's drift."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml

from factories import FILE_REGISTRY_ENV

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
PACKAGE = "{{ cookiecutter.package_name }}"
STAGES = ["data", "validate", "train", "evaluate", "optimize", "register"]


def load_pipeline_module(name: str = "training_pipeline") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PIPELINES / f"{name}.py")
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


def test_batch_pipeline_imports_scores_then_checks_drift(tmp_path: Path) -> None:
    module = load_pipeline_module("batch_scoring_pipeline")
    spec = yaml.safe_load(module.compile_pipeline(tmp_path / "batch.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "{{ cookiecutter.project_slug }}-batch-scoring"
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert set(inputs) == {"input_uri", "reference_uri", "model", "engine"}
    assert inputs["model"]["defaultValue"] == module.PINNED_CHAMPION == "/app/model/champion"
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == ["batch-drift", "batch-score", "importer", "importer-2"]
    imported = {
        task["inputs"]["parameters"]["uri"]["componentInputParameter"]: name
        for name, task in tasks.items()
        if name.startswith("importer")
    }
    assert set(imported) == {"input_uri", "reference_uri"}

    def producer(task: str, artifact: str) -> dict[str, str]:
        return tasks[task]["inputs"]["artifacts"][artifact]["taskOutputArtifact"]

    assert producer("batch-score", "batch")["producerTask"] == imported["input_uri"]
    assert producer("batch-drift", "reference")["producerTask"] == imported["reference_uri"]
    assert producer("batch-drift", "predictions") == {
        "outputArtifactKey": "predictions",
        "producerTask": "batch-score",
    }
    assert tasks["batch-score"]["cachingOptions"] == tasks["batch-drift"]["cachingOptions"] == {}
    executors = spec["deploymentSpec"]["executors"]
    importers = [e["importer"] for e in executors.values() if "importer" in e]
    assert [i["artifactUri"] for i in importers] == [{"runtimeParameter": "uri"}] * 2
    scripts = [e["container"]["command"][-1] for e in executors.values() if "container" in e]
    assert sorted(scripts) == sorted([module.SCORE, module.DRIFT])


def test_the_batch_step_scripts_parse_and_fail_fast() -> None:
    module = load_pipeline_module("batch_scoring_pipeline")
    shell = shutil.which("sh")
    assert shell is not None
    for script in (module.SCORE, module.DRIFT):
        assert script.startswith("set -eu\n")
        assert subprocess.run([shell, "-n", "-c", script], check=False).returncode == 0
    assert '{{ cookiecutter.package_name }} batch-score --input "$1"' in module.SCORE


def test_the_batch_steps_score_and_check_drift(champion_root: Path, tmp_path: Path) -> None:
    """The two steps' scripts as a KFP launcher runs them: output path first, then the input
    artifacts' local paths (the champion project's configs stand in for the image's /app)."""
    module = load_pipeline_module("batch_scoring_pipeline")
    dataset = yaml.safe_load((champion_root / "configs/model_config.yaml").read_text())
    data = champion_root / dataset["dataset"]["path"]
    # The image has its venv on PATH: here, the venv running the tests.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env = os.environ | FILE_REGISTRY_ENV | {"PATH": path}
    # The image's /app/model/champion, exported as `make build` exports it.
    pinned = tmp_path / "app/model/champion"
    subprocess.run([sys.executable, "-m", PACKAGE, "resolve", "champion", "--into", str(pinned)],
                   cwd=champion_root, env=env, check=True, capture_output=True)  # fmt: skip
    predictions, report = tmp_path / "outputs/predictions", tmp_path / "outputs/report"
    steps = [
        (module.SCORE, [str(predictions), str(data), str(pinned), "local"]),
        (module.DRIFT, [str(report), str(predictions), str(data)]),
    ]
    for script, args in steps:
        assert "cp -a /app/configs ." in script
        local = script.replace("/app/configs", str(champion_root / "configs"))
        done = subprocess.run(["sh", "-c", local, *args], env=env, capture_output=True,
                              text=True, timeout=1800, check=False)  # fmt: skip
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    manifest = json.loads((predictions / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["rows"]["scored"] > 0
    assert manifest["model"]["version"] == (pinned / "REGISTRY_VERSION").read_text().strip()
    drift = json.loads((report / "drift_report.json").read_text())
    assert drift["current_rows"] == manifest["rows"]["scored"]
