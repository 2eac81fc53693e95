"""Import the template's hooks as modules (they run rendered, but are plain Python)."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

HOOKS_DIR = Path(__file__).resolve().parents[1] / "hooks"


@cache
def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"template_hooks.{name}", HOOKS_DIR / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
