"""Batch inputs and outputs: find and stream input files, write Parquet parts, commit atomically.

Inputs are CSV or Parquet files (a file or a directory of them, read in name order) streamed
in record batches by `pyarrow.dataset`, so memory does not grow with the input. CSV columns
the model needs are read as text and parsed by `validate` (one bad cell rejects its row, not
the file). Outputs go to a hidden sibling directory renamed onto `--output` at the end: a
failed run leaves nothing that looks complete.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from {{ cookiecutter.package_name }}.data import sha256_file
from {{ cookiecutter.package_name }}.errors import UserError, one_line

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
PREDICTIONS_DIR = "predictions"
REJECTED_DIR = "rejected"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: str  # csv | parquet
    bytes: int
    sha256: str


def find_inputs(source: Path) -> list[InputFile]:
    """The input files of `source` (a file or a directory), hashed; `UserError` if none."""
    if not source.exists():
        raise UserError(f"input {source} not found; pass --input FILE_OR_DIRECTORY")
    source = source.resolve()  # absolute: the manifest and `rejected.source_file` name it so
    paths = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    paths = [p for p in paths if not p.name.startswith((".", "_"))]  # _SUCCESS, .crc files
    files = [p for p in paths if p.suffix.lower() in SUFFIXES]
    if source.is_file() and not files:
        raise UserError(f"{source}: unsupported file type '{source.suffix}'; use .csv or .parquet")
    if not files:
        raise UserError(f"{source} holds no .csv or .parquet files; pass the data directory")
    inputs = []
    for path in files:
        if path.stat().st_size == 0:
            raise UserError(f"{path} is empty; fix the export or remove it from the input")
        inputs.append(InputFile(path, SUFFIXES[path.suffix.lower()], path.stat().st_size,
                                sha256_file(path)))  # fmt: skip
    return inputs


def _dataset(item: InputFile, text_columns: list[str]) -> ds.Dataset:
    if item.format == "csv":
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in text_columns}, strings_can_be_null=True
        )
        fmt: ds.FileFormat = ds.CsvFileFormat(
            convert_options=convert, read_options=pacsv.ReadOptions(block_size=8 << 20)
        )
    else:
        fmt = ds.ParquetFileFormat()
    return ds.dataset(str(item.path), format=fmt)


def file_columns(item: InputFile) -> list[str]:
    """The column names of an input file (`UserError` when it cannot be read)."""
    try:
        return list(_dataset(item, []).schema.names)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(item, error) from None


def unreadable(item: InputFile, error: Exception) -> UserError:
    detail = one_line(error)
    return UserError(f"{item.path} is not a readable {item.format.upper()} file ({detail}); fix it")


def stream(item: InputFile, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Record batches of at most `batch_size` rows holding `columns` (CSV: read as text)."""
    try:
        scanner = _dataset(item, columns).scanner(columns=columns, batch_size=batch_size)
        for batch in scanner.to_batches():
            for start in range(0, batch.num_rows, batch_size):  # CSV blocks can be larger
                yield batch.slice(start, batch_size)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(item, error) from None


def _plain_strings(schema: pa.Schema) -> pa.Schema:
    """pandas' strings arrive as Arrow large_string; write string, as Spark does."""
    fields = [
        field.with_type(pa.string()) if pa.types.is_large_string(field.type) else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


class PartWriter:
    """One Parquet file written batch by batch; later batches are cast to the first's schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, _plain_strings(table.schema))
        table = table.cast(self._writer.schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def staging_dir(output: Path, run_id: str) -> Path:
    """Where a run writes before it commits: a hidden sibling of `output` (same filesystem)."""
    return output.parent / f".{output.name}.{run_id}.tmp"


def check_output(output: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} is a file; pass a directory")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise UserError(
            f"--output {output} is not empty; remove it, choose another or pass --force"
        )


def commit(staging: Path, output: Path) -> None:
    """Move the finished run onto `output` (replacing an earlier run's directory)."""
    if output.exists():
        old = output.parent / f".{output.name}.replaced"
        shutil.rmtree(old, ignore_errors=True)
        output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)


def parts(directory: Path) -> list[str]:
    """The Parquet parts under `directory`, relative names in order."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.glob("*.parquet"))
