"""The settings object: defaults, YAML file, environment overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import SETTINGS_FILE_ENV, load_settings


def test_defaults_resolve_against_project_root(tmp_path: Path) -> None:
    settings = load_settings(project_root=tmp_path)
    assert settings.resolve(settings.paths.models_dir) == tmp_path / "models"
    assert settings.resolve(Path("/abs")) == Path("/abs")


def test_yaml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("seed: 3\npaths:\n  data_dir: elsewhere\n")
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(config))
    assert load_settings().seed == 3
    assert load_settings().paths.data_dir == Path("elsewhere")
    monkeypatch.setenv("{{ cookiecutter.package_name | upper }}_SEED", "11")
    assert load_settings().seed == 11


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("seed: -1\n", "seed"),
        ("log_level: LOUD\n", "log_level"),
        ("no_such_key: 1\n", "no_such_key"),
        ("seed: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_settings_name_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(content)
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(config))
    with pytest.raises(UserError, match=expected) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
