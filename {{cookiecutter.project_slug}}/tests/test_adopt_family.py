"""init-data's model family: compared on the training split and written with the comparison
(scikit-learn), kept when tuned or edited by hand, and a network's settings left alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
{% if cookiecutter.ml_framework == "scikit-learn" %}
from {{ cookiecutter.package_name }}.adopt.blocks import current_block, is_pristine
{%- endif %}
from {{ cookiecutter.package_name }}.cli import main

from factories import PROJECT_ROOT

CONFIG = Path("configs/model_config.yaml")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway root with this project's configs and a table whose signal is a threshold
    interaction (no linear model fits it: trees should win)."""
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    rng = np.random.default_rng(4)
    rows = 900
    frame = pd.DataFrame({"a": rng.uniform(-1, 1, rows), "b": rng.uniform(-1, 1, rows),
                          "noise": rng.normal(0, 1, rows)})  # fmt: skip
    frame["label"] = np.where((frame["a"] > 0) ^ (frame["b"] > 0), "x", "y")
    (tmp_path / "data").mkdir()
    frame.round(4).to_csv(tmp_path / "data" / "xor.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _adopt(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    """init-data on the table (`extra` options; the first run of a test passes --force: this
    project's configs may hold your reviewed edits)."""
    with pytest.raises(SystemExit) as exited:
        main(["init-data", "--data", "data/xor.csv", "--target", "label", *extra])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def _hyperparameters(project: Path) -> dict[str, object]:
    values = yaml.safe_load((project / CONFIG).read_text())["hyperparameters"]
    assert isinstance(values, dict)
    return values
{%- if cookiecutter.ml_framework == "scikit-learn" %}


def test_the_families_are_compared_and_the_comparison_is_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _adopt(capsys, "--force")
    assert code == 0, err
    assert _hyperparameters(project)["family"] != "linear"  # an interaction: trees win
    block = current_block((project / CONFIG).read_text(), "hyperparameters") or ""
    assert is_pristine(block), block
    said = " ".join(line.strip(" #") for line in block.splitlines())  # the comments, unwrapped
    for family in ("linear", "hist_gradient_boosting", "lightgbm"):
        assert f"{family} 0." in said, block  # each family's cross-validated score
    assert "one standard error of the best" in said
    assert max(map(len, block.splitlines())) <= 120  # the project's yamllint line length


def test_a_named_family_is_taken_and_a_tuned_block_is_kept(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _adopt(capsys, "--force", "--family", "linear")
    assert code == 0, err
    assert _hyperparameters(project)["family"] == "linear"
    config = project / CONFIG
    text = config.read_text()
    tuned = "hyperparameters:  # by `make tune`\n  family: hist_gradient_boosting\n  max_iter: 77"
    config.write_text(text.replace(current_block(text, "hyperparameters") or "", tuned))
    code, out, err = _adopt(capsys)  # no --force: the tuned block stays
    assert code == 0 and "hyperparameters kept" in out, err
    assert _hyperparameters(project) == {"family": "hist_gradient_boosting", "max_iter": 77}
    code, out, err = _adopt(capsys, "--force")  # compares the families again
    assert code == 0 and "hyperparameters kept" not in out, err
    assert _hyperparameters(project).get("max_iter") != 77


def test_an_unknown_family_is_one_line_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _adopt(capsys, "--force", "--family", "forest")
    assert code == 2 and err.count("\n") == 1 and "--family forest: choose one of auto" in err
{%- else %}


def test_the_network_settings_are_left_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _hyperparameters(project)
    code, _, err = _adopt(capsys, "--force")
    assert code == 0, err
    assert _hyperparameters(project) == before
    code, _, err = _adopt(capsys, "--force", "--family", "lightgbm")
    assert code == 2 and "--family lightgbm: choose one of auto" in err
{%- endif %}
