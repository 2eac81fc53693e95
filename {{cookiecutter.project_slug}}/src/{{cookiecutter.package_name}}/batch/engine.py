"""What a batch engine (`local`, `spark`) is given and returns: the seam between `job` and them.

`job` builds an `EngineRun` and calls the chosen engine; the engines import only this module of
`job`'s side, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from {{ cookiecutter.package_name }}.batch.io import InputFile
from {{ cookiecutter.package_name }}.batch.model import BatchModel


@dataclass(frozen=True)
class Counts:
    input: int
    scored: int
    rejected: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.input + other.input, self.scored + other.scored, self.rejected + other.rejected
        )


@dataclass(frozen=True)
class Options:
    batch_size: int
    max_rejected_share: float
    include_features: bool
    spark_master: str
    progress: bool = True
    passthrough: str = "all"  # all | ids: the input columns written next to the predictions


@dataclass(frozen=True)
class EngineRun:
    """What an engine gets: the model, the inputs, where to write, the run id, and the input
    columns to carry next to the predictions (`score.passthrough_columns`)."""

    model: BatchModel
    inputs: list[InputFile]
    staging: Path
    run_id: str
    options: Options
    keep: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The input columns an engine reads: the carried ones, then the features."""
        return [*self.keep, *(n for n in self.model.input_columns if n not in self.keep)]
