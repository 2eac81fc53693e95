"""The bundled samples, one per task, all shipped offline with scikit-learn.

- `data/raw/breast_cancer.csv` (binary): 569 rows, 30 numeric features, `target` 1 = benign.
- `data/raw/wine.csv` (multiclass): 178 rows, 13 numeric features, `target` one of the
  string labels `class_0`, `class_1`, `class_2` (the cultivar).
- `data/raw/diabetes.csv` (regression): 442 rows, 10 features in their original units,
  `target` a disease-progression score one year later.

`make data` writes the sample named by `dataset.path` when that path is one of these; any
other path is your data (`init-data` adopts it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }}.contracts.spec import Task
from {{ cookiecutter.package_name }}.errors import UserError

SAMPLE_DIR = Path("data/raw")
SAMPLE_TARGET = "target"


def _snake_case(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [
        str(name).strip().replace(" ", "_").replace("/", "_") for name in frame.columns
    ]
    return frame


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return _snake_case(load_breast_cancer(as_frame=True).frame)


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = _snake_case(bunch.frame)
    # String labels: the multiclass path must carry labels that are not class indices.
    frame[SAMPLE_TARGET] = [str(bunch.target_names[index]) for index in bunch.target]
    return frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    # scaled=False: the original units (age in years, sex 1/2, bmi, ...), as a user's file has.
    return _snake_case(load_diabetes(as_frame=True, scaled=False).frame)


@dataclass(frozen=True)
class Sample:
    name: str
    task: Task
    load: Callable[[], pd.DataFrame]


SAMPLES: dict[str, Sample] = {
    "breast_cancer.csv": Sample("breast-cancer", "binary", _breast_cancer),
    "wine.csv": Sample("wine", "multiclass", _wine),
    "diabetes.csv": Sample("diabetes", "regression", _diabetes),
}
SAMPLE_DATASET = SAMPLE_DIR / "breast_cancer.csv"


def sample_at(path: Path | str) -> Sample | None:
    """The sample a (project-relative or absolute) path names, or None for user data."""
    path = Path(path)
    if path.name not in SAMPLES or path.parent.parts[-2:] != SAMPLE_DIR.parts:
        return None
    return SAMPLES[path.name]


def sample_frame(path: Path | str = SAMPLE_DATASET) -> pd.DataFrame:
    """The sample `path` names (default: the binary one) as a frame, `target` last."""
    sample = sample_at(Path(path)) or sample_at(SAMPLE_DIR / Path(path).name)
    if sample is None:
        known = ", ".join(str(SAMPLE_DIR / name) for name in SAMPLES)
        raise UserError(f"{path} is not a bundled sample ({known}); point dataset.path at one")
    return sample.load()


def write_sample(path: Path, *, force: bool = False, sample: Path | str = SAMPLE_DATASET) -> bool:
    """Write the sample `sample` names to `path` (CSV); False when `path` is already there."""
    if path.exists() and not force:
        return False
    frame = sample_frame(sample)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
    return True
