"""What both registry backends share: the aliases, the backend protocol, the report files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from {{ cookiecutter.package_name }}.errors import UserError

ALIASES = ("champion", "challenger")
METRICS_REPORT = "metrics.json"
REGISTRY_VERSION_FILE = "REGISTRY_VERSION"
MODEL_CARD = "model_card.md"


class AliasNotSetError(UserError):
    """The registry answered: no version has this alias (an outage is a plain `UserError`)."""


class Registry(Protocol):
    """What a backend provides; versions are 1, 2, 3, ..."""

    def add_version(self, bundle: Path, report: dict[str, Any]) -> int: ...
    def set_alias(self, alias: str, version: int) -> None: ...
    def get_alias(self, alias: str) -> int | None: ...
    def bundle_path(self, version: int) -> Path: ...
    def versions(self) -> list[dict[str, Any]]: ...


def evaluation_files(report: dict[str, Any]) -> list[str]:
    """The evaluation's report files: metrics, model card and the task's plots it lists."""
    return [METRICS_REPORT, MODEL_CARD, *report.get("files", [])]
