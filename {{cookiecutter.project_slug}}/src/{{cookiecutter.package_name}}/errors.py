"""Errors that mean "the input is wrong", as opposed to bugs, and the one way to word them.

Every stage raises `UserError` for bad data, bad config or bad arguments. The CLI turns it
into a single line on stderr and exit code 2, so users see what to fix, never a traceback.
`one_line` folds any library's message into that line; `first_problem` words the first
problem of a pydantic `ValidationError` as `where: message`.
"""

from __future__ import annotations

from typing import Any

MESSAGE_LIMIT = 160  # characters of a library's own message kept in a one-line error


class UserError(Exception):
    """Bad input: the message names what is wrong and how to fix it."""


class GateFailedError(UserError):
    """A quality gate (validation, evaluation, parity) refused the artifact."""


def one_line(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """`text` with its whitespace (newlines included) folded, cut at `limit` characters."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."


def first_problem(error: Any) -> str:
    """A pydantic `ValidationError`'s first problem as `'dotted.where': message`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"'{where}': {one_line(first['msg'])}"
