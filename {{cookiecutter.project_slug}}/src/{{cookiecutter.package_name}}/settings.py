"""The one typed settings object for the whole project.

Values come, highest priority first, from: keyword arguments, environment variables
(`{{ cookiecutter.package_name | upper }}_SEED=7`, nested with `__`:
`{{ cookiecutter.package_name | upper }}_PATHS__DATA_DIR=/mnt/data`), then `configs/settings.yaml`,
then the defaults below. Stage-specific rules (model hyper-parameters, validation rules, ...)
live in their own files under `configs/`, whose paths are settings here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from {{ cookiecutter.package_name }}.errors import UserError

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
SETTINGS_FILE_ENV = f"{ENV_PREFIX}SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = Path("configs/settings.yaml")


class Section(BaseModel):
    """Base for a settings section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(Section):
    """Where artifacts live; relative paths are resolved against the project root."""

    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    reports_dir: Path = Path("reports")
    configs_dir: Path = Path("configs")


class Settings(BaseSettings):
    """Project settings; build with `get_settings()` so errors become one-line messages."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    project_root: Path = Field(default_factory=Path.cwd)
    seed: int = Field(default=42, ge=0, description="Seed for every random number generator.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    paths: PathSettings = PathSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=settings_file())
        return (init_settings, env_settings, yaml_source)

    def resolve(self, path: Path) -> Path:
        """An absolute path: `path` itself if absolute, else relative to the project root."""
        return path if path.is_absolute() else self.project_root / path


def settings_file() -> Path:
    """The YAML settings file: `${{ cookiecutter.package_name | upper }}_SETTINGS_FILE` or `configs/settings.yaml`."""
    return Path(os.environ.get(SETTINGS_FILE_ENV, DEFAULT_SETTINGS_FILE))


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"invalid setting '{where}': {first['msg']}{more}"


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation and YAML errors into a one-line `UserError`."""
    source = settings_file()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise UserError(
            f"{_describe(error)}; fix it in {source} or the {ENV_PREFIX}* environment"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{source}{line} is not valid YAML: fix the syntax") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call `get_settings.cache_clear()` in tests)."""
    return load_settings()
