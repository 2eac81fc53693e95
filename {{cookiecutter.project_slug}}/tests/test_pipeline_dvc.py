"""The DVC pipeline description agrees with the project's configs and CLI."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.contracts.config import load_model_config
from {{ cookiecutter.package_name }}.settings import load_settings

from factories import PROJECT_ROOT


def _load(name: str) -> dict[str, object]:
    loaded = yaml.safe_load((PROJECT_ROOT / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_params_match_the_settings_and_dvc_reads_the_dataset_spec() -> None:
    params = _load("params.yaml")
    settings = load_settings(project_root=PROJECT_ROOT)
    # The dataset is not repeated in params.yaml: dvc.yaml imports the spec's section.
    assert "dataset" not in params
    assert _load("dvc.yaml")["vars"] == [f"{settings.pipeline.model_config_file}:dataset"]
    config = load_model_config(PROJECT_ROOT / settings.pipeline.model_config_file)
    assert config.dataset.path.suffix in {".csv", ".parquet", ".pq"}
    assert Path(str(params["rules"])) == settings.pipeline.validation_rules
    assert Path(str(params["processed_dir"])) == settings.pipeline.processed_dir
    assert Path(str(params["candidate_dir"])) == settings.pipeline.candidate_dir
    assert Path(str(params["reports_dir"])) == settings.paths.reports_dir


def test_stages_use_defined_variables_and_real_commands() -> None:
    params = _load("params.yaml")
    spec = yaml.safe_load((PROJECT_ROOT / "configs" / "model_config.yaml").read_text())["dataset"]
    text = (PROJECT_ROOT / "dvc.yaml").read_text()
    for variable in re.findall(r"\$\{([\w.]+)\}", text):
        section, _, key = variable.partition(".")
        assert (key in spec) if section == "dataset" else (variable in params), variable
    commands = set()
    for command in app.registered_commands:
        if command.name:
            commands.add(command.name)
        elif command.callback is not None:
            commands.add(command.callback.__name__)
    stages = _load("dvc.yaml")["stages"]
    assert isinstance(stages, dict)
    assert list(stages) == ["data", "validate", "train", "evaluate", "optimize"]
    for name, stage in stages.items():
        assert stage["cmd"].split()[-1] in commands, name
        for dep in stage.get("deps", []):
            path = str(dep).replace("${", "").replace("}", "")
            if path.startswith("src/") or path.startswith("configs/"):
                assert (PROJECT_ROOT / path).exists(), path


def test_default_remote_is_local() -> None:
    config = (PROJECT_ROOT / ".dvc" / "config").read_text()
    assert re.search(r"^\s*remote = local$", config, re.MULTILINE)
    assert "url = ../.dvc-storage" in config
