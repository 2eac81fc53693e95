"""manifest.json of a batch run: what lineage and monitoring read about it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.batch.io import MANIFEST_FILE, InputFile
from {{ cookiecutter.package_name }}.errors import UserError

COMPLETE = "complete"
TOO_MANY_REJECTED = "too_many_rejected"


@dataclass
class Manifest:
    run_id: str
    engine: str
    model: dict[str, Any]
    inputs: list[dict[str, Any]]
    started_at: str
    status: str = COMPLETE
    finished_at: str = ""
    rows: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    # The predictions' columns: passthrough (input columns), features, and each output's
    # written name (`prediction` -> `output_prediction` when an input column has the name)
    columns: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_FILE
        path.write_text(json.dumps(asdict(self), indent=2, default=str) + "\n", encoding="utf-8")
        return path


def describe_inputs(inputs: list[InputFile]) -> list[dict[str, Any]]:
    return [
        {"path": str(item.path), "format": item.format, "bytes": item.bytes, "sha256": item.sha256}
        for item in inputs
    ]


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a batch output directory (`UserError` when it is not one)."""
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise UserError(f"{directory} is not a batch output ({MANIFEST_FILE} missing)")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON; re-run batch-score") from None
    return data
