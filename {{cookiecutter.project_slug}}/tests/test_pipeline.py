"""The whole pipeline end to end in a throwaway project, and its CLI commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.pipeline import run_all
from {{ cookiecutter.package_name }}.registry import resolve_bundle

import factories
from factories import PROJECT_ROOT

STAGES = ("data", "validate", "train", "evaluate", "optimize", "register", "pipeline", "bench",
          "init-data")  # fmt: skip


@pytest.mark.data
def test_pipeline_runs_every_stage_and_says_where_artifacts_went(tmp_path: Path) -> None:
    settings = factories.copy_project(tmp_path, pipeline={"registry_backend": "file"})
    config_path = tmp_path / "configs" / "model_config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["optimization"]["benchmark"] = {"warmup": 2, "single_row_runs": 20, "batch_size": 100}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    lines: list[str] = []
    result = run_all(settings, lines.append)
    output = "\n".join(lines)
    for step in range(1, 7):
        assert f"[{step}/6]" in output
    reports = tmp_path / "reports"
    for name in ("validation.json", "metrics.json", "model_card.md", "parity.json", "benchmark.md"):
        assert (reports / name).is_file(), name
        assert str(reports / name) in output
    champion = resolve_bundle("champion", settings)
    assert result["registered"]["bundle"] == str(champion)
    assert (champion / "native").is_dir() and (champion / "optimized" / "{{ 'model.tflite' if cookiecutter.ml_framework == 'tensorflow' else 'model.onnx' }}").is_file()
    bundle_config = yaml.safe_load((champion / "model_config.yaml").read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", bundle_config["lineage"]["dataset_sha256"])
    assert bundle_config["evaluation"]["passed"] is True
    metrics = json.loads((reports / "metrics.json").read_text())["metrics"]
    # The gate's metrics are the task's (set by init-data from the dataset spec).
    evaluation = config["evaluation"]
    assert set(evaluation["thresholds"]) | {evaluation["primary_metric"]} <= set(metrics)


def test_every_stage_is_a_cli_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in (*STAGES, "promote", "resolve", "derive-rules"):
        assert re.search(rf"^\W*{command}\b", result.stdout, re.MULTILINE), command


def test_every_stage_is_a_make_target() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in STAGES:
        assert re.search(rf"^{target}:.*## ", makefile, re.MULTILINE), target
