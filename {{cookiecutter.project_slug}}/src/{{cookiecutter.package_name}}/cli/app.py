"""The one typer app; each command module (`develop`, `operate`) registers its commands on it."""

from __future__ import annotations

import typer

# A whole error message on one line (libraries' own text inside it is cut earlier, at
# `errors.MESSAGE_LIMIT`).
CLI_MESSAGE_LIMIT = 2000

app = typer.Typer(
    name="{{ cookiecutter.package_name }}",
    help="Data -> validation -> training -> evaluation -> serving -> monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
