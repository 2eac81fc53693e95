"""What `init-data` tells the person: what it wrote and what to review."""

from __future__ import annotations

from pathlib import Path

from {{ cookiecutter.package_name }}.adopt import Adopted


def summary(adopted: Adopted, root: Path) -> str:
    spec = adopted.spec
    kinds = f"{len(spec.numeric_features)} numeric, {len(spec.categorical_features)} categorical"
    lines = [f"dataset {spec.path}: target '{spec.target}', task {spec.task}, features: {kinds}"]
    if spec.is_classification:
        positive = f", positive class {spec.positive_class!r}" if spec.task == "binary" else ""
        lines.append(f"classes: {spec.classes}{positive}")
    if spec.categorical_features:
        lines.append(f"categorical: {', '.join(spec.categorical_features)}")
    if spec.id_columns:
        lines.append(f"identifiers (not fed to the model): {', '.join(spec.id_columns)}")
    scores = ", ".join(f"{name} {value}" for name, value in adopted.baseline.items())
    lines.append(f"baseline (dummy model): {scores}")
    if adopted.model is not None:
        reached = ", ".join(f"{name} {r.mean:.4f}" for name, r in adopted.model.items())
        lines.append(f"configured model (cross-validated on the training split): {reached}")
    for path in adopted.written:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        lines.append(f"wrote {shown}")
    lines += [f"note: {note}" for note in adopted.notes]
    lines.append(
        "review: the feature kinds and classes (configs/model_config.yaml dataset:), the gate "
        "thresholds (evaluation:), intended_use, and the rules' ranges and categories; "
        "then run `make pipeline`"
    )
    return "\n".join(lines)
