"""Rewrite one top-level block of a YAML file, keeping the rest and its comments.

A block written by `init-data` carries a fingerprint comment (a hash of the block's own
text). A block whose text no longer matches its fingerprint, or that has none, was edited
by hand: `replace_block` refuses it unless forced. Files are written whole to a temporary
file in the same directory and renamed over the old one, so a failure leaves it as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from {{ cookiecutter.package_name }}.errors import UserError

# On the block's key line (a comment inside a `>-` scalar would be part of the text).
FINGERPRINT = re.compile(r"\s+# init-data fingerprint: ([0-9a-f]{12})\b[^\n]*$")
FINGERPRINT_NOTE = "(hand edits: init-data needs --force)"


def _without_mark(text: str) -> str:
    return "\n".join(FINGERPRINT.sub("", line) for line in text.splitlines())


def fingerprint(text: str) -> str:
    """12 hex digits over the text without its fingerprint comment."""
    return hashlib.sha256(_without_mark(text).encode("utf-8")).hexdigest()[:12]


def stamp(text: str) -> str:
    """`text` (a block, `key:` line first, or a whole file, `---` first) fingerprinted."""
    head, _, rest = _without_mark(text).partition("\n")
    end = "\n" if text.endswith("\n") else ""
    return f"{head}  # init-data fingerprint: {fingerprint(text)} {FINGERPRINT_NOTE}\n{rest}{end}"


def is_pristine(text: str) -> bool:
    """True when `text` carries a fingerprint that still matches it."""
    marks = [match.group(1) for line in text.splitlines() if (match := FINGERPRINT.search(line))]
    return len(marks) == 1 and marks[0] == fingerprint(text)


def _span(lines: list[str], key: str) -> tuple[int, int] | None:
    """[start, end) of the top-level `key:` block (column-0 comments before the next key stay)."""
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    while end > start + 1 and lines[end - 1].startswith("#"):
        end -= 1  # a column-0 comment right before the next key documents that key
    return start, end


def current_block(text: str, key: str) -> str | None:
    lines = text.splitlines()
    span = _span(lines, key)
    return None if span is None else "\n".join(lines[span[0] : span[1]])


def replace_block(text: str, key: str, block: str, *, force: bool, where: str) -> str:
    """`text` with its `key:` block replaced by `block` (appended when absent)."""
    lines = text.splitlines()
    span = _span(lines, key)
    new = stamp(block.rstrip("\n")).splitlines()
    if span is None:
        return "\n".join([*lines, *new]) + "\n"
    old = "\n".join(lines[span[0] : span[1]])
    if not force and not is_pristine(old):
        raise UserError(
            f"{where}: the `{key}:` section was edited by hand (its init-data fingerprint no "
            "longer matches); pass --force to overwrite it"
        )
    return "\n".join([*lines[: span[0]], *new, *lines[span[1] :]]) + "\n"


def replace_file(path: Path, text: str, *, force: bool) -> None:
    """Refuse (without --force) to overwrite a whole file edited by hand."""
    if path.is_file() and not force and not is_pristine(path.read_text(encoding="utf-8")):
        raise UserError(f"{path} was edited by hand (no matching init-data fingerprint); "
                        "pass --force to overwrite it")  # fmt: skip


def atomic_write(files: dict[Path, str]) -> None:
    """Write every file to a temporary sibling first, then rename them all into place."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            staged.append((Path(name), path))
    except OSError as error:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write {error.filename}: {error.strerror}") from None
    for temporary, path in staged:
        temporary.replace(path)
