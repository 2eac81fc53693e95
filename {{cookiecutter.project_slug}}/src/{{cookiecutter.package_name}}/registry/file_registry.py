"""A registry in plain files: `models/registry.json` plus one bundle copy per version."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.settings import Settings

INDEX_FILE = "registry.json"


class FileRegistry:
    """Versions live in `models/<model_id>-v<N>/`; the index holds metadata and aliases."""

    def __init__(self, settings: Settings, model_id: str) -> None:
        self.root = settings.resolve(settings.paths.models_dir)
        self.model_id = model_id
        self.index_path = self.root / INDEX_FILE

    def _load(self) -> dict[str, Any]:
        if not self.index_path.is_file():
            return {"model_id": self.model_id, "versions": [], "aliases": {}}
        try:
            index: dict[str, Any] = json.loads(self.index_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UserError(
                f"{self.index_path} is corrupt (not JSON); restore it from backup"
            ) from None
        if index.get("model_id") != self.model_id:
            raise UserError(
                f"{self.index_path} belongs to model '{index.get('model_id')}', not "
                f"'{self.model_id}'; move it away or fix model_id"
            )
        return index

    def _save(self, index: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.index_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.index_path)

    def add_version(self, bundle: Path, report: dict[str, Any]) -> int:
        index = self._load()
        version = 1 + max((entry["version"] for entry in index["versions"]), default=0)
        target = self.root / f"{self.model_id}-v{version}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(bundle, target)
        index["versions"].append(
            {
                "version": version,
                "bundle": target.name,
                "bundle_id": read_bundle(bundle).bundle_id,
                "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "metrics": report["metrics"],
            }
        )
        self._save(index)
        return version

    def set_alias(self, alias: str, version: int) -> None:
        index = self._load()
        if not any(entry["version"] == version for entry in index["versions"]):
            raise UserError(f"version {version} of {self.model_id} is not registered")
        index["aliases"][alias] = version
        self._save(index)

    def get_alias(self, alias: str) -> int | None:
        value = self._load()["aliases"].get(alias)
        return int(value) if value is not None else None

    def bundle_path(self, version: int) -> Path:
        path = self.root / f"{self.model_id}-v{version}"
        if not path.is_dir():
            raise UserError(f"bundle {path} of version {version} is missing; re-register the model")
        return path

    def versions(self) -> list[dict[str, Any]]:
        index = self._load()
        aliases = index["aliases"]
        return [
            {**entry, "aliases": sorted(a for a, v in aliases.items() if v == entry["version"])}
            for entry in index["versions"]
        ]
