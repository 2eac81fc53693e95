"""The project's single command-line interface: `{{ cookiecutter.package_name }} --help`.

Each command is a thin wrapper over a stage function. Bad input never shows a traceback:
`main()` prints one `error: ...` line and exits 2 (1 when a quality gate refuses).
"""

from __future__ import annotations

import json
import sys

import typer

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.settings import get_settings

app = typer.Typer(
    name="{{ cookiecutter.package_name }}",
    help="Data -> validation -> training -> evaluation -> serving -> monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command()
def info() -> None:
    """Print the effective settings (after YAML and environment overrides) as JSON."""
    typer.echo(json.dumps(get_settings().model_dump(mode="json"), indent=2, sort_keys=True))


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one line on stderr."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args or ["--help"], prog_name="{{ cookiecutter.package_name }}", standalone_mode=False)
    except GateFailedError as error:
        typer.echo(f"error: {_one_line(str(error))}", err=True)
        sys.exit(1)
    except UserError as error:
        typer.echo(f"error: {_one_line(str(error))}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as error:  # usage errors: unknown option, bad value, ...
        typer.echo(f"error: {_one_line(error.format_message())} (see --help)", err=True)
        sys.exit(error.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
